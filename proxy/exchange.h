/*
 * exchange.h: one request's life (DESIGN.md, "Data flow").
 *
 *   decode -> judge -> journal (wait until durable) -> forward -> outcome
 *
 * The exchange is the only place that knows the order of the steps.  The
 * HTTP connection (conn.c) parses a request and hands it here; the exchange
 * answers through reply_cb, exactly once, on the worker's own thread.
 * This header is the seam between the connection side (listeners, TLS,
 * HTTP/1.1) and the pipeline side (store, policy, upstream).
 */
#ifndef WW_EXCHANGE_H
#define WW_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct journal;
struct policy;
struct policy_scratch;
struct upstream;
struct metrics;
struct identity;
struct accesslog;
struct callback_worker;
struct exchange; /* opaque: one request in flight */

struct http_header {
	const char *name;
	const char *value;
};

/* A parsed request; borrowed by exchange_start() for the call only. */
struct http_request {
	const char *method;
	const char
	    *path; /* decoded path, no query, e.g. /cgi-bin/message/send */
	const char *query; /* raw query string without '?', or NULL */
	const struct http_header *headers;
	size_t n_headers;
	const uint8_t *body;
	size_t body_len;
};

/* Who is on the other end; borrowed for the call only (copied). */
struct exchange_client {
	const char *address; /* numeric IP */
	unsigned port;
	const char *sni;          /* or NULL */
	const char *cert_subject; /* verified client certificate, or NULL */
	const char *proxy_user;   /* explicit mode, or NULL */
	const char *host; /* upstream host chosen for it (modes), or NULL */
};

/* The answer; borrowed by reply_cb for the call only. */
struct http_response {
	int status;
	const struct http_header *headers; /* no hop-by-hop headers */
	size_t n_headers;
	const uint8_t *body;
	size_t body_len;
};

/* What one worker gives every exchange it runs (all borrowed). */
struct exchange_env {
	struct event_base *base;
	struct journal *journal;
	struct policy *policy; /* the snapshot in force; ref'd per exchange */
	struct policy_scratch *scratch; /* this worker's */
	struct upstream *upstream;      /* this worker's curl multi */
	struct metrics *metrics;        /* shared, thread-safe counters */
	const char *gateway_id;
	long block_errcode; /* refusal errcode (default 985001) */
	long busy_errcode;  /* journal/upstream failure (-1, "system busy") */
	size_t max_blob_bytes;
	/* Added by the pipeline (additive; zero/NULL keeps the default): */
	struct identity *identity;   /* shared; NULL: learn nothing */
	struct accesslog *accesslog; /* shared; NULL: no access lines */
	unsigned journal_timeout_ms; /* REQUEST deadline; 0: 5000 */
	/* WeCom callback routes (proxy/callback.h), or NULL: none. */
	struct callback_worker *callbacks;
};

typedef void (*exchange_reply_cb)(const struct http_response *resp, void *arg);

/*
 * Threads and lifetimes.  Everything runs on env->base's thread except the
 * journal's done callback, which runs on the journal writer thread and only
 * wakes the exchange with event_active() on an event of env->base: so
 * evthread_use_pthreads() must have been called before env->base was
 * created.  An exchange never frees itself while a journal callback is
 * pending, so detaching is always safe.
 *
 * env itself (not a copy) is used for the exchange's whole life, so it
 * must outlive every exchange started with it; its policy and scratch are
 * only used inside exchange_start().  Shutdown, on the thread that runs
 * env->base (or after it ended):
 *   1. stop accepting; run the base until upstream_pending() is 0 or the
 *      drain timeout passes;
 *   2. set env->upstream = NULL, then upstream_free() the upstream: calls
 *      in flight end with WW_ECLOSED and write their OUTCOME records;
 *      exchanges woken from now on refuse instead of forwarding;
 *   3. run the base once (EVLOOP_NONBLOCK), then set env->journal = NULL:
 *      exchanges woken from now on no longer touch the journal;
 *   4. journal_close() (it commits what is pending and calls every done
 *      callback), run the base once more so woken exchanges finish, and
 *      only then free env and the base.
 * exchange_start() with env->journal or env->upstream NULL refuses at once.
 *
 * Order (the one guarantee): the REQUEST record is durable before a byte
 * goes upstream.  The OUTCOME record is handed to the journal before the
 * client gets its answer, but the client does not wait for its commit (a
 * crash in between shows "outcome unknown", never a lost request).  A
 * journal that does not answer within journal_timeout_ms gets the client a
 * "system busy" refusal; the request is then never forwarded, even if the
 * record commits later (an OUTCOME then says so).
 *
 * Start an exchange for req.  reply_cb runs exactly once on env->base's
 * thread, possibly before exchange_start() returns (e.g. an early refusal),
 * unless exchange_detach() was called first.  *out (may be NULL) receives a
 * handle valid until reply_cb has run or the exchange was detached.
 * Returns WW_OK or WW_ENOMEM (then reply_cb never runs).
 */
int exchange_start(const struct exchange_env *env,
                   const struct exchange_client *client,
                   const struct http_request *req, exchange_reply_cb reply_cb,
                   void *arg, struct exchange **out);

/*
 * The client went away: never call reply_cb.  The exchange still finishes
 * its journal and upstream work (the OUTCOME record is still written) and
 * then frees itself.
 */
void exchange_detach(struct exchange *ex);

#endif
