"""Replace OpenCV's own OpenBLAS in a frozen Linux bundle by a 17 kB forwarder to NumPy's OpenBLAS.

    python packaging/opencv_blas.py dist/lusapp/_internal        (packaging/build.sh runs it after PyInstaller)

The opencv-python-headless wheel vendors an OpenBLAS (39 MB, plus its libgfortran and libquadmath) for the 19
BLAS/LAPACK routines cv2.abi3.so imports; NumPy's wheel vendors another (scipy-openblas64). This compiles
packaging/opencv_blas_forward.c under the file name cv2 asks for, linked to NumPy's copy, checks that it exports
every symbol cv2 imports from the original, and swaps it in; the libraries only the original needed go too.
Whenever something is missing (gcc, readelf/nm, NumPy's scipy-openblas64, a symbol cv2 needs that the forwarder
lacks) it keeps OpenCV's OpenBLAS, says why and exits 0: the bundle stays correct, only larger. The frozen
``--self-test`` checks OpenCV's linear algebra against numpy either way (lusapp.selftest).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("opencv_blas_forward.c")
NUMPY_BLAS_GLOB = "libscipy_openblas64_*.so"


def elf_needed(path: Path) -> list[str]:
    """The DT_NEEDED names of a shared object (readelf -d)."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


def dynamic_symbols(path: Path, *, defined: bool) -> set[str]:
    """Names in the dynamic symbol table: the defined ones, or the undefined ones (nm -D), without versions."""
    flag = "--defined-only" if defined else "--undefined-only"
    out = subprocess.run(["nm", "-D", flag, str(path)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@", 1)[0] for line in out.splitlines() if line.strip()}


def compile_forwarder(numpy_blas: Path, soname: str, out: Path) -> None:
    """Build the forwarder as `out` with SONAME `soname`, linked to `numpy_blas` (found at run time in
    ../numpy.libs or next to the forwarder). Raises CalledProcessError with gcc's message on failure."""
    cmd = [
        "gcc", "-O2", "-shared", "-fPIC", "-fvisibility=hidden", f"-Wl,-soname,{soname}", "-Wl,--no-undefined",
        "-o", str(out), str(SOURCE), f"-L{numpy_blas.parent}", f"-l:{numpy_blas.name}",
        "-Wl,-rpath,$ORIGIN/../numpy.libs:$ORIGIN",
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _needed_by_none(candidates: set[Path], root: Path, replaced: Path) -> set[Path]:
    """Those of `candidates` that no shared object under `root` but `candidates` and `replaced` lists as
    DT_NEEDED."""
    names = {p.name for p in candidates}
    used: set[str] = set()
    for so in root.rglob("*.so*"):
        if so.is_symlink() or not so.is_file() or so in candidates or so == replaced:
            continue
        try:
            used.update(n for n in elf_needed(so) if n in names)
        except subprocess.CalledProcessError:
            continue  # not an ELF file
    return {p for p in candidates if p.name not in used}


def _vendored_closure(lib: Path) -> set[Path]:
    """`lib` and the libraries of its own folder it loads, recursively (libgfortran, libquadmath)."""
    seen, todo = set(), [lib]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        todo += [lib.parent / n for n in elf_needed(cur) if (lib.parent / n).is_file()]
    return seen


def replace_opencv_blas(internal: Path) -> str:
    """Swap OpenCV's OpenBLAS under `internal` (PyInstaller's _internal) for the forwarder; returns what was done
    (or why nothing was), one line."""
    missing_tools = [t for t in ("gcc", "readelf", "nm") if shutil.which(t) is None]
    if missing_tools:
        return f"kept OpenCV's OpenBLAS: {', '.join(missing_tools)} not found"
    cv2_so = next(iter(sorted((internal / "cv2").glob("cv2*.so"))), None)
    if cv2_so is None:
        return f"kept OpenCV's OpenBLAS: no cv2 extension under {internal / 'cv2'}"
    blas_names = [n for n in elf_needed(cv2_so) if n.startswith("libopenblas")]
    if not blas_names:
        return f"nothing to do: {cv2_so.name} loads no OpenBLAS"
    blas = internal / "opencv_python_headless.libs" / blas_names[0]
    numpy_blas = sorted((internal / "numpy.libs").glob(NUMPY_BLAS_GLOB))
    if not blas.is_file() or blas.is_symlink() or len(numpy_blas) != 1:
        return f"kept OpenCV's OpenBLAS: expected {blas} and one numpy.libs/{NUMPY_BLAS_GLOB}"
    wanted = dynamic_symbols(cv2_so, defined=False) & dynamic_symbols(blas, defined=True)
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / blas.name
        try:
            compile_forwarder(numpy_blas[0], blas.name, built)
        except subprocess.CalledProcessError as exc:
            return f"kept OpenCV's OpenBLAS: the forwarder did not build: {exc.stderr.strip()[:300]}"
        lacking = wanted - dynamic_symbols(built, defined=True)
        if lacking:
            return f"kept OpenCV's OpenBLAS: cv2 needs {sorted(lacking)}, which the forwarder lacks"
        drop = _needed_by_none(_vendored_closure(blas) - {blas}, internal, blas)
        before = sum(p.stat().st_size for p in drop | {blas})
        shutil.copyfile(built, blas)
    for lib in drop:
        lib.unlink()
    for link in internal.iterdir():  # PyInstaller's top-level links to the removed libraries
        if link.is_symlink() and Path(os.readlink(link)).name in {p.name for p in drop}:
            link.unlink()
    saved = (before - blas.stat().st_size) / 1e6
    return (f"OpenCV's OpenBLAS forwarded to numpy.libs/{numpy_blas[0].name} ({len(wanted)} symbols); "
            f"removed {', '.join(sorted(p.name for p in drop)) or 'nothing else'}; {saved:.0f} MB less")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python packaging/opencv_blas.py dist/lusapp/_internal")
    print(f"opencv_blas: {replace_opencv_blas(Path(sys.argv[1]))}", flush=True)
