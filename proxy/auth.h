/*
 * auth.h: Proxy-Authorization: Basic for the explicit mode (issue 6),
 * checked against an htpasswd-style file: one "user:hash" per line,
 * hashes made by crypt(3) with SHA-512 ("$6$", e.g. `openssl passwd -6`)
 * or bcrypt ("$2b$", "$2y$", "$2a$", e.g. `htpasswd -B`).  Lines that are
 * empty or start with '#' are skipped; any other hash is refused at load
 * (a plain or DES password must not be accepted by mistake).
 *
 * The user name that authenticated is recorded as the sender's device
 * identity (Client.proxy_user).  Passwords never reach logs.
 *
 * A struct auth is immutable after auth_load() except for a small cache
 * of credentials that verified (keyed by their SHA-256), so that a
 * client's next CONNECT does not pay crypt(3) again: bcrypt costs tens of
 * milliseconds on the event loop.  auth_check() may be called from any
 * thread (a mutex guards the cache).
 */
#ifndef WW_AUTH_H
#define WW_AUTH_H

#include <stddef.h>

#define AUTH_USER_MAX 128 /* user name bytes, with the NUL */

struct auth;

/*
 * Load path.  WW_ENOTFOUND/WW_EIO (cannot read), WW_EINVAL (a bad line:
 * "path:line: what" in err), WW_ENOMEM.
 */
int auth_load(const char *path, struct auth **out, char *err, size_t errlen);

void auth_free(struct auth *a); /* NULL is a no-op */

/*
 * Check a Proxy-Authorization header value ("Basic base64(user:pass)").
 * On WW_OK the user is copied to user (AUTH_USER_MAX bytes).  WW_EPERM:
 * unknown user, wrong password, or no/malformed credentials.  WW_ENOMEM.
 */
int auth_check(struct auth *a, const char *header, char user[AUTH_USER_MAX]);

#endif
