#!/usr/bin/env bash
# Write fresh test certificates and keys into DIR (created if missing), for one control plane:
#   ca.crt ca.der ca.key               a CA (ca.der: DER, for clients that take raw bytes)
#   apiserver.crt apiserver.key        serving certificate for 127.0.0.1/localhost/kubernetes*
#   sa.key sa.pub                      service-account token signing key pair
# Used by start.sh and by the Rust test harness (tests/support/controlplane.rs).
# ECDSA P-256 everywhere: three RSA keys would add ~0.7 s to every start.
# The extensions are the set rustls (kube-rs) accepts; it is stricter than Go.
set -euo pipefail

dir="${1:?usage: pki.sh DIR}"
command -v openssl >/dev/null || {
  echo "pki.sh: openssl is missing (Debian: apt-get install -y openssl)" >&2
  exit 1
}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077

cat >openssl.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kube-anycast test
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, DNS:localhost, IP:10.96.0.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
CNF

ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
openssl req -x509 -new -nodes "${ec[@]}" -sha256 -days 3650 -config openssl.cnf \
  -extensions ca -subj "/CN=kube-anycast test CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl x509 -in ca.crt -outform der -out ca.der
openssl req -new -nodes "${ec[@]}" -sha256 -config openssl.cnf \
  -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
openssl x509 -req -sha256 -days 365 -in apiserver.csr -CA ca.crt -CAkey ca.key \
  -set_serial "0x$(openssl rand -hex 16)" -extfile openssl.cnf -extensions server \
  -out apiserver.crt 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key 2>/dev/null
openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
rm -f apiserver.csr
