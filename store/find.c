/*
 * find.c: folded text search with utf8proc.  Folding is per character
 * (compatibility decomposition + case folding, ignorables dropped): both
 * sides are folded the same way, so a decomposed comparison finds what a
 * composed (NFKC) one would, and each folded code point keeps the byte
 * span of the character it came from.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "ww.h"
#include "store/find.h"

#define FIND_FOLD                                                              \
	(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |            \
	 UTF8PROC_IGNORE)
#define FIND_MAX_DECOMP 32 /* code points one character may fold into */

struct find {
	int32_t *needle;
	size_t nlen;
	/* The folded text and, per folded code point, its source span. */
	int32_t *cps;
	size_t *from, *to;
	size_t len, cap;
};

static int
find_grow(struct find *f, size_t need)
{
	size_t cap = f->cap != 0 ? f->cap : 256;
	void *p;

	if (f->len + need <= f->cap)
		return WW_OK;
	while (cap < f->len + need)
		cap *= 2;
	if ((p = realloc(f->cps, cap * sizeof(*f->cps))) == NULL)
		return WW_ENOMEM;
	f->cps = p;
	if ((p = realloc(f->from, cap * sizeof(*f->from))) == NULL)
		return WW_ENOMEM;
	f->from = p;
	if ((p = realloc(f->to, cap * sizeof(*f->to))) == NULL)
		return WW_ENOMEM;
	f->to = p;
	f->cap = cap;
	return WW_OK;
}

/* Fold s[0..len) into f->cps (replacing what was there). */
static int
find_fold(struct find *f, const char *s, size_t len)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp, out[FIND_MAX_DECOMP];
	utf8proc_ssize_t n, m;
	int last = 0;

	f->len = 0;
	for (size_t i = 0; i < len; i += (size_t)n) {
		n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0) {
			n = 1;
			cp = 0xfffd;
		}
		m = utf8proc_decompose_char(cp, out, FIND_MAX_DECOMP, FIND_FOLD,
		                            &last);
		if (m < 0 || m > FIND_MAX_DECOMP) {
			out[0] = cp;
			m = 1;
		}
		if (find_grow(f, (size_t)m) != WW_OK)
			return WW_ENOMEM;
		for (utf8proc_ssize_t k = 0; k < m; k++) {
			f->cps[f->len] = out[k];
			f->from[f->len] = i;
			f->to[f->len] = i + (size_t)n;
			f->len++;
		}
	}
	return WW_OK;
}

int
find_new(const char *needle, struct find **out)
{
	struct find *f;
	int rc;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return WW_ENOMEM;
	rc = find_fold(f, needle, strlen(needle));
	if (rc == WW_OK && f->len == 0)
		rc = WW_EINVAL;
	if (rc != WW_OK) {
		find_free(f);
		return rc;
	}
	/* Keep the folded needle; the text buffers are reused per call. */
	f->needle = f->cps;
	f->nlen = f->len;
	f->cps = NULL;
	f->len = 0;
	f->cap = 0;
	free(f->from);
	free(f->to);
	f->from = f->to = NULL;
	*out = f;
	return WW_OK;
}

void
find_free(struct find *f)
{
	if (f == NULL)
		return;
	free(f->needle);
	free(f->cps);
	free(f->from);
	free(f->to);
	free(f);
}

int
find_text(struct find *f, const char *text, size_t len, size_t *starts,
          size_t *ends, size_t max, size_t *n)
{
	size_t i = 0;

	*n = 0;
	if (find_fold(f, text, len) != WW_OK)
		return WW_ENOMEM;
	while (i + f->nlen <= f->len && *n < max) {
		if (memcmp(f->cps + i, f->needle,
		           f->nlen * sizeof(*f->needle)) != 0) {
			i++;
			continue;
		}
		starts[*n] = f->from[i];
		ends[*n] = f->to[i + f->nlen - 1];
		(*n)++;
		i += f->nlen;
	}
	return WW_OK;
}
