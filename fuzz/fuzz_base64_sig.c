/*
 * manifest.sig handling: the strict base64 decoder, then signature
 * verification of what it decoded against a fixed RSA-2048 key and a
 * fixed EC P-256 key (the two kinds Mender uses), over a fixed manifest.
 * Input that is not base64 is verified as a binary signature directly, so
 * the fuzzer also reaches the DER parser without going through base64.
 *
 * Properties: decoding is the inverse of encoding, "canonical" means the
 * encoder gives the text back exactly, and a signature over the wrong
 * bytes never verifies (no private half of either key exists anywhere).
 *
 * The keys are loaded once, in LLVMFuzzerInitialize, and never change: a
 * loaded key is immutable, so runs stay independent, and loading them for
 * every input would spend most of each run parsing PEM.  They stay
 * reachable until exit, so LeakSanitizer does not count them.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "crypto/base64.h"
#include "crypto/keys.h"
#include "crypto/verify.h"
#include "fuzz/fuzz_i.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char rsa_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmgsrJV6wEf7AFnqA/g19\n"
	"BkBsTyxvKO61gqyfWmoEHDlwGMS0tHePVgWYw9U27rlSe0Y8KsIQecFdzBnqxo5P\n"
	"y+hHsjwM54PwwqIAEvSElY54j8ZU7obP7NjizY//9zWPApDlwQDTVoU5hh6F9bJe\n"
	"qsx4x1hkYNZuwmjciJZ79su/QWmp8I73+z7/F4VVM0g9o6RsLhKI89XhDZjsFCTu\n"
	"fx9RWwnYzX9poPnY1QVSX2RORSLDlCJUfeKPxBxVgtZoToFoEYy/VVsC1XGJ1PZL\n"
	"Q5B+DKZLWtNYqk/HduGvz/K+F32jvifpgrd5AAur11RbL32aJO6g6lHhZsd7Rn4n\n"
	"KwIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static const char ec_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHT3/tSwmefmxVl3LjbNstizL9ldE\n"
	"BUizqTFRIcheDRGyOS3oH9nnvrnCgsZ/LDqkCUzLIXhsTXrfbVS/JpTINQ==\n"
	"-----END PUBLIC KEY-----\n";

/* What make-seeds.sh signs, with keys of its own. */
static const char manifest[] =
	"4ec2a4bb31e1aa1b6ef7a53e6ad5a1eaf0c0ab2fd2ec3d4fe1b2ab1e4e2e1a1d  "
	"data/0000/rootfs.img\n";

static struct mfs_key *keys[2];

static struct mfs_key *load_key(const char *pem)
{
	struct mfs_key *k = NULL;
	char path[64], err[256];
	int fd = fuzz_memfd((const uint8_t *)pem, strlen(pem));

	fuzz_fd_path(fd, path, sizeof(path));
	if (mfs_key_load_public(path, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot load the harness key: %s\n", err);
		abort();
	}
	close(fd);
	return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	keys[0] = load_key(rsa_pem);
	keys[1] = load_key(ec_pem);
	return 0;
}

/* decode(encode(bin)) is bin, and its text is canonical. */
static void check_round_trip(const uint8_t *bin, size_t len)
{
	uint8_t *back = NULL;
	size_t backlen = 0;
	bool canonical = false;
	char *text = NULL, err[256];

	FUZZ_CHECK(mfs_b64_encode(bin, len, &text) == 0);
	FUZZ_CHECK(strlen(text) == (len + 2) / 3 * 4);
	FUZZ_CHECK(mfs_b64_decode(text, strlen(text), &back, &backlen,
				  &canonical, err, sizeof(err)) == 0);
	FUZZ_CHECK(canonical);
	FUZZ_CHECK(backlen == len && memcmp(back, bin, len) == 0);
	free(back);
	free(text);
}

static void verify(const uint8_t *sig, size_t len)
{
	struct mfs_sig_attempt attempts[2];
	char err[MFS_SIG_REASON_LEN];
	uint8_t *stored = NULL;
	size_t stored_len = 0;
	int ret;

	for (size_t i = 0; i < 2; i++) {
		memset(err, 'x', sizeof(err));
		ret = mfs_sig_verify(keys[i], manifest, strlen(manifest),
				     sig, len, err, sizeof(err));
		/* Nobody holds the private halves: nothing verifies. */
		FUZZ_CHECK(ret == -EBADMSG);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
	}
	ret = mfs_sig_verify_any((const struct mfs_key *const *)keys, 2,
				 manifest, strlen(manifest), sig, len,
				 attempts, err, sizeof(err));
	FUZZ_CHECK(ret == -EBADMSG);
	FUZZ_CHECK(attempts[0].tried && attempts[1].tried);

	/* DER to raw r||s for the EC key, as a signature is stored. */
	ret = mfs_sig_to_stored(keys[1], sig, len, &stored, &stored_len);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_CHECK(stored_len == 64);
		ret = mfs_sig_verify(keys[1], manifest, strlen(manifest),
				     stored, stored_len, err, sizeof(err));
		FUZZ_CHECK(ret == -EBADMSG);
		free(stored);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sig = NULL;
	size_t siglen = 0;
	bool canonical = false;
	char *again = NULL, err[256];
	int ret;

	memset(err, 'x', sizeof(err));
	ret = mfs_b64_decode((const char *)data, size, &sig, &siglen,
			     &canonical, err, sizeof(err));
	if (ret < 0) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		verify(data, size);
		return 0;
	}
	FUZZ_CHECK(sig != NULL);
	FUZZ_CHECK(siglen <= size / 4 * 3);
	FUZZ_CHECK(mfs_b64_encode(sig, siglen, &again) == 0);
	if (canonical)
		FUZZ_CHECK(strlen(again) == size &&
			   memcmp(again, data, size) == 0);
	else
		FUZZ_CHECK(strlen(again) != size ||
			   memcmp(again, data, size) != 0);
	check_round_trip(sig, siglen);
	if (siglen > 0)
		verify(sig, siglen);
	free(again);
	free(sig);
	return 0;
}
