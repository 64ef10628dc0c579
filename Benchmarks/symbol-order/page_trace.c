// page_trace.c: an LD_PRELOAD library that records which pages of an executable's read-only and code segments a
// run touches, at 4 KiB granularity (the kernel's fault-around would map 64 KiB per fault, so /proc/PID/pagemap
// cannot tell touched pages from their neighbours). At load it makes those segments PROT_NONE; the first access
// to each page traps, the handler restores the page's protection and writes "REGION ADDRESS" to $PAGE_TRACE_OUT.
// Used by scripts/symbol-order.sh only (a diagnostic, never linked into Klife).
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct { unsigned long start, end; int prot; } regions[16];
static int regionCount;
static int outputFD = -1;

static void onFault(int signal, siginfo_t *info, void *context) {
    (void)context;
    unsigned long page = (unsigned long)info->si_addr & ~4095UL;
    for (int i = 0; i < regionCount; i++) {
        if (page < regions[i].start || page >= regions[i].end) continue;
        mprotect((void *)page, 4096, regions[i].prot);
        char line[48], digits[20];
        int n = 0, k = 0;
        line[n++] = (char)('a' + i);
        line[n++] = ' ';
        unsigned long v = page;
        do { int d = (int)(v & 15); digits[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10); v >>= 4; } while (v);
        while (k) line[n++] = digits[--k];
        line[n++] = '\n';
        (void)!write(outputFD, line, (size_t)n);   // async-signal-safe
        return;
    }
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(signal, &dfl, 0);   // a real fault: crash as usual when the handler returns
}

__attribute__((constructor)) static void startTracing(void) {
    const char *output = getenv("PAGE_TRACE_OUT");
    const char *image = getenv("PAGE_TRACE_IMAGE");   // the executable's path (as /proc/self/maps shows it)
    if (!output || !image) return;
    outputFD = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (outputFD < 0) return;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    char line[4200];
    while (fgets(line, sizeof line, maps) && regionCount < 16) {
        unsigned long start, end, offset;
        char perms[5], path[4096] = "";
        if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %4095s", &start, &end, perms, &offset, path) < 4) continue;
        if (strcmp(path, image) != 0 || perms[1] == 'w') continue;
        regions[regionCount].start = start;
        regions[regionCount].end = end;
        regions[regionCount].prot = PROT_READ | (perms[2] == 'x' ? PROT_EXEC : 0);
        dprintf(outputFD, "region %c %lx %lx %lx %s\n", 'a' + regionCount, start, end, offset, perms);
        regionCount++;
    }
    fclose(maps);
    struct sigaction action = {0};
    action.sa_sigaction = onFault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &action, 0);
    for (int i = 0; i < regionCount; i++)
        mprotect((void *)regions[i].start, regions[i].end - regions[i].start, PROT_NONE);
}
