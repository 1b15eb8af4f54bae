#include "CRingKernels.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

// A 4 x 16 block of C is accumulated in registers over all of K (sixteen 64-bit lanes
// per row: two AVX-512 or four AVX2 registers), reading each B row segment once for four
// rows of A and writing C once; edges fall back to a plain loop. The fixed-size loops
// are written for the compiler to unroll and vectorize per instruction set.
#define ROWS 4
#define COLUMNS 16

__attribute__((always_inline)) static inline void block_4x16(int K, const uint64_t *A, long lda, const uint64_t *B, long ldb,
                                                             uint64_t *C, long ldc, int accumulate) {
    uint64_t acc[ROWS][COLUMNS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLUMNS; c++) acc[r][c] = accumulate ? C[(long)r * ldc + c] : 0;
    for (int k = 0; k < K; k++) {
        const uint64_t *b = B + (long)k * ldb;
        for (int r = 0; r < ROWS; r++) {
            const uint64_t w = A[(long)r * lda + k];
            for (int c = 0; c < COLUMNS; c++) acc[r][c] += w * b[c];
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLUMNS; c++) C[(long)r * ldc + c] = acc[r][c];
}

__attribute__((target_clones("avx512dq", "avx2", "default")))
void mpc_ring_gemm(int M, int N, int K, const uint64_t *A, long lda, const uint64_t *B, long ldb, uint64_t *C, long ldc,
                   int accumulate) {
    const int fullRows = M - M % ROWS, fullColumns = N - N % COLUMNS;
    for (int i = 0; i < fullRows; i += ROWS)
        for (int j = 0; j < fullColumns; j += COLUMNS)
            block_4x16(K, A + (long)i * lda, lda, B + j, ldb, C + (long)i * ldc + j, ldc, accumulate);
    // Edges: the last rows (all columns) and the last columns of the full rows.
    for (int i = 0; i < M; i++) {
        const int from = i < fullRows ? fullColumns : 0;
        if (from == N) continue;
        uint64_t *c = C + (long)i * ldc;
        if (!accumulate) memset(c + from, 0, sizeof(uint64_t) * (size_t)(N - from));
        const uint64_t *a = A + (long)i * lda;
        for (int k = 0; k < K; k++) {
            const uint64_t w = a[k];
            const uint64_t *b = B + (long)k * ldb;
            for (int j = from; j < N; j++) c[j] += w * b[j];
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

void mpc_transpose_bits64(const uint64_t *in, uint64_t *out) {
    // out[i] bit j = in[j] bit i: six rounds of block swaps (Hacker's Delight 7-3).
    uint64_t a[64];
    for (int i = 0; i < 64; i++) a[i] = in[i];
    uint64_t mask = 0x00000000FFFFFFFFULL;
    for (int width = 32; width != 0; width >>= 1, mask ^= mask << width) {
        for (int k = 0; k < 64; k = ((k | width) + 1) & ~width) {
            uint64_t t = ((a[k] >> width) ^ a[k | width]) & mask;
            a[k] ^= t << width;
            a[k | width] ^= t;
        }
    }
    for (int i = 0; i < 64; i++) out[i] = a[i];
}
