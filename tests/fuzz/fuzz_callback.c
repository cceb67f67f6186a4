/*
 * fuzz_callback.c: libFuzzer target for the callback path: envelope,
 * signature, decryption and the XML decoder.
 *
 * First byte picks the route: 0 decodes the rest as decrypted XML (both
 * directions); 1 reads it as a POST envelope, signs its Encrypt (so the
 * decryption is reached), opens and decodes; 2 encrypts the rest as a
 * message, opens it again and checks it round-trips, then decodes; 3
 * decrypts the rest as an Encrypt string.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "proxy/wxcrypt.h"
#include "store/callback.h"
#include "store/record.h"
#include "store/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode(const struct secret *key, const uint8_t *xml, size_t len,
       Ww__Direction dir)
{
	Ww__Message *m = NULL;
	char err[128];
	int rc = callback_decode(key, xml, len, dir, &m, err, sizeof(err));

	if (rc != WW_OK && rc != WW_EPARSE && rc != WW_ENOMEM)
		abort();
	if (rc != WW_ENOMEM && (m == NULL || m->direction != dir))
		abort();
	if (m != NULL) {
		Ww__Record *rec = record_new(WW__KIND__CALLBACK);
		uint8_t *buf;
		size_t n;

		if (rec != NULL) {
			rec->message = m;
			m = NULL;
			if (record_pack(rec, &buf, &n) == WW_OK)
				free(buf);
			record_free(rec);
		}
	}
	message_free(m);
}

static void
open_envelope(const struct wxcrypt *c, const struct secret *key,
              const uint8_t *data, size_t size)
{
	struct callback_envelope env;
	char sig[WXCRYPT_SIG_HEX + 1];
	uint8_t *msg;
	size_t ml;

	if (callback_parse_envelope(data, size, &env, NULL, 0) != WW_OK)
		return;
	if (wxcrypt_sign(c, "1700000000", "42", env.encrypt, sig) == WW_OK &&
	    wxcrypt_open(c, "1700000000", "42", env.encrypt, sig, &msg, &ml,
	                 NULL) == WW_OK) {
		decode(key, msg, ml, WW__DIRECTION__INBOUND);
		free(msg);
	}
	callback_envelope_clear(&env);
}

static void
round_trip(const struct wxcrypt *c, const struct secret *key,
           const uint8_t *data, size_t size)
{
	char *enc, sig[WXCRYPT_SIG_HEX + 1];
	uint8_t *msg;
	size_t ml;

	if (wxcrypt_encrypt(c, NULL, data, size, &enc) != WW_OK)
		return;
	if (wxcrypt_sign(c, "1", "2", enc, sig) != WW_OK ||
	    wxcrypt_open(c, "1", "2", enc, sig, &msg, &ml, NULL) != WW_OK ||
	    ml != size || (size > 0 && memcmp(msg, data, size) != 0))
		abort();
	decode(key, msg, ml, WW__DIRECTION__OUTBOUND);
	free(msg);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char raw[SECRET_KEY_LEN] = {7};
	struct secret *key = NULL;
	struct wxcrypt *c = NULL;
	uint8_t *msg;
	size_t ml;

	if (size < 1 || secret_new(raw, sizeof(raw), &key) != WW_OK)
		goto out;
	if (wxcrypt_new("tok123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
	                "ww0123456789abcdef", &c, NULL, 0) != WW_OK)
		goto out;
	switch (data[0] & 3) {
	case 0:
		decode(key, data + 1, size - 1, WW__DIRECTION__INBOUND);
		decode(key, data + 1, size - 1, WW__DIRECTION__OUTBOUND);
		break;
	case 1:
		open_envelope(c, key, data + 1, size - 1);
		break;
	case 2:
		round_trip(c, key, data + 1, size - 1);
		break;
	default:
		if (wxcrypt_decrypt(c, (const char *)data + 1, size - 1, &msg,
		                    &ml, NULL, NULL) == WW_OK)
			free(msg);
		break;
	}
out:
	wxcrypt_free(c);
	secret_free(key);
	return 0;
}
