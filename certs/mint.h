/*
 * mint.h: leaf certificates minted on the fly for intercepted SNI names.
 *
 * A mint signs, with the interception CA, a certificate for exactly the
 * name a client asked for (SAN = that name; valid from a little before now
 * to a short while after; random serial).  Every minted certificate
 * carries the same leaf key pair, made once by mint_new: generating a key
 * per name would cost far more than the signature, and the key never
 * leaves the process.  Minted certificates are kept in an LRU cache
 * bounded in entries and refreshed once half their lifetime has passed.
 *
 * A mint never signs for a name outside its allowed host list (exact
 * names and "*.domain" patterns, see hostlist.h): a client that sends an
 * arbitrary SNI cannot make the gateway sign for it.
 *
 * Threads: mint_cert, mint_ssl_use, mint_set_ca and mint_stats may be
 * called from any number of threads at once (one mutex guards the CA and
 * the cache; the signing itself runs outside it).  mint_new/mint_free are not
 * concurrent with anything else on the same mint.
 *
 * Ownership: certificates are returned as new X509 references (the caller
 * X509_free()s them; the cache keeps its own).  The key is borrowed from
 * the mint.  Why not an SSL_CTX per name: a context is large and owns a
 * session cache; setting certificate and key on the connection's SSL from
 * the servername callback (mint_ssl_use) is cheaper and keeps one context.
 */
#ifndef WW_MINT_H
#define WW_MINT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/ca.h"

struct mint;

struct mint_opts {
	size_t cache_max; /* entries; 0: 1024 */
	long lifetime_s;  /* after now; 0: 2 days */
	long backdate_s;  /* before now (client clock skew); 0: 1 hour */
	int leaf_rsa;     /* leaf key RSA 3072 instead of EC P-256 */
};

struct mint_stats {
	uint64_t hits;    /* served from the cache */
	uint64_t misses;  /* signed a new certificate */
	uint64_t refused; /* name invalid or not in the allowed list */
	size_t entries;   /* now in the cache */
};

/*
 * A mint signing with ca for names matching hosts[0..nhosts) (copied).
 * ca is not kept: its certificate and key are referenced.  opts may be
 * NULL.  WW_EINVAL (a bad host pattern, bad opts), WW_ENOMEM, WW_ECRYPTO.
 */
int mint_new(const struct ca *ca, const char *const *hosts, size_t nhosts,
             const struct mint_opts *opts, struct mint **out);

/*
 * The certificate for name (an SNI host name, any case, optional
 * trailing dot), from the cache or freshly signed.  *out is a new
 * reference.  WW_EPERM: name is not in the allowed list; WW_EINVAL: not a
 * valid host name; WW_ENOMEM; WW_ECRYPTO.
 */
int mint_cert(struct mint *m, const char *name, X509 **out);

/* The leaf key every minted certificate carries; lives as long as m. */
EVP_PKEY *mint_key_borrow(const struct mint *m);

/*
 * Sign with ca from now on (copied: references to its certificate and
 * key): the cache is emptied, so every later handshake gets a
 * certificate from the new CA; certificates already handed out stay
 * valid.  Safe while other threads call mint_cert.  WW_ENOMEM.
 */
int mint_set_ca(struct mint *m, const struct ca *ca);

/*
 * Put the certificate for name and the leaf key on ssl (for a servername
 * or client-hello callback).  Errors as mint_cert.
 */
int mint_ssl_use(struct mint *m, SSL *ssl, const char *name);

/* The allowed-name check alone: 1 when mint_cert would sign for name. */
int mint_allowed(const struct mint *m, const char *name);

void mint_stats(struct mint *m, struct mint_stats *out);

/* Free m and its cache; NULL is a no-op.  Returned references stay valid. */
void mint_free(struct mint *m);

#endif
