/*
 * secret.h: keyed digests of secrets (DESIGN.md, guarantee 5).
 *
 * access_token, corpsecret, webhook keys and the like are never stored or
 * logged in clear: they are replaced by HMAC-SHA256(journal key, value),
 * written as "hmac:" + the first 16 bytes in hex, so auditors can correlate
 * them without being able to replay them.
 */
#ifndef WW_SECRET_H
#define WW_SECRET_H

#include <stddef.h>

#define SECRET_KEY_LEN 32
#define SECRET_DIGEST_LEN 38 /* "hmac:" + 32 hex + NUL */

struct secret; /* opaque: a digest key */

/* A key from raw bytes (copied).  WW_OK, WW_EINVAL, WW_ENOMEM. */
int secret_new(const unsigned char *key, size_t keylen, struct secret **out);
void secret_free(struct secret *s);

/*
 * Load the key from path, or create it (random, mode 0600) when absent.
 * A key file readable or writable by group or others is refused (WW_EPERM)
 * with the reason in err.  The file holds exactly SECRET_KEY_LEN raw bytes
 * (another size is WW_ECORRUPT); symlinks are not followed.
 */
int secret_load_or_create(const char *path, struct secret **out, char *err,
                          size_t errlen);

/*
 * Write the digest of val[0..len) into out (SECRET_DIGEST_LEN bytes).
 * Thread-safe on a shared s.  Should OpenSSL fail (out of memory), out is
 * "hmac:" followed by 32 '-': never anything derived from val alone.
 */
void secret_digest(const struct secret *s, const void *val, size_t len,
                   char out[SECRET_DIGEST_LEN]);

#endif
