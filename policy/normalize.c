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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ww.h"
#include "policy/normalize.h"

#define CLUSTER_MAX 16  /* code points per unit; longer runs are cut */
#define DECOMP_MAX 1024 /* code points a unit may decompose into */

/*
 * The map back to the input is kept per segment, not per byte: writing
 * two offsets for every output byte cost more than the normalization
 * itself.  A segment covers output bytes [out, next segment's out):
 * - SEG_IDENT: output byte k came from input byte in + (k - out), and the
 *   run holds whole characters copied (ASCII case-folded) from the input,
 *   so a character's span is read off the output text itself;
 * - SEG_UNIT: every output byte came from the whole unit [in, in_end).
 */
enum { SEG_IDENT, SEG_UNIT };

struct seg {
	uint32_t out;
	uint32_t in;
	uint32_t in_end; /* SEG_UNIT only */
	uint32_t kind;
};

struct normalize {
	char *text;
	size_t len;
	size_t cap;
	struct seg *segs;
	size_t nsegs, segcap;
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
	free(n->segs);
	free(n);
}

void
normalize_reset(struct normalize *n)
{
	n->len = 0;
	n->nsegs = 0;
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
	n->cap = cap;
	return WW_OK;
}

/* Start a segment at the current output position (room for one more). */
static int
normalize_seg(struct normalize *n, uint32_t kind, size_t in, size_t in_end)
{
	struct seg *g;

	if (n->nsegs > 0) {
		g = &n->segs[n->nsegs - 1];
		if (g->out == n->len)
			n->nsegs--; /* the last one stayed empty: reuse it */
		else if (kind == SEG_IDENT && g->kind == SEG_IDENT &&
		         (size_t)g->in + (n->len - g->out) == in)
			return WW_OK; /* continues it */
	}
	if (n->nsegs == n->segcap) {
		size_t cap = n->segcap < 64 ? 64 : n->segcap * 2;

		if ((g = realloc(n->segs, cap * sizeof(*g))) == NULL)
			return WW_ENOMEM;
		n->segs = g;
		n->segcap = cap;
	}
	g = &n->segs[n->nsegs++];
	g->out = (uint32_t)n->len;
	g->in = (uint32_t)in;
	g->in_end = (uint32_t)in_end;
	g->kind = kind;
	return WW_OK;
}

/* Emit b[0..blen) as one unit from input [os, oe) (room reserved). */
static int
normalize_emit(struct normalize *n, const char *b, size_t blen, size_t os,
               size_t oe)
{
	int rc;

	if (blen == 0)
		return WW_OK;
	if ((rc = normalize_seg(n, SEG_UNIT, os, oe)) != WW_OK)
		return rc;
	memcpy(n->text + n->len, b, blen);
	n->len += blen;
	n->text[n->len] = '\0';
	return WW_OK;
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
	return normalize_emit(n, (const char *)buf, (size_t)r, os, oe);
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
		if ((rc = normalize_reserve(n, 1)) != WW_OK ||
		    (rc = normalize_emit(n, &c, 1, i, j)) != WW_OK)
			return rc;
		return (long)(j - i);
	}
	if (ncp == 1 && normalize_stable(cps[0])) {
		if ((rc = normalize_reserve(n, j - i)) != WW_OK ||
		    (rc = normalize_emit(n, s + i, j - i, i, j)) != WW_OK)
			return rc;
		return (long)(j - i);
	}
	rc = normalize_unit(n, cps, ncp, i, j);
	return rc != WW_OK ? rc : (long)(j - i);
}

/*
 * Characters of U+2000..U+203F and U+3000..U+303F (general and CJK
 * punctuation: quotes, dashes, 、。「」【】...) that are stable on their own
 * in the sense of normalize_stable(); bit k is U+x000 + k.  Computed with
 * utf8proc; tests/unit/test_normalize checks them against it.
 */
static const uint64_t normalize_punct_stable[2] = {
    0xaf27038fff7d0000ull, /* U+2000..U+203F */
    0xf8bf03fffffffffeull, /* U+3000..U+303F */
};

static inline int
normalize_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/*
 * Is u[i..i+3) (i + 3 <= len) a three-byte character that is stable on its
 * own: U+4000..U+9FFF (ideographs and hexagrams: no decomposition, no
 * case, never combining) or stable punctuation?
 */
static inline int
normalize_stable3(const unsigned char *u, size_t i)
{
	unsigned char a = u[i];

	if (a >= 0xE4 && a <= 0xE9)
		return normalize_cont(u[i + 1]) && normalize_cont(u[i + 2]);
	if ((a == 0xE2 || a == 0xE3) && u[i + 1] == 0x80 &&
	    normalize_cont(u[i + 2]))
		return (int)(normalize_punct_stable[a - 0xE2] >>
		             (u[i + 2] & 0x3F)) &
		       1;
	return 0;
}

/*
 * The ASCII character (case-folded) that NFKC makes of the full-width
 * ASCII character U+FF01..U+FF5E at u[i] (i + 3 <= len): ，：；！？（） in
 * Chinese text.  0 when u[i] is not one.
 */
static inline char
normalize_fullwidth3(const unsigned char *u, size_t i)
{
	unsigned cp;
	char c;

	if (u[i] != 0xEF || (u[i + 1] != 0xBC && u[i + 1] != 0xBD) ||
	    !normalize_cont(u[i + 2]))
		return 0;
	cp = 0xF000u | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
	if (cp < 0xFF01 || cp > 0xFF5E)
		return 0;
	c = (char)(cp - 0xFEE0);
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/*
 * Can the character starting at u[i] (i < len) not combine with what
 * precedes it, as far as the fast paths can tell cheaply?  A lead byte
 * below U+0300, an ideograph, stable punctuation or full-width ASCII (a
 * starter that is never the second half of a composition) cannot;
 * U+0080..U+00BF are left to the slow path because the soft hyphen
 * (ignorable) may hide a combining mark behind it.
 */
static inline int
normalize_no_combine(const unsigned char *u, size_t len, size_t i)
{
	unsigned char c = u[i];

	return c < 0xC2 || (c > 0xC2 && c < 0xCC) || (c >= 0xE4 && c <= 0xE9) ||
	       (i + 3 <= len &&
	        (normalize_stable3(u, i) || normalize_fullwidth3(u, i)));
}

#ifdef __SSE2__
/* Is c ASCII or the lead byte of an ideograph (E4..E9)? */
static inline int
normalize_plain_lead(unsigned char c)
{
	return c < 0x80 || (unsigned char)(c - 0xE4) <= 5;
}

/*
 * The end of the run from i (a character start) made only of ASCII and
 * three-byte characters with lead bytes E4..E9 (ideographs: stable, never
 * combining), checked sixteen bytes at a time while 17 remain; the run,
 * ASCII case-folded, is written to t[i..] (whole blocks: bytes past the
 * end are overwritten later).  The end is cut back to a character boundary
 * and so that the last character is followed by one of those: the scalar
 * loop would copy the same bytes.  Blocks advance by a fixed 16, so that
 * the processor can run ahead; a lead byte near a block's end carries its
 * continuation bytes into the next block (carry).
 */
static size_t
normalize_run16(const unsigned char *u, size_t len, size_t i, char *t)
{
	size_t start = i, end, q;
	unsigned carry = 0, bad = 0;

	while (i + 17 <= len) {
		__m128i v =
		    _mm_loadu_si128((const __m128i *)(const void *)(u + i));
		__m128i x = _mm_sub_epi8(v, _mm_set1_epi8((char)0xE4));
		__m128i up =
		    _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
		                  _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
		unsigned a = ~(unsigned)_mm_movemask_epi8(v) & 0xFFFFu;
		unsigned l = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(5)), x));
		unsigned c = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_and_si128(v, _mm_set1_epi8((char)0xC0)),
		                   _mm_set1_epi8((char)0x80)));
		unsigned e = (l << 1) | (l << 2) | carry; /* conts expected */

		v = _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
		_mm_storeu_si128((__m128i *)(void *)(t + i), v);
		bad = (((a | l) & e) | (c & ~e) | ~(a | l | c)) & 0xFFFFu;
		if (bad != 0)
			break;
		carry = e >> 16;
		i += 16;
	}
	end = i + (bad != 0 ? (unsigned)__builtin_ctz(bad) : 0);
	/* Back to a character boundary: drop an incomplete ideograph. */
	for (q = end; q > start && normalize_cont(u[q - 1]); q--)
		;
	if (q < end ? end - q != 2 : end > start && u[end - 1] >= 0x80)
		end = q < end ? q - 1 : end - 1;
	/* Its last character must be followed by one that cannot combine. */
	if (end > start && !normalize_plain_lead(u[end]))
		end -= u[end - 1] < 0x80 ? 1 : 3;
	return end;
}
#endif

/*
 * Copy the run of bytes from i that needs no Unicode work: ASCII (case
 * folded) and stable three-byte characters, each not followed by a
 * possible combining mark.  Output and input advance together, so the run
 * needs no map of its own (the caller opened a SEG_IDENT segment).  Room
 * for len - i more bytes and a NUL is reserved, so normalize_run16() may
 * write 16 bytes while 17 remain.  Returns the new input position.
 */
static size_t
normalize_fast_run(struct normalize *n, const unsigned char *u, size_t len,
                   size_t i)
{
	char *restrict t = n->text + n->len - i;

	while (i < len) {
		unsigned char c = u[i];

#ifdef __SSE2__
		if (i + 17 <= len) {
			size_t j = normalize_run16(u, len, i, t);

			if (j > i) {
				i = j;
				continue;
			}
		}
#endif
		if (c < 0x80) {
			if (i + 1 < len && !normalize_no_combine(u, len, i + 1))
				break;
			t[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			i++;
			continue;
		}
		if (i + 3 > len || !normalize_stable3(u, i) ||
		    (i + 3 < len && !normalize_no_combine(u, len, i + 3)))
			break;
		t[i] = (char)c;
		t[i + 1] = (char)u[i + 1];
		t[i + 2] = (char)u[i + 2];
		i += 3;
	}
	n->len = (size_t)(t + i - n->text);
	return i;
}

/*
 * Full-width ASCII that nothing after it can combine with: the ASCII
 * character NFKC makes of it; 0 when s[i] is not such a character.
 */
static char
normalize_fast_fullwidth(const unsigned char *u, size_t len, size_t i)
{
	char c;

	if (i + 3 > len || (c = normalize_fullwidth3(u, i)) == 0)
		return 0;
	if (i + 3 < len && !normalize_no_combine(u, len, i + 3))
		return 0;
	return c;
}

int
normalize_append(struct normalize *n, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	long r;
	int rc;
	char c;

	if (len > NORMALIZE_MAX_INPUT)
		return WW_ELIMIT;
	/*
	 * Invariant: room for len - i more bytes.  The fast paths emit as
	 * many bytes as they read; the slow path re-establishes it.
	 */
	if ((rc = normalize_reserve(n, len)) != WW_OK)
		return rc;
	while (i < len) {
		if ((rc = normalize_seg(n, SEG_IDENT, i, 0)) != WW_OK)
			return rc;
		i = normalize_fast_run(n, u, len, i);
		if (i >= len)
			break;
		if ((c = normalize_fast_fullwidth(u, len, i)) != 0) {
			if ((rc = normalize_emit(n, &c, 1, i, i + 3)) != WW_OK)
				return rc;
			i += 3;
			continue;
		}
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
	return normalize_emit(n, s, len, 0, 0);
}

/*
 * The character at s[i] (i < len) and its length, as normalize_decode()
 * says, with the cases of Chinese text inline: ASCII and U+3000..U+9FFF
 * (lead bytes E3..E9 are never overlong nor surrogates).
 */
static inline size_t
normalize_decode_fast(const char *s, size_t len, size_t i, int32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s + i;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xE3 && u[0] <= 0xE9 && i + 3 <= len &&
	    normalize_cont(u[1]) && normalize_cont(u[2])) {
		*cp = (int32_t)(((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) |
		                (u[2] & 0x3Fu));
		return 3;
	}
	return normalize_decode(s, len, i, cp);
}

/*
 * normalize_is_separator() with the cases of Chinese text inline: ASCII,
 * and the unified ideographs (letters, or unassigned in older Unicode
 * tables: never separators either way).
 */
static inline int
normalize_sep_fast(int32_t cp)
{
	if (cp < 0x80)
		return !((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
		         (cp >= 'A' && cp <= 'Z'));
	if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF))
		return 0;
	return normalize_is_separator(cp);
}

/*
 * Each run of characters that are not separators is copied at once, in
 * one segment: the map needs a new segment only where a separator was
 * dropped.
 */
int
normalize_append_stripped(struct normalize *n, const struct normalize *src,
                          size_t start, size_t end)
{
	size_t i = start, j, l = 0;
	int32_t cp;
	int rc;

	if ((rc = normalize_reserve(n, end - start)) != WW_OK)
		return rc;
	while (i < end) {
		for (j = i; j < end; j += l) {
			l = normalize_decode_fast(src->text, end, j, &cp);
			if (normalize_sep_fast(cp))
				break;
		}
		if (j > i) {
			/* Normalized text is valid UTF-8: whole characters. */
			if ((rc = normalize_seg(n, SEG_IDENT, i, 0)) != WW_OK)
				return rc;
			memcpy(n->text + n->len, src->text + i, j - i);
			n->len += j - i;
		}
		i = j < end ? j + l : j; /* past the separator */
	}
	if (n->text != NULL)
		n->text[n->len] = '\0';
	return WW_OK;
}

/* The segment holding output byte k (k < n->len). */
static const struct seg *
normalize_find_seg(const struct normalize *n, size_t k)
{
	size_t lo = 0, hi = n->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (n->segs[mid].out <= k)
			lo = mid;
		else
			hi = mid;
	}
	return &n->segs[lo];
}

/* Input span of the character or unit holding output byte k. */
static void
normalize_map(const struct normalize *n, size_t k, size_t *os, size_t *oe)
{
	const struct seg *g = normalize_find_seg(n, k);
	const unsigned char *t = (const unsigned char *)n->text;
	size_t a = k, z = k + 1;

	if (g->kind == SEG_UNIT) {
		*os = g->in;
		*oe = g->in_end;
		return;
	}
	while (a > g->out && (t[a] & 0xC0) == 0x80)
		a--;
	while (z < n->len && (t[z] & 0xC0) == 0x80)
		z++;
	*os = g->in + (a - g->out);
	*oe = g->in + (z - g->out);
}

void
normalize_span(const struct normalize *n, size_t start, size_t end,
               size_t *ostart, size_t *oend)
{
	size_t a, z;

	normalize_map(n, start, ostart, &z);
	normalize_map(n, end - 1, &a, oend);
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
