/*
 * wxcrypt.c: WXBizMsgCrypt (see wxcrypt.h and wecom-api.md 5.4).
 *
 * EVP padding is off: WeCom pads to 32-byte blocks with pad values up to
 * 32, which OpenSSL's 16-byte PKCS#7 unpadding would reject.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ww.h"
#include "proxy/wxcrypt.h"

#define KEY_LEN 32
#define BLOCK 32
#define HEAD_LEN (WXCRYPT_RANDOM_LEN + 4)

struct wxcrypt {
	char *token;
	char *receive_id; /* NULL: not compared */
	uint8_t key[KEY_LEN];
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Decode standard base64 (length a multiple of 4, '=' only at the end).
 * Bits left over in the last character are ignored, as WeCom's keys need.
 * out must hold len / 4 * 3 bytes.  WW_OK or WW_EPARSE.
 */
static int
b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	size_t pad = 0, n = 0;
	uint32_t acc = 0;

	if (len == 0 || len % 4 != 0)
		return WW_EPARSE;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return WW_EPARSE;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[n++] = (uint8_t)(acc >> 16);
			out[n++] = (uint8_t)(acc >> 8);
			out[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (pad == 1) {
		out[n++] = (uint8_t)(acc >> 10);
		out[n++] = (uint8_t)(acc >> 2);
	} else if (pad == 2) {
		out[n++] = (uint8_t)(acc >> 4);
	}
	*outlen = n;
	return WW_OK;
}

static void
b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		             in[i + 2];
		out[n++] = b64_alphabet[v >> 18];
		out[n++] = b64_alphabet[(v >> 12) & 63];
		out[n++] = b64_alphabet[(v >> 6) & 63];
		out[n++] = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[n++] = b64_alphabet[v >> 18];
		out[n++] = b64_alphabet[(v >> 12) & 63];
		out[n++] = '=';
		out[n++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[n++] = b64_alphabet[v >> 18];
		out[n++] = b64_alphabet[(v >> 12) & 63];
		out[n++] = b64_alphabet[(v >> 6) & 63];
		out[n++] = '=';
	}
	out[n] = '\0';
}

static int
set_why(enum wxcrypt_fail *why, enum wxcrypt_fail v, int rc)
{
	if (why != NULL)
		*why = v;
	return rc;
}

int
wxcrypt_new(const char *token, const char *key43, const char *receive_id,
            struct wxcrypt **out, char *err, size_t errlen)
{
	struct wxcrypt *c;
	char kb[WXCRYPT_KEY_CHARS + 2];
	uint8_t raw[33];
	size_t n = 0;

	*out = NULL;
	if (token == NULL || token[0] == '\0')
		return ww_fail(WW_EINVAL, err, errlen, "empty Token");
	if (key43 == NULL || strlen(key43) != WXCRYPT_KEY_CHARS)
		return ww_fail(WW_EINVAL, err, errlen,
		               "EncodingAESKey must be %d characters",
		               WXCRYPT_KEY_CHARS);
	memcpy(kb, key43, WXCRYPT_KEY_CHARS);
	kb[WXCRYPT_KEY_CHARS] = '=';
	kb[WXCRYPT_KEY_CHARS + 1] = '\0';
	if (b64_decode(kb, WXCRYPT_KEY_CHARS + 1, raw, &n) != WW_OK ||
	    n != KEY_LEN) {
		OPENSSL_cleanse(kb, sizeof(kb));
		return ww_fail(WW_EINVAL, err, errlen,
		               "EncodingAESKey is not base64");
	}
	OPENSSL_cleanse(kb, sizeof(kb));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	memcpy(c->key, raw, KEY_LEN);
	c->token = strdup(token);
	if (c->token == NULL)
		goto nomem;
	if (receive_id != NULL && (c->receive_id = strdup(receive_id)) == NULL)
		goto nomem;
	OPENSSL_cleanse(raw, sizeof(raw));
	*out = c;
	return WW_OK;
nomem:
	OPENSSL_cleanse(raw, sizeof(raw));
	wxcrypt_free(c);
	return ww_fail(WW_ENOMEM, err, errlen, "out of memory");
}

void
wxcrypt_free(struct wxcrypt *c)
{
	if (c == NULL)
		return;
	if (c->token != NULL) {
		OPENSSL_cleanse(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->receive_id);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
wxcrypt_sign(const struct wxcrypt *c, const char *timestamp, const char *nonce,
             const char *encrypt, char sig[WXCRYPT_SIG_HEX + 1])
{
	const char *parts[4] = {c->token, timestamp, nonce, encrypt};
	uint8_t md[20];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	int rc = WW_ENOMEM;

	qsort(parts, 4, sizeof(parts[0]), cmp_str);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return WW_ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < 4; i++)
		if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
			goto out;
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20)
		goto out;
	for (size_t i = 0; i < 20; i++) {
		sig[2 * i] = "0123456789abcdef"[md[i] >> 4];
		sig[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	sig[WXCRYPT_SIG_HEX] = '\0';
	rc = WW_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
wxcrypt_verify(const struct wxcrypt *c, const char *timestamp,
               const char *nonce, const char *encrypt, const char *signature,
               enum wxcrypt_fail *why)
{
	char want[WXCRYPT_SIG_HEX + 1];
	int rc;

	if (strlen(encrypt) > WXCRYPT_MAX_ENCRYPT)
		return set_why(why, WXCRYPT_FAIL_TOOBIG, WW_ELIMIT);
	rc = wxcrypt_sign(c, timestamp, nonce, encrypt, want);
	if (rc != WW_OK)
		return set_why(why, WXCRYPT_FAIL_INTERNAL, rc);
	if (signature == NULL || strlen(signature) != WXCRYPT_SIG_HEX ||
	    CRYPTO_memcmp(want, signature, WXCRYPT_SIG_HEX) != 0)
		return set_why(why, WXCRYPT_FAIL_SIGNATURE, WW_ECRYPTO);
	return set_why(why, WXCRYPT_FAIL_NONE, WW_OK);
}

/* AES-256-CBC over whole blocks, in place is not used: in -> out. */
static int
aes_cbc(const uint8_t key[KEY_LEN], int enc, const uint8_t *in, size_t len,
        uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, rc = WW_ECRYPTO;

	if (ctx == NULL)
		return WW_ENOMEM;
	if (len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key, enc) !=
	        1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, out, &n1, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1 ||
	    (size_t)n1 + (size_t)n2 != len)
		goto out;
	rc = WW_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Check the decrypted buffer's layout; on success msg spans [20, 20+n). */
static enum wxcrypt_fail
check_plain(const struct wxcrypt *c, const uint8_t *p, size_t len,
            size_t *msg_len, size_t *rid_len)
{
	unsigned pad = p[len - 1];
	size_t body, n;

	if (pad < 1 || pad > BLOCK)
		return WXCRYPT_FAIL_PADDING;
	body = len - pad;
	if (body < HEAD_LEN)
		return WXCRYPT_FAIL_MSGLEN;
	n = (size_t)p[16] << 24 | (size_t)p[17] << 16 | (size_t)p[18] << 8 |
	    p[19];
	if (n > body - HEAD_LEN)
		return WXCRYPT_FAIL_MSGLEN;
	*msg_len = n;
	*rid_len = body - HEAD_LEN - n;
	if (c->receive_id != NULL &&
	    (strlen(c->receive_id) != *rid_len ||
	     memcmp(c->receive_id, p + HEAD_LEN + n, *rid_len) != 0))
		return WXCRYPT_FAIL_RECEIVER;
	return WXCRYPT_FAIL_NONE;
}

static int
copy_out(const uint8_t *p, size_t msg_len, size_t rid_len, uint8_t **msg,
         size_t *msg_lenp, char **receive_id)
{
	uint8_t *m = malloc(msg_len + 1);
	char *r = NULL;

	if (m == NULL)
		return WW_ENOMEM;
	if (receive_id != NULL) {
		r = malloc(rid_len + 1);
		if (r == NULL) {
			free(m);
			return WW_ENOMEM;
		}
		memcpy(r, p + HEAD_LEN + msg_len, rid_len);
		r[rid_len] = '\0';
		*receive_id = r;
	}
	memcpy(m, p + HEAD_LEN, msg_len);
	m[msg_len] = '\0';
	*msg = m;
	*msg_lenp = msg_len;
	return WW_OK;
}

int
wxcrypt_decrypt(const struct wxcrypt *c, const char *encrypt, size_t len,
                uint8_t **msg, size_t *msg_len, char **receive_id,
                enum wxcrypt_fail *why)
{
	uint8_t *ct = NULL, *pt = NULL;
	size_t ctlen = 0, ml = 0, rl = 0;
	enum wxcrypt_fail f = WXCRYPT_FAIL_INTERNAL;
	int rc = WW_ENOMEM;

	*msg = NULL;
	*msg_len = 0;
	if (receive_id != NULL)
		*receive_id = NULL;
	if (len > WXCRYPT_MAX_ENCRYPT)
		return set_why(why, WXCRYPT_FAIL_TOOBIG, WW_ELIMIT);
	ct = malloc(len / 4 * 3 + 3);
	pt = malloc(len / 4 * 3 + 3);
	if (ct == NULL || pt == NULL)
		goto out;
	if (b64_decode(encrypt, len, ct, &ctlen) != WW_OK) {
		f = WXCRYPT_FAIL_BASE64;
		rc = WW_EPARSE;
		goto out;
	}
	if (ctlen == 0 || ctlen % BLOCK != 0) {
		f = WXCRYPT_FAIL_LENGTH;
		rc = WW_ECRYPTO;
		goto out;
	}
	rc = aes_cbc(c->key, 0, ct, ctlen, pt);
	if (rc != WW_OK)
		goto out;
	f = check_plain(c, pt, ctlen, &ml, &rl);
	if (f != WXCRYPT_FAIL_NONE) {
		rc = WW_ECRYPTO;
		goto out;
	}
	rc = copy_out(pt, ml, rl, msg, msg_len, receive_id);
	f = rc == WW_OK ? WXCRYPT_FAIL_NONE : WXCRYPT_FAIL_INTERNAL;
out:
	if (pt != NULL)
		OPENSSL_cleanse(pt, len / 4 * 3 + 3);
	free(pt);
	free(ct);
	return set_why(why, f, rc);
}

int
wxcrypt_open(const struct wxcrypt *c, const char *timestamp, const char *nonce,
             const char *encrypt, const char *signature, uint8_t **msg,
             size_t *msg_len, enum wxcrypt_fail *why)
{
	int rc = wxcrypt_verify(c, timestamp, nonce, encrypt, signature, why);

	*msg = NULL;
	*msg_len = 0;
	if (rc != WW_OK)
		return rc;
	return wxcrypt_decrypt(c, encrypt, strlen(encrypt), msg, msg_len, NULL,
	                       why);
}

int
wxcrypt_encrypt(const struct wxcrypt *c, const uint8_t *random16,
                const uint8_t *msg, size_t len, char **out)
{
	const char *rid = c->receive_id != NULL ? c->receive_id : "";
	size_t rlen = strlen(rid), plen, pad;
	uint8_t *pt = NULL, *ct = NULL;
	char *b64 = NULL;
	int rc = WW_ENOMEM;

	*out = NULL;
	if (len > WXCRYPT_MAX_ENCRYPT / 4 * 3 - HEAD_LEN - rlen - 2 * BLOCK ||
	    len > UINT32_MAX)
		return WW_ELIMIT;
	plen = HEAD_LEN + len + rlen;
	pad = BLOCK - plen % BLOCK;
	pt = malloc(plen + pad);
	ct = malloc(plen + pad);
	b64 = malloc((plen + pad + 2) / 3 * 4 + 1);
	if (pt == NULL || ct == NULL || b64 == NULL)
		goto out;
	if (random16 != NULL)
		memcpy(pt, random16, WXCRYPT_RANDOM_LEN);
	else if (RAND_bytes(pt, WXCRYPT_RANDOM_LEN) != 1) {
		rc = WW_ECRYPTO;
		goto out;
	}
	pt[16] = (uint8_t)(len >> 24);
	pt[17] = (uint8_t)(len >> 16);
	pt[18] = (uint8_t)(len >> 8);
	pt[19] = (uint8_t)len;
	if (len > 0)
		memcpy(pt + HEAD_LEN, msg, len);
	memcpy(pt + HEAD_LEN + len, rid, rlen);
	memset(pt + plen, (int)pad, pad);
	rc = aes_cbc(c->key, 1, pt, plen + pad, ct);
	if (rc != WW_OK)
		goto out;
	b64_encode(ct, plen + pad, b64);
	*out = b64;
	b64 = NULL;
out:
	if (pt != NULL)
		OPENSSL_cleanse(pt, plen + pad);
	free(pt);
	free(ct);
	free(b64);
	return rc;
}

const char *
wxcrypt_fail_name(enum wxcrypt_fail why)
{
	switch (why) {
	case WXCRYPT_FAIL_NONE:
		return "ok";
	case WXCRYPT_FAIL_SIGNATURE:
		return "bad signature";
	case WXCRYPT_FAIL_BASE64:
		return "bad base64";
	case WXCRYPT_FAIL_LENGTH:
		return "ciphertext not a multiple of 32 bytes";
	case WXCRYPT_FAIL_PADDING:
		return "wrong padding";
	case WXCRYPT_FAIL_MSGLEN:
		return "wrong length field";
	case WXCRYPT_FAIL_RECEIVER:
		return "wrong receiver id";
	case WXCRYPT_FAIL_TOOBIG:
		return "too big";
	case WXCRYPT_FAIL_INTERNAL:
		break;
	}
	return "internal error";
}
