/* test_refuse.c: WeCom-shaped refusals and access log lines. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/accesslog.h"
#include "proxy/refuse.h"

static const char *
t_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static void
test_block_shape(void **state)
{
	struct refusal *r;
	const struct http_response *resp;

	(void)state;
	assert_int_equal(refuse_new(200, REFUSE_BLOCK,
	                            "\xe7\xa6\x81\xe6\xad\xa2 \"quoted\" rule",
	                            "42", &r),
	                 WW_OK);
	resp = refuse_response(r);
	assert_int_equal(resp->status, 200);
	/* raw UTF-8, escaped quotes, WeCom's hint grammar */
	assert_int_equal(resp->body_len, strlen((const char *)resp->body));
	assert_string_equal(
	    (const char *)resp->body,
	    "{\"errcode\":985001,\"errmsg\":\"\xe7\xa6\x81\xe6\xad\xa2 "
	    "\\\"quoted\\\" rule, hint: [42]\"}");
	assert_string_equal(t_header(resp, "Content-Type"),
	                    "application/json; charset=UTF-8");
	assert_string_equal(t_header(resp, "Error-Code"), "985001");
	refuse_free(r);
	refuse_free(NULL);
}

static void
test_busy_and_bad_utf8(void **state)
{
	struct refusal *r;

	(void)state;
	assert_int_equal(refuse_new(200, REFUSE_BUSY, "system busy", NULL, &r),
	                 WW_OK);
	assert_string_equal((const char *)refuse_response(r)->body,
	                    "{\"errcode\":-1,\"errmsg\":\"system busy\"}");
	refuse_free(r);
	assert_int_equal(refuse_new(200, REFUSE_INTERNAL, "bad \xff", "7", &r),
	                 WW_OK);
	assert_non_null(strstr((const char *)refuse_response(r)->body,
	                       "\"errcode\":985010"));
	assert_null(strstr((const char *)refuse_response(r)->body, "\xff"));
	refuse_free(r);
}

static void
test_accesslog(void **state)
{
	char path[] = "/tmp/wwaccess.XXXXXX", buf[2048];
	struct accesslog *a;
	struct accesslog_entry e = {0};
	FILE *fp;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(accesslog_open(path, &a), WW_OK);
	e.client = "127.0.0.1";
	e.port = 5;
	e.method = "POST";
	e.path = "/cgi-bin/message/send\n\x01\xff";
	e.action = "block";
	e.status = 200;
	e.has_errcode = 1;
	e.errcode = 985001;
	e.request_seq = 9;
	e.latency_us = 1500;
	accesslog_write(a, &e);
	accesslog_write(a, &e);
	e.errcode = -1;
	e.latency_us = 2005;
	accesslog_write(a, &e);
	accesslog_write(NULL, &e);
	assert_int_equal(accesslog_errors(a), 0);
	accesslog_close(a);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	/* one JSON object per line; control bytes neutralized */
	assert_non_null(strstr(buf, "\"path\":\"/cgi-bin/message/send???\""));
	assert_non_null(strstr(buf, "\"errcode\":985001"));
	assert_non_null(strstr(buf, "\"seq\":9"));
	assert_non_null(strstr(buf, "\"latency_ms\":1.500"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	/* the busy refusal: a negative code; latency with leading zeros */
	assert_non_null(fgets(buf, sizeof(buf), fp));
	assert_non_null(strstr(buf, "\"errcode\":-1,"));
	assert_non_null(strstr(buf, "\"latency_ms\":2.005,"));
	assert_non_null(strstr(buf, "\"app\":null,"));
	assert_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	unlink(path);
	assert_int_equal(accesslog_open("/nonexistent-dir/x.log", &a), WW_EIO);
}

static size_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* A worker's view buffers whole lines; flush and close write them. */
static void
test_accesslog_buffered(void **state)
{
	char path[] = "/tmp/wwaccess.XXXXXX", buf[2048];
	struct accesslog *a, *v;
	struct accesslog_entry e = {0};
	FILE *fp;
	size_t n = 0;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(accesslog_buffered(NULL, &v), WW_OK);
	assert_null(v);
	assert_int_equal(accesslog_open(path, &a), WW_OK);
	assert_int_equal(accesslog_buffered(a, &v), WW_OK);
	e.method = "POST";
	e.path = "/a\"b\\c";
	e.error = "x";
	accesslog_write(v, &e);
	assert_int_equal(file_size(path), 0);
	accesslog_flush(v);
	assert_true(file_size(path) > 0);
	/* more than the buffer holds: whole lines go out as it fills */
	for (int i = 0; i < 400; i++)
		accesslog_write(v, &e);
	assert_true(file_size(path) > 0);
	accesslog_close(v);
	assert_int_equal(accesslog_errors(a), 0);
	accesslog_close(a);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		assert_non_null(strstr(buf, "\"path\":\"/a\\\"b\\\\c\""));
		assert_int_equal(buf[strlen(buf) - 2], '}');
		n++;
	}
	assert_int_equal(n, 401);
	fclose(fp);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_shape),
	    cmocka_unit_test(test_busy_and_bad_utf8),
	    cmocka_unit_test(test_accesslog),
	    cmocka_unit_test(test_accesslog_buffered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
