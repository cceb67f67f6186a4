/*
 * bench_journal.c: journal throughput (not a test; see bench/README.md).
 *
 *   bench_journal [-s SECONDS] [-n FILL_RECORDS] [-d DIR] [-N] [-O]
 *                 [-u MICROS] [-g MICROS] [-w WRITERS] [-D MICROS]
 *
 * 1. Durable appends/s (sync=full, group commit) with 1, 4 and 32
 *    writers, each waiting for its record to be durable before the next,
 *    as the proxy does per request.  -w N: only N writers.  -O: after
 *    each durable REQUEST the writer also appends its OUTCOME without
 *    waiting, as the gateway does (records/s then counts both); -u: after
 *    waiting MICROS for the "upstream"; -g: and MICROS more before the
 *    next REQUEST (the client's turn), so that OUTCOMEs arrive on their
 *    own.  -D: the journal's commit_delay_us.  -N also runs them with
 *    sync=none, the CPU-bound ceiling (no fsync).  -s 0 skips this part.
 *    Each line also gives the CPU time per record of the whole process
 *    (appenders, record building and writer) and of the writer thread
 *    alone (with its share of kernel time), and the records and writer
 *    CPU per commit (LMDB transactions, read back from the segments,
 *    including the few of open and close).
 * 2. Fills a journal with FILL_RECORDS records (requests, then an outcome
 *    for each), then measures verify (MB/s of stored record bytes,
 *    records/s) and a scan that unpacks every record and joins each
 *    request with its outcome (records/s; export before formatting).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "ww.h"
#include "log.h"
#include "store/journal.h"
#include "store/record.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A REQUEST shaped like a real text message (about 1.5 KB packed). */
static Ww__Record *
bench_record(unsigned n)
{
	static const char text[] =
	    "Quarterly numbers for the sales team: please review the attached "
	    "figures before Friday and reply with corrections. Contact "
	    "zhangsan@example.com or call 138-0013-8000 if anything is off.";
	char body[1024];
	Ww__Record *rec = record_new(WW__KIND__REQUEST);
	Ww__Message *m = message_new();
	int len;

	if (rec == NULL || m == NULL) {
		record_free(rec);
		message_free(m);
		return NULL;
	}
	rec->message = m;
	len = snprintf(
	    body, sizeof(body),
	    "{\"touser\":\"user%u|lisi\",\"msgtype\":\"text\",\"agentid\":"
	    "1000002,\"text\":{\"content\":\"%s\"},\"safe\":0}",
	    n % 500, text);
	if (record_set_str(&rec->method, "POST") != WW_OK ||
	    record_set_str(&rec->path, "/cgi-bin/message/send") != WW_OK ||
	    record_set_str(
	        &rec->query,
	        "access_token=hmac:00112233445566778899aabbccddeeff") !=
	        WW_OK ||
	    record_set_str(&m->endpoint, "message/send") != WW_OK ||
	    record_set_str(&m->sender, "agent:1000002") != WW_OK ||
	    record_set_str(&m->msgtype, "text") != WW_OK ||
	    record_add_str(&m->recipients->n_users, &m->recipients->users,
	                   "lisi") != WW_OK ||
	    message_add_text(m, "text.content", text, sizeof(text) - 1) !=
	        WW_OK ||
	    record_set_bytes(&m->body, body, (size_t)len) != WW_OK) {
		record_free(rec);
		return NULL;
	}
	return rec;
}

/*
 * Calibration: the filesystem's fdatasync latency for an in-place 4 KiB
 * overwrite, the floor of one durable commit (LMDB syncs twice per commit).
 */
static double
fsync_ms(const char *root)
{
	char path[512], page[4096];
	double t0;
	int fd, n = 100;

	snprintf(path, sizeof(path), "%s/fsync-probe", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(page, 1, sizeof(page));
	if (pwrite(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page) ||
	    fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	t0 = now_s();
	for (int i = 0; i < n; i++)
		if (pwrite(fd, page, sizeof(page), 0) !=
		        (ssize_t)sizeof(page) ||
		    fdatasync(fd) != 0)
			break;
	t0 = (now_s() - t0) * 1000 / n;
	close(fd);
	unlink(path);
	return t0;
}

struct writer {
	struct journal *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int rc;
	uint64_t seq;
	double until;
	uint64_t appended;
	int outcomes;         /* -O: also append an OUTCOME per REQUEST */
	unsigned upstream_us; /* -u: wait this long before the OUTCOME */
	unsigned gap_us;      /* -g: and this long after it */
	atomic_int *failed;
};

static Ww__Record *fill_outcome(uint64_t request_seq);

/* CPU seconds (user + system) of the whole process so far. */
static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The journal writer thread's /proc/self/task entry name, or -1. */
static int
writer_tid(char *tid, size_t len)
{
	char path[300], buf[64];
	struct dirent *de;
	int rc = -1;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	while (d != NULL && rc < 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		         de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		buf[0] = '\0';
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		if (strcmp(buf, "wwjournal\n") == 0) {
			snprintf(tid, len, "%s", de->d_name);
			rc = 0;
		}
	}
	if (d != NULL)
		closedir(d);
	return rc;
}

/*
 * CPU seconds of the journal writer thread ("wwjournal"), or -1, and the
 * share of it spent in the kernel (*sys, from the tick counts).
 */
static double
writer_cpu_s(double *sys)
{
	char tid[300], path[400], buf[1024], *p;
	unsigned long long ns = 0, ut = 0, st = 0;
	double r = -1;
	FILE *f;

	*sys = 0;
	if (writer_tid(tid, sizeof(tid)) != 0)
		return -1;
	/* schedstat: ns on the CPU, ns waiting, timeslices */
	snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", tid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%llu", &ns) == 1)
			r = (double)ns / 1e9;
		fclose(f);
	}
	/* stat: utime and stime are fields 14 and 15, 12 and 13 after ")" */
	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	if ((f = fopen(path, "r")) == NULL)
		return r;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 1,
	           " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           &ut, &st) == 2 &&
	    ut + st > 0)
		*sys = (double)st / (double)(ut + st);
	fclose(f);
	return r;
}

/* Commits (LMDB transactions) in the journal dir's segments. */
static unsigned long long
commits(const char *dir)
{
	char path[1024];
	unsigned long long n = 0;
	struct dirent *de;
	MDB_envinfo info;
	MDB_env *env;
	DIR *d = opendir(dir);

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (mdb_env_create(&env) != 0)
			continue;
		mdb_env_set_maxdbs(env, 8);
		if (mdb_env_open(env, path, MDB_RDONLY, 0) == 0 &&
		    mdb_env_info(env, &info) == 0)
			n += info.me_last_txnid;
		mdb_env_close(env);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static void
writer_cb(int rc, uint64_t seq, void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->seq = seq;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	unsigned n = 0;

	while (now_s() < w->until) {
		Ww__Record *rec = bench_record(n++);
		if (rec == NULL)
			break;
		w->done = 0;
		if (journal_append_take(w->j, rec, writer_cb, w) != WW_OK)
			break;
		pthread_mutex_lock(&w->mu);
		while (!w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
		if (w->rc != WW_OK) {
			atomic_fetch_add(w->failed, 1);
			break;
		}
		w->appended++;
		if (!w->outcomes)
			continue;
		if (w->upstream_us > 0)
			usleep(w->upstream_us);
		if ((rec = fill_outcome(w->seq)) == NULL ||
		    journal_append_take(w->j, rec, NULL, NULL) != WW_OK)
			break;
		w->appended++;
		if (w->gap_us > 0)
			usleep(w->gap_us);
	}
	return NULL;
}

static unsigned commit_delay_us; /* -D */

static int
open_journal(const char *dir, enum journal_sync sync, struct journal **j)
{
	struct journal_opts o;
	char err[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.sync = sync;
	o.gateway_id = "bench";
	o.segment = "none";
	o.map_size = 1u << 30;
	o.commit_delay_us = commit_delay_us;
	rc = journal_open(&o, j, err, sizeof(err));
	if (rc != WW_OK)
		fprintf(stderr, "journal_open %s: %s\n", dir, err);
	return rc;
}

/* Durable appends/s with nw writers for secs seconds. */
static int
bench_appends(const char *root, int nw, double secs, enum journal_sync sync,
              int outcomes, const unsigned us[2])
{
	char dir[512];
	struct journal *j;
	struct writer *w = calloc((size_t)nw, sizeof(*w));
	pthread_t *th = calloc((size_t)nw, sizeof(*th));
	atomic_int failed = 0;
	uint64_t total = 0;
	double t0, t1, c0, c1, wc, wsys;
	unsigned long long nc;

	if (w == NULL || th == NULL)
		return WW_ENOMEM;
	snprintf(dir, sizeof(dir), "%s/appends-%d-%d", root, nw, (int)sync);
	if (open_journal(dir, sync, &j) != WW_OK)
		return WW_EIO;
	c0 = cpu_s();
	t0 = now_s();
	for (int i = 0; i < nw; i++) {
		w[i].j = j;
		w[i].outcomes = outcomes;
		w[i].upstream_us = us[0];
		w[i].gap_us = us[1];
		w[i].until = t0 + secs;
		w[i].failed = &failed;
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_cond_init(&w[i].cv, NULL);
		pthread_create(&th[i], NULL, writer_run, &w[i]);
	}
	for (int i = 0; i < nw; i++) {
		pthread_join(th[i], NULL);
		total += w[i].appended;
		pthread_mutex_destroy(&w[i].mu);
		pthread_cond_destroy(&w[i].cv);
	}
	t1 = now_s();
	wc = writer_cpu_s(&wsys);
	journal_close(j);
	c1 = cpu_s();
	nc = commits(dir);
	if (total == 0)
		total = 1;
	if (nc == 0)
		nc = 1;
	printf("%s appends, %2d writers: %9.0f records/s (%llu in %.2f s"
	       "%s), CPU %.1f us/record, writer thread %.1f us/record "
	       "(%.0f%% system), %.1f records and %.0f writer us per commit\n",
	       sync == JOURNAL_SYNC_FULL ? "durable" : "no-sync", nw,
	       (double)total / (t1 - t0), (unsigned long long)total, t1 - t0,
	       atomic_load(&failed) ? ", SOME FAILED" : "",
	       (c1 - c0) * 1e6 / (double)total, wc * 1e6 / (double)total,
	       wsys * 100, (double)total / (double)nc, wc * 1e6 / (double)nc);
	free(w);
	free(th);
	return atomic_load(&failed) ? WW_EIO : WW_OK;
}

struct filler {
	atomic_ullong done;
	uint64_t *seqs; /* request i's sequence number */
};

struct fill_slot {
	struct filler *f;
	unsigned i;
};

static void
fill_cb(int rc, uint64_t seq, void *arg)
{
	struct fill_slot *s = arg;

	if (rc == WW_OK)
		s->f->seqs[s->i] = seq;
	atomic_fetch_add(&s->f->done, 1);
}

static Ww__Record *
fill_outcome(uint64_t request_seq)
{
	Ww__Record *rec = record_new(WW__KIND__OUTCOME);
	Ww__Outcome *o = malloc(sizeof(*o));

	if (rec == NULL || o == NULL) {
		free(o);
		record_free(rec);
		return NULL;
	}
	ww__outcome__init(o);
	rec->outcome = o;
	o->forwarded = 1;
	o->http_status = 200;
	o->request_seq = request_seq;
	o->latency_us = 25000;
	if (record_set_str(&o->errmsg, "ok") != WW_OK ||
	    record_set_str(&o->msgid, "msgid-bench") != WW_OK) {
		record_free(rec);
		return NULL;
	}
	return rec;
}

/* n/2 requests, then an outcome for each (so export has joins to do). */
static int
fill(const char *dir, unsigned n)
{
	struct journal *j;
	struct filler f;
	struct fill_slot *slots;
	unsigned half = n / 2;
	int rc;

	atomic_store(&f.done, 0);
	f.seqs = calloc(half ? half : 1, sizeof(*f.seqs));
	slots = calloc(half ? half : 1, sizeof(*slots));
	if (f.seqs == NULL || slots == NULL) {
		free(f.seqs);
		free(slots);
		return WW_ENOMEM;
	}
	rc = open_journal(dir, JOURNAL_SYNC_NONE, &j);
	for (unsigned i = 0; rc == WW_OK && i < half; i++) {
		Ww__Record *rec = bench_record(i);
		slots[i].f = &f;
		slots[i].i = i;
		rc = rec ? journal_append_take(j, rec, fill_cb, &slots[i])
		         : WW_ENOMEM;
	}
	while (rc == WW_OK && atomic_load(&f.done) < half)
		usleep(1000);
	for (unsigned i = 0; rc == WW_OK && i < half; i++) {
		Ww__Record *rec = fill_outcome(f.seqs[i]);
		rc = rec ? journal_append_take(j, rec, NULL, NULL) : WW_ENOMEM;
	}
	journal_close(j); /* NULL when open failed */
	free(f.seqs);
	free(slots);
	return rc;
}

struct join_state {
	struct journal_reader *r;
	uint64_t requests;
	uint64_t joined;
};

/* What export does before formatting: each REQUEST with its OUTCOME. */
static int
join_cb(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct join_state *s = arg;
	Ww__Record *o = NULL;
	char why[256];

	(void)err;
	if (rec == NULL || rec->kind != WW__KIND__REQUEST)
		return 0;
	s->requests++;
	if (journal_get_outcome(s->r, seq, &o, why, sizeof(why)) == WW_OK)
		s->joined++;
	record_free(o);
	return 0;
}

static int
bench_read(const char *root, unsigned n)
{
	char dir[512], err[256];
	struct journal_reader *r;
	struct journal_verify_result res;
	struct join_state js = {NULL, 0, 0};
	double t0, t1, t2;
	int rc;

	snprintf(dir, sizeof(dir), "%s/fill", root);
	if ((rc = fill(dir, n)) != WW_OK)
		return rc;
	rc = journal_reader_open(dir, &r, err, sizeof(err));
	if (rc != WW_OK) {
		fprintf(stderr, "reader: %s\n", err);
		return rc;
	}
	t0 = now_s();
	rc = journal_verify(r, NULL, NULL, NULL, &res);
	t1 = now_s();
	js.r = r;
	if (rc == WW_OK)
		rc = journal_scan(r, 1, 0, join_cb, &js);
	t2 = now_s();
	journal_reader_close(r);
	if (rc != WW_OK) {
		fprintf(stderr, "verify/scan failed: %s\n", res.reason);
		return rc;
	}
	printf("verify: %9.0f MB/s, %9.0f records/s (%llu records, %.1f MB, "
	       "%.3f s)\n",
	       (double)res.bytes / 1e6 / (t1 - t0),
	       (double)res.records / (t1 - t0), (unsigned long long)res.records,
	       (double)res.bytes / 1e6, t1 - t0);
	printf("scan + join (export minus formatting): %9.0f records/s "
	       "(%llu requests, %llu joined, %.3f s)\n",
	       (double)res.records / (t2 - t1), (unsigned long long)js.requests,
	       (unsigned long long)js.joined, t2 - t1);
	return WW_OK;
}

int
main(int argc, char **argv)
{
	char root[256] = "";
	const char *base = "/tmp";
	double secs = 3;
	unsigned n = 200000;
	int writers[] = {1, 4, 32};
	size_t nwriters = WW_NELEM(writers);
	int c, rc = WW_OK, nosync = 0, outcomes = 0;
	unsigned us[2] = {0, 0}; /* -u, -g */

	while ((c = getopt(argc, argv, "s:n:d:NOu:g:w:D:")) != -1) {
		if (c == 's')
			secs = atof(optarg);
		else if (c == 'n')
			n = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'd')
			base = optarg;
		else if (c == 'N')
			nosync = 1;
		else if (c == 'O')
			outcomes = 1;
		else if (c == 'u')
			us[0] = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'D')
			commit_delay_us = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'g')
			us[1] = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'w' && atoi(optarg) > 0) {
			writers[0] = atoi(optarg); /* only this many */
			nwriters = 1;
		} else {
			fprintf(
			    stderr,
			    "usage: bench_journal [-s SECONDS] [-n RECORDS] "
			    "[-d DIR] [-N] [-O] [-u MICROS] [-g MICROS] "
			    "[-w WRITERS] [-D MICROS]\n");
			return 2;
		}
	}
	log_init("bench_journal", LOG_LEVEL_WARN, NULL, 0);
	snprintf(root, sizeof(root), "%s/bench_journal.XXXXXX", base);
	if (mkdtemp(root) == NULL) {
		perror(root);
		return 1;
	}
	if (secs > 0)
		printf(
		    "fdatasync of a 4 KiB overwrite: %.3f ms (calibration)\n",
		    fsync_ms(root));
	for (size_t i = 0; secs > 0 && rc == WW_OK && i < nwriters; i++)
		rc = bench_appends(root, writers[i], secs, JOURNAL_SYNC_FULL,
		                   outcomes, us);
	for (size_t i = 0; secs > 0 && nosync && rc == WW_OK && i < nwriters;
	     i++)
		rc = bench_appends(root, writers[i], secs, JOURNAL_SYNC_NONE,
		                   outcomes, us);
	if (rc == WW_OK)
		rc = bench_read(root, n);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc == WW_OK ? 0 : 1;
}
