/* blocking.c - see blocking.h. */
#include "blocking.h"

#include <stdatomic.h>

static _Atomic(void (*)(void)) g_hook;

void blocking_set_hook(void (*hook)(void)) { atomic_store(&g_hook, hook); }

void blocking_enter(void) {
  void (*hook)(void) = atomic_load_explicit(&g_hook, memory_order_acquire);
  if (hook) hook();
}
