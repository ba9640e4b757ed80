"""``python -m webapp``: the same as the ``convlens`` command."""

import sys

from webapp.cli import main

if __name__ == "__main__":
    sys.exit(main())
