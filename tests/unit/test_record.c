/* test_record.c: records (pack/unpack, helpers, names) and secret digests. */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ww.h"
#include "store/record.h"
#include "store/secret.h"

static Ww__Message *
make_message(void)
{
	Ww__Message *msg = message_new();
	Ww__Attachment *att;

	assert_non_null(msg);
	assert_int_equal(record_set_str(&msg->endpoint, "message/send"), WW_OK);
	msg->direction = WW__DIRECTION__OUTBOUND;
	msg->agent_id = 1000002;
	assert_int_equal(record_set_str(&msg->sender, "app:1000002"), WW_OK);
	assert_int_equal(record_add_str(&msg->recipients->n_users,
	                                &msg->recipients->users, "zhangsan"),
	                 WW_OK);
	assert_int_equal(record_add_str(&msg->recipients->n_users,
	                                &msg->recipients->users, "lisi"),
	                 WW_OK);
	assert_int_equal(record_set_str(&msg->recipients->chat_id, "room1"),
	                 WW_OK);
	msg->recipients->all = 1;
	assert_int_equal(record_set_str(&msg->msgtype, "text"), WW_OK);
	assert_int_equal(
	    message_add_text(msg, "text.content", "héllo 你好", 14), WW_OK);
	assert_int_equal(message_add_attachment(msg, &att), WW_OK);
	assert_int_equal(record_set_str(&att->media_id, "MEDIA1"), WW_OK);
	att->size = 1234;
	assert_int_equal(record_set_bytes(&att->sha256,
	                                  "0123456789abcdef"
	                                  "0123456789abcdef",
	                                  32),
	                 WW_OK);
	assert_int_equal(record_set_bytes(&msg->body, "{\"a\":1}", 7), WW_OK);
	return msg;
}

static Ww__Record *
make_record(Ww__Kind kind)
{
	Ww__Record *rec = record_new(kind);

	assert_non_null(rec);
	assert_int_equal(rec->schema, RECORD_SCHEMA);
	rec->seq = 42;
	rec->time_ns = 1700000000123456789LL;
	rec->mono_ns = 987654321;
	assert_int_equal(record_set_str(&rec->gateway_id, "gw1"), WW_OK);
	assert_int_equal(record_set_bytes(&rec->prev_hash,
	                                  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	                                  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
	                                  RECORD_HASH_LEN),
	                 WW_OK);
	switch (kind) {
	case WW__KIND__REQUEST:
	case WW__KIND__CALLBACK:
		rec->client = malloc(sizeof(*rec->client));
		assert_non_null(rec->client);
		ww__client__init(rec->client);
		assert_int_equal(
		    record_set_str(&rec->client->address, "127.0.0.1"), WW_OK);
		rec->client->port = 5555;
		assert_int_equal(record_set_str(&rec->method, "POST"), WW_OK);
		assert_int_equal(
		    record_set_str(&rec->path, "/cgi-bin/message/send"), WW_OK);
		rec->message = make_message();
		rec->verdict = malloc(sizeof(*rec->verdict));
		assert_non_null(rec->verdict);
		ww__verdict__init(rec->verdict);
		rec->verdict->action = WW__ACTION__REDACT;
		assert_int_equal(record_add_str(&rec->verdict->n_rules,
		                                &rec->verdict->rules, "r1"),
		                 WW_OK);
		assert_int_equal(
		    record_set_bytes(&rec->forwarded_body, "{}", 2), WW_OK);
		break;
	case WW__KIND__OUTCOME:
		rec->outcome = malloc(sizeof(*rec->outcome));
		assert_non_null(rec->outcome);
		ww__outcome__init(rec->outcome);
		rec->outcome->forwarded = 1;
		rec->outcome->http_status = 200;
		rec->outcome->errcode = 81013;
		assert_int_equal(record_set_str(&rec->outcome->errmsg, "no"),
		                 WW_OK);
		rec->outcome->request_seq = 41;
		break;
	case WW__KIND__TUNNEL:
		rec->tunnel = malloc(sizeof(*rec->tunnel));
		assert_non_null(rec->tunnel);
		ww__tunnel__init(rec->tunnel);
		assert_int_equal(
		    record_set_str(&rec->tunnel->host, "x.example"), WW_OK);
		rec->tunnel->bytes_up = 1u << 20;
		break;
	case WW__KIND__POLICY:
		rec->policy = malloc(sizeof(*rec->policy));
		assert_non_null(rec->policy);
		ww__policy_info__init(rec->policy);
		assert_int_equal(
		    record_set_bytes(&rec->policy->text, "rules: []", 9),
		    WW_OK);
		break;
	case WW__KIND__CHECKPOINT:
		rec->checkpoint = malloc(sizeof(*rec->checkpoint));
		assert_non_null(rec->checkpoint);
		ww__checkpoint__init(rec->checkpoint);
		rec->checkpoint->head_seq = 41;
		rec->checkpoint->seal = 1;
		break;
	default:
		break;
	}
	return rec;
}

/* Every kind packs, unpacks to the same bytes, and frees cleanly. */
static void
test_roundtrip_kinds(void **state)
{
	(void)state;
	for (int k = WW__KIND__REQUEST; k <= WW__KIND__CHECKPOINT; k++) {
		Ww__Record *rec = make_record((Ww__Kind)k), *back = NULL;
		uint8_t *buf = NULL, *buf2 = NULL;
		size_t len, len2;
		char err[128];

		assert_int_equal(record_pack(rec, &buf, &len), WW_OK);
		assert_int_equal(
		    record_unpack(buf, len, &back, err, sizeof(err)), WW_OK);
		assert_int_equal(back->kind, k);
		assert_int_equal(back->seq, 42);
		assert_int_equal(back->time_ns, 1700000000123456789LL);
		assert_string_equal(back->gateway_id, "gw1");
		assert_int_equal(back->prev_hash.len, RECORD_HASH_LEN);
		if (k == WW__KIND__REQUEST) {
			assert_string_equal(back->message->texts[0]->text,
			                    "héllo 你好");
			assert_string_equal(back->message->recipients->users[1],
			                    "lisi");
			assert_int_equal(back->message->attachments[0]->size,
			                 1234);
			assert_int_equal(back->verdict->action,
			                 WW__ACTION__REDACT);
		}
		if (k == WW__KIND__OUTCOME)
			assert_int_equal(back->outcome->errcode, 81013);
		assert_int_equal(record_pack(back, &buf2, &len2), WW_OK);
		assert_int_equal(len, len2);
		assert_memory_equal(buf, buf2, len);
		free(buf);
		free(buf2);
		record_free(rec);
		record_free(back);
	}
}

static void
test_unpack_rejects(void **state)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0x0f, 0x12, 0x80};
	Ww__Record *rec, *out = (Ww__Record *)&out;
	uint8_t *buf;
	size_t len;
	char err[128];

	(void)state;
	assert_int_equal(record_unpack(garbage, RECORD_MAX_PACKED + 1u, &out,
	                               err, sizeof(err)),
	                 WW_ELIMIT);
	assert_null(out);
	assert_non_null(strstr(err, "exceeds"));
	assert_int_equal(record_unpack(garbage, 0, &out, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_int_equal(
	    record_unpack(garbage, sizeof(garbage), &out, err, sizeof(err)),
	    WW_ECORRUPT);
	assert_null(out);
	assert_true(strlen(err) > 0);

	rec = make_record(WW__KIND__REQUEST);
	rec->schema = 7;
	assert_int_equal(record_pack(rec, &buf, &len), WW_OK);
	assert_int_equal(record_unpack(buf, len, &out, err, sizeof(err)),
	                 WW_EVERSION);
	assert_null(out);
	assert_non_null(strstr(err, "schema version 7"));
	/* A truncated record is corrupt, whatever the cut. */
	for (size_t cut = 1; cut < len; cut += 3) {
		int rc = record_unpack(buf, len - cut, &out, err, sizeof(err));

		assert_true(rc == WW_ECORRUPT || rc == WW_EVERSION);
		assert_null(out);
	}
	free(buf);
	record_free(rec);
}

/* Flipping any byte never crashes; whatever unpacks frees cleanly. */
static void
test_unpack_bitflips(void **state)
{
	Ww__Record *rec = make_record(WW__KIND__REQUEST), *out;
	uint8_t *buf;
	size_t len;
	char err[128];

	(void)state;
	assert_int_equal(record_pack(rec, &buf, &len), WW_OK);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			buf[i] ^= (uint8_t)(1u << bit);
			rc = record_unpack(buf, len, &out, err, sizeof(err));
			assert_true(rc == WW_OK || rc == WW_ECORRUPT ||
			            rc == WW_EVERSION);
			assert_true((rc == WW_OK) == (out != NULL));
			record_free(out);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(buf);
	record_free(rec);
}

static void
test_message_copy(void **state)
{
	Ww__Message *msg = make_message(), *copy = NULL, *bare;
	uint8_t a[4096], b[4096];
	size_t la, lb;

	(void)state;
	assert_int_equal(message_copy(msg, &copy), WW_OK);
	assert_ptr_not_equal(copy, msg);
	assert_ptr_not_equal(copy->texts[0]->text, msg->texts[0]->text);
	la = ww__message__pack(msg, a);
	lb = ww__message__pack(copy, b);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	message_free(msg);
	message_free(copy);

	bare = message_new();
	assert_non_null(bare);
	assert_int_equal(message_copy(bare, &copy), WW_OK);
	assert_non_null(copy->recipients);
	message_free(bare);
	message_free(copy);
	message_free(NULL);
	record_free(NULL);
}

static void
test_setters(void **state)
{
	Ww__Record *rec = record_new(WW__KIND__REQUEST);

	(void)state;
	assert_int_equal(record_set_str(&rec->path, "/a"), WW_OK);
	assert_int_equal(record_set_str(&rec->path, "/b"), WW_OK);
	assert_string_equal(rec->path, "/b");
	assert_int_equal(record_set_strn(&rec->query, "k=v&x", 3), WW_OK);
	assert_string_equal(rec->query, "k=v");
	assert_int_equal(record_set_str(&rec->method, NULL), WW_OK);
	assert_string_equal(rec->method, "");
	assert_int_equal(record_set_bytes(&rec->forwarded_body, "x", 1), WW_OK);
	assert_int_equal(record_set_bytes(&rec->forwarded_body, "yz", 2),
	                 WW_OK);
	assert_int_equal(rec->forwarded_body.len, 2);
	record_free(rec);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(record_kind_name(WW__KIND__REQUEST), "REQUEST");
	assert_string_equal(record_kind_name(WW__KIND__CHECKPOINT),
	                    "CHECKPOINT");
	assert_string_equal(record_kind_name((Ww__Kind)99), "UNKNOWN");
	assert_int_equal(record_kind_parse("outcome"), WW__KIND__OUTCOME);
	assert_int_equal(record_kind_parse("Tunnel"), WW__KIND__TUNNEL);
	assert_int_equal(record_kind_parse("unspecified"), -1);
	assert_int_equal(record_kind_parse("nope"), -1);
	assert_int_equal(record_kind_parse(NULL), -1);
	assert_string_equal(record_action_name(WW__ACTION__BLOCK), "block");
	assert_string_equal(record_action_name((Ww__Action)9), "unknown");
	assert_int_equal(record_action_parse("REDACT"), WW__ACTION__REDACT);
	assert_int_equal(record_action_parse("allow"), WW__ACTION__ALLOW);
	assert_int_equal(record_action_parse("hold"), -1);
}

/* RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want..."). */
static void
test_secret_digest(void **state)
{
	static const char data[] = "what do ya want for nothing?";
	struct secret *s, *s2;
	char d[SECRET_DIGEST_LEN], d2[SECRET_DIGEST_LEN];

	(void)state;
	assert_int_equal(secret_new((const unsigned char *)"Jefe", 4, &s),
	                 WW_OK);
	secret_digest(s, data, strlen(data), d);
	assert_string_equal(d, "hmac:5bdcc146bf60754e6a042426089575c7");
	assert_int_equal(strlen(d), SECRET_DIGEST_LEN - 1);
	assert_int_equal(secret_new((const unsigned char *)"Jeff", 4, &s2),
	                 WW_OK);
	secret_digest(s2, data, strlen(data), d2);
	assert_string_not_equal(d, d2);
	secret_digest(s, "", 0, d2);
	assert_string_not_equal(d, d2);
	secret_free(s2);
	assert_int_equal(secret_new((const unsigned char *)"", 0, &s2),
	                 WW_EINVAL);
	assert_null(s2);
	secret_free(s);
	secret_free(NULL);
}

/*
 * secret_digest() reuses its contexts: every digest, whatever came before
 * it on the same context and from however many threads at once, is still
 * the RFC 4231 value (more rounds and threads than the secret keeps).
 */
#define RFC4231_2 "hmac:5bdcc146bf60754e6a042426089575c7"
#define REUSE_THREADS 12
#define REUSE_ROUNDS 200

static void *
secret_reuse_worker(void *arg)
{
	static const char data[] = "what do ya want for nothing?";
	const struct secret *s = arg;
	char d[SECRET_DIGEST_LEN], other[SECRET_DIGEST_LEN];
	intptr_t bad = 0;

	for (int i = 0; i < REUSE_ROUNDS; i++) {
		/* leave a context in a different state first */
		secret_digest(s, "other input..", 11 + (size_t)(i % 3), other);
		secret_digest(s, data, strlen(data), d);
		bad +=
		    strcmp(d, RFC4231_2) != 0 || strcmp(other, RFC4231_2) == 0;
	}
	return (void *)bad;
}

static void
test_secret_digest_reuse(void **state)
{
	struct secret *s;
	pthread_t t[REUSE_THREADS];
	void *bad;

	(void)state;
	assert_int_equal(secret_new((const unsigned char *)"Jefe", 4, &s),
	                 WW_OK);
	assert_null(secret_reuse_worker(s)); /* one thread: spares reused */
	for (int i = 0; i < REUSE_THREADS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, secret_reuse_worker, s), 0);
	for (int i = 0; i < REUSE_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	secret_free(s);
}

static void
test_secret_file(void **state)
{
	char dir[] = "/tmp/test_record.XXXXXX", path[256], err[256];
	struct secret *a = NULL, *b = NULL;
	char da[SECRET_DIGEST_LEN], db[SECRET_DIGEST_LEN];
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal.key", dir);
	assert_int_equal(secret_load_or_create(path, &a, err, sizeof(err)),
	                 WW_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, SECRET_KEY_LEN);
	assert_int_equal(secret_load_or_create(path, &b, err, sizeof(err)),
	                 WW_OK);
	secret_digest(a, "tok", 3, da);
	secret_digest(b, "tok", 3, db);
	assert_string_equal(da, db);
	secret_free(b);
	b = NULL;

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(secret_load_or_create(path, &b, err, sizeof(err)),
	                 WW_EPERM);
	assert_null(b);
	assert_non_null(strstr(err, "0640"));
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(secret_load_or_create(path, &b, err, sizeof(err)),
	                 WW_EPERM);

	/* A key of the wrong size is refused, not padded. */
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(secret_load_or_create(path, &b, err, sizeof(err)),
	                 WW_ECORRUPT);
	assert_null(b);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	secret_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_kinds),
	    cmocka_unit_test(test_unpack_rejects),
	    cmocka_unit_test(test_unpack_bitflips),
	    cmocka_unit_test(test_message_copy),
	    cmocka_unit_test(test_setters),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_secret_digest),
	    cmocka_unit_test(test_secret_digest_reuse),
	    cmocka_unit_test(test_secret_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
