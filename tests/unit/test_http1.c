/* test_http1.c: the HTTP/1.1 request reader, through proxy/http1.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/http1.h"

static const struct http1_limits limits = {
    .max_header_bytes = 1024,
    .max_body_bytes = 100,
    .max_upload_bytes = 1000,
};

static struct http1 *
reader(void)
{
	struct http1 *h = NULL;

	assert_int_equal(http1_new(&limits, &h), WW_OK);
	return h;
}

static const char *
header(const struct http_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Feed all of text; expect an error with status and return its message. */
static const char *
expect_error(const char *text, int want)
{
	static char msgbuf[256];
	struct http1 *h = reader();
	size_t used, off = 0, len = strlen(text);
	enum http1_event ev = HTTP1_MORE;
	int status;
	long code;
	const char *msg;

	while (off < len) {
		ev = http1_feed(h, text + off, len - off, &used);
		off += used;
		if (ev == HTTP1_ERROR || (ev == HTTP1_MORE && used == 0))
			break;
	}
	if (ev != HTTP1_ERROR)
		fail_msg("no error for: %s", text);
	http1_error(h, &status, &code, &msg);
	if (status != want)
		fail_msg("status %d (%s), want %d: %s", status, msg, want,
		         text);
	snprintf(msgbuf, sizeof(msgbuf), "%s", msg);
	assert_int_equal(http1_feed(h, "GET", 3, &used), HTTP1_ERROR);
	http1_free(h);
	return msgbuf;
}

static void
test_simple(void **state)
{
	const char *req =
	    "POST /cgi-bin/message/send?access_token=T HTTP/1.1\r\n"
	    "Host: qyapi.weixin.qq.com\r\n"
	    "X-Empty:\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 7\r\n"
	    "\r\n"
	    "{\"a\":1}";
	struct http1 *h = reader();
	const struct http_request *r;
	size_t used;

	(void)state;
	assert_int_equal(http1_phase(h), HTTP1_IDLE);
	assert_int_equal(http1_feed(h, req, strlen(req), &used), HTTP1_REQUEST);
	assert_int_equal(used, strlen(req));
	r = http1_request(h);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/cgi-bin/message/send");
	assert_string_equal(r->query, "access_token=T");
	assert_int_equal(r->n_headers, 4);
	assert_string_equal(header(r, "Host"), "qyapi.weixin.qq.com");
	assert_string_equal(header(r, "X-Empty"), "");
	assert_string_equal(header(r, "Content-Type"), "application/json");
	assert_int_equal(r->body_len, 7);
	assert_memory_equal(r->body, "{\"a\":1}", 7);
	assert_true(http1_keep_alive(h));
	assert_int_equal(http1_phase(h), HTTP1_IDLE);
	http1_free(h);
	http1_free(NULL);
}

/* Byte by byte: every split point of every piece. */
static void
test_bytewise(void **state)
{
	const char *req = "POST http://evil.example/cgi-bin/gettoken?corpid=x "
	                  "HTTP/1.1\r\n"
	                  "Host: evil.example\r\n"
	                  "Transfer-Encoding: chunked\r\n"
	                  "\r\n"
	                  "3\r\nabc\r\n"
	                  "2;ext=1\r\nde\r\n"
	                  "0\r\nTrailer: x\r\n\r\n";
	struct http1 *h = reader();
	const struct http_request *r = NULL;
	size_t used, len = strlen(req);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		enum http1_event ev = http1_feed(h, req + i, 1, &used);

		assert_int_equal(used, 1);
		if (i == 0)
			assert_int_equal(http1_phase(h), HTTP1_HEADERS);
		if (i + 1 < len)
			assert_int_equal(ev, HTTP1_MORE);
		else
			assert_int_equal(ev, HTTP1_REQUEST);
	}
	r = http1_request(h);
	assert_string_equal(r->path, "/cgi-bin/gettoken"); /* host ignored */
	assert_string_equal(r->query, "corpid=x");
	assert_string_equal(header(r, "Transfer-Encoding"), "chunked");
	assert_int_equal(r->body_len, 5);
	assert_memory_equal(r->body, "abcde", 5);
	http1_free(h);
}

static void
test_pipelined(void **state)
{
	const char *reqs =
	    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	    "GET /b%2Fc HTTP/1.1\r\nHost: h\r\n\r\n"
	    "\r\nGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
	    "\r\n";
	const char *want[] = {"/a", "/b/c", "/c"};
	struct http1 *h = reader();
	size_t used, off = 0, len = strlen(reqs);

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(http1_feed(h, reqs + off, len - off, &used),
		                 HTTP1_REQUEST);
		off += used;
		assert_string_equal(http1_request(h)->path, want[i]);
		assert_null(http1_request(h)->query);
		assert_int_equal(http1_keep_alive(h), i < 2);
		assert_int_equal(http1_version(h), 11);
	}
	assert_int_equal(off, len);
	http1_free(h);
}

static void
test_http10(void **state)
{
	const char *reqs = "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	                   "GET /b HTTP/1.0\r\n\r\n";
	struct http1 *h = reader();
	size_t used, off = 0;

	(void)state;
	/* HTTP/1.0 needs no Host; keep-alive only when asked for. */
	assert_int_equal(http1_feed(h, reqs, strlen(reqs), &used),
	                 HTTP1_REQUEST);
	off += used;
	assert_int_equal(http1_version(h), 10);
	assert_true(http1_keep_alive(h));
	assert_int_equal(http1_feed(h, reqs + off, strlen(reqs) - off, &used),
	                 HTTP1_REQUEST);
	assert_string_equal(http1_request(h)->path, "/b");
	assert_false(http1_keep_alive(h));
	http1_free(h);
}

static void
test_continue(void **state)
{
	const char *head = "POST /cgi-bin/media/upload?type=file HTTP/1.1\r\n"
	                   "Host: h\r\nExpect: 100-continue\r\n"
	                   "Content-Length: 500\r\n\r\n";
	char body[500];
	struct http1 *h = reader();
	size_t used;

	(void)state;
	memset(body, 'x', sizeof(body));
	assert_int_equal(http1_feed(h, head, strlen(head), &used),
	                 HTTP1_CONTINUE);
	assert_int_equal(used, strlen(head));
	assert_int_equal(http1_phase(h), HTTP1_BODY);
	/* uploads get max_upload_bytes, not max_body_bytes */
	assert_int_equal(http1_feed(h, body, 200, &used), HTTP1_MORE);
	assert_int_equal(http1_feed(h, body, 300, &used), HTTP1_REQUEST);
	assert_int_equal(http1_request(h)->body_len, 500);
	http1_free(h);
}

static void
test_errors(void **state)
{
	char big[2048];

	(void)state;
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n",
	             400);
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	             "Content-Length: 5\r\n\r\nhello",
	             400);
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n",
	             400);
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
	             400);
	expect_error("POST / HTTP/1.1\r\nHost: h\r\n"
	             "Transfer-Encoding: gzip, chunked\r\n\r\n",
	             400);
	expect_error("POST / HTTP/1.1\r\nHost: h\r\n"
	             "Transfer-Encoding: chunked\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n",
	             400);
	assert_string_equal(expect_error("GET / HTTP/1.1\r\nHost: h\r\n"
	                                 "X-A: b\r\n  folded\r\n\r\n",
	                                 400),
	                    "obs-fold header line");
	expect_error("GET / HTTP/1.1\r\n X: y\r\nHost: h\r\n\r\n", 400);
	/* whitespace before the colon (RFC 9112 §5.1), found by
	 * tests/fault/abuse.sh: the chunked body must not become a request */
	assert_string_equal(expect_error("POST / HTTP/1.1\r\nHost: h\r\n"
	                                 "Transfer-Encoding : chunked\r\n\r\n"
	                                 "0\r\n\r\nGET /x HTTP/1.1\r\n",
	                                 400),
	                    "malformed header name");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX\tY: z\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX(Y): z\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_error("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	             "Connection: upgrade\r\n\r\n",
	             400);
	expect_error("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_error("GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_error("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_error("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400);
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n",
	             417);
	/* sizes: declared, chunked and header */
	expect_error(
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413);
	expect_error("POST /cgi-bin/media/upload HTTP/1.1\r\nHost: h\r\n"
	             "Content-Length: 1001\r\n\r\n",
	             413);
	memset(big, 'a', sizeof(big));
	memcpy(big,
	       "POST / HTTP/1.1\r\nHost: h\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n"
	       "200\r\n",
	       sizeof("POST / HTTP/1.1\r\nHost: h\r\n"
	              "Transfer-Encoding: chunked\r\n\r\n"
	              "200\r\n") -
	           1);
	big[sizeof(big) - 1] = '\0';
	expect_error(big, 413);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nHost: h\r\nX: ", 28);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(expect_error(big, 413),
	                    "request headers too large");
}

static void
test_fail_and_body(void **state)
{
	struct http1 *h = reader();
	char buf[128];
	int status;
	long code;
	const char *msg;
	size_t used;

	(void)state;
	assert_int_equal(http1_feed(h, "GET / HT", 8, &used), HTTP1_MORE);
	assert_int_equal(http1_phase(h), HTTP1_HEADERS);
	http1_fail(h, 408, HTTP1_ERRCODE_TIMEOUT, "request timeout");
	assert_int_equal(http1_feed(h, "TP/1.1", 6, &used), HTTP1_ERROR);
	http1_error(h, &status, &code, &msg);
	assert_int_equal(status, 408);
	assert_int_equal(code, 985013);
	assert_int_equal(http1_error_body(buf, sizeof(buf), code, msg), 45);
	assert_string_equal(
	    buf, "{\"errcode\":985013,\"errmsg\":\"request timeout\"}");
	assert_string_equal(http1_reason(413), "Content Too Large");
	http1_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple),
	    cmocka_unit_test(test_bytewise),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_http10),
	    cmocka_unit_test(test_continue),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_fail_and_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
