/* arena.c - a bump allocator over a list of blocks. */
#include "arena.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_MIN 8192
#define ARENA_ALIGN 16

struct arena_block {
  arena_block *next;
  size_t used;
  size_t cap;
  _Alignas(ARENA_ALIGN) unsigned char data[];
};

/* Each thread keeps a few freed first-size blocks for the next arena: a
 * call's arena takes one block, and 8 KiB is past malloc's per-thread caches,
 * so every call paid a trip through malloc's bins for it (perf: _int_malloc,
 * _int_free and unlink_chunk together ~3% of a Health.Check). Not under
 * AddressSanitizer, whose use-after-free checks need the real free(). */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_CACHED 0
#else
#define ARENA_CACHED 4
#endif
static _Thread_local arena_block *t_cache;
static _Thread_local int t_ncache;
static pthread_key_t g_cache_key;   /* its destructor frees a thread's cache as it exits */
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(void *unused) {
  (void)unused;
  while (t_cache) {
    arena_block *b = t_cache;
    t_cache = b->next;
    free(b);
  }
  t_ncache = 0;
}
static void cache_key_make(void) { pthread_key_create(&g_cache_key, cache_drop); }

static void block_release(arena_block *b) {
  if (b->cap == ARENA_BLOCK_MIN && t_ncache < ARENA_CACHED) {
    if (!t_cache) {   /* the thread's first: arm the destructor */
      pthread_once(&g_cache_once, cache_key_make);
      pthread_setspecific(g_cache_key, (void *)1);
    }
    b->next = t_cache;
    t_cache = b;
    t_ncache++;
    return;
  }
  free(b);
}

static arena_block *block_take(size_t cap) {
  if (cap == ARENA_BLOCK_MIN && t_cache) {
    arena_block *b = t_cache;
    t_cache = b->next;
    t_ncache--;
    return b;
  }
  return malloc(sizeof(arena_block) + cap);
}

static void *pb_alloc(void *data, size_t n) { return arena_alloc(data, n); }
static void pb_free(void *data, void *p) { (void)data; (void)p; }

void arena_init(arena *a) {
  a->head = NULL;
  a->pb.alloc = pb_alloc;
  a->pb.free = pb_free;
  a->pb.allocator_data = a;
}

void arena_free(arena *a) {
  arena_block *b = a->head;
  while (b) {
    arena_block *next = b->next;
    block_release(b);
    b = next;
  }
  a->head = NULL;
}

void *arena_alloc(arena *a, size_t n) {
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need == 0) need = ARENA_ALIGN;
  arena_block *b = a->head;
  if (!b || b->cap - b->used < need) {
    size_t cap = need > ARENA_BLOCK_MIN ? need : ARENA_BLOCK_MIN;
    if (b && b->cap * 2 > cap && b->cap < (1u << 20)) cap = b->cap * 2;
    b = block_take(cap);
    if (!b) {
      fprintf(stderr, "arena: out of memory (%zu bytes)\n", cap);
      abort();
    }
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += need;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (s && n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *arena_strdup(arena *a, const char *s) {
  if (!s) s = "";
  return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(arena *a, const char *fmt, va_list ap) {
  va_list cp;
  va_copy(cp, ap);
  int n = vsnprintf(NULL, 0, fmt, cp);
  va_end(cp);
  if (n < 0) return arena_strdup(a, "");
  char *p = arena_alloc(a, (size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}

char *arena_printf(arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *p = arena_vprintf(a, fmt, ap);
  va_end(ap);
  return p;
}
