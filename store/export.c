/*
 * export.c: records as JSON lines and CSV (the stable export forms).
 * The human forms (listing, show, transcript) are in export_human.c.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ww.h"
#include "store/export.h"
#include "store/export_int.h"
#include "store/filter.h"

void
export_buf_init(struct export_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
export_buf_cleanup(struct export_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
export_buf_reset(struct export_buf *b)
{
	b->len = 0;
	b->err = WW_OK;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for need more bytes plus a NUL.  0 or -1 (err set). */
static int
export_buf_reserve(struct export_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->err != WW_OK)
		return -1;
	if (b->len + need + 1 <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : 256;
	while (cap < b->len + need + 1) {
		if (cap > SIZE_MAX / 2) {
			b->err = WW_ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->err = WW_ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void
export_buf_add(struct export_buf *b, const void *p, size_t len)
{
	/* Hot path of every export: room is there nearly always. */
	if ((b->len + len + 1 > b->cap || b->err != WW_OK) &&
	    export_buf_reserve(b, len) != 0)
		return;
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
export_buf_puts(struct export_buf *b, const char *s)
{
	export_buf_add(b, s, strlen(s));
}

static void
export_buf_putc(struct export_buf *b, char c)
{
	if ((b->len + 2 > b->cap || b->err != WW_OK) &&
	    export_buf_reserve(b, 1) != 0)
		return;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
export_buf_printf(struct export_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (export_buf_reserve(b, 64) != 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = WW_EINVAL;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (export_buf_reserve(b, (size_t)n) != 0)
			return;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
export_buf_u64(struct export_buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	export_buf_add(b, tmp + i, sizeof(tmp) - i);
}

void
export_buf_i64(struct export_buf *b, int64_t v)
{
	if (v < 0) {
		export_buf_putc(b, '-');
		export_buf_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		export_buf_u64(b, (uint64_t)v);
	}
}

void
export_buf_hex(struct export_buf *b, const uint8_t *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (export_buf_reserve(b, len * 2) != 0)
		return;
	for (size_t i = 0; i < len; i++) {
		b->data[b->len++] = hex[buf[i] >> 4];
		b->data[b->len++] = hex[buf[i] & 15];
	}
	b->data[b->len] = '\0';
}

size_t
export_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	/* Overlongs, surrogates and > U+10FFFF narrow the second byte. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* One byte that JSON must escape (< 0x20, '"' or '\\'). */
static void
export_json_escape(struct export_buf *b, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

	switch (c) {
	case '"':
		export_buf_add(b, "\\\"", 2);
		return;
	case '\\':
		export_buf_add(b, "\\\\", 2);
		return;
	case '\n':
		export_buf_add(b, "\\n", 2);
		return;
	case '\r':
		export_buf_add(b, "\\r", 2);
		return;
	case '\t':
		export_buf_add(b, "\\t", 2);
		return;
	}
	export_buf_add(b, esc, 6);
}

void
export_buf_json_str(struct export_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0, n;

	export_buf_putc(b, '"');
	while (i < len) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		n = c < 0x80 ? 0 : export_utf8_len(p + i, len - i);
		if (n > 0) {
			i += n;
			run += n;
			continue;
		}
		export_buf_add(b, p + i - run, run);
		run = 0;
		if (c < 0x80)
			export_json_escape(b, c);
		else
			export_buf_add(b, "\xef\xbf\xbd", 3); /* U+FFFD */
		i++;
	}
	export_buf_add(b, p + i - run, run);
	export_buf_putc(b, '"');
}

/* A proto3 string: NULL and "" both mean absent, rendered as null. */
static void
export_json_strz(struct export_buf *b, const char *s)
{
	if (s == NULL || s[0] == '\0')
		export_buf_add(b, "null", 4);
	else
		export_buf_json_str(b, s, strlen(s));
}

/* ,"key": */
static void
export_json_key(struct export_buf *b, const char *key)
{
	export_buf_putc(b, ',');
	export_buf_putc(b, '"');
	export_buf_puts(b, key);
	export_buf_add(b, "\":", 2);
}

static void
export_json_strs(struct export_buf *b, char **arr, size_t n)
{
	export_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(b, ',');
		export_buf_json_str(b, arr[i] != NULL ? arr[i] : "",
		                    arr[i] != NULL ? strlen(arr[i]) : 0);
	}
	export_buf_putc(b, ']');
}

static void
export_json_bool(struct export_buf *b, int v)
{
	if (v)
		export_buf_add(b, "true", 4);
	else
		export_buf_add(b, "false", 5);
}

static void
export_json_recipients(struct export_buf *b, const Ww__Recipients *r)
{
	if (r == NULL) {
		export_buf_add(b, "null", 4);
		return;
	}
	export_buf_puts(b, "{\"users\":");
	export_json_strs(b, r->users, r->n_users);
	export_json_key(b, "parties");
	export_json_strs(b, r->parties, r->n_parties);
	export_json_key(b, "tags");
	export_json_strs(b, r->tags, r->n_tags);
	export_json_key(b, "external_users");
	export_json_strs(b, r->external_users, r->n_external_users);
	export_json_key(b, "kf_ids");
	export_json_strs(b, r->kf_ids, r->n_kf_ids);
	export_json_key(b, "chat_ids");
	export_json_strs(b, r->chat_ids, r->n_chat_ids);
	export_json_key(b, "mentioned");
	export_json_strs(b, r->mentioned, r->n_mentioned);
	export_json_key(b, "all");
	export_json_bool(b, r->all);
	export_buf_putc(b, '}');
}

static void
export_json_texts(struct export_buf *b, Ww__TextPart **t, size_t n)
{
	export_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(b, ',');
		export_buf_puts(b, "{\"path\":");
		export_json_strz(b, t[i]->path);
		export_buf_puts(b, ",\"text\":");
		export_buf_json_str(b, t[i]->text != NULL ? t[i]->text : "",
		                    t[i]->text != NULL ? strlen(t[i]->text)
		                                       : 0);
		export_buf_putc(b, '}');
	}
	export_buf_putc(b, ']');
}

static void
export_json_spans(struct export_buf *b, Ww__Span **s, size_t n)
{
	export_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(b, ',');
		export_buf_puts(b, "{\"part\":");
		export_buf_u64(b, s[i]->part);
		export_buf_puts(b, ",\"start\":");
		export_buf_u64(b, s[i]->start);
		export_buf_puts(b, ",\"end\":");
		export_buf_u64(b, s[i]->end);
		export_buf_puts(b, ",\"rule_id\":");
		export_json_strz(b, s[i]->rule_id);
		export_buf_putc(b, '}');
	}
	export_buf_putc(b, ']');
}

static void
export_json_verdict(struct export_buf *b, const Ww__Verdict *v, int full)
{
	if (v == NULL) {
		export_buf_add(b, "null", 4);
		return;
	}
	export_buf_puts(b, "{\"action\":\"");
	export_buf_puts(b, record_action_name(v->action));
	export_buf_puts(b, "\",\"rules\":");
	export_json_strs(b, v->rules, v->n_rules);
	export_json_key(b, "monitor_rules");
	export_json_strs(b, v->monitor_rules, v->n_monitor_rules);
	if (full) {
		export_json_key(b, "spans");
		export_json_spans(b, v->spans, v->n_spans);
		export_json_key(b, "policy_digest");
		export_json_strz(b, v->policy_digest);
		export_json_key(b, "refusal_message");
		export_json_strz(b, v->refusal_message);
	}
	export_buf_putc(b, '}');
}

void
export_buf_latency(struct export_buf *b, uint64_t us)
{
	char frac[4] = {(char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
	                (char)('0' + us % 10), 0};

	export_buf_u64(b, us / 1000);
	export_buf_putc(b, '.');
	export_buf_add(b, frac, 3);
}

static void
export_json_bytes_str(struct export_buf *b, const ProtobufCBinaryData *d)
{
	if (d->len == 0)
		export_buf_add(b, "null", 4);
	else
		export_buf_json_str(b, (const char *)d->data, d->len);
}

static void
export_json_outcome(struct export_buf *b, const Ww__Record *orec, int full)
{
	const Ww__Outcome *o = orec != NULL ? orec->outcome : NULL;

	if (o == NULL) {
		export_buf_add(b, "null", 4);
		return;
	}
	export_buf_puts(b, "{\"forwarded\":");
	export_json_bool(b, o->forwarded);
	export_json_key(b, "http_status");
	export_buf_u64(b, o->http_status);
	export_json_key(b, "errcode");
	export_buf_i64(b, o->errcode);
	export_json_key(b, "errmsg");
	export_json_strz(b, o->errmsg);
	export_json_key(b, "msgid");
	export_json_strz(b, o->msgid);
	export_json_key(b, "latency_ms");
	export_buf_latency(b, o->latency_us);
	if (full) {
		export_json_key(b, "local_error");
		export_json_strz(b, o->local_error);
		export_json_key(b, "seq");
		export_buf_u64(b, orec->seq);
		export_json_key(b, "request_seq");
		export_buf_u64(b, o->request_seq);
		export_json_key(b, "response_body");
		export_json_bytes_str(b, &o->response_body);
	}
	export_buf_putc(b, '}');
}

static void
export_json_client(struct export_buf *b, const Ww__Client *c, int full)
{
	if (c == NULL) {
		export_buf_add(b, "null", 4);
		return;
	}
	export_buf_puts(b, "{\"address\":");
	export_json_strz(b, c->address);
	export_json_key(b, "port");
	export_buf_u64(b, c->port);
	export_json_key(b, "sni");
	export_json_strz(b, c->sni);
	export_json_key(b, "cert_subject");
	export_json_strz(b, c->cert_subject);
	if (full) {
		export_json_key(b, "proxy_user");
		export_json_strz(b, c->proxy_user);
	}
	export_buf_putc(b, '}');
}

int
export_new(unsigned flags, struct export **out)
{
	struct export *e;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return WW_ENOMEM;
	e->flags = flags;
	export_buf_init(&e->scratch);
	*out = e;
	return WW_OK;
}

void
export_free(struct export *e)
{
	if (e == NULL)
		return;
	export_buf_cleanup(&e->scratch);
	free(e);
}

int
export_is_primary(const Ww__Record *rec)
{
	return rec->kind == WW__KIND__REQUEST ||
	       rec->kind == WW__KIND__CALLBACK;
}

/* Was rec forwarded in a form other than received (redaction)? */
static int
export_redacted(const Ww__Record *rec)
{
	return rec->forwarded_body.len > 0 ||
	       (rec->verdict != NULL &&
	        rec->verdict->action == WW__ACTION__REDACT);
}

/*
 * Follow a text part's path ("text.content", "news.articles[0].title" or
 * "news.articles.0.title") into a parsed body.  NULL when it leads nowhere.
 */
static json_t *
export_json_path(json_t *v, const char *path)
{
	char key[256];
	size_t n;

	while (v != NULL && *path != '\0') {
		if (*path == '.') {
			path++;
			continue;
		}
		if (*path == '[' ||
		    (json_is_array(v) && isdigit((unsigned char)*path))) {
			char *end;
			unsigned long i =
			    strtoul(path + (*path == '['), &end, 10);

			if (*end == ']')
				end++;
			v = json_array_get(v, i);
			path = end;
			continue;
		}
		n = strcspn(path, ".[");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		v = json_object_get(v, key);
		path += n;
	}
	return v;
}

/*
 * The text parts of what was forwarded: for each of the message's text
 * parts, the string found at the same path in the forwarded body.  *out
 * NULL when there is no forwarded body (or it is not JSON).
 */
int
export_forwarded(struct export *e, const Ww__Record *rec, Ww__Message **out)
{
	const Ww__Message *m = rec->message;
	Ww__Message *fm = NULL;
	json_t *root, *v;
	int rc = WW_OK;

	(void)e;
	*out = NULL;
	if (rec->forwarded_body.len == 0 || m == NULL)
		return WW_OK;
	root = json_loadb((const char *)rec->forwarded_body.data,
	                  rec->forwarded_body.len, JSON_DECODE_ANY, NULL);
	if (root == NULL)
		return WW_OK;
	if ((fm = message_new()) == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->n_texts && rc == WW_OK; i++) {
		if (m->texts[i]->path == NULL)
			continue;
		v = export_json_path(root, m->texts[i]->path);
		if (json_is_string(v))
			rc = message_add_text(fm, m->texts[i]->path,
			                      json_string_value(v),
			                      json_string_length(v));
	}
	if (rc == WW_OK) {
		*out = fm;
		fm = NULL;
	}
out:
	message_free(fm);
	json_decref(root);
	return rc;
}

static void
export_json_forwarded(struct export *e, const Ww__Record *rec,
                      struct export_buf *b)
{
	Ww__Message *fm = NULL;

	if (!export_redacted(rec)) {
		export_buf_add(b, "null", 4);
		return;
	}
	if (export_forwarded(e, rec, &fm) != WW_OK) {
		b->err = WW_ENOMEM;
		return;
	}
	if (fm == NULL)
		export_buf_add(b, "[]", 2);
	else
		export_json_texts(b, fm->texts, fm->n_texts);
	message_free(fm);
}

/* seq, time, gateway_id, kind, direction. */
static void
export_json_head(const Ww__Record *rec, struct export_buf *b)
{
	char t[FILTER_TIME_LEN];
	const Ww__Message *m = rec->message;

	export_buf_puts(b, "{\"seq\":");
	export_buf_u64(b, rec->seq);
	export_buf_puts(b, ",\"time\":\"");
	export_buf_add(b, t, (size_t)filter_format_time(rec->time_ns, t));
	export_buf_putc(b, '"');
	export_json_key(b, "gateway_id");
	export_json_strz(b, rec->gateway_id);
	export_json_key(b, "kind");
	export_json_strz(b, record_kind_name(rec->kind));
	export_json_key(b, "direction");
	if (m == NULL || m->direction == WW__DIRECTION__DIRECTION_UNSPECIFIED)
		export_buf_add(b, "null", 4);
	else
		export_buf_puts(b, m->direction == WW__DIRECTION__INBOUND
		                       ? "\"inbound\""
		                       : "\"outbound\"");
}

static void
export_json_message(const Ww__Message *m, struct export_buf *b)
{
	export_json_key(b, "endpoint");
	export_json_strz(b, m != NULL ? m->endpoint : NULL);
	export_json_key(b, "msgtype");
	export_json_strz(b, m != NULL ? m->msgtype : NULL);
	export_json_key(b, "sender");
	export_json_strz(b, m != NULL ? m->sender : NULL);
	export_json_key(b, "recipients");
	export_json_recipients(b, m != NULL ? m->recipients : NULL);
	export_json_key(b, "chat_id");
	export_json_strz(b, m != NULL && m->recipients != NULL
	                        ? m->recipients->chat_id
	                        : NULL);
	export_json_key(b, "texts");
	if (m != NULL)
		export_json_texts(b, m->texts, m->n_texts);
	else
		export_buf_add(b, "[]", 2);
}

int
export_json(struct export *e, const Ww__Record *rec, const Ww__Record *outcome,
            struct export_buf *b)
{
	int full = (e->flags & EXPORT_FULL) != 0;

	if (outcome == NULL && rec->kind == WW__KIND__OUTCOME)
		outcome = rec;
	export_json_head(rec, b);
	export_json_message(rec->message, b);
	export_json_key(b, "verdict");
	export_json_verdict(b, rec->verdict, full);
	export_json_key(b, "forwarded_texts");
	export_json_forwarded(e, rec, b);
	export_json_key(b, "outcome");
	export_json_outcome(b, outcome, full);
	export_json_key(b, "client");
	export_json_client(b, rec->client, full);
	export_json_key(b, "hash");
	export_buf_putc(b, '"');
	export_buf_hex(b, rec->hash.data, rec->hash.len);
	export_buf_putc(b, '"');
	if (full)
		export_json_full(rec, b);
	export_buf_putc(b, '}');
	return b->err;
}

static void
export_json_attachments(struct export_buf *b, Ww__Attachment **a, size_t n)
{
	export_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(b, ',');
		export_buf_puts(b, "{\"kind\":");
		export_json_strz(b, a[i]->kind);
		export_json_key(b, "media_id");
		export_json_strz(b, a[i]->media_id);
		export_json_key(b, "name");
		export_json_strz(b, a[i]->name);
		export_json_key(b, "size");
		export_buf_u64(b, a[i]->size);
		export_json_key(b, "content_type");
		export_json_strz(b, a[i]->content_type);
		export_json_key(b, "sha256");
		if (a[i]->sha256.len == 0) {
			export_buf_add(b, "null", 4);
		} else {
			export_buf_putc(b, '"');
			export_buf_hex(b, a[i]->sha256.data, a[i]->sha256.len);
			export_buf_putc(b, '"');
		}
		export_buf_putc(b, '}');
	}
	export_buf_putc(b, ']');
}

static void
export_json_hexz(struct export_buf *b, const ProtobufCBinaryData *d)
{
	if (d->len == 0) {
		export_buf_add(b, "null", 4);
		return;
	}
	export_buf_putc(b, '"');
	export_buf_hex(b, d->data, d->len);
	export_buf_putc(b, '"');
}

static void
export_json_full_message(const Ww__Message *m, struct export_buf *b)
{
	if (m == NULL)
		return;
	export_json_key(b, "corp_id");
	export_json_strz(b, m->corp_id);
	export_json_key(b, "agent_id");
	export_buf_i64(b, m->agent_id);
	export_json_key(b, "app");
	export_json_strz(b, m->app);
	export_json_key(b, "token_digest");
	export_json_strz(b, m->token_digest);
	export_json_key(b, "decode_error");
	export_json_strz(b, m->decode_error);
	export_json_key(b, "attachments");
	export_json_attachments(b, m->attachments, m->n_attachments);
	export_json_key(b, "body");
	export_json_bytes_str(b, &m->body);
}

static void
export_json_tunnel(const Ww__Tunnel *t, struct export_buf *b)
{
	if (t == NULL)
		return;
	export_json_key(b, "tunnel");
	export_buf_puts(b, "{\"host\":");
	export_json_strz(b, t->host);
	export_json_key(b, "original_dst");
	export_json_strz(b, t->original_dst);
	export_json_key(b, "bytes_up");
	export_buf_u64(b, t->bytes_up);
	export_json_key(b, "bytes_down");
	export_buf_u64(b, t->bytes_down);
	export_json_key(b, "duration_ms");
	export_buf_latency(b, t->duration_us);
	export_json_key(b, "end_reason");
	export_json_strz(b, t->end_reason);
	export_json_key(b, "decision");
	export_json_strz(b, t->decision);
	export_buf_putc(b, '}');
}

static void
export_json_policy_cp(const Ww__Record *rec, struct export_buf *b)
{
	const Ww__PolicyInfo *p = rec->policy;
	const Ww__Checkpoint *c = rec->checkpoint;

	if (p != NULL) {
		export_json_key(b, "policy");
		export_buf_puts(b, "{\"digest\":");
		export_json_strz(b, p->digest);
		export_json_key(b, "file");
		export_json_strz(b, p->file);
		export_json_key(b, "text");
		export_json_bytes_str(b, &p->text);
		export_buf_putc(b, '}');
	}
	if (c != NULL) {
		export_json_key(b, "checkpoint");
		export_buf_puts(b, "{\"head_seq\":");
		export_buf_u64(b, c->head_seq);
		export_json_key(b, "head_hash");
		export_json_hexz(b, &c->head_hash);
		export_json_key(b, "signature");
		export_json_hexz(b, &c->signature);
		export_json_key(b, "public_key");
		export_json_hexz(b, &c->public_key);
		export_json_key(b, "seal");
		export_json_bool(b, c->seal);
		export_buf_putc(b, '}');
	}
}

void
export_json_full(const Ww__Record *rec, struct export_buf *b)
{
	export_json_key(b, "prev_hash");
	export_json_hexz(b, &rec->prev_hash);
	export_json_key(b, "schema");
	export_buf_u64(b, rec->schema);
	export_json_key(b, "method");
	export_json_strz(b, rec->method);
	export_json_key(b, "path");
	export_json_strz(b, rec->path);
	export_json_key(b, "query");
	export_json_strz(b, rec->query);
	export_json_key(b, "request_bytes");
	export_buf_u64(b, rec->request_bytes);
	export_json_full_message(rec->message, b);
	export_json_key(b, "forwarded_body");
	export_json_bytes_str(b, &rec->forwarded_body);
	export_json_tunnel(rec->tunnel, b);
	export_json_policy_cp(rec, b);
}

/* ---- CSV (RFC 4180) ---- */

static const char export_csv_columns[] =
    "seq,time,gateway_id,kind,direction,endpoint,msgtype,sender,"
    "recipients,chat_id,texts,action,rules,monitor_rules,forwarded_texts,"
    "forwarded,http_status,errcode,errmsg,msgid,latency_ms,client,hash\r\n";

int
export_csv_header(struct export_buf *b)
{
	export_buf_add(b, export_csv_columns, sizeof(export_csv_columns) - 1);
	return b->err;
}

/* field[0..len) quoted when it holds a comma, quote, CR or LF. */
static void
export_csv_field(struct export_buf *b, const char *s, size_t len)
{
	size_t run = 0;

	if (len == 0 || strcspn(s, ",\"\r\n") >= len) {
		export_buf_add(b, s, len);
		return;
	}
	export_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		run++;
		if (s[i] == '"') {
			export_buf_add(b, s + i + 1 - run, run);
			export_buf_putc(b, '"');
			run = 0;
		}
	}
	export_buf_add(b, s + len - run, run);
	export_buf_putc(b, '"');
}

static void
export_csv_str(struct export_buf *b, const char *s)
{
	export_buf_putc(b, ',');
	if (s != NULL)
		export_csv_field(b, s, strlen(s));
}

/*
 * A multi-valued column: the values built into scratch, then quoted as
 * one field.  The scratch buffer is reused across columns.
 */
static void
export_csv_flush(struct export_buf *b, struct export_buf *scratch)
{
	export_buf_putc(b, ',');
	if (scratch->err != WW_OK)
		b->err = scratch->err;
	else
		export_csv_field(b, scratch->data != NULL ? scratch->data : "",
		                 scratch->len);
	export_buf_reset(scratch);
}

static void
export_csv_join(struct export_buf *s, const char *prefix, char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->len > 0)
			export_buf_putc(s, ' ');
		export_buf_puts(s, prefix);
		export_buf_puts(s, arr[i] != NULL ? arr[i] : "");
	}
}

/* "user:a user:b party:2 tag:3 external:x kf:y chat:c mentioned:z @all" */
static void
export_csv_recipients(struct export_buf *s, const Ww__Recipients *r)
{
	if (r == NULL)
		return;
	export_csv_join(s, "user:", r->users, r->n_users);
	export_csv_join(s, "party:", r->parties, r->n_parties);
	export_csv_join(s, "tag:", r->tags, r->n_tags);
	export_csv_join(s, "external:", r->external_users, r->n_external_users);
	export_csv_join(s, "kf:", r->kf_ids, r->n_kf_ids);
	export_csv_join(s, "chat:", r->chat_ids, r->n_chat_ids);
	export_csv_join(s, "mentioned:", r->mentioned, r->n_mentioned);
	if (r->all)
		export_buf_puts(s, s->len > 0 ? " @all" : "@all");
}

/* Invalid UTF-8 becomes U+FFFD, as in JSON. */
static void
export_csv_utf8(struct export_buf *s, const char *p, size_t left)
{
	while (left > 0) {
		size_t len = export_utf8_len((const unsigned char *)p, left);

		if (len == 0) {
			export_buf_add(s, "\xef\xbf\xbd", 3);
			len = 1;
		} else {
			export_buf_add(s, p, len);
		}
		p += len;
		left -= len;
	}
}

/* "path: text" per part, one per line. */
static void
export_csv_texts(struct export_buf *s, Ww__TextPart **t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(s, '\n');
		export_buf_puts(s, t[i]->path != NULL ? t[i]->path : "");
		export_buf_add(s, ": ", 2);
		if (t[i]->text != NULL)
			export_csv_utf8(s, t[i]->text, strlen(t[i]->text));
	}
}

static void
export_csv_rules(struct export_buf *s, char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_putc(s, ';');
		export_buf_puts(s, arr[i] != NULL ? arr[i] : "");
	}
}

/* A REQUEST without outcome says "unknown"; other kinds have none. */
static void
export_csv_outcome(struct export_buf *b, const Ww__Outcome *o, int request)
{
	if (o == NULL) {
		export_buf_puts(b, request ? ",unknown,,,,," : ",,,,,,");
		return;
	}
	export_buf_puts(b, o->forwarded ? ",true," : ",false,");
	export_buf_u64(b, o->http_status);
	export_buf_putc(b, ',');
	export_buf_i64(b, o->errcode);
	export_csv_str(b, o->errmsg);
	export_csv_str(b, o->msgid);
	export_buf_putc(b, ',');
	export_buf_latency(b, o->latency_us);
}

static void
export_csv_client(struct export_buf *s, const Ww__Client *c)
{
	if (c == NULL || c->address == NULL || c->address[0] == '\0')
		return;
	if (strchr(c->address, ':') != NULL)
		export_buf_printf(s, "[%s]:%u", c->address, c->port);
	else
		export_buf_printf(s, "%s:%u", c->address, c->port);
}

static void
export_csv_verdict(struct export *e, const Ww__Record *rec,
                   struct export_buf *b, struct export_buf *s)
{
	const Ww__Verdict *v = rec->verdict;
	Ww__Message *fm = NULL;

	export_csv_str(b, v != NULL ? record_action_name(v->action) : NULL);
	if (v != NULL)
		export_csv_rules(s, v->rules, v->n_rules);
	export_csv_flush(b, s);
	if (v != NULL)
		export_csv_rules(s, v->monitor_rules, v->n_monitor_rules);
	export_csv_flush(b, s);
	if (export_redacted(rec)) {
		if (export_forwarded(e, rec, &fm) != WW_OK)
			b->err = WW_ENOMEM;
		else if (fm != NULL)
			export_csv_texts(s, fm->texts, fm->n_texts);
		message_free(fm);
	}
	export_csv_flush(b, s);
}

static void
export_csv_message(const Ww__Message *m, struct export_buf *b,
                   struct export_buf *s)
{
	const Ww__Recipients *r = m != NULL ? m->recipients : NULL;

	export_csv_str(b, m != NULL ? m->endpoint : NULL);
	export_csv_str(b, m != NULL ? m->msgtype : NULL);
	export_csv_str(b, m != NULL ? m->sender : NULL);
	export_csv_recipients(s, r);
	export_csv_flush(b, s);
	export_csv_str(b, r != NULL ? r->chat_id : NULL);
	if (m != NULL)
		export_csv_texts(s, m->texts, m->n_texts);
	export_csv_flush(b, s);
}

int
export_csv(struct export *e, const Ww__Record *rec, const Ww__Record *outcome,
           struct export_buf *b)
{
	struct export_buf *s = &e->scratch;
	const Ww__Message *m = rec->message;
	char t[FILTER_TIME_LEN];

	if (outcome == NULL && rec->kind == WW__KIND__OUTCOME)
		outcome = rec;
	export_buf_reset(s);
	export_buf_u64(b, rec->seq);
	export_buf_putc(b, ',');
	export_buf_add(b, t, (size_t)filter_format_time(rec->time_ns, t));
	export_csv_str(b, rec->gateway_id);
	export_csv_str(b, record_kind_name(rec->kind));
	export_csv_str(b, m == NULL                                 ? NULL
	                  : m->direction == WW__DIRECTION__INBOUND  ? "inbound"
	                  : m->direction == WW__DIRECTION__OUTBOUND ? "outbound"
	                                                            : NULL);
	export_csv_message(m, b, s);
	export_csv_verdict(e, rec, b, s);
	export_csv_outcome(b, outcome != NULL ? outcome->outcome : NULL,
	                   rec->kind == WW__KIND__REQUEST);
	export_csv_client(s, rec->client);
	export_csv_flush(b, s);
	export_buf_putc(b, ',');
	export_buf_hex(b, rec->hash.data, rec->hash.len);
	export_buf_add(b, "\r\n", 2);
	return b->err;
}
