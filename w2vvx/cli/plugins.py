"""The ``w2vvx`` command group: built-in commands loaded when used, plus the commands of installed plugins.

A built-in command is one line of a registry, ``{"name": "module:attribute"}`` (see
:data:`w2vvx.cli.app.COMMANDS`): its module is imported only when the command runs or a listing needs its
help line, so ``w2vvx --help`` imports no backend. Commands of other packages join through the
``w2vvx.cli_plugins`` entry-point group (the recipes register ``recipe = w2vvx_recipes.cli:recipe``). A
command or plugin that fails to load is reported when used, and in ``--help``, never hidden.
"""
from __future__ import annotations

import importlib
from typing import Mapping, Optional

import click

#: Entry-point group of command plugins: ``name = module:click_command`` adds ``w2vvx <name>``.
PLUGIN_GROUP = "w2vvx.cli_plugins"


class PluginGroup(click.Group):
    """A click group whose commands are built in (``add_command``), lazy (``lazy_commands``) or plugins.

    Args:
        lazy_commands: ``{command name: "package.module:attribute"}``; the attribute is a click command,
            imported the first time the command is looked up.
        **kwargs: those of :class:`click.Group`.

    Example:
        >>> group = PluginGroup("demo", lazy_commands={"hello": "w2vvx.cli.env:command"})
        >>> "hello" in group.list_commands(click.Context(group))
        True
    """

    def __init__(self, *args, lazy_commands: Optional[Mapping[str, str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self._plugin_entries: Optional[dict] = None

    def plugin_entries(self) -> dict:
        """``{name: entry point}`` of the installed plugins whose names no built-in command takes."""
        if self._plugin_entries is None:
            from importlib.metadata import entry_points

            self._plugin_entries = {}
            for entry in entry_points(group=PLUGIN_GROUP):
                if entry.name not in self.commands and entry.name not in self.lazy_commands:
                    self._plugin_entries.setdefault(entry.name, entry)
        return self._plugin_entries

    def _load_plugin(self, name: str) -> click.Command:
        entry = self.plugin_entries()[name]
        kind = f"entry point group {PLUGIN_GROUP}"
        try:
            command = entry.load()
        except Exception as error:  # reported when the command is used, and in --help
            command = broken_command(name, entry.value, error, kind)
        if not isinstance(command, click.Command):
            command = broken_command(name, entry.value, TypeError(
                f"{entry.value} is a {type(command).__name__}, not a click command"), kind)
        self.add_command(command, name)
        return command

    def _load_lazy(self, name: str) -> click.Command:
        target = self.lazy_commands[name]
        module_name, _, attribute = target.partition(":")
        try:
            command = getattr(importlib.import_module(module_name), attribute or "command")
        except Exception as error:  # an optional dependency missing, a broken install: say so when used
            command = broken_command(name, target, error, "built-in command")
        if not isinstance(command, click.Command):
            command = broken_command(name, target, TypeError(
                f"{target} is a {type(command).__name__}, not a click command"), "built-in command")
        self.add_command(command, name)
        return command

    def list_commands(self, ctx):
        return sorted(set(self.commands) | set(self.lazy_commands) | set(self.plugin_entries()))

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in self.lazy_commands:
            return self._load_lazy(cmd_name)
        if cmd_name in self.plugin_entries():
            return self._load_plugin(cmd_name)
        return None

    def _listing_help(self, ctx, name: str, limit: int) -> Optional[str]:
        """The short help of a command in ``--help``; a plugin not loaded yet is not imported for it (a plugin
        may import a backend), only looked for."""
        if name not in self.commands and name in self.plugin_entries():
            import importlib.util

            entry = self.plugin_entries()[name]
            top = entry.value.split(":")[0].split(".")[0]
            try:
                found = importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return (f"(broken plugin) {entry.value} ({PLUGIN_GROUP}): ModuleNotFoundError: no module {top!r}; "
                        "reinstall it")
            return f"(plugin {entry.value})"
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit)

    def format_commands(self, ctx, formatter):
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, text) for name in names if (text := self._listing_help(ctx, name, limit)) is not None]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def broken_command(name: str, target: str, error: BaseException, kind: str) -> click.Command:
    """A command standing in for one that failed to load: using it prints why and exits with 2."""
    message = (f"the {name!r} commands ({target}, {kind}) failed to load: {type(error).__name__}: {error}; "
               "reinstall w2vvx (pip install -e .) or fix the plugin")

    @click.command(name, help=f"(broken plugin) {message}",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def broken():
        from w2vvx.errors import ConfigError

        raise ConfigError(message)

    return broken


__all__ = ["PLUGIN_GROUP", "PluginGroup", "broken_command"]
