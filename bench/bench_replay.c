/*
 * bench_replay.c: throughput of `wwjournal replay --policy` (the
 * retro-hunt, issue 4: >= 100,000 messages/s on one core).
 *
 *   bench_replay [-n N] [-s BYTES] DIR WWJOURNAL
 *
 * Writes DIR/journal (unless it exists) with N requests (default 200,000),
 * each a generated mixed Chinese/English message of about BYTES bytes
 * (default 200) recorded as allowed and followed by its outcome, and
 * DIR/policy.yaml (10,000 keywords, 100 regexes, every detector; the
 * policy of bench_policy), then runs WWJOURNAL over it with --json to
 * /dev/null and prints the child's CPU time (user + system: one thread)
 * and messages per CPU second.  The journal is written without fsync; an
 * existing DIR/journal is reused and must hold N requests.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "ww.h"
#include "bench/policy_corpus.h"
#include "store/journal.h"

#define WINDOW 1024

struct fill {
	struct journal *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	int failed;
	uint64_t seqs[WINDOW];
};

struct slot {
	struct fill *f;
	size_t i;
};

static void
die(const char *what, int rc)
{
	fprintf(stderr, "bench_replay: %s: %s\n", what, ww_strerror(rc));
	exit(1);
}

static void
on_done(int rc, uint64_t seq, void *arg)
{
	struct slot *s = arg;
	struct fill *f = s->f;

	pthread_mutex_lock(&f->mu);
	f->seqs[s->i] = seq;
	if (rc != WW_OK)
		f->failed = rc;
	if (--f->pending == 0)
		pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void
append(struct fill *f, Ww__Record *rec, struct slot *s)
{
	int rc;

	pthread_mutex_lock(&f->mu);
	f->pending++;
	pthread_mutex_unlock(&f->mu);
	if ((rc = journal_append_take(f->j, rec, on_done, s)) != WW_OK)
		die("append", rc);
}

static void
wait_all(struct fill *f)
{
	pthread_mutex_lock(&f->mu);
	while (f->pending > 0)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	if (f->failed != WW_OK)
		die("commit", f->failed);
}

static Ww__Record *
request(struct rng *r, size_t size, uint64_t i)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Message *m = message_new();
	char *text = make_message(r, size);

	if (rec == NULL || m == NULL ||
	    (rec->verdict = malloc(sizeof(*rec->verdict))) == NULL)
		die("record", WW_ENOMEM);
	rec->message = m;
	ww__verdict__init(rec->verdict);
	m->direction = WW__DIRECTION__OUTBOUND;
	if (record_set_str(&m->endpoint, "message/send") ||
	    record_set_str(&m->msgtype, "text") ||
	    record_set_str(&m->sender, i % 3 ? "bob" : "alice") ||
	    message_add_text(m, "text.content", text, strlen(text)) ||
	    record_set_str(&rec->verdict->policy_digest, "bench"))
		die("record", WW_ENOMEM);
	free(text);
	return rec;
}

static Ww__Record *
outcome(uint64_t seq)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);

	if (rec == NULL ||
	    (rec->outcome = malloc(sizeof(*rec->outcome))) == NULL)
		die("record", WW_ENOMEM);
	ww__outcome__init(rec->outcome);
	rec->outcome->forwarded = 1;
	rec->outcome->http_status = 200;
	rec->outcome->request_seq = seq;
	return rec;
}

static void
fill_journal(const char *path, uint64_t n, size_t size)
{
	struct journal_opts o = {
	    .path = path, .sync = JOURNAL_SYNC_NONE, .gateway_id = "bench"};
	struct fill f = {0};
	struct slot slots[WINDOW];
	struct rng r = {0x2545F4914F6CDD1Dull};
	char err[256] = "";
	int rc;

	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	if ((rc = journal_open(&o, &f.j, err, sizeof(err))) != WW_OK) {
		fprintf(stderr, "bench_replay: %s: %s\n", path, err);
		exit(1);
	}
	for (uint64_t done = 0; done < n;) {
		size_t w = n - done < WINDOW ? (size_t)(n - done) : WINDOW;

		for (size_t i = 0; i < w; i++) {
			slots[i] = (struct slot){&f, i};
			append(&f, request(&r, size, done + i), &slots[i]);
		}
		wait_all(&f);
		for (size_t i = 0; i < w; i++)
			append(&f, outcome(f.seqs[i]), &slots[i]);
		wait_all(&f);
		done += w;
	}
	journal_close(f.j);
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mu);
}

static void
write_policy(const char *path)
{
	struct rng r = {0x9E3779B97F4A7C15ull};
	char *text = make_policy(&r, NULL);
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	free(text);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run wwj replay --policy over the journal; CPU seconds of the child. */
static double
run_replay(const char *wwj, const char *journal, const char *policy,
           double *wall)
{
	struct rusage ru;
	double t0 = now();
	int status, fd;
	pid_t pid = fork();

	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0)
			dup2(fd, STDOUT_FILENO);
		execl(wwj, wwj, "-j", journal, "replay", "--policy", policy,
		      "--json", "--no-progress", (char *)NULL);
		perror(wwj);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_replay: %s failed\n", wwj);
		exit(1);
	}
	*wall = now() - t0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	unsigned long long n = 200000;
	size_t size = 200;
	char journal[4096], policy[4096];
	struct stat st;
	double cpu, wall;
	int opt;

	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		if (opt == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (opt == 's')
			size = (size_t)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: bench_replay [-n N] [-s BYTES] DIR "
		                "WWJOURNAL\n");
		return 2;
	}
	snprintf(journal, sizeof(journal), "%s/journal", argv[optind]);
	snprintf(policy, sizeof(policy), "%s/policy.yaml", argv[optind]);
	mkdir(argv[optind], 0700);
	if (stat(journal, &st) != 0) {
		double t0 = now();

		fill_journal(journal, n, size);
		printf("journal:  %llu requests of ~%zu bytes (+ outcomes) "
		       "written in %.1f s\n",
		       n, size, now() - t0);
	}
	write_policy(policy);
	cpu = run_replay(argv[optind + 1], journal, policy, &wall);
	printf("replay --policy: %.2f s CPU (%.2f s wall), %.0f "
	       "messages/s per CPU second\n",
	       cpu, wall, (double)n / cpu);
	return 0;
}
