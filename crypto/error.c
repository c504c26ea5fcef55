/*
 * Reasons for the caller.  Core functions never print: they return a
 * negative errno and one line of text, and the caller decides where it
 * goes (the terminal at start-up, the log once mounted).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "crypto/crypto_i.h"

static void vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (!err || errlen == 0)
		return;
	vsnprintf(err, errlen, fmt, ap);
}

void mfs_crypto_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(err, errlen, fmt, ap);
	va_end(ap);
}

void mfs_crypto_seterr_ossl(char *err, size_t errlen, const char *fmt, ...)
{
	const char *reason = NULL;
	unsigned long e;
	size_t used;
	va_list ap;

	/* The last error is the one nearest the failure we report. */
	e = ERR_peek_last_error();
	if (e)
		reason = ERR_reason_error_string(e);
	va_start(ap, fmt);
	vseterr(err, errlen, fmt, ap);
	va_end(ap);
	if (err && errlen > 0 && reason) {
		used = strlen(err);
		if (used < errlen)
			snprintf(err + used, errlen - used, ": %s", reason);
	}
	ERR_clear_error();
}

void mfs_crypto_seterr_errno(char *err, size_t errlen, int errnum,
			     const char *what)
{
	char buf[128];

	/* GNU strerror_r (the project builds with _GNU_SOURCE): it may
	 * return a static string instead of filling buf; both are safe
	 * across threads, unlike strerror(). */
	mfs_crypto_seterr(err, errlen, "%s: %s", what,
			  strerror_r(errnum, buf, sizeof(buf)));
}
