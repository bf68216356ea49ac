/* tls.c - see tls.h. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* read_pem returns the whole file (malloc'd), or NULL with |err| filled. */
static char *read_pem(const char *path, const char *what, char *err, size_t cap) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = '\0';
    fclose(f);
    if (strstr(buf, "-----BEGIN")) return buf;
    snprintf(err, cap, "%s %s: not a PEM file", what, path);
  } else {
    snprintf(err, cap, "%s %s: cannot read it", what, path);
    if (f) fclose(f);
  }
  free(buf);
  return NULL;
}

grpc_server_credentials *tls_server_credentials(const char *cert, const char *key, const char *client_ca,
                                                char *err, size_t cap) {
  if (!cert || !*cert) return grpc_insecure_server_credentials_create();
  if (!key || !*key) {
    snprintf(err, cap, "a TLS certificate needs its key (ACCOLADE_TLS_KEY)");
    return NULL;
  }
  char *c = read_pem(cert, "TLS certificate", err, cap);
  char *k = c ? read_pem(key, "TLS key", err, cap) : NULL;
  char *ca = k && client_ca && *client_ca ? read_pem(client_ca, "TLS client CA", err, cap) : NULL;
  grpc_server_credentials *creds = NULL;
  if (c && k && (!client_ca || !*client_ca || ca)) {
    grpc_ssl_pem_key_cert_pair pair = {k, c};
    creds = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1, ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    if (!creds) snprintf(err, cap, "TLS: the certificate or key was refused");
  }
  free(c);
  free(k);
  free(ca);
  return creds;
}

static char *g_ca, *g_cert, *g_key, *g_name;

int tls_client_setup(const char *ca, const char *cert, const char *key, const char *name, char *err,
                     size_t cap) {
  if (!ca || !*ca) return 0;
  if (!(g_ca = read_pem(ca, "upstream TLS CA", err, cap))) return -1;
  if (cert && *cert) {
    if (!(g_cert = read_pem(cert, "upstream TLS certificate", err, cap))) return -1;
    if (!key || !*key || !(g_key = read_pem(key, "upstream TLS key", err, cap))) {
      if (!key || !*key) snprintf(err, cap, "an upstream TLS certificate needs its key");
      return -1;
    }
  }
  if (name && *name) g_name = strdup(name);
  return 0;
}

grpc_channel_credentials *tls_channel_credentials(void) {
  if (!g_ca) return grpc_insecure_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {g_key, g_cert};
  return grpc_ssl_credentials_create(g_ca, g_cert ? &pair : NULL, NULL, NULL);
}

const char *tls_target_name(void) { return g_name; }
