// Test-only allocation counter (Swift cannot safely define `malloc`: its globals are lazily initialised and
// could recurse into the allocator). Defining malloc & co. in the test executable interposes them for the whole
// process; calls go on to glibc's __libc_* entry points. Only threads that called
// ske_count_allocations_begin() are counted (a thread-local flag), so tests running in parallel do not interfere.
#include <errno.h>
#include <stddef.h>
#include "allocation_counter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int counting;
static long counted;

static inline void note(void) {
    if (counting) __atomic_fetch_add(&counted, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { note(); return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void ske_count_allocations_begin(void) { counting = 1; }
void ske_count_allocations_end(void) { counting = 0; }
long ske_counted_allocations(void) { return __atomic_load_n(&counted, __ATOMIC_RELAXED); }
