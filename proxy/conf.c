/*
 * conf.c: YAML configuration, table-driven.
 *
 * Each mapping of the file is described by a table of struct conf_key
 * rows: the key's name, its type, where the value lands (an offset into
 * the C structure of that mapping), bounds and an optional check.  One
 * walker parses every table, so a new key is one row plus one field; one
 * freer releases every table, so a new key never leaks.
 *
 * libyaml's document API gives nodes with marks (line numbers) but
 * resolves aliases silently, so a first pass over the event stream refuses
 * anchors and aliases (a config is written by hand; an alias there is a
 * mistake or a billion-laughs attempt).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "ww.h"
#include "log.h"
#include "proxy/conf.h"

#define CONF_MAX_ERRORS 20
#define CONF_MAX_FILE (1u << 20)

_Static_assert(sizeof(enum conf_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum conf_sync) == sizeof(int), "enum size");
_Static_assert(sizeof(enum conf_log_format) == sizeof(int), "enum size");

enum conf_type {
	CONF_T_STR,     /* char *; empty or null leaves the default */
	CONF_T_UINT,    /* unsigned, within [min, max] */
	CONF_T_U64,     /* uint64_t, within [min, max] */
	CONF_T_LONG,    /* long, within [lmin, lmax] */
	CONF_T_SIZE,    /* size_t: bytes, or with a KiB/MiB/GiB suffix */
	CONF_T_ENUM,    /* int: index into choices */
	CONF_T_BOOL,    /* int: 1 for "true", 0 for "false" */
	CONF_T_MAP,     /* an embedded structure described by sub */
	CONF_T_LIST,    /* array of structures described by sub */
	CONF_T_STRMAP,  /* "key: value" pairs into char *[] "key:value" */
	CONF_T_STRLIST, /* a list of scalars into a NULL-terminated char *[] */
};

#define CONF_REQUIRED 1u

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off; /* of the field in the mapping's structure */
	unsigned flags;
	unsigned long long min, max; /* CONF_T_UINT, U64, SIZE */
	long lmin, lmax;             /* CONF_T_LONG */
	const char *const *choices;  /* CONF_T_ENUM, NULL-terminated */
	const struct conf_key *sub;  /* CONF_T_MAP, LIST */
	size_t elem_size;            /* CONF_T_LIST */
	size_t count_off;            /* CONF_T_LIST, STRMAP: the size_t count */
	long where_off;              /* CONF_T_LIST: struct conf_where, or -1 */
	/* Extra check of a string: 0 or -1 with why filled in. */
	int (*check)(const char *v, char *why, size_t whylen);
};

struct conf_parse {
	const char *name;
	char *err;
	size_t errlen, errused;
	int nerr;
	int enomem;
};

static const char *const conf_modes[] = {"reverse", "explicit", "transparent",
                                         NULL};
static const char *const conf_syncs[] = {"full", "none", NULL};
static const char *const conf_formats[] = {"text", "json", NULL};
static const char *const conf_levels[] = {"error", "warn", "info", "debug",
                                          NULL};

static int conf_check_address(const char *v, char *why, size_t whylen);
static int conf_check_url(const char *v, char *why, size_t whylen);
static int conf_check_segment(const char *v, char *why, size_t whylen);
static int conf_check_id(const char *v, char *why, size_t whylen);

#define K_STR(s, f, fl, chk)                                                   \
	{                                                                      \
		.name = #f, .type = CONF_T_STR, .off = offsetof(s, f),         \
		.flags = fl, .check = chk                                      \
	}
#define K_UINT(s, f, lo, hi)                                                   \
	{                                                                      \
		.name = #f, .type = CONF_T_UINT, .off = offsetof(s, f),        \
		.min = lo, .max = hi                                           \
	}
#define K_SIZE(s, f, lo, hi)                                                   \
	{                                                                      \
		.name = #f, .type = CONF_T_SIZE, .off = offsetof(s, f),        \
		.min = lo, .max = hi                                           \
	}
#define K_ENUM(s, f, ch)                                                       \
	{                                                                      \
		.name = #f, .type = CONF_T_ENUM, .off = offsetof(s, f),        \
		.choices = ch                                                  \
	}
#define K_MAP(s, f, fl, t)                                                     \
	{                                                                      \
		.name = #f, .type = CONF_T_MAP, .off = offsetof(s, f),         \
		.flags = fl, .sub = t                                          \
	}
#define K_END                                                                  \
	{                                                                      \
		.name = NULL                                                   \
	}

static const struct conf_key conf_tls_keys[] = {
    K_STR(struct conf_tls, cert, CONF_REQUIRED, NULL),
    K_STR(struct conf_tls, key, CONF_REQUIRED, NULL),
    K_STR(struct conf_tls, chain, 0, NULL),
    K_END,
};

static const struct conf_key conf_listen_keys[] = {
    K_STR(struct conf_listen, address, CONF_REQUIRED, conf_check_address),
    K_ENUM(struct conf_listen, mode, conf_modes),
    K_MAP(struct conf_listen, tls, 0, conf_tls_keys),
    K_STR(struct conf_listen, auth_file, 0, NULL),
    K_STR(struct conf_listen, client_ca, 0, NULL),
    K_END,
};

static const struct conf_key conf_upstream_keys[] = {
    K_STR(struct conf_upstream, url, CONF_REQUIRED, conf_check_url),
    K_STR(struct conf_upstream, ca_file, 0, NULL),
    K_UINT(struct conf_upstream, timeout_ms, 1, 3600000),
    K_STR(struct conf_upstream, proxy, 0, NULL),
    {.name = "resolve",
     .type = CONF_T_STRMAP,
     .off = offsetof(struct conf_upstream, resolve),
     .count_off = offsetof(struct conf_upstream, n_resolve)},
    K_END,
};

static const struct conf_key conf_journal_keys[] = {
    K_STR(struct conf_journal, path, CONF_REQUIRED, NULL),
    K_ENUM(struct conf_journal, sync, conf_syncs),
    K_STR(struct conf_journal, segment, 0, conf_check_segment),
    {.name = "checkpoint_every",
     .type = CONF_T_U64,
     .off = offsetof(struct conf_journal, checkpoint_every),
     .min = 1,
     .max = 100000000},
    K_UINT(struct conf_journal, checkpoint_secs, 1, 86400),
    K_STR(struct conf_journal, checkpoint_file, 0, NULL),
    K_SIZE(struct conf_journal, max_blob_bytes, 0, 1ull << 30),
    K_UINT(struct conf_journal, commit_delay_us, 0, 100000),
    K_END,
};

static const struct conf_key conf_policy_keys[] = {
    {.name = "file", .type = CONF_T_STR, .off = 0, .flags = CONF_REQUIRED},
    K_END,
};

static const struct conf_key conf_admin_keys[] = {
    {.name = "address",
     .type = CONF_T_STR,
     .off = 0,
     .check = conf_check_address},
    K_END,
};

static const struct conf_key conf_limits_keys[] = {
    K_UINT(struct conf_limits, max_connections, 1, 1000000),
    K_SIZE(struct conf_limits, max_header_bytes, 1024, 1u << 20),
    K_SIZE(struct conf_limits, max_body_bytes, 1024, 1ull << 30),
    K_SIZE(struct conf_limits, max_upload_bytes, 1024, 1ull << 30),
    K_UINT(struct conf_limits, header_timeout_ms, 100, 3600000),
    K_UINT(struct conf_limits, body_timeout_ms, 100, 3600000),
    K_UINT(struct conf_limits, keepalive_timeout_ms, 100, 3600000),
    K_UINT(struct conf_limits, handshake_timeout_ms, 100, 3600000),
    K_END,
};

static const struct conf_key conf_refusal_keys[] = {
    {.name = "block_errcode",
     .type = CONF_T_LONG,
     .off = 0,
     .lmin = -2147483647L,
     .lmax = 2147483647L},
    K_END,
};

static const struct conf_key conf_log_keys[] = {
    K_ENUM(struct conf_log, level, conf_levels),
    K_ENUM(struct conf_log, format, conf_formats),
    K_STR(struct conf_log, access_log, 0, NULL),
    K_END,
};

static const struct conf_key conf_app_keys[] = {
    K_STR(struct conf_app, name, CONF_REQUIRED, conf_check_id),
    K_STR(struct conf_app, corp_id, CONF_REQUIRED, NULL),
    K_STR(struct conf_app, secret_file, 0, NULL),
    K_END,
};

static const char *const conf_fallbacks[] = {"refuse", "passthrough", NULL};

#define K_HOSTS                                                                \
	{                                                                      \
		.name = "hosts", .type = CONF_T_STRLIST,                       \
		.off = offsetof(struct conf_hostclass, hosts),                 \
		.count_off = offsetof(struct conf_hostclass, n_hosts)          \
	}

static const struct conf_key conf_intercept_keys[] = {
    K_MAP(struct conf_hostclass, ca, CONF_REQUIRED, conf_tls_keys),
    K_HOSTS,
    K_END,
};

static const struct conf_key conf_passthrough_keys[] = {
    K_HOSTS,
    K_END,
};

static const struct conf_key conf_transparent_keys[] = {
    K_ENUM(struct conf_modes, no_sni, conf_fallbacks),
    {.name = "tproxy",
     .type = CONF_T_BOOL,
     .off = offsetof(struct conf_modes, tproxy)},
    K_END,
};

static const char *const conf_cb_fails[] = {"refuse", "forward", NULL};
static int conf_check_path(const char *v, char *why, size_t whylen);
static int conf_check_forward(const char *v, char *why, size_t whylen);

static const struct conf_key conf_callback_route_keys[] = {
    K_STR(struct conf_callback_route, path, CONF_REQUIRED, conf_check_path),
    K_STR(struct conf_callback_route, forward_to, CONF_REQUIRED,
          conf_check_forward),
    K_STR(struct conf_callback_route, token_file, 0, NULL),
    K_STR(struct conf_callback_route, token_env, 0, NULL),
    K_STR(struct conf_callback_route, aes_key_file, 0, NULL),
    K_STR(struct conf_callback_route, aes_key_env, 0, NULL),
    K_STR(struct conf_callback_route, receive_id, 0, NULL),
    K_ENUM(struct conf_callback_route, on_bad_signature, conf_cb_fails),
    K_END,
};

static const struct conf_key conf_callback_keys[] = {
    K_UINT(struct conf_callback, max_skew, 1, 86400),
    K_ENUM(struct conf_callback, on_journal_failure, conf_cb_fails),
    K_END,
};

static const struct conf_key conf_root_keys[] = {
    K_STR(struct conf, gateway_id, 0, conf_check_id),
    K_UINT(struct conf, workers, 0, 1024),
    {.name = "listen",
     .type = CONF_T_LIST,
     .off = offsetof(struct conf, listen),
     .flags = CONF_REQUIRED,
     .sub = conf_listen_keys,
     .elem_size = sizeof(struct conf_listen),
     .count_off = offsetof(struct conf, n_listen),
     .where_off = offsetof(struct conf_listen, where)},
    K_MAP(struct conf, upstream, CONF_REQUIRED, conf_upstream_keys),
    K_MAP(struct conf, journal, CONF_REQUIRED, conf_journal_keys),
    K_MAP(struct conf, policy, CONF_REQUIRED, conf_policy_keys),
    K_MAP(struct conf, admin, 0, conf_admin_keys),
    K_MAP(struct conf, limits, 0, conf_limits_keys),
    K_MAP(struct conf, refusal, 0, conf_refusal_keys),
    K_UINT(struct conf, drain_timeout_ms, 0, 3600000),
    K_MAP(struct conf, log, 0, conf_log_keys),
    {.name = "apps",
     .type = CONF_T_LIST,
     .off = offsetof(struct conf, apps),
     .sub = conf_app_keys,
     .elem_size = sizeof(struct conf_app),
     .count_off = offsetof(struct conf, n_apps),
     .where_off = -1},
    {.name = "intercept",
     .type = CONF_T_MAP,
     .off = offsetof(struct conf, modes.intercept),
     .sub = conf_intercept_keys},
    {.name = "passthrough",
     .type = CONF_T_MAP,
     .off = offsetof(struct conf, modes.passthrough),
     .sub = conf_passthrough_keys},
    {.name = "default",
     .type = CONF_T_ENUM,
     .off = offsetof(struct conf, modes.fallback),
     .choices = conf_fallbacks},
    {.name = "transparent",
     .type = CONF_T_MAP,
     .off = offsetof(struct conf, modes),
     .sub = conf_transparent_keys},
    {.name = "callbacks",
     .type = CONF_T_LIST,
     .off = offsetof(struct conf, callbacks),
     .sub = conf_callback_route_keys,
     .elem_size = sizeof(struct conf_callback_route),
     .count_off = offsetof(struct conf, n_callbacks),
     .where_off = offsetof(struct conf_callback_route, where)},
    K_MAP(struct conf, callback, 0, conf_callback_keys),
    K_END,
};

/* Append one "file:line: key: message" line to the error text. */
static void __attribute__((format(printf, 4, 5)))
conf_error(struct conf_parse *p, int line, const char *kp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	p->nerr++;
	if (p->nerr > CONF_MAX_ERRORS || p->err == NULL || p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(p->err + p->errused, p->errlen - p->errused,
	             "%s%s:%d: %s%s%s", p->errused > 0 ? "\n" : "", p->name,
	             line, kp != NULL ? kp : "",
	             kp != NULL && *kp != '\0' ? ": " : "", msg);
	if (n > 0)
		p->errused += (size_t)n;
	if (p->errused >= p->errlen)
		p->errused = p->errlen - 1;
}

static int
conf_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static const char *
conf_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* The scalar's text (NUL-terminated by libyaml), or NULL for null. */
static const char *
conf_scalar(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0))
		return NULL;
	return v;
}

static int
conf_check_address(const char *v, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (conf_parse_address(v, &ss, &len) == WW_OK)
		return 0;
	snprintf(why, whylen,
	         "expected a numeric host:port such as 127.0.0.1:8443 or "
	         "[::1]:8443");
	return -1;
}

static int
conf_check_url(const char *v, char *why, size_t whylen)
{
	const char *host;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else {
		snprintf(why, whylen, "expected an https:// or http:// URL");
		return -1;
	}
	if (*host == '\0' || *host == '/' || *host == ':' ||
	    strpbrk(v, " \t\r\n?#@") != NULL) {
		snprintf(why, whylen,
		         "expected scheme://host[:port] with no query or user");
		return -1;
	}
	return 0;
}

static int
conf_check_segment(const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "month") == 0 || strcmp(v, "day") == 0 ||
	    strcmp(v, "none") == 0)
		return 0;
	snprintf(why, whylen, "expected month|day|none");
	return -1;
}

/* A callback route's exact path. */
static int
conf_check_path(const char *v, char *why, size_t whylen)
{
	if (v[0] == '/' && strpbrk(v, " \t\r\n?#%") == NULL)
		return 0;
	snprintf(why, whylen, "expected an absolute path with no query");
	return -1;
}

/* The internal receiver: scheme://host[:port] and an optional path. */
static int
conf_check_forward(const char *v, char *why, size_t whylen)
{
	const char *host = strncmp(v, "http://", 7) == 0    ? v + 7
	                   : strncmp(v, "https://", 8) == 0 ? v + 8
	                                                    : NULL;

	if (host != NULL && *host != '\0' && *host != '/' && *host != ':' &&
	    strpbrk(v, " \t\r\n?#@%") == NULL)
		return 0;
	snprintf(why, whylen, "expected http://host[:port][/path]");
	return -1;
}

/* Identifiers go into records and log lines: keep them plain. */
static int
conf_check_id(const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);

	if (n > 0 && n <= 64 &&
	    strspn(v, "abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789._-") == n)
		return 0;
	snprintf(why, whylen, "expected 1-64 characters of [A-Za-z0-9._-]");
	return -1;
}

static int
conf_replace_str(struct conf_parse *p, char **field, const char *v)
{
	char *s = strdup(v);

	if (s == NULL) {
		p->enomem = 1;
		return -1;
	}
	free(*field);
	*field = s;
	return 0;
}

static void
conf_set_str(struct conf_parse *p, const struct conf_key *k, yaml_node_t *n,
             void *field, const char *kp)
{
	const char *v = conf_scalar(n);
	char why[160];

	if (n->data.scalar.length !=
	    strlen((const char *)n->data.scalar.value)) {
		conf_error(p, conf_line(n), kp, "NUL byte in string");
		return;
	}
	if (v == NULL || *v == '\0') {
		if (k->flags & CONF_REQUIRED)
			conf_error(p, conf_line(n), kp, "must not be empty");
		free(*(char **)field);
		*(char **)field = NULL;
		return;
	}
	if (k->check != NULL && k->check(v, why, sizeof(why)) != 0) {
		conf_error(p, conf_line(n), kp, "%s, got '%s'", why, v);
		return;
	}
	conf_replace_str(p, field, v);
}

/* Parse an unsigned number with an optional binary-unit suffix. */
static int
conf_parse_number(const char *v, int sizes, unsigned long long *out)
{
	static const struct {
		const char *sfx;
		unsigned shift;
	} units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
	unsigned long long n;
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	for (size_t i = 0; i < WW_NELEM(units); i++) {
		if (strcmp(end, units[i].sfx) != 0 || (i > 0 && !sizes))
			continue;
		if (n > (ULLONG_MAX >> units[i].shift))
			return -1;
		*out = n << units[i].shift;
		return 0;
	}
	return -1;
}

static void
conf_set_number(struct conf_parse *p, const struct conf_key *k, yaml_node_t *n,
                void *field, const char *kp)
{
	const char *v = conf_scalar(n);
	unsigned long long u;
	int sizes = k->type == CONF_T_SIZE;

	if (v == NULL || conf_parse_number(v, sizes, &u) != 0) {
		conf_error(p, conf_line(n), kp, "expected %s, got '%s'",
		           sizes ? "a size in bytes (e.g. 16384 or 16KiB)"
		                 : "a non-negative integer",
		           v != NULL ? v : "null");
		return;
	}
	if (u < k->min || u > k->max) {
		conf_error(p, conf_line(n), kp,
		           "expected a value between %llu and %llu, got %llu",
		           k->min, k->max, u);
		return;
	}
	if (k->type == CONF_T_UINT)
		*(unsigned *)field = (unsigned)u;
	else if (k->type == CONF_T_U64)
		*(uint64_t *)field = u;
	else
		*(size_t *)field = (size_t)u;
}

static void
conf_set_long(struct conf_parse *p, const struct conf_key *k, yaml_node_t *n,
              void *field, const char *kp)
{
	const char *v = conf_scalar(n);
	char *end = NULL;
	long l = 0;

	errno = 0;
	if (v != NULL)
		l = strtol(v, &end, 10);
	if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 ||
	    l < k->lmin || l > k->lmax) {
		conf_error(p, conf_line(n), kp,
		           "expected an integer between %ld and %ld, got '%s'",
		           k->lmin, k->lmax, v != NULL ? v : "null");
		return;
	}
	*(long *)field = l;
}

static void
conf_set_enum(struct conf_parse *p, const struct conf_key *k, yaml_node_t *n,
              void *field, const char *kp)
{
	const char *v = conf_scalar(n);
	char choices[128] = "";

	for (int i = 0; v != NULL && k->choices[i] != NULL; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			*(int *)field = i;
			return;
		}
	}
	for (int i = 0; k->choices[i] != NULL; i++) {
		size_t used = strlen(choices);
		snprintf(choices + used, sizeof(choices) - used, "%s%s",
		         i > 0 ? "|" : "", k->choices[i]);
	}
	conf_error(p, conf_line(n), kp, "expected %s, got '%s'", choices,
	           v != NULL ? v : "null");
}

/* Only the two words YAML 1.2 and every reader agree on: "yes", "on"
   and the like are an error, not a guess. */
static void
conf_set_bool(struct conf_parse *p, yaml_node_t *n, void *field, const char *kp)
{
	const char *v = conf_scalar(n);

	if (v != NULL && strcmp(v, "true") == 0)
		*(int *)field = 1;
	else if (v != NULL && strcmp(v, "false") == 0)
		*(int *)field = 0;
	else
		conf_error(p, conf_line(n), kp, "expected true|false, got '%s'",
		           v != NULL ? v : "null");
}

static void conf_walk_map(struct conf_parse *p, yaml_document_t *doc,
                          yaml_node_t *n, const struct conf_key *table,
                          void *base, const char *kp);

static void
conf_set_list(struct conf_parse *p, yaml_document_t *doc,
              const struct conf_key *k, yaml_node_t *n, void *base,
              const char *kp)
{
	void **arr = (void **)((char *)base + k->off);
	size_t *count = (size_t *)((char *)base + k->count_off);
	yaml_node_item_t *it = n->data.sequence.items.start;
	size_t len = (size_t)(n->data.sequence.items.top - it);
	char ekp[256];

	if (len == 0) {
		if (k->flags & CONF_REQUIRED)
			conf_error(p, conf_line(n), kp,
			           "expected at least one entry");
		return;
	}
	*arr = calloc(len, k->elem_size);
	if (*arr == NULL) {
		p->enomem = 1;
		return;
	}
	*count = len;
	for (size_t i = 0; i < len; i++) {
		char *elem = (char *)*arr + i * k->elem_size;
		yaml_node_t *e = yaml_document_get_node(doc, it[i]);

		snprintf(ekp, sizeof(ekp), "%.200s[%zu]", kp, i);
		if (k->where_off >= 0)
			((struct conf_where *)(elem + k->where_off))->line =
			    conf_line(e);
		conf_walk_map(p, doc, e, k->sub, elem, ekp);
	}
}

/* upstream.resolve: {"host:port": "address"} into curl's "host:port:addr". */
static void
conf_set_strmap(struct conf_parse *p, yaml_document_t *doc,
                const struct conf_key *k, yaml_node_t *n, void *base,
                const char *kp)
{
	char ***arr = (char ***)((char *)base + k->off);
	size_t *count = (size_t *)((char *)base + k->count_off);
	yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	size_t len = (size_t)(n->data.mapping.pairs.top - pr);

	*arr = calloc(len + 1, sizeof(char *));
	if (*arr == NULL) {
		p->enomem = 1;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pr[i].key);
		yaml_node_t *vn = yaml_document_get_node(doc, pr[i].value);
		const char *key, *val;
		const char *colon;
		char buf[512];

		if (kn->type != YAML_SCALAR_NODE ||
		    vn->type != YAML_SCALAR_NODE) {
			conf_error(p, conf_line(kn), kp,
			           "expected \"host:port\": address pairs");
			continue;
		}
		key = (const char *)kn->data.scalar.value;
		val = (const char *)vn->data.scalar.value;
		colon = strrchr(key, ':');
		if (colon == NULL || colon == key ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		    colon[1] == '\0' || *val == '\0' ||
		    strpbrk(val, " \t,") != NULL) {
			conf_error(p, conf_line(kn), kp,
			           "expected \"host:port\": address, got '%s'",
			           key);
			continue;
		}
		snprintf(buf, sizeof(buf), "%s:%s", key, val);
		if (conf_replace_str(p, &(*arr)[*count], buf) == 0)
			(*count)++;
	}
}

/* intercept.hosts, passthrough.hosts: a list of scalars. */
static void
conf_set_strlist(struct conf_parse *p, yaml_document_t *doc,
                 const struct conf_key *k, yaml_node_t *n, void *base,
                 const char *kp)
{
	char ***arr = (char ***)((char *)base + k->off);
	size_t *count = (size_t *)((char *)base + k->count_off);
	yaml_node_item_t *it = n->data.sequence.items.start;
	size_t len = (size_t)(n->data.sequence.items.top - it);

	*arr = calloc(len + 1, sizeof(char *));
	if (*arr == NULL) {
		p->enomem = 1;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		yaml_node_t *e = yaml_document_get_node(doc, it[i]);
		const char *v =
		    e->type == YAML_SCALAR_NODE ? conf_scalar(e) : NULL;

		if (v == NULL || *v == '\0') {
			conf_error(p, conf_line(e), kp,
			           "expected a list of host names");
			continue;
		}
		if (conf_replace_str(p, &(*arr)[*count], v) == 0)
			(*count)++;
	}
}

static int
conf_expect(struct conf_parse *p, yaml_node_t *n, yaml_node_type_t type,
            const char *what, const char *kp)
{
	if (n->type == type)
		return 0;
	if (type != YAML_SCALAR_NODE && n->type == YAML_SCALAR_NODE &&
	    conf_scalar(n) == NULL)
		return 1; /* "key:" with nothing: keep the defaults */
	conf_error(p, conf_line(n), kp, "expected %s, got %s", what,
	           conf_node_kind(n));
	return -1;
}

static void
conf_set(struct conf_parse *p, yaml_document_t *doc, const struct conf_key *k,
         yaml_node_t *n, void *base, const char *kp)
{
	void *field = (char *)base + k->off;
	int r;

	switch (k->type) {
	case CONF_T_MAP:
		conf_walk_map(p, doc, n, k->sub, field, kp);
		return;
	case CONF_T_STRMAP:
		if (conf_expect(p, n, YAML_MAPPING_NODE, "a mapping", kp) == 0)
			conf_set_strmap(p, doc, k, n, base, kp);
		return;
	case CONF_T_STRLIST:
		if (conf_expect(p, n, YAML_SEQUENCE_NODE, "a list", kp) == 0)
			conf_set_strlist(p, doc, k, n, base, kp);
		return;
	case CONF_T_LIST:
		r = conf_expect(p, n, YAML_SEQUENCE_NODE, "a list", kp);
		if (r == 0)
			conf_set_list(p, doc, k, n, base, kp);
		else if (r == 1 && (k->flags & CONF_REQUIRED))
			conf_error(p, conf_line(n), kp,
			           "expected at least one entry");
		return;
	default:
		break;
	}
	if (conf_expect(p, n, YAML_SCALAR_NODE, "a scalar", kp) != 0)
		return;
	if (k->type == CONF_T_STR)
		conf_set_str(p, k, n, field, kp);
	else if (k->type == CONF_T_ENUM)
		conf_set_enum(p, k, n, field, kp);
	else if (k->type == CONF_T_BOOL)
		conf_set_bool(p, n, field, kp);
	else if (k->type == CONF_T_LONG)
		conf_set_long(p, k, n, field, kp);
	else
		conf_set_number(p, k, n, field, kp);
}

static void
conf_join(char *dst, size_t len, const char *kp, const char *name)
{
	snprintf(dst, len, "%.200s%s%.50s", kp, *kp != '\0' ? "." : "", name);
}

/* Report every required key under table as missing (line: its parent). */
static void
conf_missing(struct conf_parse *p, int line, const struct conf_key *table,
             const char *kp)
{
	char sub[256];

	for (const struct conf_key *k = table; k->name != NULL; k++) {
		if (!(k->flags & CONF_REQUIRED))
			continue;
		conf_join(sub, sizeof(sub), kp, k->name);
		if (k->type == CONF_T_MAP)
			conf_missing(p, line, k->sub, sub);
		else
			conf_error(p, line, sub, "required key missing");
	}
}

static const struct conf_key *
conf_find(const struct conf_key *table, const char *name, size_t *idx)
{
	for (size_t i = 0; table[i].name != NULL; i++) {
		if (strcmp(table[i].name, name) == 0) {
			*idx = i;
			return &table[i];
		}
	}
	return NULL;
}

static void
conf_walk_map(struct conf_parse *p, yaml_document_t *doc, yaml_node_t *n,
              const struct conf_key *table, void *base, const char *kp)
{
	unsigned long long seen = 0;
	char sub[256];
	int r = conf_expect(p, n, YAML_MAPPING_NODE, "a mapping", kp);

	if (r == 1) /* "key:" with nothing: its required keys are missing */
		conf_missing(p, conf_line(n), table, kp);
	if (r != 0)
		return;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
		const struct conf_key *k;
		size_t idx = 0;

		if (kn->type != YAML_SCALAR_NODE) {
			conf_error(p, conf_line(kn), kp,
			           "expected a plain key, got %s",
			           conf_node_kind(kn));
			continue;
		}
		conf_join(sub, sizeof(sub), kp,
		          (const char *)kn->data.scalar.value);
		k = conf_find(table, (const char *)kn->data.scalar.value, &idx);
		if (k == NULL) {
			conf_error(p, conf_line(kn), sub, "unknown key");
			continue;
		}
		if (seen & (1ull << idx)) {
			conf_error(p, conf_line(kn), sub, "duplicate key");
			continue;
		}
		seen |= 1ull << idx;
		conf_set(p, doc, k, vn, base, sub);
	}
	for (size_t i = 0; table[i].name != NULL; i++) {
		if (!(table[i].flags & CONF_REQUIRED) || (seen & (1ull << i)))
			continue;
		conf_join(sub, sizeof(sub), kp, table[i].name);
		if (table[i].type == CONF_T_MAP)
			conf_missing(p, conf_line(n), table[i].sub, sub);
		else
			conf_error(p, conf_line(n), sub,
			           "required key missing");
	}
}

/* Free every string and array the table describes under base. */
static void
conf_free_map(const struct conf_key *table, void *base)
{
	for (const struct conf_key *k = table; k->name != NULL; k++) {
		void *field = (char *)base + k->off;

		if (k->type == CONF_T_STR) {
			free(*(char **)field);
		} else if (k->type == CONF_T_MAP) {
			conf_free_map(k->sub, field);
		} else if (k->type == CONF_T_LIST) {
			char *arr = *(char **)field;
			size_t n = *(size_t *)((char *)base + k->count_off);

			for (size_t i = 0; arr != NULL && i < n; i++)
				conf_free_map(k->sub, arr + i * k->elem_size);
			free(arr);
		} else if (k->type == CONF_T_STRMAP ||
		           k->type == CONF_T_STRLIST) {
			char **arr = *(char ***)field;
			size_t n = *(size_t *)((char *)base + k->count_off);

			for (size_t i = 0; arr != NULL && i < n; i++)
				free(arr[i]);
			free(arr);
		}
	}
}

static void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	conf_free_map(conf_root_keys, c);
	free(c->file);
	free(c);
}

static int
conf_defaults(struct conf *c, const char *name)
{
	char host[256];
	struct {
		char **field;
		const char *val;
	} strs[] = {
	    {&c->file, name},
	    {&c->gateway_id, "wwgate"},
	    {&c->journal.segment, "month"},
	    {&c->admin.address, "127.0.0.1:9090"},
	};

	/* Default id: the host name when it is a valid id. */
	if (gethostname(host, sizeof(host)) == 0 &&
	    (host[sizeof(host) - 1] = '\0', conf_check_id(host, NULL, 0) == 0))
		strs[1].val = host;
	for (size_t i = 0; i < WW_NELEM(strs); i++)
		if ((*strs[i].field = strdup(strs[i].val)) == NULL)
			return WW_ENOMEM;
	c->upstream.timeout_ms = 10000;
	c->journal.checkpoint_every = 10000;
	c->journal.checkpoint_secs = 60;
	c->journal.max_blob_bytes = 20u << 20;
	c->limits = (struct conf_limits){
	    .max_connections = 10000,
	    .max_header_bytes = 16u << 10,
	    .max_body_bytes = 1u << 20,
	    .max_upload_bytes = 20u << 20,
	    .header_timeout_ms = 10000,
	    .body_timeout_ms = 30000,
	    .keepalive_timeout_ms = 60000,
	    .handshake_timeout_ms = 10000,
	};
	c->refusal.block_errcode = 985001;
	c->drain_timeout_ms = 10000;
	c->callback.max_skew = 300;
	c->log.level = LOG_LEVEL_INFO;
	c->refs_ = 1;
	return WW_OK;
}

/* What one key alone cannot say. */
static void
conf_validate(struct conf_parse *p, struct conf *c)
{
	char kp[64];

	for (size_t i = 0; i < c->n_listen; i++) {
		const struct conf_listen *l = &c->listen[i];

		snprintf(kp, sizeof(kp), "listen[%zu].tls", i);
		if (l->mode == CONF_MODE_REVERSE && l->tls.cert == NULL &&
		    l->tls.key == NULL && l->address != NULL)
			conf_error(
			    p, l->where.line, kp,
			    "required for mode reverse (clients speak TLS)");
	}
	for (size_t i = 0; i < c->n_callbacks; i++) {
		const struct conf_callback_route *r = &c->callbacks[i];

		snprintf(kp, sizeof(kp), "callbacks[%zu]", i);
		if ((r->token_file == NULL) == (r->token_env == NULL))
			conf_error(p, r->where.line, kp,
			           "exactly one of token_file, token_env");
		if ((r->aes_key_file == NULL) == (r->aes_key_env == NULL))
			conf_error(p, r->where.line, kp,
			           "exactly one of aes_key_file, aes_key_env");
		for (size_t j = 0; j < i && r->path != NULL; j++)
			if (c->callbacks[j].path != NULL &&
			    strcmp(c->callbacks[j].path, r->path) == 0)
				conf_error(p, r->where.line, kp,
				           "path %s is already a route",
				           r->path);
	}
}

/* Refuse anchors and aliases, and report syntax errors with their line. */
static int
conf_scan_events(struct conf_parse *p, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = WW_OK, done = 0;

	if (!yaml_parser_initialize(&parser))
		return WW_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == WW_OK) {
		if (!yaml_parser_parse(&parser, &ev)) {
			conf_error(p, (int)parser.problem_mark.line + 1, NULL,
			           "YAML syntax: %s",
			           parser.problem ? parser.problem : "error");
			rc = WW_EINVAL;
			break;
		}
		if (ev.type == YAML_ALIAS_EVENT ||
		    (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
		    (ev.type == YAML_MAPPING_START_EVENT &&
		     ev.data.mapping_start.anchor) ||
		    (ev.type == YAML_SEQUENCE_START_EVENT &&
		     ev.data.sequence_start.anchor)) {
			conf_error(p, (int)ev.start_mark.line + 1, NULL,
			           "YAML anchors and aliases are not allowed");
			rc = WW_EINVAL;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int
conf_load_doc(struct conf_parse *p, const char *text, size_t len,
              struct conf *c)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = WW_OK;

	if (!yaml_parser_initialize(&parser))
		return WW_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		conf_error(p, (int)parser.problem_mark.line + 1, NULL,
		           "YAML syntax: %s",
		           parser.problem ? parser.problem : "error");
		yaml_parser_delete(&parser);
		return WW_EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		conf_error(p, 1, NULL, "empty configuration");
	else
		conf_walk_map(p, &doc, root, conf_root_keys, c, "");
	yaml_document_delete(&doc);
	if (root != NULL) {
		/* A second document is a mistake, not more configuration. */
		if (!yaml_parser_load(&parser, &doc))
			rc = WW_EINVAL;
		else if (yaml_document_get_root_node(&doc) != NULL)
			conf_error(p, (int)doc.start_mark.line + 1, NULL,
			           "only one YAML document is allowed");
		if (rc == WW_OK)
			yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int
conf_load_buf(const char *name, const char *text, size_t len, struct conf **out,
              char *err, size_t errlen)
{
	struct conf_parse p = {.name = name, .err = err, .errlen = errlen};
	struct conf *c;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return WW_ENOMEM;
	rc = conf_defaults(c, name);
	if (rc != WW_OK)
		goto out;
	rc = conf_scan_events(&p, text, len);
	if (rc == WW_OK)
		rc = conf_load_doc(&p, text, len, c);
	if (rc == WW_OK && p.nerr == 0)
		conf_validate(&p, c);
	if (rc == WW_OK && p.enomem)
		rc = WW_ENOMEM;
	else if (rc == WW_OK && p.nerr > 0)
		rc = WW_EINVAL;
	if (p.nerr > CONF_MAX_ERRORS)
		conf_error(&p, 0, NULL, "(%d more errors)",
		           p.nerr - CONF_MAX_ERRORS);
out:
	if (rc == WW_ENOMEM && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc != WW_OK)
		conf_free(c);
	else
		*out = c;
	return rc;
}

int
conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
	FILE *fp;
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		rc = errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if ((text = malloc(CONF_MAX_FILE + 1)) == NULL) {
		rc = WW_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(text, 1, CONF_MAX_FILE + 1, fp);
	if (ferror(fp) || len > CONF_MAX_FILE) {
		rc = ferror(fp) ? WW_EIO : WW_EINVAL;
		snprintf(err, errlen, "%s: %s", path,
		         ferror(fp) ? "read error" : "larger than 1 MiB");
		goto out;
	}
	rc = conf_load_buf(path, text, len, out, err, errlen);
out:
	free(text);
	fclose(fp);
	return rc;
}

struct conf *
conf_ref(struct conf *c)
{
	__atomic_fetch_add(&c->refs_, 1, __ATOMIC_RELAXED);
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c != NULL &&
	    __atomic_sub_fetch(&c->refs_, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

int
conf_parse_address(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
	                                     AI_PASSIVE,
	                         .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char host[128];
	const char *port, *h = NULL;
	size_t hl;

	if (s == NULL || (port = strrchr(s, ':')) == NULL || port[1] == '\0' ||
	    strspn(port + 1, "0123456789") != strlen(port + 1) ||
	    strlen(port + 1) > 5 || atoi(port + 1) > 65535)
		return WW_EINVAL;
	hl = (size_t)(port - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	} else if (memchr(s, ':', hl) != NULL) {
		return WW_EINVAL; /* IPv6 needs brackets */
	}
	if (hl >= sizeof(host))
		return WW_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl > 0)
		h = host;
	else
		hints.ai_family = AF_INET6; /* ":8443": every address */
	if (getaddrinfo(h, port + 1, &hints, &res) != 0 || res == NULL)
		return WW_EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return WW_OK;
}

const char *
conf_mode_name(enum conf_mode m)
{
	return m <= CONF_MODE_TRANSPARENT ? conf_modes[m] : "?";
}
