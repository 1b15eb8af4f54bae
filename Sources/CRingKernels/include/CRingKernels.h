#ifndef MPCC_CRINGKERNELS_H
#define MPCC_CRINGKERNELS_H

#include <stdint.h>

// Matrix products over the ring Z_2^64 (wrapping uint64 arithmetic) for the runtime and
// the emulator. The same code runs on plaintext fixed-point values and on shares.

// C[M x N] (+)= A[M x K] * B[K x N]; row-major with row strides lda, ldb, ldc.
void mpc_ring_gemm(int M, int N, int K, const uint64_t *A, long lda, const uint64_t *B, long ldb, uint64_t *C, long ldc,
                   int accumulate);

// The same on two threads (row halves) when the machine has two cores and the product
// is large; otherwise on the calling thread.
void mpc_ring_gemm_parallel(int M, int N, int K, const uint64_t *A, long lda, const uint64_t *B, long ldb, uint64_t *C,
                            long ldc, int accumulate);

// Geometry of a 2-D convolution over one sample's group of input channels.
typedef struct {
    int channels, height, width;
    int kernelHeight, kernelWidth;
    int strideH, strideW, padTop, padLeft, dilationH, dilationW;
    int outHeight, outWidth;
} mpc_ring_conv_geometry;

// out[M x (outHeight * outWidth)] = W[M x (channels * kh * kw)] * im2col(image);
// `scratch` holds channels * kh * kw * outHeight * outWidth values.
void mpc_ring_conv2d(const mpc_ring_conv_geometry *g, const uint64_t *image, int M, const uint64_t *W, uint64_t *out,
                     uint64_t *scratch);

// Transposes a 64 x 64 bit matrix: bit j of out[i] is bit i of in[j] (bit 0 is the least
// significant). Turns 64 values into their 64 bit planes.
void mpc_transpose_bits64(const uint64_t *in, uint64_t *out);

#endif
