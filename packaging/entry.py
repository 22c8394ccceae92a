"""Entry script of the frozen app (PyInstaller): the same command as ``lusapp`` / ``python -m lusapp``."""

import multiprocessing
import sys
import warnings

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start a second app
    # The bundle ships torch without most .py sources (see lusapp.spec); TorchScript overloads then warn at import.
    warnings.filterwarnings("ignore", message="Unable to retrieve source for @torch.jit._overload")
    from lusapp.cli import main

    sys.exit(main())
