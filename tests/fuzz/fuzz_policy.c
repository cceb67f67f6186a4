/*
 * fuzz_policy.c: the YAML policy compiler on arbitrary input.  Whatever
 * compiles is also used once to judge a message, so that the compiled
 * tables are exercised too.  Never a crash, a leak or a hang.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ww.h"
#include "policy/policy.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
judge_once(const struct policy *p)
{
	static const char text[] = "这是机密文件 falcon f-a-l-c-o-n "
	                           "a@example.com 13812345678 ＦＡＬＣＯＮ";
	struct policy_scratch *s = NULL;
	Ww__Message *m = message_new();
	Ww__Verdict *v = NULL;
	char **red = NULL;

	if (m == NULL || record_set_str(&m->endpoint, "message/send") ||
	    message_add_text(m, "text.content", text, sizeof(text) - 1) ||
	    message_add_text(m, "title", "X", 1))
		goto out;
	m->direction = WW__DIRECTION__OUTBOUND;
	if (policy_scratch_new(p, &s) != WW_OK)
		goto out;
	if (policy_judge(p, s, m, &v, &red) == WW_OK)
		protobuf_c_message_free_unpacked(&v->base, NULL);
	policy_redacted_free(red, m->n_texts);
out:
	policy_scratch_free(s);
	message_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_errors *e = NULL;
	struct policy *p = NULL;

	if (policy_load_buf("fuzz.yaml", (const char *)data, size, &p, &e) ==
	    WW_OK) {
		judge_once(p);
		policy_unref(p);
	}
	for (size_t i = 0; i < policy_errors_count(e); i++)
		(void)strlen(policy_errors_get(e, i));
	policy_errors_free(e);
	return 0;
}
