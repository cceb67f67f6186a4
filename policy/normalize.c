/*
 * normalize.c: NFKC + case folding + ignorables removed, with an offset map.
 *
 * utf8proc's own utf8proc_map() allocates per call and loses the link
 * between input and output, so the text is cut into composition units
 * ("clusters": a character and the following characters that may combine
 * with it) and each unit is normalized on its own into a stack buffer.
 * All output bytes of a unit map to the whole unit in the input.  ASCII not
 * followed by a combining character and the common CJK ideographs are
 * NFKC-stable and have no case folding, so they skip utf8proc entirely:
 * that is what keeps mixed Chinese/English text fast.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "ww.h"
#include "policy/normalize.h"

#define CLUSTER_MAX 16  /* code points per unit; longer runs are cut */
#define DECOMP_MAX 1024 /* code points a unit may decompose into */

struct normalize {
	char *text;
	uint32_t *ostart; /* per output byte: first input byte of its unit */
	uint32_t *oend;   /* per output byte: end of its unit in the input */
	size_t len;
	size_t cap;
};

int
normalize_new(struct normalize **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? WW_ENOMEM : WW_OK;
}

void
normalize_free(struct normalize *n)
{
	if (n == NULL)
		return;
	free(n->text);
	free(n->ostart);
	free(n->oend);
	free(n);
}

void
normalize_reset(struct normalize *n)
{
	n->len = 0;
}

const char *
normalize_text(const struct normalize *n)
{
	return n->text != NULL ? n->text : "";
}

size_t
normalize_len(const struct normalize *n)
{
	return n->len;
}

/* Make room for extra more bytes (plus a NUL). */
static int
normalize_reserve(struct normalize *n, size_t extra)
{
	size_t want = n->len + extra + 1, cap;
	void *p;

	if (want <= n->cap)
		return WW_OK;
	if (want > NORMALIZE_MAX_INPUT * 4u)
		return WW_ELIMIT;
	cap = n->cap < 256 ? 256 : n->cap;
	while (cap < want)
		cap *= 2;
	if ((p = realloc(n->text, cap)) == NULL)
		return WW_ENOMEM;
	n->text = p;
	if ((p = realloc(n->ostart, cap * sizeof(uint32_t))) == NULL)
		return WW_ENOMEM;
	n->ostart = p;
	if ((p = realloc(n->oend, cap * sizeof(uint32_t))) == NULL)
		return WW_ENOMEM;
	n->oend = p;
	n->cap = cap;
	return WW_OK;
}

static void
normalize_emit(struct normalize *n, const char *b, size_t blen, size_t os,
               size_t oe)
{
	for (size_t k = 0; k < blen; k++) {
		n->text[n->len] = b[k];
		n->ostart[n->len] = (uint32_t)os;
		n->oend[n->len] = (uint32_t)oe;
		n->len++;
	}
	n->text[n->len] = '\0';
}

size_t
normalize_decode(const char *s, size_t len, size_t i, int32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s + i;
	size_t avail = len - i;
	utf8proc_int32_t c;
	utf8proc_ssize_t r;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	r = utf8proc_iterate(u, avail > 4 ? 4 : (utf8proc_ssize_t)avail, &c);
	if (r <= 0) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c;
	return (size_t)r;
}

/* Unified ideographs: no decomposition, no case, never combine. */
static int
normalize_stable_cjk(int32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF);
}

/*
 * Is cp, alone in its unit (nothing after it combines), unchanged by NFKC
 * and case folding: no decomposition, no folding, not ignorable, not the
 * second half of a composition?  (comb_index >= 0x8000 marks those in
 * utf8proc 2.x; UINT16_MAX is "none".)
 */
static int
normalize_stable(int32_t cp)
{
	const utf8proc_property_t *pr;

	if (normalize_stable_cjk(cp))
		return 1;
	if (cp == 0xFFFD || (cp >= 0xAC00 && cp <= 0xD7A3))
		return 0; /* invalid input, or Hangul syllables (compose) */
	pr = utf8proc_get_property(cp);
	return pr->decomp_seqindex == UINT16_MAX &&
	       pr->casefold_seqindex == UINT16_MAX &&
	       pr->combining_class == 0 &&
	       (pr->comb_index < 0x8000 || pr->comb_index == UINT16_MAX) &&
	       !pr->ignorable && pr->category != UTF8PROC_CATEGORY_CN;
}

/* Can cp combine with what precedes it (so it belongs to the same unit)? */
static int
normalize_continues(int32_t cp)
{
	const utf8proc_property_t *pr;

	if (cp < 0x300 || normalize_stable_cjk(cp))
		return 0;
	if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2))
		return 1; /* Hangul vowel and trailing jamo compose */
	pr = utf8proc_get_property(cp);
	return pr->combining_class != 0 ||
	       (pr->comb_index >= 0x8000 && pr->comb_index != UINT16_MAX);
}

/*
 * Canonical ordering of combining marks (Unicode 3.11), which utf8proc does
 * in utf8proc_decompose() but not per character: a stable sort of each run
 * of non-starters by combining class.
 */
static void
normalize_reorder(utf8proc_int32_t *b, size_t n)
{
	size_t pos = 0;

	while (pos + 1 < n) {
		int c1 = utf8proc_get_property(b[pos])->combining_class;
		int c2 = utf8proc_get_property(b[pos + 1])->combining_class;

		if (c1 > c2 && c2 > 0) {
			utf8proc_int32_t t = b[pos];

			b[pos] = b[pos + 1];
			b[pos + 1] = t;
			pos = pos > 0 ? pos - 1 : pos + 1;
		} else {
			pos++;
		}
	}
}

/*
 * Normalize one unit (cps[0..ncp)) from input [os, oe) and emit it.
 * Returns WW_OK, WW_ENOMEM or WW_ELIMIT.
 */
static int
normalize_unit(struct normalize *n, const int32_t *cps, size_t ncp, size_t os,
               size_t oe)
{
	const utf8proc_option_t dopt = UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
	                               UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
	utf8proc_int32_t buf[DECOMP_MAX];
	utf8proc_ssize_t used = 0, r;
	int rc, boundclass = 0;

	for (size_t k = 0; k < ncp; k++) {
		r = utf8proc_decompose_char(
		    cps[k], buf + used, DECOMP_MAX - used, dopt, &boundclass);
		if (r < 0 || r > DECOMP_MAX - used)
			return WW_ELIMIT; /* cannot happen with CLUSTER_MAX */
		used += r;
	}
	if (used == 0)
		return WW_OK; /* only ignorables */
	normalize_reorder(buf, (size_t)used);
	r = utf8proc_reencode(buf, used, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
	if (r < 0)
		return WW_ELIMIT;
	if ((rc = normalize_reserve(n, (size_t)r)) != WW_OK)
		return rc;
	normalize_emit(n, (const char *)buf, (size_t)r, os, oe);
	return WW_OK;
}

static int
normalize_ignorable(int32_t cp)
{
	return cp >= 0xAD && utf8proc_get_property(cp)->ignorable;
}

/*
 * From s[j], skip default ignorables; returns where the next other
 * character starts (len if none) and sets *cp and *l to it.
 */
static size_t
normalize_skip_ignorables(const char *s, size_t len, size_t j, int32_t *cp,
                          size_t *l)
{
	while (j < len) {
		*l = normalize_decode(s, len, j, cp);
		if (!normalize_ignorable(*cp))
			return j;
		j += *l;
	}
	return len;
}

/* Handle the unit starting at s[i]; returns its input length or < 0. */
static long
normalize_cluster(struct normalize *n, const char *s, size_t len, size_t i)
{
	int32_t cps[CLUSTER_MAX], cp;
	size_t j = i, ncp = 0, l;
	int rc;

	l = normalize_decode(s, len, j, &cp);
	cps[ncp++] = cp;
	j += l;
	while (j < len && ncp < CLUSTER_MAX) {
		size_t k = normalize_skip_ignorables(s, len, j, &cp, &l);

		/*
		 * Ignorables vanish, so a combining character after them
		 * still combines: they join the unit only in that case.
		 */
		if (k >= len || !normalize_continues(cp) ||
		    ncp + 1 + (k - j) > CLUSTER_MAX)
			break;
		while (j < k) {
			j += normalize_decode(s, len, j, &cps[ncp]);
			ncp++;
		}
		cps[ncp++] = cp;
		j += l;
	}
	if (ncp == 1 &&
	    (cps[0] < 0x80 || (cps[0] >= 0xFF01 && cps[0] <= 0xFF5E))) {
		/* ASCII, or full-width ASCII (NFKC: the ASCII character). */
		char c = (char)(cps[0] < 0x80 ? cps[0] : cps[0] - 0xFEE0);

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if ((rc = normalize_reserve(n, 1)) != WW_OK)
			return rc;
		normalize_emit(n, &c, 1, i, j);
		return (long)(j - i);
	}
	if (ncp == 1 && normalize_stable(cps[0])) {
		if ((rc = normalize_reserve(n, j - i)) != WW_OK)
			return rc;
		normalize_emit(n, s + i, j - i, i, j);
		return (long)(j - i);
	}
	rc = normalize_unit(n, cps, ncp, i, j);
	return rc != WW_OK ? rc : (long)(j - i);
}

/*
 * Is s[i..i+3) a three-byte character in U+4000..U+9FFF (ideographs and
 * hexagrams: no decomposition, no case, never combining) that nothing after
 * it can combine with?  Such characters are copied as they are.
 */
static int
normalize_fast_cjk(const unsigned char *u, size_t len, size_t i)
{
	unsigned char next;

	if (i + 3 > len || u[i] < 0xE4 || u[i] > 0xE9 ||
	    (u[i + 1] & 0xC0) != 0x80 || (u[i + 2] & 0xC0) != 0x80)
		return 0;
	if (i + 3 == len)
		return 1;
	/* Below U+0300, or another U+4000..U+9FFF: cannot combine. */
	next = u[i + 3];
	return next < 0xCC || (next >= 0xE4 && next <= 0xE9);
}

/*
 * Copy the run of bytes from i that needs no Unicode work: ASCII (case
 * folded) not followed by a possible combining mark, and stable CJK.
 * Local restrict pointers let the compiler keep everything in registers.
 * Returns the new input position.
 */
static size_t
normalize_fast_run(struct normalize *n, const unsigned char *u, size_t len,
                   size_t i)
{
	char *restrict t = n->text;
	uint32_t *restrict os = n->ostart, *restrict oe = n->oend;
	size_t o = n->len;

	for (;;) {
		if (i < len && u[i] < 0x80 &&
		    (i + 1 == len || u[i + 1] < 0x80)) {
			unsigned char c = u[i];

			t[o] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			os[o] = (uint32_t)i;
			oe[o++] = (uint32_t)(i + 1);
			i++;
		} else if (normalize_fast_cjk(u, len, i)) {
			for (size_t k = 0; k < 3; k++) {
				t[o] = (char)u[i + k];
				os[o] = (uint32_t)i;
				oe[o++] = (uint32_t)(i + 3);
			}
			i += 3;
		} else {
			break;
		}
	}
	n->len = o;
	return i;
}

int
normalize_append(struct normalize *n, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	long r;
	int rc;

	if (len > NORMALIZE_MAX_INPUT)
		return WW_ELIMIT;
	/*
	 * Invariant: room for len - i more bytes.  The fast paths emit as
	 * many bytes as they read; the slow path re-establishes it.
	 */
	if ((rc = normalize_reserve(n, len)) != WW_OK)
		return rc;
	while (i < len) {
		i = normalize_fast_run(n, u, len, i);
		if (i >= len)
			break;
		if ((r = normalize_cluster(n, s, len, i)) < 0)
			return (int)r;
		i += (size_t)r;
		if ((rc = normalize_reserve(n, len - i)) != WW_OK)
			return rc;
	}
	if (n->text != NULL)
		n->text[n->len] = '\0';
	return WW_OK;
}

int
normalize_append_raw(struct normalize *n, const char *s, size_t len)
{
	int rc;

	if ((rc = normalize_reserve(n, len)) != WW_OK)
		return rc;
	normalize_emit(n, s, len, 0, 0);
	return WW_OK;
}

int
normalize_append_stripped(struct normalize *n, const struct normalize *src,
                          size_t start, size_t end)
{
	size_t i = start, l;
	int32_t cp;
	int rc;

	if ((rc = normalize_reserve(n, end - start)) != WW_OK)
		return rc;
	while (i < end) {
		l = normalize_decode(src->text, end, i, &cp);
		if (!normalize_is_separator(cp))
			normalize_emit(n, src->text + i, l, i, i + l);
		i += l;
	}
	if (n->text != NULL)
		n->text[n->len] = '\0';
	return WW_OK;
}

void
normalize_span(const struct normalize *n, size_t start, size_t end,
               size_t *ostart, size_t *oend)
{
	*ostart = n->ostart[start];
	*oend = n->oend[end - 1];
	if (*oend < *ostart)
		*oend = *ostart;
}

int
normalize_str(const char *s, size_t len, char **out, size_t *outlen)
{
	struct normalize *n = NULL;
	int rc;

	*out = NULL;
	if ((rc = normalize_new(&n)) != WW_OK)
		goto out;
	if ((rc = normalize_append(n, s, len)) != WW_OK)
		goto out;
	if ((*out = malloc(n->len + 1)) == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	memcpy(*out, normalize_text(n), n->len);
	(*out)[n->len] = '\0';
	if (outlen != NULL)
		*outlen = n->len;
out:
	normalize_free(n);
	return rc;
}

/* Scripts written without spaces between words. */
static int
normalize_is_cjk(int32_t cp)
{
	return (cp >= 0x1100 && cp <= 0x11FF) ||
	       (cp >= 0x2E80 && cp <= 0x9FFF) ||
	       (cp >= 0xA960 && cp <= 0xA97F) ||
	       (cp >= 0xAC00 && cp <= 0xD7FF) ||
	       (cp >= 0xF900 && cp <= 0xFAFF) ||
	       (cp >= 0xFF00 && cp <= 0xFFEF) ||
	       (cp >= 0x20000 && cp <= 0x3FFFF);
}

int
normalize_is_word(int32_t cp)
{
	int cat;

	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
		       (cp >= 'A' && cp <= 'Z');
	if (normalize_is_cjk(cp))
		return 0;
	cat = utf8proc_category(cp);
	return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ND) ||
	       cat == UTF8PROC_CATEGORY_NL;
}

int
normalize_is_separator(int32_t cp)
{
	int cat;

	if (cp < 0x80)
		return !normalize_is_word(cp);
	cat = utf8proc_category(cp);
	/* Punctuation, symbols (emoji too), spaces, controls, formats. */
	return (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO) ||
	       (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_CF);
}
