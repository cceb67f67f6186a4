/*
 * tunnel.c: a splice between two bufferevents.  Each side's input is
 * moved to the other side's output as it arrives (no copy: evbuffer
 * chains move); reading from a side stops while the other side owes more
 * than TUNNEL_HIGH bytes, so memory stays bounded whatever the speeds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ww.h"
#include "log.h"
#include "store/journal.h"
#include "store/record.h"
#include "proxy/metrics.h"
#include "proxy/tunnel.h"

#define TUNNEL_HIGH (256u << 10) /* bytes owed to one side before backoff */

struct tunnel {
	TAILQ_ENTRY(tunnel) link;
	struct tunnel_set *set;
	struct bufferevent *cli, *srv;
	char *ok_reply, *fail_reply;
	char *addr, *sni, *user, *host, *dst, *decision;
	unsigned port;
	uint64_t up, down; /* client->server, server->client */
	struct timespec t0, last;
	int connected, closing;
	const char *reason; /* how it ended (static) */
};

struct tunnel_set {
	struct tunnel_env env;
	TAILQ_HEAD(, tunnel) tunnels;
	size_t count;
};

static uint64_t
tunnel_us_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000000u +
	       (uint64_t)((now.tv_nsec - t0->tv_nsec) / 1000);
}

static int
tunnel_set_client(Ww__Record *rec, const struct tunnel_info *in)
{
	Ww__Client *c = malloc(sizeof(*c));

	if (c == NULL)
		return WW_ENOMEM;
	ww__client__init(c);
	rec->client = c;
	c->port = in->client_port;
	if ((in->client_addr != NULL &&
	     record_set_str(&c->address, in->client_addr) != WW_OK) ||
	    (in->sni != NULL && record_set_str(&c->sni, in->sni) != WW_OK) ||
	    (in->proxy_user != NULL &&
	     record_set_str(&c->proxy_user, in->proxy_user) != WW_OK))
		return WW_ENOMEM;
	return WW_OK;
}

int
tunnel_record(struct journal *j, const struct tunnel_info *in,
              uint64_t bytes_up, uint64_t bytes_down, uint64_t duration_us,
              const char *end_reason)
{
	Ww__Record *rec;
	Ww__Tunnel *t;
	int rc = WW_ENOMEM;

	if (j == NULL)
		return WW_OK;
	if ((rec = record_new(WW__KIND__TUNNEL)) == NULL)
		return WW_ENOMEM;
	if ((t = malloc(sizeof(*t))) == NULL)
		goto out;
	ww__tunnel__init(t);
	rec->tunnel = t;
	t->bytes_up = bytes_up;
	t->bytes_down = bytes_down;
	t->duration_us = duration_us;
	if (tunnel_set_client(rec, in) != WW_OK ||
	    (in->host != NULL && record_set_str(&t->host, in->host) != WW_OK) ||
	    (in->original_dst != NULL &&
	     record_set_str(&t->original_dst, in->original_dst) != WW_OK) ||
	    record_set_str(&t->end_reason, end_reason) != WW_OK ||
	    (in->decision != NULL &&
	     record_set_str(&t->decision, in->decision) != WW_OK))
		goto out;
	rc = journal_append_take(j, rec, NULL, NULL);
	rec = NULL; /* taken, whatever rc says */
out:
	record_free(rec);
	if (rc != WW_OK)
		log_warnx("tunnel: TUNNEL record for %s not journaled: %s",
		          in->host != NULL ? in->host : "?", ww_strerror(rc));
	return rc;
}

static void
tunnel_free(struct tunnel *t)
{
	struct tunnel_info in = {.client_addr = t->addr,
	                         .client_port = t->port,
	                         .sni = t->sni,
	                         .proxy_user = t->user,
	                         .host = t->host,
	                         .original_dst = t->dst,
	                         .decision = t->decision};

	if (t->set != NULL) {
		tunnel_record(*t->set->env.journal, &in, t->up, t->down,
		              tunnel_us_since(&t->t0),
		              t->reason != NULL ? t->reason : "closed");
		TAILQ_REMOVE(&t->set->tunnels, t, link);
		t->set->count--;
		if (t->set->env.metrics != NULL)
			metrics_add(t->set->env.metrics, METRICS_CONN_OPEN, -1);
	}
	if (t->cli != NULL)
		bufferevent_free(t->cli);
	if (t->srv != NULL)
		bufferevent_free(t->srv);
	free(t->ok_reply);
	free(t->fail_reply);
	free(t->addr);
	free(t->sni);
	free(t->user);
	free(t->host);
	free(t->dst);
	free(t->decision);
	free(t);
}

/* The other side has written everything owed: the end. */
static void
tunnel_maybe_finish(struct tunnel *t)
{
	if (evbuffer_get_length(bufferevent_get_output(t->cli)) == 0 &&
	    (t->srv == NULL ||
	     evbuffer_get_length(bufferevent_get_output(t->srv)) == 0))
		tunnel_free(t);
}

static void
tunnel_on_read(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	struct bufferevent *to = bev == t->cli ? t->srv : t->cli;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (bev == t->cli)
		t->up += n;
	else
		t->down += n;
	clock_gettime(CLOCK_MONOTONIC, &t->last);
	evbuffer_add_buffer(bufferevent_get_output(to), in);
	if (evbuffer_get_length(bufferevent_get_output(to)) >= TUNNEL_HIGH) {
		/* Backpressure: read again once `to` has caught up. */
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, TUNNEL_HIGH / 2, 0);
	}
}

static void
tunnel_on_write(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	struct bufferevent *from = bev == t->cli ? t->srv : t->cli;

	if (t->closing) {
		tunnel_maybe_finish(t);
		return;
	}
	if (from != NULL && t->connected) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(from, EV_READ);
	}
}

static void
tunnel_end(struct tunnel *t, const char *reason)
{
	if (t->reason == NULL)
		t->reason = reason;
	t->closing = 1;
	bufferevent_disable(t->cli, EV_READ);
	if (t->srv != NULL)
		bufferevent_disable(t->srv, EV_READ);
	/* What one side said before it left still reaches the other. */
	bufferevent_setwatermark(t->cli, EV_WRITE, 0, 0);
	if (t->srv != NULL)
		bufferevent_setwatermark(t->srv, EV_WRITE, 0, 0);
	tunnel_maybe_finish(t);
}

static void
tunnel_on_connected(struct tunnel *t)
{
	t->connected = 1;
	if (t->ok_reply != NULL)
		bufferevent_write(t->cli, t->ok_reply, strlen(t->ok_reply));
	bufferevent_enable(t->cli, EV_READ | EV_WRITE);
	bufferevent_enable(t->srv, EV_READ | EV_WRITE);
}

static void
tunnel_on_timeout(struct tunnel *t, struct bufferevent *bev)
{
	unsigned idle = t->set->env.idle_ms;

	if (t->closing) {
		/* A side that stopped reading: drop what it is owed. */
		evbuffer_drain(
		    bufferevent_get_output(bev),
		    evbuffer_get_length(bufferevent_get_output(bev)));
		tunnel_maybe_finish(t);
		return;
	}
	if (!t->connected) {
		tunnel_end(t, "connect timeout");
		return;
	}
	/* One side quiet while the other talks is not idle. */
	if (tunnel_us_since(&t->last) / 1000 < idle) {
		bufferevent_enable(bev, EV_READ);
		return;
	}
	tunnel_end(t, "idle timeout");
}

static void
tunnel_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;
	int cli = bev == t->cli;

	if (what & BEV_EVENT_CONNECTED) {
		tunnel_on_connected(t);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		tunnel_on_timeout(t, bev);
		return;
	}
	if (!t->connected && !cli) {
		if (t->fail_reply != NULL)
			bufferevent_write(t->cli, t->fail_reply,
			                  strlen(t->fail_reply));
		bufferevent_free(t->srv);
		t->srv = NULL;
		tunnel_end(t, "connect failed");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		tunnel_end(t, cli ? "client closed" : "server closed");
		return;
	}
	/* A broken side cannot be written to: do not wait for it. */
	evbuffer_drain(bufferevent_get_output(bev),
	               evbuffer_get_length(bufferevent_get_output(bev)));
	tunnel_end(t, cli ? "client error" : "server error");
}

static char *
tunnel_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int
tunnel_copy_info(struct tunnel *t, const struct tunnel_info *in,
                 const char *ok_reply, const char *fail_reply)
{
	t->port = in->client_port;
	t->addr = tunnel_dup(in->client_addr);
	t->sni = tunnel_dup(in->sni);
	t->user = tunnel_dup(in->proxy_user);
	t->host = tunnel_dup(in->host);
	t->dst = tunnel_dup(in->original_dst);
	t->decision = tunnel_dup(in->decision);
	t->ok_reply = tunnel_dup(ok_reply);
	t->fail_reply = tunnel_dup(fail_reply);
	if ((in->client_addr && !t->addr) || (in->sni && !t->sni) ||
	    (in->proxy_user && !t->user) || (in->host && !t->host) ||
	    (in->original_dst && !t->dst) || (in->decision && !t->decision) ||
	    (ok_reply && !t->ok_reply) || (fail_reply && !t->fail_reply))
		return WW_ENOMEM;
	return WW_OK;
}

static int
tunnel_bevs(struct tunnel *t, int fd, const struct sockaddr *target,
            socklen_t tlen)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	const struct tunnel_env *env = &t->set->env;
	struct timeval idle = {env->idle_ms / 1000,
	                       (env->idle_ms % 1000) * 1000};
	struct timeval conn = {env->connect_ms / 1000,
	                       (env->connect_ms % 1000) * 1000};

	if ((t->cli = bufferevent_socket_new(env->base, fd, opts)) == NULL) {
		close(fd);
		return WW_ENOMEM;
	}
	if ((t->srv = bufferevent_socket_new(env->base, -1, opts)) == NULL)
		return WW_ENOMEM;
	bufferevent_setcb(t->cli, tunnel_on_read, tunnel_on_write,
	                  tunnel_on_event, t);
	bufferevent_setcb(t->srv, tunnel_on_read, tunnel_on_write,
	                  tunnel_on_event, t);
	bufferevent_set_timeouts(t->cli, &idle, &idle);
	bufferevent_set_timeouts(t->srv, &conn, &conn);
	/* Nothing is read from the client before the server is there. */
	bufferevent_disable(t->cli, EV_READ);
	if (bufferevent_socket_connect(t->srv, target, (int)tlen) != 0)
		return WW_EIO;
	bufferevent_set_timeouts(t->srv, &idle, &idle);
	return WW_OK;
}

int
tunnel_start(struct tunnel_set *s, int fd, const struct sockaddr *target,
             socklen_t tlen, const struct tunnel_info *info,
             const char *ok_reply, const char *fail_reply)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		close(fd);
		tunnel_record(*s->env.journal, info, 0, 0, 0, "out of memory");
		return WW_ENOMEM;
	}
	t->set = s;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	t->last = t->t0;
	TAILQ_INSERT_TAIL(&s->tunnels, t, link);
	s->count++;
	if (s->env.metrics != NULL)
		metrics_add(s->env.metrics, METRICS_CONN_OPEN, 1);
	rc = tunnel_copy_info(t, info, ok_reply, fail_reply);
	if (rc == WW_OK)
		rc = tunnel_bevs(t, fd, target, tlen);
	else
		close(fd);
	if (rc == WW_EIO) {
		/* The connect failed at once (e.g. no route). */
		if (t->fail_reply != NULL)
			bufferevent_write(t->cli, t->fail_reply,
			                  strlen(t->fail_reply));
		bufferevent_free(t->srv);
		t->srv = NULL;
		tunnel_end(t, "connect failed");
		return WW_OK;
	}
	if (rc != WW_OK) {
		t->reason = "out of memory";
		tunnel_free(t);
	}
	return rc;
}

int
tunnel_set_new(const struct tunnel_env *env, struct tunnel_set **out)
{
	struct tunnel_set *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	s->env = *env;
	TAILQ_INIT(&s->tunnels);
	*out = s;
	return WW_OK;
}

void
tunnel_set_close_all(struct tunnel_set *s)
{
	struct tunnel *t;

	while ((t = TAILQ_FIRST(&s->tunnels)) != NULL) {
		if (t->reason == NULL)
			t->reason = "shutdown";
		tunnel_free(t);
	}
}

void
tunnel_set_free(struct tunnel_set *s)
{
	if (s == NULL)
		return;
	tunnel_set_close_all(s);
	free(s);
}

size_t
tunnel_set_count(const struct tunnel_set *s)
{
	return s->count;
}
