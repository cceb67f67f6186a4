/*
 * rule.h: the policy language's syntax tree (internal to policy/).
 *
 * rule_parse() reads a YAML policy (wwpolicy(5)) into a rule_set: lists,
 * rules, scopes and condition trees, each element with the line it was
 * written on.  It checks everything that can be checked without compiling
 * patterns (required keys, types, unknown keys, ids, list and detector
 * names, limits) and reports every problem, not only the first.
 * policy.c compiles the tree into the one vectorscan database.
 *
 * Hostile input: YAML aliases are refused (no "billion laughs"), nesting is
 * bounded (RULE_MAX_YAML_DEPTH, RULE_MAX_COND_DEPTH), and so are sizes.
 */
#ifndef WW_RULE_H
#define WW_RULE_H

#include <stddef.h>

#define RULE_MAX_TEXT (16u << 20) /* policy file size */
#define RULE_MAX_YAML_DEPTH 100   /* nested YAML collections */
#define RULE_MAX_COND_DEPTH 32    /* nested any/all/not */
#define RULE_MAX_NODES 2000000    /* YAML scalars and collections */
#define RULE_MAX_PATTERNS 200000  /* keywords + list entries + regexes */
#define RULE_MAX_LITERAL 1024     /* bytes in one keyword or list entry */
#define RULE_MAX_REGEX 4096       /* bytes in one regex */
#define RULE_MAX_RULES 10000
#define RULE_MAX_ERRORS 200 /* then "... and more errors" */

/* Diagnostics: "file:line: rule ID: what is wrong", in file order. */
struct rule_errors {
	char **v;
	size_t n;
	size_t cap;
	int dropped; /* past RULE_MAX_ERRORS, or out of memory */
};

void rule_errors_add(struct rule_errors *e, const char *file, int line,
                     const char *rule_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void rule_errors_cleanup(struct rule_errors *e);

enum rule_cond_kind {
	RULE_ANY,
	RULE_ALL,
	RULE_NOT,
	RULE_LIST,
	RULE_KEYWORDS,
	RULE_REGEX,
	RULE_DETECTOR,
};

struct rule_strs {
	char **v;
	int *line; /* line of each entry */
	size_t n;
};

struct rule_cond {
	enum rule_cond_kind kind;
	int line;
	struct rule_cond **kids; /* any/all: nkids >= 1; not: exactly 1 */
	size_t nkids;
	struct rule_strs strs; /* keywords or regexes */
	char *name;            /* list or detector name */
	int ignore_separators; /* keywords and list */
	unsigned min_count;    /* detector: distinct valid values, >= 1 */
};

enum rule_action {
	RULE_ACTION_ALLOW = 0, /* values match Ww__Action */
	RULE_ACTION_ALERT = 1,
	RULE_ACTION_REDACT = 2,
	RULE_ACTION_BLOCK = 3,
};

#define RULE_DIR_OUTBOUND 1u
#define RULE_DIR_INBOUND 2u

struct rule {
	char *id;
	int line;
	char *description;   /* NULL when absent */
	unsigned directions; /* RULE_DIR_* bits; 0 = any */
	struct rule_strs endpoints, msgtypes, senders, recipients, chats;
	struct rule_cond *match;
	struct rule_cond *unless; /* NULL when absent */
	enum rule_action action;
	int monitor;
	char *message; /* NULL when absent */
};

struct rule_list {
	char *name;
	int line;
	struct rule_strs entries;
};

struct rule_set {
	int version;
	struct rule_list *lists;
	size_t nlists;
	struct rule *rules;
	size_t nrules;
	size_t npatterns; /* literals + regexes written, for limits */
};

/*
 * Parse text (len bytes; file names it in diagnostics).  Returns WW_OK and
 * a new *out, or WW_EPARSE / WW_ELIMIT / WW_ENOMEM with the reasons added
 * to errs (*out NULL).
 */
int rule_parse(const char *file, const char *text, size_t len,
               struct rule_set **out, struct rule_errors *errs);
void rule_set_free(struct rule_set *rs); /* NULL is a no-op */

/* The list called name in rs, or NULL. */
const struct rule_list *rule_find_list(const struct rule_set *rs,
                                       const char *name);

#endif
