// Packed SGEMM in the style of BLIS/GotoBLAS: B is packed per (KC x NC) block into
// NR-column panels, A is pre-packed into MR-row panels over all of K (weights are
// constant, so the engine packs them once), and a register-blocked micro-kernel
// computes MR x NR tiles. Kernel and panel widths depend on the instruction set.
#include "CKernels.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// Panel height is fixed for every instruction set so packed weights do not depend on
// the machine: 8 rows (divides the channel counts of common CNNs).
#define MR 8
#define KC 256
#define NC 1536

typedef enum { ISA_GENERIC, ISA_AVX2, ISA_AVX512 } isa_t;

static isa_t detect_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
    return ISA_GENERIC;
}

static int selected = -1;

static isa_t current_isa(void) {
    if (selected < 0) selected = (int)detect_isa();
    return (isa_t)selected;
}

int mpcc_set_gemm_isa(const char *name) {
    isa_t best = detect_isa(), wanted;
    if (strcmp(name, "avx512") == 0) wanted = ISA_AVX512;
    else if (strcmp(name, "avx2") == 0) wanted = ISA_AVX2;
    else if (strcmp(name, "generic") == 0) wanted = ISA_GENERIC;
    else return 0;
    if (wanted > best) return 0;
    selected = (int)wanted;
    return 1;
}

const char *mpcc_gemm_isa(void) {
    switch (current_isa()) {
    case ISA_AVX512: return "avx512";
    case ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

size_t mpcc_packed_size(int M, int K) { return (size_t)((M + MR - 1) / MR) * MR * (size_t)K; }

void mpcc_pack_a(int M, int K, const float *A, long lda, float *packed) {
    for (int panel = 0; panel < M; panel += MR) {
        float *out = packed + (size_t)panel * K;
        for (int k = 0; k < K; k++) {
            for (int r = 0; r < MR; r++) {
                int row = panel + r;
                out[(size_t)k * MR + r] = row < M ? A[(size_t)row * lda + k] : 0.0f;
            }
        }
    }
}

// Packs B[kc x nc] (row stride ldb) into panels of nr columns, zero-padded.
static void pack_b(int kc, int nc, int nr, const float *B, long ldb, float *out) {
    for (int panel = 0; panel < nc; panel += nr) {
        int width = nc - panel < nr ? nc - panel : nr;
        float *dst = out + (size_t)panel * kc;
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)k * ldb + panel;
            memcpy(dst + (size_t)k * nr, src, (size_t)width * sizeof(float));
            if (width < nr) memset(dst + (size_t)k * nr + width, 0, (size_t)(nr - width) * sizeof(float));
        }
    }
}

// Bias per row of the tile and clamp bounds, applied when the last K block is stored.
typedef struct {
    const float *bias;
    float low, high;
} epilogue_t;

static inline float finish(float value, const epilogue_t *e, int row) {
    if (!e) return value;
    value += e->bias ? e->bias[row] : 0.0f;
    return value < e->low ? e->low : (value > e->high ? e->high : value);
}

#if defined(__x86_64__)
// 8 x 32 tile: 16 zmm accumulators, two B vectors and one broadcast per step.
// `columns` (1 to 32) of the tile are stored; masked loads and stores keep a partial
// tile on the fast path.
__attribute__((target("avx512f"))) static void kernel_avx512_masked(
    int kc, const float *a, const float *b, float *c, long ldc, int add, const epilogue_t *e, int columns) {
    __mmask16 m0 = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1);
    __mmask16 m1 = columns >= 32 ? (__mmask16)0xFFFF : columns > 16 ? (__mmask16)((1u << (columns - 16)) - 1) : (__mmask16)0;
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += 32;
    }
    for (int r = 0; r < MR; r++) {
        float *row = c + r * ldc;
        if (add) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, row));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, row + 16));
        }
        if (e) {
            __m512 bias = _mm512_set1_ps(e->bias ? e->bias[r] : 0.0f), lo = _mm512_set1_ps(e->low), hi = _mm512_set1_ps(e->high);
            acc[r][0] = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(acc[r][0], bias), lo), hi);
            acc[r][1] = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(acc[r][1], bias), lo), hi);
        }
        _mm512_mask_storeu_ps(row, m0, acc[r][0]);
        _mm512_mask_storeu_ps(row + 16, m1, acc[r][1]);
    }
}

__attribute__((target("avx512f"))) static void kernel_avx512(int kc, const float *a, const float *b, float *c, long ldc, int add, const epilogue_t *e) {
    kernel_avx512_masked(kc, a, b, c, ldc, add, e, 32);
}

// 8 x 16 tile: 16 ymm accumulators.
__attribute__((target("avx2,fma"))) static void kernel_avx2(int kc, const float *a, const float *b, float *c, long ldc, int add, const epilogue_t *e) {
    __m256 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += 16;
    }
    for (int r = 0; r < MR; r++) {
        float *row = c + r * ldc;
        if (add) {
            acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(row));
            acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(row + 8));
        }
        if (e) {
            __m256 bias = _mm256_set1_ps(e->bias ? e->bias[r] : 0.0f), lo = _mm256_set1_ps(e->low), hi = _mm256_set1_ps(e->high);
            acc[r][0] = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[r][0], bias), lo), hi);
            acc[r][1] = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[r][1], bias), lo), hi);
        }
        _mm256_storeu_ps(row, acc[r][0]);
        _mm256_storeu_ps(row + 8, acc[r][1]);
    }
}
#endif

// Portable 8 x 8 tile.
static void kernel_generic(int kc, const float *a, const float *b, float *c, long ldc, int add, const epilogue_t *e) {
    float acc[MR][8] = {{0}};
    for (int k = 0; k < kc; k++) {
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < 8; j++) acc[r][j] += a[r] * b[j];
        a += MR;
        b += 8;
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < 8; j++) c[r * ldc + j] = finish(add ? c[r * ldc + j] + acc[r][j] : acc[r][j], e, r);
}

typedef void (*kernel_t)(int, const float *, const float *, float *, long, int, const epilogue_t *);

// Where the right-hand side comes from: a row-major matrix, or an image read as its
// im2col matrix.
typedef struct {
    const float *matrix;
    long ldb;
    const mpcc_conv_geometry *conv;
    const float *image;
} source_t;

// ceil(a / b) for b > 0 and any a.
static inline int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Packs im2col rows [k0, k0+kc) x columns [j0, j0+nc) of a convolution into nr-wide
// panels: row k is (channel, ky, kx), column j is (oy, ox). Row by row, so each row's
// decoding and each output row's valid range are computed once, not per element.
static void pack_b_conv(int kc, int nc, int nr, int k0, int j0, const mpcc_conv_geometry *g, const float *image, float *out) {
    int kernelArea = g->kernelHeight * g->kernelWidth;
    int stride = g->strideW;
    for (int k = 0; k < kc; k++) {
        int row = k0 + k;
        int channel = row / kernelArea, ky = (row / g->kernelWidth) % g->kernelHeight, kx = row % g->kernelWidth;
        const float *plane = image + (size_t)channel * g->height * g->width;
        int offset = kx * g->dilationW - g->padLeft;
        // Output columns ox whose input column ox * stride + offset lies in [0, width).
        int firstValid = ceil_div(-offset, stride), endValid = ceil_div(g->width - offset, stride);
        int oy = j0 / g->outWidth, ox = j0 % g->outWidth;
        for (int panel = 0; panel < nc; panel += nr) {
            int width = nc - panel < nr ? nc - panel : nr;
            float *line = out + (size_t)panel * kc + (size_t)k * nr;
            int done = 0;
            while (done < width) {
                // A run of columns within one output row.
                int run = g->outWidth - ox < width - done ? g->outWidth - ox : width - done;
                int iy = oy * g->strideH - g->padTop + ky * g->dilationH;
                float *target = line + done;
                if (iy < 0 || iy >= g->height) {
                    memset(target, 0, (size_t)run * sizeof(float));
                } else {
                    int low = firstValid - ox, high = endValid - ox;
                    if (low < 0) low = 0;
                    if (high > run) high = run;
                    if (high < low) high = low;
                    const float *source = plane + (size_t)iy * g->width;
                    if (low > 0) memset(target, 0, (size_t)low * sizeof(float));
                    if (stride == 1) {
                        memcpy(target + low, source + ox + low + offset, (size_t)(high - low) * sizeof(float));
                    } else {
                        const float *from = source + (ox + low) * stride + offset;
                        for (int t = low; t < high; t++, from += stride) target[t] = *from;
                    }
                    if (high < run) memset(target + high, 0, (size_t)(run - high) * sizeof(float));
                }
                done += run;
                ox += run;
                if (ox == g->outWidth) {
                    ox = 0;
                    oy++;
                }
            }
            if (width < nr) memset(line + width, 0, (size_t)(nr - width) * sizeof(float));
        }
    }
}

static void gemm_driver(
    int M, int N, int K, const float *packedA, const source_t *source, int firstColumn, float *C, long ldc, int accumulate,
    const float *bias, float low, float high);

void mpcc_sgemm_packed(
    int M, int N, int K, const float *packedA, const float *B, long ldb, float *C, long ldc, int accumulate,
    const float *bias, float low, float high) {
    source_t source = {B, ldb, NULL, NULL};
    gemm_driver(M, N, K, packedA, &source, 0, C, ldc, accumulate, bias, low, high);
}

void mpcc_conv2d_packed(
    const mpcc_conv_geometry *geometry, const float *image, int M, const float *packedA, float *C, int columnStart, int columnEnd,
    const float *bias, float low, float high) {
    int K = geometry->channels * geometry->kernelHeight * geometry->kernelWidth;
    long ldc = (long)geometry->outHeight * geometry->outWidth;
    source_t source = {NULL, 0, geometry, image};
    gemm_driver(M, columnEnd - columnStart, K, packedA, &source, columnStart, C + columnStart, ldc, 0, bias, low, high);
}

// C[M x N] (+)= packedA * source columns [firstColumn, firstColumn + N), with the epilogue.
static void gemm_driver(
    int M, int N, int K, const float *packedA, const source_t *source, int firstColumn, float *C, long ldc, int accumulate,
    const float *bias, float low, float high) {
    kernel_t kernel = kernel_generic;
    int nr = 8;
#if defined(__x86_64__)
    switch (current_isa()) {
    case ISA_AVX512: kernel = kernel_avx512; nr = 32; break;
    case ISA_AVX2: kernel = kernel_avx2; nr = 16; break;
    default: break;
    }
#endif
    int hasEpilogue = bias != NULL || low > -__builtin_inff() || high < __builtin_inff();
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                epilogue_t e = {bias, low, high};
                float *cell = C + (size_t)i * ldc + j;
                *cell = finish(accumulate ? *cell : 0.0f, hasEpilogue ? &e : NULL, i);
            }
        return;
    }
    int ncMax = N < NC ? N : NC;
    // One packing buffer per thread, grown as needed and kept (calls are frequent).
    static _Thread_local float *packedB = NULL;
    static _Thread_local size_t capacity = 0;
    size_t needed = (((size_t)(ncMax + nr - 1) / nr * nr * KC * sizeof(float)) + 63) / 64 * 64;
    if (needed > capacity) {
        free(packedB);
        packedB = aligned_alloc(64, needed);
        capacity = packedB ? needed : 0;
        if (!packedB) abort();
    }
    float edge[MR * 32];
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int add = accumulate || pc > 0;
            int last = pc + kc == K;
            if (source->conv)
                pack_b_conv(kc, nc, nr, pc, firstColumn + jc, source->conv, source->image, packedB);
            else
                pack_b(kc, nc, nr, source->matrix + (size_t)pc * source->ldb + jc, source->ldb, packedB);
            for (int ir = 0; ir < M; ir += MR) {
                const float *a = packedA + (size_t)ir * K + (size_t)pc * MR;
                int rows = M - ir < MR ? M - ir : MR;
                epilogue_t e = {bias ? bias + ir : NULL, low, high};
                const epilogue_t *epilogue = last && hasEpilogue ? &e : NULL;
                for (int jr = 0; jr < nc; jr += nr) {
                    const float *b = packedB + (size_t)jr * kc;
                    float *c = C + (size_t)ir * ldc + jc + jr;
                    int columns = nc - jr < nr ? nc - jr : nr;
                    if (rows == MR && columns == nr) {
                        kernel(kc, a, b, c, ldc, add, epilogue);
                        continue;
                    }
#if defined(__x86_64__)
                    if (rows == MR && kernel == kernel_avx512) {
                        kernel_avx512_masked(kc, a, b, c, ldc, add, epilogue, columns);
                        continue;
                    }
#endif
                    // A partial tile: compute it whole into a scratch tile, keep the valid part.
                    kernel(kc, a, b, edge, nr, 0, NULL);
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < columns; j++)
                            c[(size_t)r * ldc + j] = finish(add ? c[(size_t)r * ldc + j] + edge[r * nr + j] : edge[r * nr + j], epilogue, r);
                }
            }
        }
    }
}
