/* test_hostlist.c: host name checks and exact / "*.domain" patterns. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "certs/hostlist.h"
#include "ww.h"

static void
test_canon(void **state)
{
	char out[HOSTLIST_NAME_MAX];
	char label[80], longname[300];

	(void)state;
	assert_int_equal(hostlist_name_canon("QyAPI.Weixin.QQ.com.", out),
	                 WW_OK);
	assert_string_equal(out, "qyapi.weixin.qq.com");
	assert_int_equal(hostlist_name_canon("a_b.example", out), WW_OK);
	static const char *const bad[] = {
	    "",    ".",   "a..b",    ".a",      "-a.b", "a-.b",
	    "a b", "a/b", "1.2.3.4", "a.b:443", "*.a",  "a\xc3\xa9"};
	for (size_t i = 0; i < WW_NELEM(bad); i++)
		assert_int_equal(hostlist_name_canon(bad[i], out), WW_EINVAL);
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_int_equal(hostlist_name_canon(label, out), WW_EINVAL);
	label[63] = '\0';
	assert_int_equal(hostlist_name_canon(label, out), WW_OK);
	/* 254 bytes: one too many. */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 50; i < 254; i += 50)
		longname[i] = '.';
	longname[254] = '\0';
	assert_int_equal(hostlist_name_canon(longname, out), WW_EINVAL);
	longname[253] = '\0';
	assert_int_equal(hostlist_name_canon(longname, out), WW_OK);
	assert_int_equal(hostlist_name_canon(NULL, out), WW_EINVAL);
}

static void
test_pattern_match(void **state)
{
	(void)state;
	assert_true(hostlist_pattern_match("qyapi.weixin.qq.com",
	                                   "QYAPI.weixin.qq.com."));
	assert_false(hostlist_pattern_match("qyapi.weixin.qq.com",
	                                    "x.qyapi.weixin.qq.com"));
	assert_true(hostlist_pattern_match("*.work.weixin.qq.com",
	                                   "open.work.weixin.qq.com"));
	assert_true(hostlist_pattern_match("*.work.weixin.qq.com",
	                                   "a.b.work.weixin.qq.com"));
	assert_false(hostlist_pattern_match("*.work.weixin.qq.com",
	                                    "work.weixin.qq.com"));
	assert_false(hostlist_pattern_match("*.work.weixin.qq.com",
	                                    "evilwork.weixin.qq.com"));
	assert_false(hostlist_pattern_match("*.qq.com", "qq.com.evil.net"));
	assert_false(hostlist_pattern_match("*", "a.com"));
	assert_false(hostlist_pattern_match("a.*.com", "a.b.com"));
	assert_false(hostlist_pattern_match("*.com", "a..com"));
}

static void
test_list(void **state)
{
	static const char *const pats[] = {"qyapi.weixin.qq.com",
	                                   "*.Work.Weixin.QQ.com."};
	struct hostlist *hl = NULL;

	(void)state;
	assert_int_equal(hostlist_new_from(pats, 2, &hl), WW_OK);
	assert_int_equal(hostlist_count(hl), 2);
	assert_true(hostlist_match(hl, "qyapi.weixin.qq.com"));
	assert_true(hostlist_match(hl, "x.work.weixin.qq.com"));
	assert_false(hostlist_match(hl, "weixin.qq.com"));
	assert_false(hostlist_match(hl, "example.com"));
	assert_false(hostlist_match(hl, "bad name"));
	assert_false(hostlist_match(hl, NULL));
	assert_int_equal(hostlist_add(hl, "*"), WW_EINVAL);
	assert_int_equal(hostlist_add(hl, "*."), WW_EINVAL);
	assert_int_equal(hostlist_add(hl, "a.*.b"), WW_EINVAL);
	assert_int_equal(hostlist_count(hl), 2);
	for (int i = 0; i < 40; i++) /* grows */
		assert_int_equal(hostlist_add(hl, "example.com"), WW_OK);
	assert_true(hostlist_match(hl, "EXAMPLE.com"));
	hostlist_free(hl);
	hostlist_free(NULL);

	static const char *const bad[] = {"ok.com", "not ok"};
	assert_int_equal(hostlist_new_from(bad, 2, &hl), WW_EINVAL);
	assert_null(hl);
	assert_int_equal(hostlist_new(&hl), WW_OK);
	assert_false(hostlist_match(hl, "a.com"));
	hostlist_free(hl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canon),
	    cmocka_unit_test(test_pattern_match),
	    cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
