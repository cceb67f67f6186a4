/*
 * redirect.h: the transparent mode's front (issue 6).  The firewall
 * redirects port 443 to the gateway (iptables/nftables REDIRECT); the
 * gateway peeks at the ClientHello without consuming it (sni.h), learns
 * the original destination with getsockopt(SO_ORIGINAL_DST), and by the
 * SNI's host class (hostclass.h):
 *
 *   intercept    the same socket, ClientHello unread, goes to a struct
 *                conn with the minting TLS context;
 *   passthrough  a splice to the original destination (or to the
 *                upstream.resolve address of SNI:443), bytes untouched;
 *   refuse       a fatal TLS alert, then close.
 *
 * A ClientHello without SNI follows transparent.no_sni.  Traffic that is
 * not TLS, a malformed or oversized ClientHello, or one slower than
 * limits.handshake_timeout_ms is refused.  Every refusal and every
 * passthrough ends in a TUNNEL record.  A connection that was not
 * redirected (its original destination is the gateway itself) is
 * refused: splicing it would loop.
 *
 * With transparent.tproxy the firewall diverts without NAT (nftables
 * "tproxy to :PORT" on an IP_TRANSPARENT listener, listen.h): the
 * original destination is then the accepted socket's own local address,
 * and a connection was not redirected when that address is one a
 * listener is bound to (someone connected to the gateway directly).
 */
#ifndef WW_REDIRECT_H
#define WW_REDIRECT_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "proxy/conf.h"

struct event_base;
struct journal;
struct metrics;
struct hostclass;
struct conn_set;
struct tunnel_set;
struct redirect_set;

/* What a worker gives its transparent front (borrowed; outlive it). */
struct redirect_env {
	struct event_base *base;
	const struct conf *conf; /* transparent.tproxy, listen addresses */
	const struct conf_limits *limits;
	struct hostclass *hc;
	struct conn_set *conns;
	struct tunnel_set *tunnels;
	struct journal **journal; /* the worker's pointer (NULL at end) */
	struct metrics *metrics;  /* connections open, or NULL */
};

int redirect_set_new(const struct redirect_env *env, struct redirect_set **out);
void redirect_set_free(struct redirect_set *s); /* NULL is a no-op */
void redirect_set_close_all(struct redirect_set *s);
size_t redirect_set_count(const struct redirect_set *s);

/*
 * Serve fd (taken) from sa; tls is the listener's intercepting context
 * (hostclass_tls_for).  WW_OK or WW_ENOMEM.
 */
int redirect_accept(struct redirect_set *s, int fd, const struct sockaddr *sa,
                    socklen_t salen, SSL_CTX *tls);

#endif
