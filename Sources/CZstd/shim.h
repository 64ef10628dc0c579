/* ZSTD_createCCtx_advanced and ZSTD_customMem are in zstd's "experimental" section (stable since 1.3;
   exported by the shared library). */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Allocations of 1 MiB or more (a compression context's match-finder tables and buffers, ~1.2 MiB at
   level 3 for batches above 256 KB) go to 2 MiB-aligned memory marked for transparent huge pages: the match
   finder reads its hash tables at random, and with 4 KiB pages those reads miss the TLB (level 3 on 870 KB
   batches: ~4% less CPU). Smaller ones use malloc. Without THP (or with THP off) madvise changes nothing. */
static inline void *klife_zstd_alloc(void *opaque, size_t size) {
    (void)opaque;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= ((size_t)1 << 20)) {
        const size_t huge = (size_t)2 << 20;
        const size_t rounded = (size + huge - 1) & ~(huge - 1);
        void *memory = NULL;
        if (posix_memalign(&memory, huge, rounded) != 0) return NULL;
        (void)madvise(memory, rounded, MADV_HUGEPAGE);
        return memory;
    }
#endif
    return malloc(size);
}

static inline void klife_zstd_free(void *opaque, void *memory) {
    (void)opaque;
    free(memory);
}

/* A compression context whose large allocations use huge pages (see klife_zstd_alloc). Same output as
   ZSTD_createCCtx's. */
static inline ZSTD_CCtx *klife_zstd_create_cctx(void) {
    ZSTD_customMem memory = { klife_zstd_alloc, klife_zstd_free, NULL };
    return ZSTD_createCCtx_advanced(memory);
}
