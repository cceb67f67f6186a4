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
 * The codes the gateway sends (copy into wwgate(8)):
 *
 *   errcode  HTTP  errmsg                             when
 *   -------  ----  ---------------------------------  -----------------------
 *   985001   200   <rule message>, hint: [<seq>]      a policy rule blocked
 *                                                     the message (errcode
 *                                                     set by refusal.
 *                                                     block_errcode)
 *   985005   200   gateway cannot decode body: <why>  message-bearing endpoint
 *                  , hint: [<seq>]                    whose body is not valid
 *                                                     JSON / wrong types /
 *                                                     bad multipart
 *   985010   200   gateway internal failure, hint:    the policy could not
 *                  [<seq>]                            judge or redact; fail
 *                                                     closed, not forwarded
 *   -1       200   system busy, hint: [<reason>]      journal refused, failed
 *                                                     or missed its deadline
 *                                                     (nothing forwarded); or
 *                                                     upstream failed (refused
 *                                                     connection, TLS, reset,
 *                                                     timeout, answer too big)
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
