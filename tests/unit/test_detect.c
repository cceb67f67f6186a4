/*
 * test_detect.c: the built-in detectors, through policy/detect.h.
 *
 * Each detector is tested two ways: its validator on its own (valid,
 * invalid check digit, near misses) and its pattern compiled by vectorscan
 * exactly as the engine compiles it (HS_FLAG_SOM_LEFTMOST | HS_FLAG_UTF8 |
 * hs_flags), scanned over sample text (already normalized: lower case),
 * each hit fed to the validator, distinct canonical values counted.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hs/hs.h>

#include "policy/detect.h"

#define MAX_HITS 16

struct scan {
	const struct detector *d;
	const char *text;
	size_t nvalues;
	char values[MAX_HITS][DETECT_CANON_MAX];
};

static int
on_hit(unsigned id, unsigned long long from, unsigned long long to,
       unsigned flags, void *ctx)
{
	struct scan *sc = ctx;
	char canon[DETECT_CANON_MAX];

	(void)id;
	(void)flags;
	memset(canon, 0x55, sizeof(canon));
	if (!sc->d->validate(sc->text + from, (size_t)(to - from), canon))
		return 0;
	assert_non_null(memchr(canon, '\0', sizeof(canon)));
	for (size_t i = 0; i < sc->nvalues; i++)
		if (strcmp(sc->values[i], canon) == 0)
			return 0;
	assert_true(sc->nvalues < MAX_HITS);
	strcpy(sc->values[sc->nvalues++], canon);
	return 0;
}

static hs_database_t *
compile(const struct detector *d)
{
	hs_database_t *db = NULL;
	hs_compile_error_t *err = NULL;

	if (hs_compile(d->pattern,
	               HS_FLAG_SOM_LEFTMOST | HS_FLAG_UTF8 | d->hs_flags,
	               HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS) {
		print_error("%s: %s\n", d->name, err->message);
		hs_free_compile_error(err);
		fail();
	}
	return db;
}

/* Distinct valid values of detector name in text; *first gets the first. */
static size_t
scan(const char *name, const char *text, char *first)
{
	struct scan sc = {.d = detect_find(name), .text = text};
	hs_database_t *db;
	hs_scratch_t *scratch = NULL;

	assert_non_null(sc.d);
	db = compile(sc.d);
	assert_int_equal(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
	assert_int_equal(
	    hs_scan(db, text, (unsigned)strlen(text), 0, scratch, on_hit, &sc),
	    HS_SUCCESS);
	hs_free_scratch(scratch);
	hs_free_database(db);
	if (first != NULL)
		strcpy(first, sc.nvalues > 0 ? sc.values[0] : "");
	return sc.nvalues;
}

/* The validator alone on s; returns its verdict, canon in out. */
static int
valid(const char *name, const char *s, char *out)
{
	const struct detector *d = detect_find(name);
	char canon[DETECT_CANON_MAX];
	char *copy;
	int ok;

	assert_non_null(d);
	/* A heap copy of exactly len bytes: ASan catches any over-read. */
	copy = malloc(strlen(s) + 1);
	assert_non_null(copy);
	memcpy(copy, s, strlen(s));
	ok = d->validate(copy, strlen(s), canon);
	free(copy);
	if (ok && out != NULL)
		strcpy(out, canon);
	return ok;
}

static void
test_table(void **state)
{
	(void)state;
	assert_true(detect_count() >= 11);
	for (size_t i = 0; i < detect_count(); i++) {
		const struct detector *d = detect_get(i);
		assert_non_null(d->name);
		assert_non_null(d->validate);
		assert_non_null(d->description);
		assert_ptr_equal(detect_find(d->name), d);
		hs_free_database(compile(d));
	}
	assert_null(detect_get(detect_count()));
	assert_null(detect_find("no_such_detector"));
	assert_null(detect_find(NULL));
}

static void
test_credit_card(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("credit_card", "4111111111111111", c));
	assert_string_equal(c, "4111111111111111");
	assert_true(valid("credit_card", "5500 0000 0000 0004", c));
	assert_string_equal(c, "5500000000000004");
	assert_true(valid("credit_card", "3782-822463-10005", NULL));
	assert_true(valid("credit_card", "6011111111111117", NULL));
	assert_true(valid("credit_card", "6222021234567890128", NULL));
	/* invalid check digit */
	assert_false(valid("credit_card", "4111111111111112", NULL));
	assert_false(valid("credit_card", "5500 0000 0000 0005", NULL));
	/* near misses: mixed or doubled separators, wrong length or IIN */
	assert_false(valid("credit_card", "4111 1111-1111 1111", NULL));
	assert_false(valid("credit_card", "4111  1111 1111 1111", NULL));
	assert_false(valid("credit_card", "411111111111", NULL));
	assert_false(valid("credit_card", "0000000000000000", NULL));
	assert_false(valid("credit_card", "7111111111111114", NULL));
	assert_false(valid("credit_card", "378282246310005 ", NULL));

	assert_int_equal(
	    scan("credit_card", "卡号4111 1111 1111 1111，谢谢", c), 1);
	assert_string_equal(c, "4111111111111111");
	/* the same card twice counts once */
	assert_int_equal(
	    scan("credit_card", "4111111111111111 and 4111-1111-1111-1111", c),
	    1);
	/* part of a longer digit or word run: no boundary, no hit */
	assert_int_equal(scan("credit_card", "94111111111111111", NULL), 0);
	assert_int_equal(scan("credit_card", "x4111111111111111", NULL), 0);
	assert_int_equal(scan("credit_card", "订单号20241115093000123", NULL),
	                 0);
}

static void
test_cn_resident_id(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("cn_resident_id", "11010519491231002x", c));
	assert_string_equal(c, "11010519491231002X");
	assert_true(valid("cn_resident_id", "11010519491231002X", NULL));
	assert_true(valid("cn_resident_id", "44030519900101123x", NULL));
	/* 2000-02-29 exists */
	assert_true(valid("cn_resident_id", "310104200002290049", NULL));
	/* invalid check character */
	assert_false(valid("cn_resident_id", "110105194912310021", NULL));
	assert_false(valid("cn_resident_id", "310104200002290048", NULL));
	/* near misses: no such date, region, future birth, length */
	assert_false(valid("cn_resident_id", "110105190002290025", NULL));
	assert_false(valid("cn_resident_id", "990105194912310023", NULL));
	assert_false(valid("cn_resident_id", "110005194912310020", NULL));
	assert_false(valid("cn_resident_id", "110105209912310029", NULL));
	assert_false(valid("cn_resident_id", "11010519491231002", NULL));

	assert_int_equal(
	    scan("cn_resident_id", "身份证号11010519491231002x，请核对", c), 1);
	assert_string_equal(c, "11010519491231002X");
	assert_int_equal(scan("cn_resident_id",
	                      "两位：11010519491231002x、310104200002290049",
	                      NULL),
	                 2);
	assert_int_equal(scan("cn_resident_id", "111010519491231002x", NULL),
	                 0);
}

static void
test_cn_mobile(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("cn_mobile", "13812345678", c));
	assert_string_equal(c, "13812345678");
	assert_true(valid("cn_mobile", "+86 138-1234-5678", c));
	assert_string_equal(c, "13812345678");
	assert_true(valid("cn_mobile", "008619912345678", NULL));
	assert_true(valid("cn_mobile", "166 1234 5678", NULL));
	/* no checksum exists: unallotted prefixes are the "invalid" ones */
	assert_false(valid("cn_mobile", "14012345678", NULL));
	assert_false(valid("cn_mobile", "15412345678", NULL));
	assert_false(valid("cn_mobile", "19412345678", NULL));
	/* near misses: grouping, mixed separators, length */
	assert_false(valid("cn_mobile", "1381 234 5678", NULL));
	assert_false(valid("cn_mobile", "138-1234 5678", NULL));
	assert_false(valid("cn_mobile", "138-12345678", NULL));
	assert_false(valid("cn_mobile", "1381234567", NULL));

	assert_int_equal(
	    scan("cn_mobile", "手机13812345678，座机010-12345678", c), 1);
	assert_string_equal(c, "13812345678");
	assert_int_equal(
	    scan("cn_mobile",
	         "+8613812345678 / 0086 138 1234 5678 / 13912345678", NULL),
	    2);
	/* inside a longer digit run or a word */
	assert_int_equal(scan("cn_mobile", "113812345678", NULL), 0);
	assert_int_equal(scan("cn_mobile", "1381234567890", NULL), 0);
	assert_int_equal(scan("cn_mobile", "id13812345678", NULL), 0);
}

static void
test_cn_bank_card(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("cn_bank_card", "6222021234567890128", c));
	assert_string_equal(c, "6222021234567890128");
	assert_true(valid("cn_bank_card", "6228 4800 1234 5671", NULL));
	assert_true(valid("cn_bank_card", "621483001234567896", NULL));
	/* invalid check digit */
	assert_false(valid("cn_bank_card", "6222021234567890127", NULL));
	/* near misses: not 62, too short, mixed separators */
	assert_false(valid("cn_bank_card", "4111111111111111", NULL));
	assert_false(valid("cn_bank_card", "622848001234567", NULL));
	assert_false(valid("cn_bank_card", "6228-4800 1234 5671", NULL));

	assert_int_equal(scan("cn_bank_card",
	                      "工行卡 6222 0212 3456 7890 128 开户行北京", c),
	                 1);
	assert_string_equal(c, "6222021234567890128");
	assert_int_equal(scan("cn_bank_card", "96222021234567890128", NULL), 0);
}

static void
test_iban(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("iban", "de89370400440532013000", c));
	assert_string_equal(c, "DE89370400440532013000");
	assert_true(valid("iban", "gb82 west 1234 5698 7654 32", c));
	assert_string_equal(c, "GB82WEST12345698765432");
	assert_true(valid("iban", "fr1420041010050500013m02606", NULL));
	/* invalid check digits */
	assert_false(valid("iban", "de89370400440532013001", NULL));
	assert_false(valid("iban", "de88370400440532013000", NULL));
	/* near misses: wrong length for the country, unknown country,
	 * irregular spacing */
	assert_false(valid("iban", "de8937040044053201300", NULL));
	assert_false(valid("iban", "zz89370400440532013000", NULL));
	assert_false(valid("iban", "de89 37040044 0532 0130 00", NULL));

	/* the spaced form gives partial hits: only the whole one is valid */
	assert_int_equal(
	    scan("iban", "iban: de89 3704 0044 0532 0130 00 and more", c), 1);
	assert_string_equal(c, "DE89370400440532013000");
	assert_int_equal(scan("iban", "xde89370400440532013000", NULL), 0);
}

static void
test_email(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("email", "zhang.san@corp.example.cn", c));
	assert_string_equal(c, "zhang.san@corp.example.cn");
	assert_true(valid("email", "a+b@x.io", NULL));
	/* no checksum: malformed addresses are the invalid ones */
	assert_false(valid("email", "a..b@x.io", NULL));
	assert_false(valid("email", "a.@x.io", NULL));
	assert_false(valid("email", ".a@x.io", NULL));
	assert_false(valid("email", "-a@x.io", NULL));
	assert_false(valid("email", "a@-x.io", NULL));
	assert_false(valid("email", "a@x.i", NULL));
	assert_false(valid("email", "a@b@x.io", NULL));
	assert_false(valid("email", "a@x.c0m", NULL));

	assert_int_equal(scan("email", "邮箱lisi@bank.example.com，电话", c),
	                 2);
	assert_int_equal(scan("email", "no address here @ all", NULL), 0);
	assert_int_equal(scan("email", "发给wangwu@corp.com即可", c), 1);
	assert_string_equal(c, "wangwu@corp.com");
}

static void
test_ipv4(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("ipv4", "10.0.0.1", c));
	assert_string_equal(c, "10.0.0.1");
	assert_true(valid("ipv4", "255.255.255.255", NULL));
	assert_true(valid("ipv4", "0.0.0.0", NULL));
	/* out of range, leading zeros (octal confusion) */
	assert_false(valid("ipv4", "256.1.1.1", NULL));
	assert_false(valid("ipv4", "10.0.0.01", NULL));
	assert_false(valid("ipv4", "010.1.1.1", NULL));
	/* near misses */
	assert_false(valid("ipv4", "1.2.3", NULL));
	assert_false(valid("ipv4", "1.2.3.4.", NULL));
	assert_false(valid("ipv4", "1..2.3", NULL));

	assert_int_equal(scan("ipv4", "服务器192.168.1.20上线", c), 1);
	assert_string_equal(c, "192.168.1.20");
	assert_int_equal(scan("ipv4", "version 1.2.999.4", NULL), 0);
}

static void
test_private_key(void **state)
{
	char c[DETECT_CANON_MAX];
	const char *block = "-----begin rsa private key-----\n"
	                    "miieowibaakcaqea1b2c3d4e5f6g7h8i9j0klmnopqrstuv\n"
	                    "wxyz0123456789+/abcdefghijklmnopqrstuvwxyz==\n"
	                    "-----end rsa private key-----";

	(void)state;
	assert_true(valid("private_key", block, c));
	assert_string_equal(c, "RSA PRIVATE KEY");
	assert_true(valid("private_key", "-----begin private key-----", c));
	assert_string_equal(c, "PRIVATE KEY");
	assert_true(
	    valid("private_key", "-----begin openssh private key-----", NULL));
	assert_true(valid("private_key",
	                  "-----begin pgp private key block-----", NULL));
	/* a block whose END names another label, or with no body */
	assert_false(valid("private_key",
	                   "-----begin rsa private "
	                   "key-----\nabcdefghijklmnopqrstuvwxyz0123456789"
	                   "\n-----end ec private key-----",
	                   NULL));
	assert_false(valid("private_key",
	                   "-----begin rsa private key-----\nabc\n-----end rsa "
	                   "private key-----",
	                   NULL));
	/* near misses: public keys and certificates */
	assert_false(valid("private_key", "-----begin public key-----", NULL));
	assert_false(valid("private_key", "-----begin certificate-----", NULL));

	/* header and block: two hits, one value */
	assert_int_equal(scan("private_key", block, c), 1);
	assert_int_equal(
	    scan("private_key", "-----begin public key-----\nab", NULL), 0);
}

static void
test_aws_access_key(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("aws_access_key", "akiaiosfodnn7example", c));
	assert_string_equal(c, "AKIAIOSFODNN7EXAMPLE");
	assert_true(valid("aws_access_key", "asia2345672345672345", NULL));
	/* not alphanumeric, wrong prefix or length */
	assert_true(valid("aws_access_key", "akiai44qh8dhbexample", NULL));
	assert_false(valid("aws_access_key", "akiaiosfodnn_example", NULL));
	assert_false(valid("aws_access_key", "akibiosfodnn7example", NULL));
	assert_false(valid("aws_access_key", "akiaiosfodnn7exampl", NULL));

	assert_int_equal(scan("aws_access_key",
	                      "aws_access_key_id=akiaiosfodnn7example\n", c),
	                 1);
	assert_string_equal(c, "AKIAIOSFODNN7EXAMPLE");
	assert_int_equal(scan("aws_access_key", "xakiaiosfodnn7example", NULL),
	                 0);
	assert_int_equal(scan("aws_access_key", "akiaiosfodnn7examplex", NULL),
	                 0);
}

static void
test_cn_passport(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("cn_passport", "e12345678", c));
	assert_string_equal(c, "E12345678");
	assert_true(valid("cn_passport", "ea1234567", NULL));
	assert_true(valid("cn_passport", "g12345678", NULL));
	/* placeholder serial, letters I and O, wrong series */
	assert_false(valid("cn_passport", "e00000000", NULL));
	assert_false(valid("cn_passport", "ei1234567", NULL));
	assert_false(valid("cn_passport", "ga1234567", NULL));
	assert_false(valid("cn_passport", "k12345678", NULL));
	assert_false(valid("cn_passport", "e1234567", NULL));

	assert_int_equal(scan("cn_passport", "护照号码e12345678。", c), 1);
	assert_string_equal(c, "E12345678");
	assert_int_equal(scan("cn_passport", "e123456789", NULL), 0);
}

static void
test_us_ssn(void **state)
{
	char c[DETECT_CANON_MAX];

	(void)state;
	assert_true(valid("us_ssn", "123-45-6789", c));
	assert_string_equal(c, "123456789");
	assert_true(valid("us_ssn", "536 22 1234", NULL));
	/* SSA rules: area 000, 666, 9xx; group 00; serial 0000 */
	assert_false(valid("us_ssn", "000-12-3456", NULL));
	assert_false(valid("us_ssn", "666-12-3456", NULL));
	assert_false(valid("us_ssn", "912-12-3456", NULL));
	assert_false(valid("us_ssn", "123-00-4567", NULL));
	assert_false(valid("us_ssn", "123-45-0000", NULL));
	assert_false(valid("us_ssn", "078-05-1120", NULL));
	/* near misses */
	assert_false(valid("us_ssn", "123-45 6789", NULL));
	assert_false(valid("us_ssn", "123456789", NULL));

	assert_int_equal(scan("us_ssn", "ssn: 123-45-6789.", c), 1);
	assert_string_equal(c, "123456789");
	assert_int_equal(scan("us_ssn", "1123-45-6789", NULL), 0);
	assert_int_equal(scan("us_ssn", "123-456-789", NULL), 0);
}

/* A long email still gets a bounded, distinct canonical value. */
static void
test_long_value(void **state)
{
	char s[300], c1[DETECT_CANON_MAX], c2[DETECT_CANON_MAX];

	(void)state;
	memset(s, 'a', 60);
	strcpy(s + 60, "@");
	for (size_t i = 0; i < 3; i++)
		strcat(s,
		       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	strcat(s, "com");
	assert_true(valid("email", s, c1));
	assert_true(strlen(c1) < DETECT_CANON_MAX);
	s[100] = 'c';
	assert_true(valid("email", s, c2));
	assert_string_not_equal(c1, c2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_credit_card),
	    cmocka_unit_test(test_cn_resident_id),
	    cmocka_unit_test(test_cn_mobile),
	    cmocka_unit_test(test_cn_bank_card),
	    cmocka_unit_test(test_iban),
	    cmocka_unit_test(test_email),
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_private_key),
	    cmocka_unit_test(test_aws_access_key),
	    cmocka_unit_test(test_cn_passport),
	    cmocka_unit_test(test_us_ssn),
	    cmocka_unit_test(test_long_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
