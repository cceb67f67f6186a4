/* test_conf.c: the configuration loader, through proxy/conf.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/conf.h"

#define MINIMAL                                                                \
	"listen:\n"                                                            \
	"  - address: 127.0.0.1:8443\n"                                        \
	"    tls: { cert: c.crt, key: c.key }\n"                               \
	"upstream: { url: https://qyapi.weixin.qq.com }\n"                     \
	"journal: { path: var/journal }\n"                                     \
	"policy: { file: p.yaml }\n"

static int
load(const char *text, struct conf **c, char *err, size_t errlen)
{
	return conf_load_buf("t.yaml", text, strlen(text), c, err, errlen);
}

/* Load text, expect failure, and expect needle in the message. */
static void
expect_error(const char *text, const char *needle)
{
	struct conf *c = NULL;
	char err[2048];
	int rc = load(text, &c, err, sizeof(err));

	if (rc != WW_EINVAL || strstr(err, needle) == NULL)
		fail_msg("expected '%s', got rc %d: %s", needle, rc, err);
	assert_null(c);
}

static void
test_sample(void **state)
{
	struct conf *c = NULL;
	char err[1024];
	int rc;

	(void)state;
	rc = conf_load(TOP_SRCDIR "/contrib/wwgate.yaml", &c, err, sizeof(err));
	if (rc != WW_OK)
		fail_msg("%s", err);
	assert_string_equal(c->gateway_id, "gw-1");
	assert_int_equal(c->n_listen, 1);
	assert_string_equal(c->listen[0].address, "127.0.0.1:8443");
	assert_int_equal(c->listen[0].mode, CONF_MODE_REVERSE);
	assert_int_equal(c->listen[0].where.line, 8);
	assert_string_equal(c->listen[0].tls.cert, "var/certs/server.crt");
	assert_null(c->listen[0].tls.chain);
	assert_null(c->upstream.ca_file); /* "" means the system store */
	assert_int_equal(c->upstream.timeout_ms, 10000);
	assert_int_equal(c->journal.sync, CONF_SYNC_FULL);
	assert_int_equal(c->journal.max_blob_bytes, 20u << 20);
	assert_int_equal(c->limits.max_header_bytes, 16384);
	assert_int_equal(c->limits.max_body_bytes, 1u << 20);
	assert_int_equal(c->refusal.block_errcode, 985001);
	assert_string_equal(c->policy.file, "contrib/policy/default.yaml");
	assert_ptr_equal(conf_ref(c), c);
	conf_unref(c);
	conf_unref(c);
	conf_unref(NULL);
}

static void
test_defaults(void **state)
{
	struct conf *c = NULL;
	char err[512];

	(void)state;
	assert_int_equal(load(MINIMAL, &c, err, sizeof(err)), WW_OK);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->limits.max_upload_bytes, 20u << 20);
	assert_int_equal(c->limits.max_connections, 10000);
	assert_string_equal(c->admin.address, "127.0.0.1:9090");
	assert_string_equal(c->journal.segment, "month");
	assert_int_equal(c->journal.commit_delay_us, 0);
	assert_int_equal(c->n_apps, 0);
	assert_int_equal(c->upstream.n_resolve, 0);
	conf_unref(c);
}

static void
test_full(void **state)
{
	struct conf *c = NULL;
	char err[512];
	const char *text = MINIMAL "workers: 3\n"
	                           "upstream_x: 1\n";

	(void)state;
	expect_error(text, "t.yaml:8: upstream_x: unknown key");
	text = "gateway_id: gw-2\n"
	       "workers: 3\n"
	       "listen:\n"
	       "  - address: '[::1]:8443'\n"
	       "    mode: explicit\n"
	       "  - address: 127.0.0.1:8444\n"
	       "    tls: { cert: a, key: b, chain: c }\n"
	       "upstream:\n"
	       "  url: http://127.0.0.1:9999\n"
	       "  resolve: { 'qyapi.weixin.qq.com:443': 127.0.0.1 }\n"
	       "journal: { path: j, sync: none, max_blob_bytes: 4KiB,\n"
	       "  commit_delay_us: 500 }\n"
	       "policy: { file: p }\n"
	       "limits: { max_body_bytes: 2MiB, header_timeout_ms: 500 }\n"
	       "refusal: { block_errcode: -7 }\n"
	       "log: { level: debug, format: json, access_log: a.log }\n"
	       "apps:\n"
	       "  - { name: hr-bot, corp_id: ww1, secret_file: s }\n";
	assert_int_equal(load(text, &c, err, sizeof(err)), WW_OK);
	assert_string_equal(c->gateway_id, "gw-2");
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->n_listen, 2);
	assert_int_equal(c->listen[0].mode, CONF_MODE_EXPLICIT);
	assert_string_equal(conf_mode_name(c->listen[0].mode), "explicit");
	assert_null(c->listen[0].tls.cert);
	assert_string_equal(c->listen[1].tls.chain, "c");
	assert_int_equal(c->listen[1].where.line, 6);
	assert_int_equal(c->upstream.n_resolve, 1);
	assert_string_equal(c->upstream.resolve[0],
	                    "qyapi.weixin.qq.com:443:127.0.0.1");
	assert_int_equal(c->journal.sync, CONF_SYNC_NONE);
	assert_int_equal(c->journal.max_blob_bytes, 4096);
	assert_int_equal(c->journal.commit_delay_us, 500);
	assert_int_equal(c->limits.max_body_bytes, 2u << 20);
	assert_int_equal(c->limits.header_timeout_ms, 500);
	assert_int_equal(c->refusal.block_errcode, -7);
	assert_int_equal(c->log.level, 3);
	assert_int_equal(c->log.format, CONF_LOG_JSON);
	assert_int_equal(c->n_apps, 1);
	assert_string_equal(c->apps[0].corp_id, "ww1");
	conf_unref(c);
}

static void
test_errors(void **state)
{
	(void)state;
	/* bad enum value, with its line and key path */
	expect_error("listen:\n"
	             "  - address: 127.0.0.1:8443\n"
	             "    mode: foo\n",
	             "t.yaml:3: listen[0].mode: expected "
	             "reverse|explicit|transparent, got 'foo'");
	/* wrong types */
	expect_error(
	    MINIMAL "workers: many\n",
	    "t.yaml:7: workers: expected a non-negative integer, got 'many'");
	expect_error("listen: [{ address: 127.0.0.1:1 }]\n"
	             "upstream: { url: https://a }\n"
	             "journal: { path: j, commit_delay_us: 100001 }\n"
	             "policy: { file: p.yaml }\n",
	             "t.yaml:3: journal.commit_delay_us: expected a value "
	             "between 0 and 100000");
	expect_error(MINIMAL "limits: 5\n",
	             "t.yaml:7: limits: expected a mapping, got a scalar");
	expect_error(MINIMAL "admin: { address: [1, 2] }\n",
	             "t.yaml:7: admin.address: expected a scalar, got a list");
	expect_error("listen: { address: x }\n",
	             "t.yaml:1: listen: expected a list");
	/* bad values */
	expect_error(
	    MINIMAL "workers: 5000\n",
	    "t.yaml:7: workers: expected a value between 0 and 1024, got 5000");
	expect_error(MINIMAL "limits: { max_header_bytes: 16XB }\n",
	             "t.yaml:7: limits.max_header_bytes: expected a size");
	expect_error(MINIMAL "admin: { address: localhost:80 }\n",
	             "t.yaml:7: admin.address: expected a numeric host:port");
	expect_error(MINIMAL "gateway_id: 'a b'\n", "t.yaml:7: gateway_id:");
	expect_error(MINIMAL "refusal: { block_errcode: 1.5 }\n",
	             "t.yaml:7: refusal.block_errcode: expected an integer");
	expect_error(MINIMAL "journal: { path: j }\n",
	             "t.yaml:7: journal: duplicate key");
	/* unknown keys at every depth */
	expect_error(MINIMAL "limits: { max_bodybytes: 1 }\n",
	             "t.yaml:7: limits.max_bodybytes: unknown key");
	/* missing required keys, also inside a missing mapping */
	expect_error("listen:\n"
	             "  - address: 127.0.0.1:8443\n"
	             "    tls: { cert: c }\n"
	             "journal: { path: j }\n"
	             "policy: { file: p }\n",
	             "t.yaml:3: listen[0].tls.key: required key missing");
	expect_error("listen:\n"
	             "  - address: 127.0.0.1:8443\n"
	             "    tls: { cert: c, key: k }\n"
	             "journal: { path: j }\n"
	             "policy: { file: p }\n",
	             "t.yaml:1: upstream.url: required key missing");
	expect_error("listen: []\n", "t.yaml:1: listen: expected at least one");
	expect_error(MINIMAL "policy: { file: '' }\n", "duplicate key");
	expect_error("policy: { file: '' }\n",
	             "t.yaml:1: policy.file: must not be empty");
	expect_error("listen:\n  - address: 127.0.0.1:1\n"
	             "upstream: { url: https://x }\n"
	             "journal: { path: j }\npolicy: { file: p }\n",
	             "t.yaml:2: listen[0].tls: required for mode reverse");
	expect_error(
	    "upstream: { url: 'ftp://x' }\n",
	    "t.yaml:1: upstream.url: expected an https:// or http:// URL");
	expect_error("", "t.yaml:1: empty configuration");
	/* found by fuzz_conf: a null root or section hides required keys */
	expect_error("!", "t.yaml:1: upstream.url: required key missing");
	expect_error("~\n", "t.yaml:1: listen: required key missing");
	expect_error("listen:\nupstream:\njournal: { path: j }\n"
	             "policy: { file: p }\n",
	             "t.yaml:2: upstream.url: required key missing");
	expect_error("listen:\n", "t.yaml:1: listen: expected at least one");
	expect_error("- a\n", "t.yaml:1: expected a mapping, got a list");
}

/* transparent: no_sni and tproxy (off unless set; a strict boolean). */
static void
test_transparent(void **state)
{
	struct conf *c = NULL;
	char err[1024];
	int rc;

	(void)state;
	rc = load(MINIMAL, &c, err, sizeof(err));
	if (rc != WW_OK)
		fail_msg("%s", err);
	assert_int_equal(c->modes.tproxy, 0);
	assert_int_equal(c->modes.no_sni, CONF_DEFAULT_REFUSE);
	conf_unref(c);
	rc =
	    load(MINIMAL "transparent: { no_sni: passthrough, tproxy: true }\n",
	         &c, err, sizeof(err));
	if (rc != WW_OK)
		fail_msg("%s", err);
	assert_int_equal(c->modes.tproxy, 1);
	assert_int_equal(c->modes.no_sni, CONF_DEFAULT_PASSTHROUGH);
	conf_unref(c);
	rc = load(MINIMAL "transparent: { tproxy: false }\n", &c, err,
	          sizeof(err));
	if (rc != WW_OK)
		fail_msg("%s", err);
	assert_int_equal(c->modes.tproxy, 0);
	conf_unref(c);
	expect_error(MINIMAL "transparent: { tproxy: yes }\n",
	             "t.yaml:7: transparent.tproxy: expected true|false, "
	             "got 'yes'");
	expect_error(MINIMAL "transparent: { tproxy: 1 }\n",
	             "t.yaml:7: transparent.tproxy: expected true|false, "
	             "got '1'");
	expect_error(MINIMAL "transparent: { tproxy: [true] }\n",
	             "t.yaml:7: transparent.tproxy: expected a scalar, got a "
	             "list");
	expect_error(MINIMAL "transparent: { tproxi: true }\n",
	             "transparent.tproxi");
}

static void
test_yaml(void **state)
{
	(void)state;
	expect_error("listen: &l\n  - address: 127.0.0.1:1\nother: *l\n",
	             "t.yaml:1: YAML anchors and aliases are not allowed");
	expect_error("a: [1, 2\nb: 3\n", "YAML syntax");
	expect_error(MINIMAL "---\nworkers: 1\n",
	             "only one YAML document is allowed");
}

static void
test_missing_file(void **state)
{
	struct conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(
	    conf_load("/nonexistent/wwgate.yaml", &c, err, sizeof(err)),
	    WW_ENOTFOUND);
	assert_non_null(strstr(err, "/nonexistent/wwgate.yaml"));
	assert_null(c);
}

static void
test_address(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	assert_int_equal(conf_parse_address("127.0.0.1:8443", &ss, &len),
	                 WW_OK);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(conf_parse_address("[::1]:0", &ss, &len), WW_OK);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(conf_parse_address(":8443", &ss, &len), WW_OK);
	assert_int_equal(conf_parse_address("::1:80", &ss, &len), WW_EINVAL);
	assert_int_equal(conf_parse_address("1.2.3.4:99999", &ss, &len),
	                 WW_EINVAL);
	assert_int_equal(conf_parse_address("1.2.3.4", &ss, &len), WW_EINVAL);
	assert_int_equal(conf_parse_address("host:80", &ss, &len), WW_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sample),  cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full),    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_yaml),    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_address), cmocka_unit_test(test_transparent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
