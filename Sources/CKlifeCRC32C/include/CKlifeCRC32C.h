#pragma once
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (pass 0 to start a new checksum).
/// Uses the CPU's CRC32C instructions (SSE4.2 on x86-64, the ARMv8 CRC extension on arm64) when the
/// running CPU has them, otherwise a table-driven implementation.
uint32_t klife_crc32c(uint32_t crc, const uint8_t *_Nullable data, size_t length);

/// The portable table-driven implementation (same results as `klife_crc32c`).
uint32_t klife_crc32c_sw(uint32_t crc, const uint8_t *_Nullable data, size_t length);

/// 1 when `klife_crc32c` uses CPU instructions on this machine, 0 otherwise.
int klife_crc32c_hw_available(void);

/// Asks the CPU to start loading the cache line holding `address` (a hint: never faults, even for an
/// invalid address). The producer's encoder issues it a few records ahead of the one it copies.
static inline void klife_prefetch(const void *_Nullable address) { __builtin_prefetch(address, 0, 3); }

/// Copies `length` bytes with non-temporal stores where the CPU has them (the destination is not read into
/// the cache first); a plain copy elsewhere.
void klife_copy_nontemporal(void *_Nonnull dst, const void *_Nonnull src, size_t length);
