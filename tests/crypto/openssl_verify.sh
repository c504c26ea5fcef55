#!/bin/bash
# openssl_verify.sh PUBKEY MESSAGE SIGNATURE.b64
#
# Checks a signature in Mender's shape (base64; ECDSA as raw r||s) with
# the openssl and coreutils tools alone, independently of our code: the
# r||s halves become DER through `openssl asn1parse -genconf`.
set -euo pipefail

pub=$1 msg=$2 sig=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base64 -d "$sig" >"$tmp/sig"
if openssl pkey -pubin -in "$pub" -noout -text | grep -q 'ASN1 OID: prime256v1'; then
	size=$(stat -c %s "$tmp/sig")
	if [ "$size" -ne 64 ]; then
		echo "ECDSA signature of $size bytes, not 64" >&2
		exit 1
	fi
	r=$(head -c 32 "$tmp/sig" | od -An -v -tx1 | tr -d ' \n')
	s=$(tail -c 32 "$tmp/sig" | od -An -v -tx1 | tr -d ' \n')
	printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' \
		"$r" "$s" >"$tmp/conf"
	openssl asn1parse -genconf "$tmp/conf" -noout -out "$tmp/sig.der"
	mv "$tmp/sig.der" "$tmp/sig"
fi
openssl dgst -sha256 -verify "$pub" -signature "$tmp/sig" "$msg" >/dev/null
