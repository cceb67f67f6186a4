/* test_auth.c: htpasswd-style credentials with SHA-512-crypt and bcrypt. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <crypt.h>

#include "ww.h"
#include "proxy/auth.h"

static char path[] = "/tmp/wwgate-test-auth.XXXXXX";

static void
write_file(const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_check(void **state)
{
	char text[1024], err[256], user[AUTH_USER_MAX];
	char salt6[] = "$6$abcdefgh$", *h6, *hb;
	const char *saltb;
	struct auth *a;

	(void)state;
	h6 = strdup(crypt("s3cret", salt6));
	saltb = crypt_gensalt("$2b$", 4, NULL, 0);
	assert_non_null(saltb);
	hb = strdup(crypt("pw-b", saltb));
	snprintf(text, sizeof(text), "# users\n\nalice:%s\nbob:%s\n", h6, hb);
	write_file(text);
	assert_int_equal(auth_load(path, &a, err, sizeof(err)), WW_OK);
	/* alice:s3cret, bob:pw-b, alice:wrong, carol:x */
	assert_int_equal(auth_check(a, "Basic YWxpY2U6czNjcmV0", user), WW_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(auth_check(a, "basic YWxpY2U6czNjcmV0", user), WW_OK);
	assert_int_equal(auth_check(a, "Basic YWxpY2U6czNjcmV0", user), WW_OK);
	assert_int_equal(auth_check(a, "Basic Ym9iOnB3LWI=", user), WW_OK);
	assert_string_equal(user, "bob");
	assert_int_equal(auth_check(a, "Basic YWxpY2U6d3Jvbmc=", user),
	                 WW_EPERM);
	assert_string_equal(user, "");
	assert_int_equal(auth_check(a, "Basic Y2Fyb2w6eA==", user), WW_EPERM);
	assert_int_equal(auth_check(a, "", user), WW_EPERM);
	assert_int_equal(auth_check(a, NULL, user), WW_EPERM);
	assert_int_equal(auth_check(a, "Bearer abc", user), WW_EPERM);
	assert_int_equal(auth_check(a, "Basic !!!!", user), WW_EPERM);
	assert_int_equal(auth_check(a, "Basic YWxpY2U=", user), WW_EPERM);
	auth_free(a);
	free(h6);
	free(hb);
}

static void
test_load_bad(void **state)
{
	char err[256];
	struct auth *a;

	(void)state;
	write_file("alice:plainpassword\n");
	assert_int_equal(auth_load(path, &a, err, sizeof(err)), WW_EINVAL);
	assert_non_null(strstr(err, ":1:"));
	write_file("nocolon\n");
	assert_int_equal(auth_load(path, &a, err, sizeof(err)), WW_EINVAL);
	write_file(":$6$x$y\n");
	assert_int_equal(auth_load(path, &a, err, sizeof(err)), WW_EINVAL);
	unlink(path);
	assert_int_equal(auth_load(path, &a, err, sizeof(err)), WW_ENOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_load_bad),
	};
	int fd = mkstemp(path), rc;

	if (fd < 0)
		return 1;
	close(fd);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return rc;
}
