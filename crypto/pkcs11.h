/*
 * What callers outside crypto/ need of PKCS#11 URIs: a form safe to
 * print.  (Keys on tokens are loaded through keys.h.)
 */
#ifndef MFS_PKCS11_H
#define MFS_PKCS11_H

#include <stddef.h>

/* The attribute whose value is a secret, and what is shown instead. */
#define MFS_P11_PIN_ATTR	"pin-value="
#define MFS_P11_PIN_MASK	"***"

/* A malloc'd copy of text (a URI, an option, a message) in which the
 * value of every pin-value attribute reads "***"; NULL without memory. */
char *mfs_p11_redact(const char *text);

/* The same in place, for memory others read (the process's arguments):
 * the value becomes as many of "***" as fit, the rest of text moves up
 * and the bytes freed at its end become NUL. */
void mfs_p11_redact_in_place(char *text);

#endif
