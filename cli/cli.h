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

/* csv_row splits the RFC 4180 record at |*p| into |cell| (memory from |a|),
 * moving |*p| past it and counting physical lines in |*line|; unquoted cells
 * are trimmed. Returns the number of cells, 0 at the end of input, -1 on a
 * malformed record (an unterminated quote, more than |max| cells). */
int csv_row(arena *a, const char **p, int *line, char **cell, int max);
/* csv_next reads the next data row of |ncols| cells, skipping empty lines;
 * |*at| is its first line. Returns the number of cells, 0 at the end, or -1
 * with what is wrong in |err|. */
int csv_next(arena *a, const char **p, int *line, char **cell, int max, int ncols, int *at, char *err, size_t cap);
/* csv_blank: whether a row of |n| cells is an empty line. */
int csv_blank(char **cell, int n);
/* csv_slurp reads the file |path| ("-": stdin) into a malloc'd NUL-terminated
 * buffer (the caller frees it); NULL when it cannot be read. */
char *csv_slurp(const char *path, size_t *len);
/* csv_import_args reads "FILE [--batch N] [--dry-run]" from argv[i..] for the
 * command |what|; returns -1 after printing the usage error. */
int csv_import_args(const char *what, int argc, char **argv, int i, const char **path, long *batch, int *dry);

/* csv_import: what one import (members, signals) adds to the frame of
 * csv_import_run (batch.c). Messages name |what| ("members import"),
 * progress "<verb> 12/40 <noun>". */
typedef struct csv_import {
  const char *what, *noun, *verb;
  const char *header_hint;   /* shown when the file has no header row */
  int max_cols;              /* cells a row may have (at most 32) */
  /* column_of: the column a header names (0 .. max_cols - 1), or -1 */
  int (*column_of)(const char *header);
  /* check_header: 0 when the columns named (|have|[column]) will do, else
   * -1 with what is wrong (and a detail, or NULL) */
  int (*check_header)(void *arg, const int *have, const char **what, const char **detail);
  /* row: one row's message (in |a|), or NULL with what is wrong in |err| */
  ProtobufCMessage *(*row)(void *arg, arena *a, char **cell, int n, const int *col_of, char *err, size_t cap);
  /* send: one batch of |n| messages (|lines|: their rows' first lines; |tty|:
   * progress is on one line); 0 or the exit status */
  int (*send)(void *arg, const cli *c, ProtobufCMessage **items, size_t n, const int *lines, int tty);
  void *arg;
} csv_import;
/* csv_import_run reads |path| and, unless |dry|, sends its rows in batches
 * of |batch|. Returns 0 or the exit status (65: a bad file, nothing sent),
 * with |*rows| read and |*batches| sent. */
int csv_import_run(const cli *c, const csv_import *im, const char *path, long batch, int dry, size_t *rows,
                   size_t *batches);

/* The commands with code of their own (members import, signals import, watch, credential). */
int cmd_members_import(const cli *c, int argc, char **argv, int i);
int cmd_signals_import(const cli *c, int argc, char **argv, int i);
int cmd_watch(const cli *c, int argc, char **argv, int i);
int cmd_credential(const cli *c, int argc, char **argv, int i);

/* commands_run finds the command named by argv[i..] in the table and runs it;
 * returns its exit status, or -1 when no command has that name. */
int commands_run(const cli *c, int argc, char **argv, int i);
/* commands_usage lists every table command. */
void commands_usage(FILE *f);

#endif
