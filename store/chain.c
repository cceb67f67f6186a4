/* chain.c: the hash chain over stored records (see chain.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ww.h"
#include "store/chain.h"

/* Top-level field numbers of Record used by the chain (record.proto). */
enum {
	F_SCHEMA = 1,
	F_KIND = 2,
	F_SEQ = 3,
	F_OUTCOME = 14,
	F_CHECKPOINT = 17,
	F_PREV_HASH = 30,
	F_HASH = 31,
	F_OUTCOME_REQUEST_SEQ = 8,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct chain_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

/* A cursor over protobuf wire data. */
struct wire {
	const uint8_t *p;
	const uint8_t *end;
};

/* One field as found on the wire. */
struct wire_field {
	uint32_t num;
	int type;
	uint64_t v;          /* WT_VARINT value */
	const uint8_t *data; /* WT_LEN payload */
	size_t len;
	const uint8_t *start; /* where the tag began */
};

static int
wire_varint(struct wire *w, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (w->p >= w->end)
			return -1;
		uint8_t b = *w->p++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* Read the next field; -1 on malformed wire data. */
static int
wire_next(struct wire *w, struct wire_field *f)
{
	uint64_t tag, len;

	f->start = w->p;
	if (wire_varint(w, &tag) != 0 || (tag >> 3) == 0 ||
	    (tag >> 3) > 0x1fffffff)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->type = (int)(tag & 7);
	switch (f->type) {
	case WT_VARINT:
		return wire_varint(w, &f->v);
	case WT_I64:
	case WT_I32:
		len = f->type == WT_I64 ? 8 : 4;
		if ((uint64_t)(w->end - w->p) < len)
			return -1;
		w->p += len;
		return 0;
	case WT_LEN:
		if (wire_varint(w, &len) != 0 ||
		    len > (uint64_t)(w->end - w->p))
			return -1;
		f->data = w->p;
		f->len = (size_t)len;
		w->p += len;
		return 0;
	default: /* groups (3, 4) and reserved types are not in our schema */
		return -1;
	}
}

/* outcome.request_seq from an embedded Outcome message. */
static int
chain_parse_outcome(const uint8_t *buf, size_t len, uint64_t *request_seq)
{
	struct wire w = {buf, buf + len};
	struct wire_field f;

	while (w.p < w.end) {
		if (wire_next(&w, &f) != 0)
			return -1;
		if (f.num == F_OUTCOME_REQUEST_SEQ) {
			if (f.type != WT_VARINT)
				return -1;
			*request_seq = f.v;
		}
	}
	return 0;
}

static int
chain_expect(const struct wire_field *f, int type, char *err, size_t errlen)
{
	if (f->type == type)
		return WW_OK;
	return ww_fail(WW_ECORRUPT, err, errlen,
	               "field %u has wire type %d, expected %d", f->num,
	               f->type, type);
}

/* Store one top-level field into out; WW_ECORRUPT when it cannot be. */
static int
chain_field(const struct wire_field *f, struct chain_fields *out, char *err,
            size_t errlen)
{
	int rc = WW_OK;

	switch (f->num) {
	case F_SCHEMA:
	case F_KIND:
	case F_SEQ:
		if ((rc = chain_expect(f, WT_VARINT, err, errlen)) != WW_OK)
			break;
		if (f->num == F_SEQ)
			out->seq = f->v;
		else if (f->num == F_KIND)
			out->kind = (uint32_t)f->v;
		else
			out->schema = (uint32_t)f->v;
		break;
	case F_OUTCOME:
		if ((rc = chain_expect(f, WT_LEN, err, errlen)) != WW_OK)
			break;
		if (chain_parse_outcome(f->data, f->len, &out->request_seq))
			rc = ww_fail(WW_ECORRUPT, err, errlen,
			             "malformed outcome");
		break;
	case F_CHECKPOINT:
		if ((rc = chain_expect(f, WT_LEN, err, errlen)) != WW_OK)
			break;
		out->checkpoint = f->data;
		out->checkpoint_len = f->len;
		break;
	case F_PREV_HASH:
		if ((rc = chain_expect(f, WT_LEN, err, errlen)) != WW_OK)
			break;
		out->prev_hash = f->data;
		out->prev_hash_len = f->len;
		break;
	default:
		break;
	}
	return rc;
}

int
chain_parse(const uint8_t *buf, size_t len, struct chain_fields *f, char *err,
            size_t errlen)
{
	struct wire w = {buf, buf + len};
	struct wire_field wf;
	int rc;

	memset(f, 0, sizeof(*f));
	if (len < CHAIN_TRAILER_LEN)
		return ww_fail(WW_ECORRUPT, err, errlen, "%zu bytes: too short",
		               len);
	while (w.p < w.end) {
		if (wire_next(&w, &wf) != 0)
			return ww_fail(WW_ECORRUPT, err, errlen,
			               "malformed protobuf at byte %zu",
			               (size_t)(wf.start - buf));
		if (wf.num == F_HASH) {
			/* The hash must be the canonical trailer, last. */
			if (wf.type != WT_LEN || wf.len != RECORD_HASH_LEN ||
			    w.p != w.end ||
			    (size_t)(w.end - wf.start) != CHAIN_TRAILER_LEN)
				return ww_fail(
				    WW_ECORRUPT, err, errlen,
				    "hash field is not the record's trailer");
			f->hash = wf.data;
			f->hashed_len = (size_t)(wf.start - buf);
			break;
		}
		if ((rc = chain_field(&wf, f, err, errlen)) != WW_OK)
			return rc;
	}
	if (f->hash == NULL)
		return ww_fail(WW_ECORRUPT, err, errlen, "no hash trailer");
	return WW_OK;
}

int
chain_hasher_new(struct chain_hasher **out)
{
	struct chain_hasher *h;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return WW_ENOMEM;
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (h->md == NULL || h->ctx == NULL) {
		chain_hasher_free(h);
		return WW_ENOMEM;
	}
	*out = h;
	return WW_OK;
}

void
chain_hasher_free(struct chain_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

int
chain_hash(struct chain_hasher *h, const uint8_t prev[RECORD_HASH_LEN],
           const uint8_t *data, size_t len, uint8_t out[RECORD_HASH_LEN])
{
	unsigned int outlen = 0;

	if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, prev, RECORD_HASH_LEN) != 1 ||
	    EVP_DigestUpdate(h->ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(h->ctx, out, &outlen) != 1 ||
	    outlen != RECORD_HASH_LEN)
		return WW_ECRYPTO;
	return WW_OK;
}

void
chain_trailer(uint8_t *dst, const uint8_t hash[RECORD_HASH_LEN])
{
	dst[0] = 0xfa; /* (31 << 3) | 2 as a varint */
	dst[1] = 0x01;
	dst[2] = RECORD_HASH_LEN;
	memcpy(dst + 3, hash, RECORD_HASH_LEN);
}

void
chain_key(uint64_t seq, uint8_t key[8])
{
	for (int i = 7; i >= 0; i--) {
		key[i] = (uint8_t)(seq & 0xff);
		seq >>= 8;
	}
}

uint64_t
chain_key_seq(const uint8_t key[8])
{
	uint64_t seq = 0;

	for (int i = 0; i < 8; i++)
		seq = (seq << 8) | key[i];
	return seq;
}

void
chain_signed_msg(uint64_t head_seq, const uint8_t hash[RECORD_HASH_LEN],
                 uint8_t out[CHAIN_SIGNED_LEN])
{
	size_t taglen = sizeof(CHAIN_CHECKPOINT_TAG) - 1;

	memcpy(out, CHAIN_CHECKPOINT_TAG, taglen);
	chain_key(head_seq, out + taglen);
	memcpy(out + taglen + 8, hash, RECORD_HASH_LEN);
}

void
chain_hex(const uint8_t *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 15];
	}
	out[2 * len] = '\0';
}

void
chain_line_format(const struct chain_line *l, char buf[CHAIN_LINE_MAX])
{
	char hash[2 * RECORD_HASH_LEN + 1], sig[2 * CHAIN_SIG_LEN + 1];
	char pub[2 * CHAIN_PUB_LEN + 1];

	chain_hex(l->head_hash, sizeof(l->head_hash), hash);
	chain_hex(l->sig, sizeof(l->sig), sig);
	chain_hex(l->pub, sizeof(l->pub), pub);
	snprintf(buf, CHAIN_LINE_MAX,
	         "%s seq=%llu head_seq=%llu head_hash=%s sig=%s key=%s seal=%d",
	         CHAIN_CHECKPOINT_TAG, (unsigned long long)l->seq,
	         (unsigned long long)l->head_seq, hash, sig, pub,
	         l->seal ? 1 : 0);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * n hex digits into out. */
static int
unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* One key=value token of a checkpoint line; bit set in *seen. */
static int
chain_line_token(const char *k, size_t klen, const char *v, size_t vlen,
                 struct chain_line *l, unsigned *seen)
{
	uint64_t seal;

#define KEY_IS(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)
	if (KEY_IS("seq")) {
		*seen |= 1;
		return parse_u64(v, vlen, &l->seq);
	} else if (KEY_IS("head_seq")) {
		*seen |= 2;
		return parse_u64(v, vlen, &l->head_seq);
	} else if (KEY_IS("head_hash")) {
		*seen |= 4;
		return unhex(v, vlen, l->head_hash, sizeof(l->head_hash));
	} else if (KEY_IS("sig")) {
		*seen |= 8;
		return unhex(v, vlen, l->sig, sizeof(l->sig));
	} else if (KEY_IS("key")) {
		*seen |= 16;
		return unhex(v, vlen, l->pub, sizeof(l->pub));
	} else if (KEY_IS("seal")) {
		if (parse_u64(v, vlen, &seal) != 0 || seal > 1)
			return -1;
		l->seal = (int)seal;
		return 0;
	}
#undef KEY_IS
	return 0; /* unknown keys: room to grow */
}

int
chain_line_parse(const char *s, size_t len, struct chain_line *l, char *err,
                 size_t errlen)
{
	size_t taglen = sizeof(CHAIN_CHECKPOINT_TAG) - 1, i = 0;
	const char *end = s + len, *p = NULL;
	unsigned seen = 0;

	memset(l, 0, sizeof(*l));
	for (; i + taglen <= len; i++)
		if (memcmp(s + i, CHAIN_CHECKPOINT_TAG, taglen) == 0) {
			p = s + i + taglen;
			break;
		}
	if (p == NULL)
		return WW_ENOTFOUND;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *tok = p, *eq = NULL;
		/* '"' ends the line too: a JSON log wraps it in a string. */
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n' &&
		       *p != '\r' && *p != '"') {
			if (*p == '=' && eq == NULL)
				eq = p;
			p++;
		}
		if (tok == p)
			break;
		if (eq == NULL ||
		    chain_line_token(tok, (size_t)(eq - tok), eq + 1,
		                     (size_t)(p - eq - 1), l, &seen) != 0) {
			ww_fail(WW_ECORRUPT, err, errlen, "bad field \"%.*s\"",
			        (int)(p - tok > 40 ? 40 : p - tok), tok);
			return WW_EPARSE;
		}
	}
	if (seen != 31) {
		ww_fail(WW_ECORRUPT, err, errlen,
		        "missing field(s) in checkpoint line");
		return WW_EPARSE;
	}
	return WW_OK;
}
