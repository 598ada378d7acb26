// Test-only: counts malloc/calloc/realloc/posix_memalign/aligned_alloc calls made by threads that opted in.
#pragma once
/// Start / stop counting the calling thread's allocations.
void ske_count_allocations_begin(void);
void ske_count_allocations_end(void);
/// Allocations counted so far (all opted-in threads).
long ske_counted_allocations(void);
