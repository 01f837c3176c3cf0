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
import traceback
import warnings

import click

from w2vvx.errors import W2VVXError


def run_command_group(group: click.Command, argv=None, prog_name: str = "w2vvx") -> None:
    """Run a click group the way every w2vvx entry point does: its result, or one message and an exit status.

    Library errors (:class:`~w2vvx.errors.W2VVXError`) and OS errors (disk full, permissions) print one
    ``error:`` line and exit with status 2; usage errors exit with click's 2; Ctrl-C exits with 130 (SIGTERM
    143); any other exception is a bug: one ``internal error:`` line, exit status 1. The traceback is
    printed only with ``-v`` (``--verbose``) among the arguments. Python warnings print as one ``warning:``
    line each. A command that exits with a status (``ctx.exit(3)``) ends the process with it.

    Args:
        group: the click group (or command) to run.
        argv: the arguments (default: ``sys.argv[1:]``).
        prog_name: the program name shown in usage lines.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = wants_traceback(argv)
    _terminate_like_interrupt()
    with warnings.catch_warnings():
        if not verbose:
            warnings.showwarning = _one_line_warning
        status = _run(group, argv, prog_name, verbose)
    if status:
        sys.exit(status)


def wants_traceback(argv) -> bool:
    """Whether the arguments ask for more output (``-v``, ``-vv``, ``--verbose``): tracebacks are shown then.

    Example:
        >>> wants_traceback(["-v", "env"]), wants_traceback(["--rootpath", "x", "env"])
        (True, False)
    """
    return any(arg == "--verbose" or (arg.startswith("-v") and set(arg[1:]) == {"v"}) for arg in argv
               if isinstance(arg, str))


def _run(group, argv, prog_name, verbose) -> int:
    """Run the group; return the exit status (0: done)."""
    try:
        status = group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, KeyboardInterrupt) and str(cause) == "SIGTERM":
            click.echo("terminated", err=True)
            return 143
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except W2VVXError as error:
        _traceback_if(verbose)
        click.echo(f"error: {error}", err=True)
        return 2
    except OSError as error:  # disk full, permission denied, a folder that vanished: the OS names the file
        _traceback_if(verbose)
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        click.echo(f"error: {where}{error.strerror or error}; check the path, its permissions and free disk space",
                   err=True)
        return 2
    except KeyboardInterrupt as error:
        click.echo("interrupted", err=True)
        return 143 if str(error) == "SIGTERM" else 130
    except Exception as error:  # not the library's own: a bug, reported in one line
        _traceback_if(verbose)
        first = " ".join(str(error).split())
        first = first if len(first) <= 300 else first[:297] + "..."
        click.echo(f"internal error: {type(error).__name__}: {first} (run with -v for the traceback; please "
                   "report it)", err=True)
        return 1
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def _traceback_if(verbose: bool) -> None:
    if verbose:
        traceback.print_exc()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    click.echo(f"warning: {text}", err=True)


def _terminate_like_interrupt() -> None:
    """SIGTERM (kill, schedulers, docker stop) unwinds like Ctrl-C, so atomic writers remove their temporaries.

    Training installs its own handler on top while it runs (it stops at a safe point; see
    ``w2vvx.training.signals.GracefulStop``). A SIGTERM that is ignored or already handled is left alone.
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


__all__ = ["run_command_group", "wants_traceback"]
