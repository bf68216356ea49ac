/* pbfill.h - setting protobuf-c message fields from text, by descriptor.
 *
 * |spec| is "name=value" pairs separated by ';'. A name goes one message
 * deeper per dot ("badge.points"); a name ending in [] appends to a repeated
 * field ("nominee_ids[]=ann"). Values are parsed by the field's type:
 * strings, integers, enums by number, bools 0/1; "@N" means N 'x' characters.
 * For tests, the load generator and the CLI.
 */
#ifndef ACCOLADE_PBFILL_H
#define ACCOLADE_PBFILL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "arena.h"

/* pb_fill sets fields of |m| (of type |d|); memory from |a|. Returns 0, or
 * -1 with |err| naming the field that could not be set. */
int pb_fill(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *spec, char *err, size_t cap);

/* pb_set sets one field |name| (same syntax as a pb_fill name) to |value|,
 * taken literally and strictly: numbers must parse whole and fit, enums may be
 * given by name ("week" or "CAP_WEEK" or a number), bools as true/false/1/0/
 * yes/no/on/off. For values typed by people. */
int pb_set(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *name, const char *value, char *err,
           size_t cap);

#endif
