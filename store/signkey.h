/*
 * signkey.h: the journal's Ed25519 checkpoint signing key.
 *
 * The private key lives in a PEM (PKCS#8) file created with mode 0600; a key
 * file that group or others may read or write is refused.  The public key
 * is also written next to it (signing.pub, "ed25519 HEX") so auditors who
 * cannot read the private key can verify checkpoints.
 */
#ifndef WW_SIGNKEY_H
#define WW_SIGNKEY_H

#include <stddef.h>
#include <stdint.h>

#define SIGNKEY_PUB_LEN 32
#define SIGNKEY_SIG_LEN 64

struct signkey; /* opaque: a loaded private key */

/*
 * Load the key in path, or create it when absent.  WW_EPERM when the file
 * is group/other accessible, WW_ECORRUPT when it is not an Ed25519 key,
 * WW_EIO otherwise; the reason goes to err.
 */
int signkey_load_or_create(const char *path, struct signkey **out, char *err,
                           size_t errlen);
void signkey_free(struct signkey *k);

/* The raw public key (borrowed, lives as long as k). */
const uint8_t *signkey_public(const struct signkey *k);

/* sig = Ed25519(msg).  WW_OK or WW_ECRYPTO. */
int signkey_sign(const struct signkey *k, const uint8_t *msg, size_t len,
                 uint8_t sig[SIGNKEY_SIG_LEN]);

/* WW_OK when sig is pub's signature of msg, WW_ECRYPTO otherwise. */
int signkey_verify(const uint8_t pub[SIGNKEY_PUB_LEN], const uint8_t *msg,
                   size_t len, const uint8_t *sig, size_t siglen);

/* Write pub to path as "ed25519 HEX\n" (mode 0644, replaced atomically). */
int signkey_write_public(const uint8_t pub[SIGNKEY_PUB_LEN], const char *path);

/* Read a file written by signkey_write_public.  WW_ENOTFOUND if absent. */
int signkey_read_public(const char *path, uint8_t pub[SIGNKEY_PUB_LEN],
                        char *err, size_t errlen);

#endif
