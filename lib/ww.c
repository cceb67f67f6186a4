/* ww.c: error code descriptions. */
#include <stdarg.h>
#include <stdio.h>

#include "ww.h"

int
ww_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *
ww_strerror(int rc)
{
	switch (rc) {
	case WW_OK:
		return "success";
	case WW_ENOMEM:
		return "out of memory";
	case WW_EINVAL:
		return "invalid argument";
	case WW_EIO:
		return "input/output error";
	case WW_ENOSPC:
		return "no space left";
	case WW_EPARSE:
		return "malformed input";
	case WW_ENOTFOUND:
		return "not found";
	case WW_ECORRUPT:
		return "integrity check failed";
	case WW_ETIMEDOUT:
		return "timed out";
	case WW_EPERM:
		return "permission denied";
	case WW_ELIMIT:
		return "limit exceeded";
	case WW_EEXIST:
		return "already exists";
	case WW_EUPSTREAM:
		return "upstream failure";
	case WW_ECLOSED:
		return "shutting down";
	case WW_EVERSION:
		return "unsupported version";
	case WW_ECRYPTO:
		return "cryptographic check failed";
	}
	return "unknown error";
}
