/* signkey.c: the Ed25519 checkpoint signing key (see signkey.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ww.h"
#include "store/signkey.h"

struct signkey {
	EVP_PKEY *pkey;
	uint8_t pub[SIGNKEY_PUB_LEN];
};

/* Write a new key to path, failing if it appeared meanwhile. */
static int
signkey_create(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	FILE *fp = NULL;
	int fd, rc = WW_EIO;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL)
		return ww_fail(WW_ECRYPTO, err, errlen,
		               "cannot generate an Ed25519 key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0) {
		rc = ww_fail(errno == EEXIST ? WW_EEXIST : WW_EIO, err, errlen,
		             "%s: %s", path, strerror(errno));
		goto out;
	}
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		close(fd);
		goto fail;
	}
	if (PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(fp) != 0 || fsync(fileno(fp)) != 0)
		goto fail;
	*out = pkey;
	pkey = NULL;
	rc = WW_OK;
	goto out;
fail:
	rc = ww_fail(WW_EIO, err, errlen, "%s: cannot write the key", path);
	unlink(path);
out:
	if (fp != NULL && fclose(fp) != 0 && rc == WW_OK)
		rc = ww_fail(WW_EIO, err, errlen, "%s: %s", path,
		             strerror(errno));
	EVP_PKEY_free(pkey);
	return rc;
}

/* Read an existing key, refusing one that others can access. */
static int
signkey_read(const char *path, int fd, EVP_PKEY **out, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp;
	EVP_PKEY *pkey;

	if (fstat(fd, &st) != 0) {
		close(fd);
		return ww_fail(WW_EIO, err, errlen, "%s: %s", path,
		               strerror(errno));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return ww_fail(
		    WW_EPERM, err, errlen,
		    "%s: mode %03o lets group or others access the signing "
		    "key; chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		return ww_fail(WW_EIO, err, errlen, "%s: %s", path,
		               strerror(errno));
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL || !EVP_PKEY_is_a(pkey, "ED25519")) {
		EVP_PKEY_free(pkey);
		return ww_fail(WW_ECORRUPT, err, errlen,
		               "%s: not an Ed25519 private key (PEM)", path);
	}
	*out = pkey;
	return WW_OK;
}

int
signkey_load_or_create(const char *path, struct signkey **out, char *err,
                       size_t errlen)
{
	struct signkey *k;
	EVP_PKEY *pkey = NULL;
	size_t publen = SIGNKEY_PUB_LEN;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		rc = signkey_read(path, fd, &pkey, err, errlen);
	else if (errno == ENOENT)
		rc = signkey_create(path, &pkey, err, errlen);
	else
		rc = ww_fail(errno == EACCES ? WW_EPERM : WW_EIO, err, errlen,
		             "%s: %s", path, strerror(errno));
	if (rc != WW_OK)
		return rc;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return WW_ENOMEM;
	}
	k->pkey = pkey;
	if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 ||
	    publen != SIGNKEY_PUB_LEN) {
		signkey_free(k);
		return ww_fail(WW_ECRYPTO, err, errlen,
		               "%s: cannot derive the public key", path);
	}
	*out = k;
	return WW_OK;
}

void
signkey_free(struct signkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const uint8_t *
signkey_public(const struct signkey *k)
{
	return k->pub;
}

int
signkey_sign(const struct signkey *k, const uint8_t *msg, size_t len,
             uint8_t sig[SIGNKEY_SIG_LEN])
{
	EVP_MD_CTX *ctx;
	size_t siglen = SIGNKEY_SIG_LEN;
	int rc = WW_ECRYPTO;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return WW_ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 &&
	    siglen == SIGNKEY_SIG_LEN)
		rc = WW_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
signkey_verify(const uint8_t pub[SIGNKEY_PUB_LEN], const uint8_t *msg,
               size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	int rc = WW_ECRYPTO;

	if (siglen != SIGNKEY_SIG_LEN)
		return WW_ECRYPTO;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	                                   SIGNKEY_PUB_LEN);
	if (pkey == NULL)
		return WW_ECRYPTO;
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
		rc = WW_OK;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

int
signkey_write_public(const uint8_t pub[SIGNKEY_PUB_LEN], const char *path)
{
	char tmp[4096], line[2 * SIGNKEY_PUB_LEN + 16];
	int fd, n, rc = WW_EIO;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return WW_EINVAL;
	memcpy(line, "ed25519 ", 8);
	for (size_t i = 0; i < SIGNKEY_PUB_LEN; i++)
		snprintf(line + 8 + 2 * i, 3, "%02x", pub[i]);
	strcat(line, "\n");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          0644);
	if (fd < 0)
		return WW_EIO;
	if (write(fd, line, strlen(line)) == (ssize_t)strlen(line) &&
	    fsync(fd) == 0)
		rc = WW_OK;
	if (close(fd) != 0)
		rc = WW_EIO;
	if (rc == WW_OK && rename(tmp, path) != 0)
		rc = WW_EIO;
	if (rc != WW_OK)
		unlink(tmp);
	return rc;
}

int
signkey_read_public(const char *path, uint8_t pub[SIGNKEY_PUB_LEN], char *err,
                    size_t errlen)
{
	char line[256];
	FILE *fp;
	unsigned v;

	fp = fopen(path, "re");
	if (fp == NULL)
		return ww_fail(errno == ENOENT ? WW_ENOTFOUND : WW_EIO, err,
		               errlen, "%s: %s", path, strerror(errno));
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	if (strncmp(line, "ed25519 ", 8) != 0 ||
	    strspn(line + 8, "0123456789abcdef") != 2 * SIGNKEY_PUB_LEN)
		return ww_fail(WW_ECORRUPT, err, errlen,
		               "%s: not an \"ed25519 HEX\" public key", path);
	for (size_t i = 0; i < SIGNKEY_PUB_LEN; i++) {
		if (sscanf(line + 8 + 2 * i, "%2x", &v) != 1)
			return WW_ECORRUPT;
		pub[i] = (uint8_t)v;
	}
	return WW_OK;
}
