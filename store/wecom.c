/*
 * wecom.c: the WeCom API endpoint table and JSON decoders
 * (../shared/wecom-api.md sections 1.4 and 2).
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ww.h"
#include "store/multipart.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"

/* ---- small utilities ---------------------------------------------------- */

/* A growable string: JSON paths and scratch text. */
struct wbuf {
	char *s;
	size_t len, cap;
};

static int
wbuf_put(struct wbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->s, cap);
		if (grown == NULL)
			return WW_ENOMEM;
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return WW_OK;
}

/* Append ".key" (no dot at the start), escaping the path metacharacters. */
static int
wbuf_key(struct wbuf *b, const char *key)
{
	int rc = WW_OK;

	if (b->len > 0)
		rc = wbuf_put(b, ".", 1);
	for (const char *p = key; rc == WW_OK && *p != '\0';) {
		size_t run = strcspn(p, ".[]\\");

		rc = wbuf_put(b, p, run);
		p += run;
		if (rc == WW_OK && *p != '\0') {
			rc = wbuf_put(b, "\\", 1);
			if (rc == WW_OK)
				rc = wbuf_put(b, p++, 1);
		}
	}
	if (rc == WW_OK && b->s == NULL)
		rc = wbuf_put(b, "", 0);
	return rc;
}

static int
wbuf_index(struct wbuf *b, size_t i)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "[%zu]", i);

	return wbuf_put(b, tmp, (size_t)n);
}

static void
wbuf_cut(struct wbuf *b, size_t len)
{
	b->len = len;
	if (b->s != NULL)
		b->s[len] = '\0';
}

/* A set of JSON nodes (pointers) already accounted for. */
struct ptrset {
	const void **slot;
	size_t cap, n;
};

static size_t
ptrset_hash(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static int
ptrset_has(const struct ptrset *set, const void *p)
{
	if (set->cap == 0)
		return 0;
	for (size_t i = ptrset_hash(p, set->cap);;
	     i = (i + 1) & (set->cap - 1)) {
		if (set->slot[i] == NULL)
			return 0;
		if (set->slot[i] == p)
			return 1;
	}
}

static int ptrset_add(struct ptrset *set, const void *p);

static int
ptrset_grow(struct ptrset *set)
{
	struct ptrset bigger = {0};

	bigger.cap = set->cap ? set->cap * 2 : 64;
	bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
	if (bigger.slot == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < set->cap; i++)
		if (set->slot[i] != NULL)
			(void)ptrset_add(&bigger, set->slot[i]);
	free(set->slot);
	*set = bigger;
	return WW_OK;
}

static int
ptrset_add(struct ptrset *set, const void *p)
{
	size_t i;

	if ((set->n + 1) * 2 > set->cap && ptrset_grow(set) != WW_OK)
		return WW_ENOMEM;
	for (i = ptrset_hash(p, set->cap); set->slot[i] != NULL;
	     i = (i + 1) & (set->cap - 1))
		if (set->slot[i] == p)
			return WW_OK;
	set->slot[i] = p;
	set->n++;
	return WW_OK;
}

/* ---- the decode arena --------------------------------------------------- */

/*
 * jansson builds a tree with one malloc per node, string and hash table,
 * and the tree dies with the call that parsed it.  While a decode runs,
 * jansson allocates from an arena instead: bump allocation from a chunk
 * in the decoder's frame (struct arena), then from malloc'ed chunks that
 * double, all released at once when the decode ends (nothing is kept between
 * calls, so a hostile body leaves nothing behind and no thread has memory to
 * give back when it exits).  jansson's allocation functions are process
 * wide (json_set_alloc_funcs): outside an arena they are malloc and free,
 * so every other jansson user (callbacks, wwjournal, wwpolicy, the proxy)
 * is unaffected.  Which arena is active is per thread: the one mutable
 * global of this module, a thread-local pointer set only between
 * arena_begin() and arena_end().  Arena memory never leaves those calls.
 *
 * Under AddressSanitizer every block gets a size header and a red zone,
 * free poisons it, and unused arena space stays poisoned, so overflows and
 * use after free inside the arena are still caught (fuzz_wecom).
 */
#if defined(__SANITIZE_ADDRESS__)
#define WECOM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WECOM_ASAN 1
#endif
#endif
#ifdef WECOM_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_HEAD 16u /* size header */
#define ARENA_RED 16u  /* red zone after each block */
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ARENA_HEAD 0u
#define ARENA_RED 0u
#endif

#define ARENA_ALIGN 16u              /* _Alignof(max_align_t) on x86-64 */
#define ARENA_STACK (16u << 10)      /* the chunk on the decoder's stack */
#define ARENA_FIRST_HEAP (64u << 10) /* first malloc'ed chunk; doubles */

struct arena_chunk {
	struct arena_chunk *next;
	unsigned char *lo, *hi; /* the usable bytes */
};

struct arena {
	unsigned char *cur, *end;   /* free part of the current chunk */
	struct arena_chunk *chunks; /* malloc'ed, newest first */
	size_t next_size;
	int oom;       /* an allocation failed: the result is WW_ENOMEM */
	int owns_json; /* jansson allocates here: trees need no json_decref */
	_Alignas(ARENA_ALIGN) unsigned char first[ARENA_STACK];
};

static _Thread_local struct arena *arena_active;

static int
arena_has(const struct arena *a, const void *p)
{
	uintptr_t u = (uintptr_t)p;

	if (u >= (uintptr_t)a->first && u < (uintptr_t)(a->first + ARENA_STACK))
		return 1;
	for (const struct arena_chunk *c = a->chunks; c != NULL; c = c->next)
		if (u >= (uintptr_t)c->lo && u < (uintptr_t)c->hi)
			return 1;
	return 0;
}

/* A new current chunk for at least need bytes. */
static int
arena_grow(struct arena *a, size_t need)
{
	const size_t head = (sizeof(struct arena_chunk) + ARENA_ALIGN - 1) &
	                    ~(size_t)(ARENA_ALIGN - 1);
	struct arena_chunk *c;
	size_t size = a->next_size;

	while (size < need + head && size < SIZE_MAX / 4)
		size *= 2;
	if (size < need + head || (c = malloc(size)) == NULL)
		return WW_ENOMEM;
	c->lo = (unsigned char *)c + head;
	c->hi = (unsigned char *)c + size;
	c->next = a->chunks;
	a->chunks = c;
	a->next_size = size * 2;
	a->cur = c->lo;
	a->end = c->hi;
	ASAN_POISON_MEMORY_REGION(c->lo, (size_t)(c->hi - c->lo));
	return WW_OK;
}

static void *
arena_alloc(struct arena *a, size_t n)
{
	size_t need;
	unsigned char *p;

	if (n > SIZE_MAX / 4) {
		a->oom = 1;
		return NULL;
	}
	need = (ARENA_HEAD + n + ARENA_RED + ARENA_ALIGN - 1) &
	       ~(size_t)(ARENA_ALIGN - 1);
	if ((size_t)(a->end - a->cur) < need && arena_grow(a, need) != WW_OK) {
		a->oom = 1;
		return NULL;
	}
	p = a->cur + ARENA_HEAD;
	a->cur += need;
	/* the size header stays addressable: arena_json_free reads it */
	ASAN_UNPOISON_MEMORY_REGION(p - ARENA_HEAD, ARENA_HEAD + n);
#ifdef WECOM_ASAN
	memcpy(p - ARENA_HEAD, &n, sizeof(n));
#endif
	return p;
}

/* jansson's allocation functions (installed once by wecom_init). */
static void *
arena_json_malloc(size_t n)
{
	struct arena *a = arena_active;

	return a != NULL ? arena_alloc(a, n) : malloc(n);
}

static void
arena_json_free(void *p)
{
	struct arena *a = arena_active;

	if (p == NULL || a == NULL || !arena_has(a, p)) {
		free(p);
		return;
	}
#ifdef WECOM_ASAN
	{
		size_t n;

		memcpy(&n, (unsigned char *)p - ARENA_HEAD, sizeof(n));
		ASAN_POISON_MEMORY_REGION(p, n);
	}
#endif
}

static void
wecom_init_once(void)
{
	json_set_alloc_funcs(arena_json_malloc, arena_json_free);
}

void
wecom_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, wecom_init_once);
}

/*
 * Make a (the caller's, normally on its stack) this thread's active arena
 * until arena_end().  Arenas do not nest.
 */
static void
arena_begin(struct arena *a)
{
	json_malloc_t mfn;
	json_free_t ffn;

	wecom_init();
	a->cur = a->first;
	a->end = a->first + ARENA_STACK;
	a->chunks = NULL;
	a->next_size = ARENA_FIRST_HEAP;
	a->oom = 0;
	/* A test may have swapped jansson's allocator: then trees are freed
	   as usual and the arena stays unused. */
	json_get_alloc_funcs(&mfn, &ffn);
	a->owns_json = mfn == arena_json_malloc && ffn == arena_json_free;
	ASAN_POISON_MEMORY_REGION(a->first, ARENA_STACK);
	arena_active = a;
}

/* Release a jansson tree built while a was active. */
static void
arena_decref(const struct arena *a, json_t *j)
{
	if (!a->owns_json)
		json_decref(j);
}

/* Deactivate a and free its chunks; WW_ENOMEM if an allocation failed. */
static int
arena_end(struct arena *a)
{
	struct arena_chunk *c, *next;

	arena_active = NULL;
	ASAN_UNPOISON_MEMORY_REGION(a->first, ARENA_STACK);
	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		ASAN_UNPOISON_MEMORY_REGION(c->lo, (size_t)(c->hi - c->lo));
		free(c);
	}
	a->chunks = NULL;
	return a->oom ? WW_ENOMEM : WW_OK;
}

static const char *
json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

static int
name_in(const char *name, const char *const *list)
{
	/* The first byte rules out most names without a call. */
	for (; *list != NULL; list++)
		if (**list == *name && strcmp(name, *list) == 0)
			return 1;
	return 0;
}

/* ---- secrets (wecom-api.md 1.4) ----------------------------------------- */

/* Body fields holding credentials or single-use capability codes. */
static const char *const body_secrets[] = {
    "welcome_code",
    "code",
    "response_code",
    "provider_secret",
    "suite_secret",
    "suite_ticket",
    "permanent_code",
    "auth_code",
    "pre_auth_code",
    "secret",
    "token",
    "corpsecret",
    "access_token",
    "suite_access_token",
    "provider_access_token",
    NULL,
};

/* Query parameters holding credentials. */
static const char *const query_secrets[] = {
    "access_token",
    "corpsecret",
    "key",
    "suite_access_token",
    "provider_access_token",
    "code",
    "js_code",
    "secret",
    "ticket",
    "auth_code",
    NULL,
};

/* Answer fields holding minted credentials. */
static const char *const answer_secrets[] = {
    "access_token",
    "suite_access_token",
    "provider_access_token",
    "permanent_code",
    "ticket",
    "response_code",
    NULL,
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string ('+' is a space). */
static char *
url_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1);
	size_t j = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			out[j++] =
			    (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[j++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[j] = '\0';
	if (outlen != NULL)
		*outlen = j;
	return out;
}

/*
 * Call fn for every name=value pair of query with both decoded; stops at
 * the first non-OK return.  raw_value points into query.
 */
typedef int (*query_fn)(void *arg, const char *name, const char *value,
                        size_t vlen, const char *raw, size_t rawlen);

static int
query_each(const char *query, query_fn fn, void *arg)
{
	const char *p = query;
	int rc = WW_OK;

	while (p != NULL && *p != '\0' && rc == WW_OK) {
		size_t plen = strcspn(p, "&");
		const char *eq = memchr(p, '=', plen);
		size_t nlen = eq != NULL ? (size_t)(eq - p) : plen;
		const char *raw = eq != NULL ? eq + 1 : p + plen;
		size_t rawlen = eq != NULL ? plen - nlen - 1 : 0;
		char *name = url_decode(p, nlen, NULL);
		size_t vlen;
		char *value = url_decode(raw, rawlen, &vlen);

		if (name == NULL || value == NULL)
			rc = WW_ENOMEM;
		else
			rc = fn(arg, name, value, vlen, raw, rawlen);
		free(name);
		free(value);
		p += plen;
		if (*p == '&')
			p++;
	}
	return rc;
}

static int
name_in_ci(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(name, *list) == 0)
			return 1;
	return 0;
}

struct scrub_ctx {
	const struct secret *key;
	struct wbuf out;
	const char *query;
};

static int
scrub_one(void *arg, const char *name, const char *value, size_t vlen,
          const char *raw, size_t rawlen)
{
	struct scrub_ctx *c = arg;
	char digest[SECRET_DIGEST_LEN];
	int rc;

	(void)name;
	/* Copy everything up to this value verbatim. */
	rc = wbuf_put(&c->out, c->query, (size_t)(raw - c->query));
	if (rc != WW_OK)
		return rc;
	c->query = raw + rawlen;
	if (rawlen > 0 && name_in_ci(name, query_secrets)) {
		secret_digest(c->key, value, vlen, digest);
		return wbuf_put(&c->out, digest, strlen(digest));
	}
	return wbuf_put(&c->out, raw, rawlen);
}

int
wecom_scrub_query(const struct secret *key, const char *query, char **out)
{
	struct scrub_ctx c = {key, {0}, query};
	int rc;

	*out = NULL;
	if (query == NULL)
		query = c.query = "";
	rc = query_each(query, scrub_one, &c);
	if (rc == WW_OK)
		rc = wbuf_put(&c.out, c.query, strlen(c.query));
	if (rc != WW_OK) {
		free(c.out.s);
		return rc;
	}
	*out = c.out.s;
	return WW_OK;
}

struct query_find {
	const char *name;
	char *value;
	size_t vlen;
};

static int
query_find_one(void *arg, const char *name, const char *value, size_t vlen,
               const char *raw, size_t rawlen)
{
	struct query_find *f = arg;

	(void)raw;
	(void)rawlen;
	if (f->value != NULL || strcasecmp(name, f->name) != 0)
		return WW_OK;
	f->value = malloc(vlen + 1);
	if (f->value == NULL)
		return WW_ENOMEM;
	memcpy(f->value, value, vlen + 1);
	f->vlen = vlen;
	return WW_OK;
}

/* The first decoded value of parameter name, malloc'ed, or NULL. */
static int
query_get(const char *query, const char *name, char **value, size_t *vlen)
{
	struct query_find f = {name, NULL, 0};
	int rc = query_each(query, query_find_one, &f);

	if (rc != WW_OK) {
		free(f.value);
		f.value = NULL;
	}
	*value = f.value;
	if (vlen != NULL)
		*vlen = f.vlen;
	return rc;
}

/* Set *field to the digest of query parameter name, when present. */
static int
query_digest(const struct secret *key, const char *query, const char *name,
             char **field, int *found)
{
	char digest[SECRET_DIGEST_LEN], *value;
	size_t vlen;
	int rc;

	rc = query_get(query, name, &value, &vlen);
	if (rc != WW_OK || value == NULL)
		return rc;
	secret_digest(key, value, vlen, digest);
	free(value);
	if (found != NULL)
		*found = 1;
	return record_set_str(field, digest);
}

/* ---- the endpoint table (wecom-api.md 2.0) ------------------------------ */

struct wdec;
typedef int (*wdec_fn)(struct wdec *d);

struct wecom_endpoint {
	const char *path; /* below /cgi-bin/ */
	enum wecom_class cls;
	wdec_fn decode; /* NULL: generic walk only */
};

static int dec_app_send(struct wdec *d);
static int dec_update_card(struct wdec *d);
static int dec_appchat_create(struct wdec *d);
static int dec_appchat_send(struct wdec *d);
static int dec_linkedcorp(struct wdec *d);
static int dec_school(struct wdec *d);
static int dec_msg_template(struct wdec *d);
static int dec_welcome(struct wdec *d);
static int dec_group_welcome(struct wdec *d);
static int dec_moment(struct wdec *d);
static int dec_kf_send(struct wdec *d);
static int dec_kf_event(struct wdec *d);
static int dec_webhook(struct wdec *d);
static int dec_exmail(struct wdec *d);

static const struct wecom_endpoint endpoints[] = {
    {"message/send", WECOM_MESSAGE, dec_app_send},
    {"message/update_template_card", WECOM_MESSAGE, dec_update_card},
    {"message/recall", WECOM_MESSAGE, NULL},
    {"message/revoke", WECOM_MESSAGE, NULL},
    {"appchat/create", WECOM_MESSAGE, dec_appchat_create},
    {"appchat/update", WECOM_MESSAGE, dec_appchat_create},
    {"appchat/send", WECOM_MESSAGE, dec_appchat_send},
    {"linkedcorp/message/send", WECOM_MESSAGE, dec_linkedcorp},
    {"externalcontact/message/send", WECOM_MESSAGE, dec_school},
    {"externalcontact/add_msg_template", WECOM_MESSAGE, dec_msg_template},
    {"externalcontact/send_welcome_msg", WECOM_MESSAGE, dec_welcome},
    {"externalcontact/group_welcome_template/add", WECOM_MESSAGE,
     dec_group_welcome},
    {"externalcontact/group_welcome_template/edit", WECOM_MESSAGE,
     dec_group_welcome},
    {"externalcontact/add_moment_task", WECOM_MESSAGE, dec_moment},
    {"kf/send_msg", WECOM_MESSAGE, dec_kf_send},
    {"kf/send_msg_on_event", WECOM_MESSAGE, dec_kf_event},
    {"webhook/send", WECOM_MESSAGE, dec_webhook},
    {"exmail/app/compose_send", WECOM_MESSAGE, dec_exmail},
    {"media/upload_by_url", WECOM_MESSAGE, NULL},
    {"media/upload", WECOM_UPLOAD, NULL},
    {"media/uploadimg", WECOM_UPLOAD, NULL},
    {"media/upload_attachment", WECOM_UPLOAD, NULL},
    {"webhook/upload_media", WECOM_UPLOAD, NULL},
    {"gettoken", WECOM_GETTOKEN, NULL},
    {"service/get_provider_token", WECOM_GETTOKEN, NULL},
    {"service/get_suite_token", WECOM_GETTOKEN, NULL},
    {"service/get_corp_token", WECOM_GETTOKEN, NULL},
};

#define CGI_PREFIX "/cgi-bin/"

/*
 * Normalize path below /cgi-bin/ into *out (malloc'ed): collapse "//",
 * drop "." segments and a trailing '/'.  *unsafe is set when the path
 * holds something a server might interpret differently than we compare.
 * Returns WW_ENOTFOUND when path is not under /cgi-bin/.
 */
static int
endpoint_normalize(const char *path, char **out, int *unsafe)
{
	struct wbuf b = {0};
	const char *p;
	int rc = WW_OK;

	*out = NULL;
	*unsafe = 0;
	if (path == NULL || strncasecmp(path, CGI_PREFIX, 9) != 0)
		return WW_ENOTFOUND;
	p = path + 8; /* at the '/' after cgi-bin */
	if (strpbrk(p, "%\\;") != NULL)
		*unsafe = 1;
	while (*p != '\0' && rc == WW_OK) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			*unsafe = 1;
		if (b.len > 0)
			rc = wbuf_put(&b, "/", 1);
		if (rc == WW_OK)
			rc = wbuf_put(&b, p, n);
		p += n;
	}
	if (rc == WW_OK && b.s == NULL)
		rc = wbuf_put(&b, "", 0);
	if (rc != WW_OK) {
		free(b.s);
		return rc;
	}
	*out = b.s;
	return WW_OK;
}

static const struct wecom_endpoint *
endpoint_find(const char *ep)
{
	for (size_t i = 0; i < WW_NELEM(endpoints); i++)
		if (strcasecmp(ep, endpoints[i].path) == 0)
			return &endpoints[i];
	return NULL;
}

static enum wecom_class
endpoint_class(const struct wecom_endpoint *e, int unsafe)
{
	if (unsafe)
		return WECOM_MESSAGE;
	return e != NULL ? e->cls : WECOM_OTHER;
}

enum wecom_class
wecom_classify(const char *path)
{
	const struct wecom_endpoint *e;
	enum wecom_class cls;
	char *ep;
	int unsafe;

	switch (endpoint_normalize(path, &ep, &unsafe)) {
	case WW_OK:
		break;
	case WW_ENOTFOUND:
		return WECOM_NOT_API;
	default:
		return WECOM_MESSAGE; /* out of memory: fail towards decoding */
	}
	e = endpoint_find(ep);
	free(ep);
	cls = endpoint_class(e, unsafe);
	return cls;
}

/* ---- decoding state ----------------------------------------------------- */

struct wdec {
	const struct secret *key;
	Ww__Message *msg;
	json_t *root;
	struct ptrset taken; /* nodes consumed: ids, secrets, emitted texts */
	struct ptrset force; /* typed text fields, even under opaque keys */
	struct wbuf path;
	char *err;
	size_t errlen;
	int scrubbed; /* a body secret was replaced */
	int scrub_ok; /* every body secret was found and replaced */
};

static int dec_fail(struct wdec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record a decode error; always returns WW_EPARSE. */
static int
dec_fail(struct wdec *d, const char *fmt, ...)
{
	va_list ap;

	if (d->err != NULL && d->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->errlen, fmt, ap);
		va_end(ap);
	}
	return WW_EPARSE;
}

static const char *
dec_where(struct wdec *d)
{
	return d->path.len > 0 ? d->path.s : "(body)";
}

/*
 * A typed text field: check its type now; the walker emits it later so
 * that texts come out in document order.
 */
static int
dec_text(struct wdec *d, json_t *j)
{
	if (!json_is_string(j))
		return dec_fail(d, "%s: expected a string, got %s",
		                dec_where(d), json_type_name(j));
	return ptrset_add(&d->force, j);
}

/* Emit the string node j at the current path as a text part. */
static int
emit_text(struct wdec *d, json_t *j)
{
	if (ptrset_has(&d->taken, j) || json_string_length(j) == 0)
		return WW_OK;
	if (d->msg->n_texts >= WECOM_MAX_TEXT_PARTS)
		return dec_fail(d, "more than %d text parts",
		                WECOM_MAX_TEXT_PARTS);
	if (ptrset_add(&d->taken, j) != WW_OK)
		return WW_ENOMEM;
	return message_add_text(d->msg, d->path.s, json_string_value(j),
	                        json_string_length(j));
}

static int
dec_take(struct wdec *d, json_t *j)
{
	return ptrset_add(&d->taken, j);
}

/* Push key onto the path and fetch it from obj; *len is for dec_pop. */
static json_t *
dec_push(struct wdec *d, json_t *obj, const char *key, size_t *len, int *rc)
{
	*len = d->path.len;
	*rc = wbuf_key(&d->path, key);
	if (*rc != WW_OK)
		return NULL;
	return json_object_get(obj, key);
}

static void
dec_pop(struct wdec *d, size_t len)
{
	wbuf_cut(&d->path, len);
}

/* ---- typed field maps (wecom-api.md 2.1, 2.2, 2.6-2.8) ------------------ */

enum field_kind {
	F_TEXT,    /* human-readable: a text part */
	F_MEDIA,   /* a media id: an attachment of the given kind */
	F_MENTION, /* a userid rendered as an @mention */
	F_BASE64,  /* inline base64 bytes: an attachment, hashed */
	F_SKIP,    /* an opaque string (callback keys): not text */
};

struct field {
	const char *path; /* "a.b", "list[].c"; leading '!' = required */
	enum field_kind kind;
	const char *att_kind;
};

#define T(p)                                                                   \
	{                                                                      \
		p, F_TEXT, NULL                                                \
	}
#define M(p, k)                                                                \
	{                                                                      \
		p, F_MEDIA, k                                                  \
	}
#define END                                                                    \
	{                                                                      \
		NULL, F_TEXT, NULL                                             \
	}

static const struct field f_text[] = {
    T("!content"), {"mentioned_list[]", F_MENTION, NULL}, END};
static const struct field f_markdown[] = {T("!content"), END};
static const struct field f_image[] = {
    M("media_id", "image"), {"base64", F_BASE64, "image"}, END};
static const struct field f_voice[] = {M("media_id", "voice"), END};
static const struct field f_video[] = {T("title"), T("description"),
                                       M("media_id", "video"), END};
static const struct field f_file[] = {M("media_id", "file"), END};
static const struct field f_textcard[] = {T("title"), T("description"),
                                          T("url"), T("btntxt"), END};
static const struct field f_news[] = {
    T("articles[].title"), T("articles[].description"), T("articles[].url"),
    T("articles[].picurl"), END};
static const struct field f_mpnews[] = {T("articles[].title"),
                                        T("articles[].author"),
                                        T("articles[].digest"),
                                        T("articles[].content"),
                                        T("articles[].content_source_url"),
                                        M("articles[].thumb_media_id", "image"),
                                        M("media_id", "mpnews"),
                                        END};
static const struct field f_mp_notice[] = {T("title"), T("description"),
                                           T("content_item[].key"),
                                           T("content_item[].value"), END};
static const struct field f_taskcard[] = {T("title"),
                                          T("description"),
                                          T("url"),
                                          T("btn[].name"),
                                          T("btn[].replace_name"),
                                          {"btn[].key", F_SKIP, NULL},
                                          END};
static const struct field f_msgmenu[] = {T("head_content"),
                                         T("list[].click.content"),
                                         T("list[].view.content"),
                                         T("list[].view.url"),
                                         T("list[].miniprogram.content"),
                                         T("list[].text.content"),
                                         T("tail_content"),
                                         END};
static const struct field f_location[] = {T("name"), T("address"), END};
static const struct field f_link[] = {T("title"),
                                      T("desc"),
                                      T("url"),
                                      T("picurl"),
                                      M("thumb_media_id", "image"),
                                      M("media_id", "image"),
                                      END};
static const struct field f_miniprogram[] = {
    T("title"), M("thumb_media_id", "image"), M("pic_media_id", "image"), END};
static const struct field f_card[] = {
    T("source.desc"),
    T("action_menu.desc"),
    T("action_menu.action_list[].text"),
    {"action_menu.action_list[].key", F_SKIP, NULL},
    T("main_title.title"),
    T("main_title.desc"),
    T("emphasis_content.title"),
    T("emphasis_content.desc"),
    T("quote_area.title"),
    T("quote_area.quote_text"),
    T("quote_area.url"),
    T("sub_title_text"),
    T("image_text_area.title"),
    T("image_text_area.desc"),
    T("image_text_area.url"),
    T("vertical_content_list[].title"),
    T("vertical_content_list[].desc"),
    T("horizontal_content_list[].keyname"),
    T("horizontal_content_list[].value"),
    T("horizontal_content_list[].url"),
    M("horizontal_content_list[].media_id", "file"),
    {"horizontal_content_list[].userid", F_MENTION, NULL},
    T("jump_list[].title"),
    T("jump_list[].url"),
    T("card_action.url"),
    T("button_selection.title"),
    T("button_selection.option_list[].text"),
    T("button_list[].text"),
    {"button_list[].key", F_SKIP, NULL},
    T("checkbox.option_list[].text"),
    T("select_list[].title"),
    T("select_list[].option_list[].text"),
    T("submit_button.text"),
    {"submit_button.key", F_SKIP, NULL},
    T("replace_text"),
    END};

struct msgtype {
	const char *name;
	const struct field *fields;
};

/* template_msg and anything unknown: the generic walker alone. */
static const struct msgtype msgtypes[] = {
    {"text", f_text},
    {"markdown", f_markdown},
    {"markdown_v2", f_markdown},
    {"image", f_image},
    {"voice", f_voice},
    {"video", f_video},
    {"file", f_file},
    {"textcard", f_textcard},
    {"news", f_news},
    {"mpnews", f_mpnews},
    {"miniprogram_notice", f_mp_notice},
    {"template_card", f_card},
    {"interactive_taskcard", f_taskcard},
    {"taskcard", f_taskcard},
    {"msgmenu", f_msgmenu},
    {"location", f_location},
    {"link", f_link},
    {"miniprogram", f_miniprogram},
};

static const struct msgtype *
msgtype_find(const char *name)
{
	for (size_t i = 0; i < WW_NELEM(msgtypes); i++)
		if (strcmp(name, msgtypes[i].name) == 0)
			return &msgtypes[i];
	return NULL;
}

/* Add s to a recipient list unless already there. */
static int
recip_add(size_t *n, char ***arr, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i], s) == 0)
			return WW_OK;
	return record_add_str(n, arr, s);
}

static int
att_add(struct wdec *d, const char *media_id, const char *kind,
        Ww__Attachment **out)
{
	Ww__Attachment *att;
	int rc;

	rc = message_add_attachment(d->msg, &att);
	if (rc == WW_OK && media_id != NULL)
		rc = record_set_str(&att->media_id, media_id);
	if (rc == WW_OK && kind != NULL)
		rc = record_set_str(&att->kind, kind);
	if (out != NULL)
		*out = att;
	return rc;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * SHA-256 and size of the bytes that base64 text s encodes, without
 * materializing them.  Whitespace is skipped.  -1 when s is not base64.
 */
static int
b64_digest(const char *s, size_t n, uint8_t sha[32], uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t chunk[768];
	size_t fill = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0,
	    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	*size = 0;
	for (size_t i = 0; ok && i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (isspace((unsigned char)s[i]))
			continue;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (v < 0 || pad > 0) {
			ok = 0;
			break;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			chunk[fill++] = (uint8_t)(acc >> bits);
			(*size)++;
		}
		if (fill == sizeof(chunk)) {
			ok = EVP_DigestUpdate(ctx, chunk, fill);
			fill = 0;
		}
	}
	ok = ok && pad <= 2 && bits < 6 && EVP_DigestUpdate(ctx, chunk, fill) &&
	     EVP_DigestFinal_ex(ctx, sha, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int
dec_base64(struct wdec *d, json_t *j, const char *kind)
{
	Ww__Attachment *att;
	uint8_t sha[32];
	uint64_t size;
	int rc;

	if (!json_is_string(j))
		return dec_fail(d, "%s: expected a string, got %s",
		                dec_where(d), json_type_name(j));
	if (b64_digest(json_string_value(j), json_string_length(j), sha,
	               &size) != 0)
		return dec_fail(d, "%s: invalid base64", dec_where(d));
	rc = dec_take(d, j);
	if (rc == WW_OK)
		rc = att_add(d, NULL, kind, &att);
	if (rc == WW_OK) {
		att->size = size;
		rc = record_set_bytes(&att->sha256, sha, sizeof(sha));
	}
	return rc;
}

static int
dec_leaf(struct wdec *d, json_t *j, const struct field *f)
{
	int rc;

	switch (f->kind) {
	case F_TEXT:
		return dec_text(d, j);
	case F_BASE64:
		return dec_base64(d, j, f->att_kind);
	default:
		break;
	}
	if (!json_is_string(j))
		return dec_fail(d, "%s: expected a string, got %s",
		                dec_where(d), json_type_name(j));
	rc = dec_take(d, j);
	if (rc != WW_OK || json_string_length(j) == 0 || f->kind == F_SKIP)
		return rc;
	if (f->kind == F_MEDIA)
		return att_add(d, json_string_value(j), f->att_kind, NULL);
	if (strcmp(json_string_value(j), "@all") == 0) {
		d->msg->recipients->all = 1;
		return WW_OK;
	}
	return recip_add(&d->msg->recipients->n_mentioned,
	                 &d->msg->recipients->mentioned, json_string_value(j));
}

static int dec_spec(struct wdec *d, json_t *node, const char *spec, int req,
                    const struct field *f);

static int
dec_spec_child(struct wdec *d, json_t *child, const char *rest, int req,
               const struct field *f)
{
	if (rest == NULL)
		return dec_leaf(d, child, f);
	if (!json_is_object(child))
		return dec_fail(d, "%s: expected an object, got %s",
		                dec_where(d), json_type_name(child));
	return dec_spec(d, child, rest, req, f);
}

/* Follow spec ("a.b[].c") from node, handling each leaf it reaches. */
static int
dec_spec(struct wdec *d, json_t *node, const char *spec, int req,
         const struct field *f)
{
	size_t seglen = strcspn(spec, "."), plen, klen;
	const char *rest = spec[seglen] == '.' ? spec + seglen + 1 : NULL;
	int is_array = seglen > 2 && strncmp(spec + seglen - 2, "[]", 2) == 0;
	char key[64];
	json_t *child;
	int rc;

	klen = seglen - (is_array ? 2 : 0);
	if (klen >= sizeof(key)) /* the field maps' names are short */
		klen = sizeof(key) - 1;
	memcpy(key, spec, klen);
	key[klen] = '\0';
	child = dec_push(d, node, key, &plen, &rc);
	if (rc == WW_OK && child == NULL && req)
		rc = dec_fail(d, "%s: missing", dec_where(d));
	if (rc != WW_OK || child == NULL || json_is_null(child))
		goto out;
	if (!is_array) {
		rc = dec_spec_child(d, child, rest, req, f);
		goto out;
	}
	if (!json_is_array(child)) {
		rc = dec_fail(d, "%s: expected an array, got %s", dec_where(d),
		              json_type_name(child));
		goto out;
	}
	for (size_t i = 0; rc == WW_OK && i < json_array_size(child); i++) {
		size_t ilen = d->path.len;

		rc = wbuf_index(&d->path, i);
		if (rc == WW_OK)
			rc = dec_spec_child(d, json_array_get(child, i), rest,
			                    req, f);
		dec_pop(d, ilen);
	}
out:
	dec_pop(d, plen);
	return rc;
}

static int
dec_fields(struct wdec *d, json_t *obj, const struct field *fields)
{
	int rc = WW_OK;

	for (const struct field *f = fields; rc == WW_OK && f->path != NULL;
	     f++) {
		int req = f->path[0] == '!';

		rc = dec_spec(d, obj, f->path + req, req, f);
	}
	return rc;
}

/*
 * Decode the content object parent[name] of msgtype name.  required: a
 * known msgtype without its object is an error (WeCom refuses it too).
 */
static int
dec_content(struct wdec *d, json_t *parent, const char *name, int required)
{
	const struct msgtype *mt = msgtype_find(name);
	const char *key = name;
	json_t *obj;
	size_t plen;
	int rc;

	if (mt == NULL)
		return WW_OK; /* unknown: the generic walker scans it */
	/* WxJava sends interactive_taskcard under "taskcard". */
	if (json_object_get(parent, key) == NULL &&
	    strcmp(name, "interactive_taskcard") == 0)
		key = "taskcard";
	obj = dec_push(d, parent, key, &plen, &rc);
	if (rc != WW_OK)
		goto out;
	if (obj == NULL || json_is_null(obj)) {
		if (required)
			rc = dec_fail(d, "%s: missing for msgtype %s",
			              dec_where(d), name);
		goto out;
	}
	if (!json_is_object(obj)) {
		rc = dec_fail(d, "%s: expected an object, got %s", dec_where(d),
		              json_type_name(obj));
		goto out;
	}
	rc = dec_fields(d, obj, mt->fields);
out:
	dec_pop(d, plen);
	return rc;
}

/* ---- envelope helpers ---------------------------------------------------- */

/* Read the string field obj[name] (optional); wrong type is an error. */
static int
dec_str(struct wdec *d, json_t *obj, const char *name, const char **out)
{
	size_t plen;
	int rc;
	json_t *j = dec_push(d, obj, name, &plen, &rc);

	*out = NULL;
	if (rc == WW_OK && j != NULL && !json_is_null(j)) {
		if (!json_is_string(j))
			rc = dec_fail(d, "%s: expected a string, got %s",
			              dec_where(d), json_type_name(j));
		else
			rc = dec_take(d, j);
		if (rc == WW_OK)
			*out = json_string_value(j);
	}
	dec_pop(d, plen);
	return rc;
}

static int
dec_msgtype(struct wdec *d, json_t *obj, const char **out, int required)
{
	int rc = dec_str(d, obj, "msgtype", out);

	if (rc == WW_OK && *out == NULL && required)
		return dec_fail(d, "msgtype: missing");
	return rc;
}

static int
add_id(struct wdec *d, size_t *n, char ***arr, json_t *j, int allow_int)
{
	char num[32];

	if (json_is_integer(j) && allow_int) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(j));
		return recip_add(n, arr, num);
	}
	if (!json_is_string(j))
		return dec_fail(d, "%s: expected a string, got %s",
		                dec_where(d), json_type_name(j));
	if (dec_take(d, j) != WW_OK)
		return WW_ENOMEM;
	if (json_string_length(j) == 0)
		return WW_OK;
	if (strcmp(json_string_value(j), "@all") == 0) {
		d->msg->recipients->all = 1;
		return WW_OK;
	}
	return recip_add(n, arr, json_string_value(j));
}

/* A "|"-joined id list (message/send touser/toparty/totag, 2.1). */
static int
dec_pipe_ids(struct wdec *d, json_t *obj, const char *name, size_t *n,
             char ***arr, int allow_int)
{
	size_t plen;
	int rc;
	json_t *j = dec_push(d, obj, name, &plen, &rc);

	if (rc != WW_OK || j == NULL || json_is_null(j))
		goto out;
	if (!json_is_string(j)) {
		rc = add_id(d, n, arr, j, allow_int);
		goto out;
	}
	rc = dec_take(d, j);
	for (const char *p = json_string_value(j); rc == WW_OK && *p != '\0';) {
		size_t len = strcspn(p, "|");
		const char *b = p, *e = p + len;
		char *id;

		/* Old examples put spaces around ids: " PartyID1 | PartyID2 ".
		 */
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e - b == 4 && strncmp(b, "@all", 4) == 0) {
			d->msg->recipients->all = 1;
		} else if (e > b) {
			id = strndup(b, (size_t)(e - b));
			rc = id == NULL ? WW_ENOMEM : recip_add(n, arr, id);
			free(id);
		}
		p += len + (p[len] == '|');
	}
out:
	dec_pop(d, plen);
	return rc;
}

/* A JSON array of ids (linkedcorp, update_template_card, appchat...). */
static int
dec_id_array(struct wdec *d, json_t *obj, const char *name, size_t *n,
             char ***arr, int allow_int)
{
	size_t plen;
	int rc;
	json_t *j = dec_push(d, obj, name, &plen, &rc);

	if (rc != WW_OK || j == NULL || json_is_null(j))
		goto out;
	if (!json_is_array(j)) {
		rc = dec_fail(d, "%s: expected an array, got %s", dec_where(d),
		              json_type_name(j));
		goto out;
	}
	for (size_t i = 0; rc == WW_OK && i < json_array_size(j); i++) {
		size_t ilen = d->path.len;

		rc = wbuf_index(&d->path, i);
		if (rc == WW_OK)
			rc = add_id(d, n, arr, json_array_get(j, i), allow_int);
		dec_pop(d, ilen);
	}
out:
	dec_pop(d, plen);
	return rc;
}

/* A single id string into a string field (chatid, owner...). */
static int
dec_id_field(struct wdec *d, json_t *obj, const char *name, char **field)
{
	const char *s;
	int rc = dec_str(d, obj, name, &s);

	if (rc == WW_OK && s != NULL && *s != '\0')
		rc = record_set_str(field, s);
	return rc;
}

/* toall / atall: 0/1 or a boolean. */
static int
dec_all_flag(struct wdec *d, json_t *obj, const char *name)
{
	size_t plen;
	int rc;
	json_t *j = dec_push(d, obj, name, &plen, &rc);

	if (rc == WW_OK && j != NULL && !json_is_null(j)) {
		if (json_is_integer(j) || json_is_boolean(j)) {
			if (json_is_true(j) ||
			    (json_is_integer(j) && json_integer_value(j) != 0))
				d->msg->recipients->all = 1;
		} else {
			rc = dec_fail(d, "%s: expected 0 or 1, got %s",
			              dec_where(d), json_type_name(j));
		}
	}
	dec_pop(d, plen);
	return rc;
}

/* agentid: an integer (some SDKs send a digit string). */
static int
dec_agentid(struct wdec *d, json_t *obj)
{
	char sender[40];
	long long v = 0;
	size_t plen;
	int rc;
	json_t *j = dec_push(d, obj, "agentid", &plen, &rc);

	if (rc != WW_OK || j == NULL || json_is_null(j))
		goto out;
	if (json_is_integer(j)) {
		v = json_integer_value(j);
	} else if (json_is_string(j) && json_string_length(j) > 0 &&
	           json_string_length(j) < 19 &&
	           strspn(json_string_value(j), "0123456789") ==
	               json_string_length(j)) {
		v = strtoll(json_string_value(j), NULL, 10);
		rc = dec_take(d, j);
	} else {
		rc = dec_fail(d, "%s: expected an integer, got %s",
		              dec_where(d), json_type_name(j));
		goto out;
	}
	d->msg->agent_id = v;
	snprintf(sender, sizeof(sender), "agent:%lld", v);
	if (rc == WW_OK && d->msg->sender[0] == '\0')
		rc = record_set_str(&d->msg->sender, sender);
out:
	dec_pop(d, plen);
	return rc;
}

static int
dec_set_msgtype(struct wdec *d, const char *mt)
{
	if (mt == NULL || d->msg->msgtype[0] != '\0')
		return WW_OK;
	return record_set_str(&d->msg->msgtype, mt);
}

/* msgtype + its object: the shape shared by every "send" (2.1, 2.3-2.8). */
static int
dec_typed(struct wdec *d)
{
	const char *mt;
	int rc = dec_msgtype(d, d->root, &mt, 1);

	if (rc == WW_OK)
		rc = dec_set_msgtype(d, mt);
	if (rc == WW_OK)
		rc = dec_content(d, d->root, mt, 1);
	return rc;
}

/* ---- per-endpoint decoders ---------------------------------------------- */

static int
dec_app_send(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	int rc;

	rc = dec_pipe_ids(d, d->root, "touser", &r->n_users, &r->users, 0);
	if (rc == WW_OK)
		rc = dec_pipe_ids(d, d->root, "toparty", &r->n_parties,
		                  &r->parties, 1);
	if (rc == WW_OK)
		rc = dec_pipe_ids(d, d->root, "totag", &r->n_tags, &r->tags, 1);
	if (rc == WW_OK)
		rc = dec_agentid(d, d->root);
	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

static int
dec_update_card(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	static const struct field replace[] = {T("button.replace_name"), END};
	int rc, card = json_object_get(d->root, "template_card") != NULL;

	rc = dec_id_array(d, d->root, "userids", &r->n_users, &r->users, 0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "partyids", &r->n_parties,
		                  &r->parties, 1);
	if (rc == WW_OK)
		rc =
		    dec_id_array(d, d->root, "tagids", &r->n_tags, &r->tags, 1);
	if (rc == WW_OK)
		rc = dec_all_flag(d, d->root, "atall");
	if (rc == WW_OK)
		rc = dec_agentid(d, d->root);
	if (rc == WW_OK)
		rc = dec_set_msgtype(d, card ? "template_card" : "button");
	if (rc == WW_OK && card)
		rc = dec_content(d, d->root, "template_card", 1);
	if (rc == WW_OK)
		rc = dec_fields(d, d->root, replace);
	return rc;
}

/* appchat/create and appchat/update (2.3): members and the group name. */
static int
dec_appchat_create(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	static const struct field name[] = {T("name"), END};
	int rc;

	rc = dec_id_field(d, d->root, "chatid", &r->chat_id);
	if (rc == WW_OK)
		rc = dec_pipe_ids(d, d->root, "owner", &r->n_users, &r->users,
		                  0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "userlist", &r->n_users,
		                  &r->users, 0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "add_user_list", &r->n_users,
		                  &r->users, 0);
	if (rc == WW_OK) {
		/* Removed members are not recipients; still ids, not text. */
		size_t n = 0;
		char **gone = NULL;

		rc = dec_id_array(d, d->root, "del_user_list", &n, &gone, 0);
		for (size_t i = 0; i < n; i++)
			free(gone[i]);
		free(gone);
	}
	if (rc == WW_OK)
		rc = dec_fields(d, d->root, name);
	return rc;
}

static int
dec_appchat_send(struct wdec *d)
{
	int rc =
	    dec_id_field(d, d->root, "chatid", &d->msg->recipients->chat_id);

	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

static int
dec_linkedcorp(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	int rc;

	rc = dec_id_array(d, d->root, "touser", &r->n_users, &r->users, 0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "toparty", &r->n_parties,
		                  &r->parties, 1);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "totag", &r->n_tags, &r->tags, 1);
	if (rc == WW_OK)
		rc = dec_all_flag(d, d->root, "toall");
	if (rc == WW_OK)
		rc = dec_agentid(d, d->root);
	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

/* School notices (2.5): every recipient is an external party. */
static int
dec_school(struct wdec *d)
{
	static const char *const ext[] = {
	    "to_external_user", "to_parent_userid", "to_student_userid"};
	Ww__Recipients *r = d->msg->recipients;
	int rc = WW_OK;

	for (size_t i = 0; rc == WW_OK && i < WW_NELEM(ext); i++)
		rc = dec_id_array(d, d->root, ext[i], &r->n_external_users,
		                  &r->external_users, 0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "to_party", &r->n_parties,
		                  &r->parties, 1);
	if (rc == WW_OK)
		rc = dec_all_flag(d, d->root, "toall");
	if (rc == WW_OK)
		rc = dec_agentid(d, d->root);
	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

/* attachments[]: {msgtype, <msgtype>{...}} each (2.6). */
static int
dec_attachments(struct wdec *d)
{
	size_t plen, ilen;
	const char *mt;
	int rc;
	json_t *a = dec_push(d, d->root, "attachments", &plen, &rc);

	if (rc != WW_OK || a == NULL || json_is_null(a))
		goto out;
	if (!json_is_array(a)) {
		rc = dec_fail(d, "%s: expected an array, got %s", dec_where(d),
		              json_type_name(a));
		goto out;
	}
	for (size_t i = 0; rc == WW_OK && i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);

		ilen = d->path.len;
		rc = wbuf_index(&d->path, i);
		if (rc == WW_OK && !json_is_object(e))
			rc = dec_fail(d, "%s: expected an object, got %s",
			              dec_where(d), json_type_name(e));
		if (rc == WW_OK)
			rc = dec_msgtype(d, e, &mt, 1);
		if (rc == WW_OK)
			rc = dec_set_msgtype(d, mt);
		if (rc == WW_OK)
			rc = dec_content(d, e, mt, 1);
		dec_pop(d, ilen);
	}
out:
	dec_pop(d, plen);
	return rc;
}

/* text.content (optional) then attachments[]. */
static int
dec_text_and_attachments(struct wdec *d)
{
	int rc = WW_OK;

	if (json_object_get(d->root, "text") != NULL) {
		rc = dec_content(d, d->root, "text", 1);
		if (rc == WW_OK)
			rc = dec_set_msgtype(d, "text");
	}
	if (rc == WW_OK)
		rc = dec_attachments(d);
	return rc;
}

static int
dec_msg_template(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	const char *sender, *chat_type;
	int rc;

	rc = dec_id_array(d, d->root, "external_userid", &r->n_external_users,
	                  &r->external_users, 0);
	if (rc == WW_OK)
		rc = dec_id_array(d, d->root, "chat_id_list", &r->n_chat_ids,
		                  &r->chat_ids, 0);
	if (rc == WW_OK)
		rc = dec_str(d, d->root, "chat_type", &chat_type);
	if (rc == WW_OK)
		rc = dec_str(d, d->root, "sender", &sender);
	if (rc == WW_OK && sender != NULL)
		rc = record_set_str(&d->msg->sender, sender);
	if (rc == WW_OK &&
	    json_is_object(json_object_get(d->root, "tag_filter"))) {
		json_t *tf = json_object_get(d->root, "tag_filter");
		json_t *gl = json_object_get(tf, "group_list");
		size_t plen = d->path.len;

		rc = wbuf_key(&d->path, "tag_filter");
		for (size_t i = 0; rc == WW_OK && json_is_array(gl) &&
		                   i < json_array_size(gl);
		     i++) {
			size_t glen = d->path.len;

			rc = wbuf_key(&d->path, "group_list");
			if (rc == WW_OK)
				rc = wbuf_index(&d->path, i);
			if (rc == WW_OK &&
			    json_is_object(json_array_get(gl, i)))
				rc = dec_id_array(d, json_array_get(gl, i),
				                  "tag_list", &r->n_tags,
				                  &r->tags, 0);
			dec_pop(d, glen);
		}
		dec_pop(d, plen);
	}
	if (rc == WW_OK)
		rc = dec_text_and_attachments(d);
	return rc;
}

static int
dec_welcome(struct wdec *d)
{
	return dec_text_and_attachments(d);
}

/* Group welcome templates (2.6): optional objects named by their type. */
static int
dec_group_welcome(struct wdec *d)
{
	static const char *const parts[] = {"text",        "image", "link",
	                                    "miniprogram", "file",  "video"};
	int rc = dec_agentid(d, d->root);

	for (size_t i = 0; rc == WW_OK && i < WW_NELEM(parts); i++) {
		if (json_object_get(d->root, parts[i]) == NULL)
			continue;
		rc = dec_content(d, d->root, parts[i], 1);
		if (rc == WW_OK)
			rc = dec_set_msgtype(d, parts[i]);
	}
	return rc;
}

static int
dec_moment(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	json_t *vr = json_object_get(d->root, "visible_range");
	json_t *sl = json_object_get(vr, "sender_list");
	json_t *el = json_object_get(vr, "external_contact_list");
	size_t plen = d->path.len, slen;
	int rc;

	rc = wbuf_key(&d->path, "visible_range");
	slen = d->path.len;
	if (rc == WW_OK && json_is_object(sl)) {
		rc = wbuf_key(&d->path, "sender_list");
		if (rc == WW_OK)
			rc = dec_id_array(d, sl, "user_list", &r->n_users,
			                  &r->users, 0);
		if (rc == WW_OK)
			rc = dec_id_array(d, sl, "department_list",
			                  &r->n_parties, &r->parties, 1);
		dec_pop(d, slen);
	}
	if (rc == WW_OK && json_is_object(el)) {
		rc = wbuf_key(&d->path, "external_contact_list");
		if (rc == WW_OK)
			rc = dec_id_array(d, el, "tag_list", &r->n_tags,
			                  &r->tags, 0);
	}
	dec_pop(d, plen);
	if (rc == WW_OK)
		rc = dec_text_and_attachments(d);
	return rc;
}

static int
dec_kf_send(struct wdec *d)
{
	Ww__Recipients *r = d->msg->recipients;
	const char *kf;
	int rc;

	rc = dec_pipe_ids(d, d->root, "touser", &r->n_external_users,
	                  &r->external_users, 0);
	if (rc == WW_OK)
		rc = dec_str(d, d->root, "open_kfid", &kf);
	if (rc == WW_OK && kf != NULL && *kf != '\0') {
		rc = record_add_str(&r->n_kf_ids, &r->kf_ids, kf);
		if (rc == WW_OK)
			rc = record_set_str(&d->msg->sender, kf);
	}
	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

static int
dec_kf_event(struct wdec *d)
{
	return dec_typed(d);
}

/* Group robot (2.8): the key (in the query) is the sender. */
static int
dec_webhook(struct wdec *d)
{
	int rc = WW_OK;

	if (d->msg->token_digest[0] != '\0')
		rc = record_set_str(&d->msg->sender, d->msg->token_digest);
	if (rc == WW_OK)
		rc = dec_typed(d);
	return rc;
}

/* exmail/app/compose_send ([U] shape): to/cc/bcc, subject, content. */
static int
dec_exmail(struct wdec *d)
{
	static const char *const heads[] = {"to", "cc", "bcc"};
	Ww__Recipients *r = d->msg->recipients;
	static const struct field f[] = {
	    T("subject"),
	    T("content"),
	    T("attachment_list[].file_name"),
	    {"attachment_list[].content", F_BASE64, "file"},
	    END};
	const char *ct;
	int rc = WW_OK;

	for (size_t i = 0; rc == WW_OK && i < WW_NELEM(heads); i++) {
		json_t *h = json_object_get(d->root, heads[i]);
		size_t plen = d->path.len;

		if (!json_is_object(h))
			continue;
		rc = wbuf_key(&d->path, heads[i]);
		if (rc == WW_OK)
			rc = dec_id_array(d, h, "userids", &r->n_users,
			                  &r->users, 0);
		if (rc == WW_OK)
			rc = dec_id_array(d, h, "emails", &r->n_external_users,
			                  &r->external_users, 0);
		dec_pop(d, plen);
	}
	if (rc == WW_OK)
		rc = dec_str(d, d->root, "content_type", &ct);
	if (rc == WW_OK)
		rc = dec_set_msgtype(d, "mail");
	if (rc == WW_OK)
		rc = dec_fields(d, d->root, f);
	return rc;
}

/* ---- the generic walker (2.0 "design advice for DLP") ------------------- */

/* Opaque identifiers, enums and keys: never human text. */
static const char *const opaque_keys[] = {
    "media_id",    "thumb_media_id", "pic_media_id", "task_id", "msgid",
    "agentid",     "appid",          "question_key", "id",      "selected_id",
    "template_id", "msgtype",        "card_type",    "base64",  "md5",
    "jobid",       "cursor",         "type",         "color",   NULL,
};

static int
walk(struct wdec *d, json_t *node, int depth)
{
	const char *k;
	json_t *v;
	size_t plen = d->path.len;
	int rc = WW_OK;

	if (depth > WECOM_MAX_JSON_DEPTH)
		return dec_fail(d, "%s: nested deeper than %d", dec_where(d),
		                WECOM_MAX_JSON_DEPTH);
	if (json_is_string(node))
		return emit_text(d, node);
	if (json_is_object(node)) {
		json_object_foreach(node, k, v)
		{
			/* "" would make two nodes share one path (redaction).
			 */
			if (*k == '\0')
				return dec_fail(d, "%s: empty object key",
				                dec_where(d));
			if (name_in(k, opaque_keys) &&
			    !ptrset_has(&d->force, v))
				continue;
			rc = wbuf_key(&d->path, k);
			if (rc == WW_OK)
				rc = walk(d, v, depth + 1);
			dec_pop(d, plen);
			if (rc != WW_OK)
				break;
		}
	} else if (json_is_array(node)) {
		for (size_t i = 0; rc == WW_OK && i < json_array_size(node);
		     i++) {
			rc = wbuf_index(&d->path, i);
			if (rc == WW_OK)
				rc =
				    walk(d, json_array_get(node, i), depth + 1);
			dec_pop(d, plen);
		}
	}
	return rc;
}

/* Replace every body secret by its digest (1.4); marks them taken. */
static int
scrub_tree(const struct secret *key, json_t *node, const char *const *names,
           struct ptrset *taken, int *changed, int depth)
{
	char digest[SECRET_DIGEST_LEN];
	const char *k;
	json_t *v;
	int rc = WW_OK;

	if (depth > WECOM_MAX_JSON_DEPTH)
		return WW_EPARSE;
	if (json_is_array(node))
		for (size_t i = 0; rc == WW_OK && i < json_array_size(node);
		     i++)
			rc = scrub_tree(key, json_array_get(node, i), names,
			                taken, changed, depth + 1);
	if (!json_is_object(node))
		return rc;
	json_object_foreach(node, k, v)
	{
		/* "" hides nothing (the query scrubber skips it likewise) */
		if (!name_in(k, names) || json_is_null(v) ||
		    (json_is_string(v) && json_string_length(v) == 0)) {
			rc = scrub_tree(key, v, names, taken, changed,
			                depth + 1);
		} else if (json_is_string(v)) {
			secret_digest(key, json_string_value(v),
			              json_string_length(v), digest);
			rc =
			    json_string_set(v, digest) == 0 ? WW_OK : WW_ENOMEM;
			*changed = 1;
		} else {
			/* Not a string: digest its serialized form instead. */
			char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
			                            JSON_ENCODE_ANY);

			if (s == NULL)
				return WW_ENOMEM;
			secret_digest(key, s, strlen(s), digest);
			arena_json_free(s); /* jansson's allocator made it */
			v = json_string(digest);
			if (v == NULL || json_object_set_new(node, k, v) != 0)
				return WW_ENOMEM;
			*changed = 1;
		}
		if (rc == WW_OK && taken != NULL && name_in(k, names))
			rc = ptrset_add(taken, v);
		if (rc != WW_OK)
			break;
	}
	return rc;
}

/* ---- wecom_decode ------------------------------------------------------- */

static int dump_alloc(const json_t *root, uint8_t **out, size_t *outlen);

/*
 * Nesting depth of a JSON text, ignoring brackets inside strings: checked
 * before parsing, since jansson's own limit (JSON_PARSER_MAX_DEPTH) is
 * compiled in at 2048, so a hostile body is refused before it is parsed
 * at all.  Strings, most of a message body, are skipped with memchr:
 * their closing quote is the first one after an even run of backslashes.
 */
static int
json_depth_ok(const uint8_t *b, size_t len, int max)
{
	const uint8_t *p = b, *end = b + len, *q;
	int depth = 0;

	while (p < end) {
		uint8_t c = *p++;

		if (c == '"') {
			for (;;) {
				size_t bs = 0;

				/* unterminated: jansson reports it */
				q = memchr(p, '"', (size_t)(end - p));
				if (q == NULL)
					return 1;
				while (q - bs > p &&
				       q[-1 - (ptrdiff_t)bs] == '\\')
					bs++;
				p = q + 1;
				if (bs % 2 == 0)
					break;
			}
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

static int
json_parse(const uint8_t *body, size_t len, json_t **out, char *err,
           size_t errlen)
{
	json_error_t jerr;

	*out = NULL;
	if (len == 0) {
		return ww_fail(WW_EPARSE, err, errlen, "empty body");
	}
	if (len > WECOM_MAX_BODY) {
		return ww_fail(WW_EPARSE, err, errlen,
		               "body of %zu bytes exceeds %u", len,
		               WECOM_MAX_BODY);
	}
	if (!json_depth_ok(body, len, WECOM_MAX_JSON_DEPTH)) {
		return ww_fail(WW_EPARSE, err, errlen,
		               "JSON nested deeper than %d",
		               WECOM_MAX_JSON_DEPTH);
	}
	*out =
	    json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return WW_ENOMEM;
	if (*out == NULL) {
		return ww_fail(WW_EPARSE, err, errlen,
		               "invalid JSON at line %d column %d: %s",
		               jerr.line, jerr.column, jerr.text);
	}
	if (!json_is_object(*out)) {
		(void)ww_fail(0, err, errlen,
		              "body is a JSON %s, not an object",
		              json_type_name(*out));
		json_decref(*out);
		*out = NULL;
		return WW_EPARSE;
	}
	return WW_OK;
}

/* Identity from the query: token digests, gettoken's corpid/corpsecret. */
static int
dec_query(const struct secret *key, const char *query, Ww__Message *msg,
          enum wecom_class cls)
{
	static const char *const bearers[] = {"access_token",
	                                      "suite_access_token",
	                                      "provider_access_token", "key"};
	char *corpid = NULL;
	int found = 0, rc = WW_OK;

	if (query == NULL)
		return WW_OK;
	for (size_t i = 0; rc == WW_OK && !found && i < WW_NELEM(bearers); i++)
		rc = query_digest(key, query, bearers[i], &msg->token_digest,
		                  &found);
	if (rc != WW_OK || cls != WECOM_GETTOKEN)
		return rc;
	rc = query_digest(key, query, "corpsecret", &msg->app, NULL);
	if (rc == WW_OK)
		rc = query_get(query, "corpid", &corpid, NULL);
	if (rc == WW_OK && corpid != NULL)
		rc = record_set_str(&msg->corp_id, corpid);
	free(corpid);
	return rc;
}

/* Store the body: original bytes, or the scrubbed re-serialization. */
static int
dec_store_body(struct wdec *d, const uint8_t *body, size_t len)
{
	uint8_t *s;
	size_t n;

	if (!d->scrubbed)
		return record_set_bytes(&d->msg->body, body, len);
	/* dump_alloc's buffer becomes the field (malloc'ed, as protobuf-c
	   frees it): no second copy */
	if (dump_alloc(d->root, &s, &n) != WW_OK)
		return WW_ENOMEM;
	free(d->msg->body.data);
	d->msg->body.data = s;
	d->msg->body.len = n;
	return WW_OK;
}

/* Decode a parsed body into d->msg.  WW_EPARSE leaves the reason. */
static int
dec_body(struct wdec *d, const struct wecom_endpoint *e, int generic)
{
	int rc;

	rc = scrub_tree(d->key, d->root, body_secrets, &d->taken, &d->scrubbed,
	                0);
	if (rc == WW_EPARSE)
		return dec_fail(d, "JSON nested deeper than %d",
		                WECOM_MAX_JSON_DEPTH);
	d->scrub_ok = rc == WW_OK;
	if (rc == WW_OK && e != NULL && e->decode != NULL)
		rc = e->decode(d);
	if (rc == WW_OK && generic) {
		const char *mt;

		/* An unknown msgtype-bearing body still names its type. */
		if (json_is_string(json_object_get(d->root, "msgtype")) &&
		    d->msg->msgtype[0] == '\0') {
			mt = json_string_value(
			    json_object_get(d->root, "msgtype"));
			rc = record_set_str(&d->msg->msgtype, mt);
		}
		if (rc == WW_OK) {
			wbuf_cut(&d->path, 0);
			rc = walk(d, d->root, 0);
		}
	}
	return rc;
}

static int
dec_run(struct wdec *d, const uint8_t *body, size_t len, enum wecom_class cls,
        const struct wecom_endpoint *e)
{
	int rc, generic;

	if (cls == WECOM_UPLOAD || (len == 0 && cls != WECOM_MESSAGE))
		return WW_OK;
	rc = json_parse(body, len, &d->root, d->err, d->errlen);
	if (rc != WW_OK)
		/* Bodies of non-message endpoints need not be JSON. */
		return cls == WECOM_MESSAGE || rc == WW_ENOMEM ? rc : WW_OK;
	/* Unknown endpoints with a msgtype are scanned like messages. */
	generic =
	    cls == WECOM_MESSAGE || json_object_get(d->root, "msgtype") != NULL;
	rc = dec_body(d, e, generic);
	/* A body is stored only once every secret in it is replaced. */
	if ((rc == WW_OK || rc == WW_EPARSE) && d->scrub_ok) {
		int src = dec_store_body(d, body, len);

		if (src != WW_OK)
			rc = src;
	}
	if (rc == WW_EPARSE && cls != WECOM_MESSAGE && !generic)
		rc = WW_OK;
	return rc;
}

int
wecom_decode(const struct secret *key, const char *path, const char *query,
             const uint8_t *body, size_t len, Ww__Message **out, char *err,
             size_t errlen)
{
	char why[256] = "";
	struct wdec d = {key, NULL, NULL,        {0}, {0},
	                 {0}, why,  sizeof(why), 0,   0};
	const struct wecom_endpoint *e = NULL;
	enum wecom_class cls = WECOM_NOT_API;
	struct arena arena;
	char *ep = NULL;
	int rc, unsafe;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	d.msg = message_new();
	if (d.msg == NULL)
		return WW_ENOMEM;
	d.msg->direction = WW__DIRECTION__OUTBOUND;
	rc = endpoint_normalize(path, &ep, &unsafe);
	if (rc == WW_ENOTFOUND)
		rc = record_set_str(&d.msg->endpoint, path);
	else if (rc == WW_OK)
		rc = record_set_str(&d.msg->endpoint, ep);
	if (rc == WW_OK && ep != NULL) {
		e = unsafe ? NULL : endpoint_find(ep);
		cls = endpoint_class(endpoint_find(ep), unsafe);
	}
	if (rc == WW_OK)
		rc = dec_query(key, query, d.msg, cls);
	arena_begin(&arena);
	if (rc == WW_OK)
		rc = dec_run(&d, body, len, cls, e);
	arena_decref(&arena, d.root);
	if (arena_end(&arena) != WW_OK)
		rc = WW_ENOMEM;
	if (rc == WW_EPARSE) {
		(void)ww_fail(0, err, errlen, "%s", why);
		if (record_set_str(&d.msg->decode_error, why) != WW_OK)
			rc = WW_ENOMEM;
	}
	free(ep);
	free(d.path.s);
	free(d.taken.slot);
	free(d.force.slot);
	if (rc == WW_OK || rc == WW_EPARSE)
		*out = d.msg;
	else
		message_free(d.msg);
	return rc;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int
utf8_valid(const char *s)
{
	size_t n = strlen(s), k;

	for (; n > 0; s += k, n -= k)
		if ((k = utf8_seq((const unsigned char *)s, n)) == 0)
			return 0;
	return 1;
}

/* ---- redaction ---------------------------------------------------------- */

/*
 * The node at path (the syntax of wecom_decode's text paths) in root, or
 * NULL.  Keys are unescaped into a scratch buffer.
 */
static json_t *
path_resolve(json_t *root, const char *path, int *oom)
{
	struct wbuf key = {0};
	const char *p = path;
	json_t *cur = root;

	while (cur != NULL) {
		wbuf_cut(&key, 0);
		if (wbuf_put(&key, "", 0) != WW_OK)
			goto nomem;
		while (*p != '\0' && *p != '.' && *p != '[') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (wbuf_put(&key, p++, 1) != WW_OK)
				goto nomem;
		}
		cur = json_is_object(cur) ? json_object_get(cur, key.s) : NULL;
		while (cur != NULL && *p == '[') {
			char *end;
			unsigned long long i = strtoull(p + 1, &end, 10);

			if (end == p + 1 || *end != ']' || !json_is_array(cur))
				cur = NULL;
			else
				cur = json_array_get(cur, (size_t)i);
			p = end + 1;
		}
		if (*p == '\0')
			break;
		if (*p++ != '.')
			cur = NULL;
	}
	free(key.s);
	return cur;
nomem:
	*oom = 1;
	free(key.s);
	return NULL;
}

static int
dump_alloc(const json_t *root, uint8_t **out, size_t *outlen)
{
	/* Raw UTF-8: no JSON_ENSURE_ASCII, so no \u escapes (errcode 40033). */
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	size_t n = json_dumpb(root, NULL, 0, flags);

	*out = NULL;
	*outlen = 0;
	if (n == 0 || (*out = malloc(n)) == NULL)
		return WW_ENOMEM;
	*outlen = json_dumpb(root, (char *)*out, n, flags);
	return WW_OK;
}

int
wecom_redact_body(const uint8_t *body, size_t len, const Ww__Message *msg,
                  char *const *redacted, size_t n, uint8_t **out,
                  size_t *outlen)
{
	json_t *root = NULL, *node;
	struct arena arena;
	int oom = 0, rc;

	*out = NULL;
	*outlen = 0;
	if (n != msg->n_texts)
		return WW_EINVAL;
	arena_begin(&arena);
	rc = json_parse(body, len, &root, NULL, 0);
	for (size_t i = 0; rc == WW_OK && i < n; i++) {
		if (redacted[i] == NULL)
			continue;
		node = path_resolve(root, msg->texts[i]->path, &oom);
		/* The body must be the one the message was decoded from. */
		if (oom)
			rc = WW_ENOMEM;
		else if (!json_is_string(node) ||
		         strcmp(json_string_value(node), msg->texts[i]->text) !=
		             0)
			rc = WW_EPARSE;
		else if (!utf8_valid(redacted[i]))
			rc = WW_EPARSE;
		else if (json_string_set(node, redacted[i]) != 0)
			rc = WW_ENOMEM;
	}
	if (rc == WW_OK)
		rc = dump_alloc(root, out, outlen);
	arena_decref(&arena, root);
	if (arena_end(&arena) != WW_OK) {
		free(*out);
		*out = NULL;
		*outlen = 0;
		rc = WW_ENOMEM;
	}
	return rc;
}

/* ---- upstream answers (wecom-api.md 3.1) -------------------------------- */

/*
 * *out = a copy of root[name] when that is a string (non-empty if
 * nonempty) and *out is still NULL.
 */
static int
answer_str(json_t *root, const char *name, int nonempty, char **out)
{
	json_t *j = json_object_get(root, name);

	if (*out != NULL || !json_is_string(j) ||
	    (nonempty && json_string_length(j) == 0))
		return WW_OK;
	*out = strdup(json_string_value(j));
	return *out != NULL ? WW_OK : WW_ENOMEM;
}

/* The minted token of a token answer: the first name that is a string. */
static void
answer_token(const struct secret *key, json_t *root, struct wecom_answer *a)
{
	static const char *const names[] = {
	    "access_token", "suite_access_token", "provider_access_token"};
	json_t *j = NULL;

	for (size_t i = 0; i < WW_NELEM(names) && !json_is_string(j); i++)
		j = json_object_get(root, names[i]);
	if (!json_is_string(j) || json_string_length(j) == 0)
		return;
	secret_digest(key, json_string_value(j), json_string_length(j),
	              a->token_digest);
	a->has_token = 1;
	j = json_object_get(root, "expires_in");
	if (json_is_integer(j))
		a->expires_in = json_integer_value(j);
}

/* The journal's copy: the body itself unless a minted secret is in it. */
static int
answer_scrub(const struct secret *key, json_t *root, const uint8_t *body,
             size_t len, struct wecom_answer *a)
{
	int changed = 0, rc;

	rc = scrub_tree(key, root, answer_secrets, NULL, &changed, 0);
	if (rc == WW_OK && !changed) {
		a->journal = body;
		a->journal_len = len;
	} else if (rc == WW_OK) {
		rc = dump_alloc(root, &a->scrubbed, &a->journal_len);
		a->journal = a->scrubbed;
	}
	return rc;
}

/* Fill a from the parsed answer; the scrub runs last (it edits root). */
static int
answer_fill(const struct secret *key, enum wecom_class cls, json_t *root,
            const uint8_t *body, size_t len, struct wecom_answer *a)
{
	json_t *j = json_object_get(root, "errcode");
	int rc;

	if (json_is_integer(j))
		a->errcode = json_integer_value(j);
	rc = answer_str(root, "errmsg", 0, &a->errmsg);
	if (rc == WW_OK)
		rc = answer_str(root, "msgid", 0, &a->msgid);
	/* What an upload answer calls the file: media_id, or url (uploadimg) */
	if (rc == WW_OK && cls == WECOM_UPLOAD)
		rc = answer_str(root, "media_id", 1, &a->media_id);
	if (rc == WW_OK && cls == WECOM_UPLOAD)
		rc = answer_str(root, "url", 1, &a->media_id);
	if (rc == WW_OK && key != NULL && cls == WECOM_GETTOKEN)
		answer_token(key, root, a);
	if (rc == WW_OK && key != NULL)
		rc = answer_scrub(key, root, body, len, a);
	return rc;
}

int
wecom_read_answer(const struct secret *key, enum wecom_class cls,
                  const uint8_t *body, size_t len, struct wecom_answer *out)
{
	struct arena arena;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	arena_begin(&arena);
	rc = json_parse(body, len, &root, NULL, 0);
	if (rc == WW_OK)
		rc = answer_fill(key, cls, root, body, len, out);
	arena_decref(&arena, root);
	if (arena_end(&arena) != WW_OK)
		rc = WW_ENOMEM;
	if (rc != WW_OK)
		wecom_answer_cleanup(out);
	return rc;
}

void
wecom_answer_cleanup(struct wecom_answer *a)
{
	free(a->errmsg);
	free(a->msgid);
	free(a->media_id);
	free(a->scrubbed);
	memset(a, 0, sizeof(*a));
}

/* ---- uploads (wecom-api.md 2.10) ---------------------------------------- */

/*
 * s as valid UTF-8 (invalid bytes become U+FFFD): file names from
 * non-UTF-8 clients (GBK) are still recorded and scanned.
 */
static int
utf8_clean(const char *s, struct wbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	int rc = wbuf_put(out, "", 0);

	while (rc == WW_OK && n > 0) {
		size_t k = utf8_seq(p, n);

		if (k == 0) {
			rc = wbuf_put(out, "\xef\xbf\xbd", 3);
			k = 1;
		} else {
			rc = wbuf_put(out, (const char *)p, k);
		}
		p += k;
		n -= k;
	}
	return rc;
}

static int
upload_part(struct wdec *d, const struct multipart_part *part, const char *kind)
{
	struct wbuf name = {0};
	Ww__Attachment *att;
	uint8_t sha[32];
	int rc;

	if (EVP_Digest(part->data, part->len, sha, NULL, EVP_sha256(), NULL) !=
	    1)
		return WW_ENOMEM;
	rc = utf8_clean(part->filename != NULL ? part->filename : "", &name);
	if (rc == WW_OK)
		rc = att_add(d, NULL, kind, &att);
	if (rc == WW_OK) {
		att->size = part->len;
		rc = record_set_bytes(&att->sha256, sha, sizeof(sha));
	}
	if (rc == WW_OK)
		rc = record_set_str(&att->name, name.s);
	if (rc == WW_OK && part->content_type != NULL)
		rc = record_set_str(&att->content_type, part->content_type);
	wbuf_cut(&d->path, 0);
	if (rc == WW_OK)
		rc = wbuf_key(&d->path, part->name);
	if (rc == WW_OK)
		rc = wbuf_key(&d->path, "filename");
	if (rc == WW_OK && name.len > 0)
		rc = message_add_text(d->msg, d->path.s, name.s, name.len);
	free(name.s);
	return rc;
}

/* The attachment kind: ?type= (media/upload), ?media_type=, uploadimg. */
static int
upload_kind(const char *endpoint, const char *query, char **kind)
{
	int rc = WW_OK;

	*kind = NULL;
	if (strcasecmp(endpoint, "media/uploadimg") == 0)
		*kind = strdup("image");
	else if (query != NULL &&
	         (rc = query_get(query, "type", kind, NULL)) == WW_OK &&
	         *kind == NULL)
		rc = query_get(query, "media_type", kind, NULL);
	if (rc == WW_OK && *kind == NULL)
		*kind = strdup("file");
	return rc == WW_OK && *kind == NULL ? WW_ENOMEM : rc;
}

static int
upload_parts(struct wdec *d, const struct multipart *form, const char *kind)
{
	int rc = WW_OK, files = 0;

	for (size_t i = 0; rc == WW_OK && i < multipart_count(form); i++) {
		const struct multipart_part *part = multipart_get(form, i);

		/* Plain form fields are not delivered as files. */
		if (part->filename == NULL && strcmp(part->name, "media") != 0)
			continue;
		files++;
		rc = upload_part(d, part, kind);
	}
	if (rc == WW_OK && files == 0)
		rc = dec_fail(d, "upload holds no file part");
	return rc;
}

int
wecom_decode_upload(const struct secret *key, const char *path,
                    const char *query, const char *content_type,
                    const uint8_t *body, size_t len, Ww__Message **out,
                    char *err, size_t errlen)
{
	char why[256] = "", *kind = NULL;
	struct wdec d = {key, NULL, NULL,        {0}, {0},
	                 {0}, why,  sizeof(why), 0,   0};
	struct multipart *form = NULL;
	int rc;

	*out = NULL;
	(void)ww_fail(0, err, errlen, "%s", "");
	rc = wecom_decode(key, path, query, NULL, 0, &d.msg, why, sizeof(why));
	if (rc != WW_OK && rc != WW_EPARSE)
		return rc;
	rc = upload_kind(d.msg->endpoint, query, &kind);
	if (rc == WW_OK)
		rc = record_set_str(&d.msg->msgtype, kind);
	if (rc == WW_OK)
		rc = multipart_parse(content_type, body, len, &form, why,
		                     sizeof(why));
	if (rc == WW_ELIMIT)
		rc = WW_EPARSE;
	if (rc == WW_OK)
		rc = upload_parts(&d, form, kind);
	if (rc == WW_EPARSE) {
		(void)ww_fail(0, err, errlen, "%s", why);
		if (record_set_str(&d.msg->decode_error, why) != WW_OK)
			rc = WW_ENOMEM;
	}
	multipart_free(form);
	free(kind);
	free(d.path.s);
	if (rc == WW_OK || rc == WW_EPARSE)
		*out = d.msg;
	else
		message_free(d.msg);
	return rc;
}
