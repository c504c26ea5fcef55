/*
 * Keys on PKCS#11 tokens: the URI, the PIN, the choice between an
 * OpenSSL provider (through OSSL_STORE, in pkcs11_store.c) and OpenSSL's
 * ENGINE API with the "pkcs11" engine of libp11 (Debian:
 * libengine-pkcs11-openssl).
 *
 * ENGINE is deprecated in OpenSSL 3, but that engine is the PKCS#11
 * glue some distributions ship (Debian 12 packages no pkcs11 provider).
 * The deprecation warnings are silenced for this file only, which holds
 * every ENGINE call of the project.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#include "crypto/crypto_i.h"
#include "crypto/pkcs11.h"

#define P11_MAX_PIN 256

/* What the URI says that is ours to act on, and the rest for libp11. */
struct p11_uri {
	char *rest;		/* "pkcs11:" and the attributes libp11 reads */
	char *pin;		/* decoded, or NULL */
	char *pin_source;	/* decoded, or NULL */
	char *module;		/* decoded, or NULL */
};

static void p11_uri_clear(struct p11_uri *u)
{
	if (u->pin)
		OPENSSL_cleanse(u->pin, strlen(u->pin));
	free(u->pin);
	free(u->pin_source);
	free(u->module);
	free(u->rest);
	memset(u, 0, sizeof(*u));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Characters RFC 7512 wants %-escaped in a pin-value, which quoting,
 * option lists and logs would split it at: refused unescaped. */
#define PIN_VALUE_STOPS ",'\"` \t\r\n"

/* Decodes an RFC 3986 percent-encoded value of len characters. */
static int pct_decode(const char *s, size_t len, char **out)
{
	char *v;
	size_t i, n = 0;
	int hi, lo;

	v = malloc(len + 1);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			v[n++] = s[i];
			continue;
		}
		hi = i + 2 < len ? hexval(s[i + 1]) : -1;
		lo = i + 2 < len ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(v);
			return -EINVAL;
		}
		v[n++] = (char)(hi * 16 + lo);
		i += 2;
	}
	v[n] = '\0';
	*out = v;
	return 0;
}

/* Splits the URI at ';' (path attributes) and at '?' and '&' (query
 * attributes; RFC 7512 puts pin-value, pin-source and module-path
 * there, but they are often written as path attributes too, so both
 * are accepted).  Those three are taken out; the others are handed on
 * to libp11, which understands token, object, id, type and the like. */
static int p11_uri_parse(const char *uri, struct p11_uri *u,
			 char *err, size_t errlen)
{
	const char *p, *end, *eq;
	char **slot;
	size_t len, used = 7;
	int ret;

	memset(u, 0, sizeof(*u));
	len = strlen(uri);
	u->rest = malloc(len + 1);
	if (!u->rest) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(u->rest, "pkcs11:", 7);
	for (p = uri + 7; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ";?&");
		if (end == p)
			continue;
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq) {
			mfs_crypto_seterr(err, errlen,
					  "PKCS#11 URI attribute \"%.*s\" has no value",
					  (int)(end - p), p);
			ret = -EINVAL;
			goto out;
		}
		slot = NULL;
		if ((size_t)(eq - p) == 9 && !memcmp(p, "pin-value", 9))
			slot = &u->pin;
		else if ((size_t)(eq - p) == 10 && !memcmp(p, "pin-source", 10))
			slot = &u->pin_source;
		else if ((size_t)(eq - p) == 11 && !memcmp(p, "module-path", 11))
			slot = &u->module;
		else if ((size_t)(eq - p) == 11 && !memcmp(p, "module-name", 11)) {
			mfs_crypto_seterr(err, errlen,
					  "PKCS#11 URI attribute module-name is not supported; use module-path");
			ret = -EINVAL;
			goto out;
		}
		if (!slot) {
			if (used > 7)
				u->rest[used++] = ';';
			memcpy(u->rest + used, p, (size_t)(end - p));
			used += (size_t)(end - p);
			continue;
		}
		if (*slot) {
			mfs_crypto_seterr(err, errlen,
					  "PKCS#11 URI attribute %.*s given twice",
					  (int)(eq - p), p);
			ret = -EINVAL;
			goto out;
		}
		if (slot == &u->pin &&
		    strcspn(eq + 1, PIN_VALUE_STOPS) < (size_t)(end - eq - 1)) {
			mfs_crypto_seterr(err, errlen, "PKCS#11 URI pin-value "
					  "holds a character that must be "
					  "%%-escaped");
			ret = -EINVAL;
			goto out;
		}
		ret = pct_decode(eq + 1, (size_t)(end - eq - 1), slot);
		if (ret == -EINVAL)
			mfs_crypto_seterr(err, errlen,
					  "PKCS#11 URI attribute %.*s has a bad %%-escape",
					  (int)(eq - p), p);
		if (ret < 0)
			goto out;
	}
	u->rest[used] = '\0';
	if (u->pin && u->pin_source) {
		mfs_crypto_seterr(err, errlen,
				  "PKCS#11 URI has both pin-value and pin-source");
		ret = -EINVAL;
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		p11_uri_clear(u);
	return ret;
}

/* Reads the PIN from the file pin-source names ("file:" prefix
 * optional), without its line end. */
static int read_pin_source(const char *source, char **pin,
			   char *err, size_t errlen)
{
	char buf[P11_MAX_PIN + 2];
	const char *path = source;
	ssize_t n;
	int fd = -1, ret;

	if (strncmp(path, "file:", 5) == 0)
		path += 5;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		mfs_crypto_seterr_errno(err, errlen, -ret,
					"cannot open the PKCS#11 pin-source");
		goto out;
	}
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = -errno;
		mfs_crypto_seterr_errno(err, errlen, -ret,
					"cannot read the PKCS#11 pin-source");
		goto out;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if ((size_t)n > P11_MAX_PIN || strlen(buf) != (size_t)n) {
		mfs_crypto_seterr(err, errlen,
				  "the PKCS#11 pin-source does not hold a PIN");
		ret = -EINVAL;
		goto out;
	}
	*pin = strdup(buf);
	ret = *pin ? 0 : -ENOMEM;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return ret;
}

/* An initialised pkcs11 engine.  The module comes from the URI, else
 * PKCS11_MODULE_PATH, else libp11's default.  ENGINE_by_id hands out
 * one engine per process, and a PKCS#11 module is per process too
 * (C_Initialize/C_Finalize): the first module loaded is the one every
 * later key of the process comes from. */
static int engine_start(const char *module, const char *pin, ENGINE **out,
			char *err, size_t errlen)
{
	ENGINE *e = NULL;
	bool inited = false;
	int ret;

	/* ENGINE_by_id finds the engine in OpenSSL's engines directory
	 * (or $OPENSSL_ENGINES), so no path is wired in here. */
	e = ENGINE_by_id("pkcs11");
	if (!e) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "the OpenSSL pkcs11 engine is not available (libengine-pkcs11-openssl)");
		ret = -ENOPKG;
		goto out;
	}
	/* libp11 prints some failures to stderr unless told not to; we
	 * report them ourselves.  Old versions lack QUIET: no matter. */
	if (ENGINE_ctrl_cmd(e, "QUIET", 0, NULL, NULL, 0) != 1)
		ERR_clear_error();
	/* Loading a certificate logs in through the engine's own user
	 * interface, which would prompt on the terminal when no PIN was
	 * given: fail instead, as the private key load does. */
	if (ENGINE_ctrl_cmd(e, "SET_USER_INTERFACE", 0, (void *)UI_null(),
			    NULL, 0) != 1)
		ERR_clear_error();
	if (module && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "the pkcs11 engine refused the module path");
		ret = -EIO;
		goto out;
	}
	if (pin && ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "the pkcs11 engine refused the PIN");
		ret = -EIO;
		goto out;
	}
	if (ENGINE_init(e) != 1) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "cannot initialise the pkcs11 engine");
		ret = -EIO;
		goto out;
	}
	inited = true;

	*out = e;
	e = NULL;
	ret = 0;
out:
	if (e && inited)
		ENGINE_finish(e);
	ENGINE_free(e);
	return ret;
}

/* The value of attribute name among those handed on to libp11 (rest is
 * "pkcs11:" and attributes joined by ';'), or NULL. */
static const char *uri_attr(const char *rest, const char *name, size_t *len)
{
	size_t n = strlen(name);
	const char *p, *end;

	for (p = rest + 7; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > n && !memcmp(p, name, n) && p[n] == '=') {
			*len = (size_t)(end - p) - n - 1;
			return p + n + 1;
		}
	}
	return NULL;
}

static int engine_load_private(ENGINE *e, const char *rest, EVP_PKEY **out,
			       char *err, size_t errlen)
{
	EVP_PKEY *pkey;

	/* UI_null: with no PIN given, fail rather than prompt on a
	 * terminal a daemon may not have.  The engine API predates const;
	 * it only reads the method. */
	pkey = ENGINE_load_private_key(e, rest, (UI_METHOD *)UI_null(), NULL);
	if (!pkey) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "cannot load the private key from the PKCS#11 token (wrong PIN, token or object?)");
		return -ENOENT;
	}
	*out = pkey;
	return 0;
}

/* A public key object, else a certificate's key: libp11 loads each
 * kind through its own call.  type=public or type=cert in the URI keeps
 * to that kind. */
static int engine_load_public(ENGINE *e, const char *rest, EVP_PKEY **out,
			      char *err, size_t errlen)
{
	/* The parameter block of libp11's LOAD_CERT_CTRL. */
	struct {
		const char *s_slot_cert_id;
		X509 *cert;
	} params = { rest, NULL };
	bool want_pub = true, want_cert = true;
	EVP_PKEY *pkey = NULL;
	const char *type;
	size_t tlen = 0;

	type = uri_attr(rest, "type", &tlen);
	if (type) {
		want_pub = tlen == 6 && !memcmp(type, "public", 6);
		want_cert = tlen == 4 && !memcmp(type, "cert", 4);
		if (!want_pub && !want_cert) {
			mfs_crypto_seterr(err, errlen,
					  "PKCS#11 URI type=%.*s is not a public key or certificate (type=public or type=cert)",
					  (int)tlen, type);
			return -EINVAL;
		}
	}
	if (want_pub) {
		pkey = ENGINE_load_public_key(e, rest, (UI_METHOD *)UI_null(),
					      NULL);
		if (pkey)
			goto found;
		/* Not a public key object: maybe a certificate. */
		if (want_cert)
			ERR_clear_error();
	}
	if (want_cert &&
	    ENGINE_ctrl_cmd(e, "LOAD_CERT_CTRL", 0, &params, NULL, 1) == 1 &&
	    params.cert) {
		pkey = X509_get_pubkey(params.cert);
		X509_free(params.cert);
		if (pkey)
			goto found;
	}
	mfs_crypto_seterr_ossl(err, errlen,
			       "no %s object on the PKCS#11 token matches (wrong token or object?)",
			       want_pub && want_cert ? "public key or certificate" :
			       want_pub ? "public key" : "certificate");
	return -ENOENT;
found:
	ERR_clear_error();
	*out = pkey;
	return 0;
}

enum p11_backend {
	P11_ENGINE,
	P11_PROVIDER,
};

/* Providers first: an OpenSSL provider that handles the pkcs11 scheme
 * (pkcs11-provider, loaded by openssl.cnf) serves the key through
 * OSSL_STORE, with the module its configuration names.  A module named
 * for this key (module-path, PKCS11_MODULE_PATH) is a choice only the
 * engine can follow, as it loads the module it is told, so then the
 * engine goes first.  The reason goes to why, for the debug log. */
static enum p11_backend p11_choose(const char *module, bool module_in_uri,
				   bool *have_provider, char *why, size_t len)
{
	char prov[64] = "";

	*have_provider = mfs_p11_store_available(prov, sizeof(prov));
	if (!*have_provider) {
		snprintf(why, len,
			 "no OpenSSL provider handles pkcs11: URIs (none loaded by openssl.cnf): using the pkcs11 engine");
		return P11_ENGINE;
	}
	if (module) {
		snprintf(why, len,
			 "%s names the PKCS#11 module, which only the pkcs11 engine loads per key (the provider \"%s\" uses the module openssl.cnf gives it): using the pkcs11 engine",
			 module_in_uri ? "the URI's module-path" : "PKCS11_MODULE_PATH",
			 prov);
		return P11_ENGINE;
	}
	snprintf(why, len,
		 "the OpenSSL provider \"%s\" handles pkcs11: URIs: using it through OSSL_STORE",
		 prov);
	return P11_PROVIDER;
}

int mfs_p11_load(const char *uri, enum mfs_p11_object what, struct mfs_key *k,
		 char *err, size_t errlen)
{
	struct p11_uri u = { 0 };
	enum p11_backend backend;
	EVP_PKEY *pkey = NULL;
	bool have_provider;
	ENGINE *e = NULL;
	char *pin = NULL;
	const char *module;
	size_t used;
	int ret;

	ERR_clear_error();
	if (strncasecmp(uri, "pkcs11:", 7) != 0) {
		mfs_crypto_seterr(err, errlen, "not a pkcs11: URI");
		ret = -EINVAL;
		goto out;
	}
	ret = p11_uri_parse(uri, &u, err, errlen);
	if (ret < 0)
		goto out;
	if (u.pin_source) {
		ret = read_pin_source(u.pin_source, &pin, err, errlen);
		if (ret < 0)
			goto out;
	}
	module = u.module ? u.module : getenv("PKCS11_MODULE_PATH");
	/* libp11 would only say "failed loading private key"; and once a
	 * module is loaded, the engine keeps it whatever path comes next,
	 * so a wrong path would go unnoticed after the first key. */
	if (module && access(module, R_OK) < 0) {
		ret = -errno;
		mfs_crypto_seterr_errno(err, errlen, -ret,
					"cannot use the PKCS#11 module");
		goto out;
	}
	backend = p11_choose(module, u.module != NULL, &have_provider,
			     k->backend_why, sizeof(k->backend_why));
	if (backend == P11_ENGINE) {
		ret = engine_start(module, pin ? pin : u.pin, &e, err, errlen);
		if (ret == -ENOPKG && have_provider) {
			/* Better the provider's module than no key. */
			used = strlen(k->backend_why);
			snprintf(k->backend_why + used,
				 sizeof(k->backend_why) - used,
				 "; but the engine is not installed: using the provider");
			backend = P11_PROVIDER;
		} else if (ret < 0) {
			goto out;
		}
	}
	if (backend == P11_PROVIDER)
		ret = mfs_p11_store_load(u.rest, pin ? pin : u.pin, what,
					 &pkey, err, errlen);
	else if (what == MFS_P11_PRIVATE)
		ret = engine_load_private(e, u.rest, &pkey, err, errlen);
	else
		ret = engine_load_public(e, u.rest, &pkey, err, errlen);
	if (ret < 0)
		goto out;
	k->name = strdup(u.rest);
	if (!k->name) {
		ret = -ENOMEM;
		goto out;
	}

	k->pkey = pkey;
	pkey = NULL;
	k->engine = e;
	e = NULL;
	k->backend = backend == P11_PROVIDER ? "provider" : "engine";
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	mfs_p11_release(e);
	if (pin) {
		OPENSSL_cleanse(pin, strlen(pin));
		free(pin);
	}
	p11_uri_clear(&u);
	return ret;
}

void mfs_p11_release(ENGINE *engine)
{
	if (!engine)
		return;
	ENGINE_finish(engine);
	ENGINE_free(engine);
}

/* Where a pin-value's value ends for redaction: at the URI's separators,
 * a line break, or the quote a message closes it with.  Not at a blank
 * or the ',' of a -o option: a PIN that held one (p11_uri_parse()
 * refuses it, but the refusal quotes the URI) would show its tail, and
 * masking the rest of an option list instead costs nothing. */
static size_t pin_value_len(const char *value)
{
	return strcspn(value, ";?&'\"`\r\n");
}

char *mfs_p11_redact(const char *text)
{
	const size_t alen = strlen(MFS_P11_PIN_ATTR);
	const size_t mlen = strlen(MFS_P11_PIN_MASK);
	size_t count = 0, len = strlen(text);
	const char *p;
	char *out, *o;

	for (p = text; (p = strstr(p, MFS_P11_PIN_ATTR)); p += alen)
		count++;
	out = malloc(len + count * mlen + 1);
	if (!out)
		return NULL;
	for (o = out, p = text; *p;) {
		const char *hit = strstr(p, MFS_P11_PIN_ATTR);
		size_t keep = hit ? (size_t)(hit - p) + alen : strlen(p);

		memcpy(o, p, keep);
		o += keep;
		p += keep;
		if (!hit)
			break;
		memcpy(o, MFS_P11_PIN_MASK, mlen);
		o += mlen;
		p += pin_value_len(p);
	}
	*o = '\0';
	return out;
}

void mfs_p11_redact_in_place(char *text)
{
	const size_t alen = strlen(MFS_P11_PIN_ATTR);
	char *p = text, *end = text + strlen(text);

	while ((p = strstr(p, MFS_P11_PIN_ATTR))) {
		size_t vlen, shown;

		p += alen;
		vlen = pin_value_len(p);
		shown = vlen < strlen(MFS_P11_PIN_MASK) ? vlen :
			strlen(MFS_P11_PIN_MASK);
		memcpy(p, MFS_P11_PIN_MASK, shown);
		/* The rest moves up over the PIN's last characters, and
		 * what it leaves at the end is zeroed, not left readable. */
		memmove(p + shown, p + vlen, (size_t)(end - (p + vlen)) + 1);
		memset(end - (vlen - shown), 0, vlen - shown);
		end -= vlen - shown;
		p += shown;
	}
}
