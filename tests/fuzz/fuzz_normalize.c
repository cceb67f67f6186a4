/*
 * fuzz_normalize.c: message text is the gateway's most exposed input.
 * Normalize arbitrary bytes and check the invariants (valid UTF-8 out, every
 * byte maps inside the input, monotonic map, stripped view maps inside the
 * normalized text), then judge the bytes with a small fixed policy.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "ww.h"
#include "policy/normalize.h"
#include "policy/policy.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Compiled once: the harness's only state (reachable, so not a leak). */
static struct policy *fixed;

static const char yaml[] =
    "version: 1\n"
    "rules:\n"
    "  - id: k\n"
    "    match: {any: [{keywords: [机密, falcon], ignore_separators: true},\n"
    "                  {keywords: [机密文件, 公开, 、, ｗ, 한국]},\n"
    "                  {regex: 'f-\\d{2}'}, {detector: email}]}\n"
    "    action: redact\n";

static void
check_utf8(const char *s, size_t len)
{
	utf8proc_ssize_t i = 0, r;
	utf8proc_int32_t cp;

	while ((size_t)i < len) {
		r = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
		                     (utf8proc_ssize_t)len - i, &cp);
		if (r <= 0)
			abort();
		i += r;
	}
}

static void
check_views(const char *s, size_t size)
{
	struct normalize *n = NULL, *sv = NULL;
	size_t a, z, prev = 0;

	if (normalize_new(&n) || normalize_new(&sv) ||
	    normalize_append(n, s, size) != WW_OK ||
	    normalize_append_stripped(sv, n, 0, normalize_len(n)) != WW_OK)
		goto out;
	check_utf8(normalize_text(n), normalize_len(n));
	for (size_t i = 0; i < normalize_len(n); i++) {
		normalize_span(n, i, i + 1, &a, &z);
		if (a >= z || z > size || a < prev)
			abort();
		prev = a;
	}
	for (size_t i = 0; i < normalize_len(sv); i++) {
		normalize_span(sv, i, i + 1, &a, &z);
		if (a >= z || z > normalize_len(n))
			abort();
	}
out:
	normalize_free(n);
	normalize_free(sv);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (policy_load_buf("f.yaml", yaml, sizeof(yaml) - 1, &fixed, NULL))
		abort();
	return 0;
}

static void
judge_bytes(const char *s, size_t size)
{
	const struct policy *p = fixed;
	struct policy_scratch *sc = NULL;
	Ww__Message *m = message_new();
	Ww__Verdict *v = NULL;
	char **red = NULL;

	if (m == NULL || message_add_text(m, "t", s, size) ||
	    policy_scratch_new(p, &sc))
		goto out;
	if (policy_judge(p, sc, m, &v, &red) == WW_OK) {
		for (size_t i = 0; i < v->n_spans; i++)
			if (v->spans[i]->start >= v->spans[i]->end ||
			    v->spans[i]->end > strlen(m->texts[0]->text))
				abort();
		protobuf_c_message_free_unpacked(&v->base, NULL);
	}
	policy_redacted_free(red, m->n_texts);
out:
	policy_scratch_free(sc);
	message_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	/* Message text parts are C strings: cut at the first NUL. */
	memcpy(s, data, size);
	s[size] = '\0';
	size = strlen(s);
	check_views(s, size);
	judge_bytes(s, size);
	free(s);
	return 0;
}
