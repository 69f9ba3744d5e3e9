#!/usr/bin/env bash
# Regenerates the private-key fixtures with OpenSSL 3 (tested with 3.0.19). Every encrypted file
# uses the password "changeit". Run from anywhere: ./gen.sh
set -euo pipefail
cd "$(dirname "$0")"
P=pass:changeit
rm -f *.pem

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pkcs8.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pkcs8.pem
openssl genpkey -algorithm ED25519 -out ed25519.pkcs8.pem

# a self-signed certificate matching rsa.pkcs8.pem, so tests can pair key and certificate
openssl req -x509 -key rsa.pkcs8.pem -out rsa.crt.pem -days 36500 -subj "/CN=pemkey-fixture" 2>/dev/null

k=rsa.pkcs8.pem
# PBES2 (PKCS#5 v2.0)
openssl pkcs8 -topk8 -in $k -passout $P -v2 aes256                         -out rsa.pbes2-aes256-sha256.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 aes128 -v2prf hmacWithSHA1     -out rsa.pbes2-aes128-sha1.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 aes192 -v2prf hmacWithSHA224   -out rsa.pbes2-aes192-sha224.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 aes256 -v2prf hmacWithSHA384   -out rsa.pbes2-aes256-sha384.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 aes256 -v2prf hmacWithSHA512   -out rsa.pbes2-aes256-sha512.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 des3                           -out rsa.pbes2-des3.pem
openssl pkcs8 -topk8 -in $k -passout $P -v2 des -provider legacy -provider default -out rsa.pbes2-des.pem
openssl pkcs8 -topk8 -in $k -passout $P -scrypt                            -out rsa.pbes2-scrypt.pem
# PBES1 (PKCS#5 v1.5): single DES needs OpenSSL 3's legacy provider
openssl pkcs8 -topk8 -in $k -passout $P -v1 PBE-MD5-DES  -provider legacy -provider default -out rsa.pbes1-md5-des.pem
openssl pkcs8 -topk8 -in $k -passout $P -v1 PBE-SHA1-DES -provider legacy -provider default -out rsa.pbes1-sha1-des.pem
# PKCS#12 PBE (what -v1 PBE-SHA1-3DES produces; old Java/OpenSSL default)
openssl pkcs8 -topk8 -in $k -passout $P -v1 PBE-SHA1-3DES                  -out rsa.pkcs12-sha1-3des.pem
openssl pkcs8 -topk8 -in $k -passout $P -v1 PBE-SHA1-2DES                  -out rsa.pkcs12-sha1-2des.pem
# refused: RC2 (needs an RC2 implementation we do not carry)
openssl pkcs8 -topk8 -in $k -passout $P -v1 PBE-SHA1-RC2-40 -provider legacy -provider default -out rsa.pkcs12-sha1-rc2-40.pem

# EC key, encrypted both ways
openssl pkcs8 -topk8 -in ec.pkcs8.pem -passout $P -v2 aes256        -out ec.pbes2-aes256.pem
openssl pkcs8 -topk8 -in ec.pkcs8.pem -passout $P -v1 PBE-SHA1-3DES -out ec.pkcs12-sha1-3des.pem

# traditional (non-PKCS#8) encodings
openssl rsa -in $k -traditional -out rsa.pkcs1.pem 2>/dev/null
openssl ec -in ec.pkcs8.pem -out ec.sec1.pem 2>/dev/null
openssl rsa -in $k -traditional -aes256 -passout $P -out rsa.pkcs1-legacy-encrypted.pem 2>/dev/null
