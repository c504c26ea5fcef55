#!/bin/bash
# make_fixtures.sh OUTDIR
#
# Makes the keys, signatures, artifacts and the SoftHSM token that
# check_crypto reads, with the real tools: openssl, mender-artifact,
# softhsm2-util and pkcs11-tool (OpenSC).  OUTDIR is emptied first.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
for tool in openssl mender-artifact softhsm2-util pkcs11-tool tar; do
	command -v "$tool" >/dev/null || { echo "$0: $tool is needed" >&2; exit 1; }
done
module=${SOFTHSM2_MODULE:-}
if [ -z "$module" ]; then
	for m in /usr/lib/softhsm/libsofthsm2.so \
		 /usr/lib/*/softhsm/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
		 /usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -f "$m" ]; then module=$m; break; fi
	done
fi
[ -n "$module" ] || { echo "$0: libsofthsm2.so not found (set SOFTHSM2_MODULE)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
cd "$out"
umask 077

# Private keys in every format we load.
openssl genrsa -traditional -out rsa2048.pkcs1.pem 2048 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in rsa2048.pkcs1.pem -out rsa2048.pkcs8.pem
openssl genrsa -traditional -out rsa2048b.pkcs1.pem 2048 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rsa3072.pkcs8.pem 2>/dev/null
openssl rsa -traditional -in rsa3072.pkcs8.pem -out rsa3072.pkcs1.pem 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout -out ec256.sec1.pem
openssl pkcs8 -topk8 -nocrypt -in ec256.sec1.pem -out ec256.pkcs8.pem
openssl ecparam -genkey -name prime256v1 -noout -out ec256b.sec1.pem
# With the "EC PARAMETERS" block ecparam writes without -noout.
openssl ecparam -genkey -name prime256v1 -out ec256p.params.pem

# Keys we refuse: rsa1024 for signing (we verify with its public half, as
# Mender's tools do), rsa512 for anything.
openssl genrsa -traditional -out rsa1024.pem 1024 2>/dev/null
openssl genrsa -traditional -out rsa512.pem 512 2>/dev/null
openssl ecparam -genkey -name secp384r1 -noout -out ec384.pem
openssl genpkey -algorithm ed25519 -out ed25519.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret \
	-in ec256.sec1.pem -out encrypted.pem
openssl req -x509 -new -key rsa2048.pkcs1.pem -subj /CN=menderfs -days 1 \
	-out cert.pem
head -c 600 /dev/urandom >garbage.pem
: >empty.pem
cp rsa2048.pkcs1.pem rsa2048.loose.pem
chmod 0644 rsa2048.loose.pem

# Public keys: SPKI for all, PKCS#1 for one RSA key.
for k in rsa2048.pkcs1 rsa2048b.pkcs1 rsa3072.pkcs8 ec256.sec1 ec256b.sec1 \
	 ec256p.params rsa1024 rsa512 ec384 ed25519; do
	openssl pkey -in "$k.pem" -pubout -out "${k%%.*}.pub.pem"
done
openssl rsa -in rsa2048.pkcs1.pem -RSAPublicKey_out -out rsa2048.rsapub.pem 2>/dev/null

# A message and openssl's signatures of it (ECDSA in DER).
{ echo "menderfs crypto fixture"; head -c 4000 /dev/urandom; } >msg.bin
openssl dgst -sha256 -sign rsa2048.pkcs1.pem -out msg.rsa2048.sig msg.bin
openssl dgst -sha256 -sign rsa3072.pkcs1.pem -out msg.rsa3072.sig msg.bin
openssl dgst -sha256 -sign rsa1024.pem -out msg.rsa1024.sig msg.bin
openssl dgst -sha256 -sign ec256.sec1.pem -out msg.ec256.der msg.bin

# Artifacts signed by mender-artifact (PKCS#1 RSA and SEC1 EC keys), and
# their raw manifest and manifest.sig.
head -c 65536 /dev/urandom >rootfs.ext4
for k in rsa2048.pkcs1 ec256.sec1; do
	name=${k%%.*}
	if ! mender-artifact write rootfs-image -t qemux86-64 -n "release-$name" \
		-f rootfs.ext4 -o "$name.mender" -k "$k.pem" >mender.log 2>&1; then
		cat mender.log >&2
		exit 1
	fi
	mender-artifact validate -k "$name.pub.pem" "$name.mender" >mender.log 2>&1 ||
		{ cat mender.log >&2; exit 1; }
	tar -xOf "$name.mender" manifest >"$name.mender.manifest"
	tar -xOf "$name.mender" manifest.sig >"$name.mender.sig"
done
rm -f mender.log

# A SoftHSM2 token holding the RSA 2048 and EC P-256 keys above (private
# and public objects), and an RSA 1024 key for the refusal.
mkdir -p softhsm/tokens
cat >softhsm/softhsm2.conf <<CONF
directories.tokendir = $PWD/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$PWD/softhsm/softhsm2.conf
echo "$module" >softhsm/module
echo 1234 >softhsm/pin
softhsm2-util --init-token --free --label menderfs --pin 1234 --so-pin 4321 >/dev/null
p11() {
	pkcs11-tool --module "$module" --login --pin 1234 "$@" >/dev/null 2>&1 ||
		{ echo "$0: pkcs11-tool $* failed" >&2; exit 1; }
}
id=1
for pair in rsa2048.pkcs1:rsa ec256.sec1:ec rsa1024:rsa1024; do
	k=${pair%%:*}
	label=${pair##*:}
	openssl pkey -in "$k.pem" -outform DER -out "softhsm/$label.der"
	openssl pkey -in "$k.pem" -pubout -outform DER -out "softhsm/$label.pub.der"
	p11 --write-object "softhsm/$label.der" --type privkey --id "0$id" --label "$label"
	p11 --write-object "softhsm/$label.pub.der" --type pubkey --id "0$id" --label "$label"
	rm -f "softhsm/$label.der"
	id=$((id + 1))
done
