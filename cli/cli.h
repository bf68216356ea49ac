/* cli.h - what the accolade CLI's parts share. */
#ifndef ACCOLADE_CLI_H
#define ACCOLADE_CLI_H

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "rpc_client.h"

/* Exit statuses besides the gRPC codes (1-16), after sysexits.h. */
#define EXIT_USAGE 64    /* bad command line */
#define EXIT_DATAERR 65  /* bad input file */
#define EXIT_NOINPUT 66  /* input file cannot be opened */

typedef struct cli {
  const char *addr;
  const char *token;
  int json;
  int timeout_ms;
} cli;

/* cli_call makes a unary call through the gateway with the caller's token.
 * Returns 0 with |*out| decoded into |a|, or prints the failure (to stderr,
 * or as JSON with --json) and returns the exit status for it. */
int cli_call(const cli *c, const char *what, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp, int idempotent, int timeout_ms, arena *a, void **out);

/* cli_opts: call options carrying the bearer token; |md| holds 3 pointers. */
rpc_call_opts cli_opts(const cli *c, const char **md, char *bearer, size_t cap);

/* cli_fail prints a failed call's status and returns its exit status. */
int cli_fail(const cli *c, const char *what, const rpc_status *st);

/* cli_me: the user id ("sub") in the caller's token, or NULL. */
const char *cli_me(const cli *c, arena *a);

/* cli_print shows a reply: JSON with --json, else a table of |rows| (may be
 * NULL) or "name: value" lines. */
void cli_print(const cli *c, const ProtobufCMessage *m, const char *rows, const char *cols);

/* The commands with code of their own (members import, watch, credential). */
int cmd_members_import(const cli *c, int argc, char **argv, int i);
int cmd_watch(const cli *c, int argc, char **argv, int i);
int cmd_credential(const cli *c, int argc, char **argv, int i);

/* commands_run finds the command named by argv[i..] in the table and runs it;
 * returns its exit status, or -1 when no command has that name. */
int commands_run(const cli *c, int argc, char **argv, int i);
/* commands_usage lists every table command. */
void commands_usage(FILE *f);

#endif
