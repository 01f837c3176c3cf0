"""common.ini reading and rootpath precedence (w2vvx.config)."""
import os
import stat

import pytest

from w2vvx.config import (DEFAULT_INI, ROOTPATH_ENV, Settings, ensure_writable_rootpath, load_settings,
                          parse_ini_text, read_ini)
from w2vvx.errors import ConfigError, MissingFileError


def test_parse_shell_style():
    text = ("# comment\n\nexport rootpath=$HOME/VisualSearch\nsub=${rootpath}/x  # trailing\n"
            "quoted=\"a b $HOME\"\nsingle='$HOME'\n[section]\nfreq_threshold=5\n")
    values = parse_ini_text(text, environ={"HOME": "/home/u"})
    assert values == {"rootpath": "/home/u/VisualSearch", "sub": "/home/u/VisualSearch/x",
                      "quoted": "a b /home/u", "single": "$HOME", "freq_threshold": "5"}


@pytest.mark.parametrize("line,match", [
    ("novalue", "expected 'key=value'"), ("1a=b", "expected 'key=value'"), ("a=$UNDEFINED_X", "not defined"),
    ("a=b c", "contains whitespace"), ("a=\"b", "unterminated"), ("a=${", "malformed"),
    ("a='b' c", "unexpected text"),
])
def test_parse_errors_name_line(line, match):
    with pytest.raises(ConfigError, match=match):
        parse_ini_text("ok=1\n" + line, path="c.ini", environ={})
    with pytest.raises(ConfigError, match=r"c.ini:2"):
        parse_ini_text("ok=1\n" + line, path="c.ini", environ={})


def test_repository_common_ini_is_readable():
    values = read_ini(DEFAULT_INI)
    assert values["zh_train_collection"] == "cococntrain"


def test_rootpath_precedence(tmp_path):
    ini = tmp_path / "common.ini"
    ini.write_text("rootpath=$HOME/fromini\nfreq_threshold=5\noverwrite=0\n")
    env = {"HOME": "/h", ROOTPATH_ENV: "/fromenv"}
    assert load_settings("/explicit", ini, environ=env).rootpath == type(tmp_path)("/explicit")
    settings = load_settings(None, ini, environ=env)
    assert str(settings.rootpath) == "/fromenv" and settings.rootpath_source == "environment"
    settings = load_settings(None, ini, environ={"HOME": "/h"})
    assert str(settings.rootpath) == "/h/fromini" and settings.rootpath_source == "ini"
    assert settings.get_int("freq_threshold") == 5 and settings.get_bool("overwrite") is False
    (tmp_path / "empty.ini").write_text("# nothing\n")
    settings = load_settings(None, tmp_path / "empty.ini", environ={"HOME": "/h"})
    assert str(settings.rootpath) == "/h/VisualSearch" and settings.rootpath_source == "default"


def test_settings_frozen_and_typed_errors(tmp_path):
    ini = tmp_path / "c.ini"
    ini.write_text("n=abc\nb=maybe\n")
    settings = load_settings(None, ini, environ={"HOME": "/h"})
    with pytest.raises(Exception):
        settings.rootpath = "x"
    with pytest.raises(ConfigError, match="not an integer"):
        settings.get_int("n")
    with pytest.raises(ConfigError, match="not a boolean"):
        settings.get_bool("b")
    assert isinstance(settings, Settings)


def test_missing_and_non_utf8_ini(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(None, tmp_path / "absent.ini")
    with pytest.raises(MissingFileError):
        read_ini(tmp_path / "absent.ini")
    (tmp_path / "bad.ini").write_bytes(b"a=\xff\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(None, tmp_path / "bad.ini")


def test_ensure_writable_rootpath(tmp_path):
    assert ensure_writable_rootpath(tmp_path) == tmp_path
    with pytest.raises(ConfigError, match="does not exist"):
        ensure_writable_rootpath(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        ensure_writable_rootpath(tmp_path / "file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_rootpath(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ConfigError, match="read-only"):
            ensure_writable_rootpath(folder)
    finally:
        folder.chmod(stat.S_IRWXU)
