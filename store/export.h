/*
 * export.h: journal records rendered for people and programs -- JSON
 * lines, CSV (RFC 4180), one-line listings, full "show" pages and replay
 * transcripts.  The field names of the JSON and CSV forms are a stable,
 * documented interface (wwjournal(1), "EXPORT FIELDS"): add fields, never
 * rename or drop one.
 *
 * Everything renders into a struct export_buf (caller's storage) so the
 * caller decides where bytes go and nothing is printed behind its back.
 * Records are borrowed for the duration of each call.
 */
#ifndef WW_EXPORT_H
#define WW_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"

/* A growable byte buffer.  Append failures stick in err (WW_ENOMEM). */
struct export_buf {
	char *data; /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	int err;
};

void export_buf_init(struct export_buf *b);
void export_buf_cleanup(struct export_buf *b);
void export_buf_reset(struct export_buf *b); /* len = 0, err = WW_OK */
void export_buf_add(struct export_buf *b, const void *p, size_t len);
void export_buf_puts(struct export_buf *b, const char *s);
void export_buf_printf(struct export_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s[0..len) as a JSON string with quotes; invalid UTF-8 becomes U+FFFD. */
void export_buf_json_str(struct export_buf *b, const char *s, size_t len);

enum export_flags {
	EXPORT_FULL = 1 << 0,  /* JSON: also method, path, query, attachments,
	                          spans, policy digest, decode error, body... */
	EXPORT_COLOR = 1 << 1, /* human forms: ANSI colours */
};

struct export; /* opaque: rendering context (flags, a decoder key) */

/* A context.  WW_OK or WW_ENOMEM. */
int export_new(unsigned flags, struct export **out);
void export_free(struct export *e);

/*
 * Is rec one of the records that export writes one object for (REQUEST,
 * CALLBACK)?  1 or 0.
 */
int export_is_primary(const Ww__Record *rec);

/*
 * One JSON object (no newline) for rec with the OUTCOME record that
 * answers it (outcome may be NULL: "outcome": null, i.e. unknown; for an
 * OUTCOME record its own outcome is used).  Returns WW_OK or WW_ENOMEM.
 */
int export_json(struct export *e, const Ww__Record *rec,
                const Ww__Record *outcome, struct export_buf *b);

/* The CSV header line and one CSV row (each ends with CRLF). */
int export_csv_header(struct export_buf *b);
int export_csv(struct export *e, const Ww__Record *rec,
               const Ww__Record *outcome, struct export_buf *b);

/* One listing line (ends with "\n"): seq, time, kind, what, who, verdict. */
int export_line(struct export *e, const Ww__Record *rec,
                const Ww__Record *outcome, struct export_buf *b);

/* A record in full for `wwjournal show`, its outcome below it. */
int export_show(struct export *e, const Ww__Record *rec,
                const Ww__Record *outcome, struct export_buf *b);

/*
 * One message of a replay transcript: time, sender, recipients, the text
 * parts, attachments, the verdict and the outcome, indented under a
 * conversation heading (export_transcript_title).
 */
int export_transcript(struct export *e, const Ww__Record *rec,
                      const Ww__Record *outcome, struct export_buf *b);
int export_transcript_title(struct export *e, const char *title,
                            uint64_t messages, struct export_buf *b);

/*
 * The conversation rec belongs to: "chat:ID" when it names a chat,
 * otherwise "SENDER -> RECIPIENTS" (recipients sorted).  Appended to b.
 */
int export_conversation_key(const Ww__Record *rec, struct export_buf *b);

/*
 * text[0..len) with the byte ranges [starts[i], ends[i]) highlighted
 * (bold reverse when colour is on, otherwise >>like this<<).
 */
void export_highlight(struct export *e, const char *text, size_t len,
                      const size_t *starts, const size_t *ends, size_t n,
                      struct export_buf *b);

/*
 * s[0..len) made safe for a terminal on one line: control characters,
 * C1 controls and bidi overrides become visible \xNN escapes.
 */
void export_buf_text(struct export_buf *b, const char *s, size_t len);

/* Lower-case hex of buf[0..len) appended to b. */
void export_buf_hex(struct export_buf *b, const uint8_t *buf, size_t len);

#endif
