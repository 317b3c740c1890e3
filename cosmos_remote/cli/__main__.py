"""``python -m cosmos_remote.cli``: the ``cosmos-remote`` command without its console script."""

from __future__ import annotations

import sys

from cosmos_remote.cli import main

if __name__ == "__main__":
    sys.exit(main())
