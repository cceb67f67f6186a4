/*
 * scan.c: vectorscan block-mode database, scratch and scan.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "ww.h"
#include "policy/scan.h"

struct scan_db {
	hs_database_t *db;
	size_t size;
};

struct scan_scratch {
	hs_scratch_t *hs;
};

static unsigned
scan_hs_flags(unsigned flags, unsigned extra)
{
	unsigned f = extra;

	if (flags & SCAN_SOM)
		f |= HS_FLAG_SOM_LEFTMOST;
	if (flags & SCAN_UTF8)
		f |= HS_FLAG_UTF8;
	if (flags & SCAN_CASELESS)
		f |= HS_FLAG_CASELESS;
	return f;
}

int
scan_compile(const char *const *exprs, const unsigned *flags,
             const unsigned *hs_flags, const unsigned *ids, size_t n,
             struct scan_db **out, long *bad, char *err, size_t errlen)
{
	hs_compile_error_t *cerr = NULL;
	unsigned *f = NULL;
	struct scan_db *db = NULL;
	int rc = WW_ENOMEM;

	*out = NULL;
	*bad = -1;
	if ((f = malloc((n ? n : 1) * sizeof(*f))) == NULL ||
	    (db = calloc(1, sizeof(*db))) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		f[i] = scan_hs_flags(flags[i], hs_flags ? hs_flags[i] : 0);
	if (hs_compile_multi(exprs, f, ids, (unsigned)n, HS_MODE_BLOCK, NULL,
	                     &db->db, &cerr) != HS_SUCCESS) {
		snprintf(err, errlen, "%s",
		         cerr && cerr->message ? cerr->message
		                               : "compile failed");
		*bad = cerr ? cerr->expression : -1;
		rc = cerr ? WW_EPARSE : WW_ENOMEM;
		goto out;
	}
	if (hs_database_size(db->db, &db->size) != HS_SUCCESS)
		db->size = 0;
	*out = db;
	db = NULL;
	rc = WW_OK;
out:
	if (cerr != NULL)
		hs_free_compile_error(cerr);
	scan_free(db);
	free(f);
	return rc;
}

int
scan_check(const char *expr, unsigned flags, unsigned hs_flags, char *err,
           size_t errlen)
{
	hs_compile_error_t *cerr = NULL;
	hs_database_t *db = NULL;
	int rc = WW_OK;

	if (hs_compile(expr, scan_hs_flags(flags, hs_flags), HS_MODE_BLOCK,
	               NULL, &db, &cerr) != HS_SUCCESS) {
		snprintf(err, errlen, "%s",
		         cerr && cerr->message ? cerr->message
		                               : "compile failed");
		rc = cerr ? WW_EPARSE : WW_ENOMEM;
	}
	if (cerr != NULL)
		hs_free_compile_error(cerr);
	hs_free_database(db);
	return rc;
}

void
scan_free(struct scan_db *db)
{
	if (db == NULL)
		return;
	hs_free_database(db->db);
	free(db);
}

size_t
scan_size(const struct scan_db *db)
{
	return db != NULL ? db->size : 0;
}

int
scan_scratch_fit(const struct scan_db *db, struct scan_scratch **s)
{
	int fresh = *s == NULL;

	if (fresh && (*s = calloc(1, sizeof(**s))) == NULL)
		return WW_ENOMEM;
	if (db == NULL)
		return WW_OK;
	if (hs_alloc_scratch(db->db, &(*s)->hs) != HS_SUCCESS) {
		if (fresh) {
			free(*s);
			*s = NULL;
		}
		return WW_ENOMEM;
	}
	return WW_OK;
}

void
scan_scratch_free(struct scan_scratch *s)
{
	if (s == NULL)
		return;
	hs_free_scratch(s->hs);
	free(s);
}

struct scan_call {
	scan_match_cb cb;
	void *arg;
};

static int
scan_on_match(unsigned id, unsigned long long from, unsigned long long to,
              unsigned flags, void *ctx)
{
	struct scan_call *c = ctx;

	(void)flags;
	return c->cb(id, from, to, c->arg);
}

int
scan_run(const struct scan_db *db, struct scan_scratch *s, const char *buf,
         size_t len, scan_match_cb cb, void *arg)
{
	struct scan_call c = {cb, arg};
	hs_error_t e;

	if (db == NULL || len == 0)
		return WW_OK;
	if (s == NULL || s->hs == NULL)
		return WW_EINVAL;
	e = hs_scan(db->db, buf, (unsigned)len, 0, s->hs, scan_on_match, &c);
	if (e == HS_SUCCESS)
		return WW_OK;
	return e == HS_SCAN_TERMINATED ? WW_ELIMIT : WW_EINVAL;
}

char *
scan_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = malloc(len * 4 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 15];
	}
	*p = '\0';
	return out;
}
