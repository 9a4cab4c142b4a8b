# Shell helpers for the tests that run the project's binaries from a tree
# (the build folder, an installed prefix, an unpacked Debian package):
# sourced, never run. Each waits only for readiness (the log line "serving
# on ADDRESS"), never for time to pass.
#
#   serve_start LOG BINARY ARGS...  starts BINARY ARGS... with stderr in LOG;
#                                   sets serve_pid and serve_address once
#                                   it serves (returns 1 if it exits first)
#   serve_stop                      SIGTERM, then its exit status must be 0
#   check_tree PREFIX               the installed files are under PREFIX
#   serve_from_tree PREFIX DIR [CREDENTIALS]
#                                   PREFIX's collectionsd serves from a flag
#                                   file like the systemd unit's (state and
#                                   log in DIR; the access configuration of
#                                   CREDENTIALS, or made by PREFIX's
#                                   dev_credentials.sh in DIR/etc), then stops
# The caller runs under `set -euo pipefail` and calls serve_cleanup on EXIT.

serve_pid=""
serve_address=""
serve_log=""

serve_cleanup() {
  if [[ -n $serve_pid ]]; then
    kill -KILL "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
  fi
}

serve_start() {
  serve_log=$1
  shift
  "$@" 2>"$serve_log" &
  serve_pid=$!
  local _
  for _ in $(seq 1 1200); do
    serve_address=$(grep -o 'serving on [^ ]*' "$serve_log" | head -n 1 | cut -d' ' -f3 || true)
    [[ -n $serve_address ]] && return 0
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      echo "serve_start: $1 exited before serving; its log:" >&2
      cat "$serve_log" >&2
      wait "$serve_pid" || true
      serve_pid=""
      return 1
    fi
    sleep 0.05
  done
  echo "serve_start: $1 is not serving after 60 s; its log:" >&2
  cat "$serve_log" >&2
  return 1
}

serve_stop() {
  local status=0
  kill -TERM "$serve_pid"
  wait "$serve_pid" || status=$?
  serve_pid=""
  if [[ $status -ne 0 ]]; then
    echo "serve_stop: exit status $status; the log:" >&2
    cat "$serve_log" >&2
    return 1
  fi
}

check_tree() {
  local prefix=$1 f
  for f in sbin/collectionsd bin/collectionsctl bin/collections-agent \
    bin/collections-legal-receiver share/collections/default_policy.textproto \
    share/collections/dev_credentials.sh share/collections/examples/collectionsd.flags \
    share/collections/protos/collections/v1/case_service.proto \
    share/collections/protos/collections/v1/access.proto \
    share/collections/python/collections_api/__init__.py \
    share/collections/python/collections_api/v1/case_service_pb2_grpc.py \
    share/collections/python/example.py \
    lib/systemd/system/collectionsd.service share/doc/collections/README.md \
    share/doc/collections/docs/security.md; do
    [[ -e $prefix/$f ]] || { echo "check_tree: missing $prefix/$f" >&2; return 1; }
  done
}

serve_from_tree() {
  local prefix=$1 dir=$2 credentials=${3:-}
  if [[ -z $credentials ]]; then
    credentials=$dir/etc
    "$prefix/share/collections/dev_credentials.sh" "$credentials" 2>/dev/null
  fi
  cat >"$dir/collectionsd.flags" <<FLAGS
--listen=127.0.0.1:0
--db=sqlite3://db=$dir/collections.db timeout=5
--access_config=$credentials/access.textproto
--policy=$prefix/share/collections/default_policy.textproto
--log_format=json
--daily_aging_time=off
FLAGS
  serve_start "$dir/server.log" "$prefix/sbin/collectionsd" --flagfile="$dir/collectionsd.flags"
  grep -q '"msg":"serving on ' "$dir/server.log" || {
    echo "serve_from_tree: the log is not JSON" >&2
    return 1
  }
  serve_stop
}
