/* test_identity.c: the maps learned from traffic: tokens, apps, media. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/identity.h"

static void
test_tokens_and_apps(void **state)
{
	struct identity *id;
	char corp[IDENTITY_FIELD_MAX], app[IDENTITY_FIELD_MAX];

	(void)state;
	assert_int_equal(identity_new(0, &id), WW_OK);
	assert_int_equal(identity_lookup_token(id, "hmac:t1", corp, app),
	                 WW_ENOTFOUND);
	/* a secret with a configured name is recorded by name */
	assert_int_equal(identity_add_app(id, "hmac:s1", "hr-bot"), WW_OK);
	assert_int_equal(identity_learn_token(id, "hmac:t1", "ww01", "hmac:s1"),
	                 WW_OK);
	assert_int_equal(identity_learn_token(id, "hmac:t2", "ww02", "hmac:s2"),
	                 WW_OK);
	assert_int_equal(identity_lookup_token(id, "hmac:t1", corp, app),
	                 WW_OK);
	assert_string_equal(corp, "ww01");
	assert_string_equal(app, "hr-bot");
	/* unnamed: the secret's digest stands for the app */
	assert_int_equal(identity_lookup_token(id, "hmac:t2", corp, app),
	                 WW_OK);
	assert_string_equal(app, "hmac:s2");
	/* a refreshed token of the same app replaces nothing else */
	assert_int_equal(identity_learn_token(id, "hmac:t1", "ww03", "hmac:s1"),
	                 WW_OK);
	assert_int_equal(identity_lookup_token(id, "hmac:t1", corp, app),
	                 WW_OK);
	assert_string_equal(corp, "ww03");
	identity_free(id);
	identity_free(NULL);
}

static void
test_bounded(void **state)
{
	struct identity *id;
	char key[32], corp[IDENTITY_FIELD_MAX], app[IDENTITY_FIELD_MAX];
	unsigned char sha[32], got[32];

	(void)state;
	assert_int_equal(identity_new(8, &id), WW_OK);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "hmac:%d", i);
		assert_int_equal(identity_learn_token(id, key, "c", "a"),
		                 WW_OK);
		memset(sha, i, sizeof(sha));
		snprintf(key, sizeof(key), "media-%d", i);
		assert_int_equal(identity_learn_media(id, key, sha), WW_OK);
	}
	/* the oldest are forgotten, the newest 8 kept */
	assert_int_equal(identity_lookup_token(id, "hmac:0", corp, app),
	                 WW_ENOTFOUND);
	assert_int_equal(identity_lookup_token(id, "hmac:91", corp, app),
	                 WW_ENOTFOUND);
	for (int i = 92; i < 100; i++) {
		snprintf(key, sizeof(key), "hmac:%d", i);
		assert_int_equal(identity_lookup_token(id, key, corp, app),
		                 WW_OK);
	}
	assert_int_equal(identity_lookup_media(id, "media-3", got),
	                 WW_ENOTFOUND);
	assert_int_equal(identity_lookup_media(id, "media-99", got), WW_OK);
	memset(sha, 99, sizeof(sha));
	assert_memory_equal(got, sha, 32);
	identity_free(id);
}

static void *
t_hammer(void *arg)
{
	char key[32], corp[IDENTITY_FIELD_MAX], app[IDENTITY_FIELD_MAX];

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "hmac:%d", i % 300);
		identity_learn_token(arg, key, "corp", "app");
		identity_lookup_token(arg, key, corp, app);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct identity *id;
	pthread_t th[4];

	(void)state;
	assert_int_equal(identity_new(128, &id), WW_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, t_hammer, id), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	identity_free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokens_and_apps),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
