// What an Embedded Swift program needs from its platform on wasm32-unknown-none-wasm, built on
// the three WASI calls any WASI runtime provides (fd_read, fd_write, proc_exit). The toolchain
// ships no C library for this target, so this is the whole of it: a heap (malloc, free,
// posix_memalign), putchar for print(), and the memory functions the compiler calls.
#ifndef AMQP_WASI_RUNTIME_H
#define AMQP_WASI_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

/// Reads up to `capacity` bytes of standard input into `buffer`; returns how many (0 at the end)
/// or -1 on an error.
long amqp_read_stdin(uint8_t *buffer, size_t capacity);

/// Writes all `count` bytes to standard output; returns 0, or -1 on an error.
int amqp_write_stdout(const uint8_t *bytes, size_t count);

/// Ends the program with `status`.
_Noreturn void amqp_exit(int status);

#endif
