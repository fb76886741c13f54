"""The ``nucleusmem`` command: serve, administer, and use MemSpaces from a shell.

Every command but ``serve`` and ``demo`` goes through the sync SDK, against a server
(``--url http://...``) or a store opened in-process (``--url sqlite:///path.db``).
Errors print ``error: <message>`` to stderr and exit 1; a bad command line exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from nucleusmem.cli._commands import CommandFailed, Context, UsageError
from nucleusmem.cli._parser import DEFAULT_URL, parse_args
from nucleusmem.errors import NucleusMemError

__all__ = ["DEFAULT_URL", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nucleusmem`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    args = parse_args(argv)
    context = Context(args)
    try:
        try:
            args.handler(context)
        finally:
            context.close()
    except UsageError as exc:
        return _fail(str(exc), 2)
    except (NucleusMemError, CommandFailed) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (``| head``); keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status
