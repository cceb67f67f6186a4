/*
 * worker.h: one worker thread (DESIGN.md, "Threads"): its own event_base,
 * its own SO_REUSEPORT listeners, its own libcurl multi handle (upstream)
 * and its own policy scratch.  A connection lives on one worker from
 * accept to close.
 *
 * What workers share is in struct worker_shared, owned by main(): the
 * config, the journal, metrics, access log, identity map, and the current
 * snapshot (policy and TLS contexts) which main swaps under the lock on
 * SIGHUP before calling worker_reload() on every worker.
 */
#ifndef WW_WORKER_H
#define WW_WORKER_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct conf;
struct journal;
struct metrics;
struct accesslog;
struct identity;
struct policy;
struct hostclass;
struct auth;
struct worker; /* opaque */

struct worker_shared {
	const struct conf *conf;
	struct journal *journal;
	struct metrics *metrics;
	struct accesslog *accesslog; /* or NULL */
	struct identity *identity;   /* or NULL */
	pthread_mutex_t lock;        /* guards policy and tls */
	struct policy *policy;       /* the snapshot in force */
	SSL_CTX **tls;               /* [conf->n_listen], NULL: plain */
	/* Explicit and transparent modes (NULL when no listener uses them): */
	struct hostclass *hostclass; /* host classes, mint, resolve map */
	struct auth **auth;          /* [conf->n_listen], NULL: no auth */
	struct callback_seen *callback_seen; /* callback retries, or NULL */
};

/*
 * Build worker number idx on shared (borrowed: must outlive it): event
 * base, upstream, scratch, and a bound listener per configured address.
 * Nothing runs until worker_start().  WW_EIO (bind failed), WW_EINVAL
 * (bad upstream settings), WW_ENOMEM; the reason in err.
 */
int worker_new(struct worker_shared *shared, unsigned idx, struct worker **out,
               char *err, size_t errlen);

/* Run the worker's event loop on a new thread.  WW_OK or WW_ENOMEM. */
int worker_start(struct worker *w);

/*
 * From any thread: take up the shared snapshot (new exchanges use the new
 * policy; new connections the new certificates).
 */
void worker_reload(struct worker *w);

/*
 * From any thread: stop accepting, let connections finish what they owe,
 * and end the loop when nothing is left.  After drain_ms the connections
 * left are closed and their exchanges get upstream.timeout_ms + 5 s more
 * to finish; only the first call counts.
 */
void worker_stop(struct worker *w, unsigned drain_ms);

/* Wait for the thread to end (after worker_stop). */
void worker_join(struct worker *w);

/*
 * After worker_join(), before journal_close(): close the connections left
 * (their exchanges are detached) and end the upstream calls left (their
 * exchanges write their OUTCOME records while the journal is still open).
 */
void worker_cancel(struct worker *w);

/*
 * After journal_close(): let exchanges woken by the journal's final
 * callbacks finish, then free everything.  NULL is a no-op.
 */
void worker_free(struct worker *w);

/* Upstream reachability as last seen by this worker: 1, 0, -1 unknown. */
int worker_upstream_reachable(const struct worker *w);

#endif
