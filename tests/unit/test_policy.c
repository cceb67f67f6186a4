/* test_policy.c: compiling policies and judging messages with them. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <utf8proc.h>

#include "ww.h"
#include "policy/policy.h"
#include "store/record.h"

static struct policy *
load(const char *text)
{
	struct policy_errors *e = NULL;
	struct policy *p = NULL;
	int rc = policy_load_buf("t.yaml", text, strlen(text), &p, &e);

	for (size_t i = 0; i < policy_errors_count(e); i++)
		fprintf(stderr, "%s\n", policy_errors_get(e, i));
	policy_errors_free(e);
	assert_int_equal(rc, WW_OK);
	assert_non_null(p);
	return p;
}

/* Loading text fails, and some diagnostic starts with want. */
static void
load_fails(const char *text, int want_rc, const char *want)
{
	struct policy_errors *e = NULL;
	struct policy *p = NULL;
	int found = 0;

	assert_int_equal(policy_load_buf("t.yaml", text, strlen(text), &p, &e),
	                 want_rc);
	assert_null(p);
	for (size_t i = 0; i < policy_errors_count(e); i++)
		if (strncmp(policy_errors_get(e, i), want, strlen(want)) == 0)
			found = 1;
	if (!found)
		for (size_t i = 0; i < policy_errors_count(e); i++)
			fprintf(stderr, "got: %s\n", policy_errors_get(e, i));
	assert_true(found);
	policy_errors_free(e);
}

/* A message with the given texts (NULL-terminated). */
static Ww__Message *
msg_new(const char *endpoint, const char *first, ...)
{
	Ww__Message *m = message_new();
	va_list ap;
	char path[32];
	int i = 0;

	assert_non_null(m);
	assert_int_equal(record_set_str(&m->endpoint, endpoint), WW_OK);
	m->direction = WW__DIRECTION__OUTBOUND;
	assert_int_equal(record_set_str(&m->msgtype, "text"), WW_OK);
	va_start(ap, first);
	for (const char *t = first; t != NULL; t = va_arg(ap, const char *)) {
		snprintf(path, sizeof(path), "text.%d", i++);
		assert_int_equal(message_add_text(m, path, t, strlen(t)),
		                 WW_OK);
	}
	va_end(ap);
	return m;
}

struct judged {
	Ww__Verdict *v;
	char **red;
	size_t nred;
};

static void
judge(const struct policy *p, const Ww__Message *m, struct judged *j)
{
	struct policy_scratch *s = NULL;

	assert_int_equal(policy_scratch_new(p, &s), WW_OK);
	assert_int_equal(policy_judge(p, s, m, &j->v, &j->red), WW_OK);
	assert_non_null(j->v);
	j->nred = m->n_texts;
	policy_scratch_free(s);
}

static void
judged_free(struct judged *j)
{
	protobuf_c_message_free_unpacked(&j->v->base, NULL);
	policy_redacted_free(j->red, j->nred);
}

static int
valid_utf8(const char *s)
{
	const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s), i = 0, r;
	utf8proc_int32_t cp;

	while (i < len) {
		if ((r = utf8proc_iterate(u + i, len - i, &cp)) <= 0)
			return 0;
		i += r;
	}
	return 1;
}

static int
has(char **v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], id) == 0)
			return 1;
	return 0;
}

/* Judge one text and return the action; rules/monitor checked by caller. */
static Ww__Action
action_of(const struct policy *p, const char *text)
{
	Ww__Message *m = msg_new("message/send", text, NULL);
	struct judged j;
	Ww__Action a;

	judge(p, m, &j);
	a = j.v->action;
	judged_free(&j);
	message_free(m);
	return a;
}

#define HEAD "version: 1\nrules:\n"

static void
test_block_and_verdict_fields(void **state)
{
	const char *text = HEAD "  - id: no-secret\n"
	                        "    match: {keywords: [机密]}\n"
	                        "    action: block\n"
	                        "    message: 此消息包含机密\n";
	struct policy *p = load(text);
	Ww__Message *m = msg_new("message/send", "这是机密文件", NULL);
	unsigned char md[32];
	char hex[65];
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__BLOCK);
	assert_int_equal(j.v->n_rules, 1);
	assert_string_equal(j.v->rules[0], "no-secret");
	assert_string_equal(j.v->refusal_message, "此消息包含机密");
	assert_null(j.red);
	assert_int_equal(j.v->n_spans, 1);
	assert_int_equal(j.v->spans[0]->part, 0);
	assert_int_equal(j.v->spans[0]->start, 6);
	assert_int_equal(j.v->spans[0]->end, 12);
	assert_string_equal(j.v->spans[0]->rule_id, "no-secret");
	EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(j.v->policy_digest, hex);
	assert_string_equal(policy_digest(p), hex);
	assert_int_equal(policy_rule_count(p), 1);
	assert_int_equal(policy_pattern_count(p), 1);
	judged_free(&j);
	message_free(m);
	assert_int_equal(action_of(p, "没有问题"), WW__ACTION__ALLOW);
	policy_unref(p);
}

static void
test_precedence_and_monitor(void **state)
{
	struct policy *p = load(HEAD "  - id: a\n    match: {keywords: [x1]}\n"
	                             "    action: alert\n"
	                             "  - id: r\n    match: {keywords: [x2]}\n"
	                             "    action: redact\n"
	                             "  - id: b\n    match: {keywords: [x3]}\n"
	                             "    action: block\n"
	                             "  - id: m\n    match: {keywords: [x4]}\n"
	                             "    action: block\n    mode: monitor\n");
	Ww__Message *m = msg_new("message/send", "x1 x2 x3 x4", NULL);
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__BLOCK);
	assert_int_equal(j.v->n_rules, 3);
	assert_true(has(j.v->rules, j.v->n_rules, "a"));
	assert_true(has(j.v->rules, j.v->n_rules, "r"));
	assert_true(has(j.v->rules, j.v->n_rules, "b"));
	assert_int_equal(j.v->n_monitor_rules, 1);
	assert_string_equal(j.v->monitor_rules[0], "m");
	assert_null(j.red); /* block wins: nothing is redacted */
	judged_free(&j);
	message_free(m);
	assert_int_equal(action_of(p, "x1 x2"), WW__ACTION__REDACT);
	assert_int_equal(action_of(p, "x1"), WW__ACTION__ALERT);
	assert_int_equal(action_of(p, "x4"), WW__ACTION__ALLOW);
	policy_unref(p);
}

static void
test_unless_and_conditions(void **state)
{
	struct policy *p = load(
	    HEAD "  - id: a\n"
	         "    match:\n"
	         "      all:\n"
	         "        - keywords: [falcon]\n"
	         "        - any: [{regex: 'f-\\d{4}'}, {keywords: [plan]}]\n"
	         "        - not: {keywords: [draft]}\n"
	         "    unless: {keywords: [公开版]}\n"
	         "    action: block\n");

	(void)state;
	assert_int_equal(action_of(p, "falcon f-1234"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "falcon plan"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "falcon"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "falcon plan draft"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "falcon plan 公开版"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "FALCON F-1234"), WW__ACTION__BLOCK);
	policy_unref(p);
}

/*
 * A rule that matches when something is absent matches a message with no
 * hits at all (rules without hits are skipped per message, but not these),
 * and policy_rule_excluded() names the rules an unless silenced.
 */
static void
test_absence_and_excluded(void **state)
{
	struct policy *p = load(HEAD "  - id: no-ticket\n"
	                             "    match: {not: {regex: 'inc-\\d+'}}\n"
	                             "    action: alert\n"
	                             "  - id: secret\n"
	                             "    match: {keywords: [secret]}\n"
	                             "    unless: {keywords: [public]}\n"
	                             "    action: block\n"
	                             "  - id: other\n"
	                             "    match: {keywords: [other]}\n"
	                             "    action: block\n");
	Ww__Message *m = msg_new("message/send", "secret but public", NULL);
	struct policy_scratch *s = NULL;
	Ww__Verdict *v = NULL;

	(void)state;
	assert_int_equal(action_of(p, "hello"), WW__ACTION__ALERT);
	assert_int_equal(action_of(p, "see inc-42"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "secret"), WW__ACTION__BLOCK);
	assert_int_equal(policy_scratch_new(p, &s), WW_OK);
	assert_int_equal(policy_judge(p, s, m, &v, NULL), WW_OK);
	assert_int_equal(v->action, WW__ACTION__ALERT);
	assert_string_equal(policy_rule_id(p, 1), "secret");
	assert_int_equal(policy_rule_excluded(p, s, 0), 0);
	assert_int_equal(policy_rule_excluded(p, s, 1), 1);
	assert_int_equal(policy_rule_excluded(p, s, 2), 0);
	assert_int_equal(policy_rule_excluded(p, s, 3), 0);
	assert_null(policy_rule_id(p, 3));
	protobuf_c_message_free_unpacked(&v->base, NULL);
	message_free(m);
	policy_scratch_free(s);
	policy_unref(p);
}

/*
 * CJK keywords match anywhere in CJK text, never across character
 * boundaries (a compact two-byte encoding of this text would hold the
 * keyword one byte off: an engine that tried one must not be fooled), and
 * spans map to the original text of the part they are in.
 */
static void
test_cjk_keywords(void **state)
{
	/* 也了 is 4e5f 4e86; 乎 U+5F4E U+8611 is 4e4e 5f4e 8611, which
	 * holds 4e5f4e86 one byte off the character boundaries. */
	struct policy *p = load(HEAD "  - id: k\n"
	                             "    match: {keywords: [\"\xe4\xb9\x9f"
	                             "\xe4\xba\x86\", \"\xe6\x9c\xba\"]}\n"
	                             "    action: redact\n");
	Ww__Message *m =
	    msg_new("message/send", "abc",
	            "x\xe4\xb9\x8e\xe4\xb9\x9f\xe4\xba\x86y", NULL);
	struct judged j;

	(void)state;
	assert_int_equal(action_of(p, "\xe4\xb9\x8e\xe5\xbd\x8e\xe8\x98\x91"),
	                 WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "a\xe6\x9c\xba"
	                              "b"),
	                 WW__ACTION__REDACT);
	assert_int_equal(action_of(p, "\xef\xbc\xa1\xe6\x9c\xba"),
	                 WW__ACTION__REDACT);
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__REDACT);
	assert_int_equal(j.v->n_spans, 1);
	assert_int_equal(j.v->spans[0]->part, 1);
	assert_int_equal(j.v->spans[0]->start, 4);
	assert_int_equal(j.v->spans[0]->end, 10);
	assert_null(j.red[0]);
	assert_string_equal(j.red[1], "x\xe4\xb9\x8e**y");
	judged_free(&j);
	message_free(m);
	policy_unref(p);
}

static void
test_redaction(void **state)
{
	struct policy *p = load(HEAD "  - id: r\n"
	                             "    match: {keywords: [机密, falcon]}\n"
	                             "    action: redact\n");
	/* Part 0: "机密" twice and a full-width "ＦＡＬＣＯＮ"; part 1 clean.
	 */
	Ww__Message *m = msg_new("message/send", "机密:ＦＡＬＣＯＮ,机密!",
	                         "nothing here", NULL);
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__REDACT);
	assert_non_null(j.red);
	assert_string_equal(j.red[0], "**:******,**!");
	assert_true(valid_utf8(j.red[0]));
	assert_null(j.red[1]);
	assert_int_equal(j.v->n_spans, 3);
	assert_int_equal(j.v->spans[1]->start, 7);
	assert_int_equal(j.v->spans[1]->end, 25); /* 6 full-width letters */
	judged_free(&j);
	message_free(m);
	policy_unref(p);
}

static void
test_whole_words(void **state)
{
	struct policy *p = load(HEAD "  - id: w\n"
	                             "    match: {keywords: [cat, 机密]}\n"
	                             "    action: block\n");

	(void)state;
	assert_int_equal(action_of(p, "concatenate"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "cats"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "the cat."), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "Cat"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "我的cat很好"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "écat"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "这是机密文件"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "abc机密xyz"), WW__ACTION__BLOCK);
	policy_unref(p);
}

static void
test_ignore_separators(void **state)
{
	struct policy *p = load(HEAD "  - id: s\n"
	                             "    match:\n"
	                             "      keywords: [falcon, 机密]\n"
	                             "      ignore_separators: true\n"
	                             "    action: redact\n"
	                             "  - id: plain\n"
	                             "    match: {keywords: [hawk]}\n"
	                             "    action: alert\n");
	Ww__Message *m = msg_new("message/send", "say f a-l.c_o n!", NULL);
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__REDACT);
	assert_string_equal(j.red[0], "say ***********!");
	judged_free(&j);
	message_free(m);
	assert_int_equal(action_of(p, "机-密"), WW__ACTION__REDACT);
	assert_int_equal(action_of(p, "机\xe2\x80\x8b密"), WW__ACTION__REDACT);
	assert_int_equal(action_of(p, "机\xf0\x9f\x98\x80密"), /* emoji */
	                 WW__ACTION__REDACT);
	assert_int_equal(action_of(p, "h a w k"), WW__ACTION__ALLOW);
	assert_int_equal(action_of(p, "thefalcon"), WW__ACTION__ALLOW);
	/* Parts are separate: "fal" + "con" is no hit. */
	m = msg_new("message/send", "fal", "con", NULL);
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__ALLOW);
	judged_free(&j);
	message_free(m);
	policy_unref(p);
}

/* The spans of rule id in v, as "part:start-end " in order. */
static void
spans_of(const Ww__Verdict *v, const char *id, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < v->n_spans && n + 32 < cap; i++)
		if (strcmp(v->spans[i]->rule_id, id) == 0)
			n += (size_t)snprintf(out + n, cap - n, "%u:%u-%u ",
			                      (unsigned)v->spans[i]->part,
			                      (unsigned)v->spans[i]->start,
			                      (unsigned)v->spans[i]->end);
}

/*
 * Keywords that ignore separators are scanned in their own database over
 * the stripped view, the other patterns over the normalized text only: a
 * regex's and a detector's hits have the same spans whether or not the
 * policy has such keywords, and those keywords still match only inside a
 * part.
 */
static void
test_stripped_view_database(void **state)
{
#define RD                                                                     \
	"  - id: re\n"                                                         \
	"    match: {regex: 'ord-[0-9]{4}\\b'}\n"                              \
	"    action: alert\n"                                                  \
	"  - id: det\n"                                                        \
	"    match: {detector: cn_mobile}\n"                                   \
	"    action: redact\n"
	struct policy *a = load(HEAD RD);
	struct policy *b = load(HEAD RD "  - id: sv\n"
	                                "    match:\n"
	                                "      keywords: [falcon]\n"
	                                "      ignore_separators: true\n"
	                                "    action: alert\n");
	Ww__Message *m = msg_new("message/send", "ord-1234 and f.a.l", "con",
	                         "call 13812345678 re ORD-9876",
	                         "f a l c o n ord-5555", NULL);
	char sa[256], sb[256];
	struct judged ja, jb;

	(void)state;
	judge(a, m, &ja);
	judge(b, m, &jb);
	spans_of(ja.v, "re", sa, sizeof(sa));
	spans_of(jb.v, "re", sb, sizeof(sb));
	assert_string_equal(sa, "0:0-8 2:20-28 3:12-20 ");
	assert_string_equal(sb, sa);
	spans_of(ja.v, "det", sa, sizeof(sa));
	spans_of(jb.v, "det", sb, sizeof(sb));
	assert_string_equal(sa, "2:5-16 ");
	assert_string_equal(sb, sa);
	spans_of(jb.v, "sv", sb, sizeof(sb));
	assert_string_equal(sb, "3:0-11 "); /* not "f.a.l" + "con" */
	judged_free(&ja);
	judged_free(&jb);
	message_free(m);
	policy_unref(a);
	policy_unref(b);
#undef RD
}

static void
test_lists_and_spans_in_parts(void **state)
{
	struct policy *p = load("version: 1\n"
	                        "lists:\n"
	                        "  secret: [\"project falcon\", 未公开财报]\n"
	                        "rules:\n"
	                        "  - id: l\n"
	                        "    match: {list: secret}\n"
	                        "    action: alert\n");
	Ww__Message *m =
	    msg_new("message/send", "hello", "about PROJECT  falcon",
	            "about Project Falcon", NULL);
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__ALERT);
	assert_int_equal(j.v->n_spans, 1);
	assert_int_equal(j.v->spans[0]->part, 2);
	assert_int_equal(j.v->spans[0]->start, 6);
	assert_int_equal(j.v->spans[0]->end, 20);
	judged_free(&j);
	message_free(m);
	policy_unref(p);
}

static void
test_scope(void **state)
{
	struct policy *p =
	    load(HEAD "  - id: s\n"
	              "    scope:\n"
	              "      direction: outbound\n"
	              "      endpoints: [message/send, webhook/*]\n"
	              "      msgtypes: [text]\n"
	              "      senders: [zhangsan]\n"
	              "      recipients: [lisi]\n"
	              "    match: {keywords: [x]}\n"
	              "    action: block\n"
	              "  - id: c\n"
	              "    scope: {chats: [chat1]}\n"
	              "    match: {keywords: [y]}\n"
	              "    action: block\n");
	Ww__Message *m = msg_new("message/send", "x y", NULL);
	struct policy_scratch *s = NULL;
	Ww__Verdict *v = NULL;

	(void)state;
	assert_int_equal(policy_scratch_new(p, &s), WW_OK);
#define EXPECT(n)                                                              \
	do {                                                                   \
		assert_int_equal(policy_judge(p, s, m, &v, NULL), WW_OK);      \
		assert_int_equal(v->n_rules, (n));                             \
		protobuf_c_message_free_unpacked(&v->base, NULL);              \
	} while (0)
	EXPECT(0); /* no sender, no recipients, no chat */
	assert_int_equal(record_set_str(&m->sender, "zhangsan"), WW_OK);
	assert_int_equal(record_add_str(&m->recipients->n_users,
	                                &m->recipients->users, "lisi"),
	                 WW_OK);
	EXPECT(1);
	assert_int_equal(record_set_str(&m->recipients->chat_id, "chat1"),
	                 WW_OK);
	EXPECT(2);
	m->direction = WW__DIRECTION__INBOUND;
	EXPECT(1);
	m->direction = WW__DIRECTION__OUTBOUND;
	assert_int_equal(record_set_str(&m->endpoint, "webhook/send"), WW_OK);
	EXPECT(2);
	assert_int_equal(record_set_str(&m->endpoint, "appchat/send"), WW_OK);
	EXPECT(1);
	assert_int_equal(record_set_str(&m->endpoint, "message/send"), WW_OK);
	assert_int_equal(record_set_str(&m->msgtype, "markdown"), WW_OK);
	EXPECT(1);
	assert_int_equal(record_set_str(&m->msgtype, "text"), WW_OK);
	assert_int_equal(record_set_str(&m->sender, "wangwu"), WW_OK);
	EXPECT(1);
#undef EXPECT
	policy_scratch_free(s);
	message_free(m);
	policy_unref(p);
}

static void
test_detector_min_count(void **state)
{
	struct policy *p = load(HEAD "  - id: d\n"
	                             "    match:\n"
	                             "      detector: email\n"
	                             "      min_count: 2\n"
	                             "    action: redact\n");
	Ww__Message *m;
	struct judged j;

	(void)state;
	assert_int_equal(action_of(p, "a@example.com and A@Example.com"),
	                 WW__ACTION__ALLOW); /* the same value twice */
	m = msg_new("message/send", "写信给 a@example.com 或 b@example.org",
	            NULL);
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__REDACT);
	assert_string_equal(j.red[0], "写信给 ************* 或 *************");
	assert_true(valid_utf8(j.red[0]));
	judged_free(&j);
	message_free(m);
	policy_unref(p);
}

/* A valid value followed by more digits or text is still found. */
static void
test_detector_value_followed_by_text(void **state)
{
	struct policy *p = load(HEAD "  - id: cards\n"
	                             "    match: { detector: credit_card }\n"
	                             "    action: block\n"
	                             "  - id: iban\n"
	                             "    match: { detector: iban }\n"
	                             "    action: block\n");

	(void)state;
	assert_int_equal(action_of(p, "卡 4111111111111111 12月到期"),
	                 WW__ACTION__BLOCK);
	assert_int_equal(
	    action_of(p, "IBAN DE89 3704 0044 0532 0130 00 to Anna"),
	    WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "卡 4111111111111112 12月到期"),
	                 WW__ACTION__ALLOW); /* Luhn fails */
	policy_unref(p);
}

static void
test_compile_errors(void **state)
{
	(void)state;
	load_fails(HEAD "  - id: bad-regex\n"
	                "    match: {regex: 'falcon('}\n"
	                "    action: block\n",
	           WW_EPARSE,
	           "t.yaml:4: rule bad-regex: regex 'falcon(' rejected:");
	load_fails(HEAD "  - id: a\n    match: {keywords: [ok]}\n"
	                "    action: block\n"
	                "  - id: b\n    match:\n      any:\n"
	                "        - regex: '(?<=x)y'\n"
	                "        - regex: 'z*'\n"
	                "    action: block\n",
	           WW_EPARSE, "t.yaml:9: rule b: regex '(?<=x)y' rejected:");
	load_fails(HEAD "  - id: b\n    match:\n      any:\n"
	                "        - regex: '(?<=x)y'\n"
	                "        - regex: 'z*'\n"
	                "    action: block\n",
	           WW_EPARSE, "t.yaml:7: rule b: regex 'z*' rejected:");
	load_fails(HEAD "  - id: som\n"
	                "    match: {regex: '(a|b)*c{500}'}\n"
	                "    action: redact\n",
	           WW_EPARSE,
	           "t.yaml:4: rule som: regex '(a|b)*c{500}' rejected: "
	           "Pattern is too large. (vectorscan cannot track where");
	load_fails(HEAD "  - id: z\n    match: {keywords: [\"\xe2\x80\x8b\"]}\n"
	                "    action: block\n",
	           WW_EPARSE, "t.yaml:4: rule z: keyword");
}

static void
test_load_file_and_refs(void **state)
{
	struct policy_errors *e = NULL;
	struct policy *p = NULL;
	char path[] = "/tmp/test_policy_XXXXXX";
	const char *text = HEAD "  - id: a\n    match: {keywords: [k]}\n"
	                        "    action: alert\n";
	size_t len = 0;
	FILE *fp;
	int fd;

	(void)state;
	assert_int_equal(policy_load_file("/nonexistent/p.yaml", &p, &e),
	                 WW_ENOTFOUND);
	assert_int_equal(policy_errors_count(e), 1);
	assert_non_null(strstr(policy_errors_get(e, 0), "/nonexistent/p.yaml"));
	policy_errors_free(e);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(policy_load_file(path, &p, NULL), WW_OK);
	unlink(path);
	assert_string_equal(policy_file(p), path);
	assert_string_equal(policy_text(p, &len), text);
	assert_int_equal(len, strlen(text));
	assert_ptr_equal(policy_ref(p), p);
	policy_unref(p);
	assert_int_equal(action_of(p, "k"), WW__ACTION__ALERT);
	policy_unref(p);
	policy_unref(NULL);
}

static void
test_invalid_utf8_text_and_scratch_reuse(void **state)
{
	struct policy *p1 = load(HEAD "  - id: r\n"
	                              "    match: {keywords: [机密]}\n"
	                              "    action: redact\n");
	struct policy *p2 = load(HEAD "  - id: b\n"
	                              "    match: {regex: 'x\\d+'}\n"
	                              "    action: block\n");
	/* Broken UTF-8 around the keyword: kept as it is, keyword masked. */
	Ww__Message *m = msg_new("message/send", "\xff机密\xe6\x9c x12", NULL);
	struct policy_scratch *s = NULL;
	Ww__Verdict *v = NULL;
	char **red = NULL;

	(void)state;
	assert_int_equal(policy_scratch_new(p1, &s), WW_OK);
	assert_int_equal(policy_judge(p1, s, m, &v, &red), WW_OK);
	assert_int_equal(v->action, WW__ACTION__REDACT);
	assert_int_equal(v->spans[0]->start, 1);
	assert_int_equal(v->spans[0]->end, 7);
	assert_string_equal(red[0], "\xff**\xe6\x9c x12");
	protobuf_c_message_free_unpacked(&v->base, NULL);
	policy_redacted_free(red, m->n_texts);
	/* The same scratch, fitted to another policy. */
	assert_int_equal(policy_scratch_fit(p2, s), WW_OK);
	assert_int_equal(policy_judge(p2, s, m, &v, NULL), WW_OK);
	assert_int_equal(v->action, WW__ACTION__BLOCK);
	assert_string_equal(v->refusal_message,
	                    "blocked by compliance policy (rule b)");
	protobuf_c_message_free_unpacked(&v->base, NULL);
	policy_scratch_free(s);
	message_free(m);
	policy_unref(p1);
	policy_unref(p2);
}

static void
test_empty_policy_and_message(void **state)
{
	struct policy *p = load("version: 1\nrules: []\n");
	Ww__Message *m = msg_new("message/send", NULL);
	struct judged j;

	(void)state;
	judge(p, m, &j);
	assert_int_equal(j.v->action, WW__ACTION__ALLOW);
	assert_int_equal(j.v->n_rules, 0);
	judged_free(&j);
	message_free(m);
	assert_int_equal(action_of(p, "anything"), WW__ACTION__ALLOW);
	policy_unref(p);
}

/* Hostile size: 100,000 keywords compile (in bounded time) and work. */
static void
test_hundred_thousand_keywords(void **state)
{
	size_t cap = 4u << 20, n;
	char *text = malloc(cap);
	struct policy *p;

	(void)state;
	assert_non_null(text);
	n = (size_t)snprintf(text, cap,
	                     HEAD "  - id: big\n    action: block\n"
	                          "    match:\n      keywords: [");
	for (int i = 0; i < 100000; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s%s%05d",
		                      i ? "," : "", i % 2 ? "机密" : "kw", i);
	snprintf(text + n, cap - n, "]\n");
	p = load(text);
	assert_int_equal(policy_pattern_count(p), 100000);
	assert_int_equal(action_of(p, "see kw50000 now"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "这是机密99999号"), WW__ACTION__BLOCK);
	assert_int_equal(action_of(p, "see kw5000 now"), WW__ACTION__ALLOW);
	policy_unref(p);
	free(text);
}

struct worker {
	const struct policy *p;
	int ok;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct policy_scratch *s = NULL;
	Ww__Message *m = msg_new("message/send", "这是机密文件 x2", NULL);
	Ww__Message *c = msg_new("message/send", "nothing at all", NULL);

	w->ok = policy_scratch_new(w->p, &s) == WW_OK;
	for (int i = 0; i < 2000 && w->ok; i++) {
		Ww__Verdict *v = NULL;
		char **red = NULL;
		const Ww__Message *x = i % 2 ? c : m;

		if (policy_judge(w->p, s, x, &v, &red) != WW_OK) {
			w->ok = 0;
			break;
		}
		if (v->action !=
		        (i % 2 ? WW__ACTION__ALLOW : WW__ACTION__REDACT) ||
		    (i % 2 == 0 && strcmp(red[0], "这是**文件 **") != 0))
			w->ok = 0;
		protobuf_c_message_free_unpacked(&v->base, NULL);
		policy_redacted_free(red, x->n_texts);
	}
	policy_scratch_free(s);
	message_free(m);
	message_free(c);
	return NULL;
}

static void
test_threads_share_a_policy(void **state)
{
	struct policy *p = load(HEAD "  - id: r\n"
	                             "    match: {keywords: [机密, x2]}\n"
	                             "    action: redact\n");
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i].p = p;
		w[i].ok = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		                 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_true(w[i].ok);
	}
	policy_unref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_and_verdict_fields),
	    cmocka_unit_test(test_precedence_and_monitor),
	    cmocka_unit_test(test_unless_and_conditions),
	    cmocka_unit_test(test_absence_and_excluded),
	    cmocka_unit_test(test_cjk_keywords),
	    cmocka_unit_test(test_redaction),
	    cmocka_unit_test(test_whole_words),
	    cmocka_unit_test(test_ignore_separators),
	    cmocka_unit_test(test_stripped_view_database),
	    cmocka_unit_test(test_lists_and_spans_in_parts),
	    cmocka_unit_test(test_scope),
	    cmocka_unit_test(test_detector_min_count),
	    cmocka_unit_test(test_detector_value_followed_by_text),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_load_file_and_refs),
	    cmocka_unit_test(test_invalid_utf8_text_and_scratch_reuse),
	    cmocka_unit_test(test_empty_policy_and_message),
	    cmocka_unit_test(test_hundred_thousand_keywords),
	    cmocka_unit_test(test_threads_share_a_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
