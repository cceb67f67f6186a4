/* ca.c: the interception CA and the one place certificates are built. */
#include "config.h"

/*
 * ca_leaf_key_new uses the EC_KEY/RSA types OpenSSL 3.0 deprecates: see
 * there why.  This only hides the deprecation attributes in this file.
 */
#define OPENSSL_API_COMPAT 10101

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/hostlist.h"
#include "ww.h"

#define CA_DEFAULT_CN "wwgate interception CA"
#define CA_DEFAULT_DAYS 3650
#define CA_NC_MAX 4096

struct ca {
	X509 *cert;
	EVP_PKEY *key;
};

int
ca_key_new(enum ca_keytype t, EVP_PKEY **out)
{
	*out = t == CA_KEY_RSA3072 ? EVP_RSA_gen(3072) : EVP_EC_gen("P-256");
	if (*out == NULL) {
		ERR_clear_error();
		return WW_ECRYPTO;
	}
	return WW_OK;
}

int
ca_leaf_key_new(enum ca_keytype t, EVP_PKEY **out)
{
	EVP_PKEY *pk = EVP_PKEY_new();
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	BIGNUM *e = BN_new();
	int ok = 0;

	*out = NULL;
	if (pk == NULL || e == NULL || !BN_set_word(e, RSA_F4))
		goto out;
	if (t == CA_KEY_RSA3072) {
		rsa = RSA_new();
		ok = rsa != NULL && RSA_generate_key_ex(rsa, 3072, e, NULL) &&
		     EVP_PKEY_assign_RSA(pk, rsa);
	} else {
		ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
		ok = ec != NULL && EC_KEY_generate_key(ec) &&
		     EVP_PKEY_assign_EC_KEY(pk, ec);
	}
	if (ok) {
		*out = pk;
		pk = NULL;
		rsa = NULL; /* now owned by *out */
		ec = NULL;
	}
out:
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	BN_free(e);
	ERR_clear_error();
	return ok ? WW_OK : WW_ECRYPTO;
}

/* A random positive 128-bit serial (RFC 5280 allows up to 20 octets). */
static int
ca_set_serial(X509 *x)
{
	unsigned char buf[16];
	BIGNUM *bn = NULL;
	int rc = WW_ECRYPTO;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		goto out;
	buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40); /* positive, 16 B */
	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = WW_OK;
out:
	BN_free(bn);
	return rc;
}

/* Add an extension given in openssl.cnf syntax; issuer may be x itself. */
static int
ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return WW_ECRYPTO;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? WW_OK : WW_ENOMEM;
}

/* A certificate with what every one of ours shares; not yet signed. */
static int
ca_cert_skeleton(EVP_PKEY *key, const char *cn, const char *org,
                 long backdate_s, long lifetime_s, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *name;
	int rc = WW_ENOMEM;

	*out = NULL;
	if (x == NULL)
		goto out;
	rc = WW_ECRYPTO;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) || ca_set_serial(x) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -backdate_s) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), lifetime_s) ||
	    !X509_set_pubkey(x, key))
		goto out;
	if (org != NULL &&
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                                (const unsigned char *)org, -1, -1, 0))
		goto out;
	if (cn != NULL && strlen(cn) <= 64 &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                (const unsigned char *)cn, -1, -1, 0))
		goto out;
	*out = x;
	x = NULL;
	rc = WW_OK;
out:
	X509_free(x);
	return rc;
}

/* "critical,permitted;DNS:a,permitted;DNS:b" from checked names. */
static int
ca_name_constraints(const struct ca_params *p, char *buf, size_t size)
{
	char canon[HOSTLIST_NAME_MAX];
	size_t off;

	off = (size_t)snprintf(buf, size, "critical");
	for (size_t i = 0; i < p->npermitted; i++) {
		if (hostlist_name_canon(p->permitted_dns[i], canon) != WW_OK)
			return WW_EINVAL;
		off += (size_t)snprintf(buf + off, size - off,
		                        ",permitted;DNS:%s", canon);
		if (off >= size)
			return WW_ELIMIT;
	}
	return WW_OK;
}

static int
ca_root_extensions(X509 *x, const struct ca_params *p)
{
	char nc[CA_NC_MAX];
	int rc;

	rc = ca_add_ext(x, x, NID_basic_constraints,
	                "critical,CA:TRUE,pathlen:0");
	if (rc == WW_OK)
		rc = ca_add_ext(x, x, NID_key_usage,
		                "critical,keyCertSign,cRLSign");
	if (rc == WW_OK)
		rc = ca_add_ext(x, x, NID_subject_key_identifier, "hash");
	if (rc == WW_OK && p->npermitted > 0) {
		rc = ca_name_constraints(p, nc, sizeof(nc));
		if (rc == WW_OK)
			rc = ca_add_ext(x, x, NID_name_constraints, nc);
	}
	return rc;
}

int
ca_create(const struct ca_params *p, struct ca **out)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	long days = p->days ? (long)p->days : CA_DEFAULT_DAYS;
	int rc = WW_ENOMEM;

	*out = NULL;
	if (ca == NULL)
		goto out;
	rc = ca_key_new(p->keytype, &ca->key);
	if (rc != WW_OK)
		goto out;
	rc = ca_cert_skeleton(ca->key,
	                      p->common_name ? p->common_name : CA_DEFAULT_CN,
	                      p->organization, 3600, days * 86400, &ca->cert);
	if (rc != WW_OK)
		goto out;
	/* Self-signed: the issuer is the subject. */
	if (!X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert))) {
		rc = WW_ENOMEM;
		goto out;
	}
	rc = ca_root_extensions(ca->cert, p);
	if (rc == WW_OK && X509_sign(ca->cert, ca->key, EVP_sha256()) <= 0)
		rc = WW_ECRYPTO;
	if (rc == WW_OK) {
		*out = ca;
		ca = NULL;
	}
out:
	ERR_clear_error();
	ca_free(ca);
	return rc;
}

/* Create path exclusively with mode and write a PEM object into it. */
static int
ca_write_pem(const char *path, mode_t mode, const struct ca *ca, int key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *fp;
	int ok;

	if (fd < 0)
		return errno == EEXIST ? WW_EEXIST : WW_EIO;
	if (fchmod(fd, mode) != 0 || (fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(path);
		return WW_EIO;
	}
	ok = key ? PEM_write_PrivateKey(fp, ca->key, NULL, NULL, 0, NULL, NULL)
	         : PEM_write_X509(fp, ca->cert);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
		ok = 0;
	if (fclose(fp) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return WW_EIO;
	}
	return WW_OK;
}

static int
ca_path(char *buf, const char *dir, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	return n > 0 && n < PATH_MAX ? WW_OK : WW_EINVAL;
}

int
ca_save(const struct ca *ca, const char *dir)
{
	char crt[PATH_MAX], key[PATH_MAX];
	int rc;

	if (ca_path(crt, dir, "ca.crt") != WW_OK ||
	    ca_path(key, dir, "ca.key") != WW_OK)
		return WW_EINVAL;
	if (access(crt, F_OK) == 0)
		return WW_EEXIST;
	rc = ca_write_pem(key, 0600, ca, 1);
	if (rc != WW_OK)
		return rc;
	rc = ca_write_pem(crt, 0644, ca, 0);
	if (rc != WW_OK)
		unlink(key);
	return rc;
}

/* Read the private key, refusing a file others may read. */
static int
ca_read_key(const char *path, EVP_PKEY **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	FILE *fp;

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return WW_EPERM;
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		return WW_EIO;
	}
	*out = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	return *out ? WW_OK : WW_EPARSE;
}

static int
ca_read_cert(const char *path, X509 **out)
{
	FILE *fp = fopen(path, "r");

	*out = NULL;
	if (fp == NULL)
		return errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
	*out = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return *out ? WW_OK : WW_EPARSE;
}

int
ca_load(const char *cert_path, const char *key_path, struct ca **out)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	int rc = WW_ENOMEM;

	*out = NULL;
	if (ca == NULL)
		goto out;
	rc = ca_read_key(key_path, &ca->key);
	if (rc == WW_OK)
		rc = ca_read_cert(cert_path, &ca->cert);
	if (rc != WW_OK)
		goto out;
	if (X509_check_private_key(ca->cert, ca->key) != 1)
		rc = WW_ECRYPTO;
	else if (X509_check_ca(ca->cert) < 1)
		rc = WW_EINVAL;
	if (rc == WW_OK) {
		*out = ca;
		ca = NULL;
	}
out:
	ERR_clear_error();
	ca_free(ca);
	return rc;
}

int
ca_load_dir(const char *dir, struct ca **out)
{
	char crt[PATH_MAX], key[PATH_MAX];

	*out = NULL;
	if (ca_path(crt, dir, "ca.crt") != WW_OK ||
	    ca_path(key, dir, "ca.key") != WW_OK)
		return WW_EINVAL;
	return ca_load(crt, key, out);
}

int
ca_copy(const struct ca *ca, struct ca **out)
{
	struct ca *c = calloc(1, sizeof(*c));

	*out = c;
	if (c == NULL)
		return WW_ENOMEM;
	X509_up_ref(ca->cert);
	EVP_PKEY_up_ref(ca->key);
	c->cert = ca->cert;
	c->key = ca->key;
	return WW_OK;
}

X509 *
ca_cert_borrow(const struct ca *ca)
{
	return ca->cert;
}

EVP_PKEY *
ca_key_borrow(const struct ca *ca)
{
	return ca->key;
}

/* A SAN entry: an IP literal, else a DNS name of sane characters. */
static GENERAL_NAME *
ca_general_name(const char *name)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_IA5STRING *dns = NULL;
	size_t n = strlen(name);

	if (gen == NULL || ip != NULL) {
		if (gen != NULL)
			GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		else
			ASN1_OCTET_STRING_free(ip);
		return gen;
	}
	if (n == 0 || n >= HOSTLIST_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789-_.*") != n ||
	    (dns = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(dns, name, (int)n)) {
		ASN1_IA5STRING_free(dns);
		GENERAL_NAME_free(gen);
		return NULL;
	}
	GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	return gen;
}

static int
ca_add_san(X509 *x, const struct ca_leaf *leaf)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen;
	int rc = WW_ENOMEM;

	if (gens == NULL)
		goto out;
	for (size_t i = 0; i < leaf->nnames; i++) {
		gen = ca_general_name(leaf->names[i]);
		if (gen == NULL) {
			rc = WW_EINVAL;
			goto out;
		}
		if (!sk_GENERAL_NAME_push(gens, gen)) {
			GENERAL_NAME_free(gen);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) == 1)
		rc = WW_OK;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
ca_leaf_extensions(X509 *x, X509 *issuer, const struct ca_leaf *leaf)
{
	int rsa = EVP_PKEY_get_base_id(leaf->key) == EVP_PKEY_RSA;
	int rc;

	rc = ca_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
	if (rc == WW_OK)
		rc =
		    ca_add_ext(x, issuer, NID_key_usage,
		               rsa ? "critical,digitalSignature,keyEncipherment"
		                   : "critical,digitalSignature");
	if (rc == WW_OK)
		rc = ca_add_ext(x, issuer, NID_ext_key_usage,
		                leaf->client_auth ? "serverAuth,clientAuth"
		                                  : "serverAuth");
	if (rc == WW_OK)
		rc = ca_add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (rc == WW_OK)
		rc = ca_add_ext(x, issuer, NID_authority_key_identifier,
		                "keyid:always");
	if (rc == WW_OK)
		rc = ca_add_san(x, leaf);
	return rc;
}

int
ca_issue(const struct ca *ca, const struct ca_leaf *leaf, X509 **out)
{
	X509 *x = NULL;
	int rc;

	*out = NULL;
	if (leaf->nnames == 0 || leaf->key == NULL || leaf->lifetime_s <= 0)
		return WW_EINVAL;
	rc = ca_cert_skeleton(leaf->key, leaf->names[0], NULL, leaf->backdate_s,
	                      leaf->lifetime_s, &x);
	if (rc != WW_OK)
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca->cert))) {
		rc = WW_ENOMEM;
		goto out;
	}
	rc = ca_leaf_extensions(x, ca->cert, leaf);
	if (rc == WW_OK && X509_sign(x, ca->key, EVP_sha256()) <= 0)
		rc = WW_ECRYPTO;
	if (rc == WW_OK) {
		*out = x;
		x = NULL;
	}
out:
	ERR_clear_error();
	X509_free(x);
	return rc;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}
