"""``python -m nucleusmem``: the command line; see `nucleusmem.cli`."""

from __future__ import annotations

import sys

from nucleusmem.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
