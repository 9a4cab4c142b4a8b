#!/usr/bin/env bash
# The run command: installs missing packages, builds collectionsd, and serves
# on 127.0.0.1:50051 with the embedded SQLite database var/collections.db and
# the shipped default policy. Extra arguments go to collectionsd (e.g.
# --policy=FILE). Stop it with Ctrl-C or SIGTERM.
#
# Identity is never optional: on first use this makes development
# credentials in var/dev-credentials/ (scripts/dev_credentials.sh: a CA, a
# token per role, the access configuration) and serves on loopback, where
# plaintext is allowed; every call still needs a bearer token, e.g.
#   build/clients/collectionsctl report portfolio \
#     --token_file=var/dev-credentials/tokens/manager.jwt
# Serve TLS instead with --tls_cert=var/dev-credentials/server.pem
# --tls_key=var/dev-credentials/server.key (clients: --tls_ca=.../ca.pem).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
scripts/build.sh collectionsd collectionsctl collections-agent collections-legal-receiver
mkdir -p var
chmod 700 var
credentials=var/dev-credentials
# Renewed when missing or older than 20 days (the tokens last 30).
if [[ ! -f $credentials/access.textproto ]] ||
  [[ -n $(find "$credentials/access.textproto" -mtime +20 2>/dev/null) ]]; then
  rm -rf "$credentials"
  scripts/dev_credentials.sh "$credentials"
fi
exec build/server/collectionsd \
  --listen=127.0.0.1:50051 \
  --db="sqlite3://db=var/collections.db timeout=5" \
  --access_config="$credentials/access.textproto" \
  "$@"
