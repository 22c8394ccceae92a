/* OpenCV's BLAS/LAPACK calls forwarded to NumPy's OpenBLAS (clinic bundle, Linux; packaging/build.sh).
 *
 * The opencv-python-headless wheel carries its own OpenBLAS (39 MB + libgfortran + libquadmath) for the 19
 * BLAS/LAPACK routines cv2.abi3.so imports (cv::gemm, cv::solve, cv::invert, cv::SVDecomp, QR, eigen ...).
 * NumPy already ships an OpenBLAS: scipy-openblas64, ILP64 (64-bit integers), every symbol renamed
 * `scipy_` NAME `64_` (cblas_sgemm -> scipy_cblas_sgemm64_, dgesv_ -> scipy_dgesv_64_). This library takes the
 * file name (SONAME) of OpenCV's OpenBLAS, exports the 19 LP64 symbols cv2 needs and forwards each call to
 * NumPy's library: 32-bit integer arguments are widened to 64 bits, integer arrays (pivots, iwork) are copied
 * through 64-bit buffers, `info` is narrowed back. Fortran hidden string lengths: the callee gets 1 for every
 * CHARACTER*1 argument (what the caller passes, if anything, is ignored; they are trailing arguments).
 *
 * Build (build.sh does it; PREFIX/SUFFIX override the renaming):
 *   gcc -O2 -shared -fPIC -Wl,-soname,<cv2's NEEDED name> -o <that name> opencv_blas_forward.c \
 *       -L<numpy.libs> -l:<libscipy_openblas64_-*.so> -Wl,-rpath,'$ORIGIN/../numpy.libs:$ORIGIN'
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef PREFIX
#define PREFIX scipy_
#endif
#ifndef SUFFIX
#define SUFFIX 64_
#endif
#define CAT3_(a, b, c) a##b##c
#define CAT3(a, b, c) CAT3_(a, b, c)
#define TARGET(name) CAT3(PREFIX, name, SUFFIX)

#define EXPORT __attribute__((visibility("default")))
typedef int64_t i64;
typedef size_t flen; /* gfortran's hidden CHARACTER length */

/* info when a 64-bit copy of an integer array cannot be allocated (LAPACK's own errors are -1 .. -N or > 0) */
#define INFO_NO_MEMORY (-1000)

static i64 *alloc_i64(int n) { return (i64 *)malloc((size_t)(n > 0 ? n : 1) * sizeof(i64)); }
static void narrow(const i64 *src, int *dst, int n) { for (int i = 0; i < n; i++) dst[i] = (int)src[i]; }
static int min_int(int a, int b) { return a < b ? a : b; }

/* ---------------- CBLAS gemm: C = alpha op(A) op(B) + beta C ---------------- */
#define GEMM_REAL(name, T)                                                                                    \
    extern void TARGET(name)(int, int, int, i64, i64, i64, T, const T *, i64, const T *, i64, T, T *, i64); \
    EXPORT void name(int order, int ta, int tb, int m, int n, int k, T alpha, const T *a, int lda,           \
                     const T *b, int ldb, T beta, T *c, int ldc) {                                           \
        TARGET(name)(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                          \
    }
#define GEMM_COMPLEX(name)                                                                                    \
    extern void TARGET(name)(int, int, int, i64, i64, i64, const void *, const void *, i64, const void *,   \
                             i64, const void *, void *, i64);                                                \
    EXPORT void name(int order, int ta, int tb, int m, int n, int k, const void *alpha, const void *a,       \
                     int lda, const void *b, int ldb, const void *beta, void *c, int ldc) {                  \
        TARGET(name)(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                          \
    }
GEMM_REAL(cblas_sgemm, float)
GEMM_REAL(cblas_dgemm, double)
GEMM_COMPLEX(cblas_cgemm)
GEMM_COMPLEX(cblas_zgemm)

/* ---------------- LAPACK (Fortran calling convention: every argument by reference) ---------------- */

/* xGESV: solve A X = B by LU with partial pivoting; ipiv[n] is an output */
#define GESV(name, T)                                                                                         \
    extern void TARGET(name)(const i64 *, const i64 *, T *, const i64 *, i64 *, T *, const i64 *, i64 *);   \
    EXPORT void name(const int *n, const int *nrhs, T *a, const int *lda, int *ipiv, T *b, const int *ldb,   \
                     int *info) {                                                                            \
        i64 n_ = *n, nrhs_ = *nrhs, lda_ = *lda, ldb_ = *ldb, info_ = 0;                                     \
        i64 *piv = alloc_i64(*n);                                                                            \
        if (!piv) { *info = INFO_NO_MEMORY; return; }                                                        \
        TARGET(name)(&n_, &nrhs_, a, &lda_, piv, b, &ldb_, &info_);                                          \
        narrow(piv, ipiv, *n);                                                                               \
        free(piv);                                                                                           \
        *info = (int)info_;                                                                                  \
    }
GESV(sgesv_, float)
GESV(dgesv_, double)

/* xGETRF: LU factorisation; ipiv[min(m, n)] is an output */
#define GETRF(name, T)                                                                                        \
    extern void TARGET(name)(const i64 *, const i64 *, T *, const i64 *, i64 *, i64 *);                      \
    EXPORT void name(const int *m, const int *n, T *a, const int *lda, int *ipiv, int *info) {               \
        i64 m_ = *m, n_ = *n, lda_ = *lda, info_ = 0;                                                        \
        int k = min_int(*m, *n);                                                                             \
        i64 *piv = alloc_i64(k);                                                                             \
        if (!piv) { *info = INFO_NO_MEMORY; return; }                                                        \
        TARGET(name)(&m_, &n_, a, &lda_, piv, &info_);                                                       \
        narrow(piv, ipiv, k);                                                                                \
        free(piv);                                                                                           \
        *info = (int)info_;                                                                                  \
    }
GETRF(sgetrf_, float)
GETRF(dgetrf_, double)

/* xPOSV: solve A X = B for symmetric positive definite A (Cholesky) */
#define POSV(name, T)                                                                                         \
    extern void TARGET(name)(const char *, const i64 *, const i64 *, T *, const i64 *, T *, const i64 *,     \
                             i64 *, flen);                                                                   \
    EXPORT void name(const char *uplo, const int *n, const int *nrhs, T *a, const int *lda, T *b,            \
                     const int *ldb, int *info) {                                                            \
        i64 n_ = *n, nrhs_ = *nrhs, lda_ = *lda, ldb_ = *ldb, info_ = 0;                                     \
        TARGET(name)(uplo, &n_, &nrhs_, a, &lda_, b, &ldb_, &info_, 1);                                      \
        *info = (int)info_;                                                                                  \
    }
POSV(sposv_, float)
POSV(dposv_, double)

/* xPOTRF: Cholesky factorisation */
#define POTRF(name, T)                                                                                        \
    extern void TARGET(name)(const char *, const i64 *, T *, const i64 *, i64 *, flen);                      \
    EXPORT void name(const char *uplo, const int *n, T *a, const int *lda, int *info) {                      \
        i64 n_ = *n, lda_ = *lda, info_ = 0;                                                                 \
        TARGET(name)(uplo, &n_, a, &lda_, &info_, 1);                                                        \
        *info = (int)info_;                                                                                  \
    }
POTRF(spotrf_, float)
POTRF(dpotrf_, double)

/* xGEQRF: QR factorisation (lwork = -1 is a workspace query, answered in work[0]) */
#define GEQRF(name, T)                                                                                        \
    extern void TARGET(name)(const i64 *, const i64 *, T *, const i64 *, T *, T *, const i64 *, i64 *);     \
    EXPORT void name(const int *m, const int *n, T *a, const int *lda, T *tau, T *work, const int *lwork,    \
                     int *info) {                                                                            \
        i64 m_ = *m, n_ = *n, lda_ = *lda, lwork_ = *lwork, info_ = 0;                                       \
        TARGET(name)(&m_, &n_, a, &lda_, tau, work, &lwork_, &info_);                                        \
        *info = (int)info_;                                                                                  \
    }
GEQRF(sgeqrf_, float)
GEQRF(dgeqrf_, double)

/* xGELS: least squares by QR/LQ */
#define GELS(name, T)                                                                                         \
    extern void TARGET(name)(const char *, const i64 *, const i64 *, const i64 *, T *, const i64 *, T *,     \
                             const i64 *, T *, const i64 *, i64 *, flen);                                    \
    EXPORT void name(const char *trans, const int *m, const int *n, const int *nrhs, T *a, const int *lda,  \
                     T *b, const int *ldb, T *work, const int *lwork, int *info) {                           \
        i64 m_ = *m, n_ = *n, nrhs_ = *nrhs, lda_ = *lda, ldb_ = *ldb, lwork_ = *lwork, info_ = 0;           \
        TARGET(name)(trans, &m_, &n_, &nrhs_, a, &lda_, b, &ldb_, work, &lwork_, &info_, 1);                 \
        *info = (int)info_;                                                                                  \
    }
GELS(sgels_, float)
GELS(dgels_, double)

/* xGESDD: SVD by divide and conquer; iwork[8 min(m, n)] is workspace only */
#define GESDD(name, T)                                                                                        \
    extern void TARGET(name)(const char *, const i64 *, const i64 *, T *, const i64 *, T *, T *,             \
                             const i64 *, T *, const i64 *, T *, const i64 *, i64 *, i64 *, flen);           \
    EXPORT void name(const char *jobz, const int *m, const int *n, T *a, const int *lda, T *s, T *u,        \
                     const int *ldu, T *vt, const int *ldvt, T *work, const int *lwork, int *iwork,         \
                     int *info) {                                                                            \
        i64 m_ = *m, n_ = *n, lda_ = *lda, ldu_ = *ldu, ldvt_ = *ldvt, lwork_ = *lwork, info_ = 0;           \
        i64 *iw = alloc_i64(8 * min_int(*m, *n));                                                            \
        (void)iwork;                                                                                         \
        if (!iw) { *info = INFO_NO_MEMORY; return; }                                                         \
        TARGET(name)(jobz, &m_, &n_, a, &lda_, s, u, &ldu_, vt, &ldvt_, work, &lwork_, iw, &info_, 1);       \
        free(iw);                                                                                            \
        *info = (int)info_;                                                                                  \
    }
GESDD(sgesdd_, float)
GESDD(dgesdd_, double)

/* DGEEV: eigenvalues (wr + i wi) and right/left eigenvectors of a general matrix */
extern void TARGET(dgeev_)(const char *, const char *, const i64 *, double *, const i64 *, double *, double *,
                           double *, const i64 *, double *, const i64 *, double *, const i64 *, i64 *, flen,
                           flen);
EXPORT void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr,
                   double *wi, double *vl, const int *ldvl, double *vr, const int *ldvr, double *work,
                   const int *lwork, int *info) {
    i64 n_ = *n, lda_ = *lda, ldvl_ = *ldvl, ldvr_ = *ldvr, lwork_ = *lwork, info_ = 0;
    TARGET(dgeev_)(jobvl, jobvr, &n_, a, &lda_, wr, wi, vl, &ldvl_, vr, &ldvr_, work, &lwork_, &info_, 1, 1);
    *info = (int)info_;
}
