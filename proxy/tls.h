/*
 * tls.h: server-side TLS contexts for the listeners (issue 5, item 2).
 *
 * A context is an OpenSSL SSL_CTX, shared by every worker (SSL_CTX is
 * thread-safe once built) and reference-counted with SSL_CTX_up_ref /
 * tls_ctx_unref, so a reload can swap in a new certificate while
 * connections made with the old one finish.  Session tickets are on, so a
 * client can resume on any worker of the same context.
 */
#ifndef WW_TLS_H
#define WW_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "proxy/conf.h"

/*
 * Build a context from t (cert, key, optional chain): TLS 1.2 and 1.3
 * only, ALPN "http/1.1", session tickets and a server-side session cache.
 * *out has one reference.  WW_EINVAL (unreadable or mismatching files:
 * the reason in err), WW_ENOMEM.
 */
int tls_ctx_new(const struct conf_tls *t, SSL_CTX **out, char *err,
                size_t errlen);

/* Drop one reference; NULL is a no-op. */
void tls_ctx_unref(SSL_CTX *ctx);

/* Take one more reference and return ctx (NULL stays NULL). */
SSL_CTX *tls_ctx_ref(SSL_CTX *ctx);

/*
 * The last OpenSSL error of this thread as text (for logs; no secrets
 * there), clearing the queue.  buf is returned.
 */
const char *tls_last_error(char *buf, size_t len);

#endif
