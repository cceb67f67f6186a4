/* mint.c: on-the-fly leaf certificates with a bounded, shared LRU cache. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "certs/hostlist.h"
#include "certs/mint.h"
#include "ww.h"

#define MINT_DEFAULT_CACHE 1024
#define MINT_DEFAULT_LIFETIME (2 * 86400L)
#define MINT_DEFAULT_BACKDATE 3600L

struct mint_entry {
	char name[HOSTLIST_NAME_MAX]; /* canonical */
	X509 *cert;                   /* the cache's reference */
	time_t refresh_at;            /* re-sign from then on */
	uint64_t hash;
	uint64_t gen;             /* the CA generation that signed it */
	struct mint_entry *chain; /* bucket */
	struct mint_entry *prev;  /* LRU: head is the most recent */
	struct mint_entry *next;
};

struct mint {
	struct hostlist *allowed;
	EVP_PKEY *key;
	struct mint_opts opts;
	uint64_t seed; /* keys the bucket hash: SNI names come from clients */

	pthread_mutex_t lock; /* guards everything below */
	struct ca *ca;        /* our own copy: references to cert and key */
	uint64_t gen;         /* bumped by mint_set_ca */
	struct mint_entry **buckets;
	size_t nbuckets; /* a power of two */
	struct mint_entry *head, *tail;
	size_t entries;
	struct mint_stats stats;
};

/* FNV-1a over the seeded name: cheap, and unpredictable to clients. */
static uint64_t
mint_hash(const struct mint *m, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ m->seed;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int
mint_opts_fill(const struct mint_opts *in, struct mint_opts *o)
{
	if (in != NULL)
		*o = *in;
	if (o->cache_max == 0)
		o->cache_max = MINT_DEFAULT_CACHE;
	if (o->lifetime_s == 0)
		o->lifetime_s = MINT_DEFAULT_LIFETIME;
	if (o->backdate_s == 0)
		o->backdate_s = MINT_DEFAULT_BACKDATE;
	if (o->lifetime_s < 60 || o->backdate_s < 0 ||
	    o->cache_max > (1u << 24))
		return WW_EINVAL;
	return WW_OK;
}

int
mint_new(const struct ca *ca, const char *const *hosts, size_t nhosts,
         const struct mint_opts *opts, struct mint **out)
{
	struct mint *m = calloc(1, sizeof(*m));
	int rc = WW_ENOMEM;

	*out = NULL;
	if (m == NULL)
		return WW_ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return WW_ENOMEM;
	}
	rc = mint_opts_fill(opts, &m->opts);
	if (rc == WW_OK)
		rc = hostlist_new_from(hosts, nhosts, &m->allowed);
	if (rc == WW_OK)
		rc = ca_copy(ca, &m->ca);
	if (rc == WW_OK)
		rc = ca_leaf_key_new(m->opts.leaf_rsa ? CA_KEY_RSA3072
		                                      : CA_KEY_EC_P256,
		                     &m->key);
	if (rc == WW_OK &&
	    RAND_bytes((unsigned char *)&m->seed, sizeof(m->seed)) != 1)
		rc = WW_ECRYPTO;
	for (m->nbuckets = 16; rc == WW_OK && m->nbuckets < m->opts.cache_max;)
		m->nbuckets *= 2;
	if (rc == WW_OK) {
		m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
		rc = m->buckets ? WW_OK : WW_ENOMEM;
	}
	if (rc != WW_OK) {
		mint_free(m);
		return rc;
	}
	*out = m;
	return WW_OK;
}

/* Locked.  The entry for canonical name, or NULL. */
static struct mint_entry *
mint_find(struct mint *m, const char *name, uint64_t hash)
{
	struct mint_entry *e = m->buckets[hash & (m->nbuckets - 1)];

	for (; e != NULL; e = e->chain)
		if (e->hash == hash && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
mint_lru_unlink(struct mint *m, struct mint_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		m->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		m->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
mint_lru_push(struct mint *m, struct mint_entry *e)
{
	e->prev = NULL;
	e->next = m->head;
	if (m->head != NULL)
		m->head->prev = e;
	m->head = e;
	if (m->tail == NULL)
		m->tail = e;
}

/* Locked.  Remove e from bucket and LRU and free it. */
static void
mint_remove(struct mint *m, struct mint_entry *e)
{
	struct mint_entry **pp = &m->buckets[e->hash & (m->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	mint_lru_unlink(m, e);
	X509_free(e->cert);
	free(e);
	m->entries--;
}

/* Locked.  Insert a new entry, taking cert; evicts the LRU tail if full. */
static void
mint_insert(struct mint *m, struct mint_entry *e)
{
	size_t b = e->hash & (m->nbuckets - 1);

	if (m->entries >= m->opts.cache_max && m->tail != NULL)
		mint_remove(m, m->tail);
	e->chain = m->buckets[b];
	m->buckets[b] = e;
	mint_lru_push(m, e);
	m->entries++;
}

/* Locked.  A fresh cached certificate for name (new reference) or NULL. */
static X509 *
mint_lookup(struct mint *m, const char *name, uint64_t hash, time_t now)
{
	struct mint_entry *e = mint_find(m, name, hash);

	if (e == NULL)
		return NULL;
	if (now >= e->refresh_at) {
		mint_remove(m, e);
		return NULL;
	}
	mint_lru_unlink(m, e);
	mint_lru_push(m, e);
	X509_up_ref(e->cert);
	return e->cert;
}

/*
 * Sign a new certificate for canonical name with the current CA; the
 * signing itself runs unlocked, on a copy of the CA (references).
 */
static int
mint_sign(struct mint *m, const char *name, time_t now, struct mint_entry **out)
{
	struct mint_entry *e = calloc(1, sizeof(*e));
	const char *names[1] = {name};
	struct ca_leaf leaf = {
	    .names = names,
	    .nnames = 1,
	    .key = m->key,
	    .backdate_s = m->opts.backdate_s,
	    .lifetime_s = m->opts.lifetime_s,
	};
	struct ca *ca = NULL;
	int rc;

	*out = NULL;
	if (e == NULL)
		return WW_ENOMEM;
	pthread_mutex_lock(&m->lock);
	rc = ca_copy(m->ca, &ca);
	e->gen = m->gen;
	pthread_mutex_unlock(&m->lock);
	if (rc == WW_OK)
		rc = ca_issue(ca, &leaf, &e->cert);
	ca_free(ca);
	if (rc != WW_OK) {
		free(e);
		return rc;
	}
	memcpy(e->name, name, strlen(name) + 1);
	e->refresh_at = now + m->opts.lifetime_s / 2;
	*out = e;
	return WW_OK;
}

/*
 * Locked.  Cache e unless another thread got there first; *out: a ref.
 * A certificate signed while mint_set_ca replaced the CA serves the one
 * handshake that asked for it and is not cached.
 */
static void
mint_publish(struct mint *m, struct mint_entry *e, time_t now, X509 **out)
{
	if (e->gen != m->gen) {
		*out = e->cert; /* the entry's reference, handed over */
		free(e);
		return;
	}
	*out = mint_lookup(m, e->name, e->hash, now);
	if (*out != NULL) {
		X509_free(e->cert);
		free(e);
		return;
	}
	mint_insert(m, e);
	X509_up_ref(e->cert);
	*out = e->cert;
}

int
mint_cert(struct mint *m, const char *name, X509 **out)
{
	char canon[HOSTLIST_NAME_MAX];
	struct mint_entry *e;
	time_t now = time(NULL);
	uint64_t hash;
	int rc;

	*out = NULL;
	rc = hostlist_name_canon(name, canon);
	if (rc == WW_OK && !hostlist_match(m->allowed, canon))
		rc = WW_EPERM;
	pthread_mutex_lock(&m->lock);
	if (rc != WW_OK) {
		m->stats.refused++;
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	hash = mint_hash(m, canon);
	*out = mint_lookup(m, canon, hash, now);
	m->stats.hits += *out != NULL;
	m->stats.misses += *out == NULL;
	pthread_mutex_unlock(&m->lock);
	if (*out != NULL)
		return WW_OK;
	rc = mint_sign(m, canon, now, &e);
	if (rc != WW_OK)
		return rc;
	e->hash = hash;
	pthread_mutex_lock(&m->lock);
	mint_publish(m, e, now, out);
	pthread_mutex_unlock(&m->lock);
	return WW_OK;
}

EVP_PKEY *
mint_key_borrow(const struct mint *m)
{
	return m->key;
}

int
mint_set_ca(struct mint *m, const struct ca *ca)
{
	struct ca *copy = NULL, *old;
	int rc = ca_copy(ca, &copy);

	if (rc != WW_OK)
		return rc;
	pthread_mutex_lock(&m->lock);
	old = m->ca;
	m->ca = copy;
	m->gen++;
	while (m->head != NULL)
		mint_remove(m, m->head);
	pthread_mutex_unlock(&m->lock);
	ca_free(old);
	return WW_OK;
}

int
mint_ssl_use(struct mint *m, SSL *ssl, const char *name)
{
	X509 *x = NULL;
	int rc;

	rc = mint_cert(m, name, &x);
	if (rc != WW_OK)
		return rc;
	if (SSL_use_certificate(ssl, x) != 1 ||
	    SSL_use_PrivateKey(ssl, m->key) != 1)
		rc = WW_ECRYPTO;
	X509_free(x); /* ssl holds its own reference */
	return rc;
}

int
mint_allowed(const struct mint *m, const char *name)
{
	return hostlist_match(m->allowed, name);
}

void
mint_stats(struct mint *m, struct mint_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	out->entries = m->entries;
	pthread_mutex_unlock(&m->lock);
}

void
mint_free(struct mint *m)
{
	if (m == NULL)
		return;
	while (m->head != NULL)
		mint_remove(m, m->head);
	free(m->buckets);
	pthread_mutex_destroy(&m->lock);
	hostlist_free(m->allowed);
	EVP_PKEY_free(m->key);
	ca_free(m->ca);
	free(m);
}
