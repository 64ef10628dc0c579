// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) with a run-time choice between CPU
// instructions and a table. The hardware paths are compiled for their ISA with function attributes,
// so the target needs no compiler flags and CPUs without the extension never execute them.
#include "CKlifeCRC32C.h"
#include <pthread.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define KLIFE_CRC32C_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#define KLIFE_CRC32C_ARM64 1
#endif

#define KLIFE_POLY 0x82F63B78u

// Byte-at-a-time table for the portable path, plus "shift" tables that advance a CRC register over
// a run of zero bytes (used to merge the three interleaved hardware streams).
static uint32_t klife_table[256];

#if KLIFE_CRC32C_X86
#define KLIFE_LONG 8192
#define KLIFE_SHORT 256
static uint32_t klife_shift_long[4][256];
static uint32_t klife_shift_short[4][256];
#endif

static pthread_once_t klife_once = PTHREAD_ONCE_INIT;

// Runs the raw register (no pre/post inversion) over `count` zero bytes.
static uint32_t klife_raw_zeros(uint32_t reg, size_t count) {
    for (size_t i = 0; i < count; i++) reg = klife_table[reg & 0xFF] ^ (reg >> 8);
    return reg;
}

#if KLIFE_CRC32C_X86
// Advancing a register over zeros is linear over GF(2): build, for each byte lane of the register,
// the XOR of the advanced basis vectors.
static void klife_build_shift(uint32_t shift[4][256], size_t count) {
    uint32_t column[32];
    for (int bit = 0; bit < 32; bit++) column[bit] = klife_raw_zeros(1u << bit, count);
    for (int lane = 0; lane < 4; lane++) {
        for (uint32_t value = 0; value < 256; value++) {
            uint32_t sum = 0;
            for (int bit = 0; bit < 8; bit++) {
                if (value & (1u << bit)) sum ^= column[lane * 8 + bit];
            }
            shift[lane][value] = sum;
        }
    }
}
#endif

static void klife_init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ KLIFE_POLY : (c >> 1);
        klife_table[i] = c;
    }
#if KLIFE_CRC32C_X86
    klife_build_shift(klife_shift_long, KLIFE_LONG);
    klife_build_shift(klife_shift_short, KLIFE_SHORT);
#endif
}

uint32_t klife_crc32c_sw(uint32_t crc, const uint8_t *data, size_t length) {
    pthread_once(&klife_once, klife_init_tables);
    uint32_t c = ~crc;
    for (size_t i = 0; i < length; i++) c = klife_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

#if KLIFE_CRC32C_X86
static inline uint64_t klife_shift(const uint32_t shift[4][256], uint64_t reg) {
    uint32_t r = (uint32_t)reg;
    return shift[0][r & 0xFF] ^ shift[1][(r >> 8) & 0xFF] ^ shift[2][(r >> 16) & 0xFF] ^ shift[3][r >> 24];
}

static inline uint64_t klife_load64(const uint8_t *p) {
    uint64_t w;
    __builtin_memcpy(&w, p, 8);
    return w;
}

// The crc32 instruction has a 3-cycle latency and 1-cycle throughput: three independent streams
// keep the unit busy; their registers are merged with the shift tables.
__attribute__((target("sse4.2")))
static uint32_t klife_crc32c_hw(uint32_t crc, const uint8_t *data, size_t length) {
    uint64_t c0 = (uint32_t)~crc;
    while (length >= 3 * KLIFE_LONG) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = data + KLIFE_LONG;
        do {
            c0 = _mm_crc32_u64(c0, klife_load64(data));
            c1 = _mm_crc32_u64(c1, klife_load64(data + KLIFE_LONG));
            c2 = _mm_crc32_u64(c2, klife_load64(data + 2 * KLIFE_LONG));
            data += 8;
        } while (data < end);
        c0 = klife_shift(klife_shift_long, c0) ^ c1;
        c0 = klife_shift(klife_shift_long, c0) ^ c2;
        data += 2 * KLIFE_LONG;
        length -= 3 * KLIFE_LONG;
    }
    while (length >= 3 * KLIFE_SHORT) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = data + KLIFE_SHORT;
        do {
            c0 = _mm_crc32_u64(c0, klife_load64(data));
            c1 = _mm_crc32_u64(c1, klife_load64(data + KLIFE_SHORT));
            c2 = _mm_crc32_u64(c2, klife_load64(data + 2 * KLIFE_SHORT));
            data += 8;
        } while (data < end);
        c0 = klife_shift(klife_shift_short, c0) ^ c1;
        c0 = klife_shift(klife_shift_short, c0) ^ c2;
        data += 2 * KLIFE_SHORT;
        length -= 3 * KLIFE_SHORT;
    }
    for (; length >= 8; data += 8, length -= 8) c0 = _mm_crc32_u64(c0, klife_load64(data));
    uint32_t c = (uint32_t)c0;
    for (; length > 0; data++, length--) c = _mm_crc32_u8(c, *data);
    return ~c;
}

// Long inputs with VPCLMULQDQ (AVX-512): four 512-bit accumulators fold 256 bytes per step, each 128-bit
// lane multiplied forward by 2048 bits (x^(2048+63) and x^(2047) mod P, bit-reflected in the upper half
// of a 64-bit lane) and XORed with the next 256 bytes. The state is congruent to the message so far, so
// the CRC of the 256 state bytes (register 0) is the message's raw register; the tail goes on with the
// crc32 instruction. About 3x the crc32 instruction's 8 bytes per cycle.
#define KLIFE_FOLD_MIN 1024

__attribute__((target("avx512f,avx512vl,vpclmulqdq,sse4.2")))
static uint32_t klife_crc32c_fold(uint32_t crc, const uint8_t *data, size_t length) {
    const __m512i k = _mm512_set_epi64(
        0x1426a81500000000LL, (long long)0xe9a5d8be00000000ULL, 0x1426a81500000000LL, (long long)0xe9a5d8be00000000ULL,
        0x1426a81500000000LL, (long long)0xe9a5d8be00000000ULL, 0x1426a81500000000LL, (long long)0xe9a5d8be00000000ULL);
    __m512i x0 = _mm512_loadu_si512((const void *)data);
    __m512i x1 = _mm512_loadu_si512((const void *)(data + 64));
    __m512i x2 = _mm512_loadu_si512((const void *)(data + 128));
    __m512i x3 = _mm512_loadu_si512((const void *)(data + 192));
    // The initial register goes into the first 32 message bits.
    x0 = _mm512_xor_si512(x0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)~crc)));
    size_t blocks = length / 256;
    const uint8_t *p = data + 256;
    for (size_t i = 1; i < blocks; i++, p += 256) {
#define KLIFE_FOLD(x, offset) \
        x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11), \
                                      _mm512_loadu_si512((const void *)(p + (offset))), 0x96)
        KLIFE_FOLD(x0, 0);
        KLIFE_FOLD(x1, 64);
        KLIFE_FOLD(x2, 128);
        KLIFE_FOLD(x3, 192);
#undef KLIFE_FOLD
    }
    uint64_t state[32];
    _mm512_storeu_si512((void *)state, x0);
    _mm512_storeu_si512((void *)(state + 8), x1);
    _mm512_storeu_si512((void *)(state + 16), x2);
    _mm512_storeu_si512((void *)(state + 24), x3);
    uint64_t reg = 0;
    for (int i = 0; i < 32; i++) reg = _mm_crc32_u64(reg, state[i]);
    return klife_crc32c_hw(~(uint32_t)reg, p, length - blocks * 256);
}

static int klife_fold_state = 0; // 0 no, 1 yes; set by klife_detect

static int klife_detect(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.2")) return 0;
    int fold = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("vpclmulqdq");
    __atomic_store_n(&klife_fold_state, fold, __ATOMIC_RELAXED);
    return 1;
}
#elif KLIFE_CRC32C_ARM64
__attribute__((target("crc")))
static uint32_t klife_crc32c_hw(uint32_t crc, const uint8_t *data, size_t length) {
    uint32_t c = ~crc;
    for (; length >= 8; data += 8, length -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, data, 8);
        c = __crc32cd(c, w);
    }
    for (; length > 0; data++, length--) c = __crc32cb(c, *data);
    return ~c;
}

static int klife_detect(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? 1 : 0; }
#endif

static int klife_hw_state = -1; // -1 unknown, 0 no, 1 yes

int klife_crc32c_hw_available(void) {
#if KLIFE_CRC32C_X86 || KLIFE_CRC32C_ARM64
    int s = __atomic_load_n(&klife_hw_state, __ATOMIC_ACQUIRE);
    if (s < 0) {
        pthread_once(&klife_once, klife_init_tables);
        s = klife_detect();
        __atomic_store_n(&klife_hw_state, s, __ATOMIC_RELEASE);
    }
    return s;
#else
    return 0;
#endif
}

uint32_t klife_crc32c(uint32_t crc, const uint8_t *data, size_t length) {
#if KLIFE_CRC32C_X86 || KLIFE_CRC32C_ARM64
    if (klife_crc32c_hw_available()) {
#if KLIFE_CRC32C_X86
        if (length >= KLIFE_FOLD_MIN && __atomic_load_n(&klife_fold_state, __ATOMIC_RELAXED)) return klife_crc32c_fold(crc, data, length);
#endif
        return klife_crc32c_hw(crc, data, length);
    }
#endif
    return klife_crc32c_sw(crc, data, length);
}

#if KLIFE_CRC32C_X86
// Copies with non-temporal stores: the destination lines go to memory without being read first.
void klife_copy_nontemporal(void *dst, const void *src, size_t length) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    size_t head = (size_t)(-(uintptr_t)d & 15);
    if (head > length) head = length;
    __builtin_memcpy(d, s, head);
    d += head; s += head; length -= head;
    for (; length >= 64; d += 64, s += 64, length -= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_stream_si128((__m128i *)d, a);
        _mm_stream_si128((__m128i *)(d + 16), b);
        _mm_stream_si128((__m128i *)(d + 32), c);
        _mm_stream_si128((__m128i *)(d + 48), e);
    }
    _mm_sfence();
    __builtin_memcpy(d, s, length);
}
#else
void klife_copy_nontemporal(void *dst, const void *src, size_t length) { __builtin_memcpy(dst, src, length); }
#endif
