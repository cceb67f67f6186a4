/* tls.c: SSL_CTX for the client-facing listeners. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ww.h"
#include "proxy/tls.h"

static const unsigned char tls_alpn_http11[] = "\x08http/1.1";

const char *
tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/*
 * ALPN (RFC 7301): the gateway speaks HTTP/1.1 only.  A client offering
 * only other protocols (h2) gets no ALPN answer rather than a fatal alert,
 * which lets it fall back to HTTP/1.1 as curl and browsers do.
 */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                const unsigned char *in, unsigned inlen, void *arg)
{
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, tls_alpn_http11,
	                          sizeof(tls_alpn_http11) - 1, in,
	                          inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
tls_add_chain(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;
	int n = 0, rc = WW_OK;

	if (bio == NULL) {
		snprintf(err, errlen, "cannot read chain %s: %s", path,
		         strerror(errno));
		ERR_clear_error();
		return WW_EINVAL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		n++;
		if (!SSL_CTX_add0_chain_cert(ctx, x)) {
			X509_free(x);
			rc = WW_ENOMEM;
			break;
		}
	}
	ERR_clear_error(); /* the loop ends on "no start line" */
	BIO_free(bio);
	if (rc == WW_OK && n == 0) {
		snprintf(err, errlen, "chain %s holds no PEM certificate",
		         path);
		rc = WW_EINVAL;
	}
	return rc;
}

static int
tls_load_files(SSL_CTX *ctx, const struct conf_tls *t, char *err, size_t errlen)
{
	char why[256];
	int ok;

	if (t->cert == NULL || t->key == NULL) {
		snprintf(err, errlen, "TLS needs a certificate and a key");
		return WW_EINVAL;
	}
	errno = 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		/* A missing file says more through errno than OpenSSL. */
		if (errno != 0)
			snprintf(why, sizeof(why), "%s", strerror(errno));
		else
			tls_last_error(why, sizeof(why));
		ERR_clear_error();
		snprintf(err, errlen, "cannot load certificate %s: %s", t->cert,
		         why);
		return WW_EINVAL;
	}
	if (t->chain != NULL && tls_add_chain(ctx, t->chain, err, errlen))
		return WW_EINVAL;
	ok = SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) == 1;
	if (!ok && ERR_GET_REASON(ERR_peek_last_error()) !=
	               X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, errlen, "cannot load private key %s: %s", t->key,
		         tls_last_error(why, sizeof(why)));
		return WW_EINVAL;
	}
	if (!ok || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s",
		         t->key, t->cert);
		ERR_clear_error();
		return WW_EINVAL;
	}
	return WW_OK;
}

int
tls_ctx_new(const struct conf_tls *t, SSL_CTX **out, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "wwgate";
	SSL_CTX *ctx;
	int rc;

	*out = NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		return WW_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
	rc = tls_load_files(ctx, t, err, errlen);
	if (rc != WW_OK) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return WW_OK;
}

SSL_CTX *
tls_ctx_ref(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

void
tls_ctx_unref(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
