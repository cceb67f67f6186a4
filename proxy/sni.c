/* sni.c: a bounds-checked reader of the ClientHello's server_name. */
#include "config.h"

#include <string.h>

#include "proxy/sni.h"

/* A cursor over [p, end): every read checks what is left first. */
struct sni_cur {
	const uint8_t *p, *end;
};

static int
sni_u8(struct sni_cur *c, size_t *v)
{
	if (c->end - c->p < 1)
		return -1;
	*v = c->p[0];
	c->p += 1;
	return 0;
}

static int
sni_u16(struct sni_cur *c, size_t *v)
{
	if (c->end - c->p < 2)
		return -1;
	*v = (size_t)c->p[0] << 8 | c->p[1];
	c->p += 2;
	return 0;
}

static int
sni_skip(struct sni_cur *c, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	c->p += n;
	return 0;
}

/* A sub-cursor of n bytes; c moves past them. */
static int
sni_sub(struct sni_cur *c, size_t n, struct sni_cur *sub)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	sub->p = c->p;
	sub->end = c->p + n;
	c->p += n;
	return 0;
}

/* The server_name extension body (RFC 6066 section 3). */
static enum sni_result
sni_server_name(struct sni_cur *ext, char name[SNI_NAME_MAX])
{
	struct sni_cur list, n;
	size_t len, type;

	if (sni_u16(ext, &len) != 0 || sni_sub(ext, len, &list) != 0 ||
	    ext->p != ext->end || len == 0)
		return SNI_BAD;
	while (list.p < list.end) {
		if (sni_u8(&list, &type) != 0 || sni_u16(&list, &len) != 0 ||
		    sni_sub(&list, len, &n) != 0)
			return SNI_BAD;
		if (type != 0 || name[0] != '\0')
			continue; /* the first host_name counts */
		if (len == 0 || len >= SNI_NAME_MAX)
			return SNI_BAD;
		for (size_t i = 0; i < len; i++)
			if (n.p[i] <= 0x20 || n.p[i] >= 0x7f)
				return SNI_BAD;
		memcpy(name, n.p, len);
		name[len] = '\0';
	}
	return name[0] != '\0' ? SNI_FOUND : SNI_NONE;
}

static enum sni_result
sni_extensions(struct sni_cur *c, char name[SNI_NAME_MAX])
{
	struct sni_cur exts, e;
	size_t len, type;
	enum sni_result r = SNI_NONE;
	int seen = 0;

	if (c->p == c->end)
		return SNI_NONE; /* no extensions at all */
	if (sni_u16(c, &len) != 0 || sni_sub(c, len, &exts) != 0 ||
	    c->p != c->end)
		return SNI_BAD;
	while (exts.p < exts.end) {
		if (sni_u16(&exts, &type) != 0 || sni_u16(&exts, &len) != 0 ||
		    sni_sub(&exts, len, &e) != 0)
			return SNI_BAD;
		if (type != 0)
			continue;
		if (seen++)
			return SNI_BAD; /* two server_name extensions */
		r = sni_server_name(&e, name);
		if (r == SNI_BAD)
			return r;
	}
	return r;
}

static enum sni_result
sni_hello(struct sni_cur *c, char name[SNI_NAME_MAX])
{
	size_t v, len;

	if (sni_u16(c, &v) != 0 || (v >> 8) != 3 || sni_skip(c, 32) != 0 ||
	    sni_u8(c, &len) != 0 || len > 32 || sni_skip(c, len) != 0 ||
	    sni_u16(c, &len) != 0 || len < 2 || len % 2 != 0 ||
	    sni_skip(c, len) != 0 || sni_u8(c, &len) != 0 || len < 1 ||
	    sni_skip(c, len) != 0)
		return SNI_BAD;
	return sni_extensions(c, name);
}

enum sni_result
sni_parse(const uint8_t *buf, size_t len, char name[SNI_NAME_MAX])
{
	struct sni_cur rec, hs;
	size_t rlen, hlen;
	enum sni_result r;

	name[0] = '\0';
	if (len >= 1 && buf[0] != 0x16)
		return SNI_NOT_TLS;
	if (len >= 2 && buf[1] != 3)
		return SNI_NOT_TLS;
	if (len < 5)
		return SNI_MORE;
	rlen = (size_t)buf[3] << 8 | buf[4];
	if (rlen < 4 || rlen > SNI_RECORD_MAX - 5)
		return SNI_BAD;
	if (len < 5 + rlen)
		return SNI_MORE;
	rec.p = buf + 5;
	rec.end = buf + 5 + rlen;
	if (rec.p[0] != 1) /* client_hello */
		return SNI_BAD;
	hlen = (size_t)rec.p[1] << 16 | (size_t)rec.p[2] << 8 | rec.p[3];
	rec.p += 4;
	if (sni_sub(&rec, hlen, &hs) != 0 || rec.p != rec.end)
		return SNI_BAD; /* spans records, or trailing bytes */
	r = sni_hello(&hs, name);
	if (r != SNI_FOUND)
		name[0] = '\0'; /* a name seen before a later error */
	return r;
}

const char *
sni_result_name(enum sni_result r)
{
	switch (r) {
	case SNI_FOUND:
		return "found";
	case SNI_NONE:
		return "none";
	case SNI_MORE:
		return "more";
	case SNI_NOT_TLS:
		return "not TLS";
	case SNI_BAD:
		break;
	}
	return "malformed ClientHello";
}
