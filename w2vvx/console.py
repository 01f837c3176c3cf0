"""How every w2vvx command-line entry point runs a click group: library errors as one line, no traceback.

Shared by the ``w2vvx`` console script (:mod:`w2vvx.cli`) and the recipes' standalone entry point.

Example:
    >>> import click
    >>> @click.command()
    ... def hello():
    ...     click.echo("hi")
    >>> run_command_group(hello, [], prog_name="hello")
    hi
"""
from __future__ import annotations

import sys

import click

from w2vvx.errors import W2VVXError


def run_command_group(group: click.Command, argv=None, prog_name: str = "w2vvx") -> None:
    """Run a click group the way every w2vvx entry point does.

    Library errors (:class:`~w2vvx.errors.W2VVXError`) and OS errors (disk full, permissions) print one
    ``error:`` line and exit with status 2; Ctrl-C exits with 130; no traceback reaches the user.

    Args:
        group: the click group (or command) to run.
        argv: the arguments (default: ``sys.argv[1:]``).
        prog_name: the program name shown in usage lines.
    """
    _terminate_like_interrupt()
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except W2VVXError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except OSError as error:  # disk full, permission denied, a folder that vanished: the OS names the file
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        click.echo(f"error: {where}{error.strerror or error}; check the path, its permissions and free disk space",
                   err=True)
        sys.exit(2)
    except KeyboardInterrupt as error:
        click.echo("interrupted", err=True)
        sys.exit(143 if str(error) == "SIGTERM" else 130)


def _terminate_like_interrupt() -> None:
    """SIGTERM (kill, schedulers, docker stop) unwinds like Ctrl-C, so atomic writers remove their temporaries.

    Training installs its own handler on top while it runs (it stops at a safe point; see
    ``w2vvx.training.callbacks.GracefulStop``). A SIGTERM that is ignored or already handled is left alone.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def terminate(number, frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, terminate)


__all__ = ["run_command_group"]
