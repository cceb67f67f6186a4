/* secret.c: HMAC-SHA256 digests of secrets and the journal key file. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "ww.h"
#include "store/secret.h"

#define SECRET_MAX_KEY 1024
#define SECRET_SPARES 8 /* idle contexts kept: one per digesting thread */

/*
 * keyed is an HMAC-SHA256 context initialized with the key once and never
 * changed afterwards; a digest works on a copy of it (EVP_MAC_CTX_dup only
 * reads the source), so secret_digest() is thread-safe on one struct
 * secret.  Copying it is ~25% cheaper than setting up a context from the
 * key, which fetches the digest by name; but one copy is 11 allocations
 * (OpenSSL 3.0: the HMAC context and its three digest contexts, each with
 * its provider state).  So a used copy is kept in spares and, next time,
 * only re-initialized with the key it already holds (EVP_MAC_init with a
 * NULL key, which OpenSSL supports for HMAC since 3.0.4, PR 18100): 2
 * allocations.  The spares belong to this secret, behind a mutex held
 * only to take or give back a pointer.
 */
struct secret_spares {
	pthread_mutex_t mu;
	size_t n;
	EVP_MAC_CTX *ctx[SECRET_SPARES];
};

struct secret {
	EVP_MAC *mac;
	EVP_MAC_CTX *keyed;
	struct secret_spares *spares;
	size_t keylen;
	unsigned char key[SECRET_MAX_KEY];
};

static EVP_MAC_CTX *
secret_keyed(const struct secret *s)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(s->mac);

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	                                             (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && !EVP_MAC_init(ctx, s->key, s->keylen, params)) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
secret_new(const unsigned char *key, size_t keylen, struct secret **out)
{
	struct secret *s;

	*out = NULL;
	if (key == NULL || keylen == 0 || keylen > SECRET_MAX_KEY)
		return WW_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return WW_ENOMEM;
	s->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (s->mac == NULL) {
		free(s);
		return WW_ENOMEM;
	}
	memcpy(s->key, key, keylen);
	s->keylen = keylen;
	s->spares = calloc(1, sizeof(*s->spares));
	if (s->spares == NULL ||
	    pthread_mutex_init(&s->spares->mu, NULL) != 0) {
		free(s->spares);
		s->spares = NULL;
		secret_free(s);
		return WW_ENOMEM;
	}
	if ((s->keyed = secret_keyed(s)) == NULL) {
		secret_free(s);
		return WW_ENOMEM;
	}
	*out = s;
	return WW_OK;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	if (s->spares != NULL) {
		for (size_t i = 0; i < s->spares->n; i++)
			EVP_MAC_CTX_free(s->spares->ctx[i]);
		pthread_mutex_destroy(&s->spares->mu);
		free(s->spares);
	}
	EVP_MAC_CTX_free(s->keyed);
	EVP_MAC_free(s->mac);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

/* A context ready for a new digest under s's key, or NULL (ENOMEM). */
static EVP_MAC_CTX *
secret_ctx_take(const struct secret *s)
{
	struct secret_spares *sp = s->spares;
	EVP_MAC_CTX *ctx = NULL;

	pthread_mutex_lock(&sp->mu);
	if (sp->n > 0)
		ctx = sp->ctx[--sp->n];
	pthread_mutex_unlock(&sp->mu);
	if (ctx == NULL)
		return EVP_MAC_CTX_dup(s->keyed);
	/* a NULL key: start over with the key the context holds */
	if (!EVP_MAC_init(ctx, NULL, 0, NULL)) {
		EVP_MAC_CTX_free(ctx);
		return EVP_MAC_CTX_dup(s->keyed);
	}
	return ctx;
}

/* Keep a context that finished cleanly; free it when spares is full. */
static void
secret_ctx_give(const struct secret *s, EVP_MAC_CTX *ctx)
{
	struct secret_spares *sp = s->spares;

	pthread_mutex_lock(&sp->mu);
	if (sp->n < SECRET_SPARES) {
		sp->ctx[sp->n++] = ctx;
		ctx = NULL;
	}
	pthread_mutex_unlock(&sp->mu);
	EVP_MAC_CTX_free(ctx);
}

static int
secret_hmac(const struct secret *s, const void *val, size_t len,
            unsigned char mac[32])
{
	EVP_MAC_CTX *ctx = secret_ctx_take(s);
	size_t maclen = 0;
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_MAC_update(ctx, val, len) &&
	     EVP_MAC_final(ctx, mac, &maclen, 32) && maclen == 32;
	if (ok)
		secret_ctx_give(s, ctx);
	else
		EVP_MAC_CTX_free(ctx); /* in an unknown state: never reused */
	return ok;
}

void
secret_digest(const struct secret *s, const void *val, size_t len,
              char out[SECRET_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];

	/*
	 * Never fall back to anything derived from val without the key: a
	 * failed HMAC (out of memory) gives a fixed, non-correlatable value.
	 */
	if (s == NULL || !secret_hmac(s, val == NULL ? "" : val, len, mac)) {
		memcpy(out, "hmac:", 5);
		memset(out + 5, '-', SECRET_DIGEST_LEN - 6);
		out[SECRET_DIGEST_LEN - 1] = '\0';
		return;
	}
	memcpy(out, "hmac:", 5);
	for (size_t i = 0; i < 16; i++) {
		out[5 + 2 * i] = hex[mac[i] >> 4];
		out[5 + 2 * i + 1] = hex[mac[i] & 0xf];
	}
	out[SECRET_DIGEST_LEN - 1] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* Read exactly SECRET_KEY_LEN bytes from an open, checked key file. */
static int
secret_read_key(int fd, const char *path, struct secret **out, char *err,
                size_t errlen)
{
	unsigned char key[SECRET_KEY_LEN + 1];
	size_t got = 0;
	ssize_t n;
	int rc;

	while (got < sizeof(key)) {
		n = read(fd, key + got, sizeof(key) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			return ww_fail(WW_EIO, err, errlen, "%s: read: %s",
			               path, strerror(errno));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != SECRET_KEY_LEN) {
		(void)ww_fail(
		    0, err, errlen,
		    "%s: key file must hold exactly 32 bytes (%d read)", path,
		    (int)got);
		OPENSSL_cleanse(key, sizeof(key));
		return WW_ECORRUPT;
	}
	rc = secret_new(key, SECRET_KEY_LEN, out);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static int
secret_open_existing(int fd, const char *path, struct secret **out, char *err,
                     size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		return ww_fail(WW_EIO, err, errlen, "%s: fstat: %s", path,
		               strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		return ww_fail(WW_EINVAL, err, errlen, "%s: not a regular file",
		               path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		(void)ww_fail(
		    0, err, errlen,
		    "%s: key file mode %04o lets group or others access it "
		    "(chmod 600)",
		    path, (int)(st.st_mode & 07777));
		return WW_EPERM;
	}
	return secret_read_key(fd, path, out, err, errlen);
}

/* Create a new random key file; WW_EEXIST when someone else won the race. */
static int
secret_create(const char *path, struct secret **out, char *err, size_t errlen)
{
	unsigned char key[SECRET_KEY_LEN];
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 && errno == EEXIST)
		return WW_EEXIST;
	if (fd < 0) {
		return ww_fail(WW_EIO, err, errlen, "%s: create: %s", path,
		               strerror(errno));
	}
	rc = WW_ECRYPTO;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		(void)ww_fail(0, err, errlen, "%s: no random bytes", path);
		goto out;
	}
	rc = WW_EIO;
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
	    fsync(fd) != 0) {
		(void)ww_fail(0, err, errlen, "%s: write: %s", path,
		              strerror(errno));
		goto out;
	}
	rc = secret_new(key, sizeof(key), out);
out:
	close(fd);
	if (rc != WW_OK)
		unlink(path);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
secret_load_or_create(const char *path, struct secret **out, char *err,
                      size_t errlen)
{
	int fd, rc;

	*out = NULL;
	for (int tries = 0; tries < 2; tries++) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			rc = secret_open_existing(fd, path, out, err, errlen);
			close(fd);
			return rc;
		}
		if (errno != ENOENT) {
			int e = errno;

			(void)ww_fail(0, err, errlen, "%s: open: %s", path,
			              strerror(e));
			return e == EACCES ? WW_EPERM : WW_EIO;
		}
		rc = secret_create(path, out, err, errlen);
		if (rc != WW_EEXIST)
			return rc;
	}
	return ww_fail(WW_EIO, err, errlen,
	               "%s: created and removed concurrently", path);
}
