/*
 * test_export.c: the export forms (JSON lines, CSV, human), record
 * filters, the time syntax of wwjournal's options, and folded search.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ww.h"
#include "store/export.h"
#include "store/filter.h"
#include "store/find.h"
#include "store/record.h"

#define NS INT64_C(1000000000)
/* 2026-11-25T10:30:15.250Z */
#define T0 (INT64_C(1795602615) * NS + 250000000)

static void
add_hash(ProtobufCBinaryData *f, unsigned char fill)
{
	unsigned char h[RECORD_HASH_LEN];

	memset(h, fill, sizeof(h));
	assert_int_equal(record_set_bytes(f, h, sizeof(h)), WW_OK);
}

/* A message/send REQUEST from alice to bob and carol in chat "c1". */
static Ww__Record *
make_request(const char *text, Ww__Action action)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Message *m = message_new();
	Ww__Recipients *r;

	assert_non_null(rec);
	assert_non_null(m);
	rec->seq = 41;
	rec->time_ns = T0;
	assert_int_equal(record_set_str(&rec->gateway_id, "gw1"), WW_OK);
	rec->message = m;
	r = m->recipients;
	m->direction = WW__DIRECTION__OUTBOUND;
	assert_int_equal(record_set_str(&m->endpoint, "message/send"), WW_OK);
	assert_int_equal(record_set_str(&m->msgtype, "text"), WW_OK);
	assert_int_equal(record_set_str(&m->sender, "alice"), WW_OK);
	assert_int_equal(record_add_str(&r->n_users, &r->users, "carol"), 0);
	assert_int_equal(record_add_str(&r->n_users, &r->users, "bob"), 0);
	assert_int_equal(record_add_str(&r->n_parties, &r->parties, "2"), 0);
	assert_int_equal(
	    message_add_text(m, "text.content", text, strlen(text)), WW_OK);
	rec->verdict = malloc(sizeof(*rec->verdict));
	assert_non_null(rec->verdict);
	ww__verdict__init(rec->verdict);
	rec->verdict->action = action;
	if (action != WW__ACTION__ALLOW)
		assert_int_equal(record_add_str(&rec->verdict->n_rules,
		                                &rec->verdict->rules,
		                                "dlp.card"),
		                 WW_OK);
	rec->client = malloc(sizeof(*rec->client));
	assert_non_null(rec->client);
	ww__client__init(rec->client);
	assert_int_equal(record_set_str(&rec->client->address, "127.0.0.1"), 0);
	rec->client->port = 40000;
	add_hash(&rec->hash, 0xab);
	return rec;
}

static Ww__Record *
make_outcome(uint64_t request_seq)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);

	assert_non_null(rec);
	rec->seq = request_seq + 1;
	rec->time_ns = T0 + NS;
	rec->outcome = malloc(sizeof(*rec->outcome));
	assert_non_null(rec->outcome);
	ww__outcome__init(rec->outcome);
	rec->outcome->forwarded = 1;
	rec->outcome->http_status = 200;
	rec->outcome->errcode = 0;
	rec->outcome->latency_us = 12345;
	rec->outcome->request_seq = request_seq;
	assert_int_equal(record_set_str(&rec->outcome->errmsg, "ok"), WW_OK);
	assert_int_equal(record_set_str(&rec->outcome->msgid, "m-1"), WW_OK);
	add_hash(&rec->hash, 0xcd);
	return rec;
}

/* Render rec as JSON and parse it back. */
static json_t *
render_json(const Ww__Record *rec, const Ww__Record *outcome, unsigned flags)
{
	struct export *e = NULL;
	struct export_buf b;
	json_error_t jerr;
	json_t *v;

	assert_int_equal(export_new(flags, &e), WW_OK);
	export_buf_init(&b);
	assert_int_equal(export_json(e, rec, outcome, &b), WW_OK);
	assert_null(memchr(b.data, '\n', b.len)); /* one line */
	v = json_loadb(b.data, b.len, 0, &jerr);
	if (v == NULL)
		fail_msg("invalid JSON: %s in %s", jerr.text, b.data);
	export_buf_cleanup(&b);
	export_free(e);
	return v;
}

static void
test_json_fields(void **state)
{
	static const char *keys[] = {
	    "seq",      "time",    "gateway_id",      "kind",       "direction",
	    "endpoint", "msgtype", "sender",          "recipients", "chat_id",
	    "texts",    "verdict", "forwarded_texts", "outcome",    "client",
	    "hash"};
	Ww__Record *req = make_request("hello", WW__ACTION__ALLOW);
	Ww__Record *out = make_outcome(41);
	json_t *v = render_json(req, out, 0), *o;
	const char *key;
	json_t *val;
	size_t i = 0;

	(void)state;
	/* Exactly these keys, in this order (jansson keeps insertion). */
	json_object_foreach(v, key, val)
	{
		assert_true(i < WW_NELEM(keys));
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, WW_NELEM(keys));
	assert_int_equal(json_integer_value(json_object_get(v, "seq")), 41);
	assert_string_equal(json_string_value(json_object_get(v, "time")),
	                    "2026-11-25T10:30:15.250Z");
	assert_string_equal(json_string_value(json_object_get(v, "kind")),
	                    "REQUEST");
	assert_string_equal(json_string_value(json_object_get(v, "direction")),
	                    "outbound");
	assert_string_equal(json_string_value(json_object_get(v, "sender")),
	                    "alice");
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(v, "recipients"), "users"), 1)),
	    "bob");
	assert_true(json_is_null(json_object_get(v, "chat_id")));
	assert_true(json_is_null(json_object_get(v, "forwarded_texts")));
	val = json_array_get(json_object_get(v, "texts"), 0);
	assert_string_equal(json_string_value(json_object_get(val, "path")),
	                    "text.content");
	assert_string_equal(json_string_value(json_object_get(val, "text")),
	                    "hello");
	val = json_object_get(v, "verdict");
	assert_string_equal(json_string_value(json_object_get(val, "action")),
	                    "allow");
	o = json_object_get(v, "outcome");
	assert_true(json_is_true(json_object_get(o, "forwarded")));
	assert_int_equal(json_integer_value(json_object_get(o, "http_status")),
	                 200);
	assert_string_equal(json_string_value(json_object_get(o, "msgid")),
	                    "m-1");
	assert_true(json_real_value(json_object_get(o, "latency_ms")) > 12.3 &&
	            json_real_value(json_object_get(o, "latency_ms")) < 12.4);
	val = json_object_get(v, "client");
	assert_int_equal(json_integer_value(json_object_get(val, "port")),
	                 40000);
	assert_string_equal(
	    json_string_value(json_object_get(v, "hash")),
	    "abababababababababababababababababababababababababababababababab");
	json_decref(v);
	record_free(req);
	record_free(out);
}

static void
test_json_outcome_unknown(void **state)
{
	Ww__Record *req = make_request("x", WW__ACTION__BLOCK);
	json_t *v = render_json(req, NULL, 0), *verdict;

	(void)state;
	assert_true(json_is_null(json_object_get(v, "outcome")));
	verdict = json_object_get(v, "verdict");
	assert_string_equal(
	    json_string_value(json_object_get(verdict, "action")), "block");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(verdict, "rules"), 0)),
	                    "dlp.card");
	json_decref(v);
	record_free(req);
}

/* Control characters, quotes and invalid UTF-8 still give valid JSON. */
static void
test_json_escaping(void **state)
{
	static const char nasty[] =
	    "q\"b\\s\n\t\x01\033[2J\xff\xc3(\xe4\xbd\xa0";
	Ww__Record *req = make_request(nasty, WW__ACTION__ALLOW);
	json_t *v = render_json(req, NULL, 0), *t;
	const char *s;

	(void)state;
	t = json_array_get(json_object_get(v, "texts"), 0);
	s = json_string_value(json_object_get(t, "text"));
	assert_non_null(s);
	assert_string_equal(s, "q\"b\\s\n\t\x01\033[2J\xef\xbf\xbd\xef\xbf\xbd("
	                       "\xe4\xbd\xa0");
	json_decref(v);
	record_free(req);
}

static void
test_json_redacted(void **state)
{
	static const char body[] =
	    "{\"touser\":\"bob\",\"msgtype\":\"news\",\"news\":{\"articles\":"
	    "[{\"title\":\"card ****\"}]},\"text\":{\"content\":\"a ****\"}}";
	Ww__Record *req = make_request("a 4111", WW__ACTION__REDACT);
	json_t *v, *ft;

	(void)state;
	assert_int_equal(message_add_text(req->message,
	                                  "news.articles[0].title", "card 4111",
	                                  9),
	                 WW_OK);
	assert_int_equal(
	    record_set_bytes(&req->forwarded_body, body, strlen(body)), WW_OK);
	v = render_json(req, NULL, EXPORT_FULL);
	ft = json_object_get(v, "forwarded_texts");
	assert_int_equal(json_array_size(ft), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(ft, 0), "text")),
	    "a ****");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(ft, 1), "path")),
	    "news.articles[0].title");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(ft, 1), "text")),
	    "card ****");
	/* The full form adds fields after the stable ones. */
	assert_non_null(json_object_get(v, "forwarded_body"));
	assert_non_null(json_object_get(v, "attachments"));
	json_decref(v);
	record_free(req);
}

/* A minimal RFC 4180 reader: field number idx of the row at p. */
static char *
csv_field(const char *p, int idx)
{
	struct export_buf f;
	int n = 0, quoted;
	char *out;

	export_buf_init(&f);
	for (;;) {
		quoted = *p == '"';
		p += quoted;
		while (*p != '\0') {
			if (quoted && p[0] == '"' && p[1] == '"') {
				if (n == idx)
					export_buf_add(&f, "\"", 1);
				p += 2;
			} else if (quoted && p[0] == '"') {
				p++;
				break;
			} else if (!quoted && (*p == ',' || *p == '\r')) {
				break;
			} else {
				if (n == idx)
					export_buf_add(&f, p, 1);
				p++;
			}
		}
		if (n == idx || *p != ',')
			break;
		p++;
		n++;
	}
	out = strdup(f.data != NULL ? f.data : "");
	export_buf_cleanup(&f);
	return out;
}

static void
test_csv(void **state)
{
	Ww__Record *req = make_request("a, \"b\"\nc", WW__ACTION__BLOCK);
	Ww__Record *out = make_outcome(41);
	struct export *e = NULL;
	struct export_buf b;
	char *f;

	(void)state;
	assert_int_equal(export_new(0, &e), WW_OK);
	export_buf_init(&b);
	assert_int_equal(export_csv_header(&b), WW_OK);
	assert_non_null(strstr(b.data, "seq,time,gateway_id,kind,"));
	assert_int_equal(b.data[b.len - 2], '\r');
	export_buf_reset(&b);
	assert_int_equal(export_csv(e, req, out, &b), WW_OK);
	assert_memory_equal(b.data + b.len - 2, "\r\n", 2);
	f = csv_field(b.data, 0);
	assert_string_equal(f, "41");
	free(f);
	f = csv_field(b.data, 8);
	assert_string_equal(f, "user:carol user:bob party:2");
	free(f);
	f = csv_field(b.data, 10);
	assert_string_equal(f, "text.content: a, \"b\"\nc");
	free(f);
	f = csv_field(b.data, 11);
	assert_string_equal(f, "block");
	free(f);
	f = csv_field(b.data, 15);
	assert_string_equal(f, "true");
	free(f);
	f = csv_field(b.data, 20);
	assert_string_equal(f, "12.345");
	free(f);
	f = csv_field(b.data, 21);
	assert_string_equal(f, "127.0.0.1:40000");
	free(f);
	/* Unknown outcome is spelled out. */
	export_buf_reset(&b);
	assert_int_equal(export_csv(e, req, NULL, &b), WW_OK);
	f = csv_field(b.data, 15);
	assert_string_equal(f, "unknown");
	free(f);
	export_buf_cleanup(&b);
	export_free(e);
	record_free(req);
	record_free(out);
}

/* The human forms never send a message's escape sequences raw. */
static void
test_human_safe(void **state)
{
	Ww__Record *req = make_request("hi \033[2J\xe2\x80\xae there\nline2",
	                               WW__ACTION__BLOCK);
	Ww__Record *out = make_outcome(41);
	struct export *e = NULL;
	struct export_buf b;

	(void)state;
	assert_int_equal(record_add_str(&req->verdict->n_monitor_rules,
	                                &req->verdict->monitor_rules,
	                                "kw.watch"),
	                 WW_OK);
	assert_int_equal(export_new(0, &e), WW_OK);
	export_buf_init(&b);
	assert_int_equal(export_line(e, req, out, &b), WW_OK);
	assert_non_null(strstr(b.data, "monitor [kw.watch]"));
	assert_null(strchr(b.data, '\033'));
	assert_null(strstr(b.data, "\xe2\x80\xae"));
	assert_non_null(strstr(b.data, "\\x1b[2J"));
	assert_non_null(strstr(b.data, "alice -> carol, bob, party 2"));
	assert_non_null(strstr(b.data, "block [dlp.card]"));
	assert_int_equal(strchr(b.data, '\n'), b.data + b.len - 1);
	export_buf_reset(&b);
	assert_int_equal(export_show(e, req, out, &b), WW_OK);
	assert_null(strchr(b.data, '\033'));
	assert_non_null(strstr(b.data, "outcome #42"));
	assert_non_null(strstr(b.data, "line2"));
	export_buf_reset(&b);
	assert_int_equal(export_show(e, req, NULL, &b), WW_OK);
	assert_non_null(strstr(b.data, "outcome unknown"));
	export_buf_reset(&b);
	assert_int_equal(export_transcript(e, req, out, &b), WW_OK);
	assert_non_null(strstr(b.data, "#41 alice -> carol, bob, party 2"));
	assert_non_null(strstr(b.data, "200/0 12.345ms"));
	export_buf_cleanup(&b);
	export_free(e);
	record_free(req);
	record_free(out);
}

static void
test_conversation_key(void **state)
{
	Ww__Record *req = make_request("x", WW__ACTION__ALLOW);
	struct export_buf b;

	(void)state;
	export_buf_init(&b);
	assert_int_equal(export_conversation_key(req, &b), WW_OK);
	assert_string_equal(b.data, "alice -> bob, carol, party:2");
	export_buf_reset(&b);
	assert_int_equal(
	    record_set_str(&req->message->recipients->chat_id, "c1"), WW_OK);
	assert_int_equal(export_conversation_key(req, &b), WW_OK);
	assert_string_equal(b.data, "chat:c1");
	export_buf_cleanup(&b);
	record_free(req);
}

static void
test_parse_time(void **state)
{
	int64_t now = T0, t = 0;

	(void)state;
	assert_int_equal(filter_parse_time("2h", now, &t), WW_OK);
	assert_true(t == now - 2 * 3600 * NS);
	assert_int_equal(filter_parse_time("3d", now, &t), WW_OK);
	assert_true(t == now - 3 * 86400 * NS);
	assert_int_equal(filter_parse_time("90s", now, &t), WW_OK);
	assert_true(t == now - 90 * NS);
	assert_int_equal(filter_parse_time("1.5h", now, &t), WW_OK);
	assert_true(t == now - 5400 * NS);
	assert_int_equal(filter_parse_time("1w", now, &t), WW_OK);
	assert_true(t == now - 7 * 86400 * NS);
	assert_int_equal(filter_parse_time("now", now, &t), WW_OK);
	assert_true(t == now);
	assert_int_equal(filter_parse_time("2026-11-25", now, &t), WW_OK);
	assert_true(t == INT64_C(1795564800) * NS);
	assert_int_equal(filter_parse_time("2026-11-25T10:30:15.250Z", now, &t),
	                 WW_OK);
	assert_true(t == T0);
	assert_int_equal(
	    filter_parse_time("2026-11-25 18:30:15.25+08:00", now, &t), WW_OK);
	assert_true(t == T0);
	assert_int_equal(filter_parse_time("2026-11-25T10:30", now, &t), 0);
	assert_true(t == INT64_C(1795602600) * NS);
	assert_int_equal(filter_parse_time("2024-02-29", now, &t), WW_OK);
	assert_int_equal(filter_parse_time("1970-01-01T00:00:00Z", now, &t),
	                 WW_OK);
	assert_true(t == 0);
	assert_int_equal(filter_parse_time("@1795602615", now, &t), WW_OK);
	assert_true(t == INT64_C(1795602615) * NS);
}

static void
test_parse_time_bad(void **state)
{
	static const char *bad[] = {"",
	                            "h",
	                            "2",
	                            "2x",
	                            "-2h",
	                            "2h3",
	                            "2026-13-01",
	                            "2025-02-29",
	                            "2026-11-31",
	                            "2026-11-25T24:00",
	                            "2026-11-25T10:61",
	                            "2026-11-25T10:30+25:00",
	                            "2026-11-25X",
	                            "2026-11-25T10:30:15.Z",
	                            "@",
	                            "@12x",
	                            "tomorrow",
	                            "99999999999999d",
	                            "9999-12-31",
	                            "0001-01-01",
	                            "300y",
	                            "110000d"};
	int64_t t = 77;

	(void)state;
	for (size_t i = 0; i < WW_NELEM(bad); i++) {
		if (filter_parse_time(bad[i], T0, &t) != WW_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(t == 77);
	}
}

static void
test_format_time(void **state)
{
	char buf[FILTER_TIME_LEN];

	(void)state;
	assert_int_equal(filter_format_time(T0, buf), 24);
	assert_string_equal(buf, "2026-11-25T10:30:15.250Z");
	filter_format_time(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	filter_format_time(-1, buf); /* 1 ns before the epoch */
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	filter_format_time(INT64_C(951782400) * NS, buf);
	assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
}

static void
test_filter_match(void **state)
{
	Ww__Record *req = make_request("x", WW__ACTION__REDACT);
	Ww__Record *out = make_outcome(41);
	struct filter f;

	(void)state;
	filter_init(&f);
	assert_true(filter_match(&f, req));
	assert_true(filter_match(&f, out));
	assert_false(filter_match(&f, NULL));
	f.sender = "alice";
	assert_true(filter_match(&f, req));
	assert_false(filter_match(&f, out)); /* no message */
	f.sender = "bob";
	assert_false(filter_match(&f, req));
	filter_init(&f);
	f.recipient = "bob";
	assert_true(filter_match(&f, req));
	f.recipient = "2";
	assert_true(filter_match(&f, req));
	f.recipient = "alice";
	assert_false(filter_match(&f, req));
	filter_init(&f);
	f.chat = "c1";
	assert_false(filter_match(&f, req));
	assert_int_equal(
	    record_set_str(&req->message->recipients->chat_id, "c1"), WW_OK);
	assert_true(filter_match(&f, req));
	filter_init(&f);
	f.action = WW__ACTION__REDACT;
	assert_true(filter_match(&f, req));
	assert_false(filter_match(&f, out));
	f.action = WW__ACTION__BLOCK;
	assert_false(filter_match(&f, req));
	filter_init(&f);
	f.kind = WW__KIND__OUTCOME;
	assert_false(filter_match(&f, req));
	assert_true(filter_match(&f, out));
	filter_init(&f);
	f.since_ns = T0;
	assert_true(filter_match(&f, req));
	f.since_ns = T0 + 1;
	assert_false(filter_match(&f, req));
	f.until_ns = T0 + NS; /* exclusive */
	assert_false(filter_match(&f, out));
	f.until_ns = T0 + NS + 1;
	assert_true(filter_match(&f, out));
	record_free(req);
	record_free(out);
}

static void
test_find(void **state)
{
	/* full-width "ＡＢＣ", zero-width space inside, mixed case */
	static const char text[] = "x \xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 y "
	                           "a\xe2\x80\x8b"
	                           "bC abc";
	struct find *f = NULL;
	size_t st[8], en[8], n = 0;

	(void)state;
	assert_int_equal(find_new("AbC", &f), WW_OK);
	assert_int_equal(find_text(f, text, strlen(text), st, en, 8, &n),
	                 WW_OK);
	assert_int_equal(n, 3);
	assert_int_equal(st[0], 2);
	assert_int_equal(en[0], 11); /* three 3-byte characters */
	assert_memory_equal(text + st[1],
	                    "a\xe2\x80\x8b"
	                    "bC",
	                    en[1] - st[1]);
	assert_memory_equal(text + st[2], "abc", 3);
	assert_int_equal(find_text(f, "ab", 2, st, en, 8, &n), WW_OK);
	assert_int_equal(n, 0);
	find_free(f);
	assert_int_equal(find_new("\xe2\x80\x8b", &f), WW_EINVAL);
	assert_null(f);
}

static void
test_highlight(void **state)
{
	struct export *e = NULL;
	struct export_buf b;
	size_t st[1] = {2}, en[1] = {5};

	(void)state;
	assert_int_equal(export_new(0, &e), WW_OK);
	export_buf_init(&b);
	export_highlight(e, "a secret b", 10, st, en, 1, &b);
	assert_string_equal(b.data, "a >>sec<<ret b");
	export_free(e);
	assert_int_equal(export_new(EXPORT_COLOR, &e), WW_OK);
	export_buf_reset(&b);
	export_highlight(e, "a secret b", 10, st, en, 1, &b);
	assert_string_equal(b.data, "a \033[1;7msec\033[0mret b");
	export_buf_cleanup(&b);
	export_free(e);
}

/* A record of each kind with the sub-message that kind carries. */
static Ww__Record *
make_kind(Ww__Kind kind)
{
	Ww__Record *rec;

	if (kind == WW__KIND__REQUEST || kind == WW__KIND__CALLBACK) {
		rec = make_request("x", WW__ACTION__ALERT);
		rec->kind = kind;
		return rec;
	}
	if (kind == WW__KIND__OUTCOME)
		return make_outcome(40);
	rec = record_new(kind);
	assert_non_null(rec);
	rec->seq = 7;
	add_hash(&rec->hash, 1);
	add_hash(&rec->prev_hash, 2);
	if (kind == WW__KIND__TUNNEL) {
		rec->tunnel = malloc(sizeof(*rec->tunnel));
		assert_non_null(rec->tunnel);
		ww__tunnel__init(rec->tunnel);
		assert_int_equal(record_set_str(&rec->tunnel->host, "e.org"),
		                 0);
	} else if (kind == WW__KIND__POLICY) {
		rec->policy = malloc(sizeof(*rec->policy));
		assert_non_null(rec->policy);
		ww__policy_info__init(rec->policy);
		assert_int_equal(
		    record_set_bytes(&rec->policy->text, "a:\n", 3), 0);
	} else if (kind == WW__KIND__CHECKPOINT) {
		rec->checkpoint = malloc(sizeof(*rec->checkpoint));
		assert_non_null(rec->checkpoint);
		ww__checkpoint__init(rec->checkpoint);
		rec->checkpoint->head_seq = 6;
		add_hash(&rec->checkpoint->head_hash, 3);
	}
	return rec;
}

/* Every kind renders in every form; the JSON forms parse. */
static void
test_every_kind(void **state)
{
	static const Ww__Kind kinds[] = {
	    WW__KIND__KIND_UNSPECIFIED, WW__KIND__REQUEST,  WW__KIND__OUTCOME,
	    WW__KIND__TUNNEL,           WW__KIND__CALLBACK, WW__KIND__POLICY,
	    WW__KIND__CHECKPOINT};
	struct export *e = NULL;
	struct export_buf b;
	json_t *v;

	(void)state;
	assert_int_equal(export_new(EXPORT_COLOR, &e), WW_OK);
	export_buf_init(&b);
	for (size_t i = 0; i < WW_NELEM(kinds); i++) {
		Ww__Record *rec = make_kind(kinds[i]);

		for (unsigned full = 0; full <= EXPORT_FULL; full++) {
			v = render_json(rec, NULL, full);
			assert_string_equal(
			    json_string_value(json_object_get(v, "kind")),
			    record_kind_name(kinds[i]));
			json_decref(v);
		}
		assert_int_equal(export_csv(e, rec, NULL, &b), WW_OK);
		assert_int_equal(export_line(e, rec, NULL, &b), WW_OK);
		assert_int_equal(export_show(e, rec, NULL, &b), WW_OK);
		assert_int_equal(export_transcript(e, rec, NULL, &b), WW_OK);
		assert_int_equal(export_conversation_key(rec, &b), WW_OK);
		export_buf_reset(&b);
		record_free(rec);
	}
	export_buf_cleanup(&b);
	export_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_fields),
	    cmocka_unit_test(test_json_outcome_unknown),
	    cmocka_unit_test(test_json_escaping),
	    cmocka_unit_test(test_json_redacted),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_human_safe),
	    cmocka_unit_test(test_conversation_key),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_parse_time_bad),
	    cmocka_unit_test(test_format_time),
	    cmocka_unit_test(test_filter_match),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_highlight),
	    cmocka_unit_test(test_every_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
