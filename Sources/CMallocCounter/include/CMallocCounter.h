#ifndef CMALLOCCOUNTER_H
#define CMALLOCCOUNTER_H

#include <stdint.h>

/// Heap allocations made by the calling thread since it started: every call of malloc, calloc,
/// realloc, posix_memalign, aligned_alloc, memalign, valloc and pvalloc that returned memory.
/// Frees are not counted.
uint64_t amqp_malloc_counter_allocations(void);

#endif
