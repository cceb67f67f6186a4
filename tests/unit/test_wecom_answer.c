/*
 * test_wecom_answer.c: wecom_read_answer(), the one parse of an upstream
 * answer: errcode/errmsg/msgid, the journal copy (no copy when clean,
 * every minted secret scrubbed), token and media answers, bad answers.
 */
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
#include "store/secret.h"
#include "store/wecom.h"
#include "tests/unit/wecom_fixture.h"

static int
read_str(const struct secret *key, enum wecom_class cls, const char *body,
         struct wecom_answer *a)
{
	return wecom_read_answer(key, cls, (const uint8_t *)body, strlen(body),
	                         a);
}

static int
has(const struct wecom_answer *a, const char *s)
{
	return memmem(a->journal, a->journal_len, s, strlen(s)) != NULL;
}

static void
assert_empty(const struct wecom_answer *a)
{
	assert_int_equal(a->errcode, 0);
	assert_null(a->errmsg);
	assert_null(a->msgid);
	assert_null(a->media_id);
	assert_null(a->journal);
	assert_null(a->scrubbed);
	assert_int_equal(a->journal_len, 0);
	assert_int_equal(a->has_token, 0);
}

/* A clean answer: fields read, and the journal copy is the body itself. */
static void
test_clean(void **state)
{
	static const char ok[] = "{\"errcode\":0,\"errmsg\":\"ok\","
	                         "\"invaliduser\":\"\",\"msgid\":\"MSG123\"}";
	static const char err[] =
	    "{\"errcode\":40014,\"errmsg\":\"invalid access_token, "
	    "hint: [x]\"}";
	struct secret *key = fixture_key();
	struct wecom_answer a;

	(void)state;
	assert_int_equal(read_str(key, WECOM_MESSAGE, ok, &a), WW_OK);
	assert_int_equal(a.errcode, 0);
	assert_string_equal(a.errmsg, "ok");
	assert_string_equal(a.msgid, "MSG123");
	assert_ptr_equal(a.journal, (const uint8_t *)ok);
	assert_int_equal(a.journal_len, strlen(ok));
	assert_null(a.scrubbed);
	assert_int_equal(a.has_token, 0);
	assert_null(a.media_id);
	wecom_answer_cleanup(&a);
	assert_empty(&a);
	wecom_answer_cleanup(&a); /* twice is harmless */

	assert_int_equal(read_str(key, WECOM_MESSAGE, err, &a), WW_OK);
	assert_int_equal(a.errcode, 40014);
	assert_non_null(strstr(a.errmsg, "invalid access_token"));
	assert_null(a.msgid);
	/* "access_token" inside errmsg is text, not a secret field */
	assert_ptr_equal(a.journal, (const uint8_t *)err);
	wecom_answer_cleanup(&a);

	/* Wrong types are absent, not errors. */
	assert_int_equal(read_str(key, WECOM_MESSAGE,
	                          "{\"errcode\":\"0\",\"errmsg\":1,"
	                          "\"msgid\":null}",
	                          &a),
	                 WW_OK);
	assert_int_equal(a.errcode, 0);
	assert_null(a.errmsg);
	assert_null(a.msgid);
	assert_non_null(a.journal);
	wecom_answer_cleanup(&a);
	assert_int_equal(read_str(key, WECOM_MESSAGE, "{}", &a), WW_OK);
	assert_int_equal(a.journal_len, 2);
	wecom_answer_cleanup(&a);
	secret_free(key);
}

/* Every minted secret field, top level or nested, string or not. */
static void
test_scrub_fields(void **state)
{
	static const char *const fields[] = {"access_token",
	                                     "suite_access_token",
	                                     "provider_access_token",
	                                     "permanent_code",
	                                     "ticket",
	                                     "response_code"};
	struct secret *key = fixture_key();
	char body[512], want[SECRET_DIGEST_LEN];
	struct wecom_answer a;

	(void)state;
	secret_digest(key, "SECRET-VALUE-1", 14, want);
	for (size_t i = 0; i < WW_NELEM(fields); i++) {
		for (int nested = 0; nested < 3; nested++) {
			const char *v = "SECRET-VALUE-1";

			if (nested == 0)
				snprintf(body, sizeof(body),
				         "{\"errcode\":0,\"%s\":\"%s\"}",
				         fields[i], v);
			else if (nested == 1)
				snprintf(body, sizeof(body),
				         "{\"errcode\":0,\"auth_info\":{\"a\":"
				         "[1,{\"%s\":\"%s\"}]}}",
				         fields[i], v);
			else
				snprintf(body, sizeof(body),
				         "{\"errcode\":0,\"list\":[{\"%s\":"
				         "\"%s\"}]}",
				         fields[i], v);
			assert_int_equal(read_str(key, WECOM_MESSAGE, body, &a),
			                 WW_OK);
			assert_non_null(a.scrubbed);
			assert_ptr_equal(a.journal, a.scrubbed);
			assert_false(has(&a, "SECRET-VALUE-1"));
			assert_true(has(&a, want));
			assert_true(has(&a, fields[i]));
			wecom_answer_cleanup(&a);
		}
	}
	/* A non-string secret is digested in its serialized form. */
	assert_int_equal(read_str(key, WECOM_MESSAGE,
	                          "{\"ticket\":{\"v\":\"SECRET-VALUE-2\"},"
	                          "\"errmsg\":\"中文 ok\"}",
	                          &a),
	                 WW_OK);
	assert_false(has(&a, "SECRET-VALUE-2"));
	assert_true(has(&a, "hmac:"));
	assert_true(has(&a, "中文 ok")); /* raw UTF-8, no \u escapes */
	assert_false(has(&a, "\\u"));
	wecom_answer_cleanup(&a);
	/* null secrets are left alone (no copy) */
	assert_int_equal(
	    read_str(key, WECOM_MESSAGE, "{\"access_token\":null}", &a), WW_OK);
	assert_null(a.scrubbed);
	wecom_answer_cleanup(&a);
	/* so are empty ones: message/send's usual "response_code":"" */
	assert_int_equal(read_str(key, WECOM_MESSAGE,
	                          "{\"errcode\":0,\"response_code\":\"\"}", &a),
	                 WW_OK);
	assert_null(a.scrubbed);
	assert_true(has(&a, "\"response_code\":\"\""));
	wecom_answer_cleanup(&a);
	secret_free(key);
}

static void
test_token(void **state)
{
	static const char tok[] = "{\"errcode\":0,\"errmsg\":\"ok\","
	                          "\"access_token\":\"TOKEN-XYZ\","
	                          "\"expires_in\":7200}";
	struct secret *key = fixture_key();
	char want[SECRET_DIGEST_LEN];
	struct wecom_answer a;

	(void)state;
	secret_digest(key, "TOKEN-XYZ", 9, want);
	assert_int_equal(read_str(key, WECOM_GETTOKEN, tok, &a), WW_OK);
	assert_true(a.has_token);
	assert_string_equal(a.token_digest, want);
	assert_int_equal(a.expires_in, 7200);
	assert_string_equal(a.errmsg, "ok");
	assert_false(has(&a, "TOKEN-XYZ"));
	assert_true(has(&a, want));
	wecom_answer_cleanup(&a);

	/* Not a token request: scrubbed all the same, no token read. */
	assert_int_equal(read_str(key, WECOM_MESSAGE, tok, &a), WW_OK);
	assert_false(a.has_token);
	assert_false(has(&a, "TOKEN-XYZ"));
	wecom_answer_cleanup(&a);

	/* suite token; the first name that is a string wins. */
	assert_int_equal(read_str(key, WECOM_GETTOKEN,
	                          "{\"access_token\":5,\"suite_access_token\":"
	                          "\"TOKEN-XYZ\"}",
	                          &a),
	                 WW_OK);
	assert_true(a.has_token);
	assert_string_equal(a.token_digest, want);
	assert_int_equal(a.expires_in, 0);
	wecom_answer_cleanup(&a);
	assert_int_equal(
	    read_str(key, WECOM_GETTOKEN,
	             "{\"access_token\":\"\",\"suite_access_token\""
	             ":\"TOKEN-XYZ\"}",
	             &a),
	    WW_OK);
	assert_false(a.has_token);
	wecom_answer_cleanup(&a);
	/* an error answer holds no token */
	assert_int_equal(read_str(key, WECOM_GETTOKEN,
	                          "{\"errcode\":40001,\"errmsg\":\"invalid "
	                          "credential\"}",
	                          &a),
	                 WW_OK);
	assert_false(a.has_token);
	assert_int_equal(a.errcode, 40001);
	wecom_answer_cleanup(&a);

	/* Without a key (no journal): fields only. */
	assert_int_equal(read_str(NULL, WECOM_GETTOKEN, tok, &a), WW_OK);
	assert_false(a.has_token);
	assert_null(a.journal);
	assert_string_equal(a.errmsg, "ok");
	wecom_answer_cleanup(&a);
	secret_free(key);
}

static void
test_media(void **state)
{
	struct secret *key = fixture_key();
	struct wecom_answer a;

	(void)state;
	assert_int_equal(read_str(key, WECOM_UPLOAD,
	                          "{\"errcode\":0,\"errmsg\":\"\",\"type\":"
	                          "\"image\",\"media_id\":\"MEDIA-1\","
	                          "\"created_at\":\"1380000000\"}",
	                          &a),
	                 WW_OK);
	assert_string_equal(a.media_id, "MEDIA-1");
	assert_string_equal(a.errmsg, "");
	assert_null(a.scrubbed);
	wecom_answer_cleanup(&a);
	/* uploadimg answers with a url; an empty media_id does not count */
	assert_int_equal(read_str(key, WECOM_UPLOAD,
	                          "{\"errcode\":0,\"media_id\":\"\",\"url\":"
	                          "\"http://p.qpic.cn/x\"}",
	                          &a),
	                 WW_OK);
	assert_string_equal(a.media_id, "http://p.qpic.cn/x");
	wecom_answer_cleanup(&a);
	assert_int_equal(read_str(key, WECOM_UPLOAD,
	                          "{\"errcode\":45001,\"media_id\":7}", &a),
	                 WW_OK);
	assert_null(a.media_id);
	wecom_answer_cleanup(&a);
	/* only upload answers name media; also read without a key */
	assert_int_equal(
	    read_str(key, WECOM_MESSAGE, "{\"media_id\":\"MEDIA-1\"}", &a),
	    WW_OK);
	assert_null(a.media_id);
	wecom_answer_cleanup(&a);
	assert_int_equal(
	    read_str(NULL, WECOM_UPLOAD, "{\"media_id\":\"MEDIA-1\"}", &a),
	    WW_OK);
	assert_string_equal(a.media_id, "MEDIA-1");
	wecom_answer_cleanup(&a);
	secret_free(key);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {"<html>502</html>",
	                                  "[1]",
	                                  "\"s\"",
	                                  "{\"errcode\":0,",
	                                  "{\"a\":1}x",
	                                  "{\"errcode\":0,\"errcode\":1}",
	                                  "{\"errmsg\":\"\xff\xfe\"}"};
	struct secret *key = fixture_key();
	struct wecom_answer a;
	char deep[128] = "{\"a\":";
	char *big;

	(void)state;
	for (size_t i = 0; i < WW_NELEM(bad); i++) {
		assert_int_equal(read_str(key, WECOM_GETTOKEN, bad[i], &a),
		                 WW_EPARSE);
		assert_empty(&a);
		wecom_answer_cleanup(&a);
	}
	assert_int_equal(wecom_read_answer(key, WECOM_MESSAGE, NULL, 0, &a),
	                 WW_EPARSE);
	assert_empty(&a);
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	assert_int_equal(read_str(key, WECOM_MESSAGE, deep, &a), WW_EPARSE);
	assert_empty(&a);
	big = malloc(WECOM_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, ' ', WECOM_MAX_BODY + 1);
	big[0] = '{';
	big[WECOM_MAX_BODY] = '}';
	assert_int_equal(wecom_read_answer(key, WECOM_MESSAGE,
	                                   (const uint8_t *)big,
	                                   WECOM_MAX_BODY + 1, &a),
	                 WW_EPARSE);
	assert_empty(&a);
	free(big);
	secret_free(key);
}

/* An answer too big for the arena's first chunk (tens of KiB). */
static void
test_large(void **state)
{
	struct secret *key = fixture_key();
	struct wecom_answer a;
	size_t n = 4000, off;
	char *body = malloc(n * 40 + 128);

	(void)state;
	assert_non_null(body);
	off = (size_t)sprintf(body, "{\"errcode\":0,\"list\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(body + off, "%s{\"userid\":\"u%zu\"}",
		                       i ? "," : "", i);
	sprintf(body + off, "],\"ticket\":\"T\",\"msgid\":\"M\"}");
	assert_int_equal(read_str(key, WECOM_MESSAGE, body, &a), WW_OK);
	assert_string_equal(a.msgid, "M");
	assert_non_null(a.scrubbed);
	assert_true(has(&a, "\"u3999\""));
	assert_false(has(&a, "\"ticket\":\"T\""));
	wecom_answer_cleanup(&a);
	free(body);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_scrub_fields),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_media),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
