#include "CRingKernels.h"

#include <immintrin.h>

// AES-256 in counter mode with AES-NI, for the parties' PRGs: the keystream is written
// straight into the caller's words (no zero plaintext, no copy). The counter block is
// the big-endian 128-bit integer (stream, block), incremented per 16-byte block, as
// swift-crypto's AES._CTR does with that nonce (tests compare the two).

int mpc_aes_available(void) { return __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1"); }

// One step of the AES-256 key expansion: the previous key of the same parity, xor-folded,
// xor one word of the keygen assist (word 3 for even round keys, word 2 for odd ones).
__attribute__((target("aes,sse4.1"))) static __m128i expand_step(__m128i key, __m128i assist) {
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

// FIPS-197 key expansion: 15 round keys of 16 bytes.
__attribute__((target("aes,sse4.1"))) void mpc_aes256_expand(const uint8_t *key, uint8_t *schedule) {
    __m128i k[15];
    k[0] = _mm_loadu_si128((const __m128i *)key);
    k[1] = _mm_loadu_si128((const __m128i *)(key + 16));
#define EXPAND(i, rcon)                                                                                                \
    k[i] = expand_step(k[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k[i - 1], rcon), 0xff));                  \
    if (i + 1 < 15) k[i + 1] = expand_step(k[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k[i], 0), 0xaa));
    EXPAND(2, 0x01) EXPAND(4, 0x02) EXPAND(6, 0x04) EXPAND(8, 0x08) EXPAND(10, 0x10) EXPAND(12, 0x20) EXPAND(14, 0x40)
#undef EXPAND
    for (int i = 0; i < 15; i++) _mm_storeu_si128((__m128i *)(schedule + 16 * i), k[i]);
}

__attribute__((target("aes,sse4.1"))) static inline __m128i counter_block(uint64_t stream, uint64_t block) {
    return _mm_set_epi64x((long long)__builtin_bswap64(block), (long long)__builtin_bswap64(stream));
}

// `blocks` keystream blocks from counter (stream, block) into out (2 words a block).
__attribute__((target("aes,sse4.1"))) void mpc_aes256_ctr(const uint8_t *schedule, uint64_t stream, uint64_t block,
                                                          uint64_t *out, long blocks) {
    __m128i k[15];
    for (int i = 0; i < 15; i++) k[i] = _mm_loadu_si128((const __m128i *)(schedule + 16 * i));
    long done = 0;
    for (; done + 8 <= blocks; done += 8) {
        __m128i x[8];
        for (int j = 0; j < 8; j++) {
            uint64_t low = block + (uint64_t)(done + j);
            uint64_t high = stream + (low < block);  // the 128-bit carry
            x[j] = _mm_xor_si128(counter_block(high, low), k[0]);
        }
        for (int r = 1; r < 14; r++)
            for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], k[r]);
        for (int j = 0; j < 8; j++) _mm_storeu_si128((__m128i *)(out + 2 * (done + j)), _mm_aesenclast_si128(x[j], k[14]));
    }
    for (; done < blocks; done++) {
        uint64_t low = block + (uint64_t)done;
        __m128i x = _mm_xor_si128(counter_block(stream + (low < block), low), k[0]);
        for (int r = 1; r < 14; r++) x = _mm_aesenc_si128(x, k[r]);
        _mm_storeu_si128((__m128i *)(out + 2 * done), _mm_aesenclast_si128(x, k[14]));
    }
}

// AES-128 key expansion (FIPS-197): 11 round keys, each the previous one xor-folded
// xor the keygen assist's word 3.
__attribute__((target("aes,sse4.1"))) static void expand128(__m128i key, __m128i *k) {
    k[0] = key;
#define STEP(i, rcon) k[i] = expand_step(k[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k[i - 1], rcon), 0xff));
    STEP(1, 0x01) STEP(2, 0x02) STEP(3, 0x04) STEP(4, 0x08) STEP(5, 0x10)
    STEP(6, 0x20) STEP(7, 0x40) STEP(8, 0x80) STEP(9, 0x1b) STEP(10, 0x36)
#undef STEP
}

// Seed expansion for the selection's oblivious transfers: for each of `count` 128-bit
// seeds (two words each), the AES-128-CTR keystream under that seed from counter block
// 0, `lengths[i]` words of it, one after another in out.
__attribute__((target("aes,sse4.1"))) void mpc_aes128_expand_seeds(const uint64_t *seeds, long count, const int32_t *lengths,
                                                                   uint64_t *out) {
    __m128i k[11];
    for (long s = 0; s < count; s++) {
        expand128(_mm_loadu_si128((const __m128i *)(seeds + 2 * s)), k);
        long words = lengths[s];
        for (long block = 0; 2 * block < words; block++) {
            __m128i x = _mm_xor_si128(counter_block(0, (uint64_t)block), k[0]);
            for (int r = 1; r < 10; r++) x = _mm_aesenc_si128(x, k[r]);
            x = _mm_aesenclast_si128(x, k[10]);
            uint64_t pair[2];
            _mm_storeu_si128((__m128i *)pair, x);
            out[2 * block] = pair[0];
            if (2 * block + 1 < words) out[2 * block + 1] = pair[1];
        }
        out += words;
    }
}

