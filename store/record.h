/*
 * record.h: journal records and the message model (store/record.proto).
 *
 * Records and messages are the protobuf-c structures generated from
 * record.proto (Ww__Record, Ww__Message, ...).  Convention: everything
 * inside a record built in memory is allocated with malloc(), one block per
 * string, array and sub-message, exactly like protobuf-c's own unpacker
 * does, so one record_free() releases any record however it was made.
 * Empty strings may be left as protobuf-c's shared empty string.
 */
#ifndef WW_RECORD_H
#define WW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.pb-c.h"

#define RECORD_SCHEMA 1
#define RECORD_HASH_LEN 32
#define RECORD_MAX_PACKED (64u << 20) /* refuse to unpack anything bigger */

/* A new, zeroed record of kind with schema set.  NULL when out of memory. */
Ww__Record *record_new(Ww__Kind kind);
/* Free rec and everything it holds.  record_free(NULL) is a no-op. */
void record_free(Ww__Record *rec);

/* A new, zeroed message with its Recipients allocated.  NULL on ENOMEM. */
Ww__Message *message_new(void);
void message_free(Ww__Message *msg);
/* Deep copy.  Returns WW_OK or WW_ENOMEM. */
int message_copy(const Ww__Message *msg, Ww__Message **out);

/* Replace *field (a string field of a record) with a malloc'ed copy of s. */
int record_set_str(char **field, const char *s);
int record_set_strn(char **field, const char *s, size_t len);
/* Append a malloc'ed copy of s to a repeated string field. */
int record_add_str(size_t *n, char ***arr, const char *s);
/* Set a bytes field to a malloc'ed copy of buf. */
int record_set_bytes(ProtobufCBinaryData *field, const void *buf, size_t len);
/* Append a text part (copies path and text). */
int message_add_text(Ww__Message *msg, const char *path, const char *text,
                     size_t len);
/*
 * Append a new, zeroed attachment to msg and borrow it in *out (owned by
 * msg, lives as long as msg).  WW_OK or WW_ENOMEM (msg unchanged).
 */
int message_add_attachment(Ww__Message *msg, Ww__Attachment **out);

/*
 * Serialize rec into a malloc'ed buffer (*out, *outlen).  WW_OK, WW_ENOMEM.
 */
int record_pack(const Ww__Record *rec, uint8_t **out, size_t *outlen);

/*
 * Parse a stored record.  On failure returns WW_ECORRUPT (not a record),
 * WW_EVERSION (unknown schema) or WW_ELIMIT, and writes the reason to err.
 */
int record_unpack(const uint8_t *buf, size_t len, Ww__Record **out, char *err,
                  size_t errlen);

/* "REQUEST", "OUTCOME", ...; "allow", "alert", "redact", "block". */
const char *record_kind_name(Ww__Kind kind);
int record_kind_parse(const char *s); /* -1 when unknown (case-insensitive) */
const char *record_action_name(Ww__Action action);
int record_action_parse(const char *s); /* -1 when unknown */

#endif
