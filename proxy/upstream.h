/*
 * upstream.h: calls to the one configured WeCom upstream, through a libcurl
 * multi handle driven by a worker's event base (DESIGN.md, "Threads").
 *
 * One struct upstream per worker; it is not thread-safe and every function
 * here runs on that worker's thread.  Only the host of opts->url is ever
 * contacted: the caller passes a path and a query, never a host, and the
 * URL built from them is checked to name the configured scheme, host and
 * port before it is used (guarantee 7: not an open proxy).  Redirects are
 * never followed; only the configured URL's scheme is allowed.
 */
#ifndef WW_UPSTREAM_H
#define WW_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/exchange.h" /* struct http_header */

struct event_base;
struct upstream;      /* opaque: one worker's curl multi handle */
struct upstream_call; /* opaque: one call in flight */

struct upstream_opts {
	const char *url;     /* "https://qyapi.weixin.qq.com" (a path prefix
	                        is allowed; the request path is appended) */
	const char *ca_file; /* PEM bundle to verify against; NULL: system */
	long timeout_ms;     /* whole call; 0: 30000 */
	const char *proxy;   /* egress proxy URL, or NULL for none (the
	                        environment's *_proxy variables are ignored) */
	const char *const *resolve; /* NULL-terminated "host:port:addr[,addr]"
	                               entries (CURLOPT_RESOLVE), or NULL */
	size_t max_response_bytes;  /* 0: 32 MiB */
	size_t max_idle_handles;    /* pooled easy handles kept; 0: 64 */
	/* Upstream connections kept open for reuse (CURLMOPT_MAXCONNECTS);
	   0: 1024.  libcurl's default (4 x the transfers in flight) closes
	   connections after every burst of the journal's group commit, and
	   the next burst pays a TLS handshake per request. */
	long max_conns;
	/* Explicit and transparent modes (additive): host_ok(host,
	   host_arg) says whether upstream_request.host may be contacted
	   (1) or not (0); NULL: no request may name a host.  host_arg is
	   borrowed and must outlive the upstream.  A "host:port:addr:port"
	   resolve entry (an address with a port of its own) becomes a
	   CURLOPT_CONNECT_TO entry. */
	int (*host_ok)(const char *host, void *host_arg);
	void *host_arg;
};

/* One request to send; borrowed by upstream_send() for the call only. */
struct upstream_request {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* begins with '/', no query; percent-encoded
	                       here where needed */
	const char *query;  /* raw, without '?', forwarded as is; or NULL */
	const struct http_header *headers; /* the client's; hop-by-hop, Host,
	                                      Content-Length, Expect,
	                                      Accept-Encoding (answers must be
	                                      readable for the OUTCOME),
	                                      X-Forwarded-Host and Forwarded
	                                      are dropped */
	size_t n_headers;
	const uint8_t *body; /* copied */
	size_t body_len;
	const char *host; /* intercepted host, canonical (lower case, no
	                     trailing dot): https://HOST:443, which
	                     opts->host_ok must accept; NULL: the configured
	                     URL */
};

/* What came back; borrowed by the callback for the call only. */
struct upstream_result {
	int rc;            /* WW_OK: an HTTP answer arrived (any status);
	                      WW_ETIMEDOUT, WW_EUPSTREAM (connect, TLS,
	                      reset), WW_ELIMIT (answer too big), WW_ENOMEM,
	                      WW_ECLOSED (upstream_free() while in flight) */
	const char *error; /* what failed (no secrets), "" when rc == WW_OK */
	int sent;          /* 1 when request bytes left the gateway */
	int status;        /* HTTP status, 0 without an answer */
	const struct http_header *headers; /* minus hop-by-hop and
	                                      Content-Length */
	size_t n_headers;
	const uint8_t *body;
	size_t body_len;
	uint64_t latency_us;
};

typedef void (*upstream_cb)(const struct upstream_result *res, void *arg);

/*
 * A new upstream for base (borrowed; must outlive it).  opts strings are
 * copied.  Fails with WW_EINVAL (bad or non-http(s) URL: reason in err) or
 * WW_ENOMEM.
 */
int upstream_new(struct event_base *base, const struct upstream_opts *opts,
                 struct upstream **out, char *err, size_t errlen);

/*
 * Free up and every idle handle.  Calls still in flight end first: their
 * callbacks run with rc WW_ECLOSED (so their owners can finish and free
 * themselves).  upstream_free(NULL) is a no-op.
 */
void upstream_free(struct upstream *up);

/*
 * Start one call.  cb runs exactly once on the worker thread, never before
 * upstream_send() returns, unless upstream_cancel() comes first.  *out (may
 * be NULL) is valid until cb has started or the call was cancelled.
 * Returns WW_OK, WW_EINVAL (path not acceptable) or WW_ENOMEM; then cb
 * never runs.
 */
int upstream_send(struct upstream *up, const struct upstream_request *req,
                  upstream_cb cb, void *arg, struct upstream_call **out);

/* Abandon a call: its connection is closed and cb never runs. */
void upstream_cancel(struct upstream_call *call);

/* Calls in flight (tests, draining). */
size_t upstream_pending(const struct upstream *up);

/* New connections opened so far (connection reuse keeps it low). */
uint64_t upstream_connects(const struct upstream *up);

/* Whether the last call got an HTTP answer (for /readyz): 1, 0, or -1
 * when no call was made yet. */
int upstream_reachable(const struct upstream *up);

#endif
