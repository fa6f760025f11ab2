#!/usr/bin/env bash
# Makes the TLS material the secured test brokers (scripts/secure-brokers.sh) and the security suite
# (tests/security.rs) use, with the openssl CLI, into DIR (default target/certs):
#
#   ca.pem / ca.key                  the test CA
#   server.pem / server.key          CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by the CA
#   client.pem / client.key          CN=sluice-client, signed by the CA; key unencrypted PKCS#8 PEM
#   client.enc.key / client.key.password   the same key as encrypted PKCS#8 (AES-256), its password
#   other-ca.pem / other-ca.key      a second, unrelated CA ("unknown CA")
#   wrong-host.pem / wrong-host.key  CN=wrong.example, SAN DNS:wrong.example, signed by the CA
#   expired.pem / expired.key        CN=localhost with the right SANs, signed by the CA, expired in 2020
#
# Idempotent: does nothing when DIR holds a complete set that is still valid for a day.
#
#   scripts/certs.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath -m "${1:-$root/target/certs}")
mkdir -p "$dir"
cd "$dir"

files=(ca.pem server.pem server.key client.pem client.key client.enc.key client.key.password
    other-ca.pem wrong-host.pem wrong-host.key expired.pem expired.key)
complete=1
for f in "${files[@]}"; do [ -s "$f" ] || complete=0; done
if [ "$complete" = 1 ] && openssl x509 -in server.pem -noout -checkend 86400 >/dev/null \
    && ! openssl x509 -in expired.pem -noout -checkend 0 >/dev/null; then
    echo "$dir"
    exit 0
fi
rm -rf "$dir"/*

q() { "$@" 2>/dev/null >/dev/null || { echo "certs.sh: failed: $*" >&2; "$@"; exit 1; }; }

key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

ca() { # ca NAME CN
    key "$1.key"
    q openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.pem"
}

leaf() { # leaf NAME CN EXT_FILE
    key "$1.key"
    q openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    q openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 825 \
        -extfile "$3" -out "$1.pem"
    rm -f "$1.csr"
}

cat >server.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
X
cat >wrong-host.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.example
X
cat >client.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
X

ca ca "sluice test CA"
ca other-ca "sluice unrelated CA"
leaf server localhost server.ext
leaf wrong-host wrong.example wrong-host.ext
leaf client sluice-client client.ext
# genpkey writes PKCS#8 already; the encrypted copy is PKCS#8 too (PBES2, AES-256-CBC).
printf 'pkcs8-%s\n' "$(openssl rand -hex 8)" >client.key.password
q openssl pkcs8 -topk8 -in client.key -v2 aes-256-cbc -passout "file:client.key.password" -out client.enc.key

# The expired certificate: `openssl ca` takes explicit start and end dates, unlike `x509 -req`.
mkdir -p expired-ca
: >expired-ca/index.txt
echo 1000 >expired-ca/serial
cat >expired-ca/ca.cnf <<X
[ca]
default_ca = test
[test]
dir = $dir/expired-ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ext]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
X
key expired.key
q openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
q openssl ca -batch -config expired-ca/ca.cnf -extensions ext -startdate 20190101000000Z \
    -enddate 20200101000000Z -in expired.csr -out expired.pem -notext
rm -rf expired.csr expired-ca ./*.ext ./*.srl

# Check what the tests rely on.
openssl verify -CAfile ca.pem server.pem wrong-host.pem client.pem >/dev/null
if openssl x509 -in expired.pem -noout -checkend 0 >/dev/null; then
    echo "certs.sh: expired.pem is not expired" >&2
    exit 1
fi
openssl pkey -in client.enc.key -passin file:client.key.password -noout
chmod 600 ./*.key client.key.password
echo "$dir"
