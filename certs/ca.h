/*
 * ca.h: the interception CA: create, save, load, and issue leaves.
 *
 * A CA is a certificate and its private key.  On disk it is a directory
 * holding ca.crt (PEM, mode 0644) and ca.key (PEM PKCS#8, mode 0600).
 * Loading refuses a key file that group or others may read (WW_EPERM): a
 * leaked interception key lets anyone impersonate every intercepted host
 * to every device that trusts the CA.
 *
 * A struct ca is immutable after ca_create/ca_load and may be used by any
 * number of threads at once (OpenSSL 3 keys and certificates are safe for
 * concurrent read-only use: signing does not modify the key).
 */
#ifndef WW_CA_H
#define WW_CA_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct ca;

enum ca_keytype {
	CA_KEY_EC_P256 = 0, /* default: small, fast signatures */
	CA_KEY_RSA3072,
};

struct ca_params {
	enum ca_keytype keytype;
	const char *common_name;  /* NULL: "wwgate interception CA" */
	const char *organization; /* NULL: none */
	/*
	 * Optional X.509 name constraints (RFC 5280 section 4.2.1.10): DNS
	 * subtrees the CA may certify ("qq.com" permits qq.com and every
	 * name below it).  Marked critical, so clients that honour them
	 * refuse anything else even if the key leaks.
	 */
	const char *const *permitted_dns;
	size_t npermitted;
	unsigned days; /* 0: 3650 */
};

/* A new key pair of type t.  WW_OK, WW_ENOMEM or WW_ECRYPTO. */
int ca_key_new(enum ca_keytype t, EVP_PKEY **out);

/*
 * A key pair for leaf certificates, as ca_key_new but held in OpenSSL's
 * legacy key types (EC_KEY, RSA).  OpenSSL 3.0 puts a provider key into a
 * certificate slowly (X509_set_pubkey encodes and decodes it again: about
 * 225 us, ten times the P-256 signature); a legacy key takes about 7 us.
 * Signing and TLS use either kind.  WW_OK or WW_ECRYPTO.
 */
int ca_leaf_key_new(enum ca_keytype t, EVP_PKEY **out);

/*
 * A new CA: a key pair and a self-signed certificate (basicConstraints
 * CA:TRUE, pathlen 0; keyUsage keyCertSign, cRLSign; random serial;
 * backdated one hour).  WW_EINVAL for a bad name constraint, WW_ENOMEM,
 * WW_ECRYPTO.
 */
int ca_create(const struct ca_params *p, struct ca **out);

/*
 * Write dir/ca.crt and dir/ca.key (0600; created exclusively, so an
 * existing CA is never overwritten: WW_EEXIST).  dir must exist.  WW_EIO
 * for other errors (errno set).
 */
int ca_save(const struct ca *ca, const char *dir);

/*
 * Load a CA.  WW_ENOTFOUND (missing file), WW_EPERM (key readable by
 * group or others, or not a regular file), WW_EPARSE (not PEM), WW_ECRYPTO
 * (key does not match the certificate), WW_EINVAL (not a CA certificate),
 * WW_EIO, WW_ENOMEM.
 */
int ca_load(const char *cert_path, const char *key_path, struct ca **out);

/* ca_load(dir/ca.crt, dir/ca.key). */
int ca_load_dir(const char *dir, struct ca **out);

/*
 * A second handle on the same CA (new references to its certificate and
 * key, no copy of the key material): free both.  WW_OK or WW_ENOMEM.
 */
int ca_copy(const struct ca *ca, struct ca **out);

/* Borrowed: live as long as ca.  X509_up_ref/EVP_PKEY_up_ref to keep. */
X509 *ca_cert_borrow(const struct ca *ca);
EVP_PKEY *ca_key_borrow(const struct ca *ca);

/* What a leaf certificate says. */
struct ca_leaf {
	/*
	 * Subject alternative names: host names (DNS) or IP literals (IP).
	 * The first becomes the subject CN when it fits (64 bytes).  Names are
	 * not checked here beyond what X.509 needs; callers check them.
	 */
	const char *const *names;
	size_t nnames;
	EVP_PKEY *key;   /* borrowed: the leaf's key pair (public half used) */
	long backdate_s; /* notBefore = now - backdate_s (clock skew) */
	long lifetime_s; /* notAfter = now + lifetime_s */
	int client_auth; /* also clientAuth in extendedKeyUsage */
};

/*
 * Issue a server certificate signed by ca: random 128-bit serial, the
 * names as SANs, basicConstraints CA:FALSE, keyUsage digitalSignature
 * (+ keyEncipherment for an RSA leaf), extendedKeyUsage serverAuth,
 * subject and authority key identifiers, SHA-256.  *out is a new
 * reference: X509_free it.  WW_EINVAL (no names, a name X.509 cannot
 * carry), WW_ENOMEM, WW_ECRYPTO.
 */
int ca_issue(const struct ca *ca, const struct ca_leaf *leaf, X509 **out);

/* Free ca; NULL is a no-op. */
void ca_free(struct ca *ca);

#endif
