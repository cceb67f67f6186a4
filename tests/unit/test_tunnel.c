/*
 * test_tunnel.c: the splice over real loopback sockets: bytes both ways
 * unchanged (a megabyte, so backpressure runs), the OK reply before the
 * first server byte, the failure reply when the connect fails, and
 * close_all at shutdown.  No journal: records are a no-op here.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>

#include "ww.h"
#include "proxy/tunnel.h"

struct fixture {
	struct event_base *base;
	struct journal *journal; /* stays NULL */
	struct tunnel_set *set;
	int lfd; /* the "server" listener */
	struct sockaddr_in addr;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	socklen_t len = sizeof(f->addr);
	struct tunnel_env env;

	assert_non_null(f);
	f->base = event_base_new();
	env = (struct tunnel_env){.base = f->base,
	                          .journal = &f->journal,
	                          .idle_ms = 5000,
	                          .connect_ms = 2000};
	assert_int_equal(tunnel_set_new(&env, &f->set), WW_OK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	f->addr.sin_family = AF_INET;
	f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&f->addr, len), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	getsockname(f->lfd, (struct sockaddr *)&f->addr, &len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tunnel_set_free(f->set);
	close(f->lfd);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* A connected pair: *cli is ours, the other end is the tunnel's. */
static int
client_pair(int *cli)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*cli = sv[0];
	return sv[1];
}

/* Run the loop until n bytes were read from fd into buf (bounded). */
static size_t
pump_read(struct fixture *f, int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 20000 && got < n; i++) {
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (r < 0)
			usleep(100);
	}
	return got;
}

static const struct tunnel_info info = {.client_addr = "127.0.0.1",
                                        .client_port = 1,
                                        .host = "pass.example.com",
                                        .decision = "passthrough"};

static void
test_splice(void **state)
{
	struct fixture *f = *state;
	size_t big = 1u << 20, sent = 0;
	uint8_t *out = malloc(big), *in = malloc(big), hello[19];
	int cli, srv = -1, tfd = client_pair(&cli);

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < big; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(tunnel_start(f->set, tfd, (struct sockaddr *)&f->addr,
	                              sizeof(f->addr), &info,
	                              "HTTP/1.1 200 OK\r\n\r\n", "FAIL"),
	                 WW_OK);
	for (int i = 0; i < 1000 && srv < 0; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		srv = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK);
		if (srv < 0)
			usleep(1000);
	}
	assert_true(srv >= 0);
	assert_int_equal(pump_read(f, cli, hello, sizeof(hello)),
	                 sizeof(hello));
	assert_memory_equal(hello, "HTTP/1.1 200 OK\r\n\r\n", sizeof(hello));
	assert_int_equal(tunnel_set_count(f->set), 1);
	/* client -> server, a megabyte: more than the backpressure mark */
	memset(in, 0, big);
	{
		size_t got = 0;
		for (int i = 0; i < 50000 && got < big; i++) {
			ssize_t w = sent < big ? send(cli, out + sent,
			                              big - sent, MSG_DONTWAIT)
			                       : 0;
			ssize_t r;
			if (w > 0)
				sent += (size_t)w;
			event_base_loop(f->base, EVLOOP_NONBLOCK);
			r = recv(srv, in + got, big - got, MSG_DONTWAIT);
			if (r > 0)
				got += (size_t)r;
			else
				usleep(50);
		}
		assert_int_equal(got, big);
	}
	assert_memory_equal(in, out, big);
	/* server -> client */
	assert_int_equal(send(srv, "pong", 4, 0), 4);
	assert_int_equal(pump_read(f, cli, in, 4), 4);
	assert_memory_equal(in, "pong", 4);
	/* the server closes: the tunnel ends */
	close(srv);
	for (int i = 0; i < 1000 && tunnel_set_count(f->set) > 0; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	assert_int_equal(tunnel_set_count(f->set), 0);
	close(cli);
	free(out);
	free(in);
}

static void
test_connect_fails(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in dead = f->addr;
	uint8_t buf[8];
	int cli, tfd = client_pair(&cli), s;
	socklen_t len = sizeof(dead);

	/* a port nothing listens on: bind one, close it */
	s = socket(AF_INET, SOCK_STREAM, 0);
	dead.sin_port = 0;
	assert_int_equal(bind(s, (struct sockaddr *)&dead, len), 0);
	getsockname(s, (struct sockaddr *)&dead, &len);
	close(s);
	assert_int_equal(tunnel_start(f->set, tfd, (struct sockaddr *)&dead,
	                              sizeof(dead), &info, "OK", "FAIL"),
	                 WW_OK);
	assert_int_equal(pump_read(f, cli, buf, 4), 4);
	assert_memory_equal(buf, "FAIL", 4);
	for (int i = 0; i < 1000 && tunnel_set_count(f->set) > 0; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	assert_int_equal(tunnel_set_count(f->set), 0);
	close(cli);
}

static void
test_close_all(void **state)
{
	struct fixture *f = *state;
	int cli, tfd = client_pair(&cli);
	ssize_t r = -1;
	uint8_t b;

	assert_int_equal(tunnel_start(f->set, tfd, (struct sockaddr *)&f->addr,
	                              sizeof(f->addr), &info, NULL, NULL),
	                 WW_OK);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(tunnel_set_count(f->set), 1);
	tunnel_set_close_all(f->set);
	assert_int_equal(tunnel_set_count(f->set), 0);
	/* the sockets close once the loop has run the deferred frees */
	for (int i = 0; i < 2000 && (r = recv(cli, &b, 1, MSG_DONTWAIT)) < 0;
	     i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	assert_int_equal(r, 0); /* end of file, not a timeout */
	close(cli);
	/* the record needs no journal */
	assert_int_equal(tunnel_record(NULL, &info, 1, 2, 3, "x"), WW_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_splice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_fails, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_close_all, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
