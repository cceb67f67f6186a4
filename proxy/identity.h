/*
 * identity.h: what the gateway learns from the traffic it passes
 * (issue 5, "Who sent it"; wecom-api.md section 8 item 5).
 *
 * Most WeCom calls carry only an access_token.  A gettoken exchange shows
 * which corp id and app secret minted a token, so the gateway remembers
 * digest(token) -> {corp id, app}; later records say which app sent them.
 * Likewise a media upload's answer names a media_id, remembered as
 * media_id -> SHA-256 of the journaled file, so a later message that sends
 * that media_id links to the file.
 *
 * Only digests are kept (secret.h): never a token or secret in clear.
 * One struct identity is shared by every worker: all functions are
 * thread-safe (one mutex; lookups copy out).  Each map is bounded: when
 * full, the least recently learned entry is forgotten.
 */
#ifndef WW_IDENTITY_H
#define WW_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_FIELD_MAX 128 /* longest corp id / app name kept */

struct identity; /* opaque */

/* A new, empty map holding at most max_entries per kind (0: 65536). */
int identity_new(size_t max_entries, struct identity **out);
void identity_free(struct identity *id); /* NULL is a no-op */

/*
 * Name an app: a gettoken whose corpsecret has digest secret_digest is
 * recorded with app = name instead of the bare digest.  WW_OK, WW_ENOMEM.
 */
int identity_add_app(struct identity *id, const char *secret_digest,
                     const char *name);

/*
 * Remember that the token with digest token_digest belongs to corp_id
 * (may be "") and to the app whose secret has digest secret_digest.
 */
int identity_learn_token(struct identity *id, const char *token_digest,
                         const char *corp_id, const char *secret_digest);

/*
 * Look up a token digest.  On WW_OK corp_id and app (each
 * IDENTITY_FIELD_MAX bytes) hold copies; WW_ENOTFOUND when unknown.
 */
int identity_lookup_token(struct identity *id, const char *token_digest,
                          char *corp_id, char *app);

/* Remember media_id -> sha256 of the file that produced it. */
int identity_learn_media(struct identity *id, const char *media_id,
                         const unsigned char sha256[32]);
/* WW_OK (sha256 filled) or WW_ENOTFOUND. */
int identity_lookup_media(struct identity *id, const char *media_id,
                          unsigned char sha256[32]);

#endif
