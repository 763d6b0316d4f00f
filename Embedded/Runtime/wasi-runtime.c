// The platform layer of an Embedded Swift program on wasm32-unknown-none-wasm under WASI: see
// wasi-runtime.h. Compiled with clang -ffreestanding -nostdlib; nothing here calls a libc.
#include "wasi-runtime.h"

// MARK: - WASI (wasi_snapshot_preview1)

typedef struct {
  const uint8_t *base;
  size_t length;
} wasi_ciovec;

typedef struct {
  uint8_t *base;
  size_t length;
} wasi_iovec;

__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
uint16_t wasi_fd_write(int fd, const wasi_ciovec *iovs, size_t iovs_len, size_t *written);

__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_read")))
uint16_t wasi_fd_read(int fd, const wasi_iovec *iovs, size_t iovs_len, size_t *read);

__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_exit")))
_Noreturn void wasi_proc_exit(int status);

long amqp_read_stdin(uint8_t *buffer, size_t capacity) {
  wasi_iovec iov = {buffer, capacity};
  size_t read = 0;
  if (wasi_fd_read(0, &iov, 1, &read) != 0) return -1;
  return (long)read;
}

int amqp_write_stdout(const uint8_t *bytes, size_t count) {
  while (count > 0) {
    wasi_ciovec iov = {bytes, count};
    size_t written = 0;
    if (wasi_fd_write(1, &iov, 1, &written) != 0 || written == 0) return -1;
    bytes += written;
    count -= written;
  }
  return 0;
}

_Noreturn void amqp_exit(int status) { wasi_proc_exit(status); }

// print() in Embedded Swift writes one byte at a time through putchar; a line is buffered and
// written at its end so a run does not make one WASI call per character.
static uint8_t line[256];
static size_t line_length;

int putchar(int c) {
  line[line_length++] = (uint8_t)c;
  if (c == '\n' || line_length == sizeof line) {
    amqp_write_stdout(line, line_length);
    line_length = 0;
  }
  return c;
}

// MARK: - Memory functions the compiler emits calls to

void *memcpy(void *restrict destination, const void *restrict source, size_t count) {
  uint8_t *d = destination;
  const uint8_t *s = source;
  while (count--) *d++ = *s++;
  return destination;
}

void *memmove(void *destination, const void *source, size_t count) {
  uint8_t *d = destination;
  const uint8_t *s = source;
  if (d < s) {
    while (count--) *d++ = *s++;
  } else {
    d += count;
    s += count;
    while (count--) *--d = *--s;
  }
  return destination;
}

void *memset(void *destination, int value, size_t count) {
  uint8_t *d = destination;
  while (count--) *d++ = (uint8_t)value;
  return destination;
}

int memcmp(const void *a, const void *b, size_t count) {
  const uint8_t *x = a, *y = b;
  for (; count; count--, x++, y++) {
    if (*x != *y) return *x < *y ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

// MARK: - Heap

// Blocks come in power-of-two size classes from 16 bytes up; a freed block goes on its class's
// free list and the next allocation of that class takes it back, so a program that allocates and
// frees in a loop (every decode and encode does) runs in constant memory. Fresh blocks are cut
// from memory past the data and stack, grown with memory.grow. Each block starts with a 16-byte
// header (its class, and the offset from the block's start to the pointer handed out, which
// posix_memalign may move forward), so every pointer is 16-byte aligned as malloc's must be.

#define HEADER 16u
#define CLASSES 32

typedef struct free_block {
  struct free_block *next;
} free_block;

typedef struct {
  uint32_t size_class;
  uint32_t offset;
} block_header;

static free_block *free_lists[CLASSES];
extern unsigned char __heap_base;
static uintptr_t heap_next;
static uintptr_t heap_end;

static int class_for(size_t bytes) {
  size_t size = 16;
  int size_class = 0;
  while (size < bytes) {
    size <<= 1;
    size_class++;
    if (size_class == CLASSES) return -1;
  }
  return size_class;
}

static void *take_fresh(size_t bytes) {
  if (heap_next == 0) {
    heap_next = ((uintptr_t)&__heap_base + 15) & ~(uintptr_t)15;
    heap_end = __builtin_wasm_memory_size(0) * 65536;
  }
  if (bytes > SIZE_MAX - heap_next) return NULL;
  while (heap_next + bytes > heap_end) {
    size_t pages = (heap_next + bytes - heap_end + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return NULL;
    heap_end += pages * 65536;
  }
  void *block = (void *)heap_next;
  heap_next += bytes;
  return block;
}

/// A block of at least `bytes` past a 16-byte header, aligned to `alignment` (a power of two).
static void *allocate(size_t bytes, size_t alignment) {
  size_t padding = alignment > HEADER ? alignment - HEADER : 0;
  if (bytes > SIZE_MAX - HEADER - padding) return NULL;
  int size_class = class_for(bytes + HEADER + padding);
  if (size_class < 0) return NULL;
  uint8_t *block;
  if (free_lists[size_class]) {
    block = (uint8_t *)free_lists[size_class];
    free_lists[size_class] = free_lists[size_class]->next;
  } else {
    block = take_fresh((size_t)16 << size_class);
    if (!block) return NULL;
  }
  uintptr_t pointer = ((uintptr_t)block + HEADER + alignment - 1) & ~(uintptr_t)(alignment - 1);
  block_header *header = (block_header *)(pointer - sizeof(block_header));
  header->size_class = (uint32_t)size_class;
  header->offset = (uint32_t)(pointer - (uintptr_t)block);
  return (void *)pointer;
}

void *malloc(size_t bytes) { return allocate(bytes, 16); }

void free(void *pointer) {
  if (!pointer) return;
  block_header *header = (block_header *)((uintptr_t)pointer - sizeof(block_header));
  free_block *block = (free_block *)((uintptr_t)pointer - header->offset);
  block->next = free_lists[header->size_class];
  free_lists[header->size_class] = block;
}

int posix_memalign(void **result, size_t alignment, size_t bytes) {
  if (alignment < 16) alignment = 16;
  if (alignment & (alignment - 1)) return 22;  // EINVAL
  void *pointer = allocate(bytes, alignment);
  if (!pointer) return 12;  // ENOMEM
  *result = pointer;
  return 0;
}

void *calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *pointer = malloc(count * size);
  if (pointer) memset(pointer, 0, count * size);
  return pointer;
}

// MARK: - Stack protection

// Swift protects the stack frames of functions with local buffers: the canary lives in
// __stack_chk_guard (set from WASI's random_get at start) and a smashed one ends the program.
__attribute__((import_module("wasi_snapshot_preview1"), import_name("random_get")))
uint16_t wasi_random_get(uint8_t *buffer, size_t length);

uintptr_t __stack_chk_guard = 0x2f8a51c3;

_Noreturn void __stack_chk_fail(void) {
  static const char message[] = "stack smashing detected\n";
  amqp_write_stdout((const uint8_t *)message, sizeof message - 1);
  wasi_proc_exit(127);
}

// MARK: - Entry

/// The Swift program's entry point (`@_cdecl("amqp_embedded_main")`); its result is the exit status.
extern int amqp_embedded_main(void);

void _start(void) {
  wasi_random_get((uint8_t *)&__stack_chk_guard, sizeof __stack_chk_guard);
  int status = amqp_embedded_main();
  if (line_length) amqp_write_stdout(line, line_length);
  wasi_proc_exit(status);
}
