"""packaging/opencv_blas_forward.c: OpenCV's LP64 BLAS/LAPACK symbols forwarded to NumPy's ILP64 OpenBLAS.

The clinic bundle (packaging/build.sh, Linux) replaces OpenCV's own OpenBLAS with this forwarder; here it is
compiled against the NumPy of this environment and every forwarded routine is called through ctypes with 32-bit
integers, as cv2 calls them, and compared with numpy. Skipped where gcc, readelf/nm or NumPy's scipy-openblas64
library are missing.
"""

from __future__ import annotations

import ctypes as C
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMPY_LIBS = Path(importlib.util.find_spec("numpy").origin).parent.parent / "numpy.libs"
NUMPY_BLAS = sorted(NUMPY_LIBS.glob("libscipy_openblas64_*.so"))

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not NUMPY_BLAS or not all(map(shutil.which, ("gcc", "readelf", "nm"))),
    reason="needs Linux, gcc, readelf, nm and NumPy's scipy-openblas64",
)

sys.path.insert(0, str(ROOT / "packaging"))
opencv_blas = pytest.importorskip("opencv_blas")

INT = C.c_int
P = np.ctypeslib.as_ctypes_type


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(C.c_void_p)


def _ref(value: int):
    return C.byref(INT(value))


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    out = tmp_path_factory.mktemp("blas") / "libopenblas-forward-test.so"
    opencv_blas.compile_forwarder(NUMPY_BLAS[0], out.name, out)
    return out, C.CDLL(str(out))


def _fortran(a) -> np.ndarray:
    return np.asfortranarray(a)


def test_exports_every_symbol_the_installed_cv2_takes_from_its_openblas(lib):
    exported = opencv_blas.dynamic_symbols(lib[0], defined=True)
    cv2_dir = Path(importlib.util.find_spec("cv2").origin).parent
    cv2_so = next(iter(sorted(cv2_dir.glob("cv2*.so"))), None)
    blas = [n for n in opencv_blas.elf_needed(cv2_so) if n.startswith("libopenblas")] if cv2_so else []
    if not blas:
        pytest.skip("the installed cv2 loads no OpenBLAS of its own")
    wheel_blas = cv2_dir.parent / "opencv_python_headless.libs" / blas[0]
    wanted = opencv_blas.dynamic_symbols(cv2_so, defined=False)
    wanted &= opencv_blas.dynamic_symbols(wheel_blas, defined=True)
    assert wanted, "cv2 imports nothing from its OpenBLAS?"
    assert wanted <= exported
    assert all(not s.startswith("scipy_") for s in exported), "only the LP64 names are exported"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gesv_and_getrf_solve_and_return_32_bit_pivots(lib, dtype):
    f = lib[1]
    p = "d" if dtype == np.float64 else "s"
    rng = np.random.default_rng(0)
    n = 7
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, 2)).astype(dtype)
    fa, fb, ipiv, info = _fortran(a), _fortran(b), np.zeros(n, np.int32), INT(-99)
    getattr(f, f"{p}gesv_")(_ref(n), _ref(2), _ptr(fa), _ref(n), _ptr(ipiv), _ptr(fb), _ref(n), C.byref(info))
    assert info.value == 0
    assert np.allclose(fb, np.linalg.solve(a.astype(float), b.astype(float)), atol=1e-4)
    assert ((ipiv >= 1) & (ipiv <= n)).all()

    lu, piv, info = _fortran(a), np.zeros(n, np.int32), INT(-99)
    getattr(f, f"{p}getrf_")(_ref(n), _ref(n), _ptr(lu), _ref(n), _ptr(piv), C.byref(info))
    assert info.value == 0
    low, up = np.tril(lu, -1) + np.eye(n), np.triu(lu)
    perm = np.arange(n)
    for i, k in enumerate(piv - 1):  # LAPACK's row interchanges, 1-based
        perm[[i, k]] = perm[[k, i]]
    assert np.allclose(a[perm], low @ up, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_potrf_and_posv_cholesky(lib, dtype):
    f = lib[1]
    p = "d" if dtype == np.float64 else "s"
    rng = np.random.default_rng(1)
    n = 6
    m = rng.standard_normal((n, n))
    spd = (m @ m.T + n * np.eye(n)).astype(dtype)
    fa, info = _fortran(spd), INT(-99)
    getattr(f, f"{p}potrf_")(b"L", _ref(n), _ptr(fa), _ref(n), C.byref(info))
    assert info.value == 0
    assert np.allclose(np.tril(fa), np.linalg.cholesky(spd.astype(float)), atol=1e-4)
    b = rng.standard_normal((n, 3)).astype(dtype)
    fa, fb, info = _fortran(spd), _fortran(b), INT(-99)
    getattr(f, f"{p}posv_")(b"U", _ref(n), _ref(3), _ptr(fa), _ref(n), _ptr(fb), _ref(n), C.byref(info))
    assert info.value == 0
    assert np.allclose(fb, np.linalg.solve(spd.astype(float), b.astype(float)), atol=1e-4)
    not_pd, info = _fortran(-np.eye(n, dtype=dtype)), INT(-99)
    getattr(f, f"{p}potrf_")(b"L", _ref(n), _ptr(not_pd), _ref(n), C.byref(info))
    assert info.value == 1, "LAPACK's positive info (leading minor 1 not positive definite) comes back as int"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gesdd_geqrf_gels_with_workspace_queries(lib, dtype):
    f = lib[1]
    p = "d" if dtype == np.float64 else "s"
    rng = np.random.default_rng(2)
    m, n = 9, 5
    a = rng.standard_normal((m, n)).astype(dtype)

    def call(name, *args_before_work, tail=()):
        query, info = np.zeros(1, dtype), INT(-99)
        getattr(f, name)(*args_before_work, _ptr(query), _ref(-1), *tail, C.byref(info))
        assert info.value == 0 and query[0] >= 1
        work, info = np.zeros(int(query[0]), dtype), INT(-99)
        getattr(f, name)(*args_before_work, _ptr(work), _ref(work.size), *tail, C.byref(info))
        assert info.value == 0

    fa, s = _fortran(a), np.zeros(n, dtype)
    u, vt = np.zeros((m, m), dtype, order="F"), np.zeros((n, n), dtype, order="F")
    iwork = np.zeros(8 * n, np.int32)
    call(f"{p}gesdd_", b"A", _ref(m), _ref(n), _ptr(fa), _ref(m), _ptr(s), _ptr(u), _ref(m), _ptr(vt), _ref(n),
         tail=(_ptr(iwork),))
    assert np.allclose(s, np.linalg.svd(a.astype(float), compute_uv=False), atol=1e-4)
    assert np.allclose((u[:, :n] * s) @ vt, a, atol=1e-4)

    fa, tau = _fortran(a), np.zeros(n, dtype)
    call(f"{p}geqrf_", _ref(m), _ref(n), _ptr(fa), _ref(m), _ptr(tau))
    assert np.allclose(np.abs(np.diag(fa[:n])), np.abs(np.diag(np.linalg.qr(a.astype(float))[1])), atol=1e-4)

    b = rng.standard_normal((m, 2)).astype(dtype)
    fa, fb = _fortran(a), _fortran(b)
    call(f"{p}gels_", b"N", _ref(m), _ref(n), _ref(2), _ptr(fa), _ref(m), _ptr(fb), _ref(m))
    ref = np.linalg.lstsq(a.astype(float), b.astype(float), rcond=None)[0]
    assert np.allclose(fb[:n], ref, atol=1e-4)


def test_dgeev_eigenvalues(lib):
    f = lib[1]
    rng = np.random.default_rng(3)
    n = 6
    a = rng.standard_normal((n, n))
    fa, wr, wi = _fortran(a), np.zeros(n), np.zeros(n)
    vl, vr, work, info = np.zeros((n, n), order="F"), np.zeros((n, n), order="F"), np.zeros(8 * n), INT(-99)
    f.dgeev_(b"N", b"V", _ref(n), _ptr(fa), _ref(n), _ptr(wr), _ptr(wi), _ptr(vl), _ref(n), _ptr(vr), _ref(n),
             _ptr(work), _ref(work.size), C.byref(info))
    assert info.value == 0
    assert np.allclose(np.sort_complex(wr + 1j * wi), np.sort_complex(np.linalg.eigvals(a)), atol=1e-9)


@pytest.mark.parametrize(("name", "dtype"), [("cblas_sgemm", np.float32), ("cblas_dgemm", np.float64)])
def test_real_gemm_row_major_with_transpose(lib, name, dtype):
    f = lib[1]
    rng = np.random.default_rng(4)
    m, n, k = 5, 4, 3
    a, b, c = (rng.standard_normal(s).astype(dtype) for s in ((k, m), (k, n), (m, n)))
    out = c.copy()
    scalar = P(np.dtype(dtype))
    getattr(f, name).argtypes = [INT] * 6 + [scalar, C.c_void_p, INT, C.c_void_p, INT, scalar, C.c_void_p, INT]
    # CblasRowMajor = 101, CblasTrans = 112, CblasNoTrans = 111
    getattr(f, name)(101, 112, 111, m, n, k, 2.0, _ptr(a), m, _ptr(b), n, 0.5, _ptr(out), n)
    assert np.allclose(out, 2.0 * a.T @ b + 0.5 * c, atol=1e-5)


@pytest.mark.parametrize(("name", "dtype"), [("cblas_cgemm", np.complex64), ("cblas_zgemm", np.complex128)])
def test_complex_gemm_takes_scalars_by_pointer(lib, name, dtype):
    f = lib[1]
    rng = np.random.default_rng(5)
    m = n = k = 4
    a, b = ((rng.standard_normal((m, m)) + 1j * rng.standard_normal((m, m))).astype(dtype) for _ in range(2))
    out = np.zeros((m, n), dtype)
    alpha, beta = np.array([1 - 1j], dtype), np.array([0], dtype)
    getattr(f, name)(INT(101), INT(111), INT(111), INT(m), INT(n), INT(k), _ptr(alpha), _ptr(a), INT(k), _ptr(b),
                     INT(n), _ptr(beta), _ptr(out), INT(n))
    assert np.allclose(out, (1 - 1j) * a @ b, atol=1e-4)


FAKE_CV2 = r"""
extern void dgesv_(const int *, const int *, double *, const int *, int *, double *, const int *, int *);
extern void png_read(void);
int solve(int n, double *a, double *b, int *ipiv) {
    int one = 1, info = -7;
    dgesv_(&n, &one, a, &n, ipiv, b, &n, &info);
    return info;
}
void uses_png(void) { png_read(); }
"""
FAKE_BLAS = r"""
extern void gfortran_helper(void);
void dgesv_(const int *n, const int *r, double *a, const int *l, int *p, double *b, const int *lb, int *info) {
    *info = 42;
}
void openblas_get_config(void) { gfortran_helper(); }
"""


def _so(path: Path, source: str, *link: str) -> Path:
    import subprocess

    src = path.with_suffix(".c")
    src.write_text(source)
    cmd = ["gcc", "-shared", "-fPIC", f"-Wl,-soname,{path.name}", "-o", str(path), str(src), *link]
    subprocess.run(cmd, check=True, capture_output=True)
    src.unlink()
    return path


def test_swapping_a_bundles_opencv_blas_keeps_what_others_need_and_forwards(tmp_path):
    """A bundle laid out like PyInstaller's: a stand-in cv2 needing a vendored BLAS (+ its libgfortran ->
    libquadmath) and libpng; another library needs libquadmath too. After the swap cv2's dgesv_ reaches NumPy's
    OpenBLAS, libgfortran and its top-level link are gone, libquadmath and libpng stay."""
    internal = tmp_path / "_internal"
    libs, cv2_dir, np_libs = internal / "opencv_python_headless.libs", internal / "cv2", internal / "numpy.libs"
    for d in (libs, cv2_dir, np_libs):
        d.mkdir(parents=True)
    (np_libs / NUMPY_BLAS[0].name).symlink_to(NUMPY_BLAS[0])
    rpath = "-Wl,-rpath,$ORIGIN"
    quad = _so(libs / "libquadmath-t1.so.0", "void quad(void) {}")
    gfortran = _so(libs / "libgfortran-t1.so.5", "extern void quad(void); void gfortran_helper(void) { quad(); }",
                   f"-L{libs}", f"-l:{quad.name}", rpath)
    blas = _so(libs / "libopenblasp-t1.so", FAKE_BLAS, f"-L{libs}", f"-l:{gfortran.name}", rpath)
    png = _so(libs / "libpng-t1.so", "void png_read(void) {}")
    other = _so(libs / "libother-t1.so", "extern void quad(void); void other(void) { quad(); }", f"-L{libs}",
                f"-l:{quad.name}", rpath)
    cv2_so = _so(cv2_dir / "cv2.abi3.so", FAKE_CV2, f"-L{libs}", f"-l:{blas.name}", f"-l:{png.name}",
                 "-Wl,-rpath,$ORIGIN/../opencv_python_headless.libs")
    for lib in (gfortran, blas, png):
        (internal / lib.name).symlink_to(f"opencv_python_headless.libs/{lib.name}")

    said = opencv_blas.replace_opencv_blas(internal)

    assert "forwarded" in said and gfortran.name in said, said
    assert not gfortran.exists() and not (internal / gfortran.name).is_symlink()
    assert quad.exists() and other.exists() and png.exists() and (internal / png.name).is_symlink()
    assert (internal / blas.name).resolve() == blas
    assert NUMPY_BLAS[0].name in opencv_blas.elf_needed(blas)
    cv2 = C.CDLL(str(cv2_so))
    a = np.asfortranarray([[4.0, 1.0], [2.0, 3.0]])
    b = np.array([1.0, 2.0])
    ipiv = np.zeros(2, np.int32)
    cv2.solve.restype = INT
    assert cv2.solve(2, _ptr(a), _ptr(b), _ptr(ipiv)) == 0  # the stand-in BLAS would have said 42
    assert np.allclose(b, np.linalg.solve([[4.0, 1.0], [2.0, 3.0]], [1.0, 2.0]))


def test_the_swap_keeps_opencvs_blas_and_says_why_without_gcc(tmp_path, monkeypatch):
    monkeypatch.setattr(opencv_blas.shutil, "which", lambda tool: None if tool == "gcc" else "/usr/bin/" + tool)
    assert opencv_blas.replace_opencv_blas(tmp_path) == "kept OpenCV's OpenBLAS: gcc not found"
