/* hostclass.c: host lists, the mint and the intercepting TLS context. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ww.h"
#include "log.h"
#include "certs/ca.h"
#include "certs/mint.h"
#include "proxy/hostclass.h"

struct hostclass {
	struct hostlist *intercept, *passthrough;
	enum conf_default fallback, no_sni;
	struct mint *mint; /* NULL when nothing is intercepted */
	SSL_CTX *tls;
	SSL_CTX **ltls; /* [n_ltls]: listeners with client_ca, else NULL */
	size_t n_ltls;
	char **resolve; /* "host:port:addr[:port]" lines */
	size_t n_resolve;
};

static int
hostclass_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
               const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h11,
	                          sizeof(h11) - 1, in,
	                          inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * Runs while the ClientHello is read: a certificate for exactly the name
 * asked for, or a fatal alert (no SNI, or a name we may not sign for).
 */
static int
hostclass_on_sni(SSL *ssl, int *al, void *arg)
{
	struct hostclass *hc = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (mint_ssl_use(hc->mint, ssl, name) != WW_OK) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int
hostclass_tls_new(struct hostclass *hc, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return WW_ENOMEM;
	*out = ctx;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return WW_ECRYPTO;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"wwgate-i",
	                               8);
	SSL_CTX_set_alpn_select_cb(ctx, hostclass_alpn, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, hostclass_on_sni);
	SSL_CTX_set_tlsext_servername_arg(ctx, hc);
	return WW_OK;
}

/* intercept.ca, loaded; the reason in err when it cannot be. */
static int
hostclass_load_ca(const struct conf_modes *m, struct ca **ca, char *err,
                  size_t errlen)
{
	int rc;

	if (m->intercept.ca.cert == NULL || m->intercept.ca.key == NULL) {
		snprintf(err, errlen,
		         "intercept.ca: cert and key are needed "
		         "to intercept hosts");
		return WW_EINVAL;
	}
	rc = ca_load(m->intercept.ca.cert, m->intercept.ca.key, ca);
	if (rc != WW_OK) {
		snprintf(err, errlen, "intercept.ca: cannot load %s and %s: %s",
		         m->intercept.ca.cert, m->intercept.ca.key,
		         ww_strerror(rc));
		return rc == WW_ENOMEM ? rc : WW_EINVAL;
	}
	return WW_OK;
}

static int
hostclass_mint(struct hostclass *hc, const struct conf_modes *m, char *err,
               size_t errlen)
{
	struct ca *ca = NULL;
	int rc;

	if ((rc = hostclass_load_ca(m, &ca, err, errlen)) != WW_OK)
		return rc;
	rc = mint_new(ca, (const char *const *)m->intercept.hosts,
	              m->intercept.n_hosts, NULL, &hc->mint);
	ca_free(ca);
	if (rc != WW_OK) {
		snprintf(err, errlen, "intercept: cannot mint: %s",
		         ww_strerror(rc));
		return rc;
	}
	return hostclass_tls_new(hc, &hc->tls);
}

int
hostclass_reload_ca(struct hostclass *hc, const struct conf *c, char *err,
                    size_t errlen)
{
	struct ca *ca = NULL;
	int rc;

	if (hc == NULL || hc->mint == NULL)
		return WW_OK;
	if ((rc = hostclass_load_ca(&c->modes, &ca, err, errlen)) != WW_OK)
		return rc;
	rc = mint_set_ca(hc->mint, ca);
	ca_free(ca);
	if (rc != WW_OK)
		snprintf(err, errlen, "intercept: %s", ww_strerror(rc));
	return rc;
}

/* listen[idx].client_ca: a context of its own that verifies clients. */
static int
hostclass_client_ca(struct hostclass *hc, const struct conf *c, size_t idx,
                    char *err, size_t errlen)
{
	const char *file = c->listen[idx].client_ca;
	STACK_OF(X509_NAME) * names;
	SSL_CTX *ctx;
	int rc;

	if ((rc = hostclass_tls_new(hc, &hc->ltls[idx])) != WW_OK)
		return rc;
	ctx = hc->ltls[idx];
	if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(file)) == NULL) {
		snprintf(err, errlen, "listen[%zu].client_ca: cannot load %s",
		         idx, file);
		return WW_EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return WW_OK;
}

static int
hostclass_listeners(struct hostclass *hc, const struct conf *c, char *err,
                    size_t errlen)
{
	int rc = WW_OK;

	if ((hc->ltls = calloc(c->n_listen, sizeof(*hc->ltls))) == NULL)
		return WW_ENOMEM;
	hc->n_ltls = c->n_listen;
	for (size_t i = 0; rc == WW_OK && i < c->n_listen; i++) {
		if (c->listen[i].mode == CONF_MODE_REVERSE ||
		    c->listen[i].client_ca == NULL)
			continue;
		if (hc->mint == NULL) {
			snprintf(err, errlen,
			         "listen[%zu].client_ca: nothing "
			         "is intercepted (intercept.hosts)",
			         i);
			return WW_EINVAL;
		}
		rc = hostclass_client_ca(hc, c, i, err, errlen);
	}
	return rc;
}

static int
hostclass_list(const struct conf_hostclass *h, const char *what,
               struct hostlist **out, char *err, size_t errlen)
{
	int rc = hostlist_new(out);

	for (size_t i = 0; rc == WW_OK && i < h->n_hosts; i++) {
		rc = hostlist_add(*out, h->hosts[i]);
		if (rc == WW_EINVAL)
			snprintf(err, errlen,
			         "%s.hosts[%zu]: '%s' is not a "
			         "host name or *.domain pattern",
			         what, i, h->hosts[i]);
	}
	return rc;
}

int
hostclass_new(const struct conf *c, struct hostclass **out, char *err,
              size_t errlen)
{
	const struct conf_modes *m = &c->modes;
	struct hostclass *hc = calloc(1, sizeof(*hc));
	int rc = WW_ENOMEM;

	*out = NULL;
	if (hc == NULL)
		goto out;
	hc->fallback = m->fallback;
	hc->no_sni = m->no_sni;
	hc->resolve = c->upstream.resolve;
	hc->n_resolve = c->upstream.n_resolve;
	if ((rc = hostclass_list(&m->intercept, "intercept", &hc->intercept,
	                         err, errlen)) != WW_OK ||
	    (rc = hostclass_list(&m->passthrough, "passthrough",
	                         &hc->passthrough, err, errlen)) != WW_OK)
		goto out;
	if (m->intercept.n_hosts > 0 &&
	    (rc = hostclass_mint(hc, m, err, errlen)) != WW_OK)
		goto out;
	rc = hostclass_listeners(hc, c, err, errlen);
out:
	if (rc == WW_ENOMEM)
		snprintf(err, errlen, "host classes: out of memory");
	if (rc != WW_OK)
		hostclass_free(hc);
	else
		*out = hc;
	return rc;
}

void
hostclass_free(struct hostclass *hc)
{
	if (hc == NULL)
		return;
	hostlist_free(hc->intercept);
	hostlist_free(hc->passthrough);
	if (hc->tls != NULL)
		SSL_CTX_free(hc->tls);
	for (size_t i = 0; i < hc->n_ltls; i++)
		if (hc->ltls[i] != NULL)
			SSL_CTX_free(hc->ltls[i]);
	free(hc->ltls);
	mint_free(hc->mint);
	free(hc);
}

enum hostclass_decision
hostclass_decide(const struct hostclass *hc, const char *host,
                 char canon[HOSTLIST_NAME_MAX])
{
	canon[0] = '\0';
	if (host == NULL || hostlist_name_canon(host, canon) != WW_OK) {
		canon[0] = '\0';
		return HOSTCLASS_REFUSE;
	}
	if (hc->mint != NULL && hostlist_match(hc->intercept, canon))
		return HOSTCLASS_INTERCEPT;
	if (hostlist_match(hc->passthrough, canon))
		return HOSTCLASS_PASSTHROUGH;
	return hc->fallback == CONF_DEFAULT_PASSTHROUGH ? HOSTCLASS_PASSTHROUGH
	                                                : HOSTCLASS_REFUSE;
}

enum hostclass_decision
hostclass_no_sni(const struct hostclass *hc)
{
	return hc->no_sni == CONF_DEFAULT_PASSTHROUGH ? HOSTCLASS_PASSTHROUGH
	                                              : HOSTCLASS_REFUSE;
}

const char *
hostclass_decision_name(enum hostclass_decision d)
{
	switch (d) {
	case HOSTCLASS_INTERCEPT:
		return "intercept";
	case HOSTCLASS_PASSTHROUGH:
		return "passthrough";
	case HOSTCLASS_REFUSE:
		break;
	}
	return "refuse";
}

SSL_CTX *
hostclass_tls(const struct hostclass *hc)
{
	return hc->tls;
}

SSL_CTX *
hostclass_tls_for(const struct hostclass *hc, size_t idx)
{
	if (idx < hc->n_ltls && hc->ltls[idx] != NULL)
		return hc->ltls[idx];
	return hc->tls;
}

int
hostclass_host_ok(const char *host, void *arg)
{
	const struct hostclass *hc = arg;

	return hc != NULL && hc->mint != NULL &&
	       hostlist_match(hc->intercept, host);
}

/* "host:port:addr" or "host:port:addr:port2" for host:port, or NULL. */
static const char *
hostclass_resolve_line(const struct hostclass *hc, const char *host,
                       unsigned port, char *key, size_t keylen)
{
	int n = snprintf(key, keylen, "%s:%u:", host, port);

	if (n < 0 || (size_t)n >= keylen)
		return NULL;
	for (size_t i = 0; i < hc->n_resolve; i++)
		if (strncasecmp(hc->resolve[i], key, (size_t)n) == 0)
			return hc->resolve[i] + n;
	return NULL;
}

int
hostclass_target(const struct hostclass *hc, const char *host, unsigned port,
                 struct sockaddr_storage *ss, socklen_t *len)
{
	char key[HOSTLIST_NAME_MAX + 16], addr[128];
	const char *a =
	    hostclass_resolve_line(hc, host, port, key, sizeof(key));
	const char *last;

	if (a == NULL)
		return WW_ENOTFOUND;
	last = strrchr(a, ':');
	/* "addr:port" (IPv4 or [v6]) or a bare address on port itself */
	if (last != NULL &&
	    (a[0] == '[' ? last[-1] == ']' : strchr(a, ':') == last))
		snprintf(addr, sizeof(addr), "%s", a);
	else if (strchr(a, ':') != NULL)
		snprintf(addr, sizeof(addr), "[%s]:%u", a, port);
	else
		snprintf(addr, sizeof(addr), "%s:%u", a, port);
	return conf_parse_address(addr, ss, len);
}
