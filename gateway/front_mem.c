/* front_mem.c - the front's memory: byte buffers, header lists, and the
 * allocator of its nghttp2 sessions (front_internal.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "front_internal.h"

/* ---- byte buffers ---------------------------------------------------- */

void front_buf_put(buf *b, const uint8_t *d, size_t n) {
  if (!n) return;
  if (b->off == b->len) b->off = b->len = 0;
  if (b->len + n > b->cap && b->off) {   /* slide what is left to the front first */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) abort();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

size_t front_buf_take(buf *b, uint8_t *out, size_t max) {
  size_t n = b->len - b->off < max ? b->len - b->off : max;
  if (!n) return 0;
  memcpy(out, b->p + b->off, n);
  b->off += n;
  return n;
}

/* ---- header lists ---------------------------------------------------- */

void front_hdrs_add(hdrs *h, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen) {
  if (h->n == MAX_HDRS) return;
  h->at[h->n][0] = h->store.len;
  front_buf_put(&h->store, name, nlen);
  h->at[h->n][1] = h->store.len;
  front_buf_put(&h->store, value, vlen);
  /* Values new on every call (NV_ONCE) stay out of the peer's HPACK table. */
  int once = nlen == 12 && (!memcmp(name, "x-request-id", 12) || !memcmp(name, "grpc-timeout", 12));
  h->nv[h->n] = (nghttp2_nv){NULL, NULL, nlen, vlen, once ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE};
  h->n++;
}

void front_hdrs_clear(hdrs *h) {
  h->n = 0;
  h->store.off = h->store.len = 0;
}

/* hdrs_seal points the list at its store (which no longer moves). */
nghttp2_nv *hdrs_seal(hdrs *h) {
  for (int i = 0; i < h->n; i++) {
    h->nv[i].name = h->store.p + h->at[i][0];
    h->nv[i].value = h->store.p + h->at[i][1];
  }
  return h->nv;
}

void front_copy_value(char *dst, size_t cap, const uint8_t *v, size_t vlen) {
  if (vlen >= cap) vlen = cap - 1;
  memcpy(dst, v, vlen);
  dst[vlen] = '\0';
}

/* ---- nghttp2's memory ------------------------------------------------ */

/* nghttp2 allocates and frees several small blocks per stream (its stream,
 * header buffers, frames): a fifth of the front's time went to malloc and
 * free. Each loop keeps the blocks its sessions free, by size class, for the
 * next (every session is used only on its loop's thread). */
#define MEM_CLASSES 7   /* 64 .. 4096 bytes, with the header */
#define MEM_KEEP 2048   /* blocks kept per class */
typedef struct memhdr {
  size_t cls;           /* MEM_CLASSES: from malloc, freed to it */
  size_t pad;           /* the block after the header stays 16-byte aligned */
} memhdr;
static _Thread_local struct {
  memhdr *free[MEM_CLASSES];
  int n[MEM_CLASSES];
} t_mem;

static size_t mem_class(size_t size) {
  size_t c = 0;
  while (c < MEM_CLASSES && (size_t)64 << c < size + sizeof(memhdr)) c++;
  return c;
}

static void *mem_malloc(size_t size, void *ud) {
  (void)ud;
  size_t c = mem_class(size);
  memhdr *h = c < MEM_CLASSES ? t_mem.free[c] : NULL;
  if (h) {
    t_mem.free[c] = *(memhdr **)(h + 1);
    t_mem.n[c]--;
  } else {
    h = malloc(c < MEM_CLASSES ? (size_t)64 << c : size + sizeof *h);
    if (!h) return NULL;
    h->cls = c;
  }
  return h + 1;
}

static void mem_free(void *p, void *ud) {
  (void)ud;
  if (!p) return;
  memhdr *h = (memhdr *)p - 1;
  size_t c = h->cls;
  if (c >= MEM_CLASSES || t_mem.n[c] >= MEM_KEEP) return free(h);
  *(memhdr **)(h + 1) = t_mem.free[c];
  t_mem.free[c] = h;
  t_mem.n[c]++;
}

static void *mem_calloc(size_t n, size_t size, void *ud) {
  if (size && n > SIZE_MAX / size) return NULL;
  void *p = mem_malloc(n * size, ud);
  if (p) memset(p, 0, n * size);
  return p;
}

static void *mem_realloc(void *p, size_t size, void *ud) {
  if (!p) return mem_malloc(size, ud);
  memhdr *h = (memhdr *)p - 1;
  if (h->cls >= MEM_CLASSES) {   /* a large block: libc's realloc */
    memhdr *r = realloc(h, size + sizeof *h);
    return r ? r + 1 : NULL;
  }
  size_t have = ((size_t)64 << h->cls) - sizeof *h;
  if (size <= have) return p;
  void *q = mem_malloc(size, ud);
  if (!q) return NULL;
  memcpy(q, p, have);
  mem_free(p, ud);
  return q;
}

nghttp2_mem front_mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};

/* front_mem_drain gives this thread's kept blocks back (its loop has ended). */
void front_mem_drain(void) {
  for (int c = 0; c < MEM_CLASSES; c++) {
    while (t_mem.free[c]) {
      memhdr *h = t_mem.free[c];
      t_mem.free[c] = *(memhdr **)(h + 1);
      free(h);
    }
    t_mem.n[c] = 0;
  }
}
