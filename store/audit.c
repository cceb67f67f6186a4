/*
 * audit.c: wwjournal's record-by-record subcommands: list, show, export,
 * search, verify, tail, blob.  All of them stream: a record is read,
 * rendered, written and released before the next one (journal_scan), so
 * memory stays flat however big the journal is.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ww.h"
#include "store/audit.h"
#include "store/find.h"

#define SEARCH_MAX_HITS 64
#define TAIL_DEFAULT 10
#define TAIL_POLL_NS 200000000L

int
audit_write(struct audit *a, const struct export_buf *b)
{
	if (b->err != WW_OK) {
		fprintf(stderr, "wwjournal: %s\n", ww_strerror(b->err));
		return b->err;
	}
	if (b->len > 0 && fwrite(b->data, 1, b->len, a->out) != b->len) {
		fprintf(stderr, "wwjournal: write: %s\n", strerror(errno));
		return WW_EIO;
	}
	return WW_OK;
}

Ww__Record *
audit_outcome(struct audit *a, const Ww__Record *rec)
{
	Ww__Record *o = NULL;
	char err[256] = "";
	int rc;

	if (rec->kind != WW__KIND__REQUEST)
		return NULL;
	rc = journal_get_outcome(a->r, rec->seq, &o, err, sizeof(err));
	if (rc != WW_OK && rc != WW_ENOTFOUND)
		a->unreadable = 1;
	if (rc != WW_OK && rc != WW_ENOTFOUND)
		fprintf(stderr,
		        "wwjournal: outcome of record %llu unreadable: %s\n",
		        (unsigned long long)rec->seq,
		        err[0] ? err : ww_strerror(rc));
	return rc == WW_OK ? o : NULL;
}

void
audit_bad_record(struct audit *a, uint64_t seq, const char *err)
{
	(void)a;
	fprintf(stderr, "wwjournal: record %llu unreadable: %s\n",
	        (unsigned long long)seq,
	        err != NULL && err[0] ? err : "corrupt");
}

static uint64_t
audit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
audit_progress(struct audit_progress *p, uint64_t done, uint64_t total)
{
	char bar[31];
	uint64_t now = audit_now_ms();
	unsigned pct, fill;

	if (now - p->last_ms < 100 && done < total)
		return;
	p->last_ms = now;
	pct = total > 0 ? (unsigned)(done * 100 / total) : 100;
	if (pct > 100)
		pct = 100;
	fill = pct * 30 / 100;
	memset(bar, '#', fill);
	memset(bar + fill, '.', 30 - fill);
	bar[30] = '\0';
	fprintf(stderr, "\r%-8s [%s] %3u%% %llu/%llu", p->what, bar, pct,
	        (unsigned long long)done, (unsigned long long)total);
	p->shown = 1;
}

void
audit_progress_end(struct audit_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}

static int
audit_export_new(struct audit *a, unsigned flags, struct export **e)
{
	int rc = export_new(flags | (a->color ? EXPORT_COLOR : 0), e);

	if (rc != WW_OK)
		fprintf(stderr, "wwjournal: %s\n", ww_strerror(rc));
	return rc;
}

/* ---- list ---- */

struct list_state {
	struct audit *a;
	struct export *e;
	struct export_buf b;
	uint64_t *ring; /* with --limit: the newest matching sequence numbers */
	uint64_t n;     /* matching records seen */
	int rc;
};

static int
audit_list_print(struct list_state *s, const Ww__Record *rec)
{
	Ww__Record *o = audit_outcome(s->a, rec);

	export_buf_reset(&s->b);
	if (s->a->json) {
		export_json(s->e, rec, o, &s->b);
		export_buf_puts(&s->b, "\n");
	} else {
		export_line(s->e, rec, o, &s->b);
	}
	record_free(o);
	return audit_write(s->a, &s->b);
}

static int
audit_list_visit(uint64_t seq, const Ww__Record *rec, const char *err,
                 void *arg)
{
	struct list_state *s = arg;

	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->rc = WW_ECORRUPT;
		return 0;
	}
	if (!filter_match(&s->a->filter, rec))
		return 0;
	if (s->ring != NULL) {
		s->ring[s->n++ % s->a->limit] = seq;
		return 0;
	}
	s->n++;
	return audit_list_print(s, rec) == WW_OK ? 0 : WW_EIO;
}

/* Print the records remembered in the ring, oldest first. */
static int
audit_list_ring(struct list_state *s)
{
	uint64_t lim = s->a->limit, first = s->n > lim ? s->n - lim : 0;
	Ww__Record *rec = NULL;
	char err[256] = "";
	int rc;

	for (uint64_t i = first; i < s->n; i++) {
		uint64_t seq = s->ring[i % lim];

		rc = journal_get(s->a->r, seq, &rec, err, sizeof(err));
		if (rc != WW_OK) {
			audit_bad_record(s->a, seq, err);
			s->rc = rc;
			continue;
		}
		rc = audit_list_print(s, rec);
		record_free(rec);
		if (rc != WW_OK)
			return rc;
	}
	return WW_OK;
}

int
audit_list(struct audit *a)
{
	struct list_state s = {.a = a};
	int rc;

	export_buf_init(&s.b);
	rc = audit_export_new(a, a->json ? EXPORT_FULL : 0, &s.e);
	if (rc != WW_OK)
		goto out;
	if (a->limit > 0 &&
	    (a->limit > SIZE_MAX / sizeof(*s.ring) ||
	     (s.ring = calloc(a->limit, sizeof(*s.ring))) == NULL)) {
		fprintf(stderr, "wwjournal: --limit %llu: too many to keep\n",
		        (unsigned long long)a->limit);
		rc = WW_ENOMEM;
		goto out;
	}
	rc = journal_scan(a->r, a->first, a->last, audit_list_visit, &s);
	if (rc == WW_OK && s.ring != NULL)
		rc = audit_list_ring(&s);
	if (rc == WW_OK)
		rc = s.rc;
out:
	free(s.ring);
	export_free(s.e);
	export_buf_cleanup(&s.b);
	return rc;
}

/* ---- show ---- */

static int
audit_show_render(struct audit *a, struct export *e, const Ww__Record *rec,
                  const Ww__Record *o)
{
	struct export_buf b;
	int rc;

	export_buf_init(&b);
	if (a->json) {
		export_json(e, rec, o, &b);
		export_buf_puts(&b, "\n");
	} else {
		export_show(e, rec, o, &b);
	}
	rc = audit_write(a, &b);
	export_buf_cleanup(&b);
	return rc;
}

int
audit_show(struct audit *a, uint64_t seq)
{
	Ww__Record *rec = NULL, *o = NULL;
	struct export *e = NULL;
	char err[256] = "";
	int rc;

	rc = journal_get(a->r, seq, &rec, err, sizeof(err));
	if (rc == WW_ENOTFOUND) {
		fprintf(stderr, "wwjournal: no record %llu in %s\n",
		        (unsigned long long)seq, a->dir);
		goto out;
	}
	if (rc != WW_OK) {
		audit_bad_record(a, seq, err[0] ? err : ww_strerror(rc));
		goto out;
	}
	/* An OUTCOME is shown with the REQUEST it answers. */
	if (rec->kind == WW__KIND__OUTCOME && rec->outcome != NULL &&
	    rec->outcome->request_seq != 0 &&
	    journal_get(a->r, rec->outcome->request_seq, &o, err,
	                sizeof(err)) == WW_OK) {
		Ww__Record *t = rec;
		rec = o;
		o = t;
	} else {
		o = audit_outcome(a, rec);
	}
	if ((rc = audit_export_new(a, EXPORT_FULL, &e)) == WW_OK)
		rc = audit_show_render(a, e, rec, o);
out:
	export_free(e);
	record_free(rec);
	record_free(o);
	return rc;
}

/* ---- export ---- */

struct export_state {
	struct audit *a;
	struct export *e;
	struct export_buf b;
	struct audit_progress prog;
	uint64_t head, n;
	int rc;
};

static int
audit_export_visit(uint64_t seq, const Ww__Record *rec, const char *err,
                   void *arg)
{
	struct export_state *s = arg;
	Ww__Record *o;

	if (s->a->progress && (seq & 4095) == 0)
		audit_progress(&s->prog, seq, s->head);
	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->rc = WW_ECORRUPT;
		return 0;
	}
	if ((!s->a->kind_given && !export_is_primary(rec)) ||
	    !filter_match(&s->a->filter, rec))
		return 0;
	o = audit_outcome(s->a, rec);
	export_buf_reset(&s->b);
	if (s->a->format == AUDIT_CSV) {
		export_csv(s->e, rec, o, &s->b);
	} else {
		export_json(s->e, rec, o, &s->b);
		export_buf_puts(&s->b, "\n");
	}
	record_free(o);
	if (audit_write(s->a, &s->b) != WW_OK)
		return WW_EIO;
	return s->a->limit > 0 && ++s->n >= s->a->limit ? 1 : 0;
}

int
audit_export(struct audit *a)
{
	struct export_state s = {.a = a, .prog = {.what = "export"}};
	int rc;

	export_buf_init(&s.b);
	if ((rc = audit_export_new(a, 0, &s.e)) != WW_OK)
		goto out;
	if ((rc = journal_head(a->r, &s.head)) != WW_OK)
		goto out;
	if (a->format == AUDIT_CSV) {
		export_csv_header(&s.b);
		if ((rc = audit_write(a, &s.b)) != WW_OK)
			goto out;
	}
	if (a->out_tty)
		a->progress = 0;
	rc = journal_scan(a->r, a->first, 0, audit_export_visit, &s);
	if (rc == 1) /* --limit reached */
		rc = WW_OK;
	if (rc == WW_OK)
		rc = s.rc;
	if (a->progress)
		audit_progress_end(&s.prog);
out:
	export_free(s.e);
	export_buf_cleanup(&s.b);
	return rc;
}

/* ---- search ---- */

struct search_state {
	struct audit *a;
	struct export *e;
	struct find *f;
	struct export_buf b;
	size_t st[SEARCH_MAX_HITS], en[SEARCH_MAX_HITS];
	uint64_t n;
	int rc;
};

/* ,"hits":[{"path":..,"start":..,"end":..},...] for the JSON form. */
static void
audit_search_json_hits(struct search_state *s, const char *path, size_t nh,
                       int *first)
{
	for (size_t k = 0; k < nh; k++) {
		export_buf_puts(&s->b, *first ? "" : ",");
		*first = 0;
		export_buf_puts(&s->b, "{\"path\":");
		export_buf_json_str(&s->b, path, strlen(path));
		export_buf_printf(&s->b, ",\"start\":%zu,\"end\":%zu}",
		                  s->st[k], s->en[k]);
	}
}

/* Each text part of m with hits, highlighted (or as JSON hit spans). */
static int
audit_search_parts(struct search_state *s, const Ww__Message *m)
{
	int hits = 0, first = 1;
	size_t nh;

	for (size_t i = 0; i < m->n_texts; i++) {
		const char *t = m->texts[i]->text, *path = m->texts[i]->path;

		if (t == NULL ||
		    find_text(s->f, t, strlen(t), s->st, s->en, SEARCH_MAX_HITS,
		              &nh) != WW_OK ||
		    nh == 0)
			continue;
		hits++;
		if (path == NULL)
			path = "";
		if (s->a->json) {
			audit_search_json_hits(s, path, nh, &first);
			continue;
		}
		export_buf_puts(&s->b, "    [");
		export_buf_puts(&s->b, path);
		export_buf_puts(&s->b, "] ");
		export_highlight(s->e, t, strlen(t), s->st, s->en, nh, &s->b);
		export_buf_puts(&s->b, "\n");
	}
	return hits;
}

static int
audit_search_visit(uint64_t seq, const Ww__Record *rec, const char *err,
                   void *arg)
{
	struct search_state *s = arg;
	Ww__Record *o;

	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->rc = WW_ECORRUPT;
		return 0;
	}
	if (rec->message == NULL || !filter_match(&s->a->filter, rec))
		return 0;
	o = audit_outcome(s->a, rec);
	export_buf_reset(&s->b);
	if (s->a->json) {
		/* Reopen the object (drop its '}') to add "hits". */
		if (export_json(s->e, rec, o, &s->b) == WW_OK)
			s->b.len--;
		export_buf_puts(&s->b, ",\"hits\":[");
	} else {
		export_line(s->e, rec, o, &s->b);
	}
	record_free(o);
	if (audit_search_parts(s, rec->message) == 0)
		return 0;
	if (s->a->json)
		export_buf_puts(&s->b, "]}\n");
	if (audit_write(s->a, &s->b) != WW_OK)
		return WW_EIO;
	return s->a->limit > 0 && ++s->n >= s->a->limit ? 1 : 0;
}

int
audit_search(struct audit *a, const char *text)
{
	struct search_state *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return WW_ENOMEM;
	s->a = a;
	export_buf_init(&s->b);
	rc = find_new(text, &s->f);
	if (rc == WW_EINVAL)
		fprintf(stderr,
		        "wwjournal: search: nothing to look for in "
		        "\"%s\"\n",
		        text);
	if (rc != WW_OK)
		goto out;
	if ((rc = audit_export_new(a, 0, &s->e)) != WW_OK)
		goto out;
	rc = journal_scan(a->r, a->first, 0, audit_search_visit, s);
	if (rc == 1)
		rc = WW_OK;
	if (rc == WW_OK)
		rc = s->rc;
out:
	find_free(s->f);
	export_free(s->e);
	export_buf_cleanup(&s->b);
	free(s);
	return rc;
}

/* ---- verify ---- */

static void
audit_verify_progress(uint64_t done, uint64_t total, void *arg)
{
	audit_progress(arg, done, total);
}

static void
audit_verify_print(struct audit *a, int rc,
                   const struct journal_verify_result *res,
                   struct export_buf *b)
{
	if (a->json) {
		export_buf_printf(
		    b,
		    "{\"ok\":%s,\"records\":%llu,\"checkpoints\":%llu,"
		    "\"bytes\":%llu,\"head_seq\":%llu,\"head_hash\":\"",
		    rc == WW_OK ? "true" : "false",
		    (unsigned long long)res->records,
		    (unsigned long long)res->checkpoints,
		    (unsigned long long)res->bytes,
		    (unsigned long long)res->head_seq);
		export_buf_hex(b, res->head_hash, RECORD_HASH_LEN);
		export_buf_printf(
		    b,
		    "\",\"outcome_unknown\":%llu,\"bad_seq\":%llu,"
		    "\"reason\":",
		    (unsigned long long)res->outcome_unknown,
		    (unsigned long long)res->bad_seq);
		export_buf_json_str(b, res->reason, strlen(res->reason));
		export_buf_puts(b, "}\n");
		return;
	}
	if (rc != WW_OK)
		return; /* the failure goes to stderr */
	export_buf_printf(
	    b,
	    "intact: %llu records, %llu checkpoints verified\nhead: "
	    "#%llu ",
	    (unsigned long long)res->records,
	    (unsigned long long)res->checkpoints,
	    (unsigned long long)res->head_seq);
	export_buf_hex(b, res->head_hash, RECORD_HASH_LEN);
	export_buf_puts(b, "\n");
	if (res->outcome_unknown > 0)
		export_buf_printf(b, "outcome unknown: %llu requests\n",
		                  (unsigned long long)res->outcome_unknown);
}

int
audit_verify(struct audit *a)
{
	struct journal_verify_result res;
	struct audit_progress prog = {.what = "verify"};
	struct export_buf b;
	int rc, wrc;

	memset(&res, 0, sizeof(res));
	rc = journal_verify(a->r, a->checkpoints,
	                    a->progress ? audit_verify_progress : NULL, &prog,
	                    &res);
	if (a->progress)
		audit_progress_end(&prog);
	if (rc != WW_OK) {
		if (res.bad_seq != 0)
			fprintf(stderr,
			        "wwjournal: verify FAILED at record %llu: %s\n",
			        (unsigned long long)res.bad_seq,
			        res.reason[0] ? res.reason : ww_strerror(rc));
		else
			fprintf(stderr, "wwjournal: verify FAILED: %s\n",
			        res.reason[0] ? res.reason : ww_strerror(rc));
		if (rc != WW_EIO && rc != WW_ENOMEM)
			rc = WW_ECORRUPT;
	}
	export_buf_init(&b);
	audit_verify_print(a, rc, &res, &b);
	wrc = audit_write(a, &b);
	export_buf_cleanup(&b);
	return rc != WW_OK ? rc : wrc;
}

/* ---- tail ---- */

struct tail_state {
	struct audit *a;
	struct export *e;
	struct export_buf b;
	int rc;
};

static int
audit_tail_visit(uint64_t seq, const Ww__Record *rec, const char *err,
                 void *arg)
{
	struct tail_state *t = arg;
	Ww__Record *o;

	if (rec == NULL) {
		audit_bad_record(t->a, seq, err);
		t->rc = WW_ECORRUPT;
		return 0;
	}
	if (!filter_match(&t->a->filter, rec))
		return 0;
	/* The outcome arrives after its request: show it on its own line. */
	o = audit_outcome(t->a, rec);
	export_buf_reset(&t->b);
	if (t->a->json) {
		export_json(t->e, rec, o, &t->b);
		export_buf_puts(&t->b, "\n");
	} else {
		export_line(t->e, rec, o, &t->b);
	}
	record_free(o);
	if (audit_write(t->a, &t->b) != WW_OK || fflush(t->a->out) != 0)
		return WW_EIO;
	return 0;
}

/*
 * Follow the head: poll it every 200 ms, sleeping in sigtimedwait() on
 * the blocked SIGINT/SIGTERM/SIGHUP so a signal ends the loop cleanly
 * (no handler, no global flag).
 */
static int
audit_follow(struct audit *a, struct tail_state *t, uint64_t last)
{
	struct timespec poll = {0, TAIL_POLL_NS};
	sigset_t set;
	uint64_t head;
	int rc = WW_OK;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return WW_EIO;
	for (;;) {
		if (sigtimedwait(&set, NULL, &poll) >= 0)
			break; /* a signal: stop following */
		if ((rc = journal_head(a->r, &head)) != WW_OK)
			break;
		if (head <= last)
			continue;
		rc = journal_scan(a->r, last + 1, head, audit_tail_visit, t);
		if (rc != WW_OK)
			break;
		last = head;
	}
	return rc;
}

int
audit_tail(struct audit *a)
{
	struct tail_state t = {.a = a};
	uint64_t head;
	int rc;

	if (a->limit == 0)
		a->limit = TAIL_DEFAULT;
	if ((rc = journal_head(a->r, &head)) != WW_OK)
		return rc;
	if (head == 0 && !a->follow)
		return WW_OK;
	a->last = head;
	if (head > 0 && (rc = audit_list(a)) != WW_OK)
		return rc;
	if (!a->follow)
		return rc;
	if (fflush(a->out) != 0)
		return WW_EIO;
	export_buf_init(&t.b);
	if ((rc = audit_export_new(a, a->json ? EXPORT_FULL : 0, &t.e)) ==
	    WW_OK)
		rc = audit_follow(a, &t, head);
	export_free(t.e);
	export_buf_cleanup(&t.b);
	return rc != WW_OK ? rc : t.rc;
}

/* ---- blob ---- */

static int
audit_unhex(const char *hex, unsigned char out[32])
{
	if (strlen(hex) != 64)
		return WW_EINVAL;
	for (size_t i = 0; i < 32; i++) {
		unsigned v = 0;

		for (size_t k = 0; k < 2; k++) {
			char c = hex[2 * i + k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return WW_EINVAL;
		}
		out[i] = (unsigned char)v;
	}
	return WW_OK;
}

int
audit_blob(struct audit *a, const char *hex)
{
	unsigned char sha[32];
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (audit_unhex(hex, sha) != WW_OK) {
		fprintf(stderr,
		        "wwjournal: blob: \"%s\" is not a SHA-256 "
		        "(64 hex digits)\n",
		        hex);
		return WW_EINVAL;
	}
	rc = journal_get_blob(a->r, sha, &data, &len);
	if (rc == WW_ENOTFOUND)
		fprintf(stderr, "wwjournal: blob %s is not stored in %s\n", hex,
		        a->dir);
	else if (rc != WW_OK)
		fprintf(stderr, "wwjournal: blob %s: %s\n", hex,
		        ww_strerror(rc));
	if (rc == WW_OK && fwrite(data, 1, len, a->out) != len) {
		fprintf(stderr, "wwjournal: write: %s\n", strerror(errno));
		rc = WW_EIO;
	}
	free(data);
	return rc;
}
