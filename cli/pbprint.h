/* pbprint.h - showing any protobuf-c message to people and to scripts.
 *
 * Driven by the message descriptor, so every reply of every RPC prints the
 * same way: JSON (field names as in the .proto, int64 as numbers, enums by
 * name, every field present) for --json, and for people "name: value" lines
 * or a table of one repeated field. Times in fields named *_time_ms, *_at_ms
 * and week_start_ms print as UTC dates.
 */
#ifndef ACCOLADE_CLI_PBPRINT_H
#define ACCOLADE_CLI_PBPRINT_H

#include <stdio.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* pb_to_json returns a new json-c object for |m| (caller puts it). */
json_object *pb_to_json(const ProtobufCMessage *m);

/* pb_print_table prints the repeated message field |rows| of |m| as a table
 * with the columns |cols| ("rank,id,points"; NULL: every scalar field), then
 * the other scalar fields of |m| as "name: value" lines. */
void pb_print_table(FILE *f, const ProtobufCMessage *m, const char *rows, const char *cols);

/* pb_print_fields prints |m| as "name: value" lines; sub-messages are
 * flattened ("entry.rank"), repeated messages become tables whose columns
 * |cols| may choose ("badges:badge_name,count;progress:text"). */
void pb_print_fields(FILE *f, const ProtobufCMessage *m, const char *cols);

#endif
