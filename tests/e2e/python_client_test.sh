#!/usr/bin/env bash
# The Python client (clients/python) against the real collectionsd: the
# generated package imports with Debian's python3-grpcio and
# python3-protobuf, and the example imports a feed, claims and completes a
# task and prints the portfolio, over TLS with a bearer token; a token
# without the roles gets the server's PERMISSION_DENIED and exit status 1.
#   tests/e2e/python_client_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: python_client_test.sh BUILD_DIR SOURCE_DIR}
source_dir=${2:?usage: python_client_test.sh BUILD_DIR SOURCE_DIR}
source "$source_dir/tests/e2e/serve_lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/collections-python.XXXXXX")
trap 'serve_cleanup; rm -rf "$dir"' EXIT
credentials=$build/test-credentials

serve_start "$dir/server.log" "$build/server/collectionsd" --listen=127.0.0.1:0 \
  "--db=sqlite3://db=$dir/collections.db timeout=5" --daily_aging_time=off \
  --access_config="$credentials/access.textproto" \
  --tls_cert="$credentials/server.pem" --tls_key="$credentials/server.key"

# Debian's interpreter (python3-grpcio is installed for it), whatever
# python3 comes first on the PATH.
example() {
  PYTHONPATH=$build/clients/python /usr/bin/python3 "$source_dir/clients/python/example.py" \
    --server="$serve_address" --tls_ca="$credentials/ca.pem" "$@"
}

example --token_file="$credentials/tokens/operator.jwt" --loan_prefix=PY >"$dir/out" 2>"$dir/err" || {
  echo "python_client_test: the example failed:" >&2
  cat "$dir/out" "$dir/err" >&2
  exit 1
}
cat "$dir/out"
expect() {
  grep -qE "$1" "$dir/out" || {
    echo "python_client_test: expected a line matching: $1" >&2
    exit 1
  }
}
expect '^imported: 2 opened, 0 updated, 0 unchanged, 0 rejected$'
expect '^claimed task [0-9]+ \(TASK_TYPE_SMS_REMINDER, queue sms, case [0-9]+, lease token 1\)$'
expect '^completed task [0-9]+: TASK_STATE_COMPLETED; case [0-9]+ is now STAGE_REMINDER$'
expect '^portfolio as of [0-9-]+ \(live\): 2 cases, overdue 8,300.00 CNY, principal outstanding 1,600,000.00 CNY$'
expect '^  CASE_CLASS_MODERATE +STAGE_COUNSELLING +31-60 +1 cases  overdue 6,500.00 CNY$'

# amy is an agent: the report is refused, and the example says why.
status=0
example --token_file="$credentials/tokens/agent.jwt" >"$dir/out" 2>"$dir/err" || status=$?
[[ $status -eq 1 ]] || { echo "python_client_test: exit $status for amy, want 1" >&2; exit 1; }
grep -q 'the server refused: PERMISSION_DENIED: .*needs the role manager or supervisor' "$dir/err" || {
  echo "python_client_test: unexpected refusal:" >&2
  cat "$dir/err" >&2
  exit 1
}
serve_stop
echo "python_client_test: ok"
