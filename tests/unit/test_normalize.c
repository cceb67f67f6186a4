/* test_normalize.c: normalization and its map back to the original. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "ww.h"
#include "policy/normalize.h"

/* Normalize s into a fresh object; the caller frees it. */
static struct normalize *
norm(const char *s)
{
	struct normalize *n = NULL;

	assert_int_equal(normalize_new(&n), WW_OK);
	assert_int_equal(normalize_append(n, s, strlen(s)), WW_OK);
	return n;
}

static void
span_is(const struct normalize *n, size_t s, size_t e, size_t os, size_t oe)
{
	size_t a, z;

	normalize_span(n, s, e, &a, &z);
	assert_int_equal(a, os);
	assert_int_equal(z, oe);
}

static void
test_ascii_casefold(void **state)
{
	struct normalize *n = norm("Hello WORLD");

	(void)state;
	assert_string_equal(normalize_text(n), "hello world");
	span_is(n, 6, 11, 6, 11);
	normalize_free(n);
}

static void
test_fullwidth(void **state)
{
	/* "ＡＢＣ１２３" (3 bytes each) -> "abc123" */
	struct normalize *n = norm("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3"
	                           "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93");

	(void)state;
	assert_string_equal(normalize_text(n), "abc123");
	span_is(n, 1, 3, 3, 9);  /* "bc" */
	span_is(n, 3, 6, 9, 18); /* "123" */
	normalize_free(n);
}

static void
test_nfkc_ligature_and_combining(void **state)
{
	/* U+FB01 "ﬁ" + "le", then "e" + U+0301 combining acute */
	struct normalize *n = norm("\xef\xac\x81le e\xcc\x81!");

	(void)state;
	assert_string_equal(normalize_text(n), "file \xc3\xa9!");
	span_is(n, 0, 1, 0, 3); /* "f" comes from the whole ligature */
	span_is(n, 1, 4, 0, 5); /* "ile" */
	span_is(n, 5, 7, 6, 9); /* "é" from "e" + U+0301 */
	span_is(n, 7, 8, 9, 10);
	normalize_free(n);
}

static void
test_zero_width_and_bidi(void **state)
{
	/* 机 U+200B 密 U+202E x U+FEFF y */
	struct normalize *n = norm("\xe6\x9c\xba\xe2\x80\x8b\xe5\xaf\x86"
	                           "\xe2\x80\xae"
	                           "x\xef\xbb\xbfy");

	(void)state;
	assert_string_equal(normalize_text(n), "\xe6\x9c\xba\xe5\xaf\x86xy");
	span_is(n, 0, 6, 0, 9);   /* 机密 spans the zero-width space */
	span_is(n, 3, 6, 6, 9);   /* 密 alone */
	span_is(n, 6, 7, 12, 13); /* x */
	span_is(n, 7, 8, 16, 17); /* y */
	normalize_free(n);
}

static void
test_invalid_utf8(void **state)
{
	struct normalize *n = norm("a\xff"
	                           "b\xe6\x9c");

	(void)state;
	assert_string_equal(normalize_text(n), "a\xef\xbf\xbd"
	                                       "b\xef\xbf\xbd\xef\xbf\xbd");
	span_is(n, 1, 4, 1, 2);
	span_is(n, 4, 5, 2, 3);
	normalize_free(n);
}

static void
test_hangul_composes(void **state)
{
	struct normalize *n = norm("\xe1\x84\x80\xe1\x85\xa1"); /* L + V */

	(void)state;
	assert_string_equal(normalize_text(n), "\xea\xb0\x80"); /* U+AC00 */
	span_is(n, 0, 3, 0, 6);
	normalize_free(n);
}

static void
test_stripped_view(void **state)
{
	/* "F-a l.c_o" U+200B "n!" and 机-密 */
	const char *in = "F-a l.c_o\xe2\x80\x8bn! \xe6\x9c\xba-\xe5\xaf\x86";
	struct normalize *n = norm(in), *sv = NULL;
	size_t a, z, oa, oz;

	(void)state;
	assert_int_equal(normalize_new(&sv), WW_OK);
	assert_int_equal(normalize_append_stripped(sv, n, 0, normalize_len(n)),
	                 WW_OK);
	assert_string_equal(normalize_text(sv),
	                    "falcon\xe6\x9c\xba\xe5\xaf\x86");
	/* "falcon" -> normalized [0, 10) -> original [0, 13) */
	normalize_span(sv, 0, 6, &a, &z);
	assert_int_equal(a, 0);
	assert_int_equal(z, 10);
	normalize_span(n, a, z, &oa, &oz);
	assert_int_equal(oa, 0);
	assert_int_equal(oz, 13);
	/* 机密 -> original bytes of "机-密" */
	normalize_span(sv, 6, 12, &a, &z);
	normalize_span(n, a, z, &oa, &oz);
	assert_int_equal(oa, 15);
	assert_int_equal(oz, 22);
	normalize_free(sv);
	normalize_free(n);
}

static void
test_append_origins(void **state)
{
	struct normalize *n = NULL;

	(void)state;
	assert_int_equal(normalize_new(&n), WW_OK);
	assert_int_equal(normalize_append(n, "AB", 2), WW_OK);
	assert_int_equal(normalize_append_raw(n, "\n", 1), WW_OK);
	assert_int_equal(normalize_append(n, "CD", 2), WW_OK);
	assert_string_equal(normalize_text(n), "ab\ncd");
	span_is(n, 3, 5, 0, 2); /* each append maps to its own input */
	normalize_reset(n);
	assert_int_equal(normalize_len(n), 0);
	normalize_free(n);
}

static void
test_classes_and_str(void **state)
{
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_true(normalize_is_word('a'));
	assert_true(normalize_is_word('7'));
	assert_true(normalize_is_word(0xE9));    /* é */
	assert_false(normalize_is_word(0x673A)); /* 机 */
	assert_false(normalize_is_word(0x30A2)); /* katakana */
	assert_false(normalize_is_word('-'));
	assert_true(normalize_is_separator('_'));
	assert_true(normalize_is_separator(0x3002)); /* 。 */
	assert_false(normalize_is_separator(0x673A));
	assert_int_equal(normalize_str("ＡbＣ", strlen("ＡbＣ"), &out, &len),
	                 WW_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(len, 3);
	free(out);
}

/*
 * Property: on valid text, the unit-by-unit normalization equals utf8proc's
 * own whole-string NFKC_Casefold, and every span maps inside the input.
 */
static void
test_same_as_utf8proc(void **state)
{
	static const char *const pool[] = {"a",
	                                   "Z",
	                                   " ",
	                                   "-",
	                                   ".",
	                                   "1",
	                                   "\xe6\x9c\xba",
	                                   "\xe5\xaf\x86",
	                                   "\xef\xbc\xa1",
	                                   "\xef\xbc\x8c",
	                                   "\xe3\x80\x82",
	                                   "\xcc\x81",
	                                   "\xcc\xa3",
	                                   "\xc3\x89",
	                                   "\xef\xac\x81",
	                                   "\xe2\x80\x8b",
	                                   "\xe2\x80\xae",
	                                   "\xe1\x84\x80",
	                                   "\xe1\x85\xa1",
	                                   "\xe1\x86\xa8",
	                                   "\xea\xb0\x80",
	                                   "\xe3\x82\xab",
	                                   "\xe3\x82\x99",
	                                   "\xe2\x85\xa2",
	                                   "\xc3\x9f",
	                                   "\xce\xa3",
	                                   "\xef\xbd\xb6",
	                                   "\xe2\x91\xa0",
	                                   "\xc2\xad",
	                                   "\xef\xbb\xbf",
	                                   "e",
	                                   "\xe3\x8d\xbf",
	                                   "\xe2\x80\x9c",
	                                   "\xe2\x80\x94",
	                                   "\xe2\x80\xa6",
	                                   "\xe3\x80\x81",
	                                   "\xe3\x80\x8c",
	                                   "\xe3\x80\x80",
	                                   "\xe3\x80\xaa",
	                                   "\xef\xbd\x9e",
	                                   "\xef\xbd\x9f"};
	uint64_t seed = 88172645463325252ull;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		char in[512] = "";
		size_t n = 0, len, a, z;
		utf8proc_uint8_t *want;
		struct normalize *got;
		int parts;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		parts = 1 + (int)(seed % 24);
		for (int i = 0; i < parts; i++) {
			const char *piece =
			    pool[(seed >> (i % 40)) %
			         (sizeof(pool) / sizeof(pool[0]))];

			memcpy(in + n, piece, strlen(piece));
			n += strlen(piece);
		}
		in[n] = '\0';
		want = utf8proc_NFKC_Casefold((const utf8proc_uint8_t *)in);
		assert_non_null(want);
		got = norm(in);
		if (strcmp(normalize_text(got), (const char *)want) != 0) {
			for (size_t i = 0; i < n; i++)
				print_message("%02x ", (unsigned char)in[i]);
			print_message("\n");
			fail_msg("round %d: input '%s': got '%s', want '%s'",
			         round, in, normalize_text(got), want);
		}
		len = normalize_len(got);
		for (size_t i = 0; i < len; i++) {
			normalize_span(got, i, i + 1, &a, &z);
			assert_true(a < z && z <= n);
		}
		free(want);
		normalize_free(got);
	}
}

/*
 * The fast paths for punctuation and full-width ASCII in Chinese text map
 * spans like the slow path: whole characters, full-width to one byte.
 */
static void
test_punctuation_fast_paths(void **state)
{
	/* “机密”，ＡＢ。 */
	struct normalize *n = norm("\xe2\x80\x9c\xe6\x9c\xba\xe5\xaf\x86"
	                           "\xe2\x80\x9d\xef\xbc\x8c\xef\xbc\xa1"
	                           "\xef\xbc\xa2\xe3\x80\x82");

	(void)state;
	assert_string_equal(normalize_text(n),
	                    "\xe2\x80\x9c\xe6\x9c\xba\xe5\xaf\x86"
	                    "\xe2\x80\x9d,ab\xe3\x80\x82");
	span_is(n, 3, 9, 3, 9);     /* 机密 */
	span_is(n, 12, 13, 12, 15); /* "," from ， */
	span_is(n, 13, 15, 15, 21); /* "ab" from ＡＢ */
	span_is(n, 15, 18, 21, 24); /* 。 */
	span_is(n, 0, 18, 0, 24);
	normalize_free(n);
}

/*
 * Every character of the general and CJK punctuation blocks, alone, before
 * an ideograph and before a combining mark, normalizes as utf8proc says
 * (the fast path's table of stable punctuation must agree with it).
 */
static void
test_punctuation_blocks(void **state)
{
	static const char *const after[] = {"", "\xe6\x9c\xba", "\xcc\x81",
	                                    "x"};

	(void)state;
	for (int32_t cp = 0x2000; cp < 0x3040; cp++) {
		utf8proc_uint8_t in[16];
		utf8proc_ssize_t l;

		if (cp == 0x2040)
			cp = 0x3000;
		l = utf8proc_encode_char(cp, in);
		for (size_t k = 0; k < sizeof(after) / sizeof(after[0]); k++) {
			utf8proc_uint8_t *want;
			struct normalize *n;

			memcpy(in + l, after[k], strlen(after[k]) + 1);
			want = utf8proc_NFKC_Casefold(in);
			assert_non_null(want);
			n = norm((const char *)in);
			if (strcmp(normalize_text(n), (const char *)want) != 0)
				fail_msg("U+%04X then '%s'", (unsigned)cp,
				         after[k]);
			free(want);
			normalize_free(n);
		}
	}
}

/*
 * A character followed by full-width ASCII stays on the fast path (a
 * full-width character never combines with what precedes it): the text
 * is what utf8proc says and the character before maps to its own bytes.
 */
static void
test_before_fullwidth(void **state)
{
	static const char *const before[] = {"a", "Z", "\xe6\x9c\xba",
	                                     "\xe3\x80\x82", "e\xcc\x81"};
	static const char *const after[] = {"", "\xcc\x81", "\xe6\x9c\xba",
	                                    "x"};

	(void)state;
	for (int32_t cp = 0xFF01; cp <= 0xFF5E; cp++) {
		for (size_t b = 0; b < sizeof(before) / sizeof(before[0]); b++)
			for (size_t k = 0; k < sizeof(after) / sizeof(after[0]);
			     k++) {
				utf8proc_uint8_t in[32], *want;
				size_t bl = strlen(before[b]), a, z;
				utf8proc_ssize_t l;
				struct normalize *n;

				memcpy(in, before[b], bl);
				l = utf8proc_encode_char(cp, in + bl);
				memcpy(in + bl + (size_t)l, after[k],
				       strlen(after[k]) + 1);
				want = utf8proc_NFKC_Casefold(in);
				assert_non_null(want);
				n = norm((const char *)in);
				if (strcmp(normalize_text(n),
				           (const char *)want) != 0)
					fail_msg("'%s' U+%04X '%s'", before[b],
					         (unsigned)cp, after[k]);
				/* The first output byte comes from before[b].
				 */
				normalize_span(n, 0, 1, &a, &z);
				assert_int_equal(a, 0);
				assert_int_equal(z, bl);
				free(want);
				normalize_free(n);
			}
	}
}

/*
 * The stripped view, built run by run with inline cases for ASCII and
 * ideographs, keeps exactly the characters normalize_is_separator() says
 * are not separators, each mapped back to its own bytes.
 */
static void
test_stripped_same_as_classes(void **state)
{
	static const char *const pool[] = {
	    "a",
	    "Z",
	    "7",
	    " ",
	    "-",
	    "_",
	    ".",
	    "\n",
	    "\xe6\x9c\xba",     /* 机 U+673A */
	    "\xe3\x90\x80",     /* U+3400, extension A */
	    "\xe4\xb7\x80",     /* U+4DC0, a hexagram: a symbol */
	    "\xe9\xbe\xa5",     /* U+9FA5 */
	    "\xe3\x80\x81",     /* 、 */
	    "\xe3\x82\xab",     /* katakana KA */
	    "\xe2\x80\x94",     /* em dash */
	    "\xc3\xa9",         /* é */
	    "\xf0\x9f\x98\x80", /* emoji */
	    "\xf0\xa0\x80\x80", /* U+20000 */
	    "\xea\xb0\x80",     /* Hangul GA */
	    "\xef\xbc\x8c"};    /* ， (normalizes to ",") */
	uint64_t seed = 0x2545F4914F6CDD1Dull;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		char in[256] = "", want[256];
		size_t len = 0, wl = 0, from[256], to[256], a, z, l, nl;
		struct normalize *n, *sv = NULL;
		const char *t;
		int32_t cp;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		for (int i = 0; i < 1 + (int)(seed % 40); i++) {
			const char *piece =
			    pool[(seed >> (i % 48)) %
			         (sizeof(pool) / sizeof(pool[0]))];

			memcpy(in + len, piece, strlen(piece));
			len += strlen(piece);
		}
		in[len] = '\0';
		n = norm(in);
		t = normalize_text(n);
		nl = normalize_len(n);
		for (size_t i = 0; i < nl; i += l) {
			l = normalize_decode(t, nl, i, &cp);
			if (normalize_is_separator(cp))
				continue;
			for (size_t k = 0; k < l; k++, wl++) {
				want[wl] = t[i + k];
				from[wl] = i;
				to[wl] = i + l;
			}
		}
		want[wl] = '\0';
		assert_int_equal(normalize_new(&sv), WW_OK);
		assert_int_equal(normalize_append_stripped(sv, n, 0, nl),
		                 WW_OK);
		assert_string_equal(normalize_text(sv), want);
		for (size_t k = 0; k < wl; k++) {
			normalize_span(sv, k, k + 1, &a, &z);
			assert_int_equal(a, from[k]);
			assert_int_equal(z, to[k]);
		}
		normalize_free(sv);
		normalize_free(n);
	}
}

/*
 * Long runs (the block-at-a-time fast path takes sixteen bytes at once)
 * broken at every offset by characters it must leave to the slow paths:
 * the text is still what utf8proc says, and every output byte maps back
 * to whole input characters.
 */
static void
test_long_runs(void **state)
{
	static const char *const breaker[] = {
	    "\xef\xbc\x8c",    "\xe3\x80\x82", "\xcc\x81",     "\xc3\x89",
	    "\xea\xb0\x80",    "\xe1\x85\xa1", "\xe2\x80\x8b", "A",
	    "\xf0\x9f\x98\x80"};
	static const char *const fill[] = {"\xe6\x9c\xba", "a", "Q",
	                                   "\xe4\xb7\x80", "7"};

	(void)state;
	for (size_t b = 0; b < sizeof(breaker) / sizeof(breaker[0]); b++)
		for (size_t at = 0; at < 40; at++) {
			char in[256];
			size_t len = 0, a, z, nl;
			utf8proc_uint8_t *want;
			struct normalize *n;

			for (size_t k = 0; k < 48; k++) {
				const char *f = k == at
				                    ? breaker[b]
				                    : fill[(k * 7 + at) %
				                           (sizeof(fill) /
				                            sizeof(fill[0]))];

				memcpy(in + len, f, strlen(f));
				len += strlen(f);
			}
			in[len] = '\0';
			want = utf8proc_NFKC_Casefold((utf8proc_uint8_t *)in);
			assert_non_null(want);
			n = norm(in);
			if (strcmp(normalize_text(n), (const char *)want) != 0)
				fail_msg("breaker %zu at %zu", b, at);
			nl = normalize_len(n);
			for (size_t k = 0; k < nl; k++) {
				normalize_span(n, k, k + 1, &a, &z);
				assert_true(a < z && z <= len);
				assert_true(((unsigned char)in[a] & 0xC0) !=
				            0x80);
				assert_true(z == len || ((unsigned char)in[z] &
				                         0xC0) != 0x80);
			}
			free(want);
			normalize_free(n);
		}
}

/* Invalid bytes inside long runs of ideographs become U+FFFD each. */
static void
test_long_runs_invalid(void **state)
{
	static const char *const bad[] = {"\xff", "\x9c", "\xe6\x9c"};
	static const char *const fffd[] = {"\xef\xbf\xbd", "\xef\xbf\xbd",
	                                   "\xef\xbf\xbd\xef\xbf\xbd"};

	(void)state;
	for (size_t b = 0; b < 3; b++)
		for (size_t at = 0; at <= 30; at++) {
			char in[256], want[256];
			size_t len = 0, wl = 0;
			struct normalize *n;

			for (size_t k = 0; k <= 30; k++) {
				if (k == at) {
					memcpy(in + len, bad[b],
					       strlen(bad[b]));
					len += strlen(bad[b]);
					memcpy(want + wl, fffd[b],
					       strlen(fffd[b]));
					wl += strlen(fffd[b]);
				}
				if (k < 30) {
					memcpy(in + len, "\xe5\xaf\x86", 3);
					memcpy(want + wl, "\xe5\xaf\x86", 3);
					len += 3;
					wl += 3;
				}
			}
			in[len] = want[wl] = '\0';
			n = norm(in);
			if (strcmp(normalize_text(n), want) != 0)
				fail_msg("bad %zu at %zu", b, at);
			normalize_free(n);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ascii_casefold),
	    cmocka_unit_test(test_fullwidth),
	    cmocka_unit_test(test_nfkc_ligature_and_combining),
	    cmocka_unit_test(test_zero_width_and_bidi),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_hangul_composes),
	    cmocka_unit_test(test_stripped_view),
	    cmocka_unit_test(test_append_origins),
	    cmocka_unit_test(test_classes_and_str),
	    cmocka_unit_test(test_same_as_utf8proc),
	    cmocka_unit_test(test_punctuation_fast_paths),
	    cmocka_unit_test(test_punctuation_blocks),
	    cmocka_unit_test(test_before_fullwidth),
	    cmocka_unit_test(test_stripped_same_as_classes),
	    cmocka_unit_test(test_long_runs),
	    cmocka_unit_test(test_long_runs_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
