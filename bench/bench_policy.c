/*
 * bench_policy.c: policy engine throughput on one core (issue 4 targets).
 *
 * Builds a policy with 10,000 keywords, 100 regexes and every detector,
 * and a corpus of ~1 KB mixed Chinese/English messages (seeded, so runs
 * compare), then measures: compile time, normalization MB/s, scan-only
 * MB/s (pre-normalized text), whole judgement MB/s (normalize + scan +
 * validate + evaluate + verdict) and the judgement's per-message latency
 * percentiles.  Usage: bench_policy [seconds-per-phase] [messages]
 * [only-regexes: re | only one detector: NAME | none] [message bytes]
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ww.h"
#include "policy/detect.h"
#include "policy/normalize.h"
#include "policy/policy.h"
#include "store/record.h"

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

struct rng {
	uint64_t s;
};

static uint32_t
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
static char *
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
static char *
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

/*
 * Throughput is measured in this thread's CPU time, so that other work on
 * the machine does not count against us; latencies in wall-clock time.
 */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct corpus {
	Ww__Message **msgs;
	char **norm; /* normalized text of each message */
	size_t *normlen;
	size_t n;
	size_t bytes;
};

static void
make_corpus(struct rng *r, struct corpus *c, size_t n, size_t size)
{
	c->msgs = calloc(n, sizeof(*c->msgs));
	c->norm = calloc(n, sizeof(*c->norm));
	c->normlen = calloc(n, sizeof(*c->normlen));
	if (c->msgs == NULL || c->norm == NULL || c->normlen == NULL)
		exit(1);
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		char *t = make_message(r, size);

		c->msgs[i] = message_new();
		if (c->msgs[i] == NULL ||
		    record_set_str(&c->msgs[i]->endpoint, "message/send") ||
		    message_add_text(c->msgs[i], "text.content", t,
		                     strlen(t)) ||
		    normalize_str(t, strlen(t), &c->norm[i], &c->normlen[i]))
			exit(1);
		c->msgs[i]->direction = WW__DIRECTION__OUTBOUND;
		c->bytes += strlen(t);
		free(t);
	}
}

static void
bench_normalize(const struct corpus *c, double secs)
{
	struct normalize *n = NULL;
	double t0 = cpu_now(), t;
	size_t bytes = 0;

	if (normalize_new(&n) != WW_OK)
		exit(1);
	do {
		for (size_t i = 0; i < c->n; i++) {
			const char *s = c->msgs[i]->texts[0]->text;
			size_t len = strlen(s);

			normalize_reset(n);
			if (normalize_append(n, s, len) != WW_OK)
				exit(1);
			bytes += len;
		}
	} while ((t = cpu_now() - t0) < secs);
	printf("normalize:  %8.1f MB/s\n", (double)bytes / t / 1e6);
	normalize_free(n);
}

static void
bench_scan(const struct policy *p, struct policy_scratch *s,
           const struct corpus *c, double secs)
{
	double t0 = cpu_now(), t;
	size_t bytes = 0, matches = 0, m;

	do {
		for (size_t i = 0; i < c->n; i++) {
			if (policy_scan_buf(p, s, c->norm[i], c->normlen[i],
			                    &m) != WW_OK)
				exit(1);
			bytes += c->normlen[i];
			matches += m;
		}
	} while ((t = cpu_now() - t0) < secs);
	printf("scan only:  %8.1f MB/s (%.1f raw matches/message)\n",
	       (double)bytes / t / 1e6,
	       (double)matches / ((double)bytes / (double)c->bytes * c->n));
}

static void
bench_judge(const struct policy *p, struct policy_scratch *s,
            const struct corpus *c, double secs)
{
	size_t cap = 1 << 20, nlat = 0, bytes = 0, acts[4] = {0};
	double *lat = malloc(cap * sizeof(*lat)), t0 = cpu_now(), t;

	if (lat == NULL)
		exit(1);
	do {
		for (size_t i = 0; i < c->n; i++) {
			Ww__Verdict *v = NULL;
			char **red = NULL;
			double a = now();

			if (policy_judge(p, s, c->msgs[i], &v, &red) != WW_OK)
				exit(1);
			acts[v->action & 3]++;
			protobuf_c_message_free_unpacked(&v->base, NULL);
			policy_redacted_free(red, c->msgs[i]->n_texts);
			if (nlat < cap)
				lat[nlat++] = now() - a;
			bytes += strlen(c->msgs[i]->texts[0]->text);
		}
	} while ((t = cpu_now() - t0) < secs);
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	printf("judgement:  %8.1f MB/s, %.0f messages/s\n",
	       (double)bytes / t / 1e6, (double)nlat / t);
	printf("latency per ~1 KB message: p50 %.1f us, p99 %.1f us, "
	       "max %.1f us\n",
	       lat[nlat / 2] * 1e6, lat[nlat * 99 / 100] * 1e6,
	       lat[nlat - 1] * 1e6);
	printf("verdicts: allow %zu, alert %zu, redact %zu, block %zu\n",
	       acts[0], acts[1], acts[2], acts[3]);
	free(lat);
}

/* Hostile size: 100,000 keywords in one rule (must compile in bounded time). */
static void
bench_compile_100k(struct rng *r)
{
	struct policy_errors *e = NULL;
	struct policy *p = NULL;
	struct sbuf b = {0};
	double t0;
	int rc;

	sb_str(&b, "version: 1\nrules:\n  - id: big\n    action: block\n"
	           "    match:\n      keywords:\n");
	for (int k = 0; k < 100000; k++) {
		sb_str(&b, "        - \"");
		if (k % 2)
			add_hanzi(r, &b, 3 + (int)rnd(r, 3));
		else
			add_word(r, &b);
		sb_str(&b, "\"\n");
	}
	t0 = cpu_now();
	rc = policy_load_buf("big.yaml", b.p, b.len, &p, &e);
	printf("compile 100k keywords: %.3f s (%s, %zu patterns)\n",
	       cpu_now() - t0, ww_strerror(rc),
	       p ? policy_pattern_count(p) : 0);
	policy_unref(p);
	policy_errors_free(e);
	free(b.p);
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	size_t nmsg = argc > 2 ? (size_t)atol(argv[2]) : 2000;
	struct rng r = {0x9E3779B97F4A7C15ull};
	struct policy_errors *e = NULL;
	struct policy_scratch *s = NULL;
	struct policy *p = NULL;
	struct corpus c = {0};
	char *text = make_policy(
	    &r, argc > 3 && strcmp(argv[3], "all") ? argv[3] : NULL);
	double t0 = cpu_now();

	if (policy_load_buf("bench.yaml", text, strlen(text), &p, &e) !=
	    WW_OK) {
		for (size_t i = 0; i < policy_errors_count(e); i++)
			fprintf(stderr, "%s\n", policy_errors_get(e, i));
		return 1;
	}
	printf("compile:    %8.3f s (%zu rules, %zu patterns, %zu KB policy)\n",
	       cpu_now() - t0, policy_rule_count(p), policy_pattern_count(p),
	       strlen(text) / 1024);
	make_corpus(&r, &c, nmsg, argc > 4 ? (size_t)atol(argv[4]) : 1000);
	printf("corpus:     %zu messages, %.1f KB average\n", c.n,
	       (double)c.bytes / (double)c.n / 1024);
	if (policy_scratch_new(p, &s) != WW_OK)
		return 1;
	bench_normalize(&c, secs);
	bench_scan(p, s, &c, secs);
	bench_judge(p, s, &c, secs);
	bench_compile_100k(&r);
	for (size_t i = 0; i < c.n; i++) {
		message_free(c.msgs[i]);
		free(c.norm[i]);
	}
	free(c.msgs);
	free(c.norm);
	free(c.normlen);
	policy_scratch_free(s);
	policy_unref(p);
	policy_errors_free(e);
	free(text);
	return 0;
}
