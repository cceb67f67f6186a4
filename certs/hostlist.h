/*
 * hostlist.h: host name patterns ("host classes") and the matcher.
 *
 * A pattern is either an exact host name ("qyapi.weixin.qq.com") or
 * "*.domain" ("*.work.weixin.qq.com"), which matches every name below
 * domain at any depth ("a.work.weixin.qq.com", "a.b.work.weixin.qq.com")
 * but not domain itself: list both when both are meant.  Matching is
 * case-insensitive and ignores one trailing dot.
 *
 * Host names are checked before anything is matched or minted: LDH labels
 * (letters, digits, '-', and '_' which real SNI names carry) of 1..63
 * bytes, at most 253 bytes in all, no empty label, no label starting or
 * ending with '-'.  IP literals are not host names here (SNI never carries
 * one, RFC 6066 section 3).
 *
 * A hostlist is immutable once built (hostlist_add only while it is being
 * set up), so one may be shared read-only by any number of threads.
 */
#ifndef WW_HOSTLIST_H
#define WW_HOSTLIST_H

#include <stddef.h>

/* Longest valid host name, plus its NUL. */
#define HOSTLIST_NAME_MAX 254

struct hostlist;

/*
 * Check host and write its canonical form (lower case, no trailing dot)
 * to out (size >= HOSTLIST_NAME_MAX).  Returns WW_OK, or WW_EINVAL when
 * host is not a valid host name.
 */
int hostlist_name_canon(const char *host, char out[HOSTLIST_NAME_MAX]);

/*
 * Does the single pattern match host?  Both are canonicalised first;
 * returns 1 or 0 (0 also when either is invalid).
 */
int hostlist_pattern_match(const char *pattern, const char *host);

/* An empty list (matches nothing).  WW_OK or WW_ENOMEM. */
int hostlist_new(struct hostlist **out);

/*
 * Append pattern (copied).  WW_EINVAL for an invalid pattern ("*" alone,
 * "*.", "a.*.b", a bad name), WW_ENOMEM.  Not thread-safe: only while the
 * list is being built.
 */
int hostlist_add(struct hostlist *hl, const char *pattern);

/* Build a list from n patterns in one go; WW_EINVAL names nothing more. */
int hostlist_new_from(const char *const *patterns, size_t n,
                      struct hostlist **out);

/* 1 when host is valid and matches a pattern of hl, else 0. */
int hostlist_match(const struct hostlist *hl, const char *host);

/* Number of patterns. */
size_t hostlist_count(const struct hostlist *hl);

/* Free hl; NULL is a no-op. */
void hostlist_free(struct hostlist *hl);

#endif
