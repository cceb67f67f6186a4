/* test_callback.c: decrypted callback XML into the message model. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "store/callback.h"

static struct secret *
t_key(void)
{
	static const unsigned char raw[SECRET_KEY_LEN] = {1, 2, 3};
	struct secret *s;

	assert_int_equal(secret_new(raw, sizeof(raw), &s), WW_OK);
	return s;
}

static Ww__Message *
t_decode(const char *xml, Ww__Direction dir, int want_rc)
{
	struct secret *key = t_key();
	Ww__Message *m = NULL;
	char err[200] = "";
	int rc;

	rc = callback_decode(key, (const uint8_t *)xml, strlen(xml), dir, &m,
	                     err, sizeof(err));
	if (rc != want_rc)
		fail_msg("rc %d (%s), want %d", rc, err, want_rc);
	assert_non_null(m);
	secret_free(key);
	return m;
}

static const char *
t_text(const Ww__Message *m, const char *path)
{
	for (size_t i = 0; i < m->n_texts; i++)
		if (strcmp(m->texts[i]->path, path) == 0)
			return m->texts[i]->text;
	return NULL;
}

static void
test_text(void **state)
{
	static const char xml[] =
	    "<xml>\n  <ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName>\n"
	    "  <FromUserName><![CDATA[zhangsan]]></FromUserName>\n"
	    "  <CreateTime>1700000123</CreateTime>\n"
	    "  <MsgType><![CDATA[text]]></MsgType>\n"
	    "  <Content><![CDATA[please send me the customer "
	    "list]]></Content>\n"
	    "  <MsgId>7302184419302312345</MsgId>\n"
	    "  <AgentID>1000002</AgentID>\n</xml>";
	Ww__Message *m = t_decode(xml, WW__DIRECTION__INBOUND, WW_OK);

	(void)state;
	assert_int_equal(m->direction, WW__DIRECTION__INBOUND);
	assert_string_equal(m->endpoint, "callback");
	assert_string_equal(m->msgtype, "text");
	assert_string_equal(m->sender, "zhangsan");
	assert_string_equal(m->corp_id, "ww0123456789abcdef");
	assert_int_equal(m->agent_id, 1000002);
	assert_int_equal(m->recipients->n_users, 1);
	assert_string_equal(m->recipients->users[0], "agent:1000002");
	assert_int_equal(m->n_texts, 1);
	assert_string_equal(t_text(m, "Content"),
	                    "please send me the customer list");
	assert_int_equal(m->body.len, strlen(xml));
	assert_memory_equal(m->body.data, xml, strlen(xml));
	assert_true(m->decode_error == NULL || m->decode_error[0] == '\0');
	message_free(m);
}

static void
test_media_types(void **state)
{
	Ww__Message *m;

	(void)state;
	m = t_decode("<xml><ToUserName>c</ToUserName><FromUserName>u"
	             "</FromUserName><MsgType>image</MsgType><PicUrl>"
	             "http://p/1.jpg</PicUrl><MediaId>MID1</MediaId></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_attachments, 1);
	assert_string_equal(m->attachments[0]->media_id, "MID1");
	assert_string_equal(m->attachments[0]->kind, "image");
	assert_string_equal(t_text(m, "PicUrl"), "http://p/1.jpg");
	assert_string_equal(m->recipients->users[0], "c");
	message_free(m);

	m = t_decode("<xml><MsgType>video</MsgType><MediaId>V</MediaId>"
	             "<ThumbMediaId>T</ThumbMediaId></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_attachments, 2);
	assert_string_equal(m->attachments[1]->kind, "thumb");
	assert_int_equal(m->n_texts, 0);
	message_free(m);

	m = t_decode("<xml><MsgType>location</MsgType><Location_X>23.1"
	             "</Location_X><Location_Y>113.3</Location_Y><Scale>20"
	             "</Scale><Label>Guangzhou Tower</Label><AppType>wxwork"
	             "</AppType></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_texts, 1);
	assert_string_equal(t_text(m, "Label"), "Guangzhou Tower");
	message_free(m);

	m = t_decode("<xml><MsgType>link</MsgType><Title>T</Title>"
	             "<Description>D</Description><Url>U</Url><PicUrl>P"
	             "</PicUrl></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_texts, 4);
	assert_string_equal(t_text(m, "Description"), "D");
	message_free(m);

	m = t_decode("<xml><MsgType>voice</MsgType><MediaId>A</MediaId>"
	             "<Format>amr</Format></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_attachments, 1);
	assert_string_equal(m->attachments[0]->kind, "voice");
	assert_int_equal(m->n_texts, 0);
	message_free(m);
}

static void
test_events(void **state)
{
	Ww__Message *m;
	char body[1024];

	(void)state;
	m = t_decode(
	    "<xml><ToUserName>corp</ToUserName><FromUserName>sys"
	    "</FromUserName><MsgType>event</MsgType><Event>"
	    "change_external_contact</Event><ChangeType>"
	    "add_external_contact</ChangeType><UserID>zhangsan</UserID>"
	    "<ExternalUserID>wmEXT</ExternalUserID><State>campaign 7"
	    "</State><WelcomeCode><![CDATA[SECRETWELCOME]]>"
	    "</WelcomeCode></xml>",
	    WW__DIRECTION__INBOUND, WW_OK);
	assert_string_equal(m->endpoint,
	                    "callback/event/change_external_contact");
	assert_string_equal(m->msgtype, "event");
	assert_int_equal(m->recipients->n_external_users, 1);
	assert_string_equal(m->recipients->external_users[0], "wmEXT");
	assert_int_equal(m->n_texts, 1);
	assert_string_equal(t_text(m, "State"), "campaign 7");
	assert_true(m->body.len < sizeof(body));
	memcpy(body, m->body.data, m->body.len);
	body[m->body.len] = '\0';
	assert_null(strstr(body, "SECRETWELCOME"));
	assert_non_null(strstr(body, "<WelcomeCode>hmac:"));
	assert_non_null(strstr(body, "</WelcomeCode></xml>"));
	message_free(m);

	m = t_decode("<xml><MsgType>event</MsgType><Event>kf_msg_or_event"
	             "</Event><Token>SYNCTOKEN</Token><OpenKfId>wkKF</OpenKfId>"
	             "</xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->recipients->n_kf_ids, 1);
	assert_int_equal(m->n_texts, 0);
	assert_null(memmem(m->body.data, m->body.len, "SYNCTOKEN", 9));
	message_free(m);

	m = t_decode("<xml><MsgType>event</MsgType><Event>template_card_event"
	             "</Event><EventKey>btn1</EventKey><TaskId>t1</TaskId>"
	             "<CardType>vote_interaction</CardType><ResponseCode>RC"
	             "</ResponseCode><SelectedItems><SelectedItem><QuestionKey>"
	             "q</QuestionKey><OptionIds><OptionId>o1</OptionId>"
	             "</OptionIds></SelectedItem></SelectedItems></xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_int_equal(m->n_texts, 0);
	assert_null(memmem(m->body.data, m->body.len, ">RC<", 4));
	message_free(m);

	m = t_decode("<xml><MsgType>event</MsgType><Event>click</Event>"
	             "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>"
	             "hello</ScanResult></ScanCodeInfo><ChatId>wrCHAT</ChatId>"
	             "</xml>",
	             WW__DIRECTION__INBOUND, WW_OK);
	assert_string_equal(t_text(m, "ScanCodeInfo.ScanResult"), "hello");
	assert_string_equal(m->recipients->chat_id, "wrCHAT");
	message_free(m);
}

static void
test_passive_reply(void **state)
{
	Ww__Message *m = t_decode(
	    "<xml><ToUserName>lisi</ToUserName><FromUserName>corp"
	    "</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
	    "<Content>on my way</Content></xml>",
	    WW__DIRECTION__OUTBOUND, WW_OK);

	(void)state;
	assert_int_equal(m->direction, WW__DIRECTION__OUTBOUND);
	assert_string_equal(m->recipients->users[0], "lisi");
	assert_string_equal(m->corp_id, "corp");
	assert_string_equal(t_text(m, "Content"), "on my way");
	message_free(m);
}

static void
test_hostile(void **state)
{
	static const char *bad[] = {
	    "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
	    "<xml><MsgType>text</MsgType><Content>&lol2;</Content></xml>",
	    "<!DOCTYPE xml SYSTEM \"file:///etc/passwd\"><xml><MsgType>t"
	    "</MsgType></xml>",
	    "<xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>",
	    "<root><MsgType>text</MsgType></root>",
	    "<xml><MsgType>text</MsgType>",
	    "<xml><Content>no type</Content></xml>",
	    "",
	    "<xml><MsgType>text</MsgType></xml><xml/>",
	};
	char deep[1024] = "<xml><MsgType>t</MsgType>";

	(void)state;
	for (size_t i = 0; i < WW_NELEM(bad); i++) {
		Ww__Message *m =
		    t_decode(bad[i], WW__DIRECTION__INBOUND, WW_EPARSE);
		assert_non_null(m->decode_error);
		assert_true(m->decode_error[0] != '\0');
		assert_int_equal(m->n_texts, 0);
		assert_int_equal(m->body.len, 0);
		message_free(m);
	}
	for (int i = 0; i < CALLBACK_MAX_DEPTH; i++)
		strcat(deep, "<a>");
	message_free(t_decode(deep, WW__DIRECTION__INBOUND, WW_EPARSE));
}

static void
test_limits(void **state)
{
	size_t n = CALLBACK_MAX_FIELDS + 1, len = 0;
	char *big = calloc(1, CALLBACK_MAX_XML + 2);
	struct secret *key = t_key();
	Ww__Message *m;

	(void)state;
	assert_non_null(big);
	len += (size_t)sprintf(big, "<xml><MsgType>t</MsgType>");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(big + len, "<a>x</a>");
	len += (size_t)sprintf(big + len, "</xml>");
	assert_int_equal(callback_decode(key, (uint8_t *)big, len,
	                                 WW__DIRECTION__INBOUND, &m, NULL, 0),
	                 WW_EPARSE);
	message_free(m);
	assert_int_equal(callback_decode(key, (uint8_t *)big,
	                                 CALLBACK_MAX_XML + 1,
	                                 WW__DIRECTION__INBOUND, &m, NULL, 0),
	                 WW_EPARSE);
	assert_non_null(strstr(m->decode_error, "bytes"));
	message_free(m);
	free(big);
	secret_free(key);
}

static void
test_envelope(void **state)
{
	static const char post[] =
	    "<xml><ToUserName><![CDATA[ww1]]></"
	    "ToUserName><AgentID><![CDATA[7]]>"
	    "</AgentID><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>";
	static const char reply[] =
	    "<xml><Encrypt><![CDATA[E]]></Encrypt><MsgSignature><![CDATA[S]]>"
	    "</MsgSignature><TimeStamp>123</TimeStamp><Nonce><![CDATA[N]]>"
	    "</Nonce></xml>";
	struct callback_envelope env;
	char err[100];

	(void)state;
	assert_int_equal(callback_parse_envelope((const uint8_t *)post,
	                                         strlen(post), &env, err,
	                                         sizeof(err)),
	                 WW_OK);
	assert_string_equal(env.to_user, "ww1");
	assert_string_equal(env.agent_id, "7");
	assert_string_equal(env.encrypt, "abc+/=");
	assert_null(env.msg_signature);
	callback_envelope_clear(&env);
	assert_int_equal(callback_parse_envelope((const uint8_t *)reply,
	                                         strlen(reply), &env, err,
	                                         sizeof(err)),
	                 WW_OK);
	assert_string_equal(env.msg_signature, "S");
	assert_string_equal(env.timestamp, "123");
	assert_string_equal(env.nonce, "N");
	callback_envelope_clear(&env);
	assert_int_equal(callback_parse_envelope((const uint8_t *)"<xml/>", 6,
	                                         &env, err, sizeof(err)),
	                 WW_EPARSE);
	assert_int_equal(
	    callback_parse_envelope((const uint8_t *)"<!DOCTYPE x><xml/>", 18,
	                            &env, err, sizeof(err)),
	    WW_EPARSE);
	assert_string_equal(err, "DOCTYPE refused");
}

static void
test_json(void **state)
{
	static const char sample[] =
	    "{\"ToUserName\":\"ww1\",\"FromUserName\":\"zhangsan\","
	    "\"CreateTime\":1409659813,\"MsgType\":\"text\",\"Content\":"
	    "\"hello\",\"MsgId\":\"4561255354251345929\",\"AgentID\":218}";
	static const char bot[] =
	    " {\"msgid\":\"m1\",\"aibotid\":\"bot1\",\"chatid\":\"c9\","
	    "\"chattype\":\"group\",\"from\":{\"userid\":\"lisi\"},"
	    "\"response_url\":\"https://x/cb?code=SECRETCODE\","
	    "\"msgtype\":\"text\",\"text\":{\"content\":\"hi bot\"}}";
	Ww__Message *m;

	(void)state;
	m = t_decode(sample, WW__DIRECTION__INBOUND, WW_OK);
	assert_string_equal(m->sender, "zhangsan");
	assert_string_equal(m->msgtype, "text");
	assert_int_equal(m->agent_id, 218);
	assert_int_equal(m->n_texts, 1);
	assert_string_equal(t_text(m, "Content"), "hello");
	assert_memory_equal(m->body.data, sample, strlen(sample));
	message_free(m);

	m = t_decode(bot, WW__DIRECTION__INBOUND, WW_OK);
	assert_string_equal(m->sender, "lisi");
	assert_string_equal(m->recipients->chat_id, "c9");
	assert_string_equal(m->recipients->users[0], "bot1");
	assert_int_equal(m->n_texts, 1);
	assert_string_equal(t_text(m, "text.content"), "hi bot");
	assert_null(memmem(m->body.data, m->body.len, "SECRETCODE", 10));
	assert_non_null(memmem(m->body.data, m->body.len, "hmac:", 5));
	message_free(m);

	message_free(t_decode("{\"MsgType\":\"a\",\"MsgType\":\"b\"}",
	                      WW__DIRECTION__INBOUND, WW_EPARSE));
	message_free(t_decode("{\"MsgType\":\"a\",\"x\":[[[[[[[[[[[[[[[[[[1]]]"
	                      "]]]]]]]]]]]]]]]}",
	                      WW__DIRECTION__INBOUND, WW_EPARSE));
	message_free(
	    t_decode("{\"MsgType\":", WW__DIRECTION__INBOUND, WW_EPARSE));
}

static void
test_json_envelope(void **state)
{
	static const char post[] =
	    "{\"tousername\":\"ww1\",\"encrypt\":\"E+/=\",\"agentid\":\"7\"}";
	static const char reply[] =
	    "{\"encrypt\":\"E\",\"msgsignature\":\"S\",\"timestamp\":"
	    "\"123\",\"nonce\":\"N\"}";
	struct callback_envelope env;

	(void)state;
	assert_int_equal(callback_parse_envelope((const uint8_t *)post,
	                                         strlen(post), &env, NULL, 0),
	                 WW_OK);
	assert_string_equal(env.to_user, "ww1");
	assert_string_equal(env.encrypt, "E+/=");
	assert_string_equal(env.agent_id, "7");
	callback_envelope_clear(&env);
	assert_int_equal(callback_parse_envelope((const uint8_t *)reply,
	                                         strlen(reply), &env, NULL, 0),
	                 WW_OK);
	assert_string_equal(env.msg_signature, "S");
	assert_string_equal(env.timestamp, "123");
	assert_string_equal(env.nonce, "N");
	callback_envelope_clear(&env);
	assert_int_equal(
	    callback_parse_envelope((const uint8_t *)"{}", 2, &env, NULL, 0),
	    WW_EPARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_media_types),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_passive_reply),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_json_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
