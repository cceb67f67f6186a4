/*
 * filter.h: which journal records an auditor asked for (wwjournal's
 * --since, --until, --sender, --recipient, --chat, --action, --kind), and
 * the time syntax those options accept.
 *
 * A filter is caller's storage (filter_init) holding borrowed strings: they
 * must outlive every filter_match() call.  Nothing here allocates but
 * filter_first_seq, which reads the journal.
 */
#ifndef WW_FILTER_H
#define WW_FILTER_H

#include <stdint.h>

#include "store/record.h"

struct journal_reader;

#define FILTER_NO_SINCE INT64_MIN
#define FILTER_NO_UNTIL INT64_MAX

struct filter {
	int64_t since_ns;      /* records at or after (FILTER_NO_SINCE) */
	int64_t until_ns;      /* records strictly before (FILTER_NO_UNTIL) */
	const char *sender;    /* message sender equals, or NULL */
	const char *recipient; /* any recipient id equals, or NULL */
	const char *chat;      /* chat id equals, or NULL */
	int action;            /* Ww__Action, or -1 for any */
	int kind;              /* Ww__Kind, or -1 for any */
};

/* Match everything. */
void filter_init(struct filter *f);

/* Does rec pass f?  1 or 0.  rec may be NULL (never matches). */
int filter_match(const struct filter *f, const Ww__Record *rec);

/* Does f test anything about the message (sender, recipient, chat)? */
int filter_wants_message(const struct filter *f);

/*
 * Where a scan of r for f may start without missing a record f matches:
 * *first is 1, or with a since_ns the lowest sequence number stamped at
 * or after it (past the head when none is), found through the time index
 * when few records are that recent (FILTER_SEEK_SHARE).  r is borrowed.
 * WW_OK, or a reader error (WW_ECORRUPT...) with *first 1: scanning all
 * is always right.  until_ns is not sought: see filter.c.
 */
#define FILTER_SEEK_SHARE 8
int filter_first_seq(const struct filter *f, struct journal_reader *r,
                     uint64_t *first);

/*
 * Parse a point in time into ns since the Unix epoch (UTC).  Accepted:
 *   relative to now_ns: "90s", "15m", "2h", "3d", "1w" (also "1.5h"), "now"
 *   ISO 8601 / RFC 3339: "2026-11-25", "2026-11-25T10:30",
 *     "2026-11-25 10:30:15", "2026-11-25T10:30:15.250Z",
 *     "2026-11-25T18:30:15+08:00" (no zone means UTC)
 *   "@1764066615" (seconds since the epoch)
 * Returns WW_OK or WW_EINVAL (*out untouched).
 */
int filter_parse_time(const char *s, int64_t now_ns, int64_t *out);

/*
 * Write t (ns since the epoch) as RFC 3339 UTC with milliseconds,
 * "2026-11-25T10:30:15.250Z", into buf (at least FILTER_TIME_LEN bytes).
 * Returns the length written (24 for years 0000-9999).
 */
#define FILTER_TIME_LEN 32
int filter_format_time(int64_t t, char *buf);

#endif
