/*
 * conn.h: client connections: TLS, HTTP/1.1 over a bufferevent, and the
 * hand-off of each request to an exchange (DESIGN.md, "Data flow").
 *
 * A connection lives on one worker from accept to close; everything here
 * runs on that worker's thread.  Requests are read with http1.c and
 * handed to exchange_start() in arrival order; answers may come back in
 * any order but are written in request order (pipelining, RFC 9112 §9.3.2).
 * A protocol error (400, 408, 413, 417) is answered after the answers
 * already owed, then the connection is closed.  When the client goes away
 * first, its exchanges are detached (they still finish their journal
 * work).
 *
 * Connections of one worker are kept in a struct conn_set, which is how
 * the worker drains them on SIGTERM and frees what is left at the end.
 */
#ifndef WW_CONN_H
#define WW_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "proxy/conf.h"
#include "proxy/exchange.h"

struct event_base;
struct metrics;
struct conn;     /* opaque: one client connection */
struct conn_set; /* opaque: one worker's connections */

/* What a worker gives its connections (all borrowed; must outlive them). */
struct conn_env {
	struct event_base *base;
	const struct conf_limits *limits;
	/* Read at every request, so a reload takes effect for the next one. */
	const struct exchange_env *xenv;
	struct metrics *metrics; /* or NULL */
	unsigned worker;         /* for connection ids in logs */
};

/* A new, empty set.  WW_OK or WW_ENOMEM. */
int conn_set_new(const struct conn_env *env, struct conn_set **out);

/*
 * Close every connection now (their exchanges are detached) and free s.
 * NULL is a no-op.
 */
void conn_set_free(struct conn_set *s);

/* Close every connection now (their exchanges are detached); keep s. */
void conn_set_close_all(struct conn_set *s);

/* Connections open in s. */
size_t conn_set_count(const struct conn_set *s);

/*
 * Shutting down: idle connections close now; the others stop reading and
 * close once the answers they owe are written.
 */
void conn_set_drain(struct conn_set *s);

/*
 * Serve fd (taken: closed on every path) from peer sa.  With tls non-NULL
 * the connection does a server handshake first (tls gets one more
 * reference for the connection's SSL).  WW_OK or WW_ENOMEM.
 */
int conn_accept(struct conn_set *s, int fd, const struct sockaddr *sa,
                socklen_t salen, SSL_CTX *tls);

/*
 * Explicit and transparent modes: where an intercepted connection comes
 * from (strings copied).  The client's SNI must name host (no domain
 * fronting through a CONNECT to another host); every request is sent to
 * https://host (exchange_client.host).
 */
struct conn_origin {
	const char *host;       /* canonical intercepted host */
	const char *proxy_user; /* Proxy-Authorization user, or NULL */
};

/*
 * conn_accept() for an intercepted connection: TLS (tls, the minting
 * context) or, with tls NULL, plain HTTP proxy requests in absolute form.
 * A request whose Host names another host is refused (400).
 */
int conn_accept_origin(struct conn_set *s, int fd, const struct sockaddr *sa,
                       socklen_t salen, SSL_CTX *tls,
                       const struct conn_origin *origin);

/* Log lines prefixed with the connection id, peer and SNI. */
void conn_log_warnx(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conn_log_info(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conn_log_debug(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
