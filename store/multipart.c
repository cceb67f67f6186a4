/* multipart.c: strict multipart/form-data parsing (RFC 7578, RFC 2046). */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ww.h"
#include "store/multipart.h"

struct multipart {
	size_t n;
	struct multipart_part parts[MULTIPART_MAX_PARTS];
	char *strings[MULTIPART_MAX_PARTS * 3]; /* what the parts point at */
	size_t nstrings;
};

/* RFC 2046 bcharsnospace plus space (not last). */
static int
is_bchar(int c)
{
	return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static int
is_tspecial_or_ctl(int c)
{
	return c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/*
 * Read one parameter value at *p (token or quoted-string) into a new
 * string; advances *p.  NULL on malformed input (*oom set on ENOMEM).
 */
static char *
param_value(const char **p, int *oom)
{
	const char *s = *p;
	size_t cap = strlen(s) + 1, n = 0;
	char *out = malloc(cap);

	if (out == NULL) {
		*oom = 1;
		return NULL;
	}
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			if (*s == '\0')
				goto bad;
			if (*s == '\\' && s[1] != '\0')
				s++;
			out[n++] = *s;
		}
		s++;
	} else {
		while (*s != '\0' && !is_tspecial_or_ctl((unsigned char)*s))
			out[n++] = *s++;
		if (n == 0)
			goto bad;
	}
	out[n] = '\0';
	*p = s;
	return out;
bad:
	free(out);
	return NULL;
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Walk "; name=value" parameters after the media type at p, calling fn
 * for each.  Returns WW_OK, WW_EPARSE, WW_ENOMEM or fn's error.
 */
typedef int (*param_fn)(void *arg, const char *name, size_t nlen, char *value);

static int
params_each(const char *p, param_fn fn, void *arg)
{
	int oom = 0, rc;

	for (;;) {
		const char *name;
		size_t nlen;
		char *value;

		p = skip_ws(p);
		if (*p == '\0')
			return WW_OK;
		if (*p != ';')
			return WW_EPARSE;
		p = skip_ws(p + 1);
		if (*p == '\0')
			return WW_OK; /* a trailing ';' is tolerated */
		name = p;
		while (*p != '\0' && !is_tspecial_or_ctl((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		p = skip_ws(p);
		if (nlen == 0 || *p != '=')
			return WW_EPARSE;
		p = skip_ws(p + 1);
		value = param_value(&p, &oom);
		if (value == NULL)
			return oom ? WW_ENOMEM : WW_EPARSE;
		rc = fn(arg, name, nlen, value); /* takes value */
		if (rc != WW_OK)
			return rc;
	}
}

struct boundary_ctx {
	char *buf;
	size_t size;
	int found;
};

static int
boundary_param(void *arg, const char *name, size_t nlen, char *value)
{
	struct boundary_ctx *c = arg;
	size_t vlen = strlen(value);
	int rc = WW_OK;

	if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
		if (c->found++ || vlen == 0 || vlen > MULTIPART_MAX_BOUNDARY ||
		    vlen >= c->size || value[vlen - 1] == ' ')
			rc = WW_EPARSE;
		for (size_t i = 0; rc == WW_OK && i < vlen; i++)
			if (!is_bchar((unsigned char)value[i]))
				rc = WW_EPARSE;
		if (rc == WW_OK)
			memcpy(c->buf, value, vlen + 1);
	}
	free(value);
	return rc;
}

int
multipart_boundary(const char *content_type, char *buf, size_t size)
{
	static const char type[] = "multipart/form-data";
	struct boundary_ctx c = {buf, size, 0};
	const char *p;
	int rc;

	if (content_type == NULL)
		return WW_EPARSE;
	p = skip_ws(content_type);
	if (strncasecmp(p, type, sizeof(type) - 1) != 0)
		return WW_EPARSE;
	rc = params_each(p + sizeof(type) - 1, boundary_param, &c);
	if (rc == WW_OK && !c.found)
		rc = WW_EPARSE;
	return rc;
}

/* ---- one part's headers ------------------------------------------------- */

struct part_hdr {
	char *name, *filename, *filename_star, *content_type;
	int dispositions;
};

static void
part_hdr_clear(struct part_hdr *h)
{
	free(h->name);
	free(h->filename);
	free(h->filename_star);
	free(h->content_type);
	memset(h, 0, sizeof(*h));
}

static int
disp_param(void *arg, const char *name, size_t nlen, char *value)
{
	struct part_hdr *h = arg;
	char **slot = NULL;

	if (nlen == 4 && strncasecmp(name, "name", 4) == 0)
		slot = &h->name;
	else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0)
		slot = &h->filename;
	else if (nlen == 9 && strncasecmp(name, "filename*", 9) == 0)
		slot = &h->filename_star;
	if (slot == NULL) {
		free(value); /* filelength and others: not needed */
		return WW_OK;
	}
	if (*slot != NULL) {
		free(value);
		return WW_EPARSE; /* duplicate: ambiguous */
	}
	*slot = value;
	return WW_OK;
}

static int
hexdig(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 5987 ext-value "UTF-8''%E4%B8%AD.pdf" decoded in place. */
static int
ext_value_decode(char *v)
{
	char *q = strchr(v, '\'');
	char *r, *w;

	if (q == NULL || strncasecmp(v, "utf-8'", 6) != 0)
		return WW_EPARSE;
	q = strchr(q + 1, '\'');
	if (q == NULL)
		return WW_EPARSE;
	for (r = q + 1, w = v; *r != '\0'; r++) {
		if (*r == '%') {
			if (hexdig((unsigned char)r[1]) < 0 ||
			    hexdig((unsigned char)r[2]) < 0)
				return WW_EPARSE;
			*w++ = (char)(hexdig((unsigned char)r[1]) * 16 +
			              hexdig((unsigned char)r[2]));
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return WW_OK;
}

static int
header_line(struct part_hdr *h, const char *line, char *err, size_t errlen)
{
	const char *colon = strchr(line, ':'), *v;
	size_t nlen;
	int rc;

	if (line[0] == ' ' || line[0] == '\t' || colon == NULL ||
	    colon == line) {
		return ww_fail(WW_EPARSE, err, errlen,
		               "malformed part header line");
	}
	nlen = (size_t)(colon - line);
	v = skip_ws(colon + 1);
	if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
		if (h->dispositions++ > 0) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "two Content-Disposition headers");
		}
		if (strncasecmp(v, "form-data", 9) != 0) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "Content-Disposition is not "
			               "form-data");
		}
		rc = params_each(v + 9, disp_param, h);
		if (rc == WW_EPARSE)
			(void)ww_fail(0, err, errlen,
			              "malformed Content-Disposition");
		return rc;
	}
	if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		if (h->content_type != NULL) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "two Content-Type headers");
		}
		h->content_type = strdup(v);
		return h->content_type == NULL ? WW_ENOMEM : WW_OK;
	}
	return WW_OK; /* other headers (Content-Length...) are ignored */
}

/*
 * Parse the header block hdr[0..len) (CRLF-separated lines, without the
 * blank line).  Copies are made so lines can be NUL-terminated.
 */
static int
part_headers(struct part_hdr *h, const uint8_t *hdr, size_t len, char *err,
             size_t errlen)
{
	char *block, *line, *end;
	int rc = WW_OK;

	if (memchr(hdr, '\0', len) != NULL) {
		return ww_fail(WW_EPARSE, err, errlen,
		               "NUL byte in part headers");
	}
	block = malloc(len + 1);
	if (block == NULL)
		return WW_ENOMEM;
	memcpy(block, hdr, len);
	block[len] = '\0';
	for (line = block; rc == WW_OK && line != NULL && *line != '\0';
	     line = end) {
		end = strstr(line, "\r\n");
		if (end != NULL) {
			*end = '\0';
			end += 2;
		}
		if (strpbrk(line, "\r\n") != NULL) {
			(void)ww_fail(0, err, errlen,
			              "bare CR or LF in part headers");
			rc = WW_EPARSE;
		} else {
			rc = header_line(h, line, err, errlen);
		}
	}
	free(block);
	if (rc == WW_OK && h->name == NULL) {
		(void)ww_fail(0, err, errlen,
		              "part without Content-Disposition name");
		rc = WW_EPARSE;
	}
	if (rc == WW_OK && h->filename_star != NULL) {
		rc = ext_value_decode(h->filename_star);
		if (rc != WW_OK)
			(void)ww_fail(0, err, errlen, "malformed filename*");
	}
	return rc;
}

/* ---- the body ----------------------------------------------------------- */

static void
mp_keep(struct multipart *m, char *s)
{
	if (s != NULL)
		m->strings[m->nstrings++] = s;
}

/* Move the parsed headers into part i; h is cleared. */
static void
part_fill(struct multipart *m, struct part_hdr *h, const uint8_t *data,
          size_t len)
{
	struct multipart_part *p = &m->parts[m->n++];

	/* filename* (RFC 5987) is the precise one when both are present. */
	if (h->filename_star != NULL) {
		free(h->filename);
		h->filename = h->filename_star;
		h->filename_star = NULL;
	}
	p->name = h->name;
	p->filename = h->filename;
	p->content_type = h->content_type;
	p->data = data;
	p->len = len;
	mp_keep(m, h->name);
	mp_keep(m, h->filename);
	mp_keep(m, h->content_type);
	memset(h, 0, sizeof(*h));
}

/*
 * After a delimiter at *pos: "--" closes the body, else optional
 * whitespace and CRLF start a part.  Returns 1 closed, 0 part, -1 error.
 */
static int
after_delimiter(const uint8_t *b, size_t len, size_t *pos)
{
	size_t i = *pos;

	if (i + 2 <= len && b[i] == '-' && b[i + 1] == '-') {
		*pos = i + 2;
		return 1;
	}
	while (i < len && (b[i] == ' ' || b[i] == '\t'))
		i++;
	if (i + 2 > len || b[i] != '\r' || b[i + 1] != '\n')
		return -1;
	*pos = i + 2;
	return 0;
}

/* Offset of the first delimiter at or after from, or -1. */
static long
find_delim(const uint8_t *b, size_t len, size_t from, const char *delim,
           size_t dlen)
{
	const uint8_t *hit;

	if (from > len)
		return -1;
	hit = memmem(b + from, len - from, delim, dlen);
	return hit == NULL ? -1 : (long)(hit - b);
}

static int
parse_part(struct multipart *m, const uint8_t *b, size_t len, size_t *pos,
           const char *delim, size_t dlen, char *err, size_t errlen)
{
	struct part_hdr h = {0};
	const uint8_t *hend;
	size_t hlen, dstart;
	long next;
	int rc;

	if (m->n >= MULTIPART_MAX_PARTS) {
		return ww_fail(WW_ELIMIT, err, errlen, "more than %d parts",
		               MULTIPART_MAX_PARTS);
	}
	/* A part may have no headers at all: the blank line comes first. */
	if (len - *pos >= 2 && b[*pos] == '\r' && b[*pos + 1] == '\n') {
		hlen = 0;
		dstart = *pos + 2;
	} else {
		/* Search only as far as the header limit allows. */
		size_t window = len - *pos;

		if (window > MULTIPART_MAX_HEADER + 4)
			window = MULTIPART_MAX_HEADER + 4;
		hend = memmem(b + *pos, window, "\r\n\r\n", 4);
		if (hend == NULL && window < len - *pos) {
			return ww_fail(WW_ELIMIT, err, errlen,
			               "part headers exceed %d bytes",
			               MULTIPART_MAX_HEADER);
		}
		if (hend == NULL) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "unterminated part headers");
		}
		hlen = (size_t)(hend - (b + *pos));
		dstart = *pos + hlen + 4;
	}
	rc = part_headers(&h, b + *pos, hlen, err, errlen);
	if (rc == WW_OK) {
		/* The delimiter is CRLF "--" boundary; CRLF belongs to it. */
		next = find_delim(b, len, dstart, delim, dlen);
		if (next < 0) {
			(void)ww_fail(0, err, errlen,
			              "part %zu: no closing boundary", m->n);
			rc = WW_EPARSE;
		} else {
			part_fill(m, &h, b + dstart, (size_t)next - dstart);
			*pos = (size_t)next + dlen;
		}
	}
	part_hdr_clear(&h);
	return rc;
}

static int
parse_body(struct multipart *m, const uint8_t *b, size_t len, const char *delim,
           size_t dlen, char *err, size_t errlen)
{
	size_t pos;
	long first;
	int rc = WW_OK, state;

	/* The first delimiter may start the body (no leading CRLF). */
	if (len >= dlen - 2 && memcmp(b, delim + 2, dlen - 2) == 0) {
		pos = dlen - 2;
	} else {
		first = find_delim(b, len, 0, delim, dlen);
		if (first < 0) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "boundary not found in body");
		}
		pos = (size_t)first + dlen; /* a preamble is ignored */
	}
	while (rc == WW_OK) {
		state = after_delimiter(b, len, &pos);
		if (state < 0) {
			return ww_fail(WW_EPARSE, err, errlen,
			               "garbage after boundary");
		}
		if (state == 1)
			break; /* the epilogue is ignored */
		rc = parse_part(m, b, len, &pos, delim, dlen, err, errlen);
	}
	if (rc == WW_OK && m->n == 0) {
		(void)ww_fail(0, err, errlen, "no parts");
		rc = WW_EPARSE;
	}
	return rc;
}

int
multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                struct multipart **out, char *err, size_t errlen)
{
	char boundary[MULTIPART_MAX_BOUNDARY + 1];
	char delim[MULTIPART_MAX_BOUNDARY + 5];
	struct multipart *m;
	int rc;

	*out = NULL;
	rc = multipart_boundary(content_type, boundary, sizeof(boundary));
	if (rc != WW_OK) {
		(void)ww_fail(0, err, errlen,
		              "Content-Type is not multipart/form-data "
		              "with a valid boundary");
		return rc;
	}
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return WW_ENOMEM;
	rc = parse_body(m, body, len, delim, strlen(delim), err, errlen);
	if (rc != WW_OK) {
		multipart_free(m);
		return rc;
	}
	*out = m;
	return WW_OK;
}

size_t
multipart_count(const struct multipart *m)
{
	return m->n;
}

const struct multipart_part *
multipart_get(const struct multipart *m, size_t i)
{
	return i < m->n ? &m->parts[i] : NULL;
}

void
multipart_free(struct multipart *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nstrings; i++)
		free(m->strings[i]);
	free(m);
}
