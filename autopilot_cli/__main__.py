"""`python -m autopilot_cli ...` and the `autopilot` console script."""

from __future__ import annotations

import sys

from autopilot_cli.app import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
