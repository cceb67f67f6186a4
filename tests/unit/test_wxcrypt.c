/*
 * test_wxcrypt.c: WXBizMsgCrypt against vectors made with the openssl
 * command line (tests/data/wxcrypt/gen.sh), the official samples'
 * vectors (wecom-api.md 9.1), and encrypt -> decrypt round trips.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/wxcrypt.h"

struct vec {
	char name[32], expect[32], token[64], key[64], rid[64], ts[32],
	    nonce[32], sig[64];
	char *encrypt, *msghex;
};

static void
vec_clear(struct vec *v)
{
	free(v->encrypt);
	free(v->msghex);
	memset(v, 0, sizeof(*v));
}

/* Split one vectors.txt line (fields separated by one space). */
static int
vec_parse(char *line, struct vec *v)
{
	char *f[10];
	size_t n = 0;

	for (char *p = strtok(line, " \n"); p != NULL && n < 10;
	     p = strtok(NULL, " \n"))
		f[n++] = p;
	if (n != 10)
		return -1;
	snprintf(v->name, sizeof(v->name), "%s", f[0]);
	snprintf(v->expect, sizeof(v->expect), "%s", f[1]);
	snprintf(v->token, sizeof(v->token), "%s", f[2]);
	snprintf(v->key, sizeof(v->key), "%s", f[3]);
	snprintf(v->rid, sizeof(v->rid), "%s", strcmp(f[4], "-") ? f[4] : "");
	snprintf(v->ts, sizeof(v->ts), "%s", f[5]);
	snprintf(v->nonce, sizeof(v->nonce), "%s", f[6]);
	snprintf(v->sig, sizeof(v->sig), "%s", f[8]);
	v->encrypt = strdup(f[7]);
	v->msghex = strdup(strcmp(f[9], "-") ? f[9] : "");
	return v->encrypt != NULL && v->msghex != NULL ? 0 : -1;
}

static uint8_t *
unhex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2;
	uint8_t *b = malloc(n + 1);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	*len = n;
	return b;
}

static enum wxcrypt_fail
expect_fail(const char *s)
{
	static const struct {
		const char *name;
		enum wxcrypt_fail f;
	} map[] = {
	    {"ok", WXCRYPT_FAIL_NONE},
	    {"signature", WXCRYPT_FAIL_SIGNATURE},
	    {"base64", WXCRYPT_FAIL_BASE64},
	    {"length", WXCRYPT_FAIL_LENGTH},
	    {"padding", WXCRYPT_FAIL_PADDING},
	    {"msglen", WXCRYPT_FAIL_MSGLEN},
	    {"receiver", WXCRYPT_FAIL_RECEIVER},
	};
	for (size_t i = 0; i < WW_NELEM(map); i++)
		if (strcmp(map[i].name, s) == 0)
			return map[i].f;
	fail_msg("unknown expectation %s", s);
	return WXCRYPT_FAIL_INTERNAL;
}

/* Decrypt v, compare with its expectation; re-encrypt positive ones. */
static void
check_vec(const struct vec *v)
{
	struct wxcrypt *c;
	enum wxcrypt_fail why = WXCRYPT_FAIL_INTERNAL, want;
	uint8_t *msg = NULL, *exp;
	size_t msg_len = 0, exp_len;
	char *enc = NULL;
	int rc;

	want = expect_fail(v->expect);
	assert_int_equal(wxcrypt_new(v->token, v->key, v->rid, &c, NULL, 0),
	                 WW_OK);
	rc = wxcrypt_open(c, v->ts, v->nonce, v->encrypt, v->sig, &msg,
	                  &msg_len, &why);
	if (why != want)
		fail_msg("%s: got %s, want %s", v->name, wxcrypt_fail_name(why),
		         wxcrypt_fail_name(want));
	if (want != WXCRYPT_FAIL_NONE) {
		assert_int_not_equal(rc, WW_OK);
		assert_null(msg);
		wxcrypt_free(c);
		return;
	}
	assert_int_equal(rc, WW_OK);
	exp = unhex(v->msghex, &exp_len);
	assert_int_equal(msg_len, exp_len);
	assert_memory_equal(msg, exp, exp_len);
	/* The vectors' random prefix is sixteen 'A's. */
	assert_int_equal(wxcrypt_encrypt(c, (const uint8_t *)"AAAAAAAAAAAAAAAA",
	                                 msg, msg_len, &enc),
	                 WW_OK);
	assert_string_equal(enc, v->encrypt);
	free(enc);
	free(exp);
	free(msg);
	wxcrypt_free(c);
}

static void
test_openssl_vectors(void **state)
{
	FILE *f = fopen(WXCRYPT_DATA_DIR "/vectors.txt", "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	struct vec v = {0};

	(void)state;
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		assert_int_equal(vec_parse(line, &v), 0);
		check_vec(&v);
		vec_clear(&v);
		n++;
	}
	assert_true(n >= 15);
	free(line);
	fclose(f);
}

/* Official samples (wecom-api.md 9.1): interop with WeCom's own code. */
static void
test_official(void **state)
{
	static const struct {
		const char *token, *key, *rid, *ts, *nonce, *enc, *sig, *msg;
	} v[] = {
	    {"QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
	     "wx5823bf96d3bd56c7", "1409659589", "263014780",
	     "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+"
	     "4RPcs8TgAE7OaBO+FZXvnaqQ==",
	     "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1616140317555161061"},
	    {"hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
	     "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
	     "ww1436e0e65a779aee", "1476416373", "47744683",
	     "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/"
	     "3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
	     "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1288432023552776189"},
	};
	for (size_t i = 0; i < WW_NELEM(v); i++) {
		struct wxcrypt *c;
		uint8_t *msg;
		size_t len;
		enum wxcrypt_fail why;

		(void)state;
		assert_int_equal(
		    wxcrypt_new(v[i].token, v[i].key, v[i].rid, &c, NULL, 0),
		    WW_OK);
		assert_int_equal(wxcrypt_open(c, v[i].ts, v[i].nonce, v[i].enc,
		                              v[i].sig, &msg, &len, &why),
		                 WW_OK);
		assert_string_equal((char *)msg, v[i].msg);
		assert_int_equal(len, strlen(v[i].msg));
		free(msg);
		/* A numerically sorted signature is a different one. */
		assert_int_equal(wxcrypt_verify(c, v[i].nonce, v[i].ts,
		                                v[i].enc, v[i].sig, &why),
		                 WW_OK);
		assert_int_equal(wxcrypt_verify(c, v[i].ts, v[i].nonce,
		                                v[i].enc, "5c45", &why),
		                 WW_ECRYPTO);
		assert_int_equal(why, WXCRYPT_FAIL_SIGNATURE);
		wxcrypt_free(c);
	}
}

/* Official A2: a 284-byte XML message padded with 30 (> 16) bytes. */
static void
test_official_a2(void **state)
{
	static const char enc[] =
	    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/"
	    "wvqnLSV5zEPeusUiX5L5X/"
	    "0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
	    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt"
	    "66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+"
	    "kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnv"
	    "w2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJ"
	    "WrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJ"
	    "U9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07"
	    "+qN+E7Q==";
	struct wxcrypt *c;
	uint8_t *msg;
	size_t len;
	char *again;

	(void)state;
	assert_int_equal(
	    wxcrypt_new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
	                "wx5823bf96d3bd56c7", &c, NULL, 0),
	    WW_OK);
	assert_int_equal(
	    wxcrypt_open(c, "1409659813", "1372623149", enc,
	                 "477715d11cdb4164915debcba66cb864d751f3e6", &msg, &len,
	                 NULL),
	    WW_OK);
	assert_int_equal(len, 284);
	assert_non_null(strstr((char *)msg, "<Content><![CDATA[hello]]>"));
	assert_int_equal(wxcrypt_encrypt(c, (const uint8_t *)"0960688932c47ef1",
	                                 msg, len, &again),
	                 WW_OK);
	assert_string_equal(again, enc);
	free(again);
	free(msg);
	wxcrypt_free(c);
}

/* Official A3: the JSON variant (same crypto, JSON plaintext). */
static void
test_official_a3(void **state)
{
	static const char enc[] =
	    "CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+"
	    "Toj43l4ayJ9UMG"
	    "KphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/"
	    "1HsIWZrPQ3N2mJrel"
	    "StIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/"
	    "A2VjNbV1E8BtEbRx"
	    "YYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJB"
	    "uu1"
	    "/yiOQIScppV3eOuLWEsko=";
	struct wxcrypt *c;
	uint8_t *msg;
	size_t len;

	(void)state;
	assert_int_equal(
	    wxcrypt_new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
	                "wx5823bf96d3bd56c7", &c, NULL, 0),
	    WW_OK);
	assert_int_equal(
	    wxcrypt_open(c, "1409659813", "1372623149", enc,
	                 "0623cbc5a8cbee5bcc137c70de99575366fc2af3", &msg, &len,
	                 NULL),
	    WW_OK);
	assert_int_equal(len, 164);
	assert_int_equal(msg[0], '{');
	free(msg);
	wxcrypt_free(c);
}

/* Every length across several 32-byte blocks, receive ids of all sizes. */
static void
test_round_trip(void **state)
{
	static const char *rids[] = {"", "w", "ww0123456789abcdef",
	                             "wwabcdefghijklmnopqrstuvwxyz012"};
	uint8_t buf[300];

	(void)state;
	srand(7);
	for (size_t r = 0; r < WW_NELEM(rids); r++) {
		struct wxcrypt *c, *other;

		assert_int_equal(
		    wxcrypt_new("tok",
		                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		                rids[r], &c, NULL, 0),
		    WW_OK);
		assert_int_equal(
		    wxcrypt_new("tok",
		                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		                "someone-else", &other, NULL, 0),
		    WW_OK);
		for (size_t len = 0; len < sizeof(buf); len++) {
			char *enc, sig[WXCRYPT_SIG_HEX + 1];
			uint8_t *msg;
			size_t ml;
			enum wxcrypt_fail why;

			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rand();
			assert_int_equal(
			    wxcrypt_encrypt(c, NULL, buf, len, &enc), WW_OK);
			assert_int_equal(strlen(enc) % 4, 0);
			assert_int_equal(wxcrypt_sign(c, "1", "2", enc, sig),
			                 WW_OK);
			assert_int_equal(wxcrypt_open(c, "1", "2", enc, sig,
			                              &msg, &ml, &why),
			                 WW_OK);
			assert_int_equal(ml, len);
			assert_memory_equal(msg, buf, len);
			free(msg);
			assert_int_equal(wxcrypt_decrypt(other, enc,
			                                 strlen(enc), &msg, &ml,
			                                 NULL, &why),
			                 WW_ECRYPTO);
			assert_int_equal(why, WXCRYPT_FAIL_RECEIVER);
			free(enc);
		}
		wxcrypt_free(other);
		wxcrypt_free(c);
	}
}

static void
test_bad_keys(void **state)
{
	struct wxcrypt *c = NULL;
	char err[128];

	(void)state;
	assert_int_equal(wxcrypt_new("t", "short", NULL, &c, err, sizeof(err)),
	                 WW_EINVAL);
	assert_null(c);
	assert_int_equal(
	    wxcrypt_new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF*",
	                NULL, &c, err, sizeof(err)),
	    WW_EINVAL);
	assert_null(strstr(err, "abcdef"));
	assert_int_equal(
	    wxcrypt_new("", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", NULL,
	                &c, err, sizeof(err)),
	    WW_EINVAL);
	wxcrypt_free(NULL);
	assert_string_equal(wxcrypt_fail_name(WXCRYPT_FAIL_PADDING),
	                    "wrong padding");
}

/* Wrong key: garbage plaintext is refused, never a crash. */
static void
test_wrong_key(void **state)
{
	struct wxcrypt *a, *b;
	char *enc;
	uint8_t *msg;
	size_t ml;
	enum wxcrypt_fail why;

	(void)state;
	assert_int_equal(
	    wxcrypt_new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "x",
	                &a, NULL, 0),
	    WW_OK);
	assert_int_equal(
	    wxcrypt_new("t", "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "x",
	                &b, NULL, 0),
	    WW_OK);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(wxcrypt_encrypt(a, NULL,
		                                 (const uint8_t *)"hello world",
		                                 11, &enc),
		                 WW_OK);
		assert_int_not_equal(
		    wxcrypt_decrypt(b, enc, strlen(enc), &msg, &ml, NULL, &why),
		    WW_OK);
		assert_true(why == WXCRYPT_FAIL_PADDING ||
		            why == WXCRYPT_FAIL_MSGLEN ||
		            why == WXCRYPT_FAIL_RECEIVER);
		free(enc);
	}
	wxcrypt_free(a);
	wxcrypt_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openssl_vectors),
	    cmocka_unit_test(test_official),
	    cmocka_unit_test(test_official_a2),
	    cmocka_unit_test(test_official_a3),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_wrong_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
