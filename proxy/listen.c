/* listen.c: SO_REUSEPORT listeners with accept back-off. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "ww.h"
#include "log.h"
#include "proxy/conf.h"
#include "proxy/listen.h"

#define LISTEN_BACKLOG 1024
#define LISTEN_BACKOFF_MS 100

struct listen {
	struct evconnlistener *lev;
	struct event *resume;
	listen_accept_cb cb;
	void *arg;
	char address[64];
	unsigned long backoffs;
};

static void
listen_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                 struct sockaddr *sa, int salen, void *arg)
{
	struct listen *l = arg;

	(void)lev;
	l->cb(fd, sa, (socklen_t)salen, l->arg);
}

static void
listen_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listen *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->lev);
}

/* Out of descriptors: pause, then try again (never busy-loop). */
static void
listen_on_error(struct evconnlistener *lev, void *arg)
{
	struct listen *l = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, LISTEN_BACKOFF_MS * 1000};

	(void)lev;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		if (l->backoffs++ % 100 == 0)
			log_warnx("listen %s: accept: %s; pausing %d ms",
			          l->address, strerror(e), LISTEN_BACKOFF_MS);
		evconnlistener_disable(l->lev);
		evtimer_add(l->resume, &tv);
		return;
	}
	/* ECONNABORTED and the like: the next accept may well succeed. */
	log_debug("listen %s: accept: %s", l->address, strerror(e));
}

/*
 * TPROXY hands us connections addressed to other hosts; the kernel's
 * tproxy lookup only takes a listener marked transparent.  Setting it
 * needs CAP_NET_ADMIN (the kernel takes CAP_NET_RAW too): without it the
 * gateway must not start, since the firewall would divert traffic that
 * nothing takes.
 */
static int
listen_transparent(int fd, int family, char *err, size_t errlen)
{
	const char *opt =
	    family == AF_INET6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT";
	int one = 1, rc;

	if (family == AF_INET6)
		rc = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one,
		                sizeof(one));
	else
		rc = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	if (rc == 0)
		return WW_OK;
	if (errno == EPERM)
		snprintf(err, errlen,
		         "%s needs CAP_NET_ADMIN (or CAP_NET_RAW): %s", opt,
		         strerror(errno));
	else
		snprintf(err, errlen, "cannot set %s: %s", opt,
		         strerror(errno));
	return WW_EIO;
}

/*
 * The socket evconnlistener_new_bind() would make (keep-alive, address
 * and port reuse), plus IP_TRANSPARENT when asked; bound, not listening.
 */
static int
listen_socket(const struct sockaddr_storage *ss, socklen_t sslen,
              unsigned flags, int *out, char *err, size_t errlen)
{
	int fd, one = 1, rc = WW_EIO;

	*out = -1;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return WW_EIO;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
	    evutil_make_listen_socket_reuseable(fd) != 0 ||
	    evutil_make_listen_socket_reuseable_port(fd) != 0) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto out;
	}
	if ((flags & LISTEN_TRANSPARENT) &&
	    listen_transparent(fd, ss->ss_family, err, errlen) != WW_OK)
		goto out;
	if (bind(fd, (const struct sockaddr *)ss, sslen) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = WW_OK;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
listen_new(struct event_base *base, const char *address, unsigned flags,
           listen_accept_cb cb, void *arg, struct listen **out, char *err,
           size_t errlen)
{
	const unsigned lflags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct listen *l = NULL;
	char why[256];
	int fd = -1, rc;

	*out = NULL;
	if (conf_parse_address(address, &ss, &sslen) != WW_OK) {
		snprintf(err, errlen, "bad listen address %s", address);
		return WW_EINVAL;
	}
	rc = WW_ENOMEM;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto out;
	l->cb = cb;
	l->arg = arg;
	snprintf(l->address, sizeof(l->address), "%s", address);
	if ((l->resume = evtimer_new(base, listen_on_resume, l)) == NULL)
		goto out;
	if ((rc = listen_socket(&ss, sslen, flags, &fd, why, sizeof(why))) !=
	    WW_OK) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, why);
		goto out;
	}
	l->lev = evconnlistener_new(base, listen_on_accept, l, lflags,
	                            LISTEN_BACKLOG, fd);
	if (l->lev == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", address,
		         strerror(errno));
		close(fd);
		rc = WW_EIO;
		goto out;
	}
	evconnlistener_set_error_cb(l->lev, listen_on_error);
	*out = l;
	l = NULL;
	rc = WW_OK;
out:
	if (l != NULL) {
		if (l->resume != NULL)
			event_free(l->resume);
		free(l);
	}
	return rc;
}

unsigned
listen_conf_flags(const struct conf *conf, size_t i)
{
	if (conf->listen[i].mode == CONF_MODE_TRANSPARENT && conf->modes.tproxy)
		return LISTEN_TRANSPARENT;
	return 0;
}

int
listen_probe(const char *address, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1, rc = WW_OK;

	if (conf_parse_address(address, &ss, &sslen) != WW_OK) {
		snprintf(err, errlen, "bad listen address %s", address);
		return WW_EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address,
		         strerror(errno));
		rc = WW_EIO;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

void
listen_free(struct listen *l)
{
	if (l == NULL)
		return;
	evconnlistener_free(l->lev);
	event_free(l->resume);
	free(l);
}

unsigned long
listen_backoffs(const struct listen *l)
{
	return l->backoffs;
}
