/* pipeline_fixture.c: temp dirs, certificates, fake-wecom, event loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "tests/unit/pipeline_fixture.h"

static int
fixture_run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int
fixture_dir(char *out, size_t len)
{
	char mk[1024];
	char *argv[] = {"/bin/sh", mk, out, FIXTURE_HOST, NULL};
	const char *tmp = getenv("TMPDIR");

	snprintf(out, len, "%s/wwpipe.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(out) == NULL)
		return -1;
	snprintf(mk, sizeof(mk), "%s/tests/mkcerts", TOP_SRCDIR);
	return fixture_run(argv);
}

void
fixture_rmrf(const char *dir)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};

	if (dir != NULL && dir[0] != '\0')
		fixture_run(argv);
}

char *
fixture_slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (fp == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap + 4096) * 2);
			if (nb == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
	} while (r > 0);
	fclose(fp);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

size_t
fixture_lines(const char *path)
{
	char *s = fixture_slurp(path, NULL);
	size_t n = 0;

	for (char *p = s; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static void
fixture_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int
fixture_fake_start(const char *dir, const char *const *extra,
                   struct fixture_fake *f)
{
	char bin[1024], cert[600], key[600], portf[600];
	const char *argv[32];
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	snprintf(bin, sizeof(bin), "%s/tests/fake-wecom", TOP_BUILDDIR);
	snprintf(cert, sizeof(cert), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(portf, sizeof(portf), "%s/fake.port", dir);
	snprintf(f->record, sizeof(f->record), "%s/fake.jsonl", dir);
	unlink(portf);
	unlink(f->record);
	const char *base[] = {
	    bin, "--listen", "127.0.0.1:0", "--cert",      cert, "--key",
	    key, "--record", f->record,     "--port-file", portf};
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		/* never outlive a test that crashed */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200 && f->port == 0; i++) { /* <= 10 s */
		char *s = fixture_slurp(portf, NULL);
		if (s != NULL && strchr(s, '\n') != NULL)
			f->port = (unsigned)strtoul(s, NULL, 10);
		free(s);
		if (f->port == 0)
			fixture_sleep_ms(50);
	}
	snprintf(f->url, sizeof(f->url), "https://%s:%u", FIXTURE_HOST,
	         f->port);
	snprintf(f->resolve, sizeof(f->resolve), "%s:%u:127.0.0.1",
	         FIXTURE_HOST, f->port);
	return f->port != 0 ? 0 : -1;
}

void
fixture_fake_stop(struct fixture_fake *f)
{
	int st;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	for (int i = 0; i < 100; i++) { /* <= 5 s, then KILL */
		if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
			f->pid = 0;
			return;
		}
		fixture_sleep_ms(50);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	f->pid = 0;
}

unsigned
fixture_dead_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd); /* never listened: connecting is refused */
	return port;
}

int
fixture_loop(struct event_base *base, const int *done, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!*done) {
		struct timeval tv = {0, 20000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		        (now.tv_nsec - start.tv_nsec) / 1000000 >
		    timeout_ms)
			return -1;
	}
	return 0;
}
