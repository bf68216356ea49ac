/* front_tls.c - TLS on callers' connections (front_internal.h): the server's
 * context, made once from the PEM files, and per connection its handshake,
 * reads and writes, non-blocking, driven by the loop like the plaintext
 * socket's. The front's connections to the services stay plaintext (h2c).
 *
 * What OpenSSL asks of an event loop, and where it is met:
 *   - a read may need to write (the handshake's answer) and a write may need
 *     to read (the handshake not done): c->tls_wait says which, and the
 *     epoll interest follows it (front_tls_wants_out, conn_writable);
 *   - a write that returned WANT_* is retried with the same bytes: the
 *     connection's output buffer is only appended to once it is empty
 *     (conn_flush), and SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it move;
 *   - bytes already read into OpenSSL wake no epoll: front_tls_pending
 *     keeps conn_readable reading.
 * A handshake that fails is counted (accolade_gateway_tls_handshake_failures_total,
 * by reason), not logged above debug: anyone can start one. */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "front_internal.h"
#include "log.h"
#include "metrics.h"

/* The one context of every caller's connection (front_tls_start); NULL: plaintext. */
static SSL_CTX *g_ctx;

/* ALPN: gRPC is HTTP/2 only (its ALPN id, length-prefixed). */
static const unsigned char k_h2[] = {2, 'h', '2'};

/* alpn_select picks h2 from what the client offers, or ends the handshake
 * (no_application_protocol): an HTTP/1.1 client could not speak to the
 * session behind. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len, const unsigned char *in,
                       unsigned int in_len, void *arg) {
  (void)ssl;
  (void)arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, out_len, k_h2, sizeof k_h2, in, in_len) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* ssl_reason: OpenSSL's reason for this thread's last failure, for a log
 * line ("" when it gave none). */
static const char *ssl_reason(void) {
  const char *r = ERR_reason_error_string(ERR_peek_last_error());
  return r ? r : "";
}

int front_tls_start(const tls_files *files) {
  if (!files || !files->cert || !*files->cert) return 0;
  const char *why = NULL, *path = NULL;
  if (!files->key || !*files->key) {
    log_error("front: a TLS certificate needs its key (ACCOLADE_TLS_KEY)");
    return -1;
  }
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    why = "cannot make a TLS context";
  } else if (SSL_CTX_use_certificate_chain_file(ctx, path = files->cert) != 1) {
    why = "TLS certificate";
  } else if (SSL_CTX_use_PrivateKey_file(ctx, path = files->key, SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(ctx) != 1) {
    why = "TLS key";
  } else if (files->client_ca && *files->client_ca) {
    path = files->client_ca;
    STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(path);
    if (!cas || SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
      why = "TLS client CA";
      sk_X509_NAME_pop_free(cas, X509_NAME_free);
    } else {
      SSL_CTX_set_client_CA_list(ctx, cas);   /* the context owns |cas| now */
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
  }
  if (why) {
    /* The same refusal as gRPC core's path: the process does not start. */
    log_error("front: %s%s%s: %s", why, path ? " " : "", path ? path : "", ssl_reason());
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return -1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* A renegotiation asked by the client is a handshake's CPU on demand,
   * outside the handshake bound: refused. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  /* Partial writes and a buffer that may move between a write's retries:
   * conn_flush writes what it has gathered and goes on from there. Idle
   * connections give their record buffers back (up to 16384 callers). */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  /* Records read several at a time: one read(2) where there would be two a
   * record (its header, then its body); what is left is front_tls_pending's. */
  SSL_CTX_set_read_ahead(ctx, 1);
  /* Resumed sessions need a context id once client certificates are asked for. */
  static const unsigned char sid_ctx[] = "accolade-front";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  g_ctx = ctx;
  return 0;
}

void front_tls_stop(void) {
  SSL_CTX_free(g_ctx);
  g_ctx = NULL;
}

int front_tls_on(void) { return g_ctx != NULL; }

void front_tls_attach(conn *c) {
  if (!g_ctx) return;
  SSL *ssl = SSL_new(g_ctx);
  if (!ssl || SSL_set_fd(ssl, c->fd) != 1) abort();   /* out of memory, as conn_new's calloc */
  SSL_set_accept_state(ssl);
  c->tls = ssl;
}

void front_tls_detach(conn *c) {
  if (!c->tls) return;
  /* close_notify, once and without waiting: the caller learns the end was
   * meant (a truncation attack looks the same without it). */
  if (c->tls_ready) {
    ERR_clear_error();
    SSL_shutdown(c->tls);
  }
  SSL_free(c->tls);
  c->tls = NULL;
  ERR_clear_error();
}

void front_tls_failed(conn *c, const char *reason) {
  char labels[64];
  snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
  metrics_count("accolade_gateway_tls_handshake_failures_total", labels, 1);
  log_debug("front: TLS handshake with %s failed: %s %s", c->peer, reason, ssl_reason());
  ERR_clear_error();
}

/* failure_reason names a failed handshake for the metric (a constant). */
static const char *failure_reason(int err) {
  unsigned long e = ERR_peek_last_error();
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && !e)) return "closed";
  switch (ERR_GET_REASON(e)) {
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return "closed";
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return "alpn";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return "certificate";
    default:
      return "protocol";
  }
}

/* handshake: 1 once done (h2 chosen), 0 while it waits for the socket (the
 * wait noted), -1 when it failed (counted). */
static int handshake(conn *c) {
  int r = SSL_do_handshake(c->tls);
  if (r != 1) {
    int err = SSL_get_error(c->tls, r);
    if (err == SSL_ERROR_WANT_READ) return 0;
    if (err == SSL_ERROR_WANT_WRITE) {
      c->tls_wait |= TLS_READ_WANTS_OUT;
      mark(c);   /* conn_flush asks for EPOLLOUT */
      return 0;
    }
    front_tls_failed(c, failure_reason(err));
    return -1;
  }
  /* A client that offers no ALPN at all is not refused by alpn_select (it
   * is never called): h2 over TLS needs it (RFC 9113 3.2). */
  const unsigned char *proto;
  unsigned int len;
  SSL_get0_alpn_selected(c->tls, &proto, &len);
  if (len != 2 || memcmp(proto, "h2", 2)) {
    front_tls_failed(c, "alpn");
    return -1;
  }
  c->tls_ready = 1;
  mark(c);   /* the session's SETTINGS, held until now */
  return 1;
}

ssize_t front_tls_read(conn *c, uint8_t *p, size_t n) {
  c->tls_wait &= ~TLS_READ_WANTS_OUT;
  ERR_clear_error();   /* SSL_get_error reads this thread's queue */
  if (!c->tls_ready) {
    int h = handshake(c);
    if (h < 0) return 0;
    if (h == 0) {
      errno = EAGAIN;
      return -1;
    }
  }
  int r = SSL_read(c->tls, p, n > INT_MAX ? INT_MAX : (int)n);
  if (r > 0) return r;
  int err = SSL_get_error(c->tls, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    if (err == SSL_ERROR_WANT_WRITE) c->tls_wait |= TLS_READ_WANTS_OUT;
    /* Whatever waits (a read to write, a write on this read) goes on at the
     * loop's write. */
    if (c->tls_wait) mark(c);
    errno = EAGAIN;
    return -1;
  }
  ERR_clear_error();
  return 0;   /* the caller's close_notify, or a broken connection */
}

ssize_t front_tls_write(conn *c, const uint8_t *p, size_t n) {
  c->tls_wait &= ~TLS_WRITE_WANTS_IN;
  if (!c->tls_ready) {   /* the handshake first: reads drive it, and mark |c| when done */
    c->tls_wait |= TLS_WRITE_WANTS_IN;
    errno = EAGAIN;
    return -1;
  }
  ERR_clear_error();
  int w = SSL_write(c->tls, p, n > INT_MAX ? INT_MAX : (int)n);
  if (w > 0) return w;
  int err = SSL_get_error(c->tls, w);
  if (err == SSL_ERROR_WANT_READ) c->tls_wait |= TLS_WRITE_WANTS_IN;
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  ERR_clear_error();
  errno = EPIPE;
  return -1;
}

int front_tls_pending(const conn *c) { return c->tls && SSL_has_pending(c->tls); }

int front_tls_wants_out(const conn *c, int pending) {
  if (!c->tls) return pending;
  return (pending && !(c->tls_wait & TLS_WRITE_WANTS_IN)) || (c->tls_wait & TLS_READ_WANTS_OUT);
}
