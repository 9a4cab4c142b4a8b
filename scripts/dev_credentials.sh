#!/usr/bin/env bash
# Makes a throwaway secure setup in one step, with OpenSSL only: a CA, a
# server certificate for localhost, client certificates for the systems, a
# token-signing key pair (RS256 and ES256), a bearer token per role, and the
# access configuration collectionsd reads. For development, tests and the
# README's examples — never for production (the CA key sits next to the
# certificates and the tokens last 30 days).
#
#   scripts/dev_credentials.sh DIR
#
# DIR (created 0700, files 0600) then holds:
#   ca.pem                      the CA clients trust (--tls_ca)
#   server.pem, server.key      collectionsd's certificate (--tls_cert, --tls_key)
#   ingest.pem, ingest.key      core banking's client certificate
#                               (SAN URI spiffe://collections.dev/ingest)
#   firm-shanghai.pem, .key     a legal firm's receiver certificate
#   firm-national.pem, .key     another firm's
#   other-ca.pem, stranger.pem, stranger.key   a certificate from a CA the
#                               server does not trust (for tests)
#   access.textproto            collectionsd --access_config
#   jwt-rs256.key/.pub, jwt-es256.key/.pub, jwks.json   the signing keys
#   tokens/ROLE.jwt             agent (amy), agent2 (bob), supervisor (sue),
#                               manager (max), admin (ada), ingest (core-banking),
#                               legal (firm-shanghai), operator (every role
#                               but legal: one token for the whole CLI in
#                               development); manager.jwt is ES256, the
#                               others RS256
#   tokens/expired.jwt, wrong-audience.jwt, wrong-issuer.jwt, forged.jwt
#                               tokens the server must refuse (for tests)
set -euo pipefail
dir=${1:?usage: scripts/dev_credentials.sh DIR}
umask 077
mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
cd "$dir"
days=30
issuer="https://idp.collections.dev"
audience="collectionsd"

ossl() { openssl "$@" 2>/dev/null; }

# --- certificates -----------------------------------------------------------
ossl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=collections development CA"
ossl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days "$days" \
  -subj "/CN=some other CA"

# issue NAME SAN CA: NAME.key and NAME.pem, signed by CA.
issue() {
  local name=$1 san=$2 ca=${3:-ca} usage=${4:-clientAuth}
  ossl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$usage" >"$name.ext"
  ossl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.pem" -days "$days" -extfile "$name.ext"
  rm -f "$name.csr" "$name.ext"
}
issue server "DNS:localhost,IP:127.0.0.1,IP:::1" ca serverAuth
issue ingest "URI:spiffe://collections.dev/ingest"
issue firm-shanghai "URI:spiffe://collections.dev/legal/firm-shanghai"
issue firm-national "URI:spiffe://collections.dev/legal/firm-national"
issue stranger "URI:spiffe://collections.dev/ingest" other-ca
rm -f ./*.srl

# --- token signing keys -----------------------------------------------------
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt-rs256.key
ossl pkey -in jwt-rs256.key -pubout -out jwt-rs256.pub
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out jwt-es256.key
ossl pkey -in jwt-es256.key -pubout -out jwt-es256.pub
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out forger.key

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
hex_to_bin() { local hex; hex=$(cat); printf "$(sed 's/../\\x&/g' <<<"$hex")"; }
# The EC public key's x and y, base64url, for the JWKS.
ec_point=$(openssl pkey -pubin -in jwt-es256.pub -text -noout 2>/dev/null |
  sed -n '/^pub:/,/^ASN1/p' | grep -v -e '^pub:' -e '^ASN1' | tr -d ' :\n')
ec_x=$(cut -c3-66 <<<"$ec_point" | hex_to_bin | b64url)
ec_y=$(cut -c67-130 <<<"$ec_point" | hex_to_bin | b64url)
rsa_n=$(openssl pkey -pubin -in jwt-rs256.pub -noout -text 2>/dev/null >/dev/null;
  openssl rsa -pubin -in jwt-rs256.pub -noout -modulus 2>/dev/null | cut -d= -f2 | hex_to_bin | b64url)
cat >jwks.json <<EOF
{"keys": [
  {"kty": "RSA", "kid": "dev-rs256", "use": "sig", "alg": "RS256", "n": "$rsa_n", "e": "AQAB"},
  {"kty": "EC", "kid": "dev-es256", "use": "sig", "alg": "ES256", "crv": "P-256", "x": "$ec_x", "y": "$ec_y"}
]}
EOF

# token FILE ALG KEY KID CLAIMS_JSON: a signed JWT.
token() {
  local file=$1 alg=$2 key=$3 kid=$4 claims=$5 header signing sig
  header=$(printf '{"alg":"%s","typ":"JWT","kid":"%s"}' "$alg" "$kid" | b64url)
  signing="$header.$(printf '%s' "$claims" | b64url)"
  if [[ $alg == RS256 ]]; then
    sig=$(printf '%s' "$signing" | openssl dgst -sha256 -sign "$key" | b64url)
  else
    # ECDSA signs in DER; JWS wants r and s as two 32-byte big-endian numbers.
    sig=$(printf '%s' "$signing" | openssl dgst -sha256 -sign "$key" |
      openssl asn1parse -inform DER 2>/dev/null | awk -F: '/INTEGER/ {print $NF}' |
      while read -r n; do printf '%064s' "$n" | tr ' ' 0; done | hex_to_bin | b64url)
  fi
  printf '%s.%s\n' "$signing" "$sig" >"tokens/$file"
}
now=$(date +%s)
exp=$((now + days * 86400))
claims() {  # SUB ROLES_JSON [EXTRA]
  printf '{"iss":"%s","aud":"%s","sub":"%s","roles":%s,"iat":%d,"exp":%d%s}' \
    "$issuer" "$audience" "$1" "$2" "$now" "$exp" "${3:-}"
}
token agent.jwt RS256 jwt-rs256.key dev-rs256 "$(claims amy '["agent"]')"
token agent2.jwt RS256 jwt-rs256.key dev-rs256 "$(claims bob '["agent"]')"
token supervisor.jwt RS256 jwt-rs256.key dev-rs256 "$(claims sue '["supervisor"]')"
token manager.jwt ES256 jwt-es256.key dev-es256 "$(claims max '["manager"]')"
token admin.jwt RS256 jwt-rs256.key dev-rs256 "$(claims ada '["admin"]')"
token ingest.jwt RS256 jwt-rs256.key dev-rs256 "$(claims core-banking '["ingest"]')"
# Development only: one principal with every role but "legal", so that one
# token drives the whole CLI on a developer's machine.
token operator.jwt RS256 jwt-rs256.key dev-rs256 \
  "$(claims operator '["agent","supervisor","manager","admin","ingest"]')"
token legal.jwt RS256 jwt-rs256.key dev-rs256 \
  "$(claims firm-shanghai-clerk '["legal"]' ',"firm_id":"firm-shanghai"')"
token expired.jwt RS256 jwt-rs256.key dev-rs256 \
  "$(printf '{"iss":"%s","aud":"%s","sub":"amy","roles":["agent"],"exp":%d}' \
    "$issuer" "$audience" $((now - 3600)))"
token wrong-audience.jwt RS256 jwt-rs256.key dev-rs256 \
  "$(printf '{"iss":"%s","aud":"someone-else","sub":"amy","roles":["agent"],"exp":%d}' \
    "$issuer" "$exp")"
token wrong-issuer.jwt RS256 jwt-rs256.key dev-rs256 \
  "$(printf '{"iss":"https://evil.example","aud":"%s","sub":"amy","roles":["admin"],"exp":%d}' \
    "$audience" "$exp")"
token forged.jwt RS256 forger.key dev-rs256 "$(claims ada '["admin"]')"
rm -f forger.key

cat >access.textproto <<EOF
# collectionsd --access_config for the development credentials made by
# scripts/dev_credentials.sh. Who may call, and as what.
jwt {
  issuer: "$issuer"
  audience: "$audience"
  jwks_file: "jwks.json"
}
certificates {
  uri: "spiffe://collections.dev/ingest"
  principal: "core-banking"
  roles: "ingest"
}
certificates {
  uri: "spiffe://collections.dev/legal/firm-shanghai"
  principal: "firm-shanghai-receiver"
  roles: "legal"
  firm_id: "firm-shanghai"
}
certificates {
  uri: "spiffe://collections.dev/legal/firm-national"
  principal: "firm-national-receiver"
  roles: "legal"
  firm_id: "firm-national"
}
EOF
find . -type f -exec chmod 600 {} +
echo "dev_credentials: wrote $(pwd)" >&2
