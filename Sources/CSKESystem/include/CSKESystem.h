// CSKESystem — the thin C shim for what Swift cannot reach directly:
//  * the `cpuid` and `xgetbv` instructions (no Swift spelling for inline assembly),
//  * `syscall(2)` for mbind/get_mempolicy (variadic, so not importable into Swift),
//  * the spin-wait hint (`pause`: no Swift spelling either).
// Nothing here allocates, logs or holds state.
#ifndef CSKESYSTEM_H
#define CSKESYSTEM_H
#include <stdint.h>
#include <stddef.h>

/// A spin-wait hint: x86 `pause` (yield on arm64). A spinning thread without it keeps issuing loads and competes
/// with its SMT sibling — the thread doing the work — for the core's ports.
static inline void ske_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Executes cpuid(leaf, subleaf); writes eax, ebx, ecx, edx to out[0..3]. Returns 0 when the
/// instruction does not exist on this architecture (non-x86 hosts), 1 otherwise.
int ske_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/// xgetbv(index): the OS-enabled extended state mask (XCR0 for index 0). 0 on non-x86 hosts or when
/// OSXSAVE is not set (the caller must check cpuid.1:ecx bit 27 first).
uint64_t ske_xgetbv(uint32_t index);

/// mbind(2) with MPOL_BIND to a single node. Returns 0 on success, else errno (ENOSYS where missing).
int ske_mbind_node(void *addr, size_t length, int node);

/// Number of CPUs in this process's affinity mask (sched_getaffinity needs _GNU_SOURCE, which Swift's
/// Glibc import does not define). 0 when unknown.
int ske_usable_cpus(void);

#endif
