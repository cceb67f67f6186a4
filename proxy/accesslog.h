/*
 * accesslog.h: one JSON line per exchange (issue 5, "Operations").
 *
 * Fields: time, client, port, method, path (no query: a query can hold a
 * token or webhook key), endpoint class, action, status, errcode, the
 * REQUEST and OUTCOME sequence numbers, app, token digest, sizes, latency
 * and the local error.  Never a secret, never a body.  Lines are written
 * with one write(2) each on an O_APPEND descriptor, so any thread may log
 * and lines never interleave.
 */
#ifndef WW_ACCESSLOG_H
#define WW_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

struct accesslog; /* opaque */

struct accesslog_entry {
	const char *client; /* numeric address */
	unsigned port;
	const char *method;
	const char *path;   /* URL path only */
	const char *action; /* allow | alert | redact | block | refuse */
	int status;         /* HTTP status given to the client */
	int has_errcode;
	long long errcode;        /* upstream's, or the refusal's */
	uint64_t request_seq;     /* 0: not journaled */
	const char *app;          /* or NULL */
	const char *token_digest; /* or NULL */
	uint64_t request_bytes, response_bytes;
	uint64_t latency_us;
	int forwarded;
	const char *error; /* local error, or NULL */
};

/*
 * Open path for appending (created 0640), or write to fd 2 when path is
 * NULL or "-".  WW_OK, WW_EIO (errno set), WW_ENOMEM.
 */
int accesslog_open(const char *path, struct accesslog **out);
void accesslog_close(struct accesslog *a); /* NULL is a no-op */

/* Write one line.  Errors are counted, not reported (logging must not
 * fail an exchange).  a == NULL is a no-op. */
void accesslog_write(struct accesslog *a, const struct accesslog_entry *e);

/* Lines that could not be written (tests, metrics). */
uint64_t accesslog_errors(const struct accesslog *a);

#endif
