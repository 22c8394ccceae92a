"""``python -m lusapp`` runs the same command as the ``lusapp`` script."""

import sys

from lusapp.cli import main

if __name__ == "__main__":
    sys.exit(main())
