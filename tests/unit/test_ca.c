/* test_ca.c: CA create, save, load (with the key-mode refusal), issue. */
#include "config.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "ww.h"

struct fixture {
	char dir[512];
	char crt[PATH_MAX];
	char key[PATH_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_ca.XXXXXX",
	         tmp ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->crt, sizeof(f->crt), "%s/ca.crt", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/ca.key", f->dir);
	*state = f;
	return 0;
}

static void
rm_in(const struct fixture *f, const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%.64s", f->dir, name);
	unlink(p);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"ca.crt", "ca.key", "leaf.crt",
	                                    "leaf.key", "junk.crt"};

	for (size_t i = 0; i < WW_NELEM(names); i++)
		rm_in(f, names[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Does leaf chain to ca_cert, for host (or IP when ip)? */
static int
verifies(X509 *ca_cert, X509 *leaf, const char *host, int ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca_cert), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx),
		                              host);
	else
		X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx),
		                            host, 0);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static X509 *
issue(const struct ca *ca, const char *const *names, size_t n)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct ca_leaf leaf = {
	    .names = names, .nnames = n, .backdate_s = 60, .lifetime_s = 3600};

	assert_int_equal(ca_key_new(CA_KEY_EC_P256, &key), WW_OK);
	leaf.key = key;
	assert_int_equal(ca_issue(ca, &leaf, &x), WW_OK);
	EVP_PKEY_free(key);
	return x;
}

static void
test_create_save_load(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	struct ca *ca = NULL, *back = NULL;
	struct stat st;

	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(X509_check_ca(ca_cert_borrow(ca)), 1);
	assert_int_equal(EVP_PKEY_get_base_id(ca_key_borrow(ca)), EVP_PKEY_EC);
	assert_int_equal(ca_save(ca, f->dir), WW_OK);
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->crt, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(ca_save(ca, f->dir), WW_EEXIST);

	assert_int_equal(ca_load_dir(f->dir, &back), WW_OK);
	assert_int_equal(X509_cmp(ca_cert_borrow(ca), ca_cert_borrow(back)), 0);
	assert_int_equal(EVP_PKEY_eq(ca_key_borrow(ca), ca_key_borrow(back)),
	                 1);
	ca_free(back);
	ca_free(ca);
	ca_free(NULL);
}

static void
test_key_mode_refused(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	struct ca *ca = NULL, *back = NULL;

	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(ca_save(ca, f->dir), WW_OK);
	assert_int_equal(chmod(f->key, 0640), 0);
	assert_int_equal(ca_load(f->crt, f->key, &back), WW_EPERM);
	assert_null(back);
	assert_int_equal(chmod(f->key, 0604), 0);
	assert_int_equal(ca_load(f->crt, f->key, &back), WW_EPERM);
	assert_int_equal(chmod(f->key, 0400), 0);
	assert_int_equal(ca_load(f->crt, f->key, &back), WW_OK);
	ca_free(back);
	/* A directory is not a key file. */
	assert_int_equal(ca_load(f->crt, f->dir, &back), WW_EPERM);
	ca_free(ca);
}

static void
test_load_errors(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	struct ca *a = NULL, *b = NULL, *back = NULL;
	char junk[PATH_MAX];
	FILE *fp;

	assert_int_equal(ca_load_dir(f->dir, &back), WW_ENOTFOUND);
	assert_int_equal(ca_create(&p, &a), WW_OK);
	assert_int_equal(ca_create(&p, &b), WW_OK);
	assert_int_equal(ca_save(a, f->dir), WW_OK);
	/* a's certificate with b's key. */
	unlink(f->key);
	rm_in(f, "ca.crt");
	assert_int_equal(ca_save(b, f->dir), WW_OK);
	fp = fopen(f->crt, "w");
	assert_non_null(fp);
	PEM_write_X509(fp, ca_cert_borrow(a));
	fclose(fp);
	assert_int_equal(ca_load_dir(f->dir, &back), WW_ECRYPTO);
	snprintf(junk, sizeof(junk), "%s/junk.crt", f->dir);
	fp = fopen(junk, "w");
	assert_non_null(fp);
	fputs("not a certificate\n", fp);
	fclose(fp);
	assert_int_equal(ca_load(junk, f->key, &back), WW_EPARSE);
	assert_null(back);
	ca_free(a);
	ca_free(b);
}

static void
test_not_a_ca(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	struct ca *ca = NULL, *back = NULL;
	const char *names[] = {"leaf.example"};
	EVP_PKEY *key = NULL;
	struct ca_leaf leaf = {.names = names, .nnames = 1, .lifetime_s = 60};
	X509 *x = NULL;
	char crt[PATH_MAX], kp[PATH_MAX];
	FILE *fp;

	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(ca_key_new(CA_KEY_EC_P256, &key), WW_OK);
	leaf.key = key;
	assert_int_equal(ca_issue(ca, &leaf, &x), WW_OK);
	snprintf(crt, sizeof(crt), "%s/leaf.crt", f->dir);
	snprintf(kp, sizeof(kp), "%s/leaf.key", f->dir);
	fp = fopen(crt, "w");
	PEM_write_X509(fp, x);
	fclose(fp);
	fp = fopen(kp, "w");
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	assert_int_equal(chmod(kp, 0600), 0);
	assert_int_equal(ca_load(crt, kp, &back), WW_EINVAL);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_free(ca);
}

static void
test_issue(void **state)
{
	struct ca_params p = {.common_name = "Test CA", .organization = "T"};
	struct ca *ca = NULL, *other = NULL;
	const char *names[] = {"svc.example", "127.0.0.1", "*.wild.example"};
	const char *bad[] = {"a,b"};
	X509 *x;
	EVP_PKEY *key = NULL;
	struct ca_leaf leaf = {.names = bad, .nnames = 1, .lifetime_s = 60};

	(void)state;
	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(ca_create(&p, &other), WW_OK);
	x = issue(ca, names, 3);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_true(verifies(ca_cert_borrow(ca), x, "svc.example", 0));
	assert_true(verifies(ca_cert_borrow(ca), x, "SVC.example", 0));
	assert_true(verifies(ca_cert_borrow(ca), x, "a.wild.example", 0));
	assert_true(verifies(ca_cert_borrow(ca), x, "127.0.0.1", 1));
	assert_false(verifies(ca_cert_borrow(ca), x, "other.example", 0));
	assert_false(verifies(ca_cert_borrow(ca), x, "127.0.0.2", 1));
	assert_false(verifies(ca_cert_borrow(other), x, "svc.example", 0));
	X509_free(x);

	assert_int_equal(ca_key_new(CA_KEY_EC_P256, &key), WW_OK);
	leaf.key = key;
	assert_int_equal(ca_issue(ca, &leaf, &x), WW_EINVAL);
	leaf.nnames = 0;
	assert_int_equal(ca_issue(ca, &leaf, &x), WW_EINVAL);
	assert_null(x);
	EVP_PKEY_free(key);
	ca_free(other);
	ca_free(ca);
}

static void
test_name_constraints_and_rsa(void **state)
{
	const char *permitted[] = {"qq.com"};
	const char *bad[] = {"a b"};
	struct ca_params p = {.keytype = CA_KEY_RSA3072,
	                      .permitted_dns = permitted,
	                      .npermitted = 1};
	struct ca *ca = NULL;
	const char *in[] = {"qyapi.weixin.qq.com"};
	const char *out[] = {"example.com"};
	X509 *x;

	(void)state;
	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(EVP_PKEY_get_base_id(ca_key_borrow(ca)), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(ca_key_borrow(ca)), 3072);
	x = issue(ca, in, 1);
	assert_true(verifies(ca_cert_borrow(ca), x, in[0], 0));
	X509_free(x);
	x = issue(ca, out, 1); /* signs, but no client may accept it */
	assert_false(verifies(ca_cert_borrow(ca), x, out[0], 0));
	X509_free(x);
	ca_free(ca);

	p.keytype = CA_KEY_EC_P256;
	p.permitted_dns = bad;
	assert_int_equal(ca_create(&p, &ca), WW_EINVAL);
	assert_null(ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_save_load, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_key_mode_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_ca, setup, teardown),
	    cmocka_unit_test(test_issue),
	    cmocka_unit_test(test_name_constraints_and_rsa),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
