/*
 * bench_decode.c: CPU cost of decoding WeCom requests and reading upstream
 * answers (not a test: run by hand on an idle machine).
 *
 *   bench_decode [-n ROUNDS] [-c CORPUS_DIR] [-d DATA_DIR] [-v]
 *
 * 1. wecom_decode() of every NAME.json body in bench/corpus (as
 *    message/send, the bodies bench/run replays), then of every one in
 *    tests/data/wecom with the path and query of its .expect file.
 * 2. Reading upstream answers as the proxy does per forwarded request:
 *    errcode/errmsg/msgid, the scrubbed body for the journal, and the
 *    token (gettoken) or media id (uploads).
 * Each figure is thread CPU time per call in microseconds, the best of
 * three passes of ROUNDS rounds over the set; -v prints every body.
 */
#include "config.h"

#include <dirent.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ww.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"

#ifndef WW_SRCDIR
#define WW_SRCDIR "."
#endif
#define BENCH_MAX_BODIES 512

struct body {
	char name[128], path[256], query[256];
	uint8_t *data;
	size_t len;
	enum wecom_class cls; /* answers: of the request answered */
};

struct set {
	struct body b[BENCH_MAX_BODIES];
	size_t n;
};

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint8_t *
slurp(const char *file, size_t *len)
{
	FILE *fp = fopen(file, "rb");
	uint8_t *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			*len = (size_t)n;
		}
	}
	fclose(fp);
	return buf;
}

static void
copy_line(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n < cap)
		memcpy(dst, src, n + 1);
}

/* The path and query lines of a tests/data/wecom .expect file. */
static void
read_expect(const char *file, struct body *b)
{
	char line[8192];
	FILE *fp = fopen(file, "r");

	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "path\t", 5) == 0)
			copy_line(b->path, sizeof(b->path), line + 5);
		else if (strncmp(line, "query\t", 6) == 0)
			copy_line(b->query, sizeof(b->query), line + 6);
	}
	fclose(fp);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct body *)a)->name,
	              ((const struct body *)b)->name);
}

/* Every NAME.json of dir; with_expect: path/query from NAME.expect. */
static int
load_dir(const char *dir, int with_expect, struct set *s)
{
	char file[1024];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL) {
		fprintf(stderr, "bench_decode: cannot open %s\n", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL && s->n < BENCH_MAX_BODIES) {
		struct body *b = &s->b[s->n];
		size_t nl = strlen(de->d_name);

		if (nl < 6 || nl - 5 >= sizeof(b->name) ||
		    strcmp(de->d_name + nl - 5, ".json") != 0)
			continue;
		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%.*s", (int)(nl - 5),
		         de->d_name);
		snprintf(b->path, sizeof(b->path), "/cgi-bin/message/send");
		snprintf(b->query, sizeof(b->query), "access_token=BENCH");
		snprintf(file, sizeof(file), "%s/%s.expect", dir, b->name);
		if (with_expect)
			read_expect(file, b);
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		if ((b->data = slurp(file, &b->len)) != NULL)
			s->n++;
	}
	closedir(d);
	qsort(s->b, s->n, sizeof(s->b[0]), by_name);
	return 0;
}

static void
decode_one(const struct secret *key, const struct body *b)
{
	Ww__Message *msg = NULL;
	char err[256];

	(void)wecom_decode(key, b->path, b->query, b->data, b->len, &msg, err,
	                   sizeof(err));
	message_free(msg);
}

/* What the proxy reads of one answer (proxy/exchange.c ex_on_upstream). */
static void
answer_one(const struct secret *key, const struct body *b)
{
	struct wecom_answer a;

	(void)wecom_read_answer(key, b->cls, b->data, b->len, &a);
	wecom_answer_cleanup(&a);
}

typedef void (*bench_fn)(const struct secret *key, const struct body *b);

/* Best of three passes: us per call over the whole set, and per body. */
static double
run_set(const struct secret *key, const struct set *s, bench_fn fn, long rounds,
        int verbose)
{
	double best = 0;

	for (int pass = 0; pass < 3; pass++) {
		double t0 = cpu_us();

		for (long r = 0; r < rounds; r++)
			for (size_t i = 0; i < s->n; i++)
				fn(key, &s->b[i]);
		t0 = (cpu_us() - t0) / (double)rounds / (double)s->n;
		if (pass == 0 || t0 < best)
			best = t0;
	}
	for (size_t i = 0; verbose && i < s->n; i++) {
		double t0 = cpu_us();

		for (long r = 0; r < rounds; r++)
			fn(key, &s->b[i]);
		printf("  %-32s %6zu B %8.2f us\n", s->b[i].name, s->b[i].len,
		       (cpu_us() - t0) / (double)rounds);
	}
	return best;
}

static const struct {
	const char *name, *path, *body;
} answers[] = {
    {"send-ok", "/cgi-bin/message/send",
     "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"\","
     "\"msgid\":\"xhv8xKBP-PSYWY9H0KMxXjaOvsBk8_ymTxEimeyTpYQ\"}"},
    {"send-partial", "/cgi-bin/message/send",
     "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"userid1|userid2\","
     "\"invalidparty\":\"partyid1\",\"invalidtag\":\"tagid1\","
     "\"unlicenseduser\":\"user1\",\"msgid\":\"xx\","
     "\"response_code\":\"xyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyz\"}"},
    {"send-error", "/cgi-bin/message/send",
     "{\"errcode\":40014,\"errmsg\":\"invalid access_token, hint: "
     "[1700000000_42_abc], from ip: 10.0.0.1, more info at "
     "https://open.work.weixin.qq.com/devtool/query?e=40014\"}"},
    {"gettoken", "/cgi-bin/gettoken",
     "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":"
     "\"accesstoken000001accesstoken000001accesstoken000001accesstoken0000"
     "01accesstoken000001accesstoken000001\",\"expires_in\":7200}"},
    {"upload", "/cgi-bin/media/upload",
     "{\"errcode\":0,\"errmsg\":\"\",\"type\":\"image\",\"media_id\":"
     "\"1G6nrLmr5EC3MMb_-zK1dDdzmd0p7cNliYu9V5w7o8K0\","
     "\"created_at\":\"1380000000\"}"},
};

static void
load_answers(struct set *s)
{
	for (size_t i = 0; i < WW_NELEM(answers); i++) {
		struct body *b = &s->b[s->n++];

		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%s", answers[i].name);
		snprintf(b->path, sizeof(b->path), "%s", answers[i].path);
		b->cls = wecom_classify(b->path);
		b->data = (uint8_t *)answers[i].body;
		b->len = strlen(answers[i].body);
	}
}

static void
free_set(struct set *s, int owned)
{
	for (size_t i = 0; owned && i < s->n; i++)
		free(s->b[i].data);
	s->n = 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_decode [-n ROUNDS] [-c CORPUS_DIR] "
	                "[-d DATA_DIR] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *corpus = WW_SRCDIR "/bench/corpus";
	const char *data = WW_SRCDIR "/tests/data/wecom";
	static struct set s;
	struct secret *key;
	long rounds = 2000;
	int c, verbose = 0;

	while ((c = getopt(argc, argv, "n:c:d:v")) != -1) {
		if (c == 'n')
			rounds = atol(optarg);
		else if (c == 'c')
			corpus = optarg;
		else if (c == 'd')
			data = optarg;
		else if (c == 'v')
			verbose = 1;
		else
			usage();
	}
	if (rounds <= 0 ||
	    secret_new((const unsigned char *)"bench", 5, &key) != WW_OK)
		usage();
	if (load_dir(corpus, 0, &s) != 0 || s.n == 0)
		return 1;
	printf("decode, %zu bench/corpus bodies: %.2f us per decode\n", s.n,
	       run_set(key, &s, decode_one, rounds, verbose));
	free_set(&s, 1);
	if (load_dir(data, 1, &s) != 0 || s.n == 0)
		return 1;
	printf("decode, %zu tests/data/wecom bodies: %.2f us per decode\n", s.n,
	       run_set(key, &s, decode_one, rounds / 4 + 1, verbose));
	free_set(&s, 1);
	load_answers(&s);
	printf("answer, %zu upstream answers: %.2f us per answer\n", s.n,
	       run_set(key, &s, answer_one, rounds * 4, verbose));
	free_set(&s, 0);
	secret_free(key);
	return 0;
}
