/* rpc_call.h - the server's state and the life of one call, shared by the
 * runtime's server files; not for services.
 *
 *   rpc_call.c     one call: context, decoding, replies, the access line;
 *                  the server's counts of handlers and streams
 *   rpc_server.c   the unary path, the server's life
 *   rpc_pool.c     the threads serving the completion queues
 *   rpc_generic.c  methods outside the table: the message awaited on the
 *                  queue under the first-message bound (the reaper)
 *   rpc_stream.c   server streams: stepped by a few stream workers (no
 *                  thread per stream); bidirectional ones on a thread
 */
#ifndef ACCOLADE_RPC_CALL_H
#define ACCOLADE_RPC_CALL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "rpc_internal.h"

typedef struct method_entry {
  const rpc_method *m;
  void *handle;          /* from grpc_server_register_method */
} method_entry;

/* A completion queue and the threads serving it (rpc_pool.c): one polls it,
 * more only while a handler of the queue blocks. A call keeps the worker
 * whose queue it arrived on. */
typedef struct worker {
  struct rpc_server *srv;
  grpc_completion_queue *cq;
  atomic_int polling;     /* threads waiting on the queue, or woken to */
  atomic_uint taken;      /* events taken off the queue: the watcher's mark */
  unsigned seen;          /* the watcher's: |taken| at its last look, */
  int stuck;              /* and how many looks it has not moved */
} worker;

/* The threads of the queues: pollers, and spares parked until a queue's
 * poller blocks in a handler (rpc_pool.c). */
typedef struct thread_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* spares wait here */
  pthread_cond_t watch_cv;   /* the watcher sleeps here */
  worker **wanted;        /* queues a spare was woken for, in order */
  int nwanted;
  int parked;
  int stop;
  pthread_t *threads;
  int nthreads;
  pthread_t watcher;
  int watching;
} thread_pool;

struct call;

struct rpc_stream {
  struct call *c;
};

/* The stream workers' scheduler (rpc_stream.c). */
typedef struct stream_sched {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct call *ready_head, *ready_tail;   /* to step, in order */
  struct call *waiting;                    /* sleeping until a time or a condition */
  pthread_t *threads;
  int nthreads;
  int stop;
  int kicked;                              /* a condition may have changed */
} stream_sched;

struct rpc_server {
  rpc_server_config cfg;
  char name[64];
  grpc_server *server;
  int port;
  int nworkers;      /* threads serving the queues, spares included */
  int ncqs;
  worker *workers;   /* one per completion queue */
  thread_pool pool;
  method_entry *entries;
  int nentries;
  atomic_int stopping;
  /* Generic calls waiting for their first message, oldest first; the
   * reaper cancels those past their bound (rpc_generic.c). */
  pthread_mutex_t watch_mu;
  pthread_cond_t watch_cv;
  struct call *watch_head, *watch_tail;
  pthread_t reaper;
  int reaper_started;
  stream_sched sched;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int active_streams;   /* streams admitted and not yet freed */
  atomic_int handlers;  /* unary and generic handlers running on workers */
  /* services served beyond the table (reflection_all_services for a raw
   * handler such as the gateway's), listed by rpc_server_services */
  int (*more_services)(const char **out, int cap);
  int started;
};

typedef enum { CALL_REQUESTED, CALL_READING, CALL_REPLYING } call_phase;

/* The batches of a stream: messages out, messages in (bidi), the client's
 * close, the final status. */
enum { T_SEND, T_RECV, T_CLOSE, T_STATUS, T_COUNT };

/* A stream batch's tag: the call and which batch. */
typedef struct stream_tag {
  rpc_tag tag;   /* first */
  struct call *c;
} stream_tag;

/* A message waiting to be sent on a stepped stream. */
typedef struct queued_msg {
  grpc_byte_buffer *bb;
  struct queued_msg *next;
} queued_msg;

typedef enum { SS_NONE, SS_READY, SS_RUNNING, SS_WAITING, SS_ENDING } stream_state;

typedef struct call {
  rpc_tag tag;               /* first: the call is its own tag */
  call_phase phase;
  worker *w;
  method_entry *me;          /* NULL for a generic call */
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details;
  grpc_completion_queue *own_cq;   /* bidirectional streams: their thread's queue */
  int64_t start_us;
  int64_t latency_us;   /* set when the reply is built */
  arena arena;
  rpc_ctx ctx;
  /* Reply resources, kept until the reply batch completes. */
  grpc_byte_buffer *reply;
  grpc_slice status_slice;
  int have_status_slice;
  grpc_metadata init_md[1];
  grpc_metadata trailers[RPC_MAX_TRAILERS];
  int ntrailers;
  int client_cancelled;
  int sent_initial;
  /* The reaper's list (generic calls awaiting their message). */
  struct call *wnext, *wprev;
  int64_t first_msg_deadline;
  int watched;
  int expired;
  /* Streams (rpc_stream.c). Everything below is guarded by the server's
   * stream_sched lock for stepped streams. */
  rpc_stream stream;         /* the handle handlers get */
  stream_tag st[T_COUNT];
  atomic_int closed;         /* the client's close has arrived */
  stream_state sstate;
  struct call *snext, *sprev;  /* ready or waiting list */
  const void *req;           /* the decoded request (arena) */
  const uint8_t *raw_req;    /* a raw stream's request bytes (arena) */
  size_t raw_len;
  void *state;               /* rpc_stream_state */
  queued_msg *q_head, *q_tail;
  int q_len;
  int sending;               /* a send batch is out */
  int pending;               /* batches out (close, send, status) */
  int64_t wake_at;           /* INT64_MAX: no time */
  int (*ready)(void *arg);   /* or sooner, once this holds */
  void *ready_arg;
  int finished;              /* the status is decided (step's code or rpc_stream_finish) */
  int status_sent;
  int refs;                  /* rpc_stream_ref */
  void (*on_end)(void *arg); /* rpc_stream_on_end */
  void *on_end_arg;
  void (*on_close)(void *arg); /* rpc_stream_on_close */
  void *on_close_arg;
} call;

/* rpc_server.c: a call posted on a worker's queue. */
call *call_new(worker *w, method_entry *me);
/* server_post_requests posts the requests of every method (several for a
 * unary one) and a generic one on |w|'s queue. */
void server_post_requests(worker *w);

/* rpc_pool.c */
/* pool_start starts the queues' threads (one polling each queue, the rest
 * parked) and the watcher that wakes a spare for a queue whose poller is
 * held by a handler; pool_stop ends them once the queues are shut down, and
 * drains what is left on the queues. */
int pool_start(rpc_server *s);
void pool_stop(rpc_server *s);

/* rpc_call.c */
int64_t rpc_now_us(void);
void call_free(call *c);
size_t call_initial_md_op(call *c, grpc_op *op);
/* call_reply_ops builds the final batch (status, and the reply message and
 * RECV_CLOSE_ON_SERVER when asked) into |ops| (4) and returns its length;
 * the call's code is final here, so it is counted in the metrics. */
size_t call_reply_ops(call *c, grpc_op *ops, int with_message, int with_close);
void call_access_log(call *c);
void *call_decode(call *c, const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len);
/* call_outcome makes a handler's return |code| the call's status. */
void call_outcome(call *c, int code);
/* call_raw_outcome: the same, the bytes given to rpc_reply_encoded becoming
 * the reply on success. */
void call_raw_outcome(call *c, int code);
/* call_reply_start sends a unary-shaped reply (with RECV_CLOSE_ON_SERVER);
 * its completion on the worker's queue frees the call. */
void call_reply_start(call *c);
void server_handler_begin(rpc_server *s);
void server_handler_end(rpc_server *s);
/* server_stream_admit counts a stream in if there is room (1), else 0;
 * server_stream_end counts it out. */
int server_stream_admit(rpc_server *s);
void server_stream_end(rpc_server *s);
/* server_after_call runs the rpc_set_after_call hook. */
void server_after_call(void);

/* rpc_generic.c */
void generic_start(call *c);
void generic_read(call *c, int ok);
int generic_reaper_start(rpc_server *s);
void generic_reaper_stop(rpc_server *s);

/* rpc_stream.c */
/* stream_begin starts a stream whose request is in (c->req or c->raw_req):
 * within the cap, stepped by the stream workers (|bidi|: on a thread of its
 * own, with its own queue); else RESOURCE_EXHAUSTED at once. */
void stream_begin(call *c, int bidi);
int streams_start(rpc_server *s);
/* streams_wake_all ends every stream's wait (the server is stopping). */
void streams_wake_all(rpc_server *s);
void streams_stop(rpc_server *s);

#endif
