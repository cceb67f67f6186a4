/* hostlist.c: host name patterns, exact and "*.domain". */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "certs/hostlist.h"
#include "ww.h"

struct hostlist {
	char **patterns; /* canonical: "name" or "*.domain" */
	size_t len;
	size_t cap;
};

static int
hostlist_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

/* Labels of the canonical (lower-case) name s are well formed. */
static int
hostlist_labels_ok(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!hostlist_label_char((unsigned char)s[i]))
				return 0;
			continue;
		}
		if (i == start || i - start > 63 || s[start] == '-' ||
		    s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

int
hostlist_name_canon(const char *host, char out[HOSTLIST_NAME_MAX])
{
	const char *tld;
	size_t n;

	if (host == NULL)
		return WW_EINVAL;
	n = strnlen(host, HOSTLIST_NAME_MAX + 1);
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > HOSTLIST_NAME_MAX - 1)
		return WW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[n] = '\0';
	if (!hostlist_labels_ok(out, n))
		return WW_EINVAL;
	/* An all-digit last label is an IPv4 literal, not a host name. */
	tld = strrchr(out, '.');
	tld = tld ? tld + 1 : out;
	return strspn(tld, "0123456789") == strlen(tld) ? WW_EINVAL : WW_OK;
}

/* Canonicalise a pattern: a name, or "*." followed by a name. */
static int
hostlist_pattern_canon(const char *pattern, char out[HOSTLIST_NAME_MAX])
{
	char domain[HOSTLIST_NAME_MAX];
	size_t n;

	if (pattern == NULL)
		return WW_EINVAL;
	if (pattern[0] != '*')
		return hostlist_name_canon(pattern, out);
	if (pattern[1] != '.' ||
	    hostlist_name_canon(pattern + 2, domain) != WW_OK)
		return WW_EINVAL;
	n = strlen(domain);
	if (n + 3 > HOSTLIST_NAME_MAX)
		return WW_EINVAL;
	out[0] = '*';
	out[1] = '.';
	memcpy(out + 2, domain, n + 1);
	return WW_OK;
}

/* Both canonical. */
static int
hostlist_canon_match(const char *pattern, const char *host)
{
	size_t pn, hn;

	if (pattern[0] != '*')
		return strcmp(pattern, host) == 0;
	pn = strlen(pattern) - 1; /* ".domain" */
	hn = strlen(host);
	return hn > pn && memcmp(host + hn - pn, pattern + 1, pn) == 0;
}

int
hostlist_pattern_match(const char *pattern, const char *host)
{
	char p[HOSTLIST_NAME_MAX], h[HOSTLIST_NAME_MAX];

	if (hostlist_pattern_canon(pattern, p) != WW_OK ||
	    hostlist_name_canon(host, h) != WW_OK)
		return 0;
	return hostlist_canon_match(p, h);
}

int
hostlist_new(struct hostlist **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? WW_OK : WW_ENOMEM;
}

int
hostlist_add(struct hostlist *hl, const char *pattern)
{
	char p[HOSTLIST_NAME_MAX];
	char **grown;

	if (hostlist_pattern_canon(pattern, p) != WW_OK)
		return WW_EINVAL;
	if (hl->len == hl->cap) {
		size_t cap = hl->cap ? 2 * hl->cap : 8;
		grown = realloc(hl->patterns, cap * sizeof(*grown));
		if (grown == NULL)
			return WW_ENOMEM;
		hl->patterns = grown;
		hl->cap = cap;
	}
	hl->patterns[hl->len] = strdup(p);
	if (hl->patterns[hl->len] == NULL)
		return WW_ENOMEM;
	hl->len++;
	return WW_OK;
}

int
hostlist_new_from(const char *const *patterns, size_t n, struct hostlist **out)
{
	struct hostlist *hl = NULL;
	int rc;

	*out = NULL;
	rc = hostlist_new(&hl);
	for (size_t i = 0; rc == WW_OK && i < n; i++)
		rc = hostlist_add(hl, patterns[i]);
	if (rc != WW_OK) {
		hostlist_free(hl);
		return rc;
	}
	*out = hl;
	return WW_OK;
}

int
hostlist_match(const struct hostlist *hl, const char *host)
{
	char h[HOSTLIST_NAME_MAX];

	if (hl == NULL || hostlist_name_canon(host, h) != WW_OK)
		return 0;
	for (size_t i = 0; i < hl->len; i++)
		if (hostlist_canon_match(hl->patterns[i], h))
			return 1;
	return 0;
}

size_t
hostlist_count(const struct hostlist *hl)
{
	return hl ? hl->len : 0;
}

void
hostlist_free(struct hostlist *hl)
{
	if (hl == NULL)
		return;
	for (size_t i = 0; i < hl->len; i++)
		free(hl->patterns[i]);
	free(hl->patterns);
	free(hl);
}
