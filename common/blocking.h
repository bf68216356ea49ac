/* blocking.h - "this thread is about to wait": said by the code that waits
 * on another process (Postgres, another service), heard by the server
 * runtime, which hands the thread's completion queue to a spare thread
 * meanwhile (rpc_pool.c). A leaf: the waiting code knows nothing of gRPC. */
#ifndef ACCOLADE_BLOCKING_H
#define ACCOLADE_BLOCKING_H

/* blocking_enter: the calling thread may wait for a while from now. Cheap
 * when no hook is set or the thread serves no queue. */
void blocking_enter(void);

/* blocking_set_hook: what blocking_enter runs (the runtime sets it once). */
void blocking_set_hook(void (*hook)(void));

#endif
