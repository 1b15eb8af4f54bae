#include "CRingKernels.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

// The GEMM and convolution kernels, once per ring from one definition (ring_words.h):
// Z_2^64 in uint64 words, and Z_2^32 in uint32 words, which multiply natively (vpmulld,
// also on AVX2) with twice the lanes per register. The 32-bit block is 64 columns (four
// AVX-512 registers a row): measured faster than 32 with AVX-512 and as fast with AVX2.
#define ROWS 4

#define WORD uint64_t
#define SUFFIX
#define COLUMNS 16
#define EDGE 8
#include "ring_words.h"

#define WORD uint32_t
#define SUFFIX 32
#define COLUMNS 64
#define EDGE 16
#include "ring_words.h"

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
