/*
 * wecom_fixture.h: what the decoder's unit tests share (cmocka asserts on
 * failure, so callers get a value or the test stops).
 */
#ifndef WW_WECOM_FIXTURE_H
#define WW_WECOM_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "store/secret.h"

/* The journal key the tests digest with ("test-journal-key"). */
struct secret *fixture_key(void);

/* The whole file at path, NUL-terminated (malloc'ed); *len its size. */
uint8_t *fixture_read_file(const char *path, size_t *len);

#endif
