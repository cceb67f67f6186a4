/*
 * metrics.h: the gateway's counters and latency histograms, rendered in
 * the Prometheus text exposition format (version 0.0.4) for /metrics.
 *
 * One struct metrics is shared by every worker: all updates are lock-free
 * C11 atomics (relaxed), so any thread may call any update function at any
 * time.  Rendering reads the atomics without stopping writers; a scrape may
 * see a histogram's _count and buckets from slightly different instants,
 * which Prometheus tolerates.
 *
 * Label values never come from the traffic: endpoints are mapped onto a
 * fixed table of known WeCom endpoints (anything else is "other"), actions
 * and statuses onto fixed sets, so no token, key or text can leak here.
 */
#ifndef WW_METRICS_H
#define WW_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics; /* opaque */

/* The latency histograms (seconds in the output, microseconds in). */
enum metrics_hist {
	METRICS_EXCHANGE = 0, /* request parsed -> answer handed back */
	METRICS_JUDGE,        /* decode + policy verdict */
	METRICS_COMMIT,       /* REQUEST appended -> durable */
	METRICS_UPSTREAM,     /* upstream call, send -> answer or error */
	METRICS_NHIST,
};

/* What the gateway did with an exchange (the "action" label). */
enum metrics_action {
	METRICS_ALLOW = 0,
	METRICS_ALERT,
	METRICS_REDACT,
	METRICS_BLOCK,
	METRICS_REFUSE, /* refused for a local reason: undecodable, busy */
	METRICS_NACTION,
};

/* Gauges and plain counters. */
enum metrics_counter {
	METRICS_CONN_OPEN = 0, /* gauge: client connections open */
	METRICS_CONN_TOTAL,    /* client connections accepted */
	METRICS_TLS_FAIL,      /* TLS handshakes that failed */
	METRICS_RELOAD_OK,     /* policy reloads that took effect */
	METRICS_RELOAD_FAIL,   /* policy reloads refused (old one kept) */
	METRICS_JOURNAL_FAIL,  /* appends the journal refused or lost */
	METRICS_UPSTREAM_FAIL, /* upstream calls without an HTTP answer */
	METRICS_NCOUNTER,
};

/* A new, zeroed set.  WW_OK or WW_ENOMEM. */
int metrics_new(struct metrics **out);
/* metrics_free(NULL) is a no-op.  No thread may use m afterwards. */
void metrics_free(struct metrics *m);

/*
 * Count one finished exchange.  endpoint is the path below "/cgi-bin/"
 * (e.g. "message/send") or NULL; unknown endpoints count as "other".
 * status is the HTTP status given to the client.
 */
void metrics_request(struct metrics *m, const char *endpoint,
                     enum metrics_action action, int status);

/* Record one latency observation of usec microseconds. */
void metrics_observe(struct metrics *m, enum metrics_hist h, uint64_t usec);

/* Record the size of one journal group commit (records per batch). */
void metrics_batch(struct metrics *m, uint64_t records);

/* Add delta (may be negative for the gauge) to a counter. */
void metrics_add(struct metrics *m, enum metrics_counter c, int64_t delta);

/* Current value of a counter (tests, /readyz). */
int64_t metrics_get(const struct metrics *m, enum metrics_counter c);

/* Exchanges counted so far for endpoint/action/status (tests). */
uint64_t metrics_requests(const struct metrics *m, const char *endpoint,
                          enum metrics_action action, int status);

/*
 * Render everything in the Prometheus text format into *out (malloc'ed,
 * NUL-terminated, *outlen bytes without the NUL).  WW_OK or WW_ENOMEM.
 */
int metrics_render(const struct metrics *m, char **out, size_t *outlen);

/* "allow", "alert", "redact", "block", "refuse". */
const char *metrics_action_name(enum metrics_action a);

#endif
