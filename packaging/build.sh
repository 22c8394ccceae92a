#!/usr/bin/env bash
# Build the one-folder clinic bundle dist/lusapp/ with PyInstaller and CPU torch.
#
#   bash packaging/build.sh               build venv (reused while up to date) + bundle + sizes
#   bash packaging/build.sh --self-test   ... then run the frozen --version and --self-test (offscreen)
#
# Env: PYTHON (default python3.11), LUSAPP_BUILD_VENV (default build/venv; point it outside the clone to
# reuse one venv across clean CI clones).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SELF_TEST=0
for arg in "$@"; do
  case "$arg" in
    --self-test) SELF_TEST=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

PYTHON="${PYTHON:-python3.11}"
VENV="${LUSAPP_BUILD_VENV:-$ROOT/build/venv}"
TORCH_PIN="torch==2.13.0+cpu"      # CPU build: the wheel cache (PIP_FIND_LINKS) or the PyTorch CPU index
PYI_PIN="pyinstaller>=6.10,<7"
STAMP="$VENV/.lusapp-build-stamp"
PY="$VENV/bin/python"
t0=$(date +%s)

# --- build venv: the app's runtime deps (pyproject, no dev/train extras) + PyInstaller -------------
# Stamp: the dependency list, the pins and the interpreter; a change updates the venv in place.
deps_txt="$("$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')"
want="$( (echo "$deps_txt"; echo "$TORCH_PIN $PYI_PIN"; "$PYTHON" -V) | sha256sum | cut -c1-16)"
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "build.sh: reusing $VENV"
else
  echo "build.sh: installing into $VENV"
  [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"; }
  pip=("$PY" -m pip install -q --disable-pip-version-check)
  # CPU torch first, then pinned by a constraint so nothing later replaces it with the CUDA 2.14 build.
  echo "$TORCH_PIN" > "$VENV/constraints.txt"
  "${pip[@]}" "$TORCH_PIN" 2>/dev/null \
    || "${pip[@]}" "$TORCH_PIN" --extra-index-url https://download.pytorch.org/whl/cpu
  # The project itself is not installed: PyInstaller freezes lusapp from this working tree (pathex in the
  # spec), so the bundle never holds a stale copy.
  mapfile -t deps <<< "$deps_txt"
  "${pip[@]}" -c "$VENV/constraints.txt" "${deps[@]}" "$PYI_PIN"
  "$PY" -c 'import importlib.util as u, torch; assert torch.version.cuda is None, "not the CPU torch"; assert u.find_spec("torchvision") is None, "torchvision in the build venv"'
  echo "$want" > "$STAMP"
fi
"$PY" -c 'import torch, PySide6, PyInstaller; print("build.sh: torch", torch.__version__, "| PySide6", PySide6.__version__, "| PyInstaller", PyInstaller.__version__)'
t1=$(date +%s)

# --- bundle -----------------------------------------------------------------------------------------
rm -rf dist/lusapp
PYTHONPATH="$ROOT" "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/lusapp.spec
# libtorch_cpu ships with its full symbol table (~90 of its 430 MB); the dynamic symbols that loading needs
# stay. Only torch: PyInstaller's strip=True would strip every library (Qt, OpenBLAS) for ~10 MB more.
lt=dist/lusapp/_internal/torch/lib/libtorch_cpu.so
if command -v strip >/dev/null && [ -f "$lt" ]; then
  before=$(du -m "$lt" | cut -f1); strip --strip-unneeded "$lt"; echo "build.sh: stripped libtorch_cpu.so ${before} -> $(du -m "$lt" | cut -f1) MB"
fi
t2=$(date +%s)
echo "build.sh: venv $((t1 - t0)) s, pyinstaller $((t2 - t1)) s"
echo "build.sh: bundle size $(du -sh dist/lusapp | cut -f1) (dist/lusapp)"
# LZMA is what ships: Inno Setup's solid LZMA2 on Windows, tar.xz on Linux (tar.gz is ~100 MB larger)
echo "build.sh: compressed $(tar cf - -C dist lusapp | xz -6 -T2 | wc -c | awk '{printf "%.0f MB", $1/1e6}') (tar.xz -6; target <= 300 MB)"

[ "$SELF_TEST" = 1 ] || exit 0

# --- frozen checks ----------------------------------------------------------------------------------
export QT_QPA_PLATFORM=offscreen
export LUSAPP_DATA_DIR="$ROOT/build/selftest-data"   # never the user's real data folder
rm -rf "$LUSAPP_DATA_DIR"
dist/lusapp/lusapp --version
s0=$(date +%s.%N)
if ! dist/lusapp/lusapp --self-test; then
  echo "build.sh: FROZEN SELF-TEST FAILED" >&2
  exit 1
fi
s1=$(date +%s.%N)
echo "build.sh: frozen self-test passed in $(awk "BEGIN{printf \"%.1f\", $s1 - $s0}") s (target <= 5 s)"
