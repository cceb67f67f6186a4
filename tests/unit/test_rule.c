/* test_rule.c: the policy language parser, every error with its line. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "policy/rule.h"

struct parsed {
	int rc;
	struct rule_set *rs;
	struct rule_errors errs;
};

static void
parse(struct parsed *p, const char *text)
{
	memset(p, 0, sizeof(*p));
	p->rc = rule_parse("t.yaml", text, strlen(text), &p->rs, &p->errs);
}

static void
done(struct parsed *p)
{
	rule_set_free(p->rs);
	rule_errors_cleanup(&p->errs);
}

/* Parsing text fails with a diagnostic that starts with want. */
static void
fails_with(const char *text, const char *want)
{
	struct parsed p;
	int found = 0;

	parse(&p, text);
	if (p.rc == WW_OK)
		fail_msg("parsed, expected '%s'", want);
	assert_null(p.rs);
	for (size_t i = 0; i < p.errs.n; i++)
		if (strncmp(p.errs.v[i], want, strlen(want)) == 0)
			found = 1;
	if (!found) {
		for (size_t i = 0; i < p.errs.n; i++)
			fprintf(stderr, "got: %s\n", p.errs.v[i]);
		fail_msg("no diagnostic starting with '%s'", want);
	}
	done(&p);
}

#define HEAD "version: 1\nrules:\n"

static void
test_valid_policy(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "version: 1\n"
	          "lists:\n"
	          "  secret: [机密, \"project falcon\"]\n"
	          "rules:\n"
	          "  - id: no-secret\n"
	          "    description: d\n"
	          "    scope:\n"
	          "      direction: outbound\n"
	          "      endpoints: [message/send, appchat/send]\n"
	          "      senders: zhangsan\n"
	          "    match:\n"
	          "      any:\n"
	          "        - list: secret\n"
	          "        - keywords: [falcon]\n"
	          "          ignore_separators: true\n"
	          "        - regex: 'falcon-\\d{4}'\n"
	          "        - detector: cn_resident_id\n"
	          "          min_count: 2\n"
	          "    unless:\n"
	          "      keywords: [公开版]\n"
	          "    action: block\n"
	          "    mode: monitor\n"
	          "    message: 拦截\n");
	assert_int_equal(p.rc, WW_OK);
	assert_non_null(p.rs);
	assert_int_equal(p.rs->nlists, 1);
	assert_int_equal(p.rs->lists[0].entries.n, 2);
	assert_int_equal(p.rs->nrules, 1);
	const struct rule *r = &p.rs->rules[0];
	assert_string_equal(r->id, "no-secret");
	assert_int_equal(r->line, 5);
	assert_int_equal(r->directions, RULE_DIR_OUTBOUND);
	assert_int_equal(r->endpoints.n, 2);
	assert_int_equal(r->senders.n, 1);
	assert_int_equal(r->action, RULE_ACTION_BLOCK);
	assert_true(r->monitor);
	assert_string_equal(r->message, "拦截");
	assert_int_equal(r->match->kind, RULE_ANY);
	assert_int_equal(r->match->nkids, 4);
	assert_int_equal(r->match->kids[1]->kind, RULE_KEYWORDS);
	assert_true(r->match->kids[1]->ignore_separators);
	assert_int_equal(r->match->kids[1]->line, 14);
	assert_int_equal(r->match->kids[3]->min_count, 2);
	assert_non_null(r->unless);
	done(&p);
}

static void
test_top_level_errors(void **state)
{
	(void)state;
	fails_with("rules: []\n", "t.yaml:1: missing 'version: 1'");
	fails_with("version: 2\nrules: []\n",
	           "t.yaml:1: unsupported version 2");
	fails_with("version: x\nrules: []\n", "t.yaml:1: version must be");
	fails_with("version: 1\n", "t.yaml:1: missing 'rules:'");
	fails_with("version: 1\nrules: []\nrulez: []\n",
	           "t.yaml:3: policy: unknown key 'rulez'");
	fails_with("- a\n- b\n", "t.yaml:1: a policy is a mapping");
	fails_with("version: 1\nrules: {}\n", "t.yaml:2: rules must be a list");
	fails_with("version: 1\nlists: [a]\nrules: []\n",
	           "t.yaml:2: lists must be a mapping");
	fails_with("version: 1\nlists:\n  a: []\nrules: []\n",
	           "t.yaml:3: list entry must not be empty");
	fails_with("version: 1\nlists:\n  a: [x]\n  a: [y]\nrules: []\n",
	           "t.yaml:4: duplicate list 'a'");
}

static void
test_rule_errors(void **state)
{
	(void)state;
	fails_with(HEAD "  - match: {keywords: [x]}\n    action: block\n",
	           "t.yaml:3: rule without an id");
	fails_with(HEAD "  - id: Bad_Id\n    match: {keywords: [x]}\n"
	                "    action: block\n",
	           "t.yaml:3: rule id 'Bad_Id' must be");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n"
	                "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n",
	           "t.yaml:6: duplicate rule id 'a' (first at line 3)");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    actoin: block\n",
	           "t.yaml:5: rule a: rule: unknown key 'actoin'");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n",
	           "t.yaml:3: rule a: rule without action");
	fails_with(HEAD "  - id: a\n    action: block\n",
	           "t.yaml:3: rule a: rule without match");
	fails_with(
	    HEAD "  - id: a\n    match: {keywords: [x]}\n"
	         "    action: drop\n",
	    "t.yaml:5: rule a: action must be allow | alert | redact | block");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n    mode: maybe\n",
	           "t.yaml:6: rule a: mode must be enforce | monitor");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n    scope:\n"
	                "      direction: sideways\n",
	           "t.yaml:7: rule a: direction must be outbound | inbound");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n    scope:\n      users: [x]\n",
	           "t.yaml:7: rule a: scope: unknown key 'users'");
	fails_with(HEAD "  - id: a\n    match: {keywords: [x]}\n"
	                "    action: block\n    message: [a]\n",
	           "t.yaml:6: rule a: message must be a string");
}

static void
test_condition_errors(void **state)
{
	(void)state;
	fails_with(HEAD "  - id: a\n    match: {list: nope}\n"
	                "    action: block\n",
	           "t.yaml:4: rule a: no list called 'nope'");
	fails_with(HEAD "  - id: a\n    match: {detector: nope}\n"
	                "    action: block\n",
	           "t.yaml:4: rule a: unknown detector 'nope'");
	fails_with(HEAD "  - id: a\n    match:\n      keywords: [x]\n"
	                "      regex: y\n    action: block\n",
	           "t.yaml:6: rule a: one condition per mapping");
	fails_with(HEAD "  - id: a\n    match:\n      any: []\n"
	                "    action: block\n",
	           "t.yaml:5: rule a: any/all takes a non-empty list");
	fails_with(HEAD "  - id: a\n    match:\n      foo: [x]\n"
	                "    action: block\n",
	           "t.yaml:5: rule a: a condition needs one of");
	fails_with(HEAD "  - id: a\n    match: [x]\n    action: block\n",
	           "t.yaml:4: rule a: a condition must be a mapping");
	fails_with(HEAD "  - id: a\n    match:\n      detector: email\n"
	                "      min_count: 0\n    action: block\n",
	           "t.yaml:6: rule a: min_count must be at least 1");
	fails_with(HEAD "  - id: a\n    match:\n      keywords: [x]\n"
	                "      ignore_separators: maybe\n    action: block\n",
	           "t.yaml:6: rule a: ignore_separators must be true or false");
	fails_with(HEAD "  - id: a\n    match:\n      keywords: [x, \"\"]\n"
	                "    action: block\n",
	           "t.yaml:5: rule a: keywords: empty string");
	fails_with(
	    HEAD "  - id: a\n    match:\n      keywords: [x]\n"
	         "      min_count: 2\n    action: block\n",
	    "t.yaml:6: rule a: keywords condition: unknown key 'min_count'");
	fails_with(HEAD "  - id: a\n    match:\n      not: [{keywords: x}]\n"
	                "    action: block\n",
	           "t.yaml:5: rule a: a condition must be a mapping");
}

static void
test_every_error_reported(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, HEAD "  - id: a\n    match: {list: nope}\n"
	               "    action: drop\n"
	               "  - id: b\n    match: {detector: nope}\n"
	               "    action: block\n");
	assert_int_equal(p.rc, WW_EPARSE);
	assert_int_equal(p.errs.n, 3);
	assert_string_equal(p.errs.v[0], "t.yaml:4: rule a: no list called "
	                                 "'nope'");
	assert_string_equal(p.errs.v[1], "t.yaml:5: rule a: action must be "
	                                 "allow | alert | redact | block");
	assert_string_equal(p.errs.v[2], "t.yaml:7: rule b: unknown detector "
	                                 "'nope'");
	done(&p);
}

static void
test_hostile_yaml(void **state)
{
	char *deep;
	size_t n = 0;

	(void)state;
	fails_with("version: 1\nlists:\n  a: &x [a, b]\n  b: *x\nrules: []\n",
	           "t.yaml:3: YAML anchors (&name) are not allowed");
	fails_with("version: 1\nlists:\n  b: *x\nrules: []\n",
	           "t.yaml:3: YAML aliases (*name) are not allowed");
	fails_with("version: 1\nrules: [\n", "t.yaml:3: YAML syntax:");
	fails_with("version: 1\nrules:\n - id: \xff\n",
	           "t.yaml:3: YAML syntax");
	fails_with("version: 1\nrules: []\n---\nversion: 1\n",
	           "t.yaml:3: only one YAML document");
	/* Conditions nested past the limit. */
	deep = malloc(64 * 1024);
	assert_non_null(deep);
	n += (size_t)sprintf(deep + n, HEAD "  - id: a\n    action: block\n"
	                                    "    match: ");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "{not: ");
	n += (size_t)sprintf(deep + n, "{keywords: [x]}");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "}");
	sprintf(deep + n, "\n");
	fails_with(deep, "t.yaml:5: rule a: conditions nested deeper than 32");
	/* YAML nested past its limit, before any walk. */
	n = (size_t)sprintf(deep, "version: 1\nrules: ");
	for (int i = 0; i < 5000; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	fails_with(deep, "t.yaml:2: nesting deeper than 100 levels");
	free(deep);
}

static void
test_error_count_is_bounded(void **state)
{
	size_t cap = 1u << 20, n;
	char *text = malloc(cap);
	struct parsed p;

	(void)state;
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, HEAD);
	for (int i = 0; i < 500; i++)
		n +=
		    (size_t)snprintf(text + n, cap - n,
		                     "  - id: r%d\n    match: {keywords: [x]}\n"
		                     "    action: drop\n",
		                     i);
	parse(&p, text);
	assert_int_equal(p.rc, WW_EPARSE);
	assert_int_equal(p.errs.n, RULE_MAX_ERRORS);
	assert_string_equal(p.errs.v[0], "t.yaml:5: rule r0: action must be "
	                                 "allow | alert | redact | block");
	assert_non_null(
	    strstr(p.errs.v[RULE_MAX_ERRORS - 1],
	           "too many errors (200): the rest are not shown"));
	done(&p);
	free(text);
}

static void
test_pattern_limit(void **state)
{
	size_t cap = 16u << 20, n;
	char *text = malloc(cap);
	struct parsed p;

	(void)state;
	assert_non_null(text);
	n = (size_t)sprintf(text, HEAD "  - id: big\n    action: block\n"
	                               "    match:\n      keywords: [");
	for (int i = 0; i <= RULE_MAX_PATTERNS; i++)
		n += (size_t)sprintf(text + n, "%sk%d", i ? "," : "", i);
	sprintf(text + n, "]\n");
	parse(&p, text);
	assert_int_equal(p.rc, WW_ELIMIT);
	assert_int_equal(p.errs.n, 1);
	assert_string_equal(p.errs.v[0], "t.yaml:1: 200001 patterns (keywords, "
	                                 "list entries, regexes): the limit "
	                                 "is 200000");
	done(&p);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_policy),
	    cmocka_unit_test(test_top_level_errors),
	    cmocka_unit_test(test_rule_errors),
	    cmocka_unit_test(test_condition_errors),
	    cmocka_unit_test(test_every_error_reported),
	    cmocka_unit_test(test_hostile_yaml),
	    cmocka_unit_test(test_pattern_limit),
	    cmocka_unit_test(test_error_count_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
