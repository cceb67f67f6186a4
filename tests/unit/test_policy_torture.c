/*
 * test_policy_torture.c: fail the Nth allocation of policy/ (curl's
 * torture test) while compiling a policy and judging a message, for every
 * N until a run needs no failure: each run must end in WW_OK or WW_ENOMEM,
 * never crash or leak (the sanitizer build checks the leaks).
 *
 * The failing allocator is tests/unit/alloc_fixture.c: only calls from our
 * own objects can fail; the libraries underneath (libyaml, vectorscan,
 * utf8proc) allocate normally.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "policy/policy.h"
#include "store/record.h"
#include "tests/unit/alloc_fixture.h"

static const char yaml_text[] =
    "version: 1\n"
    "lists:\n"
    "  secret: [机密, \"project falcon\"]\n"
    "rules:\n"
    "  - id: b\n"
    "    scope: {direction: outbound, endpoints: [message/send]}\n"
    "    match:\n"
    "      any:\n"
    "        - list: secret\n"
    "        - keywords: [falcon]\n"
    "          ignore_separators: true\n"
    "        - regex: 'f-\\d{4}'\n"
    "    unless: {keywords: [公开版]}\n"
    "    action: redact\n"
    "  - id: d\n"
    "    mode: monitor\n"
    "    match: {all: [{detector: email}, {not: {keywords: [ok]}}]}\n"
    "    action: block\n";

/* One full run; returns its first error (WW_OK when all went through). */
static int
run_once(void)
{
	struct policy_errors *e = NULL;
	struct policy_scratch *s = NULL;
	struct policy *p = NULL;
	Ww__Message *m = NULL;
	Ww__Verdict *v = NULL;
	char **red = NULL;
	int rc;

	rc = policy_load_buf("t.yaml", yaml_text, strlen(yaml_text), &p, &e);
	if (rc != WW_OK)
		goto out;
	alloc_fixture_pause(); /* the message is test scaffolding */
	m = message_new();
	assert_non_null(m);
	assert_int_equal(record_set_str(&m->endpoint, "message/send"), WW_OK);
	m->direction = WW__DIRECTION__OUTBOUND;
	assert_int_equal(message_add_text(m, "t", "机密 f a l c o n a@b.com",
	                                  strlen("机密 f a l c o n a@b.com")),
	                 WW_OK);
	alloc_fixture_resume();
	if ((rc = policy_scratch_new(p, &s)) != WW_OK)
		goto out;
	if ((rc = policy_judge(p, s, m, &v, &red)) != WW_OK)
		goto out;
	assert_int_equal(v->action, WW__ACTION__REDACT);
	assert_non_null(red);
	assert_non_null(red[0]);
out:
	if (v != NULL)
		protobuf_c_message_free_unpacked(&v->base, NULL);
	policy_redacted_free(red, m != NULL ? m->n_texts : 0);
	message_free(m);
	policy_scratch_free(s);
	policy_unref(p);
	policy_errors_free(e);
	return rc;
}

static void
test_every_allocation_fails_cleanly(void **state)
{
	long n;
	int rc = WW_ENOMEM;

	(void)state;
	for (n = 0; n < 100000 && rc != WW_OK; n++) {
		alloc_fixture_arm(n);
		rc = run_once();
		alloc_fixture_disarm();
		if (rc != WW_OK && rc != WW_ENOMEM)
			fail_msg("allocation %ld failed: %s", n,
			         ww_strerror(rc));
	}
	assert_int_equal(rc, WW_OK);
	print_message("swept %ld allocations\n", n - 1);
	assert_true(n > 50); /* the sweep did cover the allocations */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_allocation_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
