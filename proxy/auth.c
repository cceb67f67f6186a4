/* auth.c: htpasswd-style credentials, checked with crypt_r(3). */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ww.h"
#include "proxy/auth.h"

#define AUTH_MAX_USERS 100000
#define AUTH_LINE_MAX 1024
#define AUTH_CACHE 64 /* credentials that verified, most recent first */

struct auth_user {
	char *name, *hash;
};

struct auth {
	struct auth_user *users;
	size_t n;
	pthread_mutex_t lock;
	unsigned char cache[AUTH_CACHE][SHA256_DIGEST_LENGTH];
	size_t n_cache, next_cache;
};

static int
auth_hash_ok(const char *h)
{
	return strncmp(h, "$6$", 3) == 0 || strncmp(h, "$2b$", 4) == 0 ||
	       strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2a$", 4) == 0;
}

static int
auth_add_line(struct auth *a, char *line, const char *path, int lineno,
              char *err, size_t errlen)
{
	char *colon, *end = line + strcspn(line, "\r\n");
	struct auth_user *u;

	*end = '\0';
	if (line[0] == '\0' || line[0] == '#')
		return WW_OK;
	colon = strchr(line, ':');
	if (colon == NULL || colon == line ||
	    (size_t)(colon - line) >= AUTH_USER_MAX ||
	    !auth_hash_ok(colon + 1) || a->n >= AUTH_MAX_USERS) {
		snprintf(err, errlen,
		         "%s:%d: expected user:hash with a $6$ (SHA-512) or "
		         "$2b$ (bcrypt) hash",
		         path, lineno);
		return WW_EINVAL;
	}
	*colon = '\0';
	u = realloc(a->users, (a->n + 1) * sizeof(*u));
	if (u == NULL)
		return WW_ENOMEM;
	a->users = u;
	u = &a->users[a->n];
	u->name = strdup(line);
	u->hash = strdup(colon + 1);
	a->n++;
	return u->name != NULL && u->hash != NULL ? WW_OK : WW_ENOMEM;
}

int
auth_load(const char *path, struct auth **out, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	char line[AUTH_LINE_MAX];
	FILE *fp = NULL;
	int rc = WW_ENOMEM, lineno = 0;

	*out = NULL;
	if (a == NULL)
		goto out;
	pthread_mutex_init(&a->lock, NULL);
	if ((fp = fopen(path, "r")) == NULL) {
		rc = errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = WW_OK;
	while (rc == WW_OK && fgets(line, sizeof(line), fp) != NULL)
		rc = auth_add_line(a, line, path, ++lineno, err, errlen);
	if (rc == WW_OK && ferror(fp)) {
		rc = WW_EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
out:
	if (fp != NULL)
		fclose(fp);
	if (rc == WW_ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (rc != WW_OK)
		auth_free(a);
	else
		*out = a;
	return rc;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

/* "Basic base64" into "user:pass" (NUL-terminated) in out. */
static int
auth_decode(const char *header, char *out, size_t outlen)
{
	size_t len;
	int n;

	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return WW_EPERM;
	header += 6;
	header += strspn(header, " ");
	len = strlen(header);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= outlen)
		return WW_EPERM;
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)header,
	                    (int)len);
	if (n < 0)
		return WW_EPERM;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	while (len > 0 && header[--len] == '=' && n > 0)
		n--;
	out[n] = '\0';
	if (memchr(out, '\0', (size_t)n) != NULL || strchr(out, ':') == NULL)
		return WW_EPERM;
	return WW_OK;
}

static const struct auth_user *
auth_find(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

/* 1 when these exact credentials verified recently. */
static int
auth_cached(struct auth *a, const unsigned char *key, int add)
{
	int hit = 0;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_cache && !hit; i++)
		hit =
		    CRYPTO_memcmp(a->cache[i], key, SHA256_DIGEST_LENGTH) == 0;
	if (!hit && add) {
		memcpy(a->cache[a->next_cache], key, SHA256_DIGEST_LENGTH);
		a->next_cache = (a->next_cache + 1) % AUTH_CACHE;
		if (a->n_cache < AUTH_CACHE)
			a->n_cache++;
	}
	pthread_mutex_unlock(&a->lock);
	return hit;
}

static int
auth_verify(const struct auth_user *u, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	int ok;

	if (cd == NULL)
		return WW_ENOMEM;
	h = crypt_r(pass, u->hash, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(u->hash) &&
	     CRYPTO_memcmp(h, u->hash, strlen(h)) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok ? WW_OK : WW_EPERM;
}

int
auth_check(struct auth *a, const char *header, char user[AUTH_USER_MAX])
{
	char cred[AUTH_LINE_MAX];
	unsigned char key[SHA256_DIGEST_LENGTH];
	const struct auth_user *u;
	char *pass;
	int rc;

	user[0] = '\0';
	if ((rc = auth_decode(header, cred, sizeof(cred))) != WW_OK)
		goto out;
	pass = strchr(cred, ':');
	*pass++ = '\0';
	if (strlen(cred) >= AUTH_USER_MAX || (u = auth_find(a, cred)) == NULL) {
		rc = WW_EPERM;
		goto out;
	}
	/* user NUL pass: the cache never holds a password itself */
	SHA256((const unsigned char *)cred, strlen(cred) + 1 + strlen(pass),
	       key);
	if (!auth_cached(a, key, 0)) {
		rc = auth_verify(u, pass);
		if (rc != WW_OK)
			goto out;
		auth_cached(a, key, 1);
	}
	memcpy(user, cred, strlen(cred) + 1); /* < AUTH_USER_MAX, checked */
	rc = WW_OK;
out:
	OPENSSL_cleanse(cred, sizeof(cred));
	return rc;
}
