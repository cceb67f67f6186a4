/*
 * policy.c: compile a rule_set into one vectorscan database, and judge.
 *
 * Compile: every keyword and list entry is normalized like message text
 * and becomes a literal pattern (deduplicated across rules); regexes and
 * the candidate patterns of the detectors in use join them in the same
 * database.  Each pattern knows which condition leaves it feeds (a CSR
 * table), each leaf which rule it belongs to, and condition trees become a
 * flat node array.
 *
 * Keywords that ignore separators go to a second database: they only
 * ever match in the stripped view, and nothing else matches there.
 *
 * Judge: normalize every text part into one buffer (parts separated by a
 * newline) and, when some keyword ignores separators, build the stripped
 * view of all parts; scan each once with its database, then check each
 * raw match (part boundaries, whole words, validators), mark leaves,
 * evaluate the rules that some hit concerns (and those that can match on
 * absence) and build the verdict.
 * Per-message work is proportional to the text and the matches, never to
 * the number of patterns.
 *
 * (Scanning CJK-only keywords in a second database over a two-byte
 * code-point view of the text was tried: 5% faster on random-hanzi text,
 * 10% slower on real phrases; not kept.  So was scanning without
 * start-of-match first and with it only when a regex or detector fired:
 * slower, see bench/RESULTS.md, "Policy engine".)
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ww.h"
#include "policy/detect.h"
#include "policy/normalize.h"
#include "policy/policy.h"
#include "policy/rule.h"
#include "policy/scan.h"

#define NONE UINT32_MAX
#define MAX_HITS (1u << 20) /* raw matches per message before WW_ELIMIT */

enum pat_kind { PAT_LIT, PAT_LIT_SV, PAT_REGEX, PAT_DET };

struct pat {
	uint8_t kind;
	uint8_t word_left;  /* the hit must not follow a word character */
	uint8_t word_right; /* ...nor be followed by one */
	uint32_t len;       /* literal length in bytes */
	uint32_t det;       /* PAT_DET: index into policy->dets */
	uint32_t edge_off;  /* leaves fed: leaf_of[edge_off..edge_off+n) */
	uint32_t edge_n;
	uint32_t rule; /* first user, for diagnostics */
	int line;
};

struct leaf {
	uint32_t rule;
	uint8_t quiet;  /* under not, or in unless: spans are not shown */
	uint8_t is_det; /* hit when dets[det] count >= min_count */
	uint32_t det;
	unsigned min_count;
};

enum node_kind { NODE_ANY, NODE_ALL, NODE_NOT, NODE_LEAF };

struct node {
	uint8_t kind;
	uint32_t first; /* kids: kid_of[first..first+n); leaf: leaf index */
	uint32_t n;
};

struct edge {
	uint32_t pat, leaf;
};

struct policy {
	atomic_uint refs;
	char *file;
	char *text;
	size_t text_len;
	char digest[65];
	struct rule_set *rs;
	uint32_t *match_node; /* per rule */
	uint32_t *unless_node;
	uint8_t *always; /* per rule: may match without any hit (not, min 0) */
	struct pat *pats;
	size_t npats;
	uint32_t *leaf_of; /* CSR edges, by pattern */
	struct leaf *leaves;
	size_t nleaves;
	struct node *nodes;
	size_t nnodes;
	uint32_t *kid_of;
	size_t nkids;
	const struct detector **dets; /* detectors in use */
	size_t ndets;
	int need_sv;        /* some pattern matches the stripped view */
	struct scan_db *db; /* every pattern but PAT_LIT_SV: normalized text */
	struct scan_db *svdb; /* PAT_LIT_SV: the stripped view (NULL: none) */
};

/* ---- errors (the public face of rule_errors) ---- */

struct policy_errors {
	struct rule_errors e;
};

size_t
policy_errors_count(const struct policy_errors *e)
{
	return e == NULL ? 0 : e->e.n;
}

const char *
policy_errors_get(const struct policy_errors *e, size_t i)
{
	return e != NULL && i < e->e.n ? e->e.v[i] : NULL;
}

void
policy_errors_free(struct policy_errors *e)
{
	if (e == NULL)
		return;
	rule_errors_cleanup(&e->e);
	free(e);
}

/* ---- compile ---- */

static int eval_node(const struct policy *p, const uint8_t *leafhit,
                     uint32_t n);

struct build {
	struct policy *p;
	struct rule_errors *errs;
	const char *file;
	int nomem;
	char **exprs;      /* per pattern: the vectorscan expression */
	unsigned *sflags;  /* SCAN_* */
	unsigned *hsflags; /* detector's extra HS_FLAG_* */
	size_t pcap;
	uint32_t *hash; /* open addressing: pattern index + 1, 0 = empty */
	size_t hcap;
	struct edge *edges;
	size_t nedges, ecap;
	size_t lcap, ncap, kcap;
	uint32_t cur_rule;
	uint32_t cur_det; /* the detector of the PAT_DET being added */
	int quiet;
};

#define BERR(b, line, ...)                                                     \
	rule_errors_add((b)->errs, (b)->file, (line),                          \
	                (b)->p->rs->rules[(b)->cur_rule].id, __VA_ARGS__)

/* Grow *arr (of *cap elements of size sz) to hold want elements. */
static int
grow(void *arr, size_t *cap, size_t want, size_t sz)
{
	void **a = arr, *n;
	size_t c = *cap ? *cap : 16;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	if ((n = realloc(*a, c * sz)) == NULL)
		return -1;
	*a = n;
	*cap = c;
	return 0;
}

static uint64_t
hash_key(unsigned kind, const char *s)
{
	uint64_t h = 1469598103934665603ull ^ kind;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int
build_rehash(struct build *b)
{
	size_t cap = b->hcap ? b->hcap * 2 : 1024;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (h == NULL)
		return -1;
	for (size_t i = 0; i < b->p->npats; i++) {
		size_t at =
		    hash_key(b->p->pats[i].kind, b->exprs[i]) & (cap - 1);

		while (h[at] != 0)
			at = (at + 1) & (cap - 1);
		h[at] = (uint32_t)i + 1;
	}
	free(b->hash);
	b->hash = h;
	b->hcap = cap;
	return 0;
}

/*
 * The pattern (kind, expr), added when new.  Takes expr.  Returns its
 * index, or NONE when out of memory.
 */
static uint32_t
build_pattern(struct build *b, enum pat_kind kind, char *expr, int line)
{
	struct policy *p = b->p;
	size_t at, n = p->npats, pcap = b->pcap;

	if (expr == NULL || ((n + 1) * 2 > b->hcap && build_rehash(b) != 0))
		goto nomem;
	at = hash_key(kind, expr) & (b->hcap - 1);
	for (; b->hash[at] != 0; at = (at + 1) & (b->hcap - 1)) {
		uint32_t i = b->hash[at] - 1;

		/* Detectors sharing a candidate pattern stay apart. */
		if (p->pats[i].kind == kind && strcmp(b->exprs[i], expr) == 0 &&
		    (kind != PAT_DET || p->pats[i].det == b->cur_det)) {
			free(expr);
			return i;
		}
	}
	if (grow(&p->pats, &pcap, n + 1, sizeof(*p->pats)) ||
	    (pcap = b->pcap, grow(&b->exprs, &pcap, n + 1, sizeof(char *))) ||
	    (pcap = b->pcap,
	     grow(&b->sflags, &pcap, n + 1, sizeof(unsigned))) ||
	    grow(&b->hsflags, &b->pcap, n + 1, sizeof(unsigned)))
		goto nomem;
	memset(&p->pats[n], 0, sizeof(p->pats[n]));
	p->pats[n].kind = (uint8_t)kind;
	p->pats[n].det = kind == PAT_DET ? b->cur_det : 0;
	p->pats[n].rule = b->cur_rule;
	p->pats[n].line = line;
	b->exprs[n] = expr;
	b->sflags[n] = kind == PAT_REGEX ? SCAN_SOM | SCAN_UTF8 | SCAN_CASELESS
	               : kind == PAT_DET ? SCAN_SOM
	                                 : 0;
	b->hsflags[n] = 0;
	b->hash[at] = (uint32_t)n + 1;
	p->npats++;
	return (uint32_t)n;
nomem:
	free(expr);
	b->nomem = 1;
	return NONE;
}

static int
build_edge(struct build *b, uint32_t pat, uint32_t leaf)
{
	if (pat == NONE)
		return -1;
	if (grow(&b->edges, &b->ecap, b->nedges + 1, sizeof(*b->edges))) {
		b->nomem = 1;
		return -1;
	}
	b->edges[b->nedges].pat = pat;
	b->edges[b->nedges++].leaf = leaf;
	return 0;
}

static uint32_t
build_leaf(struct build *b)
{
	struct policy *p = b->p;

	if (grow(&p->leaves, &b->lcap, p->nleaves + 1, sizeof(*p->leaves))) {
		b->nomem = 1;
		return NONE;
	}
	memset(&p->leaves[p->nleaves], 0, sizeof(p->leaves[0]));
	p->leaves[p->nleaves].rule = b->cur_rule;
	p->leaves[p->nleaves].quiet = (uint8_t)b->quiet;
	return (uint32_t)p->nleaves++;
}

static uint32_t
build_node(struct build *b, enum node_kind kind, uint32_t first, uint32_t n)
{
	struct policy *p = b->p;

	if (first == NONE ||
	    grow(&p->nodes, &b->ncap, p->nnodes + 1, sizeof(*p->nodes))) {
		b->nomem = 1;
		return NONE;
	}
	p->nodes[p->nnodes].kind = (uint8_t)kind;
	p->nodes[p->nnodes].first = first;
	p->nodes[p->nnodes].n = n;
	return (uint32_t)p->nnodes++;
}

/* Whole-word checks needed at the edges of normalized literal s. */
static void
literal_edges(const char *s, size_t len, struct pat *pt)
{
	size_t i = 0, l = 0;
	int32_t cp = 0;

	l = normalize_decode(s, len, 0, &cp);
	pt->word_left = (uint8_t)normalize_is_word(cp);
	while (i < len) { /* find the last character */
		l = normalize_decode(s, len, i, &cp);
		i += l;
	}
	pt->word_right = (uint8_t)normalize_is_word(cp);
}

/* One keyword or list entry into leaf. */
static void
build_literal(struct build *b, const char *word, int line, int sv,
              uint32_t leaf)
{
	struct normalize *n = NULL, *s = NULL;
	const struct normalize *use;
	uint32_t pi;

	if (normalize_new(&n) || normalize_new(&s) ||
	    normalize_append(n, word, strlen(word)) ||
	    normalize_append_stripped(s, n, 0, normalize_len(n))) {
		b->nomem = 1;
		goto out;
	}
	use = sv ? s : n;
	if (normalize_len(use) == 0) {
		BERR(b, line, "keyword '%.64s' is empty once normalized%s",
		     word, sv ? " and stripped of separators" : "");
		goto out;
	}
	pi = build_pattern(b, sv ? PAT_LIT_SV : PAT_LIT,
	                   scan_escape(normalize_text(use), normalize_len(use)),
	                   line);
	if (pi == NONE)
		goto out;
	b->p->pats[pi].len = (uint32_t)normalize_len(use);
	literal_edges(normalize_text(use), normalize_len(use), &b->p->pats[pi]);
	if (sv)
		b->p->need_sv = 1;
	build_edge(b, pi, leaf);
out:
	normalize_free(n);
	normalize_free(s);
}

static uint32_t
build_detector(struct build *b, const struct rule_cond *c, uint32_t leaf)
{
	struct policy *p = b->p;
	const struct detector *d = detect_find(c->name);
	uint32_t pi;
	size_t i;

	if (d == NULL) /* rule.c checked the name */
		return NONE;
	for (i = 0; i < p->ndets; i++)
		if (p->dets[i] == d)
			break;
	if (i == p->ndets) {
		const struct detector **nd =
		    realloc(p->dets, (p->ndets + 1) * sizeof(*nd));

		if (nd == NULL) {
			b->nomem = 1;
			return NONE;
		}
		p->dets = nd;
		p->dets[p->ndets++] = d;
	}
	p->leaves[leaf].is_det = 1;
	p->leaves[leaf].det = (uint32_t)i;
	p->leaves[leaf].min_count = c->min_count;
	b->cur_det = (uint32_t)i;
	pi = build_pattern(b, PAT_DET, strdup(d->pattern), c->line);
	if (pi == NONE)
		return NONE;
	b->hsflags[pi] = d->hs_flags;
	return build_edge(b, pi, leaf) == 0 ? leaf : NONE;
}

/* A leaf condition: its patterns and edges.  Returns the node. */
static uint32_t
build_leaf_cond(struct build *b, const struct rule_cond *c)
{
	const struct rule_list *l;
	uint32_t leaf = build_leaf(b), pi;

	if (leaf == NONE)
		return NONE;
	switch (c->kind) {
	case RULE_KEYWORDS:
		for (size_t i = 0; i < c->strs.n; i++)
			build_literal(b, c->strs.v[i], c->strs.line[i],
			              c->ignore_separators, leaf);
		break;
	case RULE_LIST:
		l = rule_find_list(b->p->rs, c->name);
		for (size_t i = 0; l != NULL && i < l->entries.n; i++)
			build_literal(b, l->entries.v[i], l->entries.line[i],
			              c->ignore_separators, leaf);
		break;
	case RULE_REGEX:
		for (size_t i = 0; i < c->strs.n; i++) {
			pi = build_pattern(b, PAT_REGEX, strdup(c->strs.v[i]),
			                   c->strs.line[i]);
			build_edge(b, pi, leaf);
		}
		break;
	default:
		if (build_detector(b, c, leaf) == NONE)
			b->nomem = 1;
		break;
	}
	return build_node(b, NODE_LEAF, leaf, 1);
}

static uint32_t
build_cond(struct build *b, const struct rule_cond *c)
{
	struct policy *p = b->p;
	uint32_t *kids, first, node = NONE;
	int quiet = b->quiet;

	if (c->kind > RULE_NOT)
		return build_leaf_cond(b, c);
	if ((kids = calloc(c->nkids, sizeof(*kids))) == NULL) {
		b->nomem = 1;
		return NONE;
	}
	if (c->kind == RULE_NOT)
		b->quiet = 1;
	for (size_t i = 0; i < c->nkids; i++)
		if ((kids[i] = build_cond(b, c->kids[i])) == NONE)
			goto out;
	b->quiet = quiet;
	if (grow(&p->kid_of, &b->kcap, p->nkids + c->nkids, sizeof(uint32_t))) {
		b->nomem = 1;
		goto out;
	}
	first = (uint32_t)p->nkids;
	memcpy(p->kid_of + first, kids, c->nkids * sizeof(*kids));
	p->nkids += c->nkids;
	node = build_node(b,
	                  c->kind == RULE_ANY   ? NODE_ANY
	                  : c->kind == RULE_ALL ? NODE_ALL
	                                        : NODE_NOT,
	                  first, (uint32_t)c->nkids);
out:
	b->quiet = quiet;
	free(kids);
	return node;
}

/* Edges sorted by pattern into the CSR table leaf_of / pats[].edge_*. */
static int
build_csr(struct build *b)
{
	struct policy *p = b->p;
	uint32_t *fill;

	p->leaf_of = malloc((b->nedges + 1) * sizeof(*p->leaf_of));
	fill = calloc(p->npats + 1, sizeof(*fill));
	if (p->leaf_of == NULL || fill == NULL) {
		free(fill);
		return WW_ENOMEM;
	}
	for (size_t i = 0; i < b->nedges; i++)
		p->pats[b->edges[i].pat].edge_n++;
	for (size_t i = 0, off = 0; i < p->npats; i++) {
		p->pats[i].edge_off = (uint32_t)off;
		off += p->pats[i].edge_n;
	}
	for (size_t i = 0; i < b->nedges; i++) {
		struct pat *pt = &p->pats[b->edges[i].pat];

		p->leaf_of[pt->edge_off + fill[b->edges[i].pat]++] =
		    b->edges[i].leaf;
	}
	free(fill);
	return WW_OK;
}

/* One rejected pattern, with its line and rule. */
static void
build_report_pattern(struct build *b, size_t i, const char *msg)
{
	const struct pat *pt = &b->p->pats[i];
	char hint[256], full[768];

	b->cur_rule = pt->rule;
	/* Say so when only start-of-match tracking is the problem. */
	if (pt->kind == PAT_REGEX &&
	    scan_check(b->exprs[i], b->sflags[i] & ~SCAN_SOM, 0, hint,
	               sizeof(hint)) == WW_OK) {
		snprintf(full, sizeof(full),
		         "%.300s (vectorscan cannot track where its matches "
		         "start, which redaction needs: bound or simplify the "
		         "repetitions)",
		         msg);
		msg = full;
	}
	if (pt->kind == PAT_DET)
		BERR(b, pt->line, "detector pattern rejected by vectorscan: %s",
		     msg);
	else
		BERR(b, pt->line, "%s '%.80s' rejected: %s",
		     pt->kind == PAT_REGEX ? "regex" : "keyword", b->exprs[i],
		     msg);
}

static double
build_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The database failed on pattern bad: report it, and every other regex
 * that fails on its own, with its line and rule.  Checking one by one
 * compiles each regex again, so it stops after BUILD_CHECK_SECONDS (some
 * rejected patterns take vectorscan most of a second each).
 */
#define BUILD_CHECK_SECONDS 5.0

static void
build_report_db(struct build *b, long bad, const char *why)
{
	struct policy *p = b->p;
	double start = build_clock();
	int seen = 0, late = 0;
	char err[256];

	for (size_t i = 0; i < p->npats; i++) {
		if ((long)i == bad) {
			build_report_pattern(b, i, why);
			seen = 1;
			continue;
		}
		if (p->pats[i].kind != PAT_REGEX || late)
			continue;
		if (build_clock() - start > BUILD_CHECK_SECONDS) {
			late = 1;
			continue;
		}
		if (scan_check(b->exprs[i], b->sflags[i], b->hsflags[i], err,
		               sizeof(err)) != WW_OK) {
			build_report_pattern(b, i, err);
			seen = 1;
		}
	}
	if (late)
		rule_errors_add(
		    b->errs, b->file, 1, NULL,
		    "some regexes were not checked one by one (time "
		    "limit): fix the errors above and check again");
	if (!seen)
		rule_errors_add(b->errs, b->file, 1, NULL,
		                "vectorscan cannot compile this policy: %s",
		                why);
}

/*
 * Compile the patterns of one database: those with (sv) or without the
 * stripped view's kind.  The ids are the pattern indexes.
 */
static int
build_db_part(struct build *b, int sv, struct scan_db **db)
{
	struct policy *p = b->p;
	const char **ex = malloc((p->npats + 1) * sizeof(*ex));
	unsigned *fl = malloc((p->npats + 1) * sizeof(*fl));
	unsigned *hf = malloc((p->npats + 1) * sizeof(*hf));
	unsigned *ids = malloc((p->npats + 1) * sizeof(*ids));
	size_t n = 0;
	char why[512];
	long bad;
	int rc = WW_ENOMEM;

	if (ex == NULL || fl == NULL || hf == NULL || ids == NULL)
		goto out;
	for (size_t i = 0; i < p->npats; i++) {
		if ((p->pats[i].kind == PAT_LIT_SV) != sv)
			continue;
		ex[n] = b->exprs[i];
		fl[n] = b->sflags[i];
		hf[n] = b->hsflags[i];
		ids[n++] = (unsigned)i;
	}
	rc = WW_OK;
	if (n == 0)
		goto out;
	rc = scan_compile(ex, fl, hf, ids, n, db, &bad, why, sizeof(why));
	if (rc == WW_EPARSE)
		build_report_db(
		    b, bad >= 0 && (size_t)bad < n ? (long)ids[bad] : -1, why);
out:
	free(ex);
	free(fl);
	free(hf);
	free(ids);
	return rc;
}

/*
 * Two databases, each scanned once over its own text: the keywords that
 * ignore separators only ever match in the stripped view, everything else
 * only in the normalized text (judge_resolve() drops the rest), so
 * neither scans the other's text for nothing.
 */
static int
build_db(struct build *b)
{
	int rc;

	if ((rc = build_db_part(b, 0, &b->p->db)) != WW_OK)
		return rc;
	return build_db_part(b, 1, &b->p->svdb);
}

static int
build_rules(struct build *b)
{
	struct policy *p = b->p;
	size_t n = p->rs->nrules;

	p->match_node = malloc((n + 1) * sizeof(uint32_t));
	p->unless_node = malloc((n + 1) * sizeof(uint32_t));
	if (p->match_node == NULL || p->unless_node == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < n && !b->nomem; i++) {
		const struct rule *r = &p->rs->rules[i];

		b->cur_rule = (uint32_t)i;
		b->quiet = 0;
		p->match_node[i] = build_cond(b, r->match);
		p->unless_node[i] = NONE;
		if (r->unless != NULL) {
			b->quiet = 1;
			p->unless_node[i] = build_cond(b, r->unless);
		}
	}
	if (b->nomem)
		return WW_ENOMEM;
	return b->errs->n > 0 ? WW_EPARSE : WW_OK;
}

static void
build_cleanup(struct build *b)
{
	for (size_t i = 0; i < b->p->npats; i++)
		free(b->exprs[i]);
	free(b->exprs);
	free(b->sflags);
	free(b->hsflags);
	free(b->hash);
	free(b->edges);
}

static int
policy_digest_text(struct policy *p)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(p->text, p->text_len, md, &mdlen, EVP_sha256(), NULL))
		return WW_ENOMEM;
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(p->digest + 2 * i, 3, "%02x", md[i]);
	return WW_OK;
}

static void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	scan_free(p->db);
	scan_free(p->svdb);
	rule_set_free(p->rs);
	free(p->file);
	free(p->text);
	free(p->match_node);
	free(p->unless_node);
	free(p->always);
	free(p->pats);
	free(p->leaf_of);
	free(p->leaves);
	free(p->nodes);
	free(p->kid_of);
	free(p->dets);
	free(p);
}

/*
 * Which rules may match a message without a single hit: evaluate each
 * match condition with every leaf as it is when nothing was found (a
 * detector leaf with min_count 0 holds, every other leaf does not).
 */
static int
build_always(struct policy *p)
{
	uint8_t *none = calloc(p->nleaves + 1, 1);

	p->always = calloc(p->rs->nrules + 1, 1);
	if (none == NULL || p->always == NULL) {
		free(none);
		return WW_ENOMEM;
	}
	for (size_t l = 0; l < p->nleaves; l++)
		none[l] = p->leaves[l].is_det && p->leaves[l].min_count == 0;
	for (size_t i = 0; i < p->rs->nrules; i++)
		p->always[i] = (uint8_t)eval_node(p, none, p->match_node[i]);
	free(none);
	return WW_OK;
}

static int
policy_compile(struct policy *p, struct rule_errors *errs)
{
	struct build b = {.p = p, .errs = errs, .file = p->file};
	int rc;

	if ((rc = rule_parse(p->file, p->text, p->text_len, &p->rs, errs)))
		return rc;
	if ((rc = build_rules(&b)) != WW_OK)
		goto out;
	if ((rc = build_csr(&b)) != WW_OK)
		goto out;
	if ((rc = build_always(p)) != WW_OK)
		goto out;
	rc = build_db(&b);
out:
	build_cleanup(&b);
	return rc;
}

int
policy_load_buf(const char *name, const char *text, size_t len,
                struct policy **out, struct policy_errors **errs)
{
	struct policy_errors *e = calloc(1, sizeof(*e));
	struct policy *p = calloc(1, sizeof(*p));
	int rc = WW_ENOMEM;

	*out = NULL;
	if (errs != NULL)
		*errs = NULL;
	if (e == NULL || p == NULL)
		goto out;
	atomic_init(&p->refs, 1);
	p->file = strdup(name != NULL ? name : "-");
	p->text = malloc(len + 1);
	if (p->file == NULL || p->text == NULL)
		goto out;
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->text_len = len;
	if ((rc = policy_digest_text(p)) != WW_OK)
		goto out;
	rc = policy_compile(p, &e->e);
	if (rc == WW_OK) {
		*out = p;
		p = NULL;
	} else if (rc == WW_ENOMEM && e->e.n == 0) {
		rule_errors_add(&e->e, name, 1, NULL, "out of memory");
	}
out:
	policy_free(p);
	if (rc != WW_OK && errs != NULL && e != NULL && e->e.n > 0) {
		*errs = e;
		e = NULL;
	}
	policy_errors_free(e);
	return rc;
}

int
policy_load_file(const char *path, struct policy **out,
                 struct policy_errors **errs)
{
	struct policy_errors *e = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;
	int rc = WW_EIO;

	*out = NULL;
	if (errs != NULL)
		*errs = NULL;
	if ((fp = fopen(path, "rb")) == NULL) {
		rc = errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
		goto fail;
	}
	if ((buf = malloc(RULE_MAX_TEXT + 1)) == NULL) {
		rc = WW_ENOMEM;
		goto fail;
	}
	len = fread(buf, 1, RULE_MAX_TEXT + 1, fp);
	if (ferror(fp))
		goto fail;
	if (len > RULE_MAX_TEXT) {
		rc = WW_ELIMIT;
		goto fail;
	}
	fclose(fp);
	rc = policy_load_buf(path, buf, len, out, errs);
	free(buf);
	return rc;
fail:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	if (errs != NULL && (e = calloc(1, sizeof(*e))) != NULL) {
		rule_errors_add(&e->e, path, 0, NULL, "cannot read: %s",
		                rc == WW_ELIMIT ? "file too large"
		                                : ww_strerror(rc));
		*errs = e;
	}
	return rc;
}

struct policy *
policy_ref(struct policy *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

void
policy_unref(struct policy *p)
{
	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		policy_free(p);
}

const char *
policy_digest(const struct policy *p)
{
	return p->digest;
}

const char *
policy_text(const struct policy *p, size_t *len)
{
	if (len != NULL)
		*len = p->text_len;
	return p->text;
}

const char *
policy_file(const struct policy *p)
{
	return p->file;
}

size_t
policy_rule_count(const struct policy *p)
{
	return p->rs->nrules;
}

const char *
policy_rule_id(const struct policy *p, size_t i)
{
	return i < p->rs->nrules ? p->rs->rules[i].id : NULL;
}

size_t
policy_pattern_count(const struct policy *p)
{
	return p->npats;
}

size_t
policy_db_bytes(const struct policy *p)
{
	return scan_size(p->db) + scan_size(p->svdb);
}

/* ---- scratch ---- */

struct raw {
	uint32_t pat;
	uint32_t from, to;
};

struct hit {
	uint32_t pat;
	uint32_t part;
	uint32_t start, end; /* in the normalized view */
};

struct dval {
	uint32_t det;
	char canon[DETECT_CANON_MAX];
};

struct policy_scratch {
	struct scan_scratch *scan;
	struct normalize *norm;  /* all parts, '\n' between */
	struct normalize *sv;    /* their stripped view */
	uint32_t *pstart, *pend; /* per part, in norm */
	size_t partcap;
	struct raw *raw;
	size_t nraw, rawcap;
	struct hit *hits;
	size_t nhits, hitcap;
	struct dval *dvals;
	size_t ndvals, dvcap;
	unsigned *detn; /* per detector: distinct valid values */
	uint8_t *leafhit;
	uint8_t *matched;  /* per rule */
	uint8_t *excluded; /* per rule: matched, then excluded by unless */
	uint8_t *cand;     /* per rule: some leaf was hit */
	size_t leafcap, detcap, rulecap;
	size_t norm_end; /* length of norm: raw offsets >= it are in sv */
	uint32_t base;   /* added to the offsets of the scan under way */
	int oom;         /* the match callback ran out of memory */
};

static int
scratch_grow(struct policy_scratch *s, const struct policy *p)
{
	size_t c;

	c = s->leafcap;
	if (grow(&s->leafhit, &c, p->nleaves + 1, 1))
		return WW_ENOMEM;
	s->leafcap = c;
	c = s->detcap;
	if (grow(&s->detn, &c, p->ndets + 1, sizeof(unsigned)))
		return WW_ENOMEM;
	s->detcap = c;
	c = s->rulecap;
	if (grow(&s->matched, &c, p->rs->nrules + 1, 1))
		return WW_ENOMEM;
	c = s->rulecap;
	if (grow(&s->excluded, &c, p->rs->nrules + 1, 1))
		return WW_ENOMEM;
	c = s->rulecap;
	if (grow(&s->cand, &c, p->rs->nrules + 1, 1))
		return WW_ENOMEM;
	s->rulecap = c;
	return WW_OK;
}

int
policy_scratch_fit(const struct policy *p, struct policy_scratch *s)
{
	int rc;

	if ((rc = scan_scratch_fit(p->db, &s->scan)) != WW_OK ||
	    (rc = scan_scratch_fit(p->svdb, &s->scan)) != WW_OK)
		return rc;
	return scratch_grow(s, p);
}

int
policy_scratch_new(const struct policy *p, struct policy_scratch **out)
{
	struct policy_scratch *s = calloc(1, sizeof(*s));
	int rc = WW_ENOMEM;

	*out = NULL;
	if (s == NULL)
		return WW_ENOMEM;
	if (normalize_new(&s->norm) || normalize_new(&s->sv))
		goto out;
	if ((rc = policy_scratch_fit(p, s)) != WW_OK)
		goto out;
	*out = s;
	return WW_OK;
out:
	policy_scratch_free(s);
	return rc;
}

void
policy_scratch_free(struct policy_scratch *s)
{
	if (s == NULL)
		return;
	scan_scratch_free(s->scan);
	normalize_free(s->norm);
	normalize_free(s->sv);
	free(s->pstart);
	free(s->pend);
	free(s->raw);
	free(s->hits);
	free(s->dvals);
	free(s->detn);
	free(s->leafhit);
	free(s->matched);
	free(s->excluded);
	free(s->cand);
	free(s);
}

/* ---- judge: normalize and scan ---- */

/* Normalize every part into s->norm, and s->sv when the policy needs it. */
static int
judge_normalize(const struct policy *p, struct policy_scratch *s,
                const Ww__Message *msg)
{
	size_t n = msg->n_texts, c = s->partcap;
	int rc;

	normalize_reset(s->norm);
	normalize_reset(s->sv);
	if (grow(&s->pstart, &c, n + 1, sizeof(uint32_t)) ||
	    grow(&s->pend, &s->partcap, n + 1, sizeof(uint32_t)))
		return WW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *t = msg->texts[i]->text ? msg->texts[i]->text : "";

		s->pstart[i] = (uint32_t)normalize_len(s->norm);
		if ((rc = normalize_append(s->norm, t, strlen(t))) != WW_OK)
			return rc;
		s->pend[i] = (uint32_t)normalize_len(s->norm);
		if ((rc = normalize_append_raw(s->norm, "\n", 1)) != WW_OK)
			return rc;
	}
	s->norm_end = normalize_len(s->norm);
	if (!p->need_sv)
		return WW_OK;
	for (size_t i = 0; i < n; i++) {
		rc = normalize_append_stripped(s->sv, s->norm, s->pstart[i],
		                               s->pend[i]);
		if (rc != WW_OK || (rc = normalize_append_raw(s->sv, "\n", 1)))
			return rc;
	}
	return WW_OK;
}

static int
judge_on_match(unsigned id, unsigned long long from, unsigned long long to,
               void *arg)
{
	struct policy_scratch *s = arg;

	if (s->nraw == s->rawcap) {
		size_t c = s->rawcap;

		if (c >= MAX_HITS)
			return 1;
		if (grow(&s->raw, &c, c + 1, sizeof(*s->raw))) {
			s->oom = 1;
			return 1;
		}
		s->rawcap = c;
	}
	s->raw[s->nraw].pat = id;
	s->raw[s->nraw].from = (uint32_t)from + s->base;
	s->raw[s->nraw++].to = (uint32_t)to + s->base;
	return 0;
}

/*
 * Raw matches of db over buf[0..len), their offsets moved by base (where
 * buf would start in one buffer holding the normalized text and then the
 * stripped view, the offsets judge_resolve() expects).
 */
static int
judge_scan(const struct scan_db *db, struct policy_scratch *s, const char *buf,
           size_t len, uint32_t base)
{
	int rc;

	s->base = base;
	rc = scan_run(db, s->scan, buf, len, judge_on_match, s);
	return s->oom ? WW_ENOMEM : rc;
}

int
policy_scan_buf(const struct policy *p, struct policy_scratch *s,
                const char *buf, size_t len, size_t *nmatches)
{
	int rc;

	s->nraw = 0;
	s->oom = 0;
	/* Both databases, as a message without separators would see it. */
	if ((rc = judge_scan(p->db, s, buf, len, 0)) == WW_OK)
		rc = judge_scan(p->svdb, s, buf, len, 0);
	if (nmatches != NULL)
		*nmatches = s->nraw;
	return rc;
}

/* The normalized text with db, then the stripped view with svdb. */
static int
judge_scan_all(const struct policy *p, struct policy_scratch *s)
{
	int rc;

	s->nraw = 0;
	s->oom = 0;
	rc = judge_scan(p->db, s, normalize_text(s->norm), s->norm_end, 0);
	if (rc == WW_OK && p->need_sv)
		rc = judge_scan(p->svdb, s, normalize_text(s->sv),
		                normalize_len(s->sv), (uint32_t)s->norm_end);
	return rc;
}

/* ---- judge: from raw matches to hits ---- */

static uint32_t
part_of(const struct policy_scratch *s, size_t nparts, uint32_t pos)
{
	size_t lo = 0, hi = nparts;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (s->pstart[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return (uint32_t)lo;
}

/* Is the hit [start, end) of part a whole word where pt asks for it? */
static int
whole_word(const struct policy_scratch *s, const struct pat *pt, uint32_t part,
           uint32_t start, uint32_t end)
{
	const char *t = normalize_text(s->norm);
	int32_t cp;

	if (pt->word_left && start > s->pstart[part]) {
		uint32_t i = start - 1;

		while (i > s->pstart[part] &&
		       ((unsigned char)t[i] & 0xC0) == 0x80)
			i--;
		normalize_decode(t, start, i, &cp);
		if (normalize_is_word(cp))
			return 0;
	}
	if (pt->word_right && end < s->pend[part]) {
		normalize_decode(t, s->pend[part], end, &cp);
		if (normalize_is_word(cp))
			return 0;
	}
	return 1;
}

/* Turn one raw match into a hit in the normalized view, or drop it. */
static int
judge_resolve(const struct policy *p, struct policy_scratch *s, size_t nparts,
              const struct raw *r)
{
	const struct pat *pt = &p->pats[r->pat];
	uint32_t ns, ne, part;
	size_t a, z;

	if (pt->kind == PAT_LIT_SV) {
		if (r->to < s->norm_end + pt->len)
			return WW_OK;
		normalize_span(s->sv, r->to - pt->len - s->norm_end,
		               r->to - s->norm_end, &a, &z);
		ns = (uint32_t)a;
		ne = (uint32_t)z;
	} else {
		if (r->to > s->norm_end)
			return WW_OK;
		ns = pt->kind == PAT_LIT ? r->to - pt->len : r->from;
		ne = r->to;
	}
	if (nparts == 0 || ne <= ns)
		return WW_OK;
	part = part_of(s, nparts, ns);
	if (ne > s->pend[part] || ns < s->pstart[part])
		return WW_OK; /* crosses the separator between parts */
	if (pt->kind <= PAT_LIT_SV && !whole_word(s, pt, part, ns, ne))
		return WW_OK;
	if (s->nhits == s->hitcap &&
	    grow(&s->hits, &s->hitcap, s->nhits + 1, sizeof(*s->hits)))
		return WW_ENOMEM;
	s->hits[s->nhits].pat = r->pat;
	s->hits[s->nhits].part = part;
	s->hits[s->nhits].start = ns;
	s->hits[s->nhits++].end = ne;
	return WW_OK;
}

static int
hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->pat != y->pat)
		return x->pat < y->pat ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* Count a valid detector value once per distinct canonical form. */
static int
judge_count_value(struct policy_scratch *s, uint32_t det, const char *canon)
{
	for (size_t i = 0; i < s->ndvals; i++)
		if (s->dvals[i].det == det &&
		    strcmp(s->dvals[i].canon, canon) == 0)
			return WW_OK;
	if (grow(&s->dvals, &s->dvcap, s->ndvals + 1, sizeof(*s->dvals)))
		return WW_ENOMEM;
	s->dvals[s->ndvals].det = det;
	memcpy(s->dvals[s->ndvals].canon, canon, DETECT_CANON_MAX);
	s->ndvals++;
	s->detn[det]++;
	return WW_OK;
}

/*
 * Validate detector candidates (hits[from..nhits)): per pattern and start
 * the longest valid candidate is kept; invalid ones are dropped.
 */
static int
judge_validate(const struct policy *p, struct policy_scratch *s, size_t from)
{
	const char *t = normalize_text(s->norm);
	size_t out = from;
	int rc;

	if (s->nhits - from > 1)
		qsort(s->hits + from, s->nhits - from, sizeof(*s->hits),
		      hit_cmp);
	for (size_t i = from; i < s->nhits; i++) {
		struct hit h = s->hits[i];
		const struct pat *pt = &p->pats[h.pat];
		char canon[DETECT_CANON_MAX];

		/*
		 * A longer candidate may be invalid where a shorter one at
		 * the same start is valid ("4111111111111111 12月": the
		 * separator pattern swallows " 12"), so skip only once a
		 * candidate at this start has been accepted.
		 */
		if (out > from && s->hits[out - 1].pat == h.pat &&
		    s->hits[out - 1].start == h.start)
			continue;
		canon[0] = '\0';
		if (!p->dets[pt->det]->validate(t + h.start, h.end - h.start,
		                                canon))
			continue;
		canon[DETECT_CANON_MAX - 1] = '\0';
		if ((rc = judge_count_value(s, pt->det, canon)) != WW_OK)
			return rc;
		s->hits[out++] = h;
	}
	s->nhits = out;
	return WW_OK;
}

/* All raw matches -> hits; mark the leaves they feed. */
static int
judge_hits(const struct policy *p, struct policy_scratch *s, size_t nparts)
{
	size_t ndet = 0;
	int rc;

	s->nhits = s->ndvals = 0;
	memset(s->leafhit, 0, p->nleaves);
	memset(s->detn, 0, p->ndets * sizeof(*s->detn));
	/* Non-detector hits first, detector candidates at the end. */
	for (int pass = 0; pass < 2; pass++) {
		ndet = s->nhits;
		for (size_t i = 0; i < s->nraw; i++) {
			int is_det = p->pats[s->raw[i].pat].kind == PAT_DET;

			if (is_det != pass)
				continue;
			if ((rc = judge_resolve(p, s, nparts, &s->raw[i])))
				return rc;
		}
	}
	if ((rc = judge_validate(p, s, ndet)) != WW_OK)
		return rc;
	memset(s->cand, 0, p->rs->nrules);
	for (size_t i = 0; i < s->nhits; i++) {
		const struct pat *pt = &p->pats[s->hits[i].pat];

		for (uint32_t e = 0; e < pt->edge_n; e++) {
			uint32_t l = p->leaf_of[pt->edge_off + e];

			s->leafhit[l] = 1;
			s->cand[p->leaves[l].rule] = 1;
		}
	}
	for (size_t l = 0; l < p->nleaves; l++)
		if (p->leaves[l].is_det)
			s->leafhit[l] =
			    s->detn[p->leaves[l].det] >= p->leaves[l].min_count;
	return WW_OK;
}

/* ---- judge: rules ---- */

static int
eval_node(const struct policy *p, const uint8_t *leafhit, uint32_t n)
{
	const struct node *nd = &p->nodes[n];

	switch (nd->kind) {
	case NODE_LEAF:
		return leafhit[nd->first];
	case NODE_NOT:
		return !eval_node(p, leafhit, p->kid_of[nd->first]);
	case NODE_ANY:
		for (uint32_t i = 0; i < nd->n; i++)
			if (eval_node(p, leafhit, p->kid_of[nd->first + i]))
				return 1;
		return 0;
	default:
		for (uint32_t i = 0; i < nd->n; i++)
			if (!eval_node(p, leafhit, p->kid_of[nd->first + i]))
				return 0;
		return 1;
	}
}

/* Is s in the list (an entry ending in '*' matches a prefix)? */
static int
in_strs(const struct rule_strs *l, const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);

		if (n > 0 && l->v[i][n - 1] == '*') {
			if (strncmp(l->v[i], s, n - 1) == 0)
				return 1;
		} else if (strcmp(l->v[i], s) == 0) {
			return 1;
		}
	}
	return 0;
}

static int
any_in_strs(const struct rule_strs *l, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (in_strs(l, v[i]))
			return 1;
	return 0;
}

static int
scope_recipients(const struct rule *r, const Ww__Recipients *rc)
{
	if (rc == NULL)
		return 0;
	return any_in_strs(&r->recipients, rc->users, rc->n_users) ||
	       any_in_strs(&r->recipients, rc->external_users,
	                   rc->n_external_users) ||
	       any_in_strs(&r->recipients, rc->kf_ids, rc->n_kf_ids) ||
	       any_in_strs(&r->recipients, rc->mentioned, rc->n_mentioned) ||
	       (rc->all && in_strs(&r->recipients, "@all"));
}

/* The rule's scope: AND across keys, OR within a key's list. */
static int
scope_ok(const struct rule *r, const Ww__Message *m)
{
	const Ww__Recipients *rc = m->recipients;
	unsigned dir =
	    m->direction == WW__DIRECTION__OUTBOUND  ? RULE_DIR_OUTBOUND
	    : m->direction == WW__DIRECTION__INBOUND ? RULE_DIR_INBOUND
	                                             : 0;

	if (r->directions != 0 && (r->directions & dir) == 0)
		return 0;
	if (r->endpoints.n > 0 && !in_strs(&r->endpoints, m->endpoint))
		return 0;
	if (r->msgtypes.n > 0 && !in_strs(&r->msgtypes, m->msgtype))
		return 0;
	if (r->senders.n > 0 && !in_strs(&r->senders, m->sender))
		return 0;
	if (r->recipients.n > 0 && !scope_recipients(r, rc))
		return 0;
	if (r->chats.n > 0 &&
	    (rc == NULL ||
	     (!in_strs(&r->chats, rc->chat_id) &&
	      !any_in_strs(&r->chats, rc->chat_ids, rc->n_chat_ids))))
		return 0;
	return 1;
}

/*
 * Evaluate the rules.  A rule none of whose leaves was hit is decided at
 * compile time (policy->always), so most rules cost nothing per message.
 */
static void
judge_rules(const struct policy *p, struct policy_scratch *s,
            const Ww__Message *msg)
{
	for (size_t i = 0; i < p->rs->nrules; i++) {
		const struct rule *r = &p->rs->rules[i];

		s->matched[i] = s->excluded[i] = 0;
		if ((!s->cand[i] && !p->always[i]) || !scope_ok(r, msg) ||
		    !eval_node(p, s->leafhit, p->match_node[i]))
			continue;
		if (p->unless_node[i] != NONE &&
		    eval_node(p, s->leafhit, p->unless_node[i]))
			s->excluded[i] = 1;
		else
			s->matched[i] = 1;
	}
}

/* ---- judge: verdict and redaction ---- */

struct span {
	uint32_t rule, part, start, end; /* original byte offsets */
};

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* Spans of every matched rule's shown leaves, sorted and unique. */
static int
judge_spans(const struct policy *p, const struct policy_scratch *s,
            struct span **out, size_t *nout)
{
	struct span *v = NULL;
	size_t n = 0, cap = 0, os, oe;

	for (size_t i = 0; i < s->nhits; i++) {
		const struct hit *h = &s->hits[i];
		const struct pat *pt = &p->pats[h->pat];

		for (uint32_t e = 0; e < pt->edge_n; e++) {
			uint32_t l = p->leaf_of[pt->edge_off + e];
			const struct leaf *lf = &p->leaves[l];

			if (!s->matched[lf->rule] || lf->quiet ||
			    !s->leafhit[l])
				continue;
			if (grow(&v, &cap, n + 1, sizeof(*v))) {
				free(v);
				return WW_ENOMEM;
			}
			normalize_span(s->norm, h->start, h->end, &os, &oe);
			v[n].rule = lf->rule;
			v[n].part = h->part;
			v[n].start = (uint32_t)os;
			v[n++].end = (uint32_t)oe;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), span_cmp);
	*nout = 0;
	for (size_t i = 0; i < n; i++)
		if (*nout == 0 || span_cmp(&v[*nout - 1], &v[i]) != 0)
			v[(*nout)++] = v[i];
	*out = v;
	return WW_OK;
}

static char *
vstrdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static int
verdict_add_spans(const struct policy *p, Ww__Verdict *v, const struct span *sp,
                  size_t n)
{
	if (n == 0)
		return WW_OK;
	if ((v->spans = calloc(n, sizeof(*v->spans))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		Ww__Span *x = malloc(sizeof(*x));

		if (x == NULL)
			return WW_ENOMEM;
		ww__span__init(x);
		v->spans[v->n_spans++] = x;
		x->part = sp[i].part;
		x->start = sp[i].start;
		x->end = sp[i].end;
		if ((x->rule_id = vstrdup(p->rs->rules[sp[i].rule].id)) == NULL)
			return WW_ENOMEM;
	}
	return WW_OK;
}

/* Action, rule lists, refusal message; the spans come separately. */
static int
verdict_rules(const struct policy *p, const struct policy_scratch *s,
              Ww__Verdict *v)
{
	const struct rule *winner = NULL;
	size_t n = p->rs->nrules;

	if ((v->rules = calloc(n + 1, sizeof(char *))) == NULL ||
	    (v->monitor_rules = calloc(n + 1, sizeof(char *))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &p->rs->rules[i];
		char *id;

		if (!s->matched[i])
			continue;
		if ((id = vstrdup(r->id)) == NULL)
			return WW_ENOMEM;
		if (r->monitor) {
			v->monitor_rules[v->n_monitor_rules++] = id;
			continue;
		}
		v->rules[v->n_rules++] = id;
		if ((int)r->action > (int)v->action) {
			v->action = (Ww__Action)r->action;
			winner = r;
		}
	}
	if ((v->policy_digest = vstrdup(p->digest)) == NULL)
		return WW_ENOMEM;
	if (v->action == WW__ACTION__BLOCK) {
		char dflt[200];

		snprintf(dflt, sizeof(dflt),
		         "blocked by compliance policy (rule %s)", winner->id);
		v->refusal_message =
		    vstrdup(winner->message ? winner->message : dflt);
		if (v->refusal_message == NULL)
			return WW_ENOMEM;
	}
	return WW_OK;
}

/* text with every character of spans [start, end) replaced by '*'. */
static char *
mask_text(const char *text, const struct span *sp, size_t n)
{
	size_t len = strlen(text), o = 0, i = 0, k = 0;
	char *out = malloc(len + 1);
	int32_t cp;

	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t l = normalize_decode(text, len, i, &cp);

		while (k < n && sp[k].end <= i)
			k++;
		if (k < n && sp[k].start <= i) {
			out[o++] = '*';
		} else {
			memcpy(out + o, text + i, l);
			o += l;
		}
		i += l;
	}
	out[o] = '\0';
	return out;
}

static int
part_span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return (x->start > y->start) - (x->start < y->start);
}

/* Masked copies of the parts that enforce redact rules matched. */
static int
judge_redact(const struct policy *p, const Ww__Message *msg, struct span *sp,
             size_t n, char ***out)
{
	char **red = calloc(msg->n_texts + 1, sizeof(*red));
	size_t m = 0;

	if (red == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &p->rs->rules[sp[i].rule];

		if (!r->monitor && r->action == RULE_ACTION_REDACT)
			sp[m++] = sp[i];
	}
	if (m > 1)
		qsort(sp, m, sizeof(*sp), part_span_cmp);
	for (size_t i = 0; i < m;) {
		size_t j = i;

		while (j < m && sp[j].part == sp[i].part)
			j++;
		if (sp[i].part < msg->n_texts) {
			const char *t = msg->texts[sp[i].part]->text;

			red[sp[i].part] = mask_text(t ? t : "", sp + i, j - i);
			if (red[sp[i].part] == NULL) {
				policy_redacted_free(red, msg->n_texts);
				return WW_ENOMEM;
			}
		}
		i = j;
	}
	*out = red;
	return WW_OK;
}

int
policy_rule_excluded(const struct policy *p, const struct policy_scratch *s,
                     size_t i)
{
	return i < p->rs->nrules && i < s->rulecap && s->excluded[i];
}

void
policy_redacted_free(char **redacted, size_t n)
{
	if (redacted == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(redacted[i]);
	free(redacted);
}

int
policy_judge(const struct policy *p, struct policy_scratch *s,
             const Ww__Message *msg, Ww__Verdict **verdict, char ***redacted)
{
	Ww__Verdict *v = NULL;
	struct span *sp = NULL;
	size_t nsp = 0;
	int rc;

	*verdict = NULL;
	if (redacted != NULL)
		*redacted = NULL;
	if ((rc = scratch_grow(s, p)) != WW_OK)
		goto out;
	if ((rc = judge_normalize(p, s, msg)) != WW_OK)
		goto out;
	if ((rc = judge_scan_all(p, s)) != WW_OK)
		goto out;
	if ((rc = judge_hits(p, s, msg->n_texts)) != WW_OK)
		goto out;
	judge_rules(p, s, msg);
	if ((v = malloc(sizeof(*v))) == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	ww__verdict__init(v);
	if ((rc = verdict_rules(p, s, v)) != WW_OK)
		goto out;
	if ((rc = judge_spans(p, s, &sp, &nsp)) != WW_OK)
		goto out;
	if ((rc = verdict_add_spans(p, v, sp, nsp)) != WW_OK)
		goto out;
	if (v->action == WW__ACTION__REDACT && redacted != NULL &&
	    (rc = judge_redact(p, msg, sp, nsp, redacted)) != WW_OK)
		goto out;
	*verdict = v;
	v = NULL;
out:
	free(sp);
	if (v != NULL)
		protobuf_c_message_free_unpacked(&v->base, NULL);
	return rc;
}
