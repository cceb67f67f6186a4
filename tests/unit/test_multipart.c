/* test_multipart.c: the strict multipart/form-data parser. */
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
#include "store/multipart.h"

static int
parse(const char *ct, const char *body, struct multipart **m, char *err,
      size_t errlen)
{
	return multipart_parse(ct, (const uint8_t *)body, strlen(body), m, err,
	                       errlen);
}

static void
expect_fail(const char *ct, const char *body, int want, const char *reason)
{
	struct multipart *m = (struct multipart *)&m;
	char err[256] = "";

	assert_int_equal(parse(ct, body, &m, err, sizeof(err)), want);
	assert_null(m);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\", want \"%s\"", err, reason);
}

#define CT "multipart/form-data; boundary=b"
#define CD "Content-Disposition: form-data; name="

static void
test_single(void **state)
{
	static const char body[] =
	    "--b\r\n" CD "\"media\"; filename=\"r.pdf\"; filelength=5\r\n"
	    "Content-Type: application/pdf\r\n\r\n"
	    "a\r\nb\n\r\n--b--\r\n";
	const struct multipart_part *p;
	struct multipart *m;
	char err[256];

	(void)state;
	assert_int_equal(parse(CT, body, &m, err, sizeof(err)), WW_OK);
	assert_int_equal(multipart_count(m), 1);
	p = multipart_get(m, 0);
	assert_string_equal(p->name, "media");
	assert_string_equal(p->filename, "r.pdf");
	assert_string_equal(p->content_type, "application/pdf");
	assert_int_equal(p->len, 5);
	assert_memory_equal(p->data, "a\r\nb\n", 5);
	/* data borrows from the body */
	assert_ptr_equal(p->data, (const uint8_t *)strstr(body, "a\r\nb"));
	assert_null(multipart_get(m, 1));
	multipart_free(m);
	multipart_free(NULL);
}

static void
test_several(void **state)
{
	static const char body[] =
	    "This is a preamble.\r\n"
	    "--simple boundary  \r\n"
	    "content-disposition: form-data; name=field\r\n\r\n"
	    "value\r\n"
	    "--simple boundary\r\n"
	    "Content-Disposition: form-data; name=\"media\"; "
	    "filename=\"fallback.txt\"; "
	    "filename*=UTF-8''%E4%B8%AD%E6%96%87.txt\r\n"
	    "X-Ignored: yes\r\n\r\n"
	    "\r\n"
	    "--simple boundary--\r\n"
	    "epilogue";
	const struct multipart_part *p;
	struct multipart *m;
	char err[256];

	(void)state;
	assert_int_equal(parse("Multipart/Form-Data; charset=utf-8; "
	                       "Boundary=\"simple boundary\"",
	                       body, &m, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(multipart_count(m), 2);
	p = multipart_get(m, 0);
	assert_string_equal(p->name, "field");
	assert_null(p->filename);
	assert_null(p->content_type);
	assert_int_equal(p->len, 5);
	p = multipart_get(m, 1);
	assert_string_equal(p->filename, "中文.txt");
	assert_int_equal(p->len, 0);
	multipart_free(m);
}

static void
test_boundary(void **state)
{
	char buf[MULTIPART_MAX_BOUNDARY + 1];
	char longb[128];

	(void)state;
	assert_int_equal(multipart_boundary(CT, buf, sizeof(buf)), WW_OK);
	assert_string_equal(buf, "b");
	assert_int_equal(
	    multipart_boundary("multipart/form-data;boundary="
	                       "----WebKitFormBoundary7MA4YWxkTrZu0gW",
	                       buf, sizeof(buf)),
	    WW_OK);
	assert_string_equal(buf, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
	assert_int_equal(multipart_boundary(NULL, buf, sizeof(buf)), WW_EPARSE);
	assert_int_equal(
	    multipart_boundary("application/json", buf, sizeof(buf)),
	    WW_EPARSE);
	assert_int_equal(
	    multipart_boundary("multipart/form-data", buf, sizeof(buf)),
	    WW_EPARSE);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=",
	                                    buf, sizeof(buf)),
	                 WW_EPARSE);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=a@b",
	                                    buf, sizeof(buf)),
	                 WW_EPARSE);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=a; "
	                                    "boundary=c",
	                                    buf, sizeof(buf)),
	                 WW_EPARSE);
	assert_int_equal(
	    multipart_boundary("multipart/form-data; boundary=\"ab", buf,
	                       sizeof(buf)),
	    WW_EPARSE);
	memset(longb, 'x', sizeof(longb));
	memcpy(longb, "multipart/form-data; boundary=", 30);
	longb[30 + MULTIPART_MAX_BOUNDARY + 1] = '\0'; /* 71 characters */
	assert_int_equal(multipart_boundary(longb, buf, sizeof(buf)),
	                 WW_EPARSE);
	longb[30 + MULTIPART_MAX_BOUNDARY] = '\0'; /* 70: fine */
	assert_int_equal(multipart_boundary(longb, buf, sizeof(buf)), WW_OK);
}

static void
test_malformed(void **state)
{
	(void)state;
	expect_fail("text/plain", "--b\r\n", WW_EPARSE, "multipart/form-data");
	expect_fail(CT, "no delimiter here", WW_EPARSE, "boundary not found");
	expect_fail(CT, "--b\r\n" CD "\"a\"\r\n\r\ndata", WW_EPARSE,
	            "no closing boundary");
	expect_fail(CT, "--b\r\n" CD "\"a\"\r\n", WW_EPARSE,
	            "unterminated part headers");
	expect_fail(CT, "--b\n" CD "\"a\"\n\ndata\n--b--", WW_EPARSE,
	            "garbage after boundary");
	expect_fail(CT, "--b\r\n" CD "\"a\"\r\n" CD "\"b\"\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "two Content-Disposition");
	expect_fail(CT,
	            "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "without Content-Disposition name");
	expect_fail(CT, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "without Content-Disposition name");
	expect_fail(CT,
	            "--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n"
	            "x\r\n--b--",
	            WW_EPARSE, "not form-data");
	expect_fail(CT, "--b\r\n" CD "\"a\"; name=\"b\"\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "malformed Content-Disposition");
	expect_fail(CT, "--b\r\n" CD "\"a\r\n\r\nx\r\n--b--", WW_EPARSE,
	            "malformed Content-Disposition");
	expect_fail(CT,
	            "--b\r\n" CD "\"a\";\r\n filename=\"x\"\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "malformed part header line");
	expect_fail(CT,
	            "--b\r\n" CD "\"a\"; filename*=latin1''x\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "malformed filename*");
	expect_fail(CT, "--b\r\n" CD "\"a\"\r\nX: 1\r2\r\n\r\nx\r\n--b--",
	            WW_EPARSE, "bare CR or LF");
	expect_fail(CT, "--b--\r\n", WW_EPARSE, "no parts");
	expect_fail(CT, "--b\r\n" CD "\"a\"\r\n\r\nx\r\n--bX\r\n", WW_EPARSE,
	            "garbage after boundary");
}

static void
test_nul_in_headers(void **state)
{
	static const char body[] = "--b\r\n" CD "\"a\0b\"\r\n\r\nx\r\n--b--";
	struct multipart *m;
	char err[256];

	(void)state;
	assert_int_equal(multipart_parse(CT, (const uint8_t *)body,
	                                 sizeof(body) - 1, &m, err,
	                                 sizeof(err)),
	                 WW_EPARSE);
	assert_non_null(strstr(err, "NUL"));
}

static void
test_limits(void **state)
{
	size_t cap = 200 * (MULTIPART_MAX_PARTS + 2) + MULTIPART_MAX_HEADER * 2;
	char *body = malloc(cap);
	struct multipart *m;
	char err[256];
	size_t off = 0;

	(void)state;
	assert_non_null(body);
	for (int i = 0; i < MULTIPART_MAX_PARTS; i++)
		off += (size_t)sprintf(body + off,
		                       "--b\r\n" CD "\"f%d\"\r\n\r\n"
		                       "v\r\n",
		                       i);
	strcpy(body + off, "--b--");
	assert_int_equal(parse(CT, body, &m, err, sizeof(err)), WW_OK);
	assert_int_equal(multipart_count(m), MULTIPART_MAX_PARTS);
	multipart_free(m);
	/* One part more is refused. */
	off +=
	    (size_t)sprintf(body + off, "--b\r\n" CD "\"last\"\r\n\r\nv\r\n");
	strcpy(body + off, "--b--");
	expect_fail(CT, body, WW_ELIMIT, "more than 64 parts");

	/* A header block over the limit, terminated or not. */
	off = (size_t)sprintf(body, "--b\r\n" CD "\"a\"\r\nX-Pad: ");
	memset(body + off, 'p', MULTIPART_MAX_HEADER);
	off += MULTIPART_MAX_HEADER;
	strcpy(body + off, "\r\n\r\nx\r\n--b--");
	expect_fail(CT, body, WW_ELIMIT, "exceed");
	body[off] = '\0';
	expect_fail(CT, body, WW_ELIMIT, "exceed");
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single),
	    cmocka_unit_test(test_several),
	    cmocka_unit_test(test_boundary),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_nul_in_headers),
	    cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
