/*
 * redirect.c: peek, classify, hand over.  The peek buffer is one per
 * worker (never more than SNI_RECORD_MAX bytes): a connection keeps
 * nothing of its own but its addresses while it waits for the rest of
 * its ClientHello, which an edge-triggered read event announces.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "log.h"
#include "proxy/conn.h"
#include "proxy/hostclass.h"
#include "proxy/pending.h"
#include "proxy/redirect.h"
#include "proxy/sni.h"
#include "proxy/tunnel.h"

/* A redirected connection waiting for its ClientHello: pending_data. */
struct peek {
	struct pending *pend; /* owns the socket until it is handed over */
	struct redirect_set *set;
	SSL_CTX *tls; /* the listener's intercepting context */
	struct sockaddr_storage dst;
	socklen_t dstlen;
	char dsttext[INET6_ADDRSTRLEN + 8];
};

struct redirect_set {
	struct redirect_env env;
	int tproxy;                    /* transparent.tproxy */
	struct sockaddr_storage *self; /* tproxy: the listeners' addresses */
	size_t n_self;
	struct pending_set *peeks;
	uint8_t buf[SNI_RECORD_MAX];
};

static void
redirect_info(const struct peek *p, const char *sni, const char *decision,
              struct tunnel_info *in)
{
	*in = (struct tunnel_info){.client_addr = pending_addr(p->pend),
	                           .client_port = pending_port(p->pend),
	                           .sni = sni[0] ? sni : NULL,
	                           .host = sni,
	                           .original_dst =
	                               p->dsttext[0] ? p->dsttext : NULL,
	                           .decision = decision};
}

/* A fatal alert (TLS 1.2 record framing, which every client reads). */
static void
redirect_refuse(struct peek *p, const char *sni, int alert,
                const char *decision, const char *reason)
{
	uint8_t rec[7] = {0x15, 3, 3, 0, 2, 2, (uint8_t)alert};
	int fd = pending_fd(p->pend);
	struct tunnel_info in;

	/* Read what was only peeked, so the close is no reset that would
	   swallow the alert. */
	for (int i = 0; i < 4 && recv(fd, p->set->buf, sizeof(p->set->buf),
	                              MSG_DONTWAIT) > 0;
	     i++)
		;
	if (alert > 0 &&
	    send(fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		shutdown(fd, SHUT_WR);
	log_info("transparent %s:%u to %s sni %s: refused: %s",
	         pending_addr(p->pend), pending_port(p->pend),
	         p->dsttext[0] ? p->dsttext : "?", sni[0] ? sni : "-", reason);
	redirect_info(p, sni, decision, &in);
	tunnel_record(*p->set->env.journal, &in, 0, 0, 0, reason);
	pending_close(p->pend);
}

static void
redirect_pass(struct peek *p, const char *sni)
{
	struct redirect_set *s = p->set;
	struct sockaddr_storage to = p->dst;
	socklen_t tlen = p->dstlen;
	struct tunnel_info in;
	int fd;

	if (p->dstlen == 0 &&
	    (sni[0] == '\0' ||
	     hostclass_target(s->env.hc, sni, 443, &to, &tlen) != WW_OK)) {
		redirect_refuse(p, sni, 80,
		                hostclass_decision_name(HOSTCLASS_REFUSE),
		                "no original destination");
		return;
	}
	if (sni[0] != '\0')
		hostclass_target(s->env.hc, sni, 443, &to, &tlen);
	redirect_info(p, sni, hostclass_decision_name(HOSTCLASS_PASSTHROUGH),
	              &in);
	fd = pending_take_fd(p->pend);
	if (tunnel_start(s->env.tunnels, fd, (struct sockaddr *)&to, tlen, &in,
	                 NULL, NULL) != WW_OK)
		log_warnx("transparent: out of memory for a tunnel");
	pending_close(p->pend);
}

static void
redirect_intercept(struct peek *p, const char *host)
{
	struct conn_origin o = {.host = host};
	const struct sockaddr *sa;
	socklen_t salen;
	int fd = pending_take_fd(p->pend);

	sa = pending_sa(p->pend, &salen);
	if (conn_accept_origin(p->set->env.conns, fd, sa, salen, p->tls, &o) !=
	    WW_OK)
		log_warnx("transparent: out of memory for a connection");
	pending_close(p->pend);
}

static void
redirect_decide(struct peek *p, enum sni_result r, const char *sni)
{
	char canon[HOSTLIST_NAME_MAX];
	enum hostclass_decision d;

	if (r == SNI_NOT_TLS) {
		redirect_refuse(p, "", 0, "undecodable", "not TLS");
		return;
	}
	if (r == SNI_BAD) {
		redirect_refuse(p, "", 50, "undecodable",
		                "malformed ClientHello");
		return;
	}
	if (r == SNI_NONE) {
		d = hostclass_no_sni(p->set->env.hc);
		canon[0] = '\0';
	} else {
		d = hostclass_decide(p->set->env.hc, sni, canon);
	}
	if (d == HOSTCLASS_INTERCEPT)
		redirect_intercept(p, canon);
	else if (d == HOSTCLASS_PASSTHROUGH)
		redirect_pass(p, canon);
	else
		redirect_refuse(p, canon[0] ? canon : "", 112,
		                hostclass_decision_name(HOSTCLASS_REFUSE),
		                r == SNI_NONE ? "no SNI" : "host not allowed");
}

/* Edge-triggered (pending.h): called again only when more bytes came. */
static void
redirect_on_read(struct pending *pend, void *arg)
{
	struct peek *p = pending_data(pend);
	struct redirect_set *s = arg;
	char sni[SNI_NAME_MAX];
	enum sni_result r;
	ssize_t n;

	n = recv(pending_fd(pend), s->buf, sizeof(s->buf), MSG_PEEK);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		redirect_refuse(p, "", 0, "undecodable",
		                "closed before a ClientHello");
		return;
	}
	r = sni_parse(s->buf, (size_t)n, sni);
	if (r == SNI_MORE)
		return; /* the edge-triggered event says when more came */
	pending_stop(pend);
	redirect_decide(p, r, sni);
}

static void
redirect_on_timer(struct pending *pend, void *arg)
{
	(void)arg;
	redirect_refuse(pending_data(pend), "", 0, "undecodable",
	                "ClientHello too slow");
}

/* Same address and port (sin_zero and the like do not count). */
static int
redirect_same(const struct sockaddr_storage *a,
              const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		       a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		       memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	return 0;
}

/* An IPv4 peer of a dual-stack socket as plain IPv4, for the records
   and for the passthrough's own connection. */
static void
redirect_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	const struct sockaddr_in6 *a6 = (const void *)ss;
	struct sockaddr_in a4 = {.sin_family = AF_INET};

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
		return;
	a4.sin_port = a6->sin6_port;
	memcpy(&a4.sin_addr, &a6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &a4, sizeof(a4));
	*len = sizeof(a4);
}

/* Is local an address listener accepts on (its own, or any when bound
   to the wildcard, an IPv6 one taking IPv4 too)? */
static int
redirect_bound(const struct sockaddr_storage *listener,
               const struct sockaddr_storage *local)
{
	const struct sockaddr_in *l4 = (const void *)listener;
	const struct sockaddr_in6 *l6 = (const void *)listener;
	const struct sockaddr_in *a4 = (const void *)local;
	const struct sockaddr_in6 *a6 = (const void *)local;

	if (listener->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr))
		return l6->sin6_port == (local->ss_family == AF_INET6
		                             ? a6->sin6_port
		                             : a4->sin_port);
	if (listener->ss_family == AF_INET && local->ss_family == AF_INET &&
	    l4->sin_addr.s_addr == htonl(INADDR_ANY))
		return l4->sin_port == a4->sin_port;
	return redirect_same(listener, local);
}

/* REDIRECT: NAT remembers where the client meant to go.  -1: not
   redirected (the destination is our own address). */
static int
redirect_nat_dst(int fd, int family, struct sockaddr_storage *dst,
                 socklen_t *dstlen)
{
	struct sockaddr_storage self;
	socklen_t selflen = sizeof(self);
	int rc;

	*dstlen = sizeof(*dst);
	if (family == AF_INET6)
		rc =
		    getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, dstlen);
	else
		rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, dstlen);
	if (rc != 0 ||
	    getsockname(fd, (struct sockaddr *)&self, &selflen) != 0 ||
	    redirect_same(&self, dst))
		return -1;
	return 0;
}

/* TPROXY: no NAT, our end of the connection is the client's destination.
   -1: not redirected (it is an address a listener is bound to). */
static int
redirect_tproxy_dst(const struct redirect_set *s, int fd,
                    struct sockaddr_storage *dst, socklen_t *dstlen)
{
	*dstlen = sizeof(*dst);
	if (getsockname(fd, (struct sockaddr *)dst, dstlen) != 0)
		return -1;
	redirect_unmap(dst, dstlen);
	for (size_t i = 0; i < s->n_self; i++)
		if (redirect_bound(&s->self[i], dst))
			return -1;
	return 0;
}

/*
 * Where the client meant to go.  Not redirected (the destination is our
 * own address): no destination, or a passthrough would loop to us.
 */
static void
redirect_original_dst(struct peek *p)
{
	socklen_t salen;
	const struct sockaddr *sa = pending_sa(p->pend, &salen);
	int fd = pending_fd(p->pend);
	char a[INET6_ADDRSTRLEN];
	unsigned port;
	int rc;

	if (p->set->tproxy)
		rc = redirect_tproxy_dst(p->set, fd, &p->dst, &p->dstlen);
	else
		rc = redirect_nat_dst(fd, sa->sa_family, &p->dst, &p->dstlen);
	if (rc != 0) {
		p->dstlen = 0;
		return;
	}
	pending_addr_text(&p->dst, a, sizeof(a), &port);
	snprintf(p->dsttext, sizeof(p->dsttext),
	         p->dst.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

int
redirect_accept(struct redirect_set *s, int fd, const struct sockaddr *sa,
                socklen_t salen, SSL_CTX *tls)
{
	struct pending *pend;
	struct peek *p;
	int rc;

	rc = pending_add(s->peeks, fd, sa, salen,
	                 s->env.limits->handshake_timeout_ms, &pend);
	if (rc != WW_OK)
		return rc;
	p = pending_data(pend);
	p->pend = pend;
	p->set = s;
	p->tls = tls;
	redirect_original_dst(p);
	return WW_OK;
}

/* tproxy: parse the listeners' addresses once, not per connection. */
static int
redirect_self(struct redirect_set *s)
{
	const struct conf *c = s->env.conf;
	socklen_t len;

	if (c == NULL || !c->modes.tproxy)
		return WW_OK;
	s->tproxy = 1;
	if ((s->self = calloc(c->n_listen, sizeof(*s->self))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < c->n_listen; i++)
		if (conf_parse_address(c->listen[i].address,
		                       &s->self[s->n_self], &len) == WW_OK)
			s->n_self++;
	return WW_OK;
}

int
redirect_set_new(const struct redirect_env *env, struct redirect_set **out)
{
	struct redirect_set *s = calloc(1, sizeof(*s));
	struct pending_env penv = {.base = env->base,
	                           .metrics = env->metrics,
	                           .data_size = sizeof(struct peek),
	                           .on_read = redirect_on_read,
	                           .on_timeout = redirect_on_timer};
	int rc;

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	penv.arg = s;
	if ((rc = redirect_self(s)) != WW_OK ||
	    (rc = pending_set_new(&penv, &s->peeks)) != WW_OK) {
		redirect_set_free(s);
		return rc;
	}
	*out = s;
	return WW_OK;
}

void
redirect_set_close_all(struct redirect_set *s)
{
	pending_close_all(s->peeks);
}

void
redirect_set_free(struct redirect_set *s)
{
	if (s == NULL)
		return;
	pending_set_free(s->peeks);
	free(s->self);
	free(s);
}

size_t
redirect_set_count(const struct redirect_set *s)
{
	return pending_count(s->peeks);
}
