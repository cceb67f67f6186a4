/*
 * accesslog.h: one JSON line per exchange (issue 5, "Operations").
 *
 * Fields: time, client, port, method, path (no query: a query can hold a
 * token or webhook key), endpoint class, action, status, errcode, the
 * REQUEST and OUTCOME sequence numbers, app, token digest, sizes, latency
 * and the local error.  Never a secret, never a body.  The shared log
 * writes each line with one write(2) on an O_APPEND descriptor, so any
 * thread may log through it and lines never interleave.  A worker logs
 * through its own buffered view (accesslog_buffered), which writes whole
 * lines in one write(2) per 32 KiB (PIPE_BUF on a pipe or terminal).
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

/*
 * A buffered view of shared for one thread: its lines are written when
 * the buffer is full, at accesslog_flush() and at accesslog_close() (which
 * does not close shared; close the views first).  *out is NULL when shared
 * is NULL.  WW_OK, WW_ENOMEM.
 */
int accesslog_buffered(struct accesslog *shared, struct accesslog **out);

/* Write a view's buffered lines now (the worker does, every second).
 * A no-op on the shared log and on NULL. */
void accesslog_flush(struct accesslog *a);

/* Write one line (or buffer it, on a view).  Errors are counted, not
 * reported (logging must not fail an exchange).  a == NULL is a no-op. */
void accesslog_write(struct accesslog *a, const struct accesslog_entry *e);

/* Lines that could not be written, by the log and all its views. */
uint64_t accesslog_errors(const struct accesslog *a);

#endif
