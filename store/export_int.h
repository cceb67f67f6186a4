/*
 * export_int.h: what store/export.c and store/export_human.c share.  Not
 * part of the export interface (store/export.h); nothing else includes it.
 */
#ifndef WW_EXPORT_INT_H
#define WW_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store/export.h"

struct export
{
	unsigned flags;            /* enum export_flags */
	struct export_buf scratch; /* CSV's multi-valued columns */
};

void export_buf_u64(struct export_buf *b, uint64_t v);
void export_buf_i64(struct export_buf *b, int64_t v);
/* Microseconds as milliseconds with three decimals: "12.345". */
void export_buf_latency(struct export_buf *b, uint64_t us);

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
size_t export_utf8_len(const unsigned char *p, size_t n);

/*
 * The strings of rec's forwarded body at its text parts' paths; *out NULL
 * when rec has no forwarded JSON body.  WW_OK or WW_ENOMEM.
 */
int export_forwarded(struct export *e, const Ww__Record *rec,
                     Ww__Message **out);

/* The EXPORT_FULL fields (",\"method\":..." and on) appended to b. */
void export_json_full(const Ww__Record *rec, struct export_buf *b);

#endif
