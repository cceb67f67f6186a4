/* test_connect.c: CONNECT request heads and host classes. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/conf.h"
#include "proxy/connect.h"
#include "proxy/hostclass.h"

static int
parse(const char *s, struct connect_req *r)
{
	return connect_parse(s, strlen(s), r);
}

static void
test_parse_ok(void **state)
{
	struct connect_req r;

	(void)state;
	assert_int_equal(parse("CONNECT qyapi.weixin.qq.com:443 HTTP/1.1\r\n"
	                       "Host: qyapi.weixin.qq.com:443\r\n"
	                       "Proxy-Authorization:  Basic dTpw \r\n\r\n",
	                       &r),
	                 WW_OK);
	assert_string_equal(r.host, "qyapi.weixin.qq.com");
	assert_int_equal(r.port, 443);
	assert_string_equal(r.auth, "Basic dTpw");
	assert_int_equal(parse("CONNECT a.example:8443 HTTP/1.0\r\n\r\n", &r),
	                 WW_OK);
	assert_int_equal(r.port, 8443);
	assert_string_equal(r.auth, "");
	assert_int_equal(parse("CONNECT [::1]:443 HTTP/1.1\r\n\r\n", &r),
	                 WW_OK);
	assert_string_equal(r.host, "[::1]");
	assert_int_equal(r.absolute, 0);
	/* plain HTTP proxy requests in absolute form */
	assert_int_equal(
	    parse("POST http://Q.example/cgi-bin/x?a=1 HTTP/1.1\r\n"
	          "Proxy-Authorization: Basic eA==\r\n\r\n",
	          &r),
	    WW_OK);
	assert_int_equal(r.absolute, 1);
	assert_string_equal(r.host, "Q.example");
	assert_int_equal(r.port, 80);
	assert_string_equal(r.auth, "Basic eA==");
	assert_int_equal(
	    parse("GET http://q.example:8080 HTTP/1.0\r\n\r\n", &r), WW_OK);
	assert_int_equal(r.port, 8080);
}

static void
test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "CONNECT a.example HTTP/1.1\r\n\r\n",
	    "CONNECT a.example: HTTP/1.1\r\n\r\n",
	    "CONNECT a.example:0 HTTP/1.1\r\n\r\n",
	    "CONNECT a.example:65536 HTTP/1.1\r\n\r\n",
	    "CONNECT a.example:44x HTTP/1.1\r\n\r\n",
	    "CONNECT :443 HTTP/1.1\r\n\r\n",
	    "CONNECT a.example:443 HTTP/2\r\n\r\n",
	    "CONNECT a.example:443  HTTP/1.1\r\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\r\n folded\r\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\r\nno colon\r\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\r\nBad Name: x\r\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\r\nProxy-Authorization: a\r\n"
	    "Proxy-Authorization: b\r\n\r\n",
	    "CONNECT a.example:443 HTTP/1.1\r\n",
	    /* a host of non-ASCII bytes, with and without a port (fuzz) */
	    "GET http://a.examp\xff\xffle/ HTTP/1.1\r\n\r\n",
	    "GET http://a.examp\xff\xffle:80/ HTTP/1.1\r\n\r\n",
	};
	struct connect_req r;

	(void)state;
	for (size_t i = 0; i < WW_NELEM(bad); i++) {
		assert_int_equal(parse(bad[i], &r), WW_EINVAL);
		assert_int_equal(r.status, 400);
		assert_non_null(r.error);
	}
	assert_int_equal(parse("GET /relative HTTP/1.1\r\n\r\n", &r),
	                 WW_EINVAL);
	assert_int_equal(r.status, 405);
	assert_int_equal(parse("GET https://a.example/ HTTP/1.1\r\n\r\n", &r),
	                 WW_EINVAL);
	assert_int_equal(r.status, 405);
	assert_int_equal(
	    parse("GET http://u:p@a.example/ HTTP/1.1\r\n\r\n", &r), WW_EINVAL);
	assert_int_equal(r.status, 400);
	assert_int_equal(parse("get http://a.example/ HTTP/1.1\r\n\r\n", &r),
	                 WW_EINVAL);
	assert_int_equal(r.status, 400);
}

static void
test_parse_many_headers(void **state)
{
	char buf[CONNECT_MAX_HEAD * 2];
	size_t o;
	struct connect_req r;

	(void)state;
	o = (size_t)snprintf(buf, sizeof(buf), "CONNECT a.b:443 HTTP/1.1\r\n");
	for (int i = 0; i <= CONNECT_MAX_HEADERS; i++)
		o +=
		    (size_t)snprintf(buf + o, sizeof(buf) - o, "X%d: y\r\n", i);
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
	assert_int_equal(connect_parse(buf, o, &r), WW_EINVAL);
	assert_int_equal(r.status, 400);
}

static void
test_hostclass(void **state)
{
	char *ic[] = {"qyapi.weixin.qq.com", NULL};
	char *pt[] = {"*.qq.com", NULL};
	char *res[] = {"pass.qq.com:443:127.0.0.1:19443",
	               "other.qq.com:443:127.0.0.2", NULL};
	struct conf c;
	struct hostclass *hc;
	char canon[HOSTLIST_NAME_MAX], err[256];
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.file = "test";
	/* no intercept hosts: no CA needed */
	c.modes.passthrough.hosts = pt;
	c.modes.passthrough.n_hosts = 1;
	c.upstream.resolve = res;
	c.upstream.n_resolve = 2;
	assert_int_equal(hostclass_new(&c, &hc, err, sizeof(err)), WW_OK);
	assert_null(hostclass_tls(hc));
	assert_int_equal(hostclass_decide(hc, "QyApi.Weixin.QQ.com.", canon),
	                 HOSTCLASS_PASSTHROUGH);
	assert_string_equal(canon, "qyapi.weixin.qq.com");
	assert_int_equal(hostclass_decide(hc, "example.com", canon),
	                 HOSTCLASS_REFUSE);
	assert_int_equal(hostclass_decide(hc, "[::1]", canon),
	                 HOSTCLASS_REFUSE);
	assert_int_equal(hostclass_decide(hc, "127.0.0.1", canon),
	                 HOSTCLASS_REFUSE);
	assert_int_equal(hostclass_host_ok("qyapi.weixin.qq.com", hc), 0);
	assert_int_equal(hostclass_no_sni(hc), HOSTCLASS_REFUSE);
	assert_int_equal(hostclass_target(hc, "pass.qq.com", 443, &ss, &len),
	                 WW_OK);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 19443);
	assert_int_equal(hostclass_target(hc, "other.qq.com", 443, &ss, &len),
	                 WW_OK);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 443);
	assert_int_equal(hostclass_target(hc, "x.qq.com", 443, &ss, &len),
	                 WW_ENOTFOUND);
	hostclass_free(hc);

	/* default passthrough; intercept without a CA is refused */
	c.modes.fallback = CONF_DEFAULT_PASSTHROUGH;
	c.modes.no_sni = CONF_DEFAULT_PASSTHROUGH;
	assert_int_equal(hostclass_new(&c, &hc, err, sizeof(err)), WW_OK);
	assert_int_equal(hostclass_decide(hc, "example.com", canon),
	                 HOSTCLASS_PASSTHROUGH);
	assert_int_equal(hostclass_no_sni(hc), HOSTCLASS_PASSTHROUGH);
	hostclass_free(hc);
	c.modes.intercept.hosts = ic;
	c.modes.intercept.n_hosts = 1;
	assert_int_equal(hostclass_new(&c, &hc, err, sizeof(err)), WW_EINVAL);
	assert_non_null(strstr(err, "intercept.ca"));
	c.modes.intercept.hosts = pt;
	c.modes.intercept.n_hosts = 1;
	pt[0] = "a.*.b";
	c.modes.intercept.n_hosts = 0;
	assert_int_equal(hostclass_new(&c, &hc, err, sizeof(err)), WW_EINVAL);
	assert_non_null(strstr(err, "passthrough.hosts[0]"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_many_headers),
	    cmocka_unit_test(test_hostclass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
