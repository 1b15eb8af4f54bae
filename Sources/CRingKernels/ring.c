#include "CRingKernels.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

// Column tiles keep a slice of B and C in cache while A streams; the inner loop is a
// wrapping multiply-add over contiguous columns, which compilers vectorize.
#define TILE 512

__attribute__((target_clones("avx512dq", "avx2", "default")))
void mpc_ring_gemm(int M, int N, int K, const uint64_t *A, long lda, const uint64_t *B, long ldb, uint64_t *C, long ldc,
                   int accumulate) {
    for (int j0 = 0; j0 < N; j0 += TILE) {
        int j1 = j0 + TILE < N ? j0 + TILE : N;
        for (int i = 0; i < M; i++) {
            uint64_t *c = C + (long)i * ldc;
            if (!accumulate) memset(c + j0, 0, sizeof(uint64_t) * (size_t)(j1 - j0));
            const uint64_t *a = A + (long)i * lda;
            for (int k = 0; k < K; k++) {
                uint64_t w = a[k];
                if (w == 0) continue;
                const uint64_t *b = B + (long)k * ldb;
                for (int j = j0; j < j1; j++) c[j] += w * b[j];
            }
        }
    }
}

typedef struct {
    int M, N, K;
    const uint64_t *A;
    long lda;
    const uint64_t *B;
    long ldb;
    uint64_t *C;
    long ldc;
    int accumulate;
} gemm_job;

static void *gemm_worker(void *argument) {
    gemm_job *job = argument;
    mpc_ring_gemm(job->M, job->N, job->K, job->A, job->lda, job->B, job->ldb, job->C, job->ldc, job->accumulate);
    return NULL;
}

void mpc_ring_gemm_parallel(int M, int N, int K, const uint64_t *A, long lda, const uint64_t *B, long ldb, uint64_t *C,
                            long ldc, int accumulate) {
    // Row halves on two threads when the product is large enough to pay for a thread.
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 2 || M < 2 || (double)M * N * K < 4e6) {
        mpc_ring_gemm(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
        return;
    }
    int half = M / 2;
    gemm_job job = {M - half, N, K, A + (long)half * lda, lda, B, ldb, C + (long)half * ldc, ldc, accumulate};
    pthread_t thread;
    if (pthread_create(&thread, NULL, gemm_worker, &job) != 0) {
        mpc_ring_gemm(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
        return;
    }
    mpc_ring_gemm(half, N, K, A, lda, B, ldb, C, ldc, accumulate);
    pthread_join(thread, NULL);
}

void mpc_ring_conv2d(const mpc_ring_conv_geometry *g, const uint64_t *image, int M, const uint64_t *W, uint64_t *out,
                     uint64_t *scratch) {
    const int columns = g->outHeight * g->outWidth;
    const int K = g->channels * g->kernelHeight * g->kernelWidth;
    uint64_t *row = scratch;
    for (int c = 0; c < g->channels; c++) {
        const uint64_t *plane = image + (long)c * g->height * g->width;
        for (int ky = 0; ky < g->kernelHeight; ky++) {
            for (int kx = 0; kx < g->kernelWidth; kx++, row += columns) {
                for (int oy = 0; oy < g->outHeight; oy++) {
                    int y = oy * g->strideH - g->padTop + ky * g->dilationH;
                    uint64_t *dst = row + (long)oy * g->outWidth;
                    if (y < 0 || y >= g->height) {
                        memset(dst, 0, sizeof(uint64_t) * (size_t)g->outWidth);
                        continue;
                    }
                    const uint64_t *src = plane + (long)y * g->width;
                    for (int ox = 0; ox < g->outWidth; ox++) {
                        int x = ox * g->strideW - g->padLeft + kx * g->dilationW;
                        dst[ox] = (x >= 0 && x < g->width) ? src[x] : 0;
                    }
                }
            }
        }
    }
    mpc_ring_gemm_parallel(M, columns, K, W, K, scratch, columns, out, columns, 0);
}
