/* test_sni.c: ClientHello server_name parsing, well-formed and hostile. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/sni.h"

static size_t
put16(uint8_t *b, size_t o, size_t v)
{
	b[o] = (uint8_t)(v >> 8);
	b[o + 1] = (uint8_t)v;
	return o + 2;
}

/* A minimal ClientHello; n_sni server_name extensions naming sni. */
static size_t
hello(uint8_t *b, const char *sni, int n_sni, int no_ext)
{
	size_t o = 9, ext_at, hs_len, sl = sni != NULL ? strlen(sni) : 0;

	o = put16(b, o, 0x0303);
	memset(b + o, 0xab, 32);
	o += 32;
	b[o++] = 0;         /* session id */
	o = put16(b, o, 2); /* cipher suites */
	o = put16(b, o, 0x1301);
	b[o++] = 1; /* compression methods */
	b[o++] = 0;
	if (!no_ext) {
		ext_at = o;
		o += 2;
		o = put16(b, o, 0x000a); /* supported_groups */
		o = put16(b, o, 4);
		o = put16(b, o, 2);
		o = put16(b, o, 0x001d);
		for (int i = 0; i < n_sni; i++) {
			o = put16(b, o, 0);
			o = put16(b, o, sl + 5);
			o = put16(b, o, sl + 3);
			b[o++] = 0;
			o = put16(b, o, sl);
			memcpy(b + o, sni, sl);
			o += sl;
		}
		put16(b, ext_at, o - ext_at - 2);
	}
	hs_len = o - 9;
	b[0] = 0x16;
	b[1] = 3;
	b[2] = 1;
	put16(b, 3, hs_len + 4);
	b[5] = 1;
	b[6] = (uint8_t)(hs_len >> 16);
	put16(b, 7, hs_len);
	return o;
}

static void
test_found(void **state)
{
	uint8_t b[1024];
	char name[SNI_NAME_MAX];
	size_t n = hello(b, "qyapi.weixin.qq.com", 1, 0);

	(void)state;
	assert_int_equal(sni_parse(b, n, name), SNI_FOUND);
	assert_string_equal(name, "qyapi.weixin.qq.com");
	/* every strict prefix asks for more */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sni_parse(b, i, name), SNI_MORE);
	/* bytes after the record (the next record) do not matter */
	b[n] = 0x14;
	assert_int_equal(sni_parse(b, n + 1, name), SNI_FOUND);
}

static void
test_none(void **state)
{
	uint8_t b[1024];
	char name[SNI_NAME_MAX];
	size_t n;

	(void)state;
	n = hello(b, NULL, 0, 0);
	assert_int_equal(sni_parse(b, n, name), SNI_NONE);
	assert_string_equal(name, "");
	n = hello(b, NULL, 0, 1);
	assert_int_equal(sni_parse(b, n, name), SNI_NONE);
}

static void
test_hostile(void **state)
{
	uint8_t b[SNI_RECORD_MAX + 64];
	char name[SNI_NAME_MAX], big[300];
	size_t n;

	(void)state;
	assert_int_equal(
	    sni_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name),
	    SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"\x16\x01", 2, name),
	                 SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"", 0, name), SNI_MORE);
	/* two server_name extensions */
	n = hello(b, "a.example", 2, 0);
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	/* a name with a space, a name too long */
	n = hello(b, "a example", 1, 0);
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	memset(big, 'a', 260);
	big[260] = '\0';
	n = hello(b, big, 1, 0);
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	/* a record longer than TLS allows */
	n = hello(b, "a.example", 1, 0);
	put16(b, 3, 16385);
	assert_int_equal(sni_parse(b, sizeof(b), name), SNI_BAD);
	/* a handshake length that runs past the record */
	n = hello(b, "a.example", 1, 0);
	b[8]++;
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	/* a list length that runs past its extension */
	n = hello(b, "a.example", 1, 0);
	b[n - 14]++; /* the server_name list's length */
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	/* not a client_hello */
	n = hello(b, "a.example", 1, 0);
	b[5] = 2;
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	/* a lying session id length */
	n = hello(b, "a.example", 1, 0);
	b[9 + 2 + 32] = 200;
	assert_int_equal(sni_parse(b, n, name), SNI_BAD);
	assert_string_equal(sni_result_name(SNI_BAD), "malformed ClientHello");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found),
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
