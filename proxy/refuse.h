/*
 * refuse.h: WeCom-shaped refusals (wecom-api.md sections 3.3 and 3.4).
 *
 * Existing SDKs must handle a gateway refusal like any WeCom error, so a
 * refusal is HTTP 200 (unless told otherwise), Content-Type
 * application/json; charset=UTF-8, an Error-Code header, and the body
 * {"errcode":N,"errmsg":"<text>, hint: [<reference>]"} in raw UTF-8.
 * The errmsg never carries matched sensitive text: callers pass the rule's
 * message and a journal reference only.
 *
 * The codes the gateway sends (copy into wwgate(8)); every one is HTTP 200
 * with Content-Type application/json; charset=UTF-8 and Error-Code: N.
 * <seq> is the journal sequence number of the REQUEST record, which
 * `wwjournal show <seq>` displays with its OUTCOME.
 *
 *   errcode  errmsg                              when (forwarded?)
 *   -------  ----------------------------------  -------------------------
 *   985001   <rule message>, hint: [<seq>]       a policy rule blocked the
 *            ("blocked by compliance policy"     message (no).  Configurable:
 *            when the rule has no message)       refusal.block_errcode
 *   985005   gateway cannot decode body,         a message-bearing endpoint
 *            hint: [<seq>]                       whose body is not valid
 *                                                JSON, has wrong types or is
 *                                                bad multipart (no); the
 *                                                reason is journaled
 *   985010   gateway internal failure,           the policy could not judge
 *            hint: [<seq>]                       or redact the message:
 *                                                fail closed (no)
 *   -1       system busy                         the journal refused or
 *                                                failed the REQUEST record,
 *                                                or missed its deadline
 *                                                (exchange_env.
 *                                                journal_timeout_ms) (no)
 *   -1       system busy, hint: [<seq>]          upstream failed: refused
 *                                                connection, TLS failure,
 *                                                reset, timeout, answer too
 *                                                big (maybe: the OUTCOME's
 *                                                "forwarded" says whether
 *                                                bytes left the gateway)
 *
 * The connection layer adds its own (proxy/http1.h): 985011 malformed
 * request (HTTP 400), 985012 too large (413), 985013 timeout (408).
 *
 * -1 is WeCom's own retryable "system busy": SDKs retry it, which is what
 * a transient journal or upstream failure wants.  Note for upstream
 * timeouts: the message may have been delivered, and a retry may deliver it
 * twice; the OUTCOME record says "sent" so auditors can tell.
 */
#ifndef WW_REFUSE_H
#define WW_REFUSE_H

#include <stddef.h>

#include "proxy/exchange.h"

#define REFUSE_BLOCK 985001L /* default for refusal.block_errcode */
#define REFUSE_UNDECODABLE 985005L
#define REFUSE_INTERNAL 985010L
#define REFUSE_BUSY (-1L)

struct refusal; /* opaque: one built answer */

/*
 * Build a refusal.  errmsg is the text (UTF-8; invalid UTF-8 is replaced
 * by a generic text), hint the reference for "hint: [...]" or NULL.
 * WW_OK or WW_ENOMEM.
 */
int refuse_new(int http_status, long errcode, const char *errmsg,
               const char *hint, struct refusal **out);
void refuse_free(struct refusal *r); /* NULL is a no-op */

/* The answer to hand to the client (borrowed; lives as long as r). */
const struct http_response *refuse_response(const struct refusal *r);

#endif
