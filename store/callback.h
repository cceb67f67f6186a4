/*
 * callback.h: WeCom callback XML (wecom-api.md 5.3, 5.5, 5.6) into the
 * message model.
 *
 * Input is the XML of a callback after decryption (or an encrypted
 * envelope); output is a Ww__Message with direction INBOUND.  XML is read
 * with expat under limits: at most CALLBACK_MAX_XML bytes, nesting at most
 * CALLBACK_MAX_DEPTH, at most CALLBACK_MAX_FIELDS elements; any DOCTYPE
 * (so any entity declaration, internal or external) is refused, so there
 * is nothing to expand.  The root element must be <xml>.
 *
 * Input whose first non-blank byte is '{' is the JSON variant
 * (wecom-api.md 5.7, e.g. AI bots), read with jansson under the same
 * limits (duplicate keys refused): leaves are named like XML paths
 * ("text.content", arrays as "[N]") and the lowercase names tousername,
 * encrypt, agentid, msgsignature, timestamp, nonce, msgtype, msgid,
 * from.userid, chatid, aibotid and event.eventtype stand for their XML
 * counterparts.  Secrets there (also response_url) are replaced by
 * digests in a re-serialized body.
 */
#ifndef WW_CALLBACK_H
#define WW_CALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"
#include "store/secret.h"

#define CALLBACK_MAX_XML (1u << 20)
#define CALLBACK_MAX_DEPTH 16
#define CALLBACK_MAX_FIELDS 4096

/*
 * Decode a decrypted callback (or a decrypted passive reply when
 * direction is WW__DIRECTION__OUTBOUND).  On WW_OK *out is a new message:
 * - endpoint "callback" for messages, "callback/event/<Event>" for events
 *   (Event as sent, e.g. "change_external_contact"); msgtype the MsgType;
 * - sender FromUserName; corp_id ToUserName; agent_id AgentID;
 *   recipients.users "agent:<AgentID>" when there is one, else ToUserName
 *   (a passive reply's ToUserName, the member, is its recipient);
 *   recipients.external_users ExternalUserID, kf_ids OpenKfId, chat_id
 *   ChatId when present;
 * - texts: every non-empty leaf in document order, path = element names
 *   below <xml> joined by '.', except ids, enums, numbers and coordinates
 *   (MsgId, MediaId, Event, ChangeType, Location_X, ...) and secrets;
 * - attachments: one per MediaId / ThumbMediaId (kind = msgtype, or
 *   "thumb"), media_id set;
 * - body: the XML, with the text of every secret element (WelcomeCode,
 *   ResponseCode, Token, AuthCode, SuiteTicket, PermanentCode, Code)
 *   replaced by its digest under key.
 * Malformed XML, a DOCTYPE, a wrong root and limits are WW_EPARSE with the
 * reason in err; *out is then a message with direction, endpoint
 * "callback" and decode_error set (no body), to be journaled.  WW_ENOMEM
 * leaves *out NULL.
 */
int callback_decode(const struct secret *key, const uint8_t *xml, size_t len,
                    Ww__Direction direction, Ww__Message **out, char *err,
                    size_t errlen);

/* The outer, encrypted envelope of a POST or of a passive reply. */
struct callback_envelope {
	char *to_user;       /* ToUserName, or NULL */
	char *agent_id;      /* AgentID, or NULL */
	char *encrypt;       /* Encrypt (required) */
	char *msg_signature; /* MsgSignature (replies), or NULL */
	char *timestamp;     /* TimeStamp (replies), or NULL */
	char *nonce;         /* Nonce (replies), or NULL */
};

/*
 * Read an envelope with the same limits.  WW_OK (fields malloc'ed: free
 * with callback_envelope_clear), WW_EPARSE (reason in err; no Encrypt is
 * an error too), WW_ENOMEM.
 */
int callback_parse_envelope(const uint8_t *xml, size_t len,
                            struct callback_envelope *env, char *err,
                            size_t errlen);
void callback_envelope_clear(struct callback_envelope *env);

#endif
