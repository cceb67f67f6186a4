/* worker.c: one event loop thread with its listeners and connections. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ww.h"
#include "log.h"
#include "policy/policy.h"
#include "proxy/accesslog.h"
#include "proxy/callback.h"
#include "proxy/conf.h"
#include "proxy/conn.h"
#include "proxy/connect.h"
#include "proxy/hostclass.h"
#include "proxy/exchange.h"
#include "proxy/listen.h"
#include "proxy/metrics.h"
#include "proxy/redirect.h"
#include "proxy/tls.h"
#include "proxy/tunnel.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

#define WORKER_TICK_MS 1000
#define WORKER_DRAIN_POLL_MS 20
#define WORKER_QUIET_POLLS 5
#define WORKER_GRACE_MS 5000 /* the exchange's journal deadline */

struct worker_lis {
	struct worker *w;
	size_t idx; /* into conf->listen */
	struct listen *l;
};

struct worker {
	struct worker_shared *sh;
	unsigned idx;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct event *ev_reload, *ev_stop, *ev_tick, *ev_drain;
	struct worker_lis *lis;
	size_t n_lis;
	struct conn_set *conns;
	struct connect_set *connects;   /* explicit: CONNECT phase, or NULL */
	struct tunnel_set *tunnels;     /* passthrough splices, or NULL */
	struct redirect_set *redirects; /* transparent: ClientHello peek */
	struct upstream *upstream;
	struct callback_worker *callbacks; /* NULL: no callback routes */
	struct policy_scratch *scratch;
	struct accesslog *alog; /* this worker's buffered view, or NULL */
	struct policy *policy;  /* xenv.policy: this worker's reference */
	SSL_CTX **tls;          /* this worker's references */
	struct exchange_env xenv;
	unsigned drain_ms;        /* set by worker_stop() before ev_stop */
	struct timeval drain_end; /* by the base's cached clock */
	unsigned long refused;    /* connections over max_connections */
	int reachable;            /* atomic */
	int stop_requested;       /* atomic: worker_stop() was called */
	int in_grace;             /* drain over: detached exchanges finish */
	unsigned quiet_polls;     /* drain polls in a row with nothing left */
};

static void
worker_on_accept(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct worker_lis *wl = arg;
	struct worker *w = wl->w;
	const struct conf *conf = w->sh->conf;
	int one = 1;

	if (metrics_get(w->sh->metrics, METRICS_CONN_OPEN) >=
	    (int64_t)conf->limits.max_connections) {
		if (w->refused++ % 1000 == 0)
			log_warnx("worker %u: limits.max_connections (%u) "
			          "reached; refusing connections",
			          w->idx, conf->limits.max_connections);
		close(fd);
		return;
	}
	/* Answers are small and written whole: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conf->listen[wl->idx].mode == CONF_MODE_EXPLICIT) {
		if (connect_accept(
		        w->connects, fd, sa, salen,
		        w->sh->auth != NULL ? w->sh->auth[wl->idx] : NULL,
		        hostclass_tls_for(w->sh->hostclass, wl->idx)) != WW_OK)
			log_warnx("worker %u: out of memory accepting a "
			          "connection",
			          w->idx);
		return;
	}
	if (conf->listen[wl->idx].mode == CONF_MODE_TRANSPARENT) {
		if (redirect_accept(
		        w->redirects, fd, sa, salen,
		        hostclass_tls_for(w->sh->hostclass, wl->idx)) != WW_OK)
			log_warnx("worker %u: out of memory accepting a "
			          "connection",
			          w->idx);
		return;
	}
	if (conn_accept(w->conns, fd, sa, salen, w->tls[wl->idx]) != WW_OK)
		log_warnx("worker %u: out of memory accepting a connection",
		          w->idx);
}

/* Take the shared snapshot; runs on the worker's thread. */
static void
worker_on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_shared *sh = w->sh;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&sh->lock);
	if (sh->policy != w->policy) {
		if (policy_scratch_fit(sh->policy, w->scratch) == WW_OK) {
			policy_unref(w->policy);
			w->policy = policy_ref(sh->policy);
			w->xenv.policy = w->policy;
		} else {
			log_warnx("worker %u: no scratch for the new policy; "
			          "keeping the old one",
			          w->idx);
		}
	}
	for (size_t i = 0; i < sh->conf->n_listen; i++) {
		if (sh->tls[i] == w->tls[i])
			continue;
		tls_ctx_unref(w->tls[i]);
		w->tls[i] = tls_ctx_ref(sh->tls[i]);
	}
	pthread_mutex_unlock(&sh->lock);
}

static void
worker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	__atomic_store_n(&w->reachable, upstream_reachable(w->upstream),
	                 __ATOMIC_RELAXED);
	accesslog_flush(w->alog); /* a quiet gateway's lines, within a tick */
}

/*
 * The drain time is up: close the connections left (their exchanges are
 * detached) and give those exchanges a grace period to finish for real
 * (upstream answer, OUTCOME record) rather than being cut short.
 */
static void
worker_drain_expired(struct worker *w, const struct timeval *now)
{
	unsigned ms = w->sh->conf->upstream.timeout_ms + WORKER_GRACE_MS;
	struct timeval grace = {ms / 1000, (ms % 1000) * 1000};

	log_warnx("worker %u: drain timeout: closing %zu connections; %zu "
	          "upstream calls get up to %u ms more",
	          w->idx, conn_set_count(w->conns),
	          upstream_pending(w->upstream), ms);
	conn_set_close_all(w->conns);
	w->in_grace = 1;
	w->quiet_polls = 0;
	evutil_timeradd(now, &grace, &w->drain_end);
}

static void
worker_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval now;
	size_t open, pending;

	(void)fd;
	(void)what;
	event_base_gettimeofday_cached(w->base, &now);
	open = conn_set_count(w->conns);
	pending = upstream_pending(w->upstream) +
	          callback_worker_pending(w->callbacks);
	/*
	 * Quiet for a few polls in a row: an exchange whose client left may
	 * be between its journal commit and its upstream call.
	 */
	w->quiet_polls = open == 0 && pending == 0 ? w->quiet_polls + 1 : 0;
	if (w->quiet_polls < WORKER_QUIET_POLLS &&
	    evutil_timercmp(&now, &w->drain_end, <))
		return;
	if (w->quiet_polls < WORKER_QUIET_POLLS && !w->in_grace) {
		worker_drain_expired(w, &now);
		return;
	}
	if (w->quiet_polls < WORKER_QUIET_POLLS)
		log_warnx("worker %u: %zu upstream calls still running; they "
		          "are cancelled",
		          w->idx, pending);
	event_base_loopexit(w->base, NULL);
}

static void
worker_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval now, tv = {0, WORKER_DRAIN_POLL_MS * 1000};
	struct timeval drain = {w->drain_ms / 1000,
	                        (w->drain_ms % 1000) * 1000};

	(void)fd;
	(void)what;
	for (size_t i = 0; i < w->n_lis; i++) {
		listen_free(w->lis[i].l);
		w->lis[i].l = NULL;
	}
	conn_set_drain(w->conns);
	/* Nothing to finish there: CONNECT heads and splices end now. */
	if (w->connects != NULL)
		connect_set_close_all(w->connects);
	if (w->redirects != NULL)
		redirect_set_close_all(w->redirects);
	if (w->tunnels != NULL)
		tunnel_set_close_all(w->tunnels);
	event_base_gettimeofday_cached(w->base, &now);
	evutil_timeradd(&now, &drain, &w->drain_end);
	event_add(w->ev_drain, &tv);
	worker_on_drain(-1, 0, w);
}

static int
worker_listen(struct worker *w, char *err, size_t errlen)
{
	const struct conf *conf = w->sh->conf;
	int rc;

	w->lis = calloc(conf->n_listen, sizeof(*w->lis));
	w->tls = calloc(conf->n_listen, sizeof(*w->tls));
	if (w->lis == NULL || w->tls == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < conf->n_listen; i++) {
		w->lis[i].w = w;
		w->lis[i].idx = i;
		w->tls[i] = tls_ctx_ref(w->sh->tls[i]);
		rc = listen_new(w->base, conf->listen[i].address,
		                listen_conf_flags(conf, i), worker_on_accept,
		                &w->lis[i], &w->lis[i].l, err, errlen);
		if (rc != WW_OK)
			return rc;
		w->n_lis = i + 1;
	}
	return WW_OK;
}

static int
worker_upstream(struct worker *w, char *err, size_t errlen)
{
	const struct conf_upstream *u = &w->sh->conf->upstream;
	struct upstream_opts opts = {
	    .url = u->url,
	    .ca_file = u->ca_file,
	    .timeout_ms = (long)u->timeout_ms,
	    .proxy = u->proxy,
	    .resolve = (const char *const *)u->resolve,
	    .host_ok = w->sh->hostclass != NULL ? hostclass_host_ok : NULL,
	    .host_arg = w->sh->hostclass,
	    /* one upstream connection per client connection at most */
	    .max_conns = (long)w->sh->conf->limits.max_connections,
	};

	return upstream_new(w->base, &opts, &w->upstream, err, errlen);
}

static int
worker_events(struct worker *w)
{
	struct timeval tick = {WORKER_TICK_MS / 1000, 0};

	w->ev_reload = event_new(w->base, -1, 0, worker_on_reload, w);
	w->ev_stop = event_new(w->base, -1, 0, worker_on_stop, w);
	w->ev_drain = event_new(w->base, -1, EV_PERSIST, worker_on_drain, w);
	w->ev_tick = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
	if (w->ev_reload == NULL || w->ev_stop == NULL || w->ev_drain == NULL ||
	    w->ev_tick == NULL)
		return WW_ENOMEM;
	event_add(w->ev_tick, &tick);
	return WW_OK;
}

static void
worker_fill_env(struct worker *w)
{
	const struct conf *conf = w->sh->conf;

	w->xenv = (struct exchange_env){
	    .base = w->base,
	    .journal = w->sh->journal,
	    .policy = w->policy,
	    .scratch = w->scratch,
	    .upstream = w->upstream,
	    .metrics = w->sh->metrics,
	    .gateway_id = conf->gateway_id,
	    .block_errcode = conf->refusal.block_errcode,
	    .busy_errcode = -1,
	    .max_blob_bytes = conf->journal.max_blob_bytes,
	    .identity = w->sh->identity,
	    .accesslog = w->alog,
	    .callbacks = w->callbacks,
	};
}

/* The explicit and transparent fronts, when a host class is configured. */
static int
worker_modes(struct worker *w)
{
	const struct conf *conf = w->sh->conf;
	struct tunnel_env tenv = {.base = w->base,
	                          .journal = &w->xenv.journal,
	                          .idle_ms = conf->limits.keepalive_timeout_ms,
	                          .connect_ms = conf->upstream.timeout_ms,
	                          .metrics = w->sh->metrics};
	struct connect_env cenv = {.base = w->base,
	                           .limits = &conf->limits,
	                           .hc = w->sh->hostclass,
	                           .conns = w->conns,
	                           .journal = &w->xenv.journal,
	                           .metrics = w->sh->metrics};
	struct redirect_env renv;
	int rc;

	if (w->sh->hostclass == NULL)
		return WW_OK;
	if ((rc = tunnel_set_new(&tenv, &w->tunnels)) != WW_OK)
		return rc;
	cenv.tunnels = w->tunnels;
	renv = (struct redirect_env){.base = w->base,
	                             .conf = conf,
	                             .limits = &conf->limits,
	                             .hc = w->sh->hostclass,
	                             .conns = w->conns,
	                             .tunnels = w->tunnels,
	                             .journal = &w->xenv.journal,
	                             .metrics = w->sh->metrics};
	if ((rc = redirect_set_new(&renv, &w->redirects)) != WW_OK)
		return rc;
	return connect_set_new(&cenv, &w->connects);
}

int
worker_new(struct worker_shared *sh, unsigned idx, struct worker **out,
           char *err, size_t errlen)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct conn_env cenv;
	int rc = WW_ENOMEM;

	*out = NULL;
	if (w == NULL || (w->base = event_base_new()) == NULL)
		goto out;
	w->sh = sh;
	w->idx = idx;
	w->reachable = -1;
	pthread_mutex_lock(&sh->lock);
	w->policy = policy_ref(sh->policy);
	pthread_mutex_unlock(&sh->lock);
	if ((rc = policy_scratch_new(w->policy, &w->scratch)) != WW_OK ||
	    (rc = accesslog_buffered(sh->accesslog, &w->alog)) != WW_OK ||
	    (rc = worker_upstream(w, err, errlen)) != WW_OK ||
	    (rc = callback_worker_new(w->base, sh->conf, sh->callback_seen,
	                              &w->callbacks, err, errlen)) != WW_OK ||
	    (rc = worker_events(w)) != WW_OK)
		goto out;
	worker_fill_env(w);
	cenv = (struct conn_env){.base = w->base,
	                         .limits = &sh->conf->limits,
	                         .xenv = &w->xenv,
	                         .metrics = sh->metrics,
	                         .worker = idx};
	if ((rc = conn_set_new(&cenv, &w->conns)) != WW_OK ||
	    (rc = worker_modes(w)) != WW_OK)
		goto out;
	rc = worker_listen(w, err, errlen);
out:
	if (rc == WW_ENOMEM && err != NULL)
		snprintf(err, errlen, "worker %u: out of memory", idx);
	if (rc != WW_OK)
		worker_free(w);
	else
		*out = w;
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t set;

	/* Signals are main()'s business. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	event_base_dispatch(w->base);
	return NULL;
}

int
worker_start(struct worker *w)
{
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return WW_ENOMEM;
	w->started = 1;
	return WW_OK;
}

void
worker_reload(struct worker *w)
{
	event_active(w->ev_reload, EV_TIMEOUT, 1);
}

void
worker_stop(struct worker *w, unsigned drain_ms)
{
	/* Only the first request counts: a later one must not cut the drain. */
	if (__atomic_exchange_n(&w->stop_requested, 1, __ATOMIC_ACQ_REL))
		return;
	w->drain_ms = drain_ms;
	/* The base's lock (evthread) orders drain_ms before the callback. */
	event_active(w->ev_stop, EV_TIMEOUT, 1);
}

void
worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = 0;
}

int
worker_upstream_reachable(const struct worker *w)
{
	return __atomic_load_n(&w->reachable, __ATOMIC_RELAXED);
}

static void
worker_free_events(struct worker *w)
{
	struct event *evs[] = {w->ev_reload, w->ev_stop, w->ev_tick,
	                       w->ev_drain};

	for (size_t i = 0; i < WW_NELEM(evs); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
}

void
worker_cancel(struct worker *w)
{
	/* The loop is over: its periodic events must not run again. */
	event_del(w->ev_drain);
	event_del(w->ev_tick);
	connect_set_free(w->connects);
	w->connects = NULL;
	redirect_set_free(w->redirects);
	w->redirects = NULL;
	tunnel_set_free(w->tunnels); /* TUNNEL records: the journal is open */
	w->tunnels = NULL;
	conn_set_free(w->conns);
	w->conns = NULL;
	/* Calls end through their callbacks: OUTCOME records, journal open. */
	w->xenv.upstream = NULL; /* a late wake-up refuses, never forwards */
	upstream_free(w->upstream);
	w->upstream = NULL;
	callback_worker_stop(w->callbacks);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	/*
	 * journal_close() comes next: exchanges it wakes find no journal and
	 * write nothing more (exchange.h, "Threads and lifetimes").
	 */
	w->xenv.journal = NULL;
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->base != NULL) {
		/* Exchanges woken by journal_close() finish now. */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	}
	connect_set_free(w->connects);
	redirect_set_free(w->redirects);
	tunnel_set_free(w->tunnels);
	conn_set_free(w->conns);
	callback_worker_free(w->callbacks);
	for (size_t i = 0; i < w->n_lis; i++)
		listen_free(w->lis[i].l);
	upstream_free(w->upstream);
	if (w->scratch != NULL)
		policy_scratch_free(w->scratch);
	policy_unref(w->policy);
	for (size_t i = 0; w->tls != NULL && i < w->sh->conf->n_listen; i++)
		tls_ctx_unref(w->tls[i]);
	free(w->tls);
	free(w->lis);
	worker_free_events(w);
	if (w->base != NULL)
		event_base_free(w->base);
	accesslog_close(w->alog); /* after the last exchange has logged */
	free(w);
}
