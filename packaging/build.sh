#!/usr/bin/env bash
# Build the one-folder clinic bundle dist/lusapp/ with PyInstaller: ONNX Runtime runs the model, no torch.
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
PYI_PIN="pyinstaller>=6.10,<7"
STAMP="$VENV/.lusapp-build-stamp"
PY="$VENV/bin/python"
t0=$(date +%s)

# --- build venv: the app's runtime deps (pyproject, no dev/train extras) + PyInstaller -------------
# Stamp: the dependency list, the pins and the interpreter; a change updates the venv in place.
deps_txt="$("$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')"
want="$( (echo "$deps_txt"; echo "no-torch $PYI_PIN"; "$PYTHON" -V) | sha256sum | cut -c1-16)"
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "build.sh: reusing $VENV"
else
  echo "build.sh: installing into $VENV"
  [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"; }
  pip=("$PY" -m pip install -q --disable-pip-version-check)
  # The project itself is not installed: PyInstaller freezes lusapp from this working tree (pathex in the
  # spec), so the bundle never holds a stale copy. torch is not an app dependency (ONNX Runtime runs the model);
  # a build venv from before drops it.
  mapfile -t deps <<< "$deps_txt"
  "${pip[@]}" "${deps[@]}" "$PYI_PIN"
  # Nor are SciPy / scikit-learn / scikit-image (docs/decisions/0011): a build venv from before drops them.
  "$PY" -m pip uninstall -q -y torch torchvision scikit-learn scikit-image scipy 2>/dev/null || true
  "$PY" -c 'import importlib.util as u; bad = [m for m in ("torch", "torchvision", "sklearn", "scipy", "skimage") if u.find_spec(m)]; assert not bad, f"in the build venv: {bad}"'
  echo "$want" > "$STAMP"
fi
"$PY" -c 'import onnxruntime, PySide6, PyInstaller; print("build.sh: onnxruntime", onnxruntime.__version__, "| PySide6", PySide6.__version__, "| PyInstaller", PyInstaller.__version__)'
t1=$(date +%s)

# --- bundle -----------------------------------------------------------------------------------------
rm -rf dist/lusapp
PYTHONPATH="$ROOT" "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/lusapp.spec
if [ -e dist/lusapp/_internal/torch ]; then echo "build.sh: torch got into the bundle" >&2; exit 1; fi
for pkg in sklearn scipy scipy.libs scikit_learn.libs skimage; do
  if [ -e "dist/lusapp/_internal/$pkg" ]; then echo "build.sh: $pkg got into the bundle (docs/decisions/0011)" >&2; exit 1; fi
done
# Debug sections (DWARF) of the host's libpython, its lib-dynload and a few wheels' extensions: ~45 MB the app
# never reads. Only files that carry .debug_* sections lose them (symbols stay), and never a file auditwheel
# patched (an $ORIGIN RPATH/RUNPATH, or a vendored library under *.libs/): rewriting those breaks them (see
# docs/installer.md); --self-test runs on the result.
if command -v strip >/dev/null && command -v readelf >/dev/null; then
  find dist/lusapp/_internal -type f -name '*.so*' -not -path '*.libs/*' -print0 | while IFS= read -r -d '' so; do
    sections="$(readelf -S "$so" 2>/dev/null || true)"
    case "$sections" in *.debug_*) ;; *) continue ;; esac
    if readelf -d "$so" 2>/dev/null | grep -E 'RPATH|RUNPATH' | grep -q 'ORIGIN'; then continue; fi
    strip --strip-debug "$so"
  done
fi
# OpenCV's own OpenBLAS (39 MB + libgfortran + libquadmath) -> a 17 kB forwarder to NumPy's OpenBLAS
# (packaging/opencv_blas_forward.c, needs gcc; without it the script keeps OpenCV's copy and says so).
if [ "$(uname -s)" = Linux ]; then "$PY" packaging/opencv_blas.py dist/lusapp/_internal; fi
t2=$(date +%s)
echo "build.sh: venv $((t1 - t0)) s, pyinstaller $((t2 - t1)) s"
echo "build.sh: bundle size $(du -sh dist/lusapp | cut -f1) (dist/lusapp)"
# LZMA is what ships: Inno Setup's solid LZMA2 on Windows, tar.xz on Linux (tar.gz is ~100 MB larger)
echo "build.sh: compressed $(tar cf - -C dist lusapp | xz -6 -T2 | wc -c | awk '{printf "%.0f MB", $1/1e6}') (tar.xz -6; target <= 120 MB)"

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
echo "build.sh: frozen self-test passed in $(awk "BEGIN{printf \"%.1f\", $s1 - $s0}") s (target <= 2.5 s)"
