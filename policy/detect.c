/*
 * detect.c: the built-in DLP detectors (see detect.h for how patterns and
 * validators share the work).  Every validator reads only s[0..len) and
 * writes at most DETECT_CANON_MAX bytes of canon.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/detect.h"
#include "ww.h"

/* Longest digit string any numeric detector accepts (credit cards: 19). */
#define DIGITS_MAX 24

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static char
to_upper(char c)
{
	return is_lower(c) ? (char)(c - 'a' + 'A') : c;
}

/*
 * Copy s[0..len) to canon; a value too long for canon becomes its first
 * 100 bytes, '#' and a 64-bit FNV-1a of the whole, which still tells
 * distinct values apart.
 */
static void
canon_copy(const char *s, size_t len, int upper, char *canon)
{
	size_t n = len < DETECT_CANON_MAX ? len : 100;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		canon[i] = upper ? to_upper(s[i]) : s[i];
	canon[n] = '\0';
	if (n == len)
		return;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	snprintf(canon + n, DETECT_CANON_MAX - n, "#%016llx",
	         (unsigned long long)h);
}

/*
 * Collect the digits of s[0..len) into out (NUL-ended, at most max - 1).
 * Everything else must be separators of one kind (' ' or '-'), never two
 * in a row, never first or last.  Returns the digit count, or 0 when s is
 * not such a grouped number.
 */
static size_t
digits_grouped(const char *s, size_t len, char *out, size_t max)
{
	char sep = 0;
	size_t n = 0;

	if (len == 0 || !is_digit(s[0]) || !is_digit(s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (is_digit(s[i])) {
			if (n + 1 >= max)
				return 0;
			out[n++] = s[i];
			continue;
		}
		if ((s[i] != ' ' && s[i] != '-') || (sep != 0 && s[i] != sep) ||
		    !is_digit(s[i - 1]))
			return 0;
		sep = s[i];
	}
	out[n] = '\0';
	return n;
}

/* ISO/IEC 7812 Luhn (mod 10) over n ASCII digits, check digit last. */
static int
luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		if (i % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

static int
all_same(const char *d, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (d[i] != d[0])
			return 0;
	return 1;
}

/* Value of the n digits at d (n <= 9). */
static unsigned
num(const char *d, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(d[i] - '0');
	return v;
}

/*
 * Issuer ranges (IIN prefixes) of the card networks and their lengths:
 * a random 16-digit number passes Luhn one time in ten, the IIN table
 * cuts order numbers and timestamps further.
 */
static const struct iin {
	unsigned lo, hi;
	unsigned char digits, minlen, maxlen;
} iins[] = {
    {4, 4, 1, 13, 19},       /* Visa */
    {51, 55, 2, 16, 16},     /* Mastercard */
    {2221, 2720, 4, 16, 16}, /* Mastercard 2-series */
    {34, 34, 2, 15, 15},     /* American Express */
    {37, 37, 2, 15, 15},     /* American Express */
    {300, 305, 3, 14, 19},   /* Diners Club */
    {36, 36, 2, 14, 19},     /* Diners Club */
    {38, 39, 2, 14, 19},     /* Diners Club */
    {3528, 3589, 4, 16, 19}, /* JCB */
    {6011, 6011, 4, 16, 19}, /* Discover */
    {644, 649, 3, 16, 19},   /* Discover */
    {65, 65, 2, 16, 19},     /* Discover */
    {62, 62, 2, 16, 19},     /* UnionPay */
    {50, 50, 2, 12, 19},     /* Maestro */
    {56, 69, 2, 12, 19},     /* Maestro */
};

static int
card_iin_ok(const char *d, size_t n)
{
	for (size_t i = 0; i < WW_NELEM(iins); i++) {
		const struct iin *r = &iins[i];
		unsigned p = num(d, r->digits);
		if (p >= r->lo && p <= r->hi && n >= r->minlen &&
		    n <= r->maxlen)
			return 1;
	}
	return 0;
}

static int
validate_credit_card(const char *s, size_t len, char *canon)
{
	char d[DIGITS_MAX];
	size_t n = digits_grouped(s, len, d, sizeof(d));

	if (n < 13 || n > 19 || all_same(d, n) || !card_iin_ok(d, n) ||
	    !luhn_ok(d, n))
		return 0;
	canon_copy(d, n, 0, canon);
	return 1;
}

static int
validate_cn_bank_card(const char *s, size_t len, char *canon)
{
	char d[DIGITS_MAX];
	size_t n = digits_grouped(s, len, d, sizeof(d));

	if (n < 16 || n > 19 || d[0] != '6' || d[1] != '2' || !luhn_ok(d, n))
		return 0;
	canon_copy(d, n, 0, canon);
	return 1;
}

/* GB 11643 provinces (and 81-83: Hong Kong, Macao, Taiwan permits). */
static const unsigned char cn_provinces[] = {
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43,
    44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
};

static int
cn_region_ok(const char *d)
{
	unsigned prov = num(d, 2);

	for (size_t i = 0; i < WW_NELEM(cn_provinces); i++) {
		if (cn_provinces[i] != prov)
			continue;
		/* A city code of 00 is the province itself, never an ID's. */
		return prov >= 81 || num(d + 2, 2) != 0;
	}
	return 0;
}

/* A real calendar date from 1900 up to today (UTC+14 to be generous). */
static int
birth_date_ok(unsigned y, unsigned m, unsigned d)
{
	static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30,
	                                      31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	time_t now = time(NULL) + 14 * 3600;
	struct tm tm;

	if (y < 1900 || m < 1 || m > 12 || d < 1)
		return 0;
	if (d > mdays[m - 1] + (m == 2 && leap ? 1u : 0u))
		return 0;
	if (gmtime_r(&now, &tm) == NULL)
		return 1;
	return y * 10000 + m * 100 + d <=
	       (unsigned)(tm.tm_year + 1900) * 10000 +
	           (unsigned)(tm.tm_mon + 1) * 100 + (unsigned)tm.tm_mday;
}

/* GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits. */
static int
validate_cn_resident_id(const char *s, size_t len, char *canon)
{
	static const unsigned char w[17] = {7, 9, 10, 5,  8, 4, 2, 1, 6,
	                                    3, 7, 9,  10, 5, 8, 4, 2};
	unsigned sum = 0;

	if (len != 18)
		return 0;
	for (size_t i = 0; i < 17; i++) {
		if (!is_digit(s[i]))
			return 0;
		sum += w[i] * (unsigned)(s[i] - '0');
	}
	if (to_upper(s[17]) != "10X98765432"[sum % 11])
		return 0;
	if (!cn_region_ok(s) ||
	    !birth_date_ok(num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
		return 0;
	canon_copy(s, len, 1, canon);
	return 1;
}

/*
 * Third digit of mainland mobile numbers allotted per second digit
 * (MIIT numbering plan; bit k = 1[n]k is in use).
 */
static const unsigned short cn_mobile_third[10] = {
    [3] = 0x3ff, /* 130-139 */
    [4] = 0x3e0, /* 145-149 */
    [5] = 0x3ef, /* 150-153, 155-159 */
    [6] = 0x0e4, /* 162, 165-167 */
    [7] = 0x1ff, /* 170-178 */
    [8] = 0x3ff, /* 180-189 */
    [9] = 0x3ef, /* 190-193, 195-199 */
};

static int
validate_cn_mobile(const char *s, size_t len, char *canon)
{
	char d[12];
	size_t i = 0, n = 0, nsep = 0;
	char sep = 0;

	if (len >= 3 && memcmp(s, "+86", 3) == 0)
		i = 3;
	else if (len >= 4 && memcmp(s, "0086", 4) == 0)
		i = 4;
	if (i > 0 && i < len && (s[i] == ' ' || s[i] == '-'))
		i++;
	for (; i < len; i++) {
		if (is_digit(s[i])) {
			if (n == 11)
				return 0;
			d[n++] = s[i];
			continue;
		}
		/* 3-4-4 grouping only, one separator kind. */
		if ((s[i] != ' ' && s[i] != '-') || (n != 3 && n != 7) ||
		    !is_digit(s[i - 1]) || (sep != 0 && s[i] != sep))
			return 0;
		sep = s[i];
		nsep++;
	}
	if (n != 11 || (nsep != 0 && nsep != 2) || d[0] != '1' || d[1] < '3' ||
	    !(cn_mobile_third[d[1] - '0'] >> (d[2] - '0') & 1))
		return 0;
	canon_copy(d, n, 0, canon);
	return 1;
}

/* IBAN lengths per country (SWIFT IBAN registry). */
static const struct iban_country {
	char cc[3];
	unsigned char len;
} iban_countries[] = {
    {"ad", 24}, {"ae", 23}, {"al", 28}, {"at", 20}, {"az", 28}, {"ba", 20},
    {"be", 16}, {"bg", 22}, {"bh", 22}, {"bi", 27}, {"br", 29}, {"by", 28},
    {"ch", 21}, {"cr", 22}, {"cy", 28}, {"cz", 24}, {"de", 22}, {"dj", 27},
    {"dk", 18}, {"do", 28}, {"ee", 20}, {"eg", 29}, {"es", 24}, {"fi", 18},
    {"fk", 18}, {"fo", 18}, {"fr", 27}, {"gb", 22}, {"ge", 22}, {"gi", 23},
    {"gl", 18}, {"gr", 27}, {"gt", 28}, {"hr", 21}, {"hu", 28}, {"ie", 22},
    {"il", 23}, {"iq", 23}, {"is", 26}, {"it", 27}, {"jo", 30}, {"kw", 30},
    {"kz", 20}, {"lb", 28}, {"lc", 32}, {"li", 21}, {"lt", 20}, {"lu", 20},
    {"lv", 21}, {"ly", 25}, {"mc", 27}, {"md", 24}, {"me", 22}, {"mk", 19},
    {"mn", 20}, {"mr", 27}, {"mt", 31}, {"mu", 30}, {"ni", 28}, {"nl", 18},
    {"no", 15}, {"om", 23}, {"pk", 24}, {"pl", 28}, {"ps", 29}, {"pt", 25},
    {"qa", 29}, {"ro", 24}, {"rs", 22}, {"ru", 33}, {"sa", 24}, {"sc", 31},
    {"sd", 18}, {"se", 24}, {"si", 19}, {"sk", 24}, {"sm", 27}, {"so", 23},
    {"st", 25}, {"sv", 28}, {"tl", 23}, {"tn", 24}, {"tr", 26}, {"ua", 29},
    {"va", 22}, {"vg", 24}, {"xk", 20}, {"ye", 30},
};

static size_t
iban_length(const char *cc)
{
	for (size_t i = 0; i < WW_NELEM(iban_countries); i++)
		if (iban_countries[i].cc[0] == cc[0] &&
		    iban_countries[i].cc[1] == cc[1])
			return iban_countries[i].len;
	return 0;
}

/* ISO 13616: move the first four to the end, letters are 10..35, mod 97. */
static int
iban_mod97_ok(const char *c, size_t n)
{
	unsigned rem = 0;

	for (size_t k = 0; k < n; k++) {
		char ch = c[(k + 4) % n];
		if (is_digit(ch))
			rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
		else
			rem = (rem * 100 + (unsigned)(ch - 'a') + 10) % 97;
	}
	return rem == 1;
}

static int
validate_iban(const char *s, size_t len, char *canon)
{
	char c[40];
	size_t n = 0, group = 0;
	int spaced = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ') {
			/* The print form: groups of four, single spaces. */
			if (group != 4)
				return 0;
			spaced = 1;
			group = 0;
			continue;
		}
		if ((!is_digit(s[i]) && !is_lower(s[i])) || n == 34)
			return 0;
		c[n++] = s[i];
		group++;
	}
	if ((spaced && group > 4) || n < 15 || !is_lower(c[0]) ||
	    !is_lower(c[1]) || !is_digit(c[2]) || !is_digit(c[3]) ||
	    iban_length(c) != n || !iban_mod97_ok(c, n))
		return 0;
	canon_copy(c, n, 1, canon);
	return 1;
}

/* Domain labels: 1..63 chars, no '-' at either end, TLD letters only. */
static int
email_domain_ok(const char *s, size_t len)
{
	size_t lab = 0, labels = 0, tld = 0;

	if (len < 4 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			lab++;
			continue;
		}
		if (lab == 0 || lab > 63 || s[i - 1] == '-' ||
		    s[i - lab] == '-')
			return 0;
		labels++;
		tld = i - lab;
		lab = 0;
	}
	for (size_t i = tld; i < len; i++)
		if (!is_lower(s[i]))
			return 0;
	return labels >= 2 && len - tld >= 2;
}

static int
validate_email(const char *s, size_t len, char *canon)
{
	const char *at = memchr(s, '@', len);
	size_t local;

	if (at == NULL)
		return 0;
	local = (size_t)(at - s);
	if (memchr(at + 1, '@', len - local - 1) != NULL || local == 0 ||
	    local > 64 || !(is_lower(s[0]) || is_digit(s[0])) ||
	    s[local - 1] == '.')
		return 0;
	for (size_t i = 0; i + 1 < local; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
	if (!email_domain_ok(at + 1, len - local - 1))
		return 0;
	canon_copy(s, len, 0, canon);
	return 1;
}

/*
 * Dotted quad, each octet 0..255 written without leading zeros: "010"
 * means 8 to inet_aton and 10 to a person, so it is no address at all.
 */
static int
validate_ipv4(const char *s, size_t len, char *canon)
{
	size_t octets = 0, i = 0;

	while (i < len) {
		size_t start = i;
		while (i < len && is_digit(s[i]) && i - start < 4)
			i++;
		if (i == start || i - start > 3 ||
		    num(s + start, i - start) > 255 ||
		    (i - start > 1 && s[start] == '0'))
			return 0;
		if (++octets > 4)
			return 0;
		if (i < len && (s[i] != '.' || i + 1 == len))
			return 0;
		if (i < len)
			i++;
	}
	if (octets != 4)
		return 0;
	canon_copy(s, len, 0, canon);
	return 1;
}

/*
 * Length of the PEM line "-----<kw> LABEL-----" at s (LABEL ends in
 * "private key" or "private key block"), 0 when it is not one.  *label
 * and *labellen name the LABEL.
 */
static size_t
pem_line(const char *s, size_t len, const char *kw, const char **label,
         size_t *labellen)
{
	size_t kwlen = strlen(kw), i, n;

	if (len < 5 + kwlen + 5 || memcmp(s, "-----", 5) != 0 ||
	    memcmp(s + 5, kw, kwlen) != 0)
		return 0;
	i = 5 + kwlen;
	for (n = 0; i + n + 5 <= len; n++)
		if (memcmp(s + i + n, "-----", 5) == 0)
			break;
	if (i + n + 5 > len)
		return 0;
	*label = s + i;
	*labellen = n;
	if ((n >= 11 && memcmp(s + i + n - 11, "private key", 11) == 0) ||
	    (n >= 17 && memcmp(s + i + n - 17, "private key block", 17) == 0))
		return i + n + 5;
	return 0;
}

static int
validate_private_key(const char *s, size_t len, char *canon)
{
	const char *label, *endlabel;
	size_t labellen, endlen, head, tail, b64 = 0;

	head = pem_line(s, len, "begin ", &label, &labellen);
	if (head == 0)
		return 0;
	if (head < len) {
		/* A whole block: the END line closes the same label. */
		for (tail = len - 9; tail > head; tail--)
			if (memcmp(s + tail, "-----end ", 9) == 0)
				break;
		if (tail <= head ||
		    pem_line(s + tail, len - tail, "end ", &endlabel,
		             &endlen) != len - tail ||
		    endlen != labellen || memcmp(label, endlabel, endlen) != 0)
			return 0;
		for (size_t i = head; i < tail; i++)
			if (is_digit(s[i]) || is_lower(s[i]) || s[i] == '+' ||
			    s[i] == '/')
				b64++;
		if (b64 < 32)
			return 0;
	}
	/* One value per kind of key: a header and its block count once. */
	canon_copy(label, labellen, 1, canon);
	return 1;
}

/*
 * AWS access key ids: "akia" (long-term) or "asia" (STS) + 16 letters or
 * digits.  Most are base32, but AWS documents only "alphanumeric" (its own
 * examples hold 8s), so a narrower class could miss real keys.
 */
static int
validate_aws_access_key(const char *s, size_t len, char *canon)
{
	if (len != 20 ||
	    (memcmp(s, "akia", 4) != 0 && memcmp(s, "asia", 4) != 0))
		return 0;
	for (size_t i = 4; i < len; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]))
			return 0;
	canon_copy(s, len, 1, canon);
	return 1;
}

/*
 * PRC ordinary passports: E + 8 digits, E + letter (not I or O) + 7
 * digits (since 2017), G + 8 digits (older).  No check digit exists
 * outside the MRZ; an all-zero serial is a placeholder, not a passport.
 */
static int
validate_cn_passport(const char *s, size_t len, char *canon)
{
	size_t first;

	if (len != 9 || (s[0] != 'e' && s[0] != 'g'))
		return 0;
	first = is_lower(s[1]) ? 2 : 1;
	if (first == 2 && (s[0] != 'e' || s[1] == 'i' || s[1] == 'o'))
		return 0;
	for (size_t i = first; i < len; i++)
		if (!is_digit(s[i]))
			return 0;
	if (all_same(s + first, len - first) && s[first] == '0')
		return 0;
	canon_copy(s, len, 1, canon);
	return 1;
}

/*
 * US SSN, written AAA-GG-SSSS or AAA GG SSSS (a bare 9-digit run is too
 * common in Chinese text: QQ numbers, order ids).  SSA rules: area not
 * 000, 666 or 9xx; group not 00; serial not 0000; and not the numbers
 * that were printed in advertisements.
 */
static int
validate_us_ssn(const char *s, size_t len, char *canon)
{
	static const char *const published[] = {"078051120", "219099999",
	                                        "457555462"};
	char d[DIGITS_MAX];
	unsigned area;

	if (len != 11 || s[3] != s[6] ||
	    digits_grouped(s, len, d, sizeof(d)) != 9)
		return 0;
	area = num(d, 3);
	if (area == 0 || area == 666 || area >= 900 || num(d + 3, 2) == 0 ||
	    num(d + 5, 4) == 0)
		return 0;
	for (size_t i = 0; i < WW_NELEM(published); i++)
		if (memcmp(d, published[i], 9) == 0)
			return 0;
	canon_copy(d, 9, 0, canon);
	return 1;
}

/* Order: as documented in wwpolicy(5). */
static const struct detector detectors[] = {
    {"credit_card", "\\b[2-6][0-9](?:[ -]?[0-9]){11,17}\\b", 0,
     validate_credit_card,
     "payment card number, 13-19 digits, Luhn and issuer range"},
    {"cn_resident_id",
     "\\b[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
     "(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9x]\\b",
     0, validate_cn_resident_id,
     "PRC resident identity card number (GB 11643: region, birth date, "
     "MOD 11-2 check character)"},
    {"cn_mobile",
     "(?:\\+86[ -]?|\\b0086[ -]?|\\b)1[3-9][0-9](?:[ -]?[0-9]{4}){2}\\b", 0,
     validate_cn_mobile,
     "mainland China mobile number, optional +86/0086, 3-4-4 grouping"},
    {"cn_bank_card", "\\b62[0-9](?:[ -]?[0-9]){13,16}\\b", 0,
     validate_cn_bank_card, "UnionPay card number: 62, 16-19 digits, Luhn"},
    {"iban", "\\b[a-z]{2}[0-9]{2}(?:[ ]?[a-z0-9]){11,30}\\b", 0, validate_iban,
     "IBAN: country length table and ISO 13616 mod 97"},
    {"email",
     /*
      * Bounded on purpose: with start-of-match, an unbounded run before
      * the '@' (any word is a candidate start) scanned at 100-450 MB/s;
      * bounded it runs at GB/s.  Local parts are at most 64 (RFC 5321),
      * domains here at most 50 + TLD of 2-10 letters; larger bounds are
      * "Pattern is too large" for vectorscan.  No \\b before the local
      * part: the leftmost start already takes the whole run.
      */
     "[a-z0-9._%+-]{1,64}@[a-z0-9][a-z0-9.-]{0,48}\\.[a-z]{2,10}\\b", 0,
     validate_email, "e-mail address"},
    {"ipv4", "\\b[0-9]{1,3}(?:\\.[0-9]{1,3}){3}\\b", 0, validate_ipv4,
     "IPv4 address, octets 0-255 without leading zeros"},
    {"private_key",
     "-----begin (?:[a-z0-9]+ ){0,3}private key(?: block)?-----"
     "(?:[a-z0-9+/=\\s:,-]+-----end (?:[a-z0-9]+ ){0,3}private key"
     "(?: block)?-----)?",
     0, validate_private_key,
     "PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8, PGP): header or block"},
    {"aws_access_key", "\\b(?:akia|asia)[a-z0-9]{16}\\b", 0,
     validate_aws_access_key,
     "AWS access key id (AKIA/ASIA + 16 letters or digits)"},
    {"cn_passport", "\\b[eg][a-z0-9][0-9]{7}\\b", 0, validate_cn_passport,
     "PRC passport number: E/G + 8 digits or E + letter + 7 digits"},
    {"us_ssn", "\\b[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}\\b", 0,
     validate_us_ssn,
     "US social security number AAA-GG-SSSS (SSA area/group/serial rules)"},
};

size_t
detect_count(void)
{
	return WW_NELEM(detectors);
}

const struct detector *
detect_get(size_t i)
{
	return i < WW_NELEM(detectors) ? &detectors[i] : NULL;
}

const struct detector *
detect_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < WW_NELEM(detectors); i++)
		if (strcmp(detectors[i].name, name) == 0)
			return &detectors[i];
	return NULL;
}
