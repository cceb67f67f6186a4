/*
 * wxcrypt.h: WeCom's callback crypto, WXBizMsgCrypt (wecom-api.md 5.4).
 *
 *   AESKey    = base64(EncodingAESKey + "=")     32 bytes, AES-256-CBC
 *   IV        = AESKey[0..16)
 *   plaintext = random16 || be32(msg_len) || msg || receive_id
 *               || pad (p bytes of value p, 1 <= p <= 32, to 32-byte blocks)
 *   Encrypt   = base64(AES-256-CBC(plaintext)), no EVP padding
 *   signature = hex(SHA1(sorted(token, timestamp, nonce, Encrypt) joined))
 *
 * A struct wxcrypt holds one callback route's secrets (Token, key,
 * ReceiveId); it is immutable after wxcrypt_new(), so any thread may use
 * it.  The secrets never reach a log or an error message.
 *
 * Failures return WW_ECRYPTO (checks), WW_EPARSE, WW_ELIMIT or WW_ENOMEM;
 * the precise reason, for answers and records, goes to *why when why is
 * not NULL (WXCRYPT_FAIL_NONE on success).
 */
#ifndef WW_WXCRYPT_H
#define WW_WXCRYPT_H

#include <stddef.h>
#include <stdint.h>

#define WXCRYPT_KEY_CHARS 43
#define WXCRYPT_SIG_HEX 40
#define WXCRYPT_RANDOM_LEN 16
/* Largest Encrypt string accepted or produced (base64 characters). */
#define WXCRYPT_MAX_ENCRYPT (8u << 20)

enum wxcrypt_fail {
	WXCRYPT_FAIL_NONE = 0,
	WXCRYPT_FAIL_SIGNATURE, /* msg_signature does not match */
	WXCRYPT_FAIL_BASE64,    /* Encrypt is not clean base64 */
	WXCRYPT_FAIL_LENGTH,    /* ciphertext empty or not 32-byte blocks */
	WXCRYPT_FAIL_PADDING,   /* last byte not in 1..32 */
	WXCRYPT_FAIL_MSGLEN,    /* length field beyond the plaintext */
	WXCRYPT_FAIL_RECEIVER,  /* ReceiveId differs from the route's */
	WXCRYPT_FAIL_TOOBIG,    /* over WXCRYPT_MAX_ENCRYPT */
	WXCRYPT_FAIL_INTERNAL,  /* out of memory, OpenSSL failure */
};

struct wxcrypt; /* opaque */

/*
 * A new context.  token: the route's Token (non-empty); key43: the
 * 43-character EncodingAESKey ([A-Za-z0-9], trailing bits of the last
 * character ignored as WeCom's own code does); receive_id: the expected
 * ReceiveId (corp id or suite id; "" for callbacks that carry an empty
 * one), or NULL to skip the comparison.  All are copied.  WW_EINVAL with a
 * reason (never the secret) in err, or WW_ENOMEM.
 */
int wxcrypt_new(const char *token, const char *key43, const char *receive_id,
                struct wxcrypt **out, char *err, size_t errlen);
void wxcrypt_free(struct wxcrypt *c); /* NULL is a no-op; wipes secrets */

/* Lowercase hex signature of (token, timestamp, nonce, encrypt) into sig
 * (WXCRYPT_SIG_HEX + 1 bytes, NUL-terminated).  WW_OK or WW_ENOMEM. */
int wxcrypt_sign(const struct wxcrypt *c, const char *timestamp,
                 const char *nonce, const char *encrypt,
                 char sig[WXCRYPT_SIG_HEX + 1]);

/* Check signature (constant time).  WW_OK or WW_ECRYPTO (SIGNATURE). */
int wxcrypt_verify(const struct wxcrypt *c, const char *timestamp,
                   const char *nonce, const char *encrypt,
                   const char *signature, enum wxcrypt_fail *why);

/*
 * Decrypt encrypt (len characters, no NUL needed) and check padding,
 * length field and ReceiveId.  On WW_OK *msg is the malloc'ed message,
 * NUL-terminated for convenience (*msg_len excludes the NUL), and
 * *receive_id (may be NULL) the malloc'ed ReceiveId found.
 */
int wxcrypt_decrypt(const struct wxcrypt *c, const char *encrypt, size_t len,
                    uint8_t **msg, size_t *msg_len, char **receive_id,
                    enum wxcrypt_fail *why);

/* Verify, then decrypt: what a callback receiver does first. */
int wxcrypt_open(const struct wxcrypt *c, const char *timestamp,
                 const char *nonce, const char *encrypt, const char *signature,
                 uint8_t **msg, size_t *msg_len, enum wxcrypt_fail *why);

/*
 * Encrypt msg as WeCom does, with the route's ReceiveId ("" when it was
 * NULL).  random16: the 16 random bytes, or NULL for fresh ones from
 * RAND_bytes.  *out is the malloc'ed NUL-terminated base64 string.
 * WW_OK, WW_ELIMIT (too big), WW_ENOMEM or WW_ECRYPTO (OpenSSL).
 */
int wxcrypt_encrypt(const struct wxcrypt *c, const uint8_t *random16,
                    const uint8_t *msg, size_t len, char **out);

/* "bad signature", "bad base64", ... ("ok" for NONE). */
const char *wxcrypt_fail_name(enum wxcrypt_fail why);

#endif
