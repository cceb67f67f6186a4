/*
 * find.c: folded text search, folding exactly as policy does
 * (policy/normalize.h: NFKC, case folding, ignorables removed), so an
 * auditor's search finds what a policy keyword would.  The search runs
 * over the normalized bytes; normalize_span() maps each hit back to the
 * original text for highlighting.  Normalized text is valid UTF-8 and so
 * is the needle, so a byte match always starts on a character boundary.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "policy/normalize.h"
#include "store/find.h"

struct find {
	char *needle; /* normalized */
	size_t nlen;
	struct normalize *text; /* reused for every searched text */
};

int
find_new(const char *needle, struct find **out)
{
	struct find *f;
	int rc;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return WW_ENOMEM;
	rc = normalize_str(needle, strlen(needle), &f->needle, &f->nlen);
	if (rc == WW_OK && f->nlen == 0)
		rc = WW_EINVAL;
	if (rc == WW_OK)
		rc = normalize_new(&f->text);
	if (rc != WW_OK) {
		find_free(f);
		return rc;
	}
	*out = f;
	return WW_OK;
}

void
find_free(struct find *f)
{
	if (f == NULL)
		return;
	free(f->needle);
	normalize_free(f->text);
	free(f);
}

int
find_text(struct find *f, const char *text, size_t len, size_t *starts,
          size_t *ends, size_t max, size_t *n)
{
	const char *hay, *hit;
	size_t hlen, at = 0;
	int rc;

	*n = 0;
	normalize_reset(f->text);
	if ((rc = normalize_append(f->text, text, len)) != WW_OK)
		return rc == WW_ELIMIT ? WW_OK : rc; /* too big to search */
	hay = normalize_text(f->text);
	hlen = normalize_len(f->text);
	while (*n < max && at + f->nlen <= hlen) {
		hit = memmem(hay + at, hlen - at, f->needle, f->nlen);
		if (hit == NULL)
			break;
		at = (size_t)(hit - hay);
		normalize_span(f->text, at, at + f->nlen, &starts[*n],
		               &ends[*n]);
		(*n)++;
		at += f->nlen;
	}
	return WW_OK;
}
