/*
 * rule.c: YAML policy text -> rule_set, with line numbers.
 *
 * libyaml's event parser builds a small tree of our own (not libyaml's
 * document loader): that is where aliases are refused and depth and size
 * are bounded, before anything walks the tree.  The walk then checks the
 * language and collects every error with its line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ww.h"
#include "policy/detect.h"
#include "policy/rule.h"

enum ynode_type { YSCALAR, YSEQ, YMAP };

struct ynode {
	enum ynode_type type;
	int line;
	int plain;           /* scalar written without quotes */
	char *str;           /* scalar value, NUL-terminated */
	size_t len;          /* scalar length */
	struct ynode **kids; /* map: key, value, key, value... */
	size_t n;
	size_t cap;
};

struct walk {
	const char *file;
	struct rule_errors *errs;
	struct rule_set *rs;
	const char *rule_id; /* for diagnostics, NULL outside rules */
	int nomem;
	int limit;
};

/* ---- diagnostics ---- */

void
rule_errors_add(struct rule_errors *e, const char *file, int line,
                const char *rule_id, const char *fmt, ...)
{
	char msg[512], *s;
	va_list ap;
	int n;

	if (e->n >= RULE_MAX_ERRORS) {
		e->dropped = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->n == RULE_MAX_ERRORS - 1) {
		/* The last slot says that the list stops here. */
		snprintf(msg, sizeof(msg),
		         "too many errors (%d): the rest are not shown",
		         RULE_MAX_ERRORS);
		rule_id = NULL;
		e->dropped = 1;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		char **v = realloc(e->v, cap * sizeof(*v));

		if (v == NULL) {
			e->dropped = 1;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	if (rule_id != NULL)
		n = snprintf(NULL, 0, "%s:%d: rule %s: %s", file, line, rule_id,
		             msg);
	else
		n = snprintf(NULL, 0, "%s:%d: %s", file, line, msg);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
		e->dropped = 1;
		return;
	}
	if (rule_id != NULL)
		snprintf(s, (size_t)n + 1, "%s:%d: rule %s: %s", file, line,
		         rule_id, msg);
	else
		snprintf(s, (size_t)n + 1, "%s:%d: %s", file, line, msg);
	e->v[e->n++] = s;
}

void
rule_errors_cleanup(struct rule_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

#define WERR(w, line, ...)                                                     \
	rule_errors_add((w)->errs, (w)->file, (line), (w)->rule_id, __VA_ARGS__)

/* ---- YAML events -> ynode tree ---- */

static void
ynode_free(struct ynode *y)
{
	if (y == NULL)
		return;
	for (size_t i = 0; i < y->n; i++)
		ynode_free(y->kids[i]);
	free(y->kids);
	free(y->str);
	free(y);
}

static int
ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct ynode **k = realloc(parent->kids, cap * sizeof(*k));

		if (k == NULL)
			return WW_ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return WW_OK;
}

static struct ynode *
ynode_from_event(const yaml_event_t *ev)
{
	struct ynode *y = calloc(1, sizeof(*y));

	if (y == NULL)
		return NULL;
	y->line = (int)ev->start_mark.line + 1;
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		y->type = YSEQ;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		y->type = YMAP;
	} else {
		y->type = YSCALAR;
		y->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		y->len = ev->data.scalar.length;
		y->str = malloc(y->len + 1);
		if (y->str == NULL) {
			free(y);
			return NULL;
		}
		memcpy(y->str, ev->data.scalar.value, y->len);
		y->str[y->len] = '\0';
	}
	return y;
}

struct ybuild {
	struct ynode *stack[RULE_MAX_YAML_DEPTH + 1];
	size_t depth;
	size_t nodes;
	struct ynode *root;
};

static const yaml_char_t *
ybuild_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/* Feed one event; returns WW_OK, or an error already reported. */
static int
ybuild_event(struct walk *w, struct ybuild *b, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;
	struct ynode *y;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		WERR(w, line,
		     "YAML aliases (*name) are not allowed in policies");
		return WW_EPARSE;
	default:
		break;
	}
	if (ybuild_anchor(ev) != NULL) {
		WERR(w, line,
		     "YAML anchors (&name) are not allowed in policies");
		return WW_EPARSE;
	}
	switch (ev->type) {
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		b->depth--;
		return WW_OK;
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		break;
	default:
		return WW_OK;
	}
	if (++b->nodes > RULE_MAX_NODES) {
		WERR(w, line, "policy too large (more than %d YAML nodes)",
		     RULE_MAX_NODES);
		return WW_ELIMIT;
	}
	if ((y = ynode_from_event(ev)) == NULL)
		return WW_ENOMEM;
	if (b->depth == 0) {
		if (b->root != NULL) {
			ynode_free(y);
			return WW_OK;
		}
		b->root = y;
	} else if (ynode_add(b->stack[b->depth - 1], y) != WW_OK) {
		ynode_free(y);
		return WW_ENOMEM;
	}
	if (y->type != YSCALAR) {
		if (b->depth >= RULE_MAX_YAML_DEPTH) {
			WERR(w, line, "nesting deeper than %d levels",
			     RULE_MAX_YAML_DEPTH);
			return WW_ELIMIT;
		}
		b->stack[b->depth++] = y;
	}
	return WW_OK;
}

/* Reader errors (bad UTF-8) carry a byte offset, not a mark. */
static int
ybuild_error_line(const yaml_parser_t *parser, const char *text, size_t len)
{
	int line = 1;

	if (parser->error != YAML_READER_ERROR)
		return (int)parser->problem_mark.line + 1;
	for (size_t i = 0; i < parser->problem_offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static int
ybuild_parse(struct walk *w, const char *text, size_t len, struct ynode **out)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct ybuild b;
	int rc = WW_OK, docs = 0, done = 0;

	memset(&b, 0, sizeof(b));
	if (!yaml_parser_initialize(&parser))
		return WW_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == WW_OK) {
		if (!yaml_parser_parse(&parser, &ev)) {
			WERR(w, ybuild_error_line(&parser, text, len),
			     "YAML syntax: %s%s%s",
			     parser.problem ? parser.problem : "error",
			     parser.context ? " " : "",
			     parser.context ? parser.context : "");
			rc = parser.error == YAML_MEMORY_ERROR ? WW_ENOMEM
			                                       : WW_EPARSE;
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			WERR(w, (int)ev.start_mark.line + 1,
			     "only one YAML document is allowed");
			rc = WW_EPARSE;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = 1;
		} else {
			rc = ybuild_event(w, &b, &ev);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc != WW_OK) {
		ynode_free(b.root);
		return rc;
	}
	*out = b.root;
	return WW_OK;
}

/* ---- helpers for the walk ---- */

static const struct ynode *
ymap_get(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == YSCALAR &&
		    strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* Report keys of map that are not in allowed (NULL-terminated). */
static void
ymap_check_keys(struct walk *w, const struct ynode *map,
                const char *const *allowed, const char *what)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i];
		size_t j;

		if (k->type != YSCALAR) {
			WERR(w, k->line, "%s: keys must be plain names", what);
			continue;
		}
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], k->str) == 0)
				break;
		if (allowed[j] == NULL)
			WERR(w, k->line, "%s: unknown key '%.64s'", what,
			     k->str);
		for (size_t m = 0; m < i; m += 2)
			if (map->kids[m]->type == YSCALAR &&
			    strcmp(map->kids[m]->str, k->str) == 0)
				WERR(w, k->line, "%s: duplicate key '%.64s'",
				     what, k->str);
	}
}

static char *
xstrdup(struct walk *w, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		w->nomem = 1;
	return d;
}

static int
ystr(struct walk *w, const struct ynode *y, const char *what, char **out)
{
	if (y->type != YSCALAR) {
		WERR(w, y->line, "%s must be a string", what);
		return -1;
	}
	if (strlen(y->str) != y->len) {
		WERR(w, y->line, "%s contains a NUL character", what);
		return -1;
	}
	*out = xstrdup(w, y->str);
	return *out == NULL ? -1 : 0;
}

static int
ybool(struct walk *w, const struct ynode *y, const char *what, int *out)
{
	static const char *const t[] = {"true", "yes", "on"};
	static const char *const f[] = {"false", "no", "off"};

	if (y->type == YSCALAR && y->plain) {
		for (size_t i = 0; i < 3; i++) {
			if (strcmp(y->str, t[i]) == 0)
				return *out = 1, 0;
			if (strcmp(y->str, f[i]) == 0)
				return *out = 0, 0;
		}
	}
	WERR(w, y->line, "%s must be true or false", what);
	return -1;
}

static int
yuint(struct walk *w, const struct ynode *y, const char *what,
      unsigned long max, unsigned long *out)
{
	char *end;

	if (y->type == YSCALAR && y->plain && y->str[0] >= '0' &&
	    y->str[0] <= '9') {
		*out = strtoul(y->str, &end, 10);
		if (*end == '\0' && *out <= max)
			return 0;
	}
	WERR(w, y->line, "%s must be a whole number from 0 to %lu", what, max);
	return -1;
}

/*
 * A string or a list of strings (non-empty, each at most maxlen bytes)
 * into out.  Returns 0 or -1 (reported).
 */
static int
ystrs(struct walk *w, const struct ynode *y, const char *what, size_t maxlen,
      struct rule_strs *out)
{
	const struct ynode *const *items = &y;
	size_t n = 1;
	int bad = 0;

	if (y->type == YSEQ) {
		items = (const struct ynode *const *)y->kids;
		n = y->n;
	} else if (y->type != YSCALAR) {
		WERR(w, y->line, "%s must be a string or a list of strings",
		     what);
		return -1;
	}
	if (n == 0) {
		WERR(w, y->line, "%s must not be empty", what);
		return -1;
	}
	out->v = calloc(n, sizeof(*out->v));
	out->line = calloc(n, sizeof(*out->line));
	if (out->v == NULL || out->line == NULL) {
		w->nomem = 1;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char *s = NULL;

		if (ystr(w, items[i], what, &s) != 0) {
			bad = 1;
			continue;
		}
		out->line[out->n] = items[i]->line;
		out->v[out->n++] = s;
		if (s[0] == '\0') {
			WERR(w, items[i]->line, "%s: empty string", what);
			bad = 1;
		} else if (strlen(s) > maxlen) {
			WERR(w, items[i]->line, "%s: longer than %zu bytes",
			     what, maxlen);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static void
rule_strs_cleanup(struct rule_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->line);
	memset(s, 0, sizeof(*s));
}

static void
rule_cond_free(struct rule_cond *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nkids; i++)
		rule_cond_free(c->kids[i]);
	free(c->kids);
	rule_strs_cleanup(&c->strs);
	free(c->name);
	free(c);
}

/* ---- conditions ---- */

static struct rule_cond *walk_cond(struct walk *w, const struct ynode *y,
                                   int depth);

static const char *const cond_keys[] = {"any",      "all",   "not",      "list",
                                        "keywords", "regex", "detector", NULL};

static int
walk_cond_kids(struct walk *w, struct rule_cond *c, const struct ynode *v,
               int depth)
{
	const struct ynode *const *items = &v;
	size_t n = 1;
	int bad = 0;

	if (c->kind != RULE_NOT) {
		if (v->type != YSEQ || v->n == 0) {
			WERR(w, v->line,
			     "any/all takes a non-empty list of "
			     "conditions");
			return -1;
		}
		items = (const struct ynode *const *)v->kids;
		n = v->n;
	}
	if ((c->kids = calloc(n, sizeof(*c->kids))) == NULL) {
		w->nomem = 1;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct rule_cond *k = walk_cond(w, items[i], depth + 1);

		if (k == NULL)
			bad = 1;
		else
			c->kids[c->nkids++] = k;
	}
	return bad ? -1 : 0;
}

static int
walk_cond_leaf(struct walk *w, struct rule_cond *c, const struct ynode *map,
               const struct ynode *v)
{
	static const char *const kw_keys[] = {"keywords", "list",
	                                      "ignore_separators", NULL};
	static const char *const re_keys[] = {"regex", NULL};
	static const char *const det_keys[] = {"detector", "min_count", NULL};
	const struct ynode *o;
	unsigned long n = 1;
	int bad = 0;

	switch (c->kind) {
	case RULE_KEYWORDS:
	case RULE_LIST:
		ymap_check_keys(w, map, kw_keys, "keywords condition");
		if ((o = ymap_get(map, "ignore_separators")) != NULL &&
		    ybool(w, o, "ignore_separators", &c->ignore_separators))
			bad = 1;
		if (c->kind == RULE_KEYWORDS) {
			bad |= ystrs(w, v, "keywords", RULE_MAX_LITERAL,
			             &c->strs) != 0;
			w->rs->npatterns += c->strs.n;
			return bad ? -1 : 0;
		}
		if (ystr(w, v, "list", &c->name) != 0)
			return -1;
		if (rule_find_list(w->rs, c->name) == NULL) {
			WERR(w, v->line, "no list called '%.64s'", c->name);
			return -1;
		}
		return bad ? -1 : 0;
	case RULE_REGEX:
		ymap_check_keys(w, map, re_keys, "regex condition");
		bad = ystrs(w, v, "regex", RULE_MAX_REGEX, &c->strs) != 0;
		w->rs->npatterns += c->strs.n;
		return bad ? -1 : 0;
	default:
		ymap_check_keys(w, map, det_keys, "detector condition");
		c->min_count = 1;
		if ((o = ymap_get(map, "min_count")) != NULL) {
			if (yuint(w, o, "min_count", 1000, &n) != 0 || n == 0) {
				if (n == 0)
					WERR(w, o->line,
					     "min_count must be "
					     "at least 1");
				bad = 1;
			}
			c->min_count = (unsigned)n;
		}
		if (ystr(w, v, "detector", &c->name) != 0)
			return -1;
		if (detect_find(c->name) == NULL) {
			WERR(w, v->line, "unknown detector '%.64s'", c->name);
			return -1;
		}
		return bad ? -1 : 0;
	}
}

static int
cond_kind_of(struct walk *w, const struct ynode *map, size_t *at)
{
	int kind = -1;

	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i];

		for (size_t j = 0; cond_keys[j] != NULL; j++) {
			if (k->type != YSCALAR || strcmp(k->str, cond_keys[j]))
				continue;
			if (kind >= 0) {
				WERR(w, k->line,
				     "one condition per mapping "
				     "('%s' and '%s'): combine "
				     "them with any: or all:",
				     cond_keys[kind], cond_keys[j]);
				return -2;
			}
			kind = (int)j;
			*at = i + 1;
		}
	}
	return kind;
}

static struct rule_cond *
walk_cond(struct walk *w, const struct ynode *y, int depth)
{
	struct rule_cond *c;
	size_t at = 0;
	int kind, r;

	if (depth > RULE_MAX_COND_DEPTH) {
		WERR(w, y->line, "conditions nested deeper than %d levels",
		     RULE_MAX_COND_DEPTH);
		return NULL;
	}
	if (y->type != YMAP) {
		WERR(w, y->line,
		     "a condition must be a mapping (any, all, "
		     "not, list, keywords, regex or detector)");
		return NULL;
	}
	if ((kind = cond_kind_of(w, y, &at)) < 0) {
		if (kind == -1)
			WERR(w, y->line,
			     "a condition needs one of any, all, "
			     "not, list, keywords, regex, detector");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		w->nomem = 1;
		return NULL;
	}
	c->kind = (enum rule_cond_kind)kind; /* same order as cond_keys */
	c->line = y->line;
	if (c->kind <= RULE_NOT) {
		static const char *const nested[] = {"any", "all", "not", NULL};

		ymap_check_keys(w, y, nested, "condition");
		r = walk_cond_kids(w, c, y->kids[at], depth);
	} else {
		r = walk_cond_leaf(w, c, y, y->kids[at]);
	}
	if (r != 0) {
		rule_cond_free(c);
		return NULL;
	}
	return c;
}

/* ---- rules ---- */

static int
walk_choice(struct walk *w, const struct ynode *y, const char *what,
            const char *const *names, int *out)
{
	char all[128] = "";

	if (y->type == YSCALAR)
		for (int i = 0; names[i] != NULL; i++)
			if (strcmp(y->str, names[i]) == 0)
				return *out = i, 0;
	for (int i = 0; names[i] != NULL; i++) {
		if (i > 0)
			strncat(all, " | ", sizeof(all) - strlen(all) - 1);
		strncat(all, names[i], sizeof(all) - strlen(all) - 1);
	}
	WERR(w, y->line, "%s must be %s", what, all);
	return -1;
}

static int
walk_scope(struct walk *w, struct rule *r, const struct ynode *y)
{
	static const char *const keys[] = {
	    "direction",  "endpoints", "msgtypes", "senders",
	    "recipients", "chats",     NULL};
	static const char *const dirs[] = {"outbound", "inbound", NULL};
	const struct ynode *d;
	struct rule_strs *lists[] = {&r->endpoints, &r->msgtypes, &r->senders,
	                             &r->recipients, &r->chats};
	int bad = 0, dir;

	if (y->type != YMAP) {
		WERR(w, y->line, "scope must be a mapping");
		return -1;
	}
	ymap_check_keys(w, y, keys, "scope");
	if ((d = ymap_get(y, "direction")) != NULL) {
		struct rule_strs ds = {0};

		if (ystrs(w, d, "direction", 64, &ds) != 0)
			bad = 1;
		for (size_t i = 0; i < ds.n; i++) {
			struct ynode tmp = {.type = YSCALAR,
			                    .str = ds.v[i],
			                    .line = ds.line[i]};

			if (walk_choice(w, &tmp, "direction", dirs, &dir) == 0)
				r->directions |= 1u << dir;
			else
				bad = 1;
		}
		rule_strs_cleanup(&ds);
	}
	for (size_t i = 0; i < WW_NELEM(lists); i++)
		if ((d = ymap_get(y, keys[i + 1])) != NULL &&
		    ystrs(w, d, keys[i + 1], 1024, lists[i]) != 0)
			bad = 1;
	return bad ? -1 : 0;
}

static int
walk_rule_id(struct walk *w, struct rule *r, const struct ynode *y)
{
	const struct ynode *id = ymap_get(y, "id");

	if (id == NULL) {
		WERR(w, y->line, "rule without an id");
		return -1;
	}
	if (ystr(w, id, "id", &r->id) != 0)
		return -1;
	if (r->id[0] == '\0' || strlen(r->id) > 128 ||
	    strspn(r->id, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	        strlen(r->id)) {
		WERR(w, id->line,
		     "rule id '%.64s' must be 1 to 128 of "
		     "[a-z0-9-]",
		     r->id);
		return -1;
	}
	for (size_t i = 0; i < w->rs->nrules; i++)
		if (&w->rs->rules[i] != r && w->rs->rules[i].id != NULL &&
		    strcmp(w->rs->rules[i].id, r->id) == 0) {
			WERR(w, id->line,
			     "duplicate rule id '%s' (first at "
			     "line %d)",
			     r->id, w->rs->rules[i].line);
			return -1;
		}
	w->rule_id = r->id;
	return 0;
}

static int
walk_rule(struct walk *w, struct rule *r, const struct ynode *y)
{
	static const char *const keys[] = {"id",    "description", "scope",
	                                   "match", "unless",      "action",
	                                   "mode",  "message",     NULL};
	static const char *const actions[] = {"allow", "alert", "redact",
	                                      "block", NULL};
	static const char *const modes[] = {"enforce", "monitor", NULL};
	const struct ynode *v;
	int bad = 0, a;

	r->line = y->line;
	w->rule_id = NULL;
	if (y->type != YMAP) {
		WERR(w, y->line, "a rule must be a mapping");
		return -1;
	}
	bad = walk_rule_id(w, r, y) != 0;
	ymap_check_keys(w, y, keys, "rule");
	if ((v = ymap_get(y, "description")) != NULL)
		bad |= ystr(w, v, "description", &r->description) != 0;
	if ((v = ymap_get(y, "message")) != NULL)
		bad |= ystr(w, v, "message", &r->message) != 0;
	if ((v = ymap_get(y, "scope")) != NULL)
		bad |= walk_scope(w, r, v) != 0;
	if ((v = ymap_get(y, "match")) == NULL) {
		WERR(w, y->line, "rule without match");
		bad = 1;
	} else if ((r->match = walk_cond(w, v, 1)) == NULL) {
		bad = 1;
	}
	if ((v = ymap_get(y, "unless")) != NULL &&
	    (r->unless = walk_cond(w, v, 1)) == NULL)
		bad = 1;
	if ((v = ymap_get(y, "action")) == NULL) {
		WERR(w, y->line, "rule without action");
		bad = 1;
	} else if (walk_choice(w, v, "action", actions, &a) == 0) {
		r->action = (enum rule_action)a;
	} else {
		bad = 1;
	}
	if ((v = ymap_get(y, "mode")) != NULL) {
		if (walk_choice(w, v, "mode", modes, &a) == 0)
			r->monitor = a == 1;
		else
			bad = 1;
	}
	return bad ? -1 : 0;
}

static void
rule_free_fields(struct rule *r)
{
	free(r->id);
	free(r->description);
	free(r->message);
	rule_strs_cleanup(&r->endpoints);
	rule_strs_cleanup(&r->msgtypes);
	rule_strs_cleanup(&r->senders);
	rule_strs_cleanup(&r->recipients);
	rule_strs_cleanup(&r->chats);
	rule_cond_free(r->match);
	rule_cond_free(r->unless);
}

/* ---- top level ---- */

static int
walk_lists(struct walk *w, const struct ynode *y)
{
	int bad = 0;

	if (y->type != YMAP) {
		WERR(w, y->line, "lists must be a mapping of name: [entries]");
		return -1;
	}
	w->rs->lists = calloc(y->n / 2 + 1, sizeof(*w->rs->lists));
	if (w->rs->lists == NULL) {
		w->nomem = 1;
		return -1;
	}
	for (size_t i = 0; i + 1 < y->n; i += 2) {
		struct rule_list *l = &w->rs->lists[w->rs->nlists];
		const struct ynode *k = y->kids[i];

		if (ystr(w, k, "list name", &l->name) != 0) {
			bad = 1;
			continue;
		}
		l->line = k->line;
		if (rule_find_list(w->rs, l->name) != NULL) {
			WERR(w, k->line, "duplicate list '%.64s'", l->name);
			bad = 1;
		}
		w->rs->nlists++;
		if (ystrs(w, y->kids[i + 1], "list entry", RULE_MAX_LITERAL,
		          &l->entries) != 0)
			bad = 1;
		w->rs->npatterns += l->entries.n;
	}
	return bad ? -1 : 0;
}

static int
walk_rules(struct walk *w, const struct ynode *y)
{
	int bad = 0;

	if (y->type != YSEQ) {
		WERR(w, y->line, "rules must be a list");
		return -1;
	}
	if (y->n > RULE_MAX_RULES) {
		WERR(w, y->line, "more than %d rules", RULE_MAX_RULES);
		w->limit = 1;
		return -1;
	}
	if ((w->rs->rules = calloc(y->n + 1, sizeof(*w->rs->rules))) == NULL) {
		w->nomem = 1;
		return -1;
	}
	for (size_t i = 0; i < y->n && !w->nomem; i++) {
		if (walk_rule(w, &w->rs->rules[w->rs->nrules++], y->kids[i]))
			bad = 1;
	}
	w->rule_id = NULL;
	return bad ? -1 : 0;
}

static int
walk_top(struct walk *w, const struct ynode *root)
{
	static const char *const keys[] = {"version", "lists", "rules", NULL};
	const struct ynode *v;
	unsigned long ver;
	int bad = 0;

	if (root == NULL || root->type != YMAP) {
		WERR(w, root ? root->line : 1,
		     "a policy is a mapping with "
		     "version, lists and rules");
		return -1;
	}
	ymap_check_keys(w, root, keys, "policy");
	if ((v = ymap_get(root, "version")) == NULL) {
		WERR(w, root->line, "missing 'version: 1'");
		bad = 1;
	} else if (yuint(w, v, "version", 1000, &ver) == 0) {
		if (ver != 1) {
			WERR(w, v->line,
			     "unsupported version %lu (this "
			     "wwgate reads version 1)",
			     ver);
			bad = 1;
		}
		w->rs->version = (int)ver;
	} else {
		bad = 1;
	}
	if ((v = ymap_get(root, "lists")) != NULL && walk_lists(w, v) != 0)
		bad = 1;
	if ((v = ymap_get(root, "rules")) == NULL) {
		WERR(w, root->line, "missing 'rules:'");
		bad = 1;
	} else if (walk_rules(w, v) != 0) {
		bad = 1;
	}
	if (w->rs->npatterns > RULE_MAX_PATTERNS) {
		WERR(w, root->line,
		     "%zu patterns (keywords, list entries, "
		     "regexes): the limit is %d",
		     w->rs->npatterns, RULE_MAX_PATTERNS);
		w->limit = 1;
		bad = 1;
	}
	return bad ? -1 : 0;
}

int
rule_parse(const char *file, const char *text, size_t len,
           struct rule_set **out, struct rule_errors *errs)
{
	struct walk w = {.file = file, .errs = errs};
	struct ynode *root = NULL;
	size_t nerr0 = errs->n;
	int rc, dropped0 = errs->dropped;

	*out = NULL;
	if (len > RULE_MAX_TEXT) {
		rule_errors_add(errs, file, 1, NULL,
		                "policy larger than %u "
		                "bytes",
		                RULE_MAX_TEXT);
		return WW_ELIMIT;
	}
	if ((w.rs = calloc(1, sizeof(*w.rs))) == NULL)
		return WW_ENOMEM;
	if ((rc = ybuild_parse(&w, text, len, &root)) != WW_OK)
		goto out;
	/* Every diagnostic is an error, even where the walk went on. */
	if (walk_top(&w, root) != 0 || errs->n > nerr0 ||
	    errs->dropped != dropped0)
		rc = w.limit ? WW_ELIMIT : WW_EPARSE;
	if (w.nomem)
		rc = WW_ENOMEM;
out:
	ynode_free(root);
	if (rc != WW_OK) {
		rule_set_free(w.rs);
		return rc;
	}
	*out = w.rs;
	return WW_OK;
}

void
rule_set_free(struct rule_set *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->nlists; i++) {
		free(rs->lists[i].name);
		rule_strs_cleanup(&rs->lists[i].entries);
	}
	free(rs->lists);
	for (size_t i = 0; i < rs->nrules; i++)
		rule_free_fields(&rs->rules[i]);
	free(rs->rules);
	free(rs);
}

const struct rule_list *
rule_find_list(const struct rule_set *rs, const char *name)
{
	for (size_t i = 0; i < rs->nlists; i++)
		if (rs->lists[i].name != NULL &&
		    strcmp(rs->lists[i].name, name) == 0)
			return &rs->lists[i];
	return NULL;
}
