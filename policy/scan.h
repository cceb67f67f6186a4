/*
 * scan.h: the policy's one vectorscan database (internal to policy/).
 *
 * A thin layer over vectorscan's block mode so that the rest of policy/
 * never touches hs_* types: compile many expressions into one database,
 * keep one scratch per thread, scan a buffer once and get every match
 * through a callback.
 */
#ifndef WW_SCAN_H
#define WW_SCAN_H

#include <stddef.h>

struct scan_db;      /* opaque, immutable after compile; shared by threads */
struct scan_scratch; /* opaque, one per thread */

/* Flags, mapped onto HS_FLAG_* (so callers need not include hs.h). */
#define SCAN_SOM 1u      /* report the leftmost start of each match */
#define SCAN_UTF8 2u     /* pattern and text are UTF-8 */
#define SCAN_CASELESS 4u /* ASCII case-insensitive */

/*
 * Compile exprs[0..n) with flags[i] (SCAN_*), hs_flags[i] (extra raw
 * HS_FLAG_* bits, e.g. a detector's; may be NULL) and ids[i] into a new
 * *out (n >= 1).  On failure returns WW_EPARSE, sets *bad to the index of the
 * failing expression (-1 when vectorscan does not say) and writes its
 * reason to err.  WW_ENOMEM when out of memory.
 */
int scan_compile(const char *const *exprs, const unsigned *flags,
                 const unsigned *hs_flags, const unsigned *ids, size_t n,
                 struct scan_db **out, long *bad, char *err, size_t errlen);
void scan_free(struct scan_db *db); /* NULL is a no-op */
size_t scan_size(const struct scan_db *db);

/*
 * Check one expression on its own: WW_OK, or WW_EPARSE with the reason in
 * err.
 */
int scan_check(const char *expr, unsigned flags, unsigned hs_flags, char *err,
               size_t errlen);

/*
 * Make *s (a new scratch when *s is NULL) large enough for db.  A scratch
 * may serve several databases once fitted to each.  WW_OK, WW_ENOMEM.
 */
int scan_scratch_fit(const struct scan_db *db, struct scan_scratch **s);
void scan_scratch_free(struct scan_scratch *s);

/* Called for every match; non-zero stops the scan. */
typedef int (*scan_match_cb)(unsigned id, unsigned long long from,
                             unsigned long long to, void *arg);

/*
 * Scan buf[0..len) once.  WW_OK; WW_ELIMIT when cb stopped the scan;
 * WW_EINVAL when s does not fit db.
 */
int scan_run(const struct scan_db *db, struct scan_scratch *s, const char *buf,
             size_t len, scan_match_cb cb, void *arg);

/*
 * A vectorscan expression matching the literal bytes s[0..len) exactly
 * (every byte that is not [a-z0-9] escaped as \xHH).  New malloc'ed
 * string, or NULL when out of memory.
 */
char *scan_escape(const char *s, size_t len);

#endif
