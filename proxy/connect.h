/*
 * connect.h: the explicit mode's front (issue 6): devices configured
 * with an HTTP proxy send "CONNECT host:443"; the gateway reads that
 * request (bounded in size and time), checks Proxy-Authorization when the
 * listener has an auth_file, and by the host's class (hostclass.h):
 *
 *   intercept    "200 Connection established", then the client's TLS is
 *                terminated with a minted certificate and every request
 *                goes through the exchange pipeline to https://host;
 *   passthrough  the server is connected first, then "200" and a splice
 *                (tunnel.h) with a TUNNEL record at the end;
 *   refuse       "403" and a TUNNEL record.
 *
 * A plain-HTTP request in absolute form ("POST http://host/path") to an
 * intercepted host is served like reverse mode (sent to https://host);
 * to any other host it is refused (403): this is no generic proxy.
 * Only port 443 is accepted; IP literals are refused (not host names);
 * a request head over 8 KiB (431) or slower than
 * limits.header_timeout_ms (408) is refused.  Bytes a client sends after
 * its CONNECT head without waiting for the 200 stay in the socket for the
 * handshake or the tunnel.  Everything runs on one worker's thread.
 */
#ifndef WW_CONNECT_H
#define WW_CONNECT_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "certs/hostlist.h"
#include "proxy/conf.h"

struct event_base;
struct journal;
struct metrics;
struct hostclass;
struct conn_set;
struct tunnel_set;
struct auth;
struct connect_set;

#define CONNECT_MAX_HEAD 8192
#define CONNECT_MAX_HEADERS 100

/* A parsed CONNECT request head (connect_parse). */
struct connect_req {
	char host[HOSTLIST_NAME_MAX]; /* as sent, not yet checked */
	unsigned port;
	char auth[1024]; /* Proxy-Authorization value, or "" */
	int absolute;    /* a plain "METHOD http://host/..." request */
	int status;      /* on error: 400, 405 */
	const char *error;
};

/*
 * Parse a request head of len bytes ending with "\r\n\r\n" (no NUL
 * needed).  WW_OK, or WW_EINVAL with out->status and out->error set.
 */
int connect_parse(const char *buf, size_t len, struct connect_req *out);

/* What a worker gives its explicit front (all borrowed; outlive it). */
struct connect_env {
	struct event_base *base;
	const struct conf_limits *limits;
	struct hostclass *hc;
	struct conn_set *conns;     /* intercepted connections go there */
	struct tunnel_set *tunnels; /* passthrough connections go there */
	struct journal **journal;   /* the worker's pointer (NULL at end) */
	struct metrics *metrics;    /* connections open, or NULL */
};

int connect_set_new(const struct connect_env *env, struct connect_set **out);

/* Close the connections still in their CONNECT phase; free s. */
void connect_set_free(struct connect_set *s);
void connect_set_close_all(struct connect_set *s);
size_t connect_set_count(const struct connect_set *s);

/*
 * Serve fd (taken) from sa: read its CONNECT.  auth (borrowed, may be
 * NULL: no authentication) and tls (hostclass_tls_for) are the
 * listener's.  WW_OK or WW_ENOMEM.
 */
int connect_accept(struct connect_set *s, int fd, const struct sockaddr *sa,
                   socklen_t salen, struct auth *auth, SSL_CTX *tls);

#endif
