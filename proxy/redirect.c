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
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "ww.h"
#include "log.h"
#include "proxy/conn.h"
#include "proxy/hostclass.h"
#include "proxy/metrics.h"
#include "proxy/redirect.h"
#include "proxy/sni.h"
#include "proxy/tunnel.h"

struct peek {
	TAILQ_ENTRY(peek) link;
	struct redirect_set *set;
	int fd;
	SSL_CTX *tls; /* the listener's intercepting context */
	struct event *ev, *timer;
	struct sockaddr_storage sa, dst;
	socklen_t salen, dstlen;
	char addr[INET6_ADDRSTRLEN], dsttext[INET6_ADDRSTRLEN + 8];
	unsigned port;
};

struct redirect_set {
	struct redirect_env env;
	TAILQ_HEAD(, peek) peeks;
	size_t count;
	uint8_t buf[SNI_RECORD_MAX];
};

static void
redirect_free(struct peek *p, int close_fd)
{
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->timer != NULL)
		event_free(p->timer);
	if (close_fd && p->fd >= 0)
		close(p->fd);
	TAILQ_REMOVE(&p->set->peeks, p, link);
	p->set->count--;
	/* Counted until handed over (limits.max_connections). */
	if (p->set->env.metrics != NULL)
		metrics_add(p->set->env.metrics, METRICS_CONN_OPEN, -1);
	free(p);
}

static void
redirect_info(const struct peek *p, const char *sni, const char *decision,
              struct tunnel_info *in)
{
	*in = (struct tunnel_info){.client_addr = p->addr,
	                           .client_port = p->port,
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
	struct tunnel_info in;

	/* Read what was only peeked, so the close is no reset that would
	   swallow the alert. */
	for (int i = 0; i < 4 && recv(p->fd, p->set->buf, sizeof(p->set->buf),
	                              MSG_DONTWAIT) > 0;
	     i++)
		;
	if (alert > 0 &&
	    send(p->fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		shutdown(p->fd, SHUT_WR);
	log_info("transparent %s:%u to %s sni %s: refused: %s", p->addr,
	         p->port, p->dsttext[0] ? p->dsttext : "?", sni[0] ? sni : "-",
	         reason);
	redirect_info(p, sni, decision, &in);
	tunnel_record(*p->set->env.journal, &in, 0, 0, 0, reason);
	redirect_free(p, 1);
}

static void
redirect_pass(struct peek *p, const char *sni)
{
	struct redirect_set *s = p->set;
	struct sockaddr_storage to = p->dst;
	socklen_t tlen = p->dstlen;
	struct tunnel_info in;
	int fd = p->fd;

	if (p->dstlen == 0 &&
	    (sni[0] == '\0' ||
	     hostclass_target(s->env.hc, sni, 443, &to, &tlen) != WW_OK)) {
		redirect_refuse(p, sni, 80, "refuse",
		                "no original destination");
		return;
	}
	if (sni[0] != '\0')
		hostclass_target(s->env.hc, sni, 443, &to, &tlen);
	redirect_info(p, sni, "passthrough", &in);
	p->fd = -1;
	if (tunnel_start(s->env.tunnels, fd, (struct sockaddr *)&to, tlen, &in,
	                 NULL, NULL) != WW_OK)
		log_warnx("transparent: out of memory for a tunnel");
	redirect_free(p, 0);
}

static void
redirect_intercept(struct peek *p, const char *host)
{
	struct conn_origin o = {.host = host};
	int fd = p->fd;

	p->fd = -1;
	if (conn_accept_origin(p->set->env.conns, fd, (struct sockaddr *)&p->sa,
	                       p->salen, p->tls, &o) != WW_OK)
		log_warnx("transparent: out of memory for a connection");
	redirect_free(p, 0);
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
		redirect_refuse(p, canon[0] ? canon : "", 112, "refuse",
		                r == SNI_NONE ? "no SNI" : "host not allowed");
}

static void
redirect_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct peek *p = arg;
	struct redirect_set *s = p->set;
	char sni[SNI_NAME_MAX];
	enum sni_result r;
	ssize_t n;

	(void)what;
	n = recv(fd, s->buf, sizeof(s->buf), MSG_PEEK);
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
	event_del(p->ev);
	event_del(p->timer);
	redirect_decide(p, r, sni);
}

static void
redirect_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	redirect_refuse(arg, "", 0, "undecodable", "ClientHello too slow");
}

static void
redirect_addr(const struct sockaddr_storage *ss, char *out, size_t len,
              unsigned *port)
{
	char a[INET6_ADDRSTRLEN] = "?";

	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		*port = ntohs(in->sin_port);
		snprintf(out, len, "%s", a);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		*port = ntohs(in6->sin6_port);
		snprintf(out, len, "%s", a);
	} else {
		snprintf(out, len, "local");
	}
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

/*
 * Where the client meant to go.  Not redirected (the destination is our
 * own address): no destination, or a passthrough would loop to us.
 */
static void
redirect_original_dst(struct peek *p)
{
	struct sockaddr_storage self;
	socklen_t selflen = sizeof(self);
	char a[INET6_ADDRSTRLEN];
	unsigned port;
	int rc;

	p->dstlen = sizeof(p->dst);
	if (p->sa.ss_family == AF_INET6)
		rc = getsockopt(p->fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &p->dst,
		                &p->dstlen);
	else
		rc = getsockopt(p->fd, SOL_IP, SO_ORIGINAL_DST, &p->dst,
		                &p->dstlen);
	if (rc != 0 ||
	    getsockname(p->fd, (struct sockaddr *)&self, &selflen) != 0 ||
	    redirect_same(&self, &p->dst)) {
		p->dstlen = 0;
		return;
	}
	redirect_addr(&p->dst, a, sizeof(a), &port);
	snprintf(p->dsttext, sizeof(p->dsttext),
	         p->dst.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

int
redirect_accept(struct redirect_set *s, int fd, const struct sockaddr *sa,
                socklen_t salen, SSL_CTX *tls)
{
	unsigned ms = s->env.limits->handshake_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct peek *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		close(fd);
		return WW_ENOMEM;
	}
	p->set = s;
	p->fd = fd;
	p->tls = tls;
	if (salen > sizeof(p->sa))
		salen = sizeof(p->sa);
	memcpy(&p->sa, sa, salen);
	p->salen = salen;
	redirect_addr(&p->sa, p->addr, sizeof(p->addr), &p->port);
	TAILQ_INSERT_TAIL(&s->peeks, p, link);
	s->count++;
	if (s->env.metrics != NULL)
		metrics_add(s->env.metrics, METRICS_CONN_OPEN, 1);
	evutil_make_socket_nonblocking(fd);
	redirect_original_dst(p);
	p->ev = event_new(s->env.base, fd, EV_READ | EV_PERSIST | EV_ET,
	                  redirect_on_read, p);
	p->timer = evtimer_new(s->env.base, redirect_on_timer, p);
	if (p->ev == NULL || p->timer == NULL) {
		redirect_free(p, 1);
		return WW_ENOMEM;
	}
	event_add(p->ev, NULL);
	evtimer_add(p->timer, &tv);
	return WW_OK;
}

int
redirect_set_new(const struct redirect_env *env, struct redirect_set **out)
{
	struct redirect_set *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	TAILQ_INIT(&s->peeks);
	*out = s;
	return WW_OK;
}

void
redirect_set_close_all(struct redirect_set *s)
{
	struct peek *p;

	while ((p = TAILQ_FIRST(&s->peeks)) != NULL)
		redirect_free(p, 1);
}

void
redirect_set_free(struct redirect_set *s)
{
	if (s == NULL)
		return;
	redirect_set_close_all(s);
	free(s);
}

size_t
redirect_set_count(const struct redirect_set *s)
{
	return s->count;
}
