/*
 * callback.h: the exchange for WeCom callbacks (issue 7, wecom-api.md 5).
 *
 * A request whose path is a configured callback route comes here instead
 * of exchange_start():
 *
 *   GET  (URL verification): verify the signature over echostr, decrypt
 *        it, journal, forward, pass the receiver's answer back.
 *   POST (message or event): verify, decrypt, check the ReceiveId and the
 *        timestamp window (callback.max_skew; outside it the callback is
 *        refused and recorded as a replay), decode the XML, judge it with
 *        the policy (direction inbound), journal a CALLBACK record and
 *        wait until it is durable, then forward the ORIGINAL encrypted
 *        request to the route's forward_to and pass the answer back.  An
 *        encrypted passive reply in that answer is decrypted, judged and
 *        journaled (CALLBACK, direction outbound) before it goes back.
 *
 * Blocked callbacks never reach the receiver; WeCom gets 200 "success".
 * A retry of a callback already journaled (same signature, inside the
 * window) is forwarded again but not journaled again.
 * Bad signatures, bad base64/padding/length/ReceiveId and undecodable XML
 * are recorded (CALLBACK records with decode_error and an outcome) and
 * answered 403/400, unless the route says on_bad_signature: forward.
 * When the journal fails or misses its deadline the callback is answered
 * 503 (WeCom retries), or forwarded when callback.on_journal_failure is
 * forward (counted as a journal failure and logged).
 *
 * Threads: one struct callback_worker per worker, used on its thread only
 * (like struct upstream).  It holds the routes' secrets (read once from
 * their files or environment variables) and one upstream per route.  The
 * retry table (struct callback_seen) is shared by all workers (a retry
 * arrives on a new connection, so usually on another worker); it locks
 * itself.
 */
#ifndef WW_CALLBACK_EXCHANGE_H
#define WW_CALLBACK_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/conf.h"
#include "proxy/exchange.h"

struct event_base;
struct callback_seen;     /* opaque: signatures journaled, thread-safe */
struct callback_worker;   /* opaque: one worker's routes */
struct callback_exchange; /* opaque: one callback in flight */

/* The shared retry table.  WW_OK or WW_ENOMEM. */
int callback_seen_new(struct callback_seen **out);
void callback_seen_free(struct callback_seen *t); /* after every worker */

/*
 * Routes for one worker; seen (borrowed, outlives cw) is the shared retry
 * table, or NULL for one of its own.  *out is NULL (and WW_OK) when conf has no
 * callbacks.  Secret files readable by others, missing files or
 * variables, and malformed keys are WW_EPERM / WW_ENOTFOUND / WW_EINVAL
 * with the reason (never the secret) in err.
 */
int callback_worker_new(struct event_base *base, const struct conf *conf,
                        struct callback_seen *seen,
                        struct callback_worker **out, char *err, size_t errlen);

/* Shut down the routes' upstreams: calls in flight end (502 answers). */
void callback_worker_stop(struct callback_worker *cw);
void callback_worker_free(struct callback_worker *cw); /* NULL: no-op */

/* Calls to internal receivers in flight (draining). */
size_t callback_worker_pending(const struct callback_worker *cw);

/* 1 when path is a callback route of cw (cw may be NULL: 0). */
int callback_match(const struct callback_worker *cw, const char *path);

/*
 * Start a callback exchange on env->callbacks' route for req->path.  Same
 * contract as exchange_start(): reply_cb runs exactly once on env->base's
 * thread unless callback_detach() comes first; *out (may be NULL) is
 * valid until then.  WW_OK, WW_ENOTFOUND (no such route; reply_cb never
 * runs) or WW_ENOMEM (reply_cb never runs).
 */
int callback_start(const struct exchange_env *env,
                   const struct exchange_client *client,
                   const struct http_request *req, exchange_reply_cb reply_cb,
                   void *arg, struct callback_exchange **out);

/* The client went away: reply_cb is never called; the work finishes. */
void callback_detach(struct callback_exchange *cbx);

#endif
