/*
 * hostclass.h: what the explicit and transparent modes do with a host
 * (issue 6): intercept (decrypt with a minted certificate, then the
 * exchange pipeline), pass through (splice bytes untouched) or refuse.
 *
 * A struct hostclass is built once from the configuration (intercept and
 * passthrough host lists, the default, transparent.no_sni, the
 * interception CA and upstream.resolve) and is then immutable but for its
 * CA (hostclass_reload_ca), so every worker shares it.  It owns the mint and
 * the one server SSL_CTX of intercepted connections: the context's servername
 * callback puts a certificate minted for the client's SNI on each connection,
 * and only for names in intercept.hosts (mint.h).
 *
 * Intercept is checked first: a host listed in both classes is inspected,
 * never tunnelled past the policy.
 */
#ifndef WW_HOSTCLASS_H
#define WW_HOSTCLASS_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "certs/hostlist.h"
#include "proxy/conf.h"

enum hostclass_decision {
	HOSTCLASS_REFUSE = 0,
	HOSTCLASS_INTERCEPT,
	HOSTCLASS_PASSTHROUGH,
};

struct hostclass;

/*
 * Build from c (borrowed for the call).  With intercept hosts, the CA
 * files are loaded and the mint made.  WW_EINVAL (bad pattern, unreadable
 * CA: the reason in err), WW_ENOMEM, WW_ECRYPTO.
 */
int hostclass_new(const struct conf *c, struct hostclass **out, char *err,
                  size_t errlen);

void hostclass_free(struct hostclass *hc); /* NULL is a no-op */

/*
 * SIGHUP: load intercept.ca again (c's paths) and mint with it from now
 * on; connections already intercepted keep their certificates.  The one
 * change a struct hostclass accepts after hostclass_new (mint_set_ca is
 * thread-safe).  A no-op when nothing is intercepted.  On failure the old
 * CA stays in use: WW_EINVAL (reason in err), WW_ENOMEM.
 */
int hostclass_reload_ca(struct hostclass *hc, const struct conf *c, char *err,
                        size_t errlen);

/*
 * The decision for host (any case, optional trailing dot); canon gets its
 * canonical form ("" when host is not a valid name, which is refused).
 */
enum hostclass_decision hostclass_decide(const struct hostclass *hc,
                                         const char *host,
                                         char canon[HOSTLIST_NAME_MAX]);

/* transparent.no_sni as a decision (REFUSE or PASSTHROUGH). */
enum hostclass_decision hostclass_no_sni(const struct hostclass *hc);

/* "intercept", "passthrough", "refuse" (the TUNNEL record's decision). */
const char *hostclass_decision_name(enum hostclass_decision d);

/*
 * The server context of intercepted connections (borrowed: lives as
 * long as hc), or NULL when nothing is intercepted.
 */
SSL_CTX *hostclass_tls(const struct hostclass *hc);

/*
 * The context for listener idx (conf->listen[idx]): one of its own when
 * that listener has client_ca (clients must then present a certificate
 * that verifies against it), else hostclass_tls(hc).  Borrowed.
 */
SSL_CTX *hostclass_tls_for(const struct hostclass *hc, size_t idx);

/* For upstream_opts.host_ok: 1 when host (canonical) is intercepted. */
int hostclass_host_ok(const char *host, void *hc);

/*
 * Where a tunnel to host:port goes when upstream.resolve names it
 * ("host:port": "addr" or "addr:port"): *ss and *len.  WW_ENOTFOUND when the
 * map does not name it (the caller then resolves host itself).
 */
int hostclass_target(const struct hostclass *hc, const char *host,
                     unsigned port, struct sockaddr_storage *ss,
                     socklen_t *len);

#endif
