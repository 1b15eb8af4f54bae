#ifndef MPCC_CKERNELS_H
#define MPCC_CKERNELS_H

#include <stddef.h>

// Single-precision matrix multiply for the float engine: packed weights times a
// row-major right-hand side, with AVX-512 and AVX2 micro-kernels chosen at run time
// (and a portable fallback). Calls share no state, so callers may run several at once
// on disjoint column ranges of C.

// Rows of A per packed panel; the packed size of an M x K matrix is
// mpcc_packed_size(M, K) floats.
size_t mpcc_packed_size(int M, int K);

// Packs row-major A (M x K, row stride lda) into panels for mpcc_sgemm_packed.
void mpcc_pack_a(int M, int K, const float *A, long lda, float *packed);

// C[M x N] = clamp(packedA[M x K] * B[K x N] (+ C when accumulate != 0) + bias[row], low,
// high); B and C row-major with row strides ldb and ldc; bias may be NULL (no bias) and
// low/high infinite (no clamp). The epilogue is applied as the last K block is stored.
void mpcc_sgemm_packed(
    int M, int N, int K, const float *packedA, const float *B, long ldb, float *C, long ldc, int accumulate,
    const float *bias, float low, float high);

// Geometry of a 2-D convolution over one sample's group of input channels.
typedef struct {
    int channels, height, width;        // input planes
    int kernelHeight, kernelWidth;
    int strideH, strideW, padTop, padLeft, dilationH, dilationW;
    int outHeight, outWidth;
} mpcc_conv_geometry;

// The convolution of `image` (channels x height x width) with packed weights (M rows of
// channels * kernelHeight * kernelWidth), as a GEMM whose right-hand side is the im2col
// matrix read straight from the image while packing (never stored). Writes output
// columns [columnStart, columnEnd) of the M x (outHeight * outWidth) result with the
// same epilogue as mpcc_sgemm_packed.
void mpcc_conv2d_packed(
    const mpcc_conv_geometry *geometry, const float *image, int M, const float *packedA, float *C, int columnStart, int columnEnd,
    const float *bias, float low, float high);

// The instruction set the kernels use on this machine: "avx512", "avx2" or "generic".
const char *mpcc_gemm_isa(void);

// Selects the kernels by name (tests run every variant the machine supports); returns 0
// when this machine cannot run them. Every variant computes the same products.
int mpcc_set_gemm_isa(const char *name);

#endif
