/*
 * detect.h: built-in DLP detectors (wwpolicy(5), "Detectors").
 *
 * A detector is a candidate pattern that the policy compiler adds to the
 * one vectorscan database, plus a validator in C that runs only on the
 * candidate's hits.  Hits count distinct values: the validator writes the
 * value's canonical form (e.g. digits only) for deduplication.
 *
 * How patterns and validators split the work (the contract with the
 * engine):
 *
 * - Patterns run over normalized text (NFKC, case-folded, zero-width
 *   removed), so they are written in lower case ("akia", "-----begin").
 *   They are pure ASCII and use only ASCII classes ([0-9], [a-z], \s), so
 *   HS_FLAG_UTF8 changes nothing for them.  The engine compiles each with
 *   HS_FLAG_SOM_LEFTMOST | hs_flags and must NOT add HS_FLAG_UCP:
 *   boundaries are written as \b, and without UCP a CJK character is a
 *   non-word character, so "手机13812345678" has a boundary before the "1"
 *   while "113812345678" and "a13812345678" have none.
 * - Vectorscan has no lookaround, and a pattern like (?:^|[^0-9])[0-9]+
 *   would put the neighbour inside the hit (and inside a redacted span).
 *   \b is zero-width, so every hit is exactly the value: validators see
 *   only the hit and never its neighbours.  The price: "a 1.2.3.4.5" gives
 *   the ipv4 hits "1.2.3.4" and "2.3.4.5".
 * - Vectorscan reports every end offset at which a pattern matches, each
 *   with its leftmost start.  A spaced value can give several hits sharing
 *   a start ("de89 3704 0044 0532" and the whole IBAN; "a@corp.com" inside
 *   "a@corp.com.cn").  Validators reject most partial hits (length tables,
 *   checksums); for the rest the engine should keep, among the valid hits
 *   of one detector with the same start, only the longest (otherwise
 *   min_count may count such a value twice).
 * - Separators inside numbers are ' ' or '-' (what people type; LUMP in
 *   normalization maps other dashes to '-').  A value uses one kind, never
 *   two in a row.
 * - private_key matches a PEM header alone or a whole BEGIN..END block
 *   (two hits with one start and one canonical value), so a truncated
 *   paste is caught and redaction masks the whole block.
 */
#ifndef WW_DETECT_H
#define WW_DETECT_H

#include <stddef.h>

#define DETECT_CANON_MAX 128

struct detector {
	const char *name;    /* e.g. "credit_card" */
	const char *pattern; /* vectorscan syntax, over normalized text */
	unsigned hs_flags;   /* extra HS_FLAG_* the pattern needs */
	/*
	 * Is s[0..len) (a candidate hit, normalized text) a valid value?  On 1,
	 * canon (DETECT_CANON_MAX bytes) holds its canonical form, NUL-ended.
	 * Validators never read outside s[0..len).  They are pure functions
	 * of their input (except cn_resident_id, which refuses birth dates
	 * after today) and thread-safe.
	 */
	int (*validate)(const char *s, size_t len, char *canon);
	const char *description; /* one line, for wwpolicy(5) and --help */
};

size_t detect_count(void);
/* The i-th detector (static storage), i < detect_count(). */
const struct detector *detect_get(size_t i);
/* The detector called name, or NULL. */
const struct detector *detect_find(const char *name);

#endif
