/* test_ww.c: lib/ error codes and log sink. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "ww.h"

static void
test_strerror_covers_every_code(void **state)
{
	(void)state;
	for (int rc = WW_OK; rc >= WW_ECRYPTO; rc--)
		assert_string_not_equal(ww_strerror(rc), "unknown error");
	assert_string_equal(ww_strerror(1), "unknown error");
}

static void
test_log_json_escapes(void **state)
{
	char buf[512] = {0};
	FILE *fp = fmemopen(buf, sizeof(buf) - 1, "w");

	(void)state;
	assert_non_null(fp);
	log_init("test", LOG_LEVEL_INFO, fp, 1);
	log_info("a \"quoted\" \\ line\n");
	log_debug("not shown");
	fclose(fp);
	log_init("test", LOG_LEVEL_INFO, NULL, 0);
	assert_non_null(
	    strstr(buf, "\"msg\":\"a \\\"quoted\\\" \\\\ line\\u000a\""));
	assert_null(strstr(buf, "not shown"));
}

static void
test_log_level_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("loud"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror_covers_every_code),
	    cmocka_unit_test(test_log_json_escapes),
	    cmocka_unit_test(test_log_level_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
