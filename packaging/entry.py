"""Entry script of the frozen app (PyInstaller): the same command as ``lusapp`` / ``python -m lusapp``."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start a second app
    # One OpenBLAS thread (NumPy's, which OpenCV's calls go to as well: packaging/opencv_blas_forward.c) unless
    # the user sets it: the app's matrices are small and its cores belong to ONNX Runtime, the video decoder and
    # the GUI. Multithreaded OpenBLAS spin-waits on busy cores: the self-test's OpenCV linear-algebra check took
    # 0.2-2.8 s with two threads at load 6-7, 0.015-0.03 s with one.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from lusapp.cli import main

    sys.exit(main())
