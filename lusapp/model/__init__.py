"""Qt-free models: inference engine (ONNX Runtime on the bundle's graphs; torch for training and bundles without
graphs), networks (plain torch), bundles, registry, quantitative measures.

Importing this package before torch sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set): torch's OpenMP
threads then sleep instead of spin-waiting between parallel regions. In a desktop app whose GUI, decoder and
prefetch threads share 2 cores with the network this is decisive: measured on a busy 2-core machine, live
segmentation with 2 torch threads went from 16 to 111 frames/s. It has no effect once torch is loaded.
"""

import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
