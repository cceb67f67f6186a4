/*
 * policy.h: compiled compliance policies and verdicts (DESIGN.md, "Policy";
 * the language is documented in wwpolicy(5)).
 *
 * A policy is immutable once compiled and reference-counted: compile once,
 * judge from many threads (each with its own scratch), swap on reload.
 * It judges store's message model and knows nothing of sockets or LMDB.
 */
#ifndef WW_POLICY_H
#define WW_POLICY_H

#include <stddef.h>

#include "store/record.h"

struct policy;         /* opaque, immutable, reference-counted */
struct policy_scratch; /* opaque: one per thread */
struct policy_errors;  /* opaque: compile diagnostics */

/*
 * Compile the YAML policy in path.  On failure returns WW_EPARSE (or
 * WW_EINVAL, WW_ELIMIT) and, when errs != NULL, a new list of every
 * diagnostic ("file:line: rule ID: what is wrong") to print and free.
 * Also WW_ENOTFOUND / WW_EIO when the file cannot be read and WW_ENOMEM;
 * *errs then holds one diagnostic saying so (when it could be allocated).
 * Bounded work on hostile input: YAML aliases are refused, nesting, file
 * size and pattern count are limited (policy/rule.h, RULE_MAX_*).
 */
int policy_load_file(const char *path, struct policy **out,
                     struct policy_errors **errs);
/* Same from a buffer; name is used in diagnostics. */
int policy_load_buf(const char *name, const char *text, size_t len,
                    struct policy **out, struct policy_errors **errs);

size_t policy_errors_count(const struct policy_errors *e);
const char *policy_errors_get(const struct policy_errors *e, size_t i);
void policy_errors_free(struct policy_errors *e);

struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p); /* NULL is a no-op */

/* Hex SHA-256 of the policy text (borrowed; lives as long as p). */
const char *policy_digest(const struct policy *p);
/* The policy text (borrowed), for the POLICY record. */
const char *policy_text(const struct policy *p, size_t *len);
const char *policy_file(const struct policy *p);
size_t policy_rule_count(const struct policy *p);
/* The id of rule i < policy_rule_count(p), in file order (borrowed). */
const char *policy_rule_id(const struct policy *p, size_t i);
size_t policy_pattern_count(const struct policy *p);
/* Size of the compiled vectorscan database in bytes (0 when empty). */
size_t policy_db_bytes(const struct policy *p);

/*
 * Scratch for judging with p on one thread.  A scratch made for one policy
 * can be reused for another after policy_scratch_fit().
 */
int policy_scratch_new(const struct policy *p, struct policy_scratch **out);
int policy_scratch_fit(const struct policy *p, struct policy_scratch *s);
void policy_scratch_free(struct policy_scratch *s);

/*
 * Judge msg.  *verdict is a new Ww__Verdict (free with
 * protobuf_c_message_free_unpacked(&v->base, NULL)) naming the action,
 * every enforce and monitor rule that matched, the matched spans (byte
 * offsets into the original text parts), the policy digest and, for
 * block, the winning rule's message.  When the action is REDACT,
 * *redacted (if non-NULL) is set to a new array of msg->n_texts entries,
 * each NULL (unchanged) or a malloc'ed masked text, for
 * wecom_redact_body(); free with policy_redacted_free().
 * Returns WW_OK; WW_ENOMEM; WW_ELIMIT when the text is too large
 * (NORMALIZE_MAX_INPUT) or produces more than a million raw matches;
 * WW_EINVAL when s was not fitted to p.  On error nothing is returned and
 * the caller must treat the message as not judged (fail closed).
 */
int policy_judge(const struct policy *p, struct policy_scratch *s,
                 const Ww__Message *msg, Ww__Verdict **verdict,
                 char ***redacted);
void policy_redacted_free(char **redacted, size_t n);

/*
 * After policy_judge() returned WW_OK with s, and until s judges again:
 * did rule i (< policy_rule_count(p)) have its scope and match condition
 * hold but its unless condition exclude it?  1 or 0 (also 0 when i is out
 * of range).  The verdict lists only rules that matched; this tells an
 * officer (wwpolicy explain) which ones an exception silenced.
 */
int policy_rule_excluded(const struct policy *p, const struct policy_scratch *s,
                         size_t i);

/*
 * For benchmarks (bench/bench_policy, `wwpolicy bench`): scan buf[0..len)
 * (already normalized text, e.g. from normalize_str(); it must be valid
 * UTF-8, which vectorscan's UTF-8 mode assumes) once with p's database,
 * nothing else, and set
 * *nmatches (if non-NULL) to the number of raw matches.  WW_OK, WW_ELIMIT
 * (too many matches), WW_EINVAL (s not fitted to p).
 */
int policy_scan_buf(const struct policy *p, struct policy_scratch *s,
                    const char *buf, size_t len, size_t *nmatches);

#endif
