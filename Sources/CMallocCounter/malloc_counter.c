// A malloc interposer for allocation counts that are measured, not estimated.
//
// Linked into an executable, these definitions take the place of the C library's allocation
// functions for the whole process (the dynamic linker resolves `malloc` to the executable's
// definition first, for the Swift runtime as for everything else). Each counts the calling
// thread's allocations and forwards to glibc's own implementation (`__libc_malloc` and its
// siblings), so the heap, `malloc_usable_size` and `free` behave exactly as without it.
//
// Only for benchmark executables: never link this target into a library or a test.
#include "CMallocCounter.h"

#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

// Thread-local so that other threads (a runtime's helpers, an event loop) do not disturb the
// count of the thread being measured. Initial-exec TLS in the executable needs no allocation.
static __thread uint64_t allocations;

uint64_t amqp_malloc_counter_allocations(void) { return allocations; }

static inline void *counted(void *p) {
    if (p) allocations++;
    return p;
}

void *malloc(size_t size) { return counted(__libc_malloc(size)); }
void *calloc(size_t count, size_t size) { return counted(__libc_calloc(count, size)); }
void *realloc(void *p, size_t size) { return counted(__libc_realloc(p, size)); }
void *memalign(size_t alignment, size_t size) { return counted(__libc_memalign(alignment, size)); }
void *aligned_alloc(size_t alignment, size_t size) { return counted(__libc_memalign(alignment, size)); }
void *valloc(size_t size) { return counted(__libc_valloc(size)); }
void *pvalloc(size_t size) { return counted(__libc_pvalloc(size)); }
void free(void *p) { __libc_free(p); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    allocations++;
    *out = p;
    return 0;
}
