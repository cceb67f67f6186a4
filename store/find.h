/*
 * find.h: case- and width-insensitive text search for `wwjournal search`.
 *
 * Both the query and the searched text are folded exactly the way policy
 * folds text (policy/normalize.h: NFKC, case folding, default ignorable
 * code points such as zero-width spaces removed), so "ＡＢＣ", "abc" and
 * "a<ZWSP>bc" all find "ABC" -- what a policy keyword would match, an
 * auditor finds.  Hits are byte spans of the original text (whole
 * characters), for highlighting.
 *
 * A struct find keeps its scratch space between calls: one per thread.
 */
#ifndef WW_FIND_H
#define WW_FIND_H

#include <stddef.h>

struct find; /* opaque */

/*
 * Prepare a search for needle (UTF-8, NUL-terminated).  WW_EINVAL when
 * nothing is left of it after folding, WW_ENOMEM.
 */
int find_new(const char *needle, struct find **out);
void find_free(struct find *f); /* NULL is a no-op */

/*
 * Find non-overlapping hits of the needle in text[0..len).  Up to max hit
 * spans go to starts[]/ends[] (byte offsets into text, whole characters);
 * *n gets the number stored.  Returns WW_OK (also when *n == 0) or
 * WW_ENOMEM.
 */
int find_text(struct find *f, const char *text, size_t len, size_t *starts,
              size_t *ends, size_t max, size_t *n);

#endif
