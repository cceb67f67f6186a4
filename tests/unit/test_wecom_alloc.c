/*
 * test_wecom_alloc.c: allocation-failure sweep over store/ decoding
 * (STYLE.md, "fail the Nth allocation").  For every N, the Nth allocation
 * fails; the call must return WW_ENOMEM, leave no leak (ASan) and never
 * crash.  libstore's allocations go through tests/unit/alloc_fixture.c;
 * jansson allocates from the decoders' arena, whose chunks come from the
 * wrapped malloc, or, in a second run, node by node through
 * json_set_alloc_funcs.
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
#include <jansson.h>

#include "ww.h"
#include "store/multipart.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"
#include "tests/unit/alloc_fixture.h"

/* Set when jansson's own allocation (json_malloc) came back NULL. */
static int injected_json;

/*
 * jansson 2.14 reports an allocation failure inside json_loadb() as a
 * syntax error (or an empty error), and tolerates some (hash table
 * growth), so a failure injected into jansson may come back as WW_EPARSE
 * or even WW_OK; what is checked then is no crash and no leak.
 */
static void *
json_malloc(size_t n)
{
	void *p = malloc(n); /* the fixture's: this program is --wrap'ed */

	if (p == NULL)
		injected_json = 1;
	return p;
}

typedef int (*scenario_fn)(const struct secret *key, void *arg);

/* Run fn failing allocation 0, 1, 2... until it runs clean. */
static void
sweep(const char *name, scenario_fn fn, void *arg, int want)
{
	struct secret *key;
	long n;
	int rc = WW_OK;

	assert_int_equal(secret_new((const unsigned char *)"k", 1, &key),
	                 WW_OK);
	for (n = 0; n < 100000; n++) {
		injected_json = 0;
		alloc_fixture_arm(n);
		rc = fn(key, arg);
		alloc_fixture_disarm();
		if (!alloc_fixture_failed())
			break;
		if (injected_json && rc == want)
			continue;
		if (rc != WW_ENOMEM && !(rc == WW_EPARSE && injected_json))
			fail_msg("%s: allocation %ld failed but rc = %d", name,
			         n, rc);
	}
	assert_int_equal(rc, want);
	assert_true(n > 0);
	print_message("%s: %ld allocations swept\n", name, n);
	secret_free(key);
}

static const char card_body[] =
    "{\"touser\":\"a|b\",\"toparty\":\"1\",\"msgtype\":\"template_card\","
    "\"agentid\":1,\"template_card\":{\"card_type\":\"text_notice\","
    "\"main_title\":{\"title\":\"t\",\"desc\":\"d\"},"
    "\"horizontal_content_list\":[{\"keyname\":\"k\",\"value\":\"v\","
    "\"type\":3,\"userid\":\"u\"},{\"type\":2,\"keyname\":\"f\","
    "\"media_id\":\"M\"}],\"x\":{\"a.b\":\"c\"}}}";
static const char welcome_body[] =
    "{\"welcome_code\":\"W\",\"text\":{\"content\":\"hi\"},"
    "\"attachments\":[{\"msgtype\":\"link\",\"link\":{\"title\":\"t\","
    "\"url\":\"u\"}}]}";
static const char image_body[] =
    "{\"msgtype\":\"image\",\"image\":{\"base64\":\"aGVsbG8=\",\"md5\":\"x\"}}";
static const char bad_body[] =
    "{\"touser\":\"a\",\"msgtype\":\"text\",\"text\":{\"content\":1}}";
static const char upload_body[] =
    "--b\r\nContent-Disposition: form-data; name=\"media\"; "
    "filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--";

struct req {
	const char *path, *body;
};

static int
sc_decode(const struct secret *key, void *arg)
{
	const struct req *r = arg;
	Ww__Message *msg = (Ww__Message *)&msg;
	char err[128];
	int rc;

	rc = wecom_decode(key, r->path, "access_token=T&key=K",
	                  (const uint8_t *)r->body, strlen(r->body), &msg, err,
	                  sizeof(err));
	if ((rc == WW_OK || rc == WW_EPARSE) != (msg != NULL))
		fail_msg("rc %d with message %p", rc, (void *)msg);
	message_free(msg);
	return rc;
}

static void
test_decode(void **state)
{
	struct req card = {"/cgi-bin/message/send", card_body};
	struct req welcome = {"/cgi-bin/externalcontact/send_welcome_msg",
	                      welcome_body};
	struct req image = {"/cgi-bin/webhook/send", image_body};
	struct req bad = {"/cgi-bin/message/send", bad_body};
	struct req other = {"/cgi-bin/kf/sync_msg", "{\"token\":\"T\"}"};
	struct req token = {"/cgi-bin/gettoken", ""};
	struct req big = {"/cgi-bin/message/send", *state};

	(void)state;
	sweep("card", sc_decode, &card, WW_OK);
	sweep("welcome", sc_decode, &welcome, WW_OK);
	sweep("image", sc_decode, &image, WW_OK);
	sweep("type error", sc_decode, &bad, WW_EPARSE);
	sweep("other", sc_decode, &other, WW_OK);
	sweep("gettoken", sc_decode, &token, WW_OK);
	/* Bigger than the arena's first chunk: its growth fails too. */
	sweep("big", sc_decode, &big, WW_OK);
}

static int
sc_upload(const struct secret *key, void *arg)
{
	Ww__Message *msg;
	char err[128];
	int rc;

	(void)arg;
	rc = wecom_decode_upload(key, "/cgi-bin/media/upload", "type=file",
	                         "multipart/form-data; boundary=b",
	                         (const uint8_t *)upload_body,
	                         strlen(upload_body), &msg, err, sizeof(err));
	message_free(msg);
	return rc;
}

static int
sc_redact(const struct secret *key, void *arg)
{
	const Ww__Message *msg = arg;
	char *red[16] = {"x", NULL, "yy", "z", "w"};
	uint8_t *out = NULL;
	size_t outlen;
	int rc;

	(void)key;
	rc = wecom_redact_body((const uint8_t *)card_body, strlen(card_body),
	                       msg, red, msg->n_texts, &out, &outlen);
	free(out);
	return rc;
}

static int
sc_answers(const struct secret *key, void *arg)
{
	static const char ans[] = "{\"errcode\":0,\"errmsg\":\"ok\","
	                          "\"access_token\":\"A\",\"msgid\":\"M\"}";
	static const char up[] = "{\"errcode\":0,\"media_id\":\"X\"}";
	struct wecom_answer a;
	char *q = NULL;
	int rc;

	(void)arg;
	rc = wecom_read_answer(key, WECOM_GETTOKEN, (const uint8_t *)ans,
	                       strlen(ans), &a);
	if (rc == WW_OK && (a.errmsg == NULL || a.msgid == NULL ||
	                    !a.has_token || a.scrubbed == NULL))
		fail_msg("answer read incompletely");
	wecom_answer_cleanup(&a);
	if (rc == WW_OK)
		rc = wecom_read_answer(key, WECOM_UPLOAD, (const uint8_t *)up,
		                       strlen(up), &a);
	if (rc == WW_OK && a.media_id == NULL)
		fail_msg("media_id not read");
	wecom_answer_cleanup(&a);
	if (rc == WW_OK)
		rc = wecom_scrub_query(key, "access_token=A&type=file", &q);
	free(q);
	return rc;
}

static void
test_other_calls(void **state)
{
	struct secret *key;
	Ww__Message *msg;
	char err[128];

	(void)state;
	sweep("upload", sc_upload, NULL, WW_OK);
	sweep("answers", sc_answers, NULL, WW_OK);
	assert_int_equal(secret_new((const unsigned char *)"k", 1, &key),
	                 WW_OK);
	assert_int_equal(wecom_decode(key, "/cgi-bin/message/send", NULL,
	                              (const uint8_t *)card_body,
	                              strlen(card_body), &msg, err,
	                              sizeof(err)),
	                 WW_OK);
	assert_true(msg->n_texts >= 5 && msg->n_texts <= 16);
	sweep("redact", sc_redact, msg, WW_OK);
	message_free(msg);
	secret_free(key);
}

static int
sc_record(const struct secret *key, void *arg)
{
	const Ww__Record *rec = arg;
	Ww__Record *back = NULL;
	Ww__Message *copy = NULL;
	uint8_t *buf = NULL;
	size_t len;
	char err[128];
	int rc;

	(void)key;
	rc = record_pack(rec, &buf, &len);
	if (rc == WW_OK)
		rc = record_unpack(buf, len, &back, err, sizeof(err));
	if (rc == WW_OK)
		rc = message_copy(back->message, &copy);
	free(buf);
	record_free(back);
	message_free(copy);
	return rc;
}

static void
test_record(void **state)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	struct secret *key;
	char err[128];

	(void)state;
	assert_non_null(rec);
	assert_int_equal(secret_new((const unsigned char *)"k", 1, &key),
	                 WW_OK);
	assert_int_equal(wecom_decode(key, "/cgi-bin/message/send", NULL,
	                              (const uint8_t *)card_body,
	                              strlen(card_body), &rec->message, err,
	                              sizeof(err)),
	                 WW_OK);
	sweep("record", sc_record, rec, WW_OK);
	record_free(rec);
	secret_free(key);
}

static int
sc_multipart(const struct secret *key, void *arg)
{
	struct multipart *m = NULL;
	char err[128];
	int rc;

	(void)key;
	(void)arg;
	rc = multipart_parse("multipart/form-data; boundary=b",
	                     (const uint8_t *)upload_body, strlen(upload_body),
	                     &m, err, sizeof(err));
	multipart_free(m);
	return rc;
}

static void
test_multipart(void **state)
{
	(void)state;
	sweep("multipart", sc_multipart, NULL, WW_OK);
}

/* A text message of about 64 KiB: the arena grows twice. */
static int
big_setup(void **state)
{
	static const char head[] = "{\"touser\":\"a\",\"msgtype\":\"text\","
	                           "\"text\":{\"content\":\"";
	size_t n = 64 << 10;
	char *b = malloc(sizeof(head) + n + 8); /* disarmed: never injected */

	if (b == NULL)
		return -1;
	memcpy(b, head, sizeof(head) - 1);
	memset(b + sizeof(head) - 1, 'x', n);
	strcpy(b + sizeof(head) - 1 + n, "\"}}");
	*state = b;
	return 0;
}

static int
big_teardown(void **state)
{
	free(*state);
	return 0;
}

/* jansson allocating node by node through the wrapped malloc. */
static int
per_node_setup(void **state)
{
	json_set_alloc_funcs(json_malloc, free);
	return big_setup(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_other_calls),
	    cmocka_unit_test(test_record),
	    cmocka_unit_test(test_multipart),
	};
	int failed;

	/* First with the decode arena (store/wecom.c): jansson allocates
	   from it and only its growth can fail; then with jansson's
	   allocator swapped for the wrapped malloc, which turns the arena
	   off and fails jansson's own allocations one by one. */
	wecom_init();
	failed = cmocka_run_group_tests_name("arena", tests, big_setup,
	                                     big_teardown);
	failed += cmocka_run_group_tests_name("per-node", tests, per_node_setup,
	                                      big_teardown);
	return failed;
}
