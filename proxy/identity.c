/* identity.c: bounded, thread-safe maps learned from passing traffic. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "proxy/identity.h"

#define IDENTITY_DEFAULT_MAX 65536

struct idmap_entry {
	char *key;
	char corp_id[IDENTITY_FIELD_MAX];
	char app[IDENTITY_FIELD_MAX];
	unsigned char sha256[32];
	struct idmap_entry *hnext;         /* hash chain */
	struct idmap_entry *older, *newer; /* learning order, for eviction */
};

/* A chained hash table whose oldest entry goes when it is full. */
struct idmap {
	struct idmap_entry **buckets;
	size_t nbuckets, count, max;
	struct idmap_entry *oldest, *newest;
};

struct identity {
	pthread_mutex_t lock;
	struct idmap tokens, media, apps;
};

static uint64_t
idmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int
idmap_init(struct idmap *m, size_t max)
{
	memset(m, 0, sizeof(*m));
	m->max = max;
	m->nbuckets = 1;
	while (m->nbuckets < max / 2 && m->nbuckets < (1u << 20))
		m->nbuckets <<= 1;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	return m->buckets != NULL ? WW_OK : WW_ENOMEM;
}

static struct idmap_entry **
idmap_slot(struct idmap *m, const char *key)
{
	struct idmap_entry **p = &m->buckets[idmap_hash(key) % m->nbuckets];

	while (*p != NULL && strcmp((*p)->key, key) != 0)
		p = &(*p)->hnext;
	return p;
}

static void
idmap_remove(struct idmap *m, struct idmap_entry *e)
{
	struct idmap_entry **p = idmap_slot(m, e->key);

	*p = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		m->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		m->newest = e->older;
	m->count--;
	free(e->key);
	free(e);
}

static void
idmap_cleanup(struct idmap *m)
{
	while (m->oldest != NULL)
		idmap_remove(m, m->oldest);
	free(m->buckets);
}

/* The entry for key, created (and made newest) when absent. */
static int
idmap_put(struct idmap *m, const char *key, struct idmap_entry **out)
{
	struct idmap_entry **p = idmap_slot(m, key), *e = *p;

	if (e != NULL) {
		*out = e;
		return WW_OK;
	}
	if (m->count >= m->max) {
		idmap_remove(m, m->oldest);
		p = idmap_slot(m, key); /* the chain may have changed */
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->key = strdup(key)) == NULL) {
		free(e);
		return WW_ENOMEM;
	}
	*p = e;
	e->older = m->newest;
	if (m->newest != NULL)
		m->newest->newer = e;
	else
		m->oldest = e;
	m->newest = e;
	m->count++;
	*out = e;
	return WW_OK;
}

int
identity_new(size_t max_entries, struct identity **out)
{
	struct identity *id;
	size_t max = max_entries > 0 ? max_entries : IDENTITY_DEFAULT_MAX;

	*out = NULL;
	id = calloc(1, sizeof(*id));
	if (id == NULL)
		return WW_ENOMEM;
	if (idmap_init(&id->tokens, max) != WW_OK ||
	    idmap_init(&id->media, max) != WW_OK ||
	    idmap_init(&id->apps, 1024) != WW_OK ||
	    pthread_mutex_init(&id->lock, NULL) != 0) {
		free(id->tokens.buckets);
		free(id->media.buckets);
		free(id->apps.buckets);
		free(id);
		return WW_ENOMEM;
	}
	*out = id;
	return WW_OK;
}

void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	idmap_cleanup(&id->tokens);
	idmap_cleanup(&id->media);
	idmap_cleanup(&id->apps);
	pthread_mutex_destroy(&id->lock);
	free(id);
}

static void
identity_copy(char dst[IDENTITY_FIELD_MAX], const char *src)
{
	snprintf(dst, IDENTITY_FIELD_MAX, "%s", src != NULL ? src : "");
}

int
identity_add_app(struct identity *id, const char *secret_digest,
                 const char *name)
{
	struct idmap_entry *e;
	int rc;

	pthread_mutex_lock(&id->lock);
	rc = idmap_put(&id->apps, secret_digest, &e);
	if (rc == WW_OK)
		identity_copy(e->app, name);
	pthread_mutex_unlock(&id->lock);
	return rc;
}

int
identity_learn_token(struct identity *id, const char *token_digest,
                     const char *corp_id, const char *secret_digest)
{
	struct idmap_entry *e, **app;
	int rc;

	pthread_mutex_lock(&id->lock);
	rc = idmap_put(&id->tokens, token_digest, &e);
	if (rc == WW_OK) {
		identity_copy(e->corp_id, corp_id);
		app = secret_digest != NULL
		          ? idmap_slot(&id->apps, secret_digest)
		          : NULL;
		identity_copy(e->app, app != NULL && *app != NULL
		                          ? (*app)->app
		                          : secret_digest);
	}
	pthread_mutex_unlock(&id->lock);
	return rc;
}

int
identity_lookup_token(struct identity *id, const char *token_digest,
                      char *corp_id, char *app)
{
	struct idmap_entry *e;
	int rc = WW_ENOTFOUND;

	pthread_mutex_lock(&id->lock);
	e = *idmap_slot(&id->tokens, token_digest);
	if (e != NULL) {
		identity_copy(corp_id, e->corp_id);
		identity_copy(app, e->app);
		rc = WW_OK;
	}
	pthread_mutex_unlock(&id->lock);
	return rc;
}

int
identity_learn_media(struct identity *id, const char *media_id,
                     const unsigned char sha256[32])
{
	struct idmap_entry *e;
	int rc;

	pthread_mutex_lock(&id->lock);
	rc = idmap_put(&id->media, media_id, &e);
	if (rc == WW_OK)
		memcpy(e->sha256, sha256, 32);
	pthread_mutex_unlock(&id->lock);
	return rc;
}

int
identity_lookup_media(struct identity *id, const char *media_id,
                      unsigned char sha256[32])
{
	struct idmap_entry *e;
	int rc = WW_ENOTFOUND;

	pthread_mutex_lock(&id->lock);
	e = *idmap_slot(&id->media, media_id);
	if (e != NULL) {
		memcpy(sha256, e->sha256, 32);
		rc = WW_OK;
	}
	pthread_mutex_unlock(&id->lock);
	return rc;
}
