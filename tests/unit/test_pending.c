/*
 * test_pending.c: the set of accepted sockets not yet handed off: add,
 * count, read and timeout callbacks on a real event base, taking a
 * socket, close-all, free with entries left, the gauge and release.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "ww.h"
#include "proxy/metrics.h"
#include "proxy/pending.h"

/* What the callbacks saw (the test's env.arg). */
struct seen {
	int reads, timeouts, releases;
	int close_on_read; /* on_read closes the entry */
	int take_on_read;  /* on_read takes the socket, then closes */
	int taken;         /* the socket on_read took, or -1 */
	struct event_base *base;
};

/* The front's per-entry data in these tests. */
struct data {
	int tag;
	char bytes[3];
};

static void
on_read(struct pending *p, void *arg)
{
	struct seen *s = arg;
	char c;

	s->reads++;
	assert_int_equal(recv(pending_fd(p), &c, 1, MSG_PEEK), 1);
	if (s->take_on_read) {
		s->taken = pending_take_fd(p);
		assert_int_equal(pending_fd(p), -1);
		pending_close(p);
	} else if (s->close_on_read) {
		pending_close(p);
	}
	event_base_loopbreak(s->base);
}

static void
on_timeout(struct pending *p, void *arg)
{
	struct seen *s = arg;

	s->timeouts++;
	pending_close(p);
	event_base_loopbreak(s->base);
}

static void
on_release(struct pending *p, void *arg)
{
	struct seen *s = arg;
	struct data *d = pending_data(p);

	assert_int_equal(d->tag, 42);
	s->releases++;
}

struct fixture {
	struct event_base *base;
	struct metrics *metrics;
	struct pending_set *set;
	struct seen seen;
};

static int
setup(void **state)
{
	static struct fixture f;
	struct pending_env env = {.data_size = sizeof(struct data),
	                          .on_read = on_read,
	                          .on_timeout = on_timeout,
	                          .release = on_release};

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	assert_non_null(f.base);
	assert_int_equal(metrics_new(&f.metrics), WW_OK);
	f.seen.base = f.base;
	f.seen.taken = -1;
	env.base = f.base;
	env.metrics = f.metrics;
	env.arg = &f.seen;
	assert_int_equal(pending_set_new(&env, &f.set), WW_OK);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	pending_set_free(f->set);
	assert_int_equal(metrics_get(f->metrics, METRICS_CONN_OPEN), 0);
	metrics_free(f->metrics);
	event_base_free(f->base);
	if (f->seen.taken >= 0)
		close(f->seen.taken);
	return 0;
}

/* Add one end of a new socketpair from 192.0.2.7:5555; *peer the other. */
static struct pending *
add(struct fixture *f, unsigned timeout_ms, int *peer)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(5555)};
	struct pending *p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	assert_int_equal(pending_add(f->set, sv[0], (struct sockaddr *)&sin,
	                             sizeof(sin), timeout_ms, &p),
	                 WW_OK);
	((struct data *)pending_data(p))->tag = 42;
	*peer = sv[1];
	return p;
}

/*
 * The peer's end sees EOF (a reset when bytes were left unread): the set
 * closed the socket it owned.
 */
static void
assert_closed(int peer)
{
	ssize_t n;
	char c;

	n = recv(peer, &c, 1, MSG_DONTWAIT);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
	close(peer);
}

static void
test_add_count_close_all(void **state)
{
	struct fixture *f = *state;
	struct pending *p;
	socklen_t len;
	int peer[3];

	assert_int_equal(pending_count(f->set), 0);
	for (int i = 0; i < 3; i++)
		p = add(f, 60000, &peer[i]);
	assert_int_equal(pending_count(f->set), 3);
	assert_int_equal(metrics_get(f->metrics, METRICS_CONN_OPEN), 3);
	assert_string_equal(pending_addr(p), "192.0.2.7");
	assert_int_equal(pending_port(p), 5555);
	assert_int_equal(pending_sa(p, &len)->sa_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	/* The socket was made non-blocking for the edge-triggered event. */
	assert_true(fcntl(pending_fd(p), F_GETFL) & O_NONBLOCK);
	pending_close_all(f->set);
	assert_int_equal(pending_count(f->set), 0);
	assert_int_equal(metrics_get(f->metrics, METRICS_CONN_OPEN), 0);
	assert_int_equal(f->seen.releases, 3);
	for (int i = 0; i < 3; i++)
		assert_closed(peer[i]);
	/* No event of a closed entry may fire. */
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(f->seen.reads + f->seen.timeouts, 0);
}

static void
test_free_with_entries_left(void **state)
{
	struct fixture *f = *state;
	int peer[2];

	add(f, 60000, &peer[0]);
	add(f, 60000, &peer[1]);
	pending_set_free(f->set);
	f->set = NULL;
	assert_int_equal(f->seen.releases, 2);
	assert_int_equal(metrics_get(f->metrics, METRICS_CONN_OPEN), 0);
	assert_closed(peer[0]);
	assert_closed(peer[1]);
}

static void
test_timeout_fires(void **state)
{
	struct fixture *f = *state;
	int slow, quiet;

	add(f, 20, &slow);
	add(f, 60000, &quiet);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(f->seen.timeouts, 1);
	assert_int_equal(f->seen.reads, 0);
	assert_int_equal(pending_count(f->set), 1);
	assert_closed(slow);
	pending_close_all(f->set);
	assert_closed(quiet);
}

static void
test_read_fires(void **state)
{
	struct fixture *f = *state;
	struct pending *p;
	int peer;

	p = add(f, 60000, &peer);
	assert_int_equal(send(peer, "x", 1, 0), 1);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(f->seen.reads, 1);
	/* Edge-triggered: the unread byte does not fire it again. */
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(f->seen.reads, 1);
	/* Stopped: neither new bytes nor the deadline fire any more. */
	pending_stop(p);
	assert_int_equal(send(peer, "y", 1, 0), 1);
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(f->seen.reads, 1);
	assert_int_equal(pending_count(f->set), 1);
	pending_close_all(f->set);
	assert_closed(peer);
}

static void
test_read_closes_or_takes(void **state)
{
	struct fixture *f = *state;
	char c;
	int a, b;

	add(f, 60000, &a);
	f->seen.close_on_read = 1;
	assert_int_equal(send(a, "x", 1, 0), 1);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(pending_count(f->set), 0);
	assert_closed(a);
	/* A taken socket outlives its entry. */
	add(f, 60000, &b);
	f->seen.take_on_read = 1;
	assert_int_equal(send(b, "y", 1, 0), 1);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(pending_count(f->set), 0);
	assert_int_equal(f->seen.releases, 2);
	assert_true(f->seen.taken >= 0);
	assert_int_equal(recv(f->seen.taken, &c, 1, 0), 1);
	assert_int_equal(c, 'y');
	close(b);
}

static void
test_addr_text(void **state)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char out[INET6_ADDRSTRLEN];
	unsigned port;

	(void)state;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(443);
	inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
	pending_addr_text(&ss, out, sizeof(out), &port);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(port, 443);
	ss.ss_family = AF_UNIX;
	pending_addr_text(&ss, out, sizeof(out), &port);
	assert_string_equal(out, "local");
	assert_int_equal(port, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_count_close_all, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_entries_left, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_fires, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_fires, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_closes_or_takes, setup,
	                                    teardown),
	    cmocka_unit_test(test_addr_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
