/* test_tls.c: server TLS contexts (proxy/tls.h) from tests/mkcerts files. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/tls.h"

static char dir[] = "/tmp/wwgate-test-tls.XXXXXX";

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int
setup(void **state)
{
	char cmd[512];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
	         "%s/tests/mkcerts %s/a >/dev/null 2>&1 && "
	         "%s/tests/mkcerts %s/b >/dev/null 2>&1 && "
	         "printf 'not a pem\\n' >%s/junk.pem",
	         TOP_SRCDIR, dir, TOP_SRCDIR, dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
load(const char *cert, const char *key, const char *chain, char *err,
     size_t errlen)
{
	struct conf_tls t = {
	    .cert = (char *)cert, .key = (char *)key, .chain = (char *)chain};
	SSL_CTX *ctx = NULL;
	int rc = tls_ctx_new(&t, &ctx, err, errlen);

	if (rc == WW_OK) {
		assert_non_null(ctx);
		assert_int_equal(SSL_CTX_get_min_proto_version(ctx),
		                 TLS1_2_VERSION);
		/* a second reference outlives the first */
		assert_ptr_equal(tls_ctx_ref(ctx), ctx);
		tls_ctx_unref(ctx);
		tls_ctx_unref(ctx);
	} else {
		assert_null(ctx);
	}
	return rc;
}

static void
test_ok(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(load(path("a/server.crt"), path("a/server.key"), NULL,
	                      err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(load(path("a/server-chain.crt"), path("a/server.key"),
	                      NULL, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(load(path("a/server.crt"), path("a/server.key"),
	                      path("a/ca.crt"), err, sizeof(err)),
	                 WW_OK);
	tls_ctx_unref(NULL);
	assert_null(tls_ctx_ref(NULL));
}

static void
expect(const char *cert, const char *key, const char *chain, const char *needle)
{
	char err[512] = "";

	assert_int_equal(load(cert, key, chain, err, sizeof(err)), WW_EINVAL);
	if (strstr(err, needle) == NULL)
		fail_msg("want '%s' in '%s'", needle, err);
}

static void
test_errors(void **state)
{
	(void)state;
	expect(path("missing.crt"), path("a/server.key"), NULL,
	       "cannot load certificate");
	expect(path("junk.pem"), path("a/server.key"), NULL,
	       "cannot load certificate");
	expect(path("a/server.crt"), path("missing.key"), NULL,
	       "cannot load private key");
	expect(path("a/server.crt"), path("b/server.key"), NULL,
	       "does not match");
	expect(path("a/server.crt"), path("a/server.key"), path("junk.pem"),
	       "holds no PEM certificate");
	expect(path("a/server.crt"), path("a/server.key"), path("nope.pem"),
	       "cannot read chain");
	expect(path("a/server.crt"), NULL, NULL, "needs a certificate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
