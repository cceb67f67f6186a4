/*
 * wwca: manage the interception CA (see wwca(1)).
 *
 *   wwca init [--rsa] [--name-constraint DNS]... [--cn NAME] [--org ORG]
 *             [--days N] DIR
 *   wwca issue --ca DIR [-o DIR] [--name BASE] [--client] [--rsa]
 *              [--days N] [--force] HOST...
 *   wwca show [--json] FILE...
 *   wwca export-trust --ca DIR [--der FILE]
 *
 * A thin main over certs/ca.h.  Exit status: 0 success, 1 failure, 2 usage.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/hostlist.h"
#include "ww.h"

#define WWCA_MAX_NAMES 100
#define WWCA_LEAF_DAYS 397 /* the longest browsers accept for a server */

static const char wwca_usage_text[] =
    "usage: wwca init [--rsa] [--name-constraint DNS]... [--cn NAME]\n"
    "                 [--org ORG] [--days N] DIR\n"
    "       wwca issue --ca DIR [-o DIR] [--name BASE] [--client] [--rsa]\n"
    "                  [--days N] [--force] "
    "HOST...\n"
    "       wwca show [--json] FILE...\n"
    "       wwca export-trust --ca DIR [--der FILE]\n"
    "       wwca --help | --version\n";

static int
wwca_usage(int rc)
{
	fputs(wwca_usage_text, rc == 0 ? stdout : stderr);
	return rc;
}

static int
wwca_fail(const char *what, int rc)
{
	fprintf(stderr, "wwca: %s: %s\n", what, ww_strerror(rc));
	return 1;
}

static long
wwca_days(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 36500)
		return -1;
	return v;
}

/* ------------------------------------------------------------- init */

/* Parse init's options into p (nc: storage for the constraints);
 * returns -1 to go on, else the exit status. */
static int
wwca_init_opts(int argc, char **argv, struct ca_params *p, const char **nc)
{
	static const struct option opts[] = {
	    {"rsa", no_argument, NULL, 'r'},
	    {"name-constraint", required_argument, NULL, 'n'},
	    {"cn", required_argument, NULL, 'c'},
	    {"org", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long days;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r') {
			p->keytype = CA_KEY_RSA3072;
		} else if (ch == 'n' && p->npermitted < WWCA_MAX_NAMES) {
			nc[p->npermitted++] = optarg;
		} else if (ch == 'c') {
			p->common_name = optarg;
		} else if (ch == 'o') {
			p->organization = optarg;
		} else if (ch == 'd' && (days = wwca_days(optarg)) > 0) {
			p->days = (unsigned)days;
		} else {
			return wwca_usage(ch == 'h' ? 0 : 2);
		}
	}
	return optind + 1 == argc ? -1 : wwca_usage(2);
}

static int
wwca_init(int argc, char **argv)
{
	const char *nc[WWCA_MAX_NAMES];
	struct ca_params p = {.permitted_dns = nc};
	struct ca *ca = NULL;
	const char *dir;
	int rc;

	rc = wwca_init_opts(argc, argv, &p, nc);
	if (rc >= 0)
		return rc;
	dir = argv[optind];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "wwca: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	rc = ca_create(&p, &ca);
	if (rc != WW_OK)
		return wwca_fail("creating the CA", rc);
	rc = ca_save(ca, dir);
	ca_free(ca);
	if (rc == WW_EEXIST) {
		fprintf(stderr, "wwca: %s already holds a CA; not replaced\n",
		        dir);
		return 1;
	}
	if (rc != WW_OK)
		return wwca_fail(dir, rc);
	printf("created %s/ca.crt and %s/ca.key (mode 0600)\n", dir, dir);
	return 0;
}

/* ------------------------------------------------------------ issue */

/* A host name, a "*.domain" wildcard, or an IP literal. */
static int
wwca_host_ok(const char *h)
{
	unsigned char buf[16];
	char canon[HOSTLIST_NAME_MAX];

	if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
		return 1;
	if (h[0] == '*' && h[1] == '.')
		h += 2;
	return hostlist_name_canon(h, canon) == WW_OK;
}

/* Write a PEM object to path, 0600 for keys, never over an old file
 * unless force. */
static int
wwca_write(const char *path, X509 *x, EVP_PKEY *key, int force)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	mode_t mode = key ? 0600 : 0644;
	int fd = open(path, flags, mode), ok;
	FILE *fp;

	if (fd < 0 || fchmod(fd, mode) != 0 || (fp = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "wwca: %s: %s%s\n", path, strerror(errno),
		        errno == EEXIST ? " (use --force to replace)" : "");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	ok = key ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
	         : PEM_write_X509(fp, x);
	if (fclose(fp) != 0 || !ok) {
		fprintf(stderr, "wwca: %s: write failed\n", path);
		return 1;
	}
	return 0;
}

struct wwca_issue_args {
	const char *ca_dir;
	const char *out_dir;
	const char *base; /* file names: base.crt, base.key */
	int rsa;
	int force;
	int client; /* clientAuth too */
	long days;
};

static int
wwca_issue_write(const struct wwca_issue_args *a, const struct ca *ca,
                 char **names, size_t n)
{
	char crt[PATH_MAX], keyp[PATH_MAX];
	struct ca_leaf leaf = {.names = (const char *const *)names,
	                       .nnames = n,
	                       .backdate_s = 3600,
	                       .lifetime_s = a->days * 86400,
	                       .client_auth = a->client};
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc;

	snprintf(crt, sizeof(crt), "%s/%s.crt", a->out_dir, a->base);
	snprintf(keyp, sizeof(keyp), "%s/%s.key", a->out_dir, a->base);
	rc = ca_key_new(a->rsa ? CA_KEY_RSA3072 : CA_KEY_EC_P256, &key);
	if (rc == WW_OK) {
		leaf.key = key;
		rc = ca_issue(ca, &leaf, &x);
	}
	if (rc != WW_OK) {
		EVP_PKEY_free(key);
		return wwca_fail("issuing", rc);
	}
	rc = wwca_write(keyp, NULL, key, a->force);
	if (rc == 0)
		rc = wwca_write(crt, x, NULL, a->force);
	if (rc == 0)
		printf("wrote %s and %s (mode 0600)\n", crt, keyp);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static int
wwca_issue(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"rsa", no_argument, NULL, 'r'},
	    {"days", required_argument, NULL, 'd'},
	    {"force", no_argument, NULL, 'f'},
	    {"client", no_argument, NULL, 'C'},
	    {"name", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct wwca_issue_args a = {
	    .out_dir = ".", .base = "server", .days = WWCA_LEAF_DAYS};
	struct ca *ca = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a.ca_dir = optarg;
			break;
		case 'o':
			a.out_dir = optarg;
			break;
		case 'r':
			a.rsa = 1;
			break;
		case 'f':
			a.force = 1;
			break;
		case 'C':
			a.client = 1;
			break;
		case 'n':
			if (optarg[0] == '\0' || strchr(optarg, '/') != NULL)
				return wwca_usage(2);
			a.base = optarg;
			break;
		case 'd':
			if ((a.days = wwca_days(optarg)) < 0)
				return wwca_usage(2);
			break;
		case 'h':
			return wwca_usage(0);
		default:
			return wwca_usage(2);
		}
	}
	if (a.ca_dir == NULL || optind == argc ||
	    argc - optind > WWCA_MAX_NAMES)
		return wwca_usage(2);
	for (int i = optind; i < argc; i++) {
		if (!wwca_host_ok(argv[i])) {
			fprintf(stderr,
			        "wwca: not a host name or IP address: "
			        "%s\n",
			        argv[i]);
			return 2;
		}
	}
	rc = ca_load_dir(a.ca_dir, &ca);
	if (rc != WW_OK)
		return wwca_fail(a.ca_dir, rc);
	if (mkdir(a.out_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "wwca: %s: %s\n", a.out_dir, strerror(errno));
		ca_free(ca);
		return 1;
	}
	rc = wwca_issue_write(&a, ca, argv + optind, (size_t)(argc - optind));
	ca_free(ca);
	return rc;
}

/* ------------------------------------------------------------- show */

static void
wwca_fingerprint(X509 *x, const EVP_MD *md, char *out, size_t size)
{
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	size_t off = 0;

	out[0] = '\0';
	if (!X509_digest(x, md, buf, &n))
		return;
	for (unsigned i = 0; i < n && off + 3 < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%02X",
		                        i ? ":" : "", buf[i]);
}

static json_t *
wwca_name_json(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	json_t *s;

	if (b == NULL)
		return json_null();
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_get_mem_data(b, &p);
	s = json_stringn(p ? p : "", n > 0 ? (size_t)n : 0);
	BIO_free(b);
	return s ? s : json_string("(not UTF-8)");
}

static json_t *
wwca_time_json(const ASN1_TIME *t)
{
	struct tm tm;
	char buf[32];

	if (!ASN1_TIME_to_tm(t, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *
wwca_general_name_json(const GENERAL_NAME *g)
{
	char buf[INET6_ADDRSTRLEN + 4] = "IP:";
	const ASN1_STRING *s;
	int len;

	if (g->type == GEN_DNS) {
		s = g->d.dNSName;
		json_t *j =
		    json_sprintf("DNS:%.*s", ASN1_STRING_length(s),
		                 (const char *)ASN1_STRING_get0_data(s));
		return j ? j : json_string("DNS:(not UTF-8)");
	}
	if (g->type == GEN_IPADD) {
		s = g->d.iPAddress;
		len = ASN1_STRING_length(s);
		if ((len == 4 || len == 16) &&
		    inet_ntop(len == 4 ? AF_INET : AF_INET6,
		              ASN1_STRING_get0_data(s), buf + 3,
		              sizeof(buf) - 3))
			return json_string(buf);
	}
	return json_sprintf("type-%d", g->type);
}

static json_t *
wwca_sans_json(X509 *x)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	json_t *a = json_array();

	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++)
		json_array_append_new(
		    a, wwca_general_name_json(sk_GENERAL_NAME_value(gens, i)));
	GENERAL_NAMES_free(gens);
	return a;
}

static const char *
wwca_key_name(EVP_PKEY *pk)
{
	switch (pk ? EVP_PKEY_get_base_id(pk) : 0) {
	case EVP_PKEY_EC:
		return "EC";
	case EVP_PKEY_RSA:
		return "RSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	default:
		return "other";
	}
}

static json_t *
wwca_cert_json(X509 *x)
{
	char sha256[EVP_MAX_MD_SIZE * 3 + 1], sha1[EVP_MAX_MD_SIZE * 3 + 1];
	EVP_PKEY *pk = X509_get0_pubkey(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *serial = bn ? BN_bn2hex(bn) : NULL;
	json_t *o;

	wwca_fingerprint(x, EVP_sha256(), sha256, sizeof(sha256));
	wwca_fingerprint(x, EVP_sha1(), sha1, sizeof(sha1));
	o = json_pack("{so so ss so so so ss si sb ss ss}", "subject",
	              wwca_name_json(X509_get_subject_name(x)), "issuer",
	              wwca_name_json(X509_get_issuer_name(x)), "serial",
	              serial ? serial : "", "not_before",
	              wwca_time_json(X509_get0_notBefore(x)), "not_after",
	              wwca_time_json(X509_get0_notAfter(x)), "san",
	              wwca_sans_json(x), "key", wwca_key_name(pk), "key_bits",
	              pk ? EVP_PKEY_get_bits(pk) : 0, "ca",
	              X509_check_ca(x) >= 1, "sha256", sha256, "sha1", sha1);
	OPENSSL_free(serial);
	BN_free(bn);
	return o;
}

static void
wwca_print_text(json_t *o)
{
	static const char *const keys[] = {"subject",    "issuer",    "serial",
	                                   "not_before", "not_after", "key",
	                                   "sha256",     "sha1"};
	static const char *const labels[] = {
	    "Subject",   "Issuer", "Serial",  "Not before",
	    "Not after", "Key",    "SHA-256", "SHA-1"};
	json_t *v;
	size_t i;

	for (i = 0; i < WW_NELEM(keys); i++) {
		printf("%-11s %s", labels[i],
		       json_string_value(json_object_get(o, keys[i])));
		if (strcmp(keys[i], "key") == 0)
			printf(" %lld bits%s",
			       (long long)json_integer_value(
			           json_object_get(o, "key_bits")),
			       json_is_true(json_object_get(o, "ca")) ? ", CA"
			                                              : "");
		printf("\n");
	}
	printf("%-11s", "SANs");
	json_array_foreach(json_object_get(o, "san"), i, v)
	    printf("%s%s", i ? ", " : " ", json_string_value(v));
	printf("%s\n",
	       json_array_size(json_object_get(o, "san")) ? "" : " (none)");
}

/* Every certificate in path: PEM (one or more) or DER. */
static int
wwca_show_file(const char *path, json_t *all)
{
	BIO *b = BIO_new_file(path, "rb");
	X509 *x;
	int n = 0;

	if (b == NULL) {
		fprintf(stderr, "wwca: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		json_array_append_new(all, wwca_cert_json(x));
		X509_free(x);
		n++;
	}
	if (n == 0 && BIO_reset(b) == 0 &&
	    (x = d2i_X509_bio(b, NULL)) != NULL) {
		json_array_append_new(all, wwca_cert_json(x));
		X509_free(x);
		n++;
	}
	BIO_free(b);
	ERR_clear_error();
	if (n == 0)
		fprintf(stderr, "wwca: %s: no certificate (PEM or DER)\n",
		        path);
	return n == 0;
}

static int
wwca_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	json_t *all = json_array(), *o;
	int ch, json = 0, rc = 0;
	size_t i;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = 1;
		else {
			json_decref(all);
			return wwca_usage(ch == 'h' ? 0 : 2);
		}
	}
	if (optind == argc) {
		json_decref(all);
		return wwca_usage(2);
	}
	for (int k = optind; k < argc; k++)
		rc |= wwca_show_file(argv[k], all);
	json_array_foreach(all, i, o)
	{
		if (json)
			json_dumpf(o, stdout, JSON_COMPACT);
		else
			printf("%s", i ? "\n" : "");
		if (json)
			printf("\n");
		else
			wwca_print_text(o);
	}
	json_decref(all);
	return rc;
}

/* ----------------------------------------------------- export-trust */

static const char wwca_mdm_note[] =
    "MDM / trust store notes:\n"
    "  Apple (iOS, macOS): a configuration profile with a\n"
    "    com.apple.security.root payload whose PayloadContent is the DER\n"
    "    (base64) above.  On iOS a manually installed profile also needs\n"
    "    Settings > General > About > Certificate Trust Settings; an MDM\n"
    "    (supervised) install is trusted directly.\n"
    "  Android: an MDM/EMM CA certificate policy (managed configuration).\n"
    "    Apps targeting API 24+ ignore user-added CAs unless their\n"
    "    network_security_config trusts them: use the device-owner policy.\n"
    "  Windows: Intune \"Trusted certificate\" profile, or a GPO placing\n"
    "    the certificate in Trusted Root Certification Authorities.\n"
    "  Debian/Ubuntu servers: copy the PEM to\n"
    "    /usr/local/share/ca-certificates/wwgate.crt, run\n"
    "    update-ca-certificates.\n"
    "  Check the SHA-256 fingerprint on the device after install.  Keep\n"
    "  ca.key on the gateway only (mode 0600); never distribute it.\n";

static int
wwca_der_out(X509 *x, const char *der_path)
{
	unsigned char *der = NULL, *b64 = NULL;
	int n = i2d_X509(x, &der), rc = 1;
	FILE *fp;

	if (n <= 0)
		return 1;
	if (der_path != NULL) {
		fp = fopen(der_path, "wb");
		if (fp != NULL && fwrite(der, 1, (size_t)n, fp) == (size_t)n &&
		    fclose(fp) == 0) {
			printf("DER written to %s (%d bytes)\n", der_path, n);
			rc = 0;
		} else {
			fprintf(stderr, "wwca: %s: %s\n", der_path,
			        strerror(errno));
		}
	} else if ((b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) != NULL) {
		EVP_EncodeBlock(b64, der, n);
		printf("DER (base64, one line):\n%s\n", b64);
		rc = 0;
	}
	free(b64);
	OPENSSL_free(der);
	return rc;
}

static int
wwca_export(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"der", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *der = NULL;
	char path[PATH_MAX], fp[EVP_MAX_MD_SIZE * 3 + 1];
	X509 *x = NULL;
	FILE *f;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'c')
			dir = optarg;
		else if (ch == 'd')
			der = optarg;
		else
			return wwca_usage(ch == 'h' ? 0 : 2);
	}
	if (dir == NULL || optind != argc)
		return wwca_usage(2);
	/* Only the certificate: export never touches the key. */
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	f = fopen(path, "r");
	if (f == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "wwca: %s: no certificate\n", path);
		if (f != NULL)
			fclose(f);
		return 1;
	}
	fclose(f);
	wwca_fingerprint(x, EVP_sha256(), fp, sizeof(fp));
	printf("SHA-256 fingerprint: %s\n", fp);
	wwca_fingerprint(x, EVP_sha1(), fp, sizeof(fp));
	printf("SHA-1 fingerprint:   %s\n\nPEM:\n", fp);
	PEM_write_X509(stdout, x);
	printf("\n");
	rc = wwca_der_out(x, der);
	printf("\n%s", wwca_mdm_note);
	X509_free(x);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return wwca_usage(2);
	if (strcmp(argv[1], "--version") == 0) {
		printf("wwca %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return wwca_usage(0);
	if (strcmp(argv[1], "init") == 0)
		return wwca_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "issue") == 0)
		return wwca_issue(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return wwca_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "export-trust") == 0)
		return wwca_export(argc - 1, argv + 1);
	fprintf(stderr, "wwca: unknown command %s\n", argv[1]);
	return wwca_usage(2);
}
