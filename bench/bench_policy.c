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
#include "bench/policy_corpus.h"
#include "policy/detect.h"
#include "policy/normalize.h"
#include "policy/policy.h"
#include "store/record.h"

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
	size_t *len; /* bytes of each message's text */
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
	c->len = calloc(n, sizeof(*c->len));
	if (c->msgs == NULL || c->norm == NULL || c->normlen == NULL ||
	    c->len == NULL)
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
		c->len[i] = strlen(t);
		c->bytes += c->len[i];
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
			size_t len = c->len[i];

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
			bytes += c->len[i];
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
	char *text = make_big_policy(r, 100000);
	double t0;
	int rc;

	t0 = cpu_now();
	rc = policy_load_buf("big.yaml", text, strlen(text), &p, &e);
	printf("compile 100k keywords: %.3f s (%s, %zu patterns)\n",
	       cpu_now() - t0, ww_strerror(rc),
	       p ? policy_pattern_count(p) : 0);
	policy_unref(p);
	policy_errors_free(e);
	free(text);
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
	free(c.len);
	policy_scratch_free(s);
	policy_unref(p);
	policy_errors_free(e);
	free(text);
	return 0;
}
