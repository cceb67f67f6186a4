/*
 * test_wecom_arena.c: the arena jansson allocates from inside the decoders
 * (store/wecom.c).  Decoding the same bodies again and again gives the same
 * messages and leaks nothing (ASan builds); hostile bodies are refused as
 * before and leave nothing behind for the next decode; jansson used outside
 * a decoder (callbacks, tools) still allocates with malloc; several threads
 * decode at once.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
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
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"
#include "tests/unit/wecom_fixture.h"

#ifndef WECOM_DATA_DIR
#define WECOM_DATA_DIR "tests/data/wecom"
#endif
#define MAX_CASES 256

struct dcase {
	char path[256];
	uint8_t *body;
	size_t len;
	uint8_t *packed; /* the first decode's message, packed */
	size_t plen;
	int rc;
};

struct cases {
	struct dcase c[MAX_CASES];
	size_t n;
	struct secret *key;
};

static void
expect_path(const char *file, char *path, size_t cap)
{
	char line[8192];
	FILE *fp = fopen(file, "r");

	snprintf(path, cap, "/cgi-bin/message/send");
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "path\t", 5) == 0 && strlen(line + 5) < cap)
			memcpy(path, line + 5, strlen(line + 5) + 1);
	}
	fclose(fp);
}

static int
decode_pack(const struct secret *key, const char *path, const uint8_t *body,
            size_t len, uint8_t **packed, size_t *plen)
{
	Ww__Message *msg = NULL;
	char err[256];
	int rc;

	rc = wecom_decode(key, path, "access_token=T", body, len, &msg, err,
	                  sizeof(err));
	assert_true(rc == WW_OK || rc == WW_EPARSE);
	assert_non_null(msg);
	*plen = ww__message__get_packed_size(msg);
	*packed = malloc(*plen + 1);
	assert_non_null(*packed);
	ww__message__pack(msg, *packed);
	message_free(msg);
	return rc;
}

static int
load_cases(void **state)
{
	struct cases *cs = calloc(1, sizeof(*cs));
	char file[1024];
	struct dirent *de;
	DIR *dir = opendir(WECOM_DATA_DIR);

	assert_non_null(cs);
	assert_non_null(dir);
	assert_int_equal(secret_new((const unsigned char *)"k", 1, &cs->key),
	                 WW_OK);
	while ((de = readdir(dir)) != NULL && cs->n < MAX_CASES) {
		struct dcase *c = &cs->c[cs->n];
		size_t nl = strlen(de->d_name);

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%.*s.expect", WECOM_DATA_DIR,
		         (int)(nl - 5), de->d_name);
		expect_path(file, c->path, sizeof(c->path));
		snprintf(file, sizeof(file), "%s/%s", WECOM_DATA_DIR,
		         de->d_name);
		c->body = fixture_read_file(file, &c->len);
		c->rc = decode_pack(cs->key, c->path, c->body, c->len,
		                    &c->packed, &c->plen);
		cs->n++;
	}
	closedir(dir);
	assert_true(cs->n >= 20);
	*state = cs;
	return 0;
}

static int
free_cases(void **state)
{
	struct cases *cs = *state;

	for (size_t i = 0; i < cs->n; i++) {
		free(cs->c[i].body);
		free(cs->c[i].packed);
	}
	secret_free(cs->key);
	free(cs);
	return 0;
}

/* Decode c again: same result, same message. */
static void
check_case(const struct secret *key, const struct dcase *c)
{
	uint8_t *packed;
	size_t plen;

	assert_int_equal(
	    decode_pack(key, c->path, c->body, c->len, &packed, &plen), c->rc);
	assert_int_equal(plen, c->plen);
	assert_memory_equal(packed, c->packed, plen);
	free(packed);
}

static void
test_loop(void **state)
{
	struct cases *cs = *state;

	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < cs->n; i++)
			check_case(cs->key, &cs->c[i]);
}

static void
expect_error(const struct secret *key, const char *body, size_t len,
             const char *reason)
{
	Ww__Message *msg = NULL;
	char err[256];

	assert_int_equal(wecom_decode(key, "/cgi-bin/message/send", NULL,
	                              (const uint8_t *)body, len, &msg, err,
	                              sizeof(err)),
	                 WW_EPARSE);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\", want \"%s\"", err, reason);
	assert_string_equal(msg->decode_error, err);
	message_free(msg);
}

/* body = prefix, n copies of item joined by ',', suffix. */
static char *
repeat(const char *prefix, const char *item, size_t n, const char *suffix,
       size_t *len)
{
	size_t pl = strlen(prefix), il = strlen(item), sl = strlen(suffix);
	char *b = malloc(pl + n * (il + 1) + sl + 1), *p;

	assert_non_null(b);
	memcpy(b, prefix, pl);
	p = b + pl;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, item, il);
		p += il;
	}
	memcpy(p, suffix, sl + 1);
	*len = (size_t)(p - b) + sl;
	return b;
}

/*
 * Hostile bodies: refused with the same reasons as before the arena, or
 * decoded when merely big; the arena grows for them and the next decode
 * is unaffected.
 */
static void
test_hostile(void **state)
{
	struct cases *cs = *state;
	Ww__Message *msg = NULL;
	char err[256], *b;
	size_t len;

	/* deeper than ours (32) and than jansson's own limit (2048) */
	b = repeat("{\"msgtype\":\"x\",\"x\":", "[1", 40, "", &len);
	expect_error(cs->key, b, len, "JSON nested deeper than 32");
	free(b);
	b = malloc(6000);
	assert_non_null(b);
	memset(b, '[', 3000);
	memset(b + 3000, ']', 3000);
	expect_error(cs->key, b, 6000, "JSON nested deeper than 32");
	free(b);
	/* a huge array: many arena chunks, decodes */
	b = repeat(
	    "{\"touser\":\"a\",\"msgtype\":\"text\",\"text\":{\"content\":"
	    "\"hi\"},\"x\":[",
	    "1", 300000, "]}", &len);
	assert_int_equal(wecom_decode(cs->key, "/cgi-bin/message/send", NULL,
	                              (const uint8_t *)b, len, &msg, err,
	                              sizeof(err)),
	                 WW_OK);
	assert_int_equal(msg->n_texts, 1);
	assert_int_equal(msg->body.len, len);
	message_free(msg);
	free(b);
	/* a huge array of objects with secrets: re-serialized from the arena */
	b = repeat("{\"msgtype\":\"x\",\"x\":[", "{\"code\":\"C\",\"k\":[]}",
	           50000, "]}", &len);
	assert_int_equal(wecom_decode(cs->key, "/cgi-bin/message/send", NULL,
	                              (const uint8_t *)b, len, &msg, err,
	                              sizeof(err)),
	                 WW_OK);
	assert_true(msg->body.len > 0);
	assert_null(memmem(msg->body.data, msg->body.len, "\"C\"", 3));
	message_free(msg);
	free(b);
	/* too many texts, after the arena grew */
	b = repeat("{\"msgtype\":\"x\",\"x\":[", "\"t\"",
	           WECOM_MAX_TEXT_PARTS + 1, "]}", &len);
	expect_error(cs->key, b, len, "more than 4096 text parts");
	free(b);
	/* invalid JSON deep inside a big body */
	b = repeat("{\"msgtype\":\"x\",\"x\":[", "\"abc\"", 20000, ",]}", &len);
	expect_error(cs->key, b, len, "invalid JSON");
	free(b);
	for (size_t i = 0; i < cs->n; i++)
		check_case(cs->key, &cs->c[i]);
}

/* jansson outside a decoder: plain malloc, before and after decodes. */
static void
test_outside(void **state)
{
	struct cases *cs = *state;
	json_t *before, *after;
	char *s;

	wecom_init();
	before = json_pack("{s:s, s:[i,i]}", "a", "before", "b", 1, 2);
	assert_non_null(before);
	check_case(cs->key, &cs->c[0]);
	after = json_loads("{\"x\":\"after\",\"y\":[1,2,3]}", 0, NULL);
	assert_non_null(after);
	assert_int_equal(json_object_set(after, "before", before), 0);
	check_case(cs->key, &cs->c[1]);
	s = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	assert_string_equal(s, "{\"before\":{\"a\":\"before\",\"b\":[1,2]},"
	                       "\"x\":\"after\",\"y\":[1,2,3]}");
	free(s); /* malloc'ed: jansson ran outside any arena */
	json_decref(before);
	check_case(cs->key, &cs->c[2]);
	json_decref(after);
}

struct worker {
	struct cases *cs;
	int failures;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct wecom_answer a;
	static const char ans[] =
	    "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"A\"}";

	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < w->cs->n; i++) {
			const struct dcase *c = &w->cs->c[i];
			uint8_t *packed = NULL;
			Ww__Message *msg = NULL;
			char err[256];
			size_t plen = 0;
			int rc;

			rc = wecom_decode(w->cs->key, c->path, "access_token=T",
			                  c->body, c->len, &msg, err,
			                  sizeof(err));
			if (msg != NULL) {
				plen = ww__message__get_packed_size(msg);
				packed = malloc(plen + 1);
				if (packed != NULL)
					ww__message__pack(msg, packed);
			}
			if (rc != c->rc || packed == NULL || plen != c->plen ||
			    memcmp(packed, c->packed, plen) != 0)
				w->failures++;
			free(packed);
			message_free(msg);
		}
		if (wecom_read_answer(w->cs->key, WECOM_GETTOKEN,
		                      (const uint8_t *)ans, strlen(ans),
		                      &a) != WW_OK ||
		    !a.has_token || a.scrubbed == NULL)
			w->failures++;
		wecom_answer_cleanup(&a);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct cases *cs = *state;
	struct worker w[4];
	pthread_t th[4];

	wecom_init();
	for (int i = 0; i < 4; i++) {
		w[i].cs = cs;
		w[i].failures = 0;
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	/* meanwhile, jansson with no arena on this thread */
	for (int i = 0; i < 2000; i++) {
		json_t *j = json_pack("{s:i, s:s}", "i", i, "s", "main");
		char *s = json_dumps(j, JSON_COMPACT);

		assert_non_null(s);
		free(s);
		json_decref(j);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_outside),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, load_cases, free_cases);
}
