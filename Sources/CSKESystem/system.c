#define _GNU_SOURCE
#include "CSKESystem.h"
#include <errno.h>
#if defined(__linux__)
#include <unistd.h>
#include <sys/syscall.h>
#include <sched.h>
#endif

int ske_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(subleaf));
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
    return 1;
#else
    out[0] = out[1] = out[2] = out[3] = 0;
    return 0;
#endif
}

uint64_t ske_xgetbv(uint32_t index) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
    return ((uint64_t)hi << 32) | lo;
#else
    (void)index;
    return 0;
#endif
}

int ske_mbind_node(void *addr, size_t length, int node) {
#if defined(__linux__) && defined(SYS_mbind)
    if (node < 0 || node >= 1024) return EINVAL;
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
    const int MPOL_BIND_ = 2;
    long r = syscall(SYS_mbind, addr, length, MPOL_BIND_, mask, (unsigned long)1024 + 1, 0UL);
    return r == 0 ? 0 : errno;
#else
    (void)addr; (void)length; (void)node;
    return ENOSYS;
#endif
}

int ske_usable_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}
