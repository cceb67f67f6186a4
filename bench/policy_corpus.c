/*
 * policy_corpus.c: see policy_corpus.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "bench/policy_corpus.h"
#include "policy/detect.h"

/* Common characters of business Chinese, 3 bytes each in UTF-8. */
static const char hanzi[] =
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会"
    "可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部"
    "度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应"
    "开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正"
    "心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情"
    "者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长"
    "求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放"
    "决西被干做必战先回则任取据处理府研质客户合同账户密码财务报表项目审批";

static const char *const en_words[] = {
    "the",      "meeting", "report",   "contract", "please",  "review",
    "customer", "account", "invoice",  "budget",   "quarter", "deadline",
    "project",  "update",  "send",     "file",     "team",    "approve",
    "transfer", "payment", "schedule", "call",     "today",   "tomorrow",
    "thanks",   "regards", "draft",    "final",    "version", "price"};

uint32_t
rnd(struct rng *r, uint32_t n)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return (uint32_t)(r->s % n);
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
add_hanzi(struct rng *r, struct sbuf *b, int n)
{
	size_t count = (sizeof(hanzi) - 1) / 3;

	for (int i = 0; i < n; i++)
		sb_add(b, hanzi + 3 * rnd(r, (uint32_t)count), 3);
}

static void
add_word(struct rng *r, struct sbuf *b)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
	int n = 5 + (int)rnd(r, 6);

	for (int i = 0; i < n; i++)
		sb_add(b, &letters[rnd(r, 26)], 1);
}

/* Four shapes of officer-written regexes, numbered to keep them apart. */
static void
add_regex(struct sbuf *b, int i)
{
	char line[200];

	switch (i % 4) {
	case 0:
		snprintf(line, sizeof(line), "\\bord%d-[0-9]{6}\\b", i);
		break;
	case 1:
		snprintf(line, sizeof(line), "\\bproj(?:ect)?[ _-]?x%d\\b", i);
		break;
	case 2:
		snprintf(line, sizeof(line), "acct%d[0-9]{8}", i);
		break;
	default:
		snprintf(line, sizeof(line), "合同编号%d[a-z]{2}[0-9]{4}", i);
	}
	sb_str(b, "        - regex: '");
	sb_str(b, line);
	sb_str(b, "'\n");
}

/* 10,000 keywords in 20 rules, 100 regexes in 10, one rule per detector. */
char *
make_policy(struct rng *r, const char *only)
{
	struct sbuf b = {0};
	char line[256];

	sb_str(&b, "version: 1\nrules:\n");
	for (int rule = 0; rule < 20; rule++) {
		snprintf(line, sizeof(line),
		         "  - id: kw-%d\n    action: %s\n    match:\n"
		         "      keywords:\n",
		         rule,
		         rule % 3 == 0   ? "block"
		         : rule % 3 == 1 ? "redact"
		                         : "alert");
		sb_str(&b, line);
		for (int k = 0; k < 500; k++) {
			sb_str(&b, "        - \"");
			if (k % 2)
				add_hanzi(r, &b, 3 + (int)rnd(r, 2));
			else
				add_word(r, &b);
			sb_str(&b, "\"\n");
		}
	}
	for (int rule = 0;
	     rule < (only && only[0] != '-' && strcmp(only, "re") ? 0 : 10);
	     rule++) {
		snprintf(line, sizeof(line),
		         "  - id: re-%d\n    action: alert\n    match:\n"
		         "      any:\n",
		         rule);
		sb_str(&b, line);
		for (int k = 0; k < 10; k++)
			add_regex(&b, rule * 10 + k);
	}
	for (size_t d = 0; d < detect_count(); d++) {
		if (only && only[0] == '-'
		        ? strcmp(only + 1, detect_get(d)->name) == 0
		        : only && strcmp(only, detect_get(d)->name))
			continue;
		snprintf(
		    line, sizeof(line),
		    "  - id: det-%zu\n    action: redact\n    mode: monitor\n"
		    "    match: {detector: %s}\n",
		    d, detect_get(d)->name);
		sb_str(&b, line);
	}
	return b.p;
}

/* One ~1 KB message: mostly Chinese sentences, English words, some PII. */
char *
make_message(struct rng *r, size_t size)
{
	struct sbuf b = {0};
	char pii[64];

	while (b.len < size) {
		switch (rnd(r, 10)) {
		case 0:
			sb_str(&b, en_words[rnd(r, WW_NELEM(en_words))]);
			sb_str(&b, " ");
			sb_str(&b, en_words[rnd(r, WW_NELEM(en_words))]);
			sb_str(&b, ", ");
			break;
		case 1:
			if (rnd(r, 8) == 0) {
				snprintf(pii, sizeof(pii),
				         "电话 138%08u，邮箱 u%u@example.com。",
				         rnd(r, 100000000), rnd(r, 1000));
				sb_str(&b, pii);
			} else {
				snprintf(pii, sizeof(pii), "%u 元，",
				         rnd(r, 100000));
				sb_str(&b, pii);
			}
			break;
		default:
			add_hanzi(r, &b, 4 + (int)rnd(r, 12));
			sb_str(&b, rnd(r, 2) ? "，" : "。");
		}
	}
	return b.p;
}

char *
make_big_policy(struct rng *r, int n)
{
	struct sbuf b = {0};

	sb_str(&b, "version: 1\nrules:\n  - id: big\n    action: block\n"
	           "    match:\n      keywords:\n");
	for (int k = 0; k < n; k++) {
		sb_str(&b, "        - \"");
		if (k % 2)
			add_hanzi(r, &b, 3 + (int)rnd(r, 3));
		else
			add_word(r, &b);
		sb_str(&b, "\"\n");
	}
	return b.p;
}
