"""The check every documented bad-input case goes through (tests/test_bad_inputs*.py).

A case is ``(function, error, says, logged)``: ``function(tmp_path, request)`` must raise ``error`` (a
``W2VVXError``, never a raw library exception) whose message contains every text of ``says``; with
``error=None`` it must succeed and log every text of ``logged`` at WARNING or above.
"""
import logging

import pytest

from w2vvx.errors import W2VVXError


def check_bad_input(cases, name, tmp_path, request, caplog):
    function, error, says, logged = cases[name]
    caplog.set_level(logging.WARNING)
    if error is None:
        function(tmp_path, request)
        for text in logged:
            assert text in caplog.text, f"{name}: expected a log line with {text!r}, got {caplog.text!r}"
        return
    with pytest.raises(error) as info:
        function(tmp_path, request)
    assert isinstance(info.value, W2VVXError), f"{name}: raw {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for text in says:
        assert text in message, f"{name}: {text!r} missing from the message {message!r}"
