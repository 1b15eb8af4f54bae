// The linear-layer kernels for one word width, included by ring.c once per ring:
// WORD is the type of B, C and the accumulators (wrapping arithmetic mod 2^bits),
// SUFFIX ends the function names, COLUMNS is the block width and EDGE the narrower
// width of the last column blocks. A (weights, or the
// rows of x) is always uint64_t: each element is loaded once per block row and
// truncated then, so callers never convert a tensor to feed the narrow kernels. The
// three parameters are undefined at the end, ready for the next width.

#define GLUE(name, suffix) name##suffix
#define NAMED(name, suffix) GLUE(name, suffix)
#define NAME(name) NAMED(name, SUFFIX)

// A 4 x `width` block of C (width COLUMNS, or EDGE for the last columns) is accumulated
// in registers over all of K (whole AVX-512 or AVX2 registers a row), reading each B row
// segment once for four rows of A and writing C once. `width` is a constant at each call,
// so the compiler unrolls and vectorizes the fixed-size loops per instruction set.
__attribute__((always_inline)) static inline void NAME(block)(int K, const uint64_t *A, long lda, const WORD *B, long ldb,
                                                               WORD *C, long ldc, int accumulate, const int width) {
    WORD acc[ROWS][COLUMNS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < width; c++) acc[r][c] = accumulate ? C[(long)r * ldc + c] : 0;
    for (int k = 0; k < K; k++) {
        const WORD *b = B + (long)k * ldb;
        for (int r = 0; r < ROWS; r++) {
            const WORD w = (WORD)A[(long)r * lda + k];
            for (int c = 0; c < width; c++) acc[r][c] += w * b[c];
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < width; c++) C[(long)r * ldc + c] = acc[r][c];
}

__attribute__((target_clones("avx512dq", "avx2", "default")))
void NAME(mpc_ring_gemm)(int M, int N, int K, const uint64_t *A, long lda, const WORD *B, long ldb, WORD *C, long ldc,
                         int accumulate) {
    // Column blocks of COLUMNS, then of EDGE (a small map's 7 x 7 = 49 columns would
    // otherwise all fall to the plain loop), then the plain loop for what is left.
    const int fullRows = M - M % ROWS, wide = N - N % COLUMNS, blocked = wide + (N - wide) / EDGE * EDGE;
    for (int i = 0; i < fullRows; i += ROWS) {
        const uint64_t *a = A + (long)i * lda;
        WORD *c = C + (long)i * ldc;
        for (int j = 0; j < wide; j += COLUMNS) NAME(block)(K, a, lda, B + j, ldb, c + j, ldc, accumulate, COLUMNS);
        for (int j = wide; j < blocked; j += EDGE) NAME(block)(K, a, lda, B + j, ldb, c + j, ldc, accumulate, EDGE);
    }
    // Edges: the last rows (all columns) and the last columns of the full rows.
    for (int i = 0; i < M; i++) {
        const int from = i < fullRows ? blocked : 0;
        if (from == N) continue;
        WORD *c = C + (long)i * ldc;
        if (!accumulate) memset(c + from, 0, sizeof(WORD) * (size_t)(N - from));
        const uint64_t *a = A + (long)i * lda;
        for (int k = 0; k < K; k++) {
            const WORD w = (WORD)a[k];
            const WORD *b = B + (long)k * ldb;
            for (int j = from; j < N; j++) c[j] += w * b[j];
        }
    }
}

typedef struct {
    int M, N, K;
    const uint64_t *A;
    long lda;
    const WORD *B;
    long ldb;
    WORD *C;
    long ldc;
    int accumulate;
} NAME(gemm_job);

static void *NAME(gemm_worker)(void *argument) {
    NAME(gemm_job) *job = argument;
    NAME(mpc_ring_gemm)(job->M, job->N, job->K, job->A, job->lda, job->B, job->ldb, job->C, job->ldc, job->accumulate);
    return NULL;
}

void NAME(mpc_ring_gemm_parallel)(int M, int N, int K, const uint64_t *A, long lda, const WORD *B, long ldb, WORD *C,
                                  long ldc, int accumulate) {
    // Row halves on two threads when the product is large enough to pay for a thread.
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 2 || M < 2 || (double)M * N * K < 4e6) {
        NAME(mpc_ring_gemm)(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
        return;
    }
    int half = M / 2;
    NAME(gemm_job) job = {M - half, N, K, A + (long)half * lda, lda, B, ldb, C + (long)half * ldc, ldc, accumulate};
    pthread_t thread;
    if (pthread_create(&thread, NULL, NAME(gemm_worker), &job) != 0) {
        NAME(mpc_ring_gemm)(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
        return;
    }
    NAME(mpc_ring_gemm)(half, N, K, A, lda, B, ldb, C, ldc, accumulate);
    pthread_join(thread, NULL);
}

// im2col of the uint64 image into WORD scratch (truncating as it copies), then one GEMM.
void NAME(mpc_ring_conv2d)(const mpc_ring_conv_geometry *g, const uint64_t *image, int M, const uint64_t *W, WORD *out,
                           WORD *scratch) {
    const int columns = g->outHeight * g->outWidth;
    const int K = g->channels * g->kernelHeight * g->kernelWidth;
    WORD *row = scratch;
    for (int c = 0; c < g->channels; c++) {
        const uint64_t *plane = image + (long)c * g->height * g->width;
        for (int ky = 0; ky < g->kernelHeight; ky++) {
            for (int kx = 0; kx < g->kernelWidth; kx++, row += columns) {
                for (int oy = 0; oy < g->outHeight; oy++) {
                    int y = oy * g->strideH - g->padTop + ky * g->dilationH;
                    WORD *dst = row + (long)oy * g->outWidth;
                    if (y < 0 || y >= g->height) {
                        memset(dst, 0, sizeof(WORD) * (size_t)g->outWidth);
                        continue;
                    }
                    const uint64_t *src = plane + (long)y * g->width;
                    for (int ox = 0; ox < g->outWidth; ox++) {
                        int x = ox * g->strideW - g->padLeft + kx * g->dilationW;
                        dst[ox] = (x >= 0 && x < g->width) ? (WORD)src[x] : 0;
                    }
                }
            }
        }
    }
    NAME(mpc_ring_gemm_parallel)(M, columns, K, W, K, scratch, columns, out, columns, 0);
}

// Depthwise convolution (one input channel per group, `multiplier` outputs each) without
// im2col: each output plane accumulates w[ky][kx] times the shifted input rows, over the
// output columns whose input column lies inside the image, so the inner loop has no
// bounds test and vectorizes (stride 1 reads contiguous words).
__attribute__((target_clones("avx512dq", "avx2", "default")))
void NAME(mpc_ring_depthwise)(const mpc_ring_conv_geometry *g, const uint64_t *image, int channels, int multiplier,
                              const uint64_t *W, WORD *out) {
    const int kh = g->kernelHeight, kw = g->kernelWidth, oh = g->outHeight, ow = g->outWidth, sw = g->strideW;
    for (int o = 0; o < channels * multiplier; o++) {
        const uint64_t *plane = image + (long)(o / multiplier) * g->height * g->width;
        WORD *dst = out + (long)o * oh * ow;
        memset(dst, 0, sizeof(WORD) * (size_t)oh * ow);
        for (int ky = 0; ky < kh; ky++) {
            for (int kx = 0; kx < kw; kx++) {
                const WORD w = (WORD)W[((long)o * kh + ky) * kw + kx];
                const int shift = kx * g->dilationW - g->padLeft;  // input column of output column 0
                const int lo = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                int hi = g->width - 1 - shift < 0 ? 0 : (g->width - 1 - shift) / sw + 1;
                if (hi > ow) hi = ow;
                for (int oy = 0; oy < oh; oy++) {
                    const int y = oy * g->strideH - g->padTop + ky * g->dilationH;
                    if (y < 0 || y >= g->height) continue;
                    const uint64_t *src = plane + (long)y * g->width;
                    WORD *row = dst + (long)oy * ow;
                    if (sw == 1) {
                        for (int ox = lo; ox < hi; ox++) row[ox] += w * (WORD)src[ox + shift];
                    } else {
                        for (int ox = lo; ox < hi; ox++) row[ox] += w * (WORD)src[(long)ox * sw + shift];
                    }
                }
            }
        }
    }
}

typedef struct {
    const mpc_ring_conv_geometry *g;
    const uint64_t *image;
    int channels, multiplier;
    const uint64_t *W;
    WORD *out;
} NAME(depthwise_job);

static void *NAME(depthwise_worker)(void *argument) {
    NAME(depthwise_job) *job = argument;
    NAME(mpc_ring_depthwise)(job->g, job->image, job->channels, job->multiplier, job->W, job->out);
    return NULL;
}

void NAME(mpc_ring_depthwise_parallel)(const mpc_ring_conv_geometry *g, const uint64_t *image, int channels, int multiplier,
                                       const uint64_t *W, WORD *out) {
    // Channel halves on two threads when there is enough work to pay for a thread.
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double work = (double)channels * multiplier * g->kernelHeight * g->kernelWidth * g->outHeight * g->outWidth;
    if (cores < 2 || channels < 2 || work < 1e6) {
        NAME(mpc_ring_depthwise)(g, image, channels, multiplier, W, out);
        return;
    }
    const int half = channels / 2;
    const long plane = (long)g->height * g->width, outputs = (long)g->outHeight * g->outWidth * multiplier;
    const long weights = (long)g->kernelHeight * g->kernelWidth * multiplier;
    NAME(depthwise_job) job = {g, image + half * plane, channels - half, multiplier, W + half * weights, out + half * outputs};
    pthread_t thread;
    if (pthread_create(&thread, NULL, NAME(depthwise_worker), &job) != 0) {
        NAME(mpc_ring_depthwise)(g, image, channels, multiplier, W, out);
        return;
    }
    NAME(mpc_ring_depthwise)(g, image, half, multiplier, W, out);
    pthread_join(thread, NULL);
}

// For `mpcr bench --kernels`: the multiply-add rate of the instruction set with every
// operand in registers (ROWS x COLUMNS independent lanes, acc = acc * m + b, the GEMM
// block's operation), and a plain triple loop without blocking or target clones.
__attribute__((target_clones("avx512dq", "avx2", "default")))
uint64_t NAME(mpc_bench_peak)(long iterations) {
    WORD acc[ROWS][COLUMNS], b[COLUMNS];
    for (int c = 0; c < COLUMNS; c++) b[c] = (WORD)(2 * c + 1);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLUMNS; c++) acc[r][c] = (WORD)(r * COLUMNS + c);
    const WORD m = (WORD)(iterations | 1);
    for (long i = 0; i < iterations; i++)
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLUMNS; c++) acc[r][c] = acc[r][c] * m + b[c];
    uint64_t sum = 0;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLUMNS; c++) sum += acc[r][c];
    return sum;
}

long NAME(mpc_bench_peak_lanes)(void) { return ROWS * COLUMNS; }

void NAME(mpc_bench_plain_gemm)(int M, int N, int K, const uint64_t *A, const WORD *B, WORD *C) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            WORD sum = 0;
            for (int k = 0; k < K; k++) sum += (WORD)A[(long)i * K + k] * B[(long)k * N + j];
            C[(long)i * N + j] = sum;
        }
}

#undef NAME
#undef NAMED
#undef GLUE
#undef WORD
#undef SUFFIX
#undef COLUMNS
#undef EDGE
