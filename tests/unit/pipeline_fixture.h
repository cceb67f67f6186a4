/*
 * pipeline_fixture.h: what the proxy pipeline's unit tests share: a temp
 * directory, a test CA (tests/mkcerts), a real tests/fake-wecom over TLS
 * as the upstream, and a bounded event loop.  TOP_SRCDIR and TOP_BUILDDIR
 * are compiled in.
 */
#ifndef WW_PIPELINE_FIXTURE_H
#define WW_PIPELINE_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;

/* The fake's name in certificates: resolved to 127.0.0.1 by CURLOPT_RESOLVE. */
#define FIXTURE_HOST "qyapi.weixin.qq.com"

struct fixture_fake {
	pid_t pid;
	unsigned port;
	char record[512];
	char url[256];     /* https://FIXTURE_HOST:port */
	char resolve[256]; /* FIXTURE_HOST:port:127.0.0.1 */
};

/* A new temp directory with certificates in it (ca.crt, server.*). */
int fixture_dir(char *out, size_t len);
void fixture_rmrf(const char *dir);

/* Start fake-wecom in dir with extra arguments (NULL-terminated). */
int fixture_fake_start(const char *dir, const char *const *extra,
                       struct fixture_fake *f);
void fixture_fake_stop(struct fixture_fake *f);

/* A loopback port with nothing listening on it. */
unsigned fixture_dead_port(void);

/* Run base until *done is non-zero or timeout_ms passed; 0 if done. */
int fixture_loop(struct event_base *base, const int *done, int timeout_ms);

/* The whole file (NUL-terminated, malloc'ed), or NULL. */
char *fixture_slurp(const char *path, size_t *len);
/* Lines in a file (0 when missing). */
size_t fixture_lines(const char *path);

#endif
