#!/usr/bin/env bash
# Makes the test data of this folder with the host's openssl (README.md): a throw-away
# certificate and key, never used anywhere but these tests, and protected settings encrypted
# for it. Running it again makes a new identity: the thumbprints in the tests change with it.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -keyout "$work/key.pem" \
  -out "$work/certificate.pem" -subj "/CN=dsvm-agent throw-away test identity (tests only)" 2>/dev/null
# An empty password: PFXImportCertStore takes L"".
openssl pkcs12 -export -in "$work/certificate.pem" -inkey "$work/key.pem" -passout pass: \
  -out throwaway-identity.pfx
openssl x509 -in "$work/certificate.pem" -outform DER -out throwaway-identity.cer
# Another certificate, without its key, to sit beside the identity in a store.
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -keyout "$work/other-key.pem" \
  -outform DER -out other-certificate.cer -subj "/CN=another throw-away certificate (tests only)" \
  2>/dev/null

# What the tests decrypt: AES-256 content encryption, as Azure sends it.
printf '%s' '{"storageAccountKey":"dGhyb3ctYXdheSB0ZXN0IGtleSwgbm90IGEgc2VjcmV0","registryKey":"throw-away-registry-key-for-tests-only-0123456789"}' \
  >settings.json
openssl cms -encrypt -binary -aes256 -outform DER -in settings.json -out settings.aes256.der \
  "$work/certificate.pem"
# CMS that is not EnvelopedData: the same text signed, not encrypted.
openssl cms -sign -binary -nodetach -outform DER -in settings.json -signer "$work/certificate.pem" \
  -inkey "$work/key.pem" -out settings.signed.der

echo "SHA-1   $(openssl x509 -in "$work/certificate.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')"
echo "SHA-256 $(openssl x509 -in "$work/certificate.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')"
