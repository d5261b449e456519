"""``taskdistill``: the command-line interface (typer). Each command parses its options, calls
one library function and writes its outputs through :mod:`taskdistill_rl.results`; a module per
command group (``baseline``, ``distill``, ``evaluate`` and ``kmin``, the file commands)."""

from __future__ import annotations

import sys

import typer

from taskdistill_rl.cli import baseline, distill, evaluate, files  # noqa: F401  (registers the commands)
from taskdistill_rl.cli.common import ARGV, app, parse_env_kwargs, quiet_dependencies, without_option
from taskdistill_rl.errors import Interrupted, TaskDistillError

_without_option = without_option  # its old name


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: library errors become one line on stderr and exit code 1.

    Only errors about the user's input are caught: `TaskDistillError` (every library error,
    `InvalidInputError` included), usage errors, and user paths that are missing or unusable.
    Anything else is a bug and propagates with its traceback (issue 12).
    """
    quiet_dependencies()
    ARGV[:] = sys.argv[1:] if argv is None else argv
    try:
        app(args=argv, prog_name="taskdistill", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):  # a second Ctrl-C: stop now, not an error
        print("taskdistill: aborted", file=sys.stderr)
        return 130
    except Interrupted as exc:  # Ctrl-C / SIGTERM after a checkpoint: a stop, not an error
        print(f"taskdistill: {exc}", file=sys.stderr)
        return 128 + (exc.signum or 2)  # the shell's convention for "killed by signal N"
    except typer.TyperException as exc:  # usage errors (typer vendors click's ClickException)
        exc.show()
        return getattr(exc, "exit_code", 2)
    except (
        TaskDistillError,
        FileNotFoundError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
    ) as exc:
        print(f"taskdistill: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["app", "main", "parse_env_kwargs"]
