/*
 * pending.c: one allocation per entry (the entry and the front's data
 * behind it), a tail queue, one close path.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "ww.h"
#include "proxy/metrics.h"
#include "proxy/pending.h"

struct pending {
	TAILQ_ENTRY(pending) link;
	struct pending_set *set;
	int fd;
	struct event *ev, *timer;
	struct sockaddr_storage sa;
	socklen_t salen;
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	alignas(max_align_t) unsigned char data[];
};

struct pending_set {
	struct pending_env env;
	TAILQ_HEAD(, pending) entries;
	size_t count;
};

void
pending_addr_text(const struct sockaddr_storage *ss, char *out, size_t len,
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

void
pending_close(struct pending *p)
{
	struct pending_set *s = p->set;

	if (s->env.release != NULL)
		s->env.release(p, s->env.arg);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->fd >= 0)
		close(p->fd);
	TAILQ_REMOVE(&s->entries, p, link);
	s->count--;
	/* Counted until handed over (limits.max_connections). */
	if (s->env.metrics != NULL)
		metrics_add(s->env.metrics, METRICS_CONN_OPEN, -1);
	free(p);
}

static void
pending_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	p->set->env.on_read(p, p->set->env.arg);
}

static void
pending_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	p->set->env.on_timeout(p, p->set->env.arg);
}

int
pending_add(struct pending_set *s, int fd, const struct sockaddr *sa,
            socklen_t salen, unsigned timeout_ms, struct pending **out)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct pending *p = calloc(1, sizeof(*p) + s->env.data_size);

	if (out != NULL)
		*out = NULL;
	if (p == NULL) {
		close(fd);
		return WW_ENOMEM;
	}
	p->set = s;
	p->fd = fd;
	if (salen > sizeof(p->sa))
		salen = sizeof(p->sa);
	memcpy(&p->sa, sa, salen);
	p->salen = salen;
	pending_addr_text(&p->sa, p->addr, sizeof(p->addr), &p->port);
	TAILQ_INSERT_TAIL(&s->entries, p, link);
	s->count++;
	if (s->env.metrics != NULL)
		metrics_add(s->env.metrics, METRICS_CONN_OPEN, 1);
	evutil_make_socket_nonblocking(fd);
	/* Edge-triggered: an incomplete head waits for new bytes without
	   spinning on the ones already there. */
	p->ev = event_new(s->env.base, fd, EV_READ | EV_PERSIST | EV_ET,
	                  pending_on_read, p);
	p->timer = evtimer_new(s->env.base, pending_on_timer, p);
	if (p->ev == NULL || p->timer == NULL) {
		pending_close(p);
		return WW_ENOMEM;
	}
	event_add(p->ev, NULL);
	evtimer_add(p->timer, &tv);
	if (out != NULL)
		*out = p;
	return WW_OK;
}

void
pending_stop(struct pending *p)
{
	event_del(p->ev);
	event_del(p->timer);
}

int
pending_fd(const struct pending *p)
{
	return p->fd;
}

int
pending_take_fd(struct pending *p)
{
	int fd = p->fd;

	p->fd = -1;
	return fd;
}

void *
pending_data(struct pending *p)
{
	return p->data;
}

const struct sockaddr *
pending_sa(const struct pending *p, socklen_t *len)
{
	*len = p->salen;
	return (const struct sockaddr *)&p->sa;
}

const char *
pending_addr(const struct pending *p)
{
	return p->addr;
}

unsigned
pending_port(const struct pending *p)
{
	return p->port;
}

int
pending_set_new(const struct pending_env *env, struct pending_set **out)
{
	struct pending_set *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	TAILQ_INIT(&s->entries);
	*out = s;
	return WW_OK;
}

void
pending_close_all(struct pending_set *s)
{
	struct pending *p;

	while ((p = TAILQ_FIRST(&s->entries)) != NULL)
		pending_close(p);
}

void
pending_set_free(struct pending_set *s)
{
	if (s == NULL)
		return;
	pending_close_all(s);
	free(s);
}

size_t
pending_count(const struct pending_set *s)
{
	return s->count;
}
