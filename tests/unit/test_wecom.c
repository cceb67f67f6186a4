/*
 * test_wecom.c: WeCom decoding, data-driven from tests/data/wecom/
 * (NAME.json is a request body, NAME.expect what decoding must give), plus
 * limits, secrets, redaction and uploads (answers: test_wecom_answer.c).
 */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ww.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"
#include "tests/unit/wecom_fixture.h"

#ifndef WECOM_DATA_DIR
#define WECOM_DATA_DIR "tests/data/wecom"
#endif

/* Undo the .expect escapes (\n, \t, \\) in place. */
static char *
unescape(char *s)
{
	char *r = s, *w = s;

	for (; *r != '\0'; r++) {
		if (*r == '\\' && r[1] != '\0') {
			r++;
			*w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return s;
}

/* "a,b,c" against a repeated string field. */
static void
check_list(const char *what, const char *want, size_t n, char **arr)
{
	char joined[4096] = "";

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(joined, ",");
		strncat(joined, arr[i], sizeof(joined) - strlen(joined) - 1);
	}
	if (strcmp(joined, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", what, joined, want);
}

static void
check_not_in(const char *what, const uint8_t *buf, size_t len,
             const char *secret)
{
	if (secret[0] != '\0' && memmem(buf, len, secret, strlen(secret)))
		fail_msg("%s contains the secret \"%s\"", what, secret);
}

struct expect {
	char path[256], query[256], error[256], body[16];
	char secrets[3][256];
	size_t nsecrets;
	long ntexts, natt;
};

/* Pack the decoded message as a journal record: no secret may survive. */
static void
check_secrets(const struct secret *key, const struct expect *ex,
              Ww__Message *msg)
{
	static const char *const bearers[] = {
	    "access_token=", "key=", "suite_access_token="};
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	uint8_t *packed;
	size_t len;
	char *q;

	assert_non_null(rec);
	assert_int_equal(message_copy(msg, &rec->message), WW_OK);
	assert_int_equal(wecom_scrub_query(key, ex->query, &rec->query), WW_OK);
	assert_int_equal(record_set_str(&rec->path, ex->path), WW_OK);
	assert_int_equal(record_pack(rec, &packed, &len), WW_OK);
	for (size_t i = 0; i < ex->nsecrets; i++)
		check_not_in("packed record", packed, len, ex->secrets[i]);
	for (size_t i = 0; i < WW_NELEM(bearers); i++) {
		q = strstr(ex->query, bearers[i]);
		if (q == ex->query || (q != NULL && q[-1] == '&')) {
			char val[256];

			snprintf(val, sizeof(val), "%s",
			         q + strlen(bearers[i]));
			val[strcspn(val, "&")] = '\0';
			check_not_in("packed record (query)", packed, len, val);
		}
	}
	free(packed);
	record_free(rec);
}

/* Redact every text to a non-ASCII mark; the result must decode again. */
static void
check_redaction(const struct secret *key, const struct expect *ex,
                const uint8_t *body, size_t blen, const Ww__Message *msg)
{
	static const char mark[] = "＊已删除＊";
	char **red = calloc(msg->n_texts + 1, sizeof(*red));
	Ww__Message *again = NULL;
	uint8_t *out;
	size_t outlen;
	char err[256];

	assert_non_null(red);
	for (size_t i = 0; i < msg->n_texts; i++)
		red[i] = (char *)mark;
	assert_int_equal(wecom_redact_body(body, blen, msg, red, msg->n_texts,
	                                   &out, &outlen),
	                 WW_OK);
	assert_null(memmem(out, outlen, "\\u", 2));
	assert_non_null(memmem(out, outlen, mark, strlen(mark)));
	assert_int_equal(wecom_decode(key, ex->path, ex->query, out, outlen,
	                              &again, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(again->n_texts, msg->n_texts);
	for (size_t i = 0; i < again->n_texts; i++) {
		assert_string_equal(again->texts[i]->path, msg->texts[i]->path);
		assert_string_equal(again->texts[i]->text, mark);
	}
	message_free(again);
	free(out);
	free(red);
}

static const char *
class_name(enum wecom_class c)
{
	static const char *const names[] = {"OTHER", "MESSAGE", "UPLOAD",
	                                    "GETTOKEN", "NOT_API"};

	return names[c];
}

static void
check_texts(FILE *fp, const Ww__Message *msg, long want)
{
	char line[8192];
	size_t i = 0;

	if (want >= 0 && (long)msg->n_texts != want) {
		for (size_t k = 0; k < msg->n_texts; k++)
			print_message("  got text %s = %s\n",
			              msg->texts[k]->path, msg->texts[k]->text);
		fail_msg("%zu texts, want %ld", msg->n_texts, want);
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *tab, *path, *text;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "text\t", 5) != 0)
			continue;
		path = line + 5;
		tab = strchr(path, '\t');
		assert_non_null(tab);
		*tab = '\0';
		text = unescape(tab + 1);
		unescape(path);
		assert_true(i < msg->n_texts);
		assert_string_equal(msg->texts[i]->path, path);
		assert_string_equal(msg->texts[i]->text, text);
		i++;
	}
}

static void
check_attachment(const Ww__Message *msg, size_t *next, char *rest)
{
	char *kind = strtok(rest, "\t");
	char *media = strtok(NULL, "\t");
	Ww__Attachment *a;

	assert_true(*next < msg->n_attachments);
	a = msg->attachments[(*next)++];
	assert_string_equal(a->kind, kind);
	assert_string_equal(a->media_id, media);
}

static void
check_hashed(const Ww__Message *msg, size_t *next, char *rest)
{
	char *kind = strtok(rest, "\t"), *size = strtok(NULL, "\t");
	char *hex = strtok(NULL, "\t"), got[65];
	Ww__Attachment *a;

	assert_true(*next < msg->n_attachments);
	a = msg->attachments[(*next)++];
	assert_string_equal(a->kind, kind);
	assert_int_equal(a->size, strtoull(size, NULL, 10));
	assert_int_equal(a->sha256.len, 32);
	for (size_t i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", a->sha256.data[i]);
	assert_string_equal(got, hex);
}

/* One "key<TAB>value" directive about the envelope. */
static void
check_field(const Ww__Message *msg, const char *k, char *v)
{
	const Ww__Recipients *r = msg->recipients;

	if (strcmp(k, "endpoint") == 0)
		assert_string_equal(msg->endpoint, v);
	else if (strcmp(k, "msgtype") == 0)
		assert_string_equal(msg->msgtype, v);
	else if (strcmp(k, "agent") == 0)
		assert_int_equal(msg->agent_id, strtoll(v, NULL, 10));
	else if (strcmp(k, "sender") == 0 && strcmp(v, "DIGEST") == 0)
		assert_string_equal(msg->sender, msg->token_digest);
	else if (strcmp(k, "sender") == 0)
		assert_string_equal(msg->sender, v);
	else if (strcmp(k, "users") == 0)
		check_list(k, v, r->n_users, r->users);
	else if (strcmp(k, "parties") == 0)
		check_list(k, v, r->n_parties, r->parties);
	else if (strcmp(k, "tags") == 0)
		check_list(k, v, r->n_tags, r->tags);
	else if (strcmp(k, "external") == 0)
		check_list(k, v, r->n_external_users, r->external_users);
	else if (strcmp(k, "kf") == 0)
		check_list(k, v, r->n_kf_ids, r->kf_ids);
	else if (strcmp(k, "chats") == 0)
		check_list(k, v, r->n_chat_ids, r->chat_ids);
	else if (strcmp(k, "mentioned") == 0)
		check_list(k, v, r->n_mentioned, r->mentioned);
	else if (strcmp(k, "chat") == 0)
		assert_string_equal(r->chat_id, v);
	else if (strcmp(k, "all") == 0)
		assert_int_equal(r->all, atoi(v));
	else if (strcmp(k, "token") == 0)
		assert_true(strncmp(msg->token_digest, "hmac:", 5) == 0);
}

static void
read_expect(FILE *fp, struct expect *ex)
{
	char line[8192];

	memset(ex, 0, sizeof(*ex));
	ex->ntexts = ex->natt = -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *v = strchr(line, '\t');

		line[strcspn(line, "\n")] = '\0';
		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "path") == 0)
			snprintf(ex->path, sizeof(ex->path), "%s", v);
		else if (strcmp(line, "query") == 0)
			snprintf(ex->query, sizeof(ex->query), "%s", v);
		else if (strcmp(line, "error") == 0)
			snprintf(ex->error, sizeof(ex->error), "%s", v);
		else if (strcmp(line, "body") == 0)
			snprintf(ex->body, sizeof(ex->body), "%s", v);
		else if (strncmp(line, "secret", 6) == 0 && ex->nsecrets < 3)
			snprintf(ex->secrets[ex->nsecrets++], 256, "%s", v);
		else if (strcmp(line, "ntexts") == 0)
			ex->ntexts = atol(v);
		else if (strcmp(line, "nattachments") == 0)
			ex->natt = atol(v);
	}
	rewind(fp);
}

static void
check_body(const struct expect *ex, const Ww__Message *msg, const uint8_t *body,
           size_t blen)
{
	json_t *j;

	if (strcmp(ex->body, "raw") == 0) {
		assert_int_equal(msg->body.len, blen);
		assert_memory_equal(msg->body.data, body, blen);
	} else if (strcmp(ex->body, "scrubbed") == 0) {
		assert_non_null(
		    memmem(msg->body.data, msg->body.len, "hmac:", 5));
		j = json_loadb((const char *)msg->body.data, msg->body.len, 0,
		               NULL);
		assert_non_null(j);
		json_decref(j);
	} else if (strcmp(ex->body, "empty") == 0) {
		assert_int_equal(msg->body.len, 0);
	}
}

static void
run_case(const struct secret *key, const char *name)
{
	char path[1024], line[8192], err[256];
	struct expect ex;
	Ww__Message *msg = NULL;
	size_t blen, natt = 0;
	uint8_t *body;
	FILE *fp;
	int rc;

	print_message("case %s\n", name);
	snprintf(path, sizeof(path), "%s/%s.json", WECOM_DATA_DIR, name);
	body = fixture_read_file(path, &blen);
	snprintf(path, sizeof(path), "%s/%s.expect", WECOM_DATA_DIR, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	read_expect(fp, &ex);
	rc = wecom_decode(key, ex.path, ex.query, body, blen, &msg, err,
	                  sizeof(err));
	assert_non_null(msg);
	if (ex.error[0] != '\0') {
		assert_int_equal(rc, WW_EPARSE);
		if (strstr(err, ex.error) == NULL)
			fail_msg("error \"%s\", want \"%s\"", err, ex.error);
		assert_string_equal(msg->decode_error, err);
		assert_true(msg->endpoint[0] != '\0');
	} else {
		if (rc != WW_OK)
			fail_msg("decode failed: %s", err);
		check_texts(fp, msg, ex.ntexts);
		rewind(fp);
		if (ex.natt >= 0)
			assert_int_equal(msg->n_attachments, ex.natt);
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *v = strchr(line, '\t');

		line[strcspn(line, "\n")] = '\0';
		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "cls") == 0)
			assert_string_equal(class_name(wecom_classify(ex.path)),
			                    v);
		else if (strcmp(line, "attachment") == 0)
			check_attachment(msg, &natt, v);
		else if (strcmp(line, "hashed") == 0)
			check_hashed(msg, &natt, v);
		else
			check_field(msg, line, v);
	}
	check_body(&ex, msg, body, blen);
	check_secrets(key, &ex, msg);
	for (size_t i = 0; i < msg->n_texts; i++)
		for (size_t s = 0; s < ex.nsecrets; s++)
			assert_null(strstr(msg->texts[i]->text, ex.secrets[s]));
	if (rc == WW_OK && msg->n_texts > 0)
		check_redaction(key, &ex, body, blen, msg);
	fclose(fp);
	free(body);
	message_free(msg);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_data_cases(void **state)
{
	struct secret *key = fixture_key();
	char *names[512];
	size_t n = 0;
	struct dirent *de;
	DIR *dir = opendir(WECOM_DATA_DIR);

	(void)state;
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL && n < WW_NELEM(names)) {
		size_t len = strlen(de->d_name);

		if (len > 7 && strcmp(de->d_name + len - 7, ".expect") == 0)
			names[n++] = strndup(de->d_name, len - 7);
	}
	closedir(dir);
	assert_true(n >= 60);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		run_case(key, names[i]);
		free(names[i]);
	}
	secret_free(key);
}

static int
decode_str(const char *path, const char *body, Ww__Message **msg, char *err,
           size_t errlen)
{
	struct secret *key = fixture_key();
	int rc =
	    wecom_decode(key, path, "access_token=T", (const uint8_t *)body,
	                 strlen(body), msg, err, errlen);

	secret_free(key);
	return rc;
}

static void
expect_error(const char *path, const char *body, const char *reason)
{
	Ww__Message *msg = NULL;
	char err[256];

	assert_int_equal(decode_str(path, body, &msg, err, sizeof(err)),
	                 WW_EPARSE);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\", want \"%s\"", err, reason);
	assert_non_null(msg);
	assert_string_equal(msg->decode_error, err);
	message_free(msg);
}

static void
test_limits(void **state)
{
	char deep[256] = "{\"msgtype\":\"x\",\"x\":", *big, *many;
	size_t off;

	(void)state;
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	expect_error("/cgi-bin/message/send", deep, "deeper than 32");
	expect_error("/cgi-bin/message/send", "", "empty body");
	expect_error(
	    "/cgi-bin/message/send",
	    "{\"touser\":\"a\",\"msgtype\":\"text\",\"text\":{\"content\":"
	    "\"bad \xff\xfe utf8\"}}",
	    "invalid JSON");
	expect_error(
	    "/cgi-bin/message/send",
	    "{\"msgtype\":\"text\",\"text\":{\"content\":\"a\\u0000b\"}}",
	    "invalid JSON");
	expect_error(
	    "/cgi-bin/message/send",
	    "{\"msgtype\":\"text\",\"agentid\":"
	    "123456789012345678901234567890,\"text\":{\"content\":\"a\"}}",
	    "invalid JSON");
	expect_error("/cgi-bin/message/send",
	             "{\"msgtype\":\"x\",\"x\":{\"\":\"hidden\"}}",
	             "empty object key");
	expect_error("/cgi-bin/message/send", "{\"a\":1} trailing",
	             "invalid JSON");

	big = malloc(WECOM_MAX_BODY + 2);
	assert_non_null(big);
	memset(big, ' ', WECOM_MAX_BODY + 1);
	big[0] = '{';
	big[WECOM_MAX_BODY] = '}';
	big[WECOM_MAX_BODY + 1] = '\0';
	expect_error("/cgi-bin/message/send", big, "exceeds");
	free(big);

	/* One more string leaf than allowed. */
	many = malloc(20 * (WECOM_MAX_TEXT_PARTS + 1) + 64);
	assert_non_null(many);
	off = (size_t)sprintf(many, "{\"msgtype\":\"x\",\"x\":[");
	for (int i = 0; i <= WECOM_MAX_TEXT_PARTS; i++)
		off +=
		    (size_t)sprintf(many + off, "%s\"t%d\"", i ? "," : "", i);
	strcpy(many + off, "]}");
	expect_error("/cgi-bin/message/send", many,
	             "more than 4096 text parts");
	free(many);
}

static void
test_other_endpoints(void **state)
{
	Ww__Message *msg;
	char err[256];

	(void)state;
	/* Non-message endpoints never fail on their body. */
	assert_int_equal(
	    decode_str("/cgi-bin/user/get", "", &msg, err, sizeof(err)), WW_OK);
	assert_string_equal(msg->endpoint, "user/get");
	assert_int_equal(msg->n_texts, 0);
	message_free(msg);
	assert_int_equal(decode_str("/cgi-bin/user/update", "not json {", &msg,
	                            err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(msg->body.len, 0);
	assert_string_equal(msg->decode_error, "");
	message_free(msg);
	assert_int_equal(
	    decode_str("/other/path", "{}", &msg, err, sizeof(err)), WW_OK);
	assert_string_equal(msg->endpoint, "/other/path");
	message_free(msg);
}

static void
test_gettoken(void **state)
{
	struct secret *key = fixture_key();
	Ww__Message *msg;
	char err[256], d[SECRET_DIGEST_LEN];

	(void)state;
	assert_int_equal(
	    wecom_decode(key, "/cgi-bin/gettoken",
	                 "corpid=ww0123456789abcdef&corpsecret=SEC%2BRET", NULL,
	                 0, &msg, err, sizeof(err)),
	    WW_OK);
	assert_string_equal(msg->corp_id, "ww0123456789abcdef");
	secret_digest(key, "SEC+RET", 7, d);
	assert_string_equal(msg->app, d);
	message_free(msg);
	secret_free(key);
}

static void
test_classify(void **state)
{
	(void)state;
	assert_int_equal(wecom_classify("/cgi-bin/message/send"),
	                 WECOM_MESSAGE);
	assert_int_equal(wecom_classify("/CGI-BIN/Message/Send"),
	                 WECOM_MESSAGE);
	assert_int_equal(wecom_classify("/cgi-bin/message/send/"),
	                 WECOM_MESSAGE);
	assert_int_equal(wecom_classify("/cgi-bin/x/../message/send"),
	                 WECOM_MESSAGE);
	assert_int_equal(wecom_classify("/cgi-bin/user/get"), WECOM_OTHER);
	assert_int_equal(wecom_classify("/cgi-bin/gettoken"), WECOM_GETTOKEN);
	assert_int_equal(wecom_classify("/cgi-bin/service/get_suite_token"),
	                 WECOM_GETTOKEN);
	assert_int_equal(wecom_classify("/cgi-bin/media/upload"), WECOM_UPLOAD);
	assert_int_equal(wecom_classify("/cgi-bin/webhook/upload_media"),
	                 WECOM_UPLOAD);
	assert_int_equal(wecom_classify("/cgi-bin/media/uploadimg"),
	                 WECOM_UPLOAD);
	assert_int_equal(wecom_classify("/cgi-bin/media/upload_by_url"),
	                 WECOM_MESSAGE);
	assert_int_equal(wecom_classify("/cgi-bin"), WECOM_NOT_API);
	assert_int_equal(wecom_classify("/"), WECOM_NOT_API);
	assert_int_equal(wecom_classify(NULL), WECOM_NOT_API);
}

static void
test_scrub_query(void **state)
{
	struct secret *key = fixture_key();
	char d1[SECRET_DIGEST_LEN], d2[SECRET_DIGEST_LEN], want[256], *out;

	(void)state;
	secret_digest(key, "ACCESS", 6, d1);
	secret_digest(key, "k+1", 3, d2);
	assert_int_equal(
	    wecom_scrub_query(key,
	                      "access_token=ACCESS&type=file&key=k%2B1&"
	                      "debug=1&flag&Access_Token=",
	                      &out),
	    WW_OK);
	snprintf(want, sizeof(want),
	         "access_token=%s&type=file&key=%s&debug=1&flag&Access_Token=",
	         d1, d2);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(wecom_scrub_query(key, NULL, &out), WW_OK);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(
	    wecom_scrub_query(key, "corpid=ww1&corpsecret=S&code=C&js_code=J",
	                      &out),
	    WW_OK);
	assert_null(strstr(out, "=S"));
	assert_null(strstr(out, "=C"));
	assert_null(strstr(out, "=J"));
	assert_non_null(strstr(out, "corpid=ww1&"));
	free(out);
	secret_free(key);
}

static void
test_redact_errors(void **state)
{
	static const char body[] = "{\"touser\":\"a\",\"msgtype\":\"text\","
	                           "\"agentid\":1,\"text\":{\"content\":"
	                           "\"call 555 \\\"now\\\" 中文\"}}";
	static const char other[] =
	    "{\"touser\":\"a\",\"msgtype\":\"text\","
	    "\"agentid\":1,\"text\":{\"content\":\"x\"}}";
	char *red[1] = {"call ███ \"now\"\n中文"}, err[256];
	Ww__Message *msg;
	uint8_t *out;
	size_t outlen;
	json_t *j;

	(void)state;
	assert_int_equal(
	    decode_str("/cgi-bin/message/send", body, &msg, err, sizeof(err)),
	    WW_OK);
	assert_int_equal(msg->n_texts, 1);
	assert_string_equal(msg->texts[0]->text, "call 555 \"now\" 中文");
	assert_int_equal(wecom_redact_body((const uint8_t *)body, strlen(body),
	                                   msg, red, 1, &out, &outlen),
	                 WW_OK);
	j = json_loadb((const char *)out, outlen, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "text"), "content")),
	                    red[0]);
	json_decref(j);
	/* Key order and compact form are kept. */
	assert_int_equal(strncmp((const char *)out, "{\"touser\":\"a\",", 14),
	                 0);
	free(out);
	/* A different body than the decoded one is refused. */
	assert_int_equal(wecom_redact_body((const uint8_t *)other,
	                                   strlen(other), msg, red, 1, &out,
	                                   &outlen),
	                 WW_EPARSE);
	assert_int_equal(wecom_redact_body((const uint8_t *)body, strlen(body),
	                                   msg, red, 2, &out, &outlen),
	                 WW_EINVAL);
	red[0] = "bad \xff utf8";
	assert_int_equal(wecom_redact_body((const uint8_t *)body, strlen(body),
	                                   msg, red, 1, &out, &outlen),
	                 WW_EPARSE);
	message_free(msg);
}

static const char upload_body[] =
    "--XyZ123\r\n"
    "Content-Disposition: form-data; name=\"media\"; "
    "filename=\"季度报告.pdf\"; filelength=11\r\n"
    "Content-Type: application/pdf\r\n"
    "\r\n"
    "hello world\r\n"
    "--XyZ123--\r\n";

static void
test_upload(void **state)
{
	struct secret *key = fixture_key();
	uint8_t sha[32];
	Ww__Message *msg;
	char err[256];

	(void)state;
	assert_int_equal(
	    wecom_decode_upload(key, "/cgi-bin/media/upload",
	                        "access_token=TOK&type=file",
	                        "multipart/form-data; boundary=XyZ123",
	                        (const uint8_t *)upload_body,
	                        strlen(upload_body), &msg, err, sizeof(err)),
	    WW_OK);
	assert_string_equal(msg->endpoint, "media/upload");
	assert_string_equal(msg->msgtype, "file");
	assert_true(strncmp(msg->token_digest, "hmac:", 5) == 0);
	assert_int_equal(msg->n_attachments, 1);
	assert_string_equal(msg->attachments[0]->name, "季度报告.pdf");
	assert_string_equal(msg->attachments[0]->kind, "file");
	assert_string_equal(msg->attachments[0]->content_type,
	                    "application/pdf");
	assert_int_equal(msg->attachments[0]->size, 11);
	EVP_Digest("hello world", 11, sha, NULL, EVP_sha256(), NULL);
	assert_memory_equal(msg->attachments[0]->sha256.data, sha, 32);
	assert_int_equal(msg->n_texts, 1);
	assert_string_equal(msg->texts[0]->path, "media.filename");
	assert_string_equal(msg->texts[0]->text, "季度报告.pdf");
	assert_int_equal(msg->body.len, 0);
	message_free(msg);

	assert_int_equal(
	    wecom_decode_upload(key, "/cgi-bin/media/uploadimg", NULL,
	                        "multipart/form-data; boundary=\"XyZ123\"",
	                        (const uint8_t *)upload_body,
	                        strlen(upload_body), &msg, err, sizeof(err)),
	    WW_OK);
	assert_string_equal(msg->attachments[0]->kind, "image");
	message_free(msg);

	assert_int_equal(wecom_decode_upload(
	                     key, "/cgi-bin/media/upload", "type=file",
	                     "application/json", (const uint8_t *)upload_body,
	                     strlen(upload_body), &msg, err, sizeof(err)),
	                 WW_EPARSE);
	assert_non_null(strstr(err, "multipart/form-data"));
	assert_string_equal(msg->decode_error, err);
	assert_string_equal(msg->endpoint, "media/upload");
	message_free(msg);
	secret_free(key);
}

static void
test_upload_odd(void **state)
{
	static const char gbk[] =
	    "--b\r\n"
	    "Content-Disposition: form-data; name=\"media\"; "
	    "filename=\"\xbc\xbe\xb6\xc8.txt\"\r\n\r\n"
	    "x\r\n--b--";
	static const char nofile[] =
	    "--b\r\n"
	    "Content-Disposition: form-data; name=\"x\"\r\n"
	    "\r\nvalue\r\n--b--\r\n";
	struct secret *key = fixture_key();
	Ww__Message *msg;
	char err[256];

	(void)state;
	assert_int_equal(
	    wecom_decode_upload(
	        key, "/cgi-bin/webhook/upload_media", "key=ROBOT&type=voice",
	        "multipart/form-data; boundary=b", (const uint8_t *)gbk,
	        strlen(gbk), &msg, err, sizeof(err)),
	    WW_OK);
	assert_string_equal(msg->attachments[0]->kind, "voice");
	/* Non-UTF-8 bytes are kept visible as U+FFFD, never dropped. */
	assert_non_null(strstr(msg->texts[0]->text, "\xef\xbf\xbd"));
	assert_non_null(strstr(msg->texts[0]->text, ".txt"));
	message_free(msg);
	assert_int_equal(
	    wecom_decode_upload(key, "/cgi-bin/media/upload", "type=file",
	                        "multipart/form-data; boundary=b",
	                        (const uint8_t *)nofile, strlen(nofile), &msg,
	                        err, sizeof(err)),
	    WW_EPARSE);
	assert_non_null(strstr(err, "no file part"));
	message_free(msg);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_cases),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_other_endpoints),
	    cmocka_unit_test(test_gettoken),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_scrub_query),
	    cmocka_unit_test(test_redact_errors),
	    cmocka_unit_test(test_upload),
	    cmocka_unit_test(test_upload_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
