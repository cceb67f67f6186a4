/* listen.c: SO_REUSEPORT listeners with accept back-off. */
#include "config.h"

#include <errno.h>
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

int
listen_new(struct event_base *base, const char *address, listen_accept_cb cb,
           void *arg, struct listen **out, char *err, size_t errlen)
{
	const unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	                       LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct listen *l;

	*out = NULL;
	if (conf_parse_address(address, &ss, &sslen) != WW_OK) {
		snprintf(err, errlen, "bad listen address %s", address);
		return WW_EINVAL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return WW_ENOMEM;
	l->cb = cb;
	l->arg = arg;
	snprintf(l->address, sizeof(l->address), "%s", address);
	l->resume = evtimer_new(base, listen_on_resume, l);
	if (l->resume == NULL) {
		free(l);
		return WW_ENOMEM;
	}
	l->lev = evconnlistener_new_bind(base, listen_on_accept, l, flags,
	                                 LISTEN_BACKLOG, (struct sockaddr *)&ss,
	                                 (int)sslen);
	if (l->lev == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", address,
		         strerror(errno));
		event_free(l->resume);
		free(l);
		return WW_EIO;
	}
	evconnlistener_set_error_cb(l->lev, listen_on_error);
	*out = l;
	return WW_OK;
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
