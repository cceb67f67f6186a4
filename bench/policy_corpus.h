/*
 * policy_corpus.h: the generated policy and messages that the policy
 * benchmarks share (bench/bench_policy, bench/bench_replay): seeded, so
 * runs compare.
 */
#ifndef WW_POLICY_CORPUS_H
#define WW_POLICY_CORPUS_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s;
};

/* A number in [0, n) (xorshift64). */
uint32_t rnd(struct rng *r, uint32_t n);

/*
 * The issue 4 policy: 10,000 keywords in 20 rules (half Chinese, half
 * Latin), 100 regexes in 10 rules, one monitor rule per detector.  only:
 * NULL for all; "re" keywords and regexes only; a detector NAME keywords
 * and that detector; "-NAME" everything but that detector; anything else
 * keywords only.  New malloc'ed YAML text; exits on out of memory.
 */
char *make_policy(struct rng *r, const char *only);

/* One message of about size bytes: mostly Chinese sentences, English
 * words, amounts, now and then a phone number and an e-mail address.
 * New malloc'ed string; exits on out of memory. */
char *make_message(struct rng *r, size_t size);

/* One block rule with n keywords (compile-time stress). */
char *make_big_policy(struct rng *r, int n);

#endif
