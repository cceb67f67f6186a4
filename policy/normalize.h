/*
 * normalize.h: the text normalization that policies match against
 * (wwpolicy(5), "Normalization"), with a map back to the original bytes.
 *
 * Normalized text is Unicode NFKC with case folding (so full-width letters
 * and digits become ASCII, ligatures split, "Ａ" == "a"), with default
 * ignorable code points removed (zero-width spaces and joiners, bidi
 * controls, soft hyphen, BOM).  Invalid UTF-8 bytes become U+FFFD, so the
 * output is always valid UTF-8.  Every output byte remembers the original
 * bytes it came from, so a match in normalized text maps back to a span of
 * the input (for redaction and for showing hits).
 *
 * A second, "stripped" view (for keywords with ignore_separators) removes
 * separators from normalized text: every ASCII character that is not a
 * letter or digit, and Unicode spaces, punctuation, symbols (emoji too)
 * and control/format characters.  It maps back to offsets in the view it
 * was stripped from.
 *
 * A struct normalize is a reusable buffer (not thread-safe; one per thread),
 * grown as needed and kept between uses so the hot path does not allocate.
 * wwjournal's search may use normalize_str() to fold a query the same way.
 */
#ifndef WW_NORMALIZE_H
#define WW_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

struct normalize; /* opaque */

/* Inputs longer than this are refused with WW_ELIMIT (offsets are 32-bit). */
#define NORMALIZE_MAX_INPUT (256u << 20)

int normalize_new(struct normalize **out); /* WW_OK or WW_ENOMEM */
void normalize_free(struct normalize *n);  /* NULL is a no-op */
/* Forget the content, keep the memory. */
void normalize_reset(struct normalize *n);

/*
 * Append the normalization of s[0..len) to n.  The map of the appended
 * bytes gives offsets into s (each append has its own origin).  Returns
 * WW_OK, WW_ENOMEM or WW_ELIMIT.
 */
int normalize_append(struct normalize *n, const char *s, size_t len);
/* Append s[0..len) verbatim (e.g. a part separator), mapped to offset 0. */
int normalize_append_raw(struct normalize *n, const char *s, size_t len);
/*
 * Append the stripped view of src's bytes [start, end) (which must lie on
 * character boundaries) to n; n's map gives offsets into src's text.
 */
int normalize_append_stripped(struct normalize *n, const struct normalize *src,
                              size_t start, size_t end);

/* The normalized text so far (borrowed; valid until n changes), and size. */
const char *normalize_text(const struct normalize *n);
size_t normalize_len(const struct normalize *n);

/*
 * Map the normalized bytes [start, end) (start < end <= len) back to the
 * smallest span of the input [*ostart, *oend) that produced them: always
 * whole input characters.
 */
void normalize_span(const struct normalize *n, size_t start, size_t end,
                    size_t *ostart, size_t *oend);

/*
 * One-shot: normalize s[0..len) into a new NUL-terminated malloc'ed string
 * (*out, *outlen).  WW_OK, WW_ENOMEM, WW_ELIMIT.
 */
int normalize_str(const char *s, size_t len, char **out, size_t *outlen);

/*
 * Character classes used by matching, on code points of normalized text.
 * A "word" code point is a letter, digit or mark of a script written with
 * spaces (Latin, Cyrillic, Greek...); CJK ideographs, kana and Hangul are
 * not, so keywords match anywhere inside CJK text.
 */
int normalize_is_word(int32_t cp);
int normalize_is_separator(int32_t cp);
/*
 * Decode the UTF-8 character at s[i] (i < len) into *cp; returns its length
 * (1..4).  An invalid byte decodes as U+FFFD with length 1.
 */
size_t normalize_decode(const char *s, size_t len, size_t i, int32_t *cp);

#endif
