/*
 * report.c: wwjournal's whole-journal views: stats (counts by kind,
 * action, endpoint, sender and day), replay (messages grouped into
 * conversations, in time order) and replay --policy, the retro-hunt
 * (every message re-judged with a candidate policy, the journal only read;
 * each message whose verdict would change is listed, then totals per rule).
 *
 * Both keep per-key counters in a small string table; replay also keeps
 * one (conversation, time, seq) entry per message -- 24 bytes each, not
 * the records -- and reads the records back one at a time to render them.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "policy/policy.h"
#include "store/audit.h"

/* ---- a string -> counter table (open addressing) ---- */

struct tally_item {
	char *key;
	uint64_t count;
	int64_t first_ns; /* replay: when the conversation started */
};

struct tally {
	struct tally_item *items; /* in insertion order; id = index */
	size_t n, cap;
	size_t *slots; /* hash slots: id + 1, 0 = empty */
	size_t nslots;
};

static uint64_t
tally_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
tally_rehash(struct tally *t)
{
	size_t ns = t->nslots != 0 ? t->nslots * 2 : 64, *slots;

	if ((slots = calloc(ns, sizeof(*slots))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = (size_t)tally_hash(t->items[i].key) & (ns - 1);
		while (slots[h] != 0)
			h = (h + 1) & (ns - 1);
		slots[h] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = ns;
	return WW_OK;
}

static int
tally_push(struct tally *t, const char *key, size_t *id)
{
	struct tally_item *items;

	if (t->n == t->cap) {
		size_t cap = t->cap != 0 ? t->cap * 2 : 32;
		items = realloc(t->items, cap * sizeof(*items));
		if (items == NULL)
			return WW_ENOMEM;
		t->items = items;
		t->cap = cap;
	}
	if ((t->items[t->n].key = strdup(key)) == NULL)
		return WW_ENOMEM;
	t->items[t->n].count = 0;
	t->items[t->n].first_ns = 0;
	*id = t->n++;
	return WW_OK;
}

/* Count key once more; *id gets its index.  WW_OK or WW_ENOMEM. */
static int
tally_add(struct tally *t, const char *key, size_t *id)
{
	size_t h, i;
	int rc;

	if ((t->n + 1) * 2 > t->nslots && (rc = tally_rehash(t)) != WW_OK)
		return rc;
	h = (size_t)tally_hash(key) & (t->nslots - 1);
	while (t->slots[h] != 0) {
		i = t->slots[h] - 1;
		if (strcmp(t->items[i].key, key) == 0) {
			t->items[i].count++;
			*id = i;
			return WW_OK;
		}
		h = (h + 1) & (t->nslots - 1);
	}
	if ((rc = tally_push(t, key, &i)) != WW_OK)
		return rc;
	t->slots[h] = i + 1;
	t->items[i].count = 1;
	*id = i;
	return WW_OK;
}

static void
tally_cleanup(struct tally *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->items[i].key);
	free(t->items);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int
tally_by_count(const void *a, const void *b)
{
	const struct tally_item *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int
tally_by_key(const void *a, const void *b)
{
	return strcmp(((const struct tally_item *)a)->key,
	              ((const struct tally_item *)b)->key);
}

/* ---- stats ---- */

enum { ST_KIND, ST_ACTION, ST_ENDPOINT, ST_SENDER, ST_DAY, ST_N };

static const char *const stats_names[ST_N] = {"kind", "action", "endpoint",
                                              "sender", "day"};

struct stats_state {
	struct audit *a;
	struct tally t[ST_N];
	uint64_t records, unreadable;
	int64_t first_ns, last_ns;
	int rc;
};

static int
stats_count(struct stats_state *s, int which, const char *key)
{
	size_t id;

	if (key == NULL || key[0] == '\0')
		key = "-";
	if (tally_add(&s->t[which], key, &id) != WW_OK) {
		s->rc = WW_ENOMEM;
		return -1;
	}
	return 0;
}

static int
stats_visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct stats_state *s = arg;
	char day[FILTER_TIME_LEN];
	const Ww__Message *m;

	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->unreadable++;
		return 0;
	}
	if (!filter_match(&s->a->filter, rec))
		return 0;
	if (s->records++ == 0)
		s->first_ns = rec->time_ns;
	s->last_ns = rec->time_ns;
	filter_format_time(rec->time_ns, day);
	day[10] = '\0';
	m = rec->message;
	if (stats_count(s, ST_KIND, record_kind_name(rec->kind)) != 0 ||
	    stats_count(s, ST_DAY, day) != 0)
		return WW_ENOMEM;
	if (rec->verdict != NULL &&
	    stats_count(s, ST_ACTION, record_action_name(rec->verdict->action)))
		return WW_ENOMEM;
	if (m != NULL && (stats_count(s, ST_ENDPOINT, m->endpoint) != 0 ||
	                  stats_count(s, ST_SENDER, m->sender) != 0))
		return WW_ENOMEM;
	return 0;
}

static void
stats_render_json(struct stats_state *s, struct export_buf *b)
{
	char t0[FILTER_TIME_LEN], t1[FILTER_TIME_LEN];

	filter_format_time(s->first_ns, t0);
	filter_format_time(s->last_ns, t1);
	export_buf_printf(b, "{\"records\":%llu,\"unreadable\":%llu",
	                  (unsigned long long)s->records,
	                  (unsigned long long)s->unreadable);
	if (s->records > 0)
		export_buf_printf(b, ",\"first\":\"%s\",\"last\":\"%s\"", t0,
		                  t1);
	for (int w = 0; w < ST_N; w++) {
		export_buf_printf(b, ",\"by_%s\":{", stats_names[w]);
		for (size_t i = 0; i < s->t[w].n; i++) {
			const char *k = s->t[w].items[i].key;
			if (i > 0)
				export_buf_puts(b, ",");
			export_buf_json_str(b, k, strlen(k));
			export_buf_printf(
			    b, ":%llu",
			    (unsigned long long)s->t[w].items[i].count);
		}
		export_buf_puts(b, "}");
	}
	export_buf_puts(b, "}\n");
}

static void
stats_render_human(struct stats_state *s, struct export_buf *b)
{
	char t0[FILTER_TIME_LEN], t1[FILTER_TIME_LEN];

	filter_format_time(s->first_ns, t0);
	filter_format_time(s->last_ns, t1);
	export_buf_printf(b, "records     %llu\n",
	                  (unsigned long long)s->records);
	if (s->records > 0)
		export_buf_printf(b, "from        %s\nto          %s\n", t0,
		                  t1);
	if (s->unreadable > 0)
		export_buf_printf(b, "unreadable  %llu\n",
		                  (unsigned long long)s->unreadable);
	for (int w = 0; w < ST_N; w++) {
		export_buf_printf(b, "\nby %s:\n", stats_names[w]);
		for (size_t i = 0; i < s->t[w].n; i++) {
			const char *k = s->t[w].items[i].key;
			export_buf_printf(
			    b, "  %10llu  ",
			    (unsigned long long)s->t[w].items[i].count);
			export_buf_text(b, k, strlen(k));
			export_buf_puts(b, "\n");
		}
	}
}

int
report_stats(struct audit *a)
{
	struct stats_state s;
	struct export_buf b;
	int rc;

	memset(&s, 0, sizeof(s));
	s.a = a;
	export_buf_init(&b);
	rc = journal_scan(a->r, a->first, 0, stats_visit, &s);
	if (rc == WW_OK)
		rc = s.rc;
	if (rc != WW_OK)
		goto out;
	/* Days in calendar order; everything else most frequent first. */
	for (int w = 0; w < ST_N; w++)
		qsort(s.t[w].items, s.t[w].n, sizeof(*s.t[w].items),
		      w == ST_DAY ? tally_by_key : tally_by_count);
	if (a->json)
		stats_render_json(&s, &b);
	else
		stats_render_human(&s, &b);
	rc = audit_write(a, &b);
	if (rc == WW_OK && s.unreadable > 0)
		rc = WW_ECORRUPT;
out:
	for (int w = 0; w < ST_N; w++)
		tally_cleanup(&s.t[w]);
	export_buf_cleanup(&b);
	return rc;
}

/* ---- replay ---- */

struct replay_entry {
	int64_t time_ns;
	uint64_t seq;
	size_t conv; /* tally id of the conversation */
};

struct replay_state {
	struct audit *a;
	struct tally convs;
	struct replay_entry *ents;
	size_t n, cap;
	struct export_buf key;
	int rc;
};

static int
replay_visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct replay_state *s = arg;
	struct replay_entry *e;
	size_t id;

	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->rc = WW_ECORRUPT;
		return 0;
	}
	if ((!s->a->kind_given && !export_is_primary(rec)) ||
	    !filter_match(&s->a->filter, rec))
		return 0;
	export_buf_reset(&s->key);
	if (export_conversation_key(rec, &s->key) != WW_OK ||
	    tally_add(&s->convs, s->key.data, &id) != WW_OK)
		return WW_ENOMEM;
	if (s->convs.items[id].count == 1 ||
	    rec->time_ns < s->convs.items[id].first_ns)
		s->convs.items[id].first_ns = rec->time_ns;
	if (s->n == s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 1024;
		e = realloc(s->ents, cap * sizeof(*e));
		if (e == NULL)
			return WW_ENOMEM;
		s->ents = e;
		s->cap = cap;
	}
	s->ents[s->n++] = (struct replay_entry){rec->time_ns, seq, id};
	return s->a->limit > 0 && s->n >= s->a->limit ? 1 : 0;
}

/* qsort has no context argument: order by rank, filled in beforehand. */
static int
replay_cmp(const void *pa, const void *pb)
{
	const struct replay_entry *x = pa, *y = pb;

	if (x->conv != y->conv)
		return x->conv < y->conv ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct replay_rank {
	int64_t first_ns;
	size_t id;
};

static int
replay_rank_cmp(const void *pa, const void *pb)
{
	const struct replay_rank *x = pa, *y = pb;

	if (x->first_ns != y->first_ns)
		return x->first_ns < y->first_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Conversations in the order they started; entries renumbered to match. */
static int
replay_sort(struct replay_state *s, size_t **order)
{
	struct replay_rank *rank;
	size_t *pos, nc = s->convs.n;

	rank = calloc(nc > 0 ? nc : 1, sizeof(*rank));
	pos = calloc(nc > 0 ? nc : 1, sizeof(*pos));
	*order = calloc(nc > 0 ? nc : 1, sizeof(**order));
	if (rank == NULL || pos == NULL || *order == NULL) {
		free(rank);
		free(pos);
		return WW_ENOMEM;
	}
	for (size_t i = 0; i < nc; i++)
		rank[i] = (struct replay_rank){s->convs.items[i].first_ns, i};
	qsort(rank, nc, sizeof(*rank), replay_rank_cmp);
	for (size_t i = 0; i < nc; i++) {
		pos[rank[i].id] = i;
		(*order)[i] = rank[i].id;
	}
	for (size_t i = 0; i < s->n; i++)
		s->ents[i].conv = pos[s->ents[i].conv];
	qsort(s->ents, s->n, sizeof(*s->ents), replay_cmp);
	free(rank);
	free(pos);
	return WW_OK;
}

static void
replay_title(struct audit *a, struct export *e, const struct tally_item *c,
             size_t idx, struct export_buf *b)
{
	char t[FILTER_TIME_LEN];

	if (!a->json) {
		export_transcript_title(e, c->key, c->count, b);
		return;
	}
	filter_format_time(c->first_ns, t);
	export_buf_printf(b,
	                  "{\"event\":\"conversation\",\"conversation\":%zu,"
	                  "\"title\":",
	                  idx + 1);
	export_buf_json_str(b, c->key, strlen(c->key));
	export_buf_printf(b, ",\"messages\":%llu,\"first\":\"%s\"}\n",
	                  (unsigned long long)c->count, t);
}

static int
replay_message(struct audit *a, struct export *e, const Ww__Record *rec,
               size_t idx, struct export_buf *b)
{
	Ww__Record *o = audit_outcome(a, rec);
	size_t at;

	if (a->json) {
		export_buf_printf(
		    b, "{\"event\":\"message\",\"conversation\":%zu,", idx + 1);
		at = b->len;
		export_json(e, rec, o, b);
		/* Splice the record's fields into this event object. */
		if (b->err == WW_OK && b->len > at) {
			memmove(b->data + at, b->data + at + 1,
			        b->len - at - 1);
			b->len--;
			b->data[b->len] = '\0';
		}
		export_buf_puts(b, "\n");
	} else {
		export_transcript(e, rec, o, b);
	}
	record_free(o);
	return b->err;
}

static int
replay_render(struct replay_state *s, const size_t *order)
{
	struct audit *a = s->a;
	struct export *e = NULL;
	struct export_buf b;
	Ww__Record *rec = NULL;
	char err[256] = "";
	int rc;

	export_buf_init(&b);
	if ((rc = export_new(a->color ? EXPORT_COLOR : 0, &e)) != WW_OK)
		goto out;
	for (size_t i = 0; i < s->n && rc == WW_OK; i++) {
		size_t c = s->ents[i].conv;

		export_buf_reset(&b);
		if (i == 0 || s->ents[i - 1].conv != c)
			replay_title(a, e, &s->convs.items[order[c]], c, &b);
		rc = journal_get(a->r, s->ents[i].seq, &rec, err, sizeof(err));
		if (rc != WW_OK) {
			audit_bad_record(a, s->ents[i].seq, err);
			s->rc = rc;
			rc = WW_OK;
			continue;
		}
		replay_message(a, e, rec, c, &b);
		record_free(rec);
		rc = audit_write(a, &b);
	}
out:
	export_free(e);
	export_buf_cleanup(&b);
	return rc;
}

int
report_replay(struct audit *a)
{
	struct replay_state s;
	size_t *order = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	s.a = a;
	export_buf_init(&s.key);
	rc = journal_scan(a->r, a->first, 0, replay_visit, &s);
	if (rc == 1) /* --limit reached */
		rc = WW_OK;
	if (rc == WW_OK)
		rc = replay_sort(&s, &order);
	if (rc == WW_OK)
		rc = replay_render(&s, order);
	if (rc == WW_OK)
		rc = s.rc;
	free(order);
	free(s.ents);
	tally_cleanup(&s.convs);
	export_buf_cleanup(&s.key);
	return rc;
}

/* ---- retro-hunt: replay --policy ---- */

/* Per rule id: messages it matches under the candidate policy, and how
 * often it appears or disappears compared with the recorded verdict. */
struct retro_count {
	uint64_t matched, added, removed;
};

struct retro_state {
	struct audit *a;
	const struct policy *p;
	struct policy_scratch *ps;
	struct tally rules; /* rule id -> index into counts */
	struct retro_count *counts;
	size_t ccap;
	uint64_t judged, differ, failed;
	uint64_t moves[4][4]; /* recorded action -> new action */
	uint64_t head;
	struct audit_progress bar;
	struct export_buf b;
	int rc;
};

static int
retro_in(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Do two lists of rule ids hold the same set (ids are unique in each)? */
static int
retro_same(char *const *x, size_t nx, char *const *y, size_t ny)
{
	if (nx != ny)
		return 0;
	for (size_t i = 0; i < nx; i++)
		if (!retro_in(y, ny, x[i]))
			return 0;
	return 1;
}

static struct retro_count *
retro_count(struct retro_state *s, const char *id)
{
	size_t i;

	if (tally_add(&s->rules, id, &i) != WW_OK)
		return NULL;
	if (i >= s->ccap) {
		size_t cap = s->ccap != 0 ? s->ccap * 2 : 64;
		struct retro_count *c = realloc(s->counts, cap * sizeof(*c));

		if (c == NULL)
			return NULL;
		memset(c + s->ccap, 0, (cap - s->ccap) * sizeof(*c));
		s->counts = c;
		s->ccap = cap;
	}
	return &s->counts[i];
}

/* Count the rules of one kind (enforce or monitor) of old and new. */
static int
retro_tally(struct retro_state *s, char *const *ov, size_t on, char *const *nv,
            size_t nn)
{
	struct retro_count *c;

	for (size_t i = 0; i < nn; i++) {
		if ((c = retro_count(s, nv[i])) == NULL)
			return WW_ENOMEM;
		c->matched++;
		c->added += !retro_in(ov, on, nv[i]);
	}
	for (size_t i = 0; i < on; i++) {
		if (retro_in(nv, nn, ov[i]))
			continue;
		if ((c = retro_count(s, ov[i])) == NULL)
			return WW_ENOMEM;
		c->removed++;
	}
	return WW_OK;
}

static void
retro_json_ids(struct export_buf *b, char *const *v, size_t n)
{
	export_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_puts(b, ",");
		export_buf_json_str(b, v[i], strlen(v[i]));
	}
	export_buf_puts(b, "]");
}

static void
retro_json_verdict(struct export_buf *b, const char *name, const Ww__Verdict *v)
{
	export_buf_printf(b, ",\"%s\":{\"action\":\"%s\",\"rules\":", name,
	                  record_action_name(v->action));
	retro_json_ids(b, v->rules, v->n_rules);
	export_buf_puts(b, ",\"monitor_rules\":");
	retro_json_ids(b, v->monitor_rules, v->n_monitor_rules);
	export_buf_puts(b, "}");
}

static void
retro_text_ids(struct export_buf *b, const char *label, char *const *v,
               size_t n)
{
	export_buf_printf(b, "  %s ", label);
	if (n == 0)
		export_buf_puts(b, "-");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			export_buf_puts(b, ",");
		export_buf_text(b, v[i], strlen(v[i]));
	}
}

static void
retro_text_verdict(struct export_buf *b, const char *name, const Ww__Verdict *v)
{
	export_buf_printf(b, "  %-8s %-6s", name,
	                  record_action_name(v->action));
	retro_text_ids(b, "rules", v->rules, v->n_rules);
	retro_text_ids(b, " monitor", v->monitor_rules, v->n_monitor_rules);
	export_buf_puts(b, "\n");
}

/* One message whose verdict would change. */
static int
retro_render_diff(struct retro_state *s, uint64_t seq, const Ww__Record *rec,
                  const Ww__Verdict *nv)
{
	const Ww__Message *m = rec->message;
	struct export_buf *b = &s->b;
	char t[FILTER_TIME_LEN];
	const char *sender = m->sender ? m->sender : "";
	const char *ep = m->endpoint ? m->endpoint : "";

	export_buf_reset(b);
	filter_format_time(rec->time_ns, t);
	if (s->a->json) {
		export_buf_printf(b,
		                  "{\"event\":\"differs\",\"seq\":%llu,"
		                  "\"time\":\"%s\",\"sender\":",
		                  (unsigned long long)seq, t);
		export_buf_json_str(b, sender, strlen(sender));
		export_buf_puts(b, ",\"endpoint\":");
		export_buf_json_str(b, ep, strlen(ep));
		retro_json_verdict(b, "recorded", rec->verdict);
		retro_json_verdict(b, "new", nv);
		export_buf_puts(b, "}\n");
	} else {
		export_buf_printf(b, "#%llu  %s  ", (unsigned long long)seq, t);
		export_buf_text(b, sender[0] ? sender : "-",
		                strlen(sender[0] ? sender : "-"));
		export_buf_puts(b, "  ");
		export_buf_text(b, ep, strlen(ep));
		export_buf_puts(b, "\n");
		retro_text_verdict(b, "recorded", rec->verdict);
		retro_text_verdict(b, "new", nv);
	}
	return audit_write(s->a, b);
}

/* Re-judge one message; report it when its verdict would differ. */
static int
retro_judge(struct retro_state *s, uint64_t seq, const Ww__Record *rec)
{
	const Ww__Verdict *ov = rec->verdict;
	Ww__Verdict *nv = NULL;
	int rc;

	if ((rc = policy_judge(s->p, s->ps, rec->message, &nv, NULL)) !=
	    WW_OK) {
		if (rc == WW_ENOMEM)
			return rc;
		fprintf(stderr, "wwjournal: record %llu: cannot judge: %s\n",
		        (unsigned long long)seq, ww_strerror(rc));
		s->failed++;
		return WW_OK;
	}
	s->judged++;
	s->moves[ov->action & 3][nv->action & 3]++;
	rc = retro_tally(s, ov->rules, ov->n_rules, nv->rules, nv->n_rules);
	if (rc == WW_OK)
		rc = retro_tally(s, ov->monitor_rules, ov->n_monitor_rules,
		                 nv->monitor_rules, nv->n_monitor_rules);
	if (rc == WW_OK &&
	    (ov->action != nv->action ||
	     !retro_same(ov->rules, ov->n_rules, nv->rules, nv->n_rules) ||
	     !retro_same(ov->monitor_rules, ov->n_monitor_rules,
	                 nv->monitor_rules, nv->n_monitor_rules))) {
		s->differ++;
		rc = retro_render_diff(s, seq, rec, nv);
	}
	protobuf_c_message_free_unpacked(&nv->base, NULL);
	return rc;
}

static int
retro_visit(uint64_t seq, const Ww__Record *rec, const char *err, void *arg)
{
	struct retro_state *s = arg;
	int rc;

	if (s->a->progress && !s->a->out_tty && (seq & 1023) == 0)
		audit_progress(&s->bar, seq, s->head);
	if (rec == NULL) {
		audit_bad_record(s->a, seq, err);
		s->rc = WW_ECORRUPT;
		return 0;
	}
	/* Only judged messages: requests and callbacks with a verdict. */
	if (!export_is_primary(rec) || rec->message == NULL ||
	    rec->verdict == NULL || !filter_match(&s->a->filter, rec))
		return 0;
	/* The gateway refuses what it cannot decode: nothing to re-judge. */
	if (rec->message->decode_error != NULL &&
	    rec->message->decode_error[0] != '\0')
		s->failed++;
	else if ((rc = retro_judge(s, seq, rec)) != WW_OK)
		return rc;
	return s->a->limit > 0 && s->judged + s->failed >= s->a->limit ? 1 : 0;
}

static const char *const retro_actions[4] = {"allow", "alert", "redact",
                                             "block"};

static void
retro_summary_json(struct retro_state *s, struct export_buf *b)
{
	int first = 1;

	export_buf_puts(b, "{\"event\":\"summary\",\"policy_digest\":");
	export_buf_json_str(b, policy_digest(s->p),
	                    strlen(policy_digest(s->p)));
	export_buf_printf(b,
	                  ",\"messages\":%llu,\"differ\":%llu,"
	                  "\"not_judged\":%llu,\"actions\":{",
	                  (unsigned long long)s->judged,
	                  (unsigned long long)s->differ,
	                  (unsigned long long)s->failed);
	for (int o = 0; o < 4; o++)
		for (int n = 0; n < 4; n++) {
			if (s->moves[o][n] == 0)
				continue;
			export_buf_printf(b, "%s\"%s->%s\":%llu",
			                  first ? "" : ",", retro_actions[o],
			                  retro_actions[n],
			                  (unsigned long long)s->moves[o][n]);
			first = 0;
		}
	export_buf_puts(b, "},\"rules\":{");
	for (size_t i = 0; i < s->rules.n; i++) {
		const char *id = s->rules.items[i].key;

		if (i > 0)
			export_buf_puts(b, ",");
		export_buf_json_str(b, id, strlen(id));
		export_buf_printf(b,
		                  ":{\"matched\":%llu,\"added\":%llu,"
		                  "\"removed\":%llu}",
		                  (unsigned long long)s->counts[i].matched,
		                  (unsigned long long)s->counts[i].added,
		                  (unsigned long long)s->counts[i].removed);
	}
	export_buf_puts(b, "}}\n");
}

static void
retro_summary_text(struct retro_state *s, struct export_buf *b)
{
	export_buf_printf(b, "\n%llu messages re-judged, %llu would differ",
	                  (unsigned long long)s->judged,
	                  (unsigned long long)s->differ);
	if (s->failed > 0)
		export_buf_printf(b, ", %llu could not be judged",
		                  (unsigned long long)s->failed);
	export_buf_printf(b, "\npolicy %s\n\nrecorded -> new   messages\n",
	                  policy_digest(s->p));
	for (int o = 0; o < 4; o++)
		for (int n = 0; n < 4; n++)
			if (s->moves[o][n] > 0)
				export_buf_printf(
				    b, "  %-6s -> %-6s %10llu\n",
				    retro_actions[o], retro_actions[n],
				    (unsigned long long)s->moves[o][n]);
	export_buf_puts(b, "\n   matched     added   removed  rule\n");
	for (size_t i = 0; i < s->rules.n; i++) {
		const char *id = s->rules.items[i].key;

		export_buf_printf(b, "%10llu%10llu%10llu  ",
		                  (unsigned long long)s->counts[i].matched,
		                  (unsigned long long)s->counts[i].added,
		                  (unsigned long long)s->counts[i].removed);
		export_buf_text(b, id, strlen(id));
		export_buf_puts(b, "\n");
	}
}

/* Load the candidate policy; its diagnostics go to stderr. */
static int
retro_load(const char *path, struct policy **p)
{
	struct policy_errors *errs = NULL;
	int rc = policy_load_file(path, p, &errs);

	for (size_t i = 0; i < policy_errors_count(errs); i++)
		fprintf(stderr, "%s\n", policy_errors_get(errs, i));
	if (rc != WW_OK && policy_errors_count(errs) == 0)
		fprintf(stderr, "wwjournal: %s: %s\n", path, ww_strerror(rc));
	policy_errors_free(errs);
	/* A policy that does not compile is the caller's mistake. */
	return rc == WW_EPARSE || rc == WW_ELIMIT ? WW_EINVAL : rc;
}

int
report_retro(struct audit *a, const char *policy_path)
{
	struct retro_state s;
	struct policy *p = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	s.a = a;
	s.bar.what = "replay";
	export_buf_init(&s.b);
	if ((rc = retro_load(policy_path, &p)) != WW_OK)
		goto out;
	s.p = p;
	if ((rc = policy_scratch_new(p, &s.ps)) != WW_OK)
		goto out;
	/* Every rule of the candidate first, in policy order. */
	for (size_t i = 0; i < policy_rule_count(p); i++)
		if (retro_count(&s, policy_rule_id(p, i)) == NULL) {
			rc = WW_ENOMEM;
			goto out;
		}
	if (journal_head(a->r, &s.head) != WW_OK)
		s.head = 0;
	rc = journal_scan(a->r, a->first, 0, retro_visit, &s);
	if (a->progress)
		audit_progress_end(&s.bar);
	if (rc == 1) /* --limit reached */
		rc = WW_OK;
	if (rc != WW_OK)
		goto out;
	/* The tally counted each id once on insertion; counts[] is ours. */
	export_buf_reset(&s.b);
	if (a->json)
		retro_summary_json(&s, &s.b);
	else
		retro_summary_text(&s, &s.b);
	if ((rc = audit_write(a, &s.b)) == WW_OK)
		rc = s.rc;
out:
	policy_scratch_free(s.ps);
	policy_unref(p);
	free(s.counts);
	tally_cleanup(&s.rules);
	export_buf_cleanup(&s.b);
	return rc;
}
