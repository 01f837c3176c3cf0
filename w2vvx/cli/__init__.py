"""The ``w2vvx`` command line: a thin layer over the Python API.

One module per command (``w2vvx/cli/train.py`` ...), each exposing a click object named ``command``; the
group (:mod:`w2vvx.cli.app`) imports a command's module only when it is used, from the registry
:data:`w2vvx.cli.app.COMMANDS`, so ``w2vvx --help`` answers without importing Keras or a backend.
``--backend`` is honoured in this process (Keras is imported after it is set). Every command ends in its
result or one message (:func:`w2vvx.console.run_command_group`): library errors exit with status 2, bugs
with 1 and an ``internal error:`` line (``-v`` shows the traceback). Commands of other packages join through
the ``w2vvx.cli_plugins`` entry-point group (:class:`PluginGroup`).
"""
from w2vvx.cli.app import BACKENDS, COMMANDS, cli, main, use_backend
from w2vvx.cli.plugins import PLUGIN_GROUP, PluginGroup

__all__ = ["BACKENDS", "COMMANDS", "PLUGIN_GROUP", "PluginGroup", "cli", "main", "use_backend"]
