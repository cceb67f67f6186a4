/*
 * wwgate.c: the daemon's main: options, configuration check, building the
 * shared state and the workers, signals, systemd notification, admin.
 *
 * Everything is built here and handed down; nothing is global.  Main's
 * own event base carries the signals and the admin listener only.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "ww.h"
#include "log.h"
#include "policy/policy.h"
#include "store/journal.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"
#include "proxy/accesslog.h"
#include "proxy/admin.h"
#include "proxy/auth.h"
#include "proxy/callback.h"
#include "proxy/conf.h"
#include "proxy/hostclass.h"
#include "proxy/identity.h"
#include "proxy/listen.h"
#include "proxy/metrics.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

struct opts {
	const char *file;
	int test;
	int level; /* -1: from the config */
};

struct gate {
	struct conf *conf;
	struct event_base *base;
	struct worker_shared sh;
	struct worker **workers;
	size_t n_workers;
	struct admin *admin;
	struct event *ev_sig[3];
	int stopping;
};

static const char wwgate_help[] =
    "usage: wwgate [-t] [-d] [-c FILE] [--log-level LEVEL]\n"
    "       wwgate --version | --help\n"
    "\n"
    "wwgate is the WeCom compliance gateway: it terminates TLS for WeCom API\n"
    "clients, judges every message against the policy, journals it durably,\n"
    "and only then forwards it to the configured upstream (or refuses it).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     configuration (default " CONF_DEFAULT_FILE ")\n"
    "  -t, --test            check the configuration, its certificates and\n"
    "                        the policy, print \"configuration ok\", exit\n"
    "  -d, --debug           log at debug level\n"
    "      --log-level LVL   error | warn | info | debug (overrides "
    "log.level)\n"
    "  -V, --version         print the version\n"
    "  -h, --help            this text\n"
    "\n"
    "signals:\n"
    "  SIGHUP                reload the policy, the TLS certificates and\n"
    "                        the interception CA;\n"
    "                        a policy that fails to compile is reported and\n"
    "                        the old one stays in force; connections stay up\n"
    "  SIGTERM, SIGINT       stop accepting, finish in-flight requests (up\n"
    "                        to drain_timeout_ms), flush the journal, exit 0\n"
    "\n"
    "files:\n"
    "  " CONF_DEFAULT_FILE "   configuration (wwgate(8))\n"
    "  journal.path/          the journal (read it with wwjournal(1))\n"
    "\n"
    "examples:\n"
    "  wwgate -c contrib/wwgate.yaml -t     check a configuration\n"
    "  wwgate -c contrib/wwgate.yaml        run in the foreground\n"
    "  kill -HUP $(pidof wwgate)            reload the policy\n"
    "  curl -s http://127.0.0.1:9090/metrics\n"
    "\n"
    "exit status: 0 on success or a clean stop, 1 on a bad configuration or\n"
    "a start-up failure, 2 on a usage error.  See wwgate(8).\n";

static int
wwgate_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"debug", no_argument, NULL, 'd'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){.file = CONF_DEFAULT_FILE, .level = -1};
	while ((ch = getopt_long(argc, argv, "c:tdVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 't':
			o->test = 1;
			break;
		case 'd':
			o->level = LOG_LEVEL_DEBUG;
			break;
		case 'L':
			if ((o->level = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "wwgate: bad log level '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case 'V':
			printf("wwgate %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			fputs(wwgate_help, stdout);
			exit(0);
		default:
			fputs(wwgate_help, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wwgate: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	return 0;
}

/* Compile the policy, printing every diagnostic. */
static int
wwgate_policy(const char *file, struct policy **out)
{
	struct policy_errors *errs = NULL;
	int rc = policy_load_file(file, out, &errs);

	if (rc != WW_OK) {
		size_t n = errs != NULL ? policy_errors_count(errs) : 0;

		for (size_t i = 0; i < n; i++)
			log_warnx("%s", policy_errors_get(errs, i));
		if (n == 0)
			log_warnx("%s: %s", file, ww_strerror(rc));
	}
	policy_errors_free(errs);
	return rc;
}

/*
 * listen[].client_ca: clients must present a certificate that verifies
 * against these CAs (the handshake fails otherwise); conn.c journals its
 * subject as the client's identity.
 */
static int
wwgate_client_ca(SSL_CTX *ctx, const char *file, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) * names;

	if (file == NULL)
		return WW_OK;
	if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(file)) == NULL) {
		snprintf(err, errlen, "client_ca: cannot load %s", file);
		return WW_EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return WW_OK;
}

/* Build a TLS context per listener into tls[]; report every failure. */
static int
wwgate_tls(const struct conf *conf, SSL_CTX **tls)
{
	char err[512];
	int rc = WW_OK;

	for (size_t i = 0; i < conf->n_listen; i++) {
		const struct conf_listen *l = &conf->listen[i];

		tls[i] = NULL;
		if (l->client_ca != NULL && l->mode == CONF_MODE_REVERSE &&
		    l->tls.cert == NULL) {
			log_warnx("%s:%d: listen[%zu].client_ca: needs tls "
			          "(clients present certificates in TLS)",
			          conf->file, l->where.line, i);
			rc = WW_EINVAL;
		}
		/* Explicit: plain CONNECT; both: TLS per host (hostclass). */
		if (l->mode != CONF_MODE_REVERSE)
			continue;
		if (l->tls.cert == NULL)
			continue;
		if (tls_ctx_new(&l->tls, &tls[i], err, sizeof(err)) != WW_OK ||
		    wwgate_client_ca(tls[i], l->client_ca, err, sizeof(err)) !=
		        WW_OK) {
			log_warnx("%s:%d: listen[%zu].tls: %s", conf->file,
			          l->where.line, i, err);
			rc = WW_EINVAL;
		}
	}
	return rc;
}

static void
wwgate_tls_free(SSL_CTX **tls, size_t n)
{
	for (size_t i = 0; tls != NULL && i < n; i++)
		tls_ctx_unref(tls[i]);
	free(tls);
}

/*
 * Journal a POLICY record: the text and digest every later verdict names
 * (issue 5, item 10).  Durability is the journal's business; a failure
 * shows in journal_healthy() and in the log.
 */
static void
wwgate_policy_done(int rc, uint64_t seq, void *arg)
{
	(void)arg;
	if (rc != WW_OK)
		log_warnx("journal: POLICY record failed: %s", ww_strerror(rc));
	else
		log_debug("journal: POLICY record %llu",
		          (unsigned long long)seq);
}

static int
wwgate_policy_record(struct journal *j, const struct policy *p)
{
	Ww__Record *rec = record_new(WW__KIND__POLICY);
	const char *text;
	size_t len;
	int rc = WW_ENOMEM;

	if (rec == NULL)
		return WW_ENOMEM;
	if ((rec->policy = malloc(sizeof(*rec->policy))) == NULL)
		goto out;
	ww__policy_info__init(rec->policy);
	text = policy_text(p, &len);
	if ((rc = record_set_str(&rec->policy->digest, policy_digest(p))) ||
	    (rc = record_set_str(&rec->policy->file, policy_file(p))) ||
	    (rc = record_set_bytes(&rec->policy->text, text, len)))
		goto out;
	return journal_append_take(j, rec, wwgate_policy_done, NULL);
out:
	record_free(rec);
	return rc;
}

/* Tell systemd (Type=notify) without libsystemd: one datagram. */
static void
wwgate_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) <
	    0)
		log_warn("sd_notify %s", msg);
	close(fd);
}

static void
wwgate_swap_tls(struct gate *g, SSL_CTX **tls)
{
	size_t n = g->conf->n_listen;
	SSL_CTX **old = g->sh.tls;

	pthread_mutex_lock(&g->sh.lock);
	g->sh.tls = tls;
	pthread_mutex_unlock(&g->sh.lock);
	wwgate_tls_free(old, n);
}

static void
wwgate_reload_tls(struct gate *g)
{
	SSL_CTX **tls = calloc(g->conf->n_listen, sizeof(*tls));

	if (tls == NULL || wwgate_tls(g->conf, tls) != WW_OK) {
		log_warnx("reload: TLS certificates not reloaded; the old ones "
		          "stay in use");
		wwgate_tls_free(tls, g->conf->n_listen);
		return;
	}
	wwgate_swap_tls(g, tls);
}

/* The interception CA, read again from intercept.ca's files. */
static void
wwgate_reload_ca(struct gate *g)
{
	char err[512];

	if (g->sh.hostclass == NULL)
		return;
	if (hostclass_reload_ca(g->sh.hostclass, g->conf, err, sizeof(err)) !=
	    WW_OK)
		log_warnx("reload: interception CA not reloaded (%s); the old "
		          "one stays in use",
		          err);
	else
		log_info("reload: interception CA %s in use for new "
		         "connections",
		         g->conf->modes.intercept.ca.cert);
}

/* SIGHUP: a new policy (and certificates) for new exchanges. */
static void
wwgate_reload(struct gate *g)
{
	struct policy *p = NULL, *old = NULL;

	log_info("reload: compiling %s", g->conf->policy.file);
	if (wwgate_policy(g->conf->policy.file, &p) != WW_OK) {
		metrics_add(g->sh.metrics, METRICS_RELOAD_FAIL, 1);
		log_warnx("reload: the policy does not compile; policy %.16s "
		          "stays in force",
		          policy_digest(g->sh.policy));
	} else if (strcmp(policy_digest(p), policy_digest(g->sh.policy)) == 0) {
		log_info("reload: policy %.16s unchanged", policy_digest(p));
		metrics_add(g->sh.metrics, METRICS_RELOAD_OK, 1);
		policy_unref(p);
		p = NULL;
	} else if (wwgate_policy_record(g->sh.journal, p) != WW_OK) {
		metrics_add(g->sh.metrics, METRICS_RELOAD_FAIL, 1);
		log_warnx("reload: cannot journal the new policy; the old one "
		          "stays in force");
		policy_unref(p);
		p = NULL;
	}
	if (p != NULL) {
		pthread_mutex_lock(&g->sh.lock);
		old = g->sh.policy;
		g->sh.policy = p;
		pthread_mutex_unlock(&g->sh.lock);
		policy_unref(old);
		metrics_add(g->sh.metrics, METRICS_RELOAD_OK, 1);
		log_info("reload: policy %.16s in force (%zu rules)",
		         policy_digest(p), policy_rule_count(p));
	}
	wwgate_reload_tls(g);
	wwgate_reload_ca(g);
	for (size_t i = 0; i < g->n_workers; i++)
		worker_reload(g->workers[i]);
}

static void
wwgate_stop(struct gate *g, int sig)
{
	if (g->stopping)
		return;
	g->stopping = 1;
	log_info("%s: stopping; draining for up to %u ms",
	         sig == SIGINT ? "SIGINT" : "SIGTERM",
	         g->conf->drain_timeout_ms);
	wwgate_notify("STOPPING=1");
	for (size_t i = 0; i < g->n_workers; i++)
		worker_stop(g->workers[i], g->conf->drain_timeout_ms);
	event_base_loopexit(g->base, NULL);
}

static void
wwgate_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gate *g = arg;

	(void)what;
	if (sig == SIGHUP && !g->stopping)
		wwgate_reload(g);
	else if (sig == SIGTERM || sig == SIGINT)
		wwgate_stop(g, (int)sig);
}

/* /readyz: journal writable, a policy in force, upstream answering. */
static int
wwgate_ready(void *arg, char *why, size_t whylen)
{
	struct gate *g = arg;
	int known = 0, up = 0;

	if (g->stopping) {
		snprintf(why, whylen, "stopping");
		return 0;
	}
	if (!journal_healthy(g->sh.journal)) {
		snprintf(why, whylen, "journal not writable");
		return 0;
	}
	for (size_t i = 0; i < g->n_workers; i++) {
		int r = worker_upstream_reachable(g->workers[i]);

		known += r >= 0;
		up += r == 1;
	}
	if (known > 0 && up == 0) {
		snprintf(why, whylen, "upstream not answering");
		return 0;
	}
	return 1;
}

static int
wwgate_read_secret(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return WW_EIO;
	n = fread(buf, 1, len - 1, fp);
	fclose(fp);
	while (n > 0 &&
	       (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n > 0 ? WW_OK : WW_EINVAL;
}

/* apps[]: name the apps whose secrets mint the tokens seen later. */
static int
wwgate_apps(struct gate *g)
{
	const struct conf *conf = g->conf;
	char secret[512], digest[SECRET_DIGEST_LEN];
	int rc = WW_OK;

	for (size_t i = 0; i < conf->n_apps && rc == WW_OK; i++) {
		const struct conf_app *a = &conf->apps[i];

		if (a->secret_file == NULL)
			continue;
		if (wwgate_read_secret(a->secret_file, secret,
		                       sizeof(secret)) != WW_OK) {
			log_warnx("apps[%zu].secret_file: cannot read %s", i,
			          a->secret_file);
			rc = WW_EINVAL;
			break;
		}
		secret_digest(journal_secret(g->sh.journal), secret,
		              strlen(secret), digest);
		explicit_bzero(secret, sizeof(secret));
		rc = identity_add_app(g->sh.identity, digest, a->name);
	}
	return rc;
}

/*
 * Explicit and transparent listeners: the host classes (CA, mint) and
 * each explicit listener's credentials file.
 */
static int
wwgate_modes(const struct conf *conf, struct worker_shared *sh)
{
	char err[512];
	int any = 0, transparent = 0, rc = WW_OK;

	for (size_t i = 0; i < conf->n_listen; i++) {
		any |= conf->listen[i].mode != CONF_MODE_REVERSE;
		transparent |= conf->listen[i].mode == CONF_MODE_TRANSPARENT;
	}
	if (conf->modes.tproxy && !transparent)
		log_warnx("%s: transparent.tproxy is set, but no listener has "
		          "mode transparent: it changes nothing",
		          conf->file);
	if (!any)
		return WW_OK;
	if (hostclass_new(conf, &sh->hostclass, err, sizeof(err)) != WW_OK) {
		log_warnx("%s: %s", conf->file, err);
		return WW_EINVAL;
	}
	if ((sh->auth = calloc(conf->n_listen, sizeof(*sh->auth))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < conf->n_listen; i++) {
		const struct conf_listen *l = &conf->listen[i];

		if (l->auth_file == NULL)
			continue;
		if (auth_load(l->auth_file, &sh->auth[i], err, sizeof(err)) !=
		    WW_OK) {
			log_warnx("%s:%d: listen[%zu].auth_file: %s",
			          conf->file, l->where.line, i, err);
			rc = WW_EINVAL;
		}
	}
	return rc;
}

static void
wwgate_modes_free(const struct conf *conf, struct worker_shared *sh)
{
	for (size_t i = 0; sh->auth != NULL && i < conf->n_listen; i++)
		auth_free(sh->auth[i]);
	free(sh->auth);
	sh->auth = NULL;
	hostclass_free(sh->hostclass);
	sh->hostclass = NULL;
}

/* Callback routes: read their secrets as the workers will. */
static int
wwgate_callbacks_check(const struct conf *conf)
{
	struct event_base *base;
	struct callback_worker *cw = NULL;
	char err[512];
	int rc;

	if (conf->n_callbacks == 0)
		return WW_OK;
	if ((base = event_base_new()) == NULL)
		return WW_ENOMEM;
	rc = callback_worker_new(base, conf, NULL, &cw, err, sizeof(err));
	if (rc != WW_OK)
		log_warnx("%s", err);
	callback_worker_free(cw);
	event_base_free(base);
	return rc;
}

/* Configuration, policy and certificates: what -t checks. */
static int
wwgate_check(struct gate *g, const struct opts *o)
{
	char err[4096];
	int rc;

	rc = conf_load(o->file, &g->conf, err, sizeof(err));
	if (rc != WW_OK) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	log_init("wwgate", o->level >= 0 ? o->level : g->conf->log.level, NULL,
	         g->conf->log.format == CONF_LOG_JSON);
	rc = wwgate_policy(g->conf->policy.file, &g->sh.policy);
	if ((g->sh.tls = calloc(g->conf->n_listen, sizeof(SSL_CTX *))) == NULL)
		return WW_ENOMEM;
	if (wwgate_tls(g->conf, g->sh.tls) != WW_OK)
		rc = WW_EINVAL;
	if (wwgate_modes(g->conf, &g->sh) != WW_OK)
		rc = WW_EINVAL;
	if (wwgate_callbacks_check(g->conf) != WW_OK)
		rc = WW_EINVAL;
	for (size_t i = 0; i < g->conf->n_apps; i++) {
		const char *f = g->conf->apps[i].secret_file;

		if (f != NULL && access(f, R_OK) != 0) {
			log_warn("apps[%zu].secret_file: %s", i, f);
			rc = WW_EINVAL;
		}
	}
	return rc;
}

static int
wwgate_journal(struct gate *g)
{
	const struct conf *c = g->conf;
	struct journal_opts jo = {
	    .path = c->journal.path,
	    .sync = c->journal.sync == CONF_SYNC_NONE ? JOURNAL_SYNC_NONE
	                                              : JOURNAL_SYNC_FULL,
	    .gateway_id = c->gateway_id,
	    .segment = c->journal.segment,
	    .checkpoint_every = c->journal.checkpoint_every,
	    .checkpoint_secs = c->journal.checkpoint_secs,
	    .checkpoint_file = c->journal.checkpoint_file,
	    .max_blob_bytes = c->journal.max_blob_bytes,
	    .commit_delay_us = c->journal.commit_delay_us,
	};
	char err[512];
	int rc = journal_open(&jo, &g->sh.journal, err, sizeof(err));

	if (rc != WW_OK)
		log_warnx("journal %s: %s", c->journal.path, err);
	return rc;
}

/* Shared parts: journal, metrics, access log, identity, first POLICY. */
static int
wwgate_shared(struct gate *g)
{
	int rc;

	if ((rc = wwgate_journal(g)) != WW_OK)
		return rc;
	if ((rc = metrics_new(&g->sh.metrics)) != WW_OK ||
	    (rc = identity_new(0, &g->sh.identity)) != WW_OK)
		return rc;
	if (g->conf->n_callbacks > 0 &&
	    (rc = callback_seen_new(&g->sh.callback_seen)) != WW_OK)
		return rc;
	if ((rc = accesslog_open(g->conf->log.access_log, &g->sh.accesslog)) !=
	    WW_OK) {
		log_warn("log.access_log %s", g->conf->log.access_log);
		return rc;
	}
	if ((rc = wwgate_apps(g)) != WW_OK)
		return rc;
	rc = wwgate_policy_record(g->sh.journal, g->sh.policy);
	if (rc == WW_OK)
		log_info("policy %.16s in force (%zu rules, %s)",
		         policy_digest(g->sh.policy),
		         policy_rule_count(g->sh.policy), g->conf->policy.file);
	return rc;
}

static unsigned
wwgate_nworkers(const struct conf *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->workers > 0)
		return c->workers;
	return n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
}

static int
wwgate_workers(struct gate *g)
{
	unsigned n = wwgate_nworkers(g->conf);
	char err[512];
	int rc;

	if ((g->workers = calloc(n, sizeof(*g->workers))) == NULL)
		return WW_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		rc = worker_new(&g->sh, i, &g->workers[i], err, sizeof(err));
		if (rc != WW_OK) {
			log_warnx("%s", err);
			return rc;
		}
		g->n_workers = i + 1;
	}
	return WW_OK;
}

/*
 * A gateway holds two descriptors per exchange (client and upstream):
 * take every descriptor the hard limit allows, and say when
 * max_connections cannot fit.
 */
static void
wwgate_nofile(const struct conf *c)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 2 * (rlim_t)c->limits.max_connections + 64)
		log_warnx("limits.max_connections %u needs about %u "
		          "descriptors; RLIMIT_NOFILE is %llu",
		          c->limits.max_connections,
		          2 * c->limits.max_connections + 64,
		          (unsigned long long)rl.rlim_cur);
}

static int
wwgate_signals(struct gate *g)
{
	static const int sigs[] = {SIGHUP, SIGTERM, SIGINT};

	for (size_t i = 0; i < WW_NELEM(sigs); i++) {
		g->ev_sig[i] =
		    evsignal_new(g->base, sigs[i], wwgate_on_signal, g);
		if (g->ev_sig[i] == NULL || event_add(g->ev_sig[i], NULL) != 0)
			return WW_ENOMEM;
	}
	return WW_OK;
}

static int
wwgate_start(struct gate *g)
{
	char err[512];
	int rc;

	wwgate_nofile(g->conf);
	/* Before the journal opens: a second gateway must not touch it. */
	for (size_t i = 0; i < g->conf->n_listen; i++) {
		rc = listen_probe(g->conf->listen[i].address, err, sizeof(err));
		if (rc != WW_OK) {
			log_warnx("listen[%zu]: %s", i, err);
			return rc;
		}
	}
	if ((g->base = event_base_new()) == NULL)
		return WW_ENOMEM;
	if ((rc = wwgate_shared(g)) != WW_OK || (rc = wwgate_workers(g)) ||
	    (rc = wwgate_signals(g)) != WW_OK)
		return rc;
	if (g->conf->admin.address != NULL) {
		rc = admin_new(g->base, g->conf->admin.address, g->sh.metrics,
		               wwgate_ready, g, &g->admin, err, sizeof(err));
		if (rc != WW_OK) {
			log_warnx("admin: %s", err);
			return rc;
		}
	}
	for (size_t i = 0; i < g->n_workers; i++)
		if ((rc = worker_start(g->workers[i])) != WW_OK)
			return rc;
	log_info("wwgate %s: %zu workers, %zu listeners, upstream %s",
	         PACKAGE_VERSION, g->n_workers, g->conf->n_listen,
	         g->conf->upstream.url);
	wwgate_notify("READY=1");
	return WW_OK;
}

/*
 * The order matters (exchange.h, "Threads and lifetimes", adapted): the
 * workers drain and stop; what is left is cancelled while the journal is
 * still open, so that aborted upstream calls write their OUTCOME records;
 * then the journal is flushed and closed; then the exchanges its last
 * callbacks woke run to their end, and everything is freed.
 */
static void
wwgate_shutdown(struct gate *g)
{
	for (size_t i = 0; i < g->n_workers; i++)
		worker_stop(g->workers[i], g->conf->drain_timeout_ms);
	for (size_t i = 0; i < g->n_workers; i++)
		worker_join(g->workers[i]);
	for (size_t i = 0; i < g->n_workers; i++)
		worker_cancel(g->workers[i]);
	admin_free(g->admin);
	journal_close(g->sh.journal);
	for (size_t i = 0; i < g->n_workers; i++)
		worker_free(g->workers[i]);
	free(g->workers);
	for (size_t i = 0; i < WW_NELEM(g->ev_sig); i++)
		if (g->ev_sig[i] != NULL)
			event_free(g->ev_sig[i]);
	if (g->base != NULL)
		event_base_free(g->base);
	accesslog_close(g->sh.accesslog);
	identity_free(g->sh.identity);
	callback_seen_free(g->sh.callback_seen);
	metrics_free(g->sh.metrics);
	policy_unref(g->sh.policy);
	if (g->conf != NULL) {
		wwgate_tls_free(g->sh.tls, g->conf->n_listen);
		wwgate_modes_free(g->conf, &g->sh);
	}
	conf_unref(g->conf);
	pthread_mutex_destroy(&g->sh.lock);
}

int
main(int argc, char **argv)
{
	struct gate g = {0};
	struct opts o;
	int rc;

	if ((rc = wwgate_args(argc, argv, &o)) != 0)
		return rc;
	log_init("wwgate", o.level >= 0 ? o.level : LOG_LEVEL_INFO, NULL, 0);
	pthread_mutex_init(&g.sh.lock, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before any base exists: workers are woken from other threads. */
	if (evthread_use_pthreads() != 0)
		fatalx("libevent without pthreads support");
	wecom_init(); /* jansson's allocator, before any thread uses jansson */
	rc = wwgate_check(&g, &o);
	if (o.test || rc != WW_OK) {
		if (rc == WW_OK)
			printf("configuration ok\n");
		else
			fprintf(stderr,
			        "wwgate: %s: configuration has errors\n",
			        o.file);
		wwgate_shutdown(&g);
		return rc == WW_OK ? 0 : 1;
	}
	g.sh.conf = g.conf;
	rc = wwgate_start(&g);
	if (rc == WW_OK)
		event_base_dispatch(g.base);
	else
		log_warnx("start-up failed: %s", ww_strerror(rc));
	wwgate_shutdown(&g);
	if (rc == WW_OK)
		log_info("stopped");
	return rc == WW_OK ? 0 : 1;
}
