"""``python -m model_training <subcommand>`` (see model_training/cli.py)."""

import sys

from model_training.cli import main

sys.exit(main())
