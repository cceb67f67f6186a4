/*
 * fuzz_hostlist: the host name checks that every client-sent SNI and
 * CONNECT host goes through before anything is matched or minted.
 *
 * Input: "PATTERN\nHOST" (no newline: the whole input is both).  Checks,
 * besides memory safety: a canonical name is lower case, has no trailing
 * dot, fits, and is its own canonical form; a valid host matches itself
 * as a pattern and as a one-entry list; a wildcard never matches its own
 * domain.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs/hostlist.h"
#include "ww.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_canon(const char *s)
{
	char a[HOSTLIST_NAME_MAX], b[HOSTLIST_NAME_MAX];
	struct hostlist *hl = NULL;
	size_t n;

	if (hostlist_name_canon(s, a) != WW_OK)
		return;
	n = strlen(a);
	if (n == 0 || n >= HOSTLIST_NAME_MAX || a[n - 1] == '.')
		abort();
	for (size_t i = 0; i < n; i++)
		if (a[i] >= 'A' && a[i] <= 'Z')
			abort();
	if (hostlist_name_canon(a, b) != WW_OK || strcmp(a, b) != 0)
		abort();
	if (!hostlist_pattern_match(s, s))
		abort();
	if (hostlist_new(&hl) != WW_OK)
		return;
	if (hostlist_add(hl, s) == WW_OK && !hostlist_match(hl, a))
		abort();
	hostlist_free(hl);
}

static void
fuzz_check_wildcard(const char *pattern)
{
	if (pattern[0] == '*' && pattern[1] == '.' &&
	    hostlist_pattern_match(pattern, pattern + 2))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *host;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	host = strchr(buf, '\n');
	if (host != NULL)
		*host++ = '\0';
	else
		host = buf;
	fuzz_check_canon(buf);
	fuzz_check_canon(host);
	fuzz_check_wildcard(buf);
	(void)hostlist_pattern_match(buf, host);
	free(buf);
	return 0;
}
