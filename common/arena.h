/* arena.h - per-call scratch memory.
 *
 * An arena hands out memory that lives until arena_free() (or arena_reset()):
 * a request's decoded message, its response and every string a handler builds
 * come from the call's arena and are released together when the call ends.
 * Allocation never fails: running out of memory aborts the process, as there
 * is no sensible recovery inside a request.
 */
#ifndef ACCOLADE_ARENA_H
#define ACCOLADE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena_block arena_block;

typedef struct arena {
  arena_block *head;
  ProtobufCAllocator pb;   /* protobuf-c allocator drawing from this arena */
} arena;

/* arena_init prepares |a|; no memory is taken until the first allocation. */
void arena_init(arena *a);
/* arena_free releases every block of |a|. |a| may be reused after arena_init. */
void arena_free(arena *a);

/* arena_alloc returns |n| zeroed bytes aligned for any type. */
void *arena_alloc(arena *a, size_t n);
/* arena_strdup copies |s| (NULL gives ""). */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
/* arena_printf formats into arena memory. */
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena *a, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* ARENA_NEW allocates one zeroed |type|; ARENA_ARRAY |n| of them. */
#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))
#define ARENA_ARRAY(a, type, n) ((type *)arena_alloc((a), sizeof(type) * (size_t)(n)))

#endif
