#ifndef MPCC_CRINGKERNELS_H
#define MPCC_CRINGKERNELS_H

#include <stdint.h>

// Matrix products over the rings Z_2^64 (wrapping uint64 arithmetic) and Z_2^32 (the
// functions ending in 32: uint32 words) for the runtime and the emulator. The same code
// runs on plaintext fixed-point values and on shares. A and the convolution's image and
// weights are uint64 words in both: the 32-bit kernels read their low halves.

// Geometry of a 2-D convolution over one sample's group of input channels.
typedef struct {
    int channels, height, width;
    int kernelHeight, kernelWidth;
    int strideH, strideW, padTop, padLeft, dilationH, dilationW;
    int outHeight, outWidth;
} mpc_ring_conv_geometry;

// For each word type WORD and name suffix SUFFIX:
// mpc_ring_gemm: C[M x N] (+)= A[M x K] * B[K x N]; row-major with row strides lda,
// ldb, ldc.
// mpc_ring_gemm_parallel: the same on two threads (row halves) when the machine has two
// cores and the product is large; otherwise on the calling thread.
// mpc_ring_conv2d: out[M x (outHeight * outWidth)] = W[M x (channels * kh * kw)] *
// im2col(image); `scratch` holds channels * kh * kw * outHeight * outWidth words.
// mpc_ring_depthwise: a depthwise convolution of `channels` planes (g->channels is 1),
// `multiplier` outputs per plane, weights [channels * multiplier][kh][kw];
// mpc_ring_depthwise_parallel: the same on two threads (channel halves) when large.
// mpc_bench_peak: `iterations` x mpc_bench_peak_lanes() register-resident multiply-adds
// (returns a checksum); mpc_bench_plain_gemm: C = A * B by a plain triple loop (both for
// `mpcr bench --kernels`).
#define MPC_RING_KERNELS(WORD, SUFFIX)                                                                                 \
    void mpc_ring_gemm##SUFFIX(int M, int N, int K, const uint64_t *A, long lda, const WORD *B, long ldb, WORD *C,     \
                               long ldc, int accumulate);                                                              \
    void mpc_ring_gemm_parallel##SUFFIX(int M, int N, int K, const uint64_t *A, long lda, const WORD *B, long ldb,     \
                                        WORD *C, long ldc, int accumulate);                                            \
    void mpc_ring_conv2d##SUFFIX(const mpc_ring_conv_geometry *g, const uint64_t *image, int M, const uint64_t *W,     \
                                 WORD *out, WORD *scratch);                                                    \
    void mpc_ring_depthwise##SUFFIX(const mpc_ring_conv_geometry *g, const uint64_t *image, int channels,          \
                                    int multiplier, const uint64_t *W, WORD *out);                                 \
    void mpc_ring_depthwise_parallel##SUFFIX(const mpc_ring_conv_geometry *g, const uint64_t *image, int channels, \
                                             int multiplier, const uint64_t *W, WORD *out);                        \
    uint64_t mpc_bench_peak##SUFFIX(long iterations);                                                           \
    long mpc_bench_peak_lanes##SUFFIX(void);                                                                    \
    void mpc_bench_plain_gemm##SUFFIX(int M, int N, int K, const uint64_t *A, const WORD *B, WORD *C);

MPC_RING_KERNELS(uint64_t, )
MPC_RING_KERNELS(uint32_t, 32)
#undef MPC_RING_KERNELS

// Transposes a 64 x 64 bit matrix: bit j of out[i] is bit i of in[j] (bit 0 is the least
// significant). Turns 64 values into their 64 bit planes.
void mpc_transpose_bits64(const uint64_t *in, uint64_t *out);

// AES-256-CTR keystream for the PRGs (aes_ctr.c), when the CPU has AES-NI
// (mpc_aes_available): mpc_aes256_expand turns a 32-byte key into the 240-byte schedule;
// mpc_aes256_ctr writes `blocks` 16-byte blocks for the big-endian counter (stream,
// block), (stream, block + 1), ... into out.
int mpc_aes_available(void);
void mpc_aes256_expand(const uint8_t *key, uint8_t *schedule);
void mpc_aes256_ctr(const uint8_t *schedule, uint64_t stream, uint64_t block, uint64_t *out, long blocks);
// mpc_aes128_expand_seeds: for each of `count` 16-byte seeds, `lengths[i]` words of the
// AES-128-CTR keystream under that seed from counter 0, concatenated into out.
void mpc_aes128_expand_seeds(const uint64_t *seeds, long count, const int32_t *lengths, uint64_t *out);

#endif
