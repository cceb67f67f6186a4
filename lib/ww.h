/*
 * ww.h: what every wwgate module shares: the error codes.
 *
 * A function that can fail returns int: WW_OK (0) or one of the negative
 * WW_E* codes below; results travel through out-pointers.
 */
#ifndef WW_H
#define WW_H

#include <stddef.h>

enum ww_err {
	WW_OK = 0,
	WW_ENOMEM = -1,     /* out of memory */
	WW_EINVAL = -2,     /* invalid argument or configuration */
	WW_EIO = -3,        /* I/O error (errno says more) */
	WW_ENOSPC = -4,     /* no space left: disk or LMDB map */
	WW_EPARSE = -5,     /* malformed input */
	WW_ENOTFOUND = -6,  /* no such record, key or file */
	WW_ECORRUPT = -7,   /* stored data fails an integrity check */
	WW_ETIMEDOUT = -8,  /* a deadline passed */
	WW_EPERM = -9,      /* permissions refused (e.g. key file mode) */
	WW_ELIMIT = -10,    /* a configured size or count limit was hit */
	WW_EEXIST = -11,    /* already exists */
	WW_EUPSTREAM = -12, /* the upstream failed */
	WW_ECLOSED = -13,   /* the object is shutting down */
	WW_EVERSION = -14,  /* unsupported format or schema version */
	WW_ECRYPTO = -15,   /* a signature, MAC or decryption failed */
};

/* A short, static description of rc (never NULL). */
const char *ww_strerror(int rc);

/*
 * Write a reason (printf-style) to err[0..errlen), when err != NULL and
 * errlen > 0, and return rc: `return ww_fail(WW_EPARSE, err, errlen, ...)`.
 */
int ww_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define WW_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
