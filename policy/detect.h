/*
 * detect.h: built-in DLP detectors (wwpolicy(5), "Detectors").
 *
 * A detector is a candidate pattern that the policy compiler adds to the
 * one vectorscan database, plus a validator in C that runs only on the
 * candidate's hits.  Hits count distinct values: the validator writes the
 * value's canonical form (e.g. digits only) for deduplication.
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
	 * Validators never read outside s[0..len).
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
