#!/usr/bin/env bash
# Fuzzes the running API with schemathesis (PyPI, pinned in scripts/install-tools.sh) from the
# committed OpenAPI document: every operation, positive and negative data, the examples, the
# coverage phase, random fuzzing and stateful sequences (create an account, charge it, ...).
#
# It fails (exit 1) on any 5xx and on any response that does not match the document (body
# schema, content type, headers):
#   not_a_server_error, response_schema_conformance, content_type_conformance,
#   response_headers_conformance
# With SCHEMATHESIS_STRICT=1 it also runs every other check (undocumented status codes,
# schema-valid requests rejected, schema-violating requests accepted, ...), which today
# report the imprecisions of the document listed in RELIABILITY.md.
#
# Usage:
#   CREDITS_URL=http://127.0.0.1:8080 CREDITS_ADMIN_KEY=... scripts/schemathesis.sh
#   scripts/schemathesis.sh            # starts target/debug/credits serve itself (temp db)
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 40 per operation), SCHEMATHESIS_SEED
# (default 20260115: runs are reproducible), SCHEMATHESIS_WORKERS (default 2),
# SCHEMATHESIS_REPORT_DIR (a JUnit report is written there when set).
# Only loopback URLs are accepted: this is a load of hostile requests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ST="$ROOT/.venv/bin/schemathesis"
[[ -x "$ST" ]] || { echo "schemathesis is not installed: run scripts/install-tools.sh" >&2; exit 2; }

max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
seed="${SCHEMATHESIS_SEED:-20260115}"
workers="${SCHEMATHESIS_WORKERS:-2}"
checks="not_a_server_error,response_schema_conformance,content_type_conformance,response_headers_conformance"
if [[ "${SCHEMATHESIS_STRICT:-0}" == 1 ]]; then
    checks="all"
fi

server_pid=""
tmp=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

if [[ -z "${CREDITS_URL:-}" ]]; then
    bin="${CREDITS_BIN:-$ROOT/target/debug/credits}"
    if [[ ! -x "$bin" ]]; then
        (cd "$ROOT" && cargo build --quiet -p credits --bin credits)
    fi
    tmp="$(mktemp -d)"
    export CREDITS_ADMIN_KEY="${CREDITS_ADMIN_KEY:-schemathesis-admin-key-$RANDOM$RANDOM$RANDOM}"
    RUST_LOG=warn "$bin" serve --addr 127.0.0.1:0 --db "$tmp/credits.db" --rates "$ROOT/rates" >"$tmp/serve.out" 2>"$tmp/serve.err" &
    server_pid=$!
    for _ in $(seq 1 100); do
        CREDITS_URL="$(sed -n 's/^credits serve listening on //p' "$tmp/serve.out" | head -n 1)"
        [[ -n "$CREDITS_URL" ]] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/serve.err" >&2; echo "credits serve did not start" >&2; exit 2; }
        sleep 0.2
    done
    [[ -n "$CREDITS_URL" ]] || { echo "credits serve did not print its address" >&2; exit 2; }
fi
: "${CREDITS_ADMIN_KEY:?set CREDITS_ADMIN_KEY to the server's admin key}"
case "$CREDITS_URL" in
    http://127.*|http://localhost*|http://\[::1\]*) ;;
    *) echo "refusing to fuzz $CREDITS_URL: only loopback servers" >&2; exit 2 ;;
esac

report=()
if [[ -n "${SCHEMATHESIS_REPORT_DIR:-}" ]]; then
    mkdir -p "$SCHEMATHESIS_REPORT_DIR"
    report=(--report junit --report-dir "$SCHEMATHESIS_REPORT_DIR")
fi

echo "schemathesis $("$ST" --version | awk '{print $NF}') against $CREDITS_URL: checks $checks, $max_examples examples per operation, seed $seed"
# Hypothesis keeps its example database in the working directory: keep it out of the tree.
tmp="${tmp:-$(mktemp -d)}"
cd "$tmp"
exec_status=0
"$ST" run "$ROOT/openapi.json" \
    --url "$CREDITS_URL" \
    --header "Authorization: Bearer $CREDITS_ADMIN_KEY" \
    --checks "$checks" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --workers "$workers" \
    --request-timeout 30 \
    --suppress-health-check all \
    --no-color \
    "${report[@]}" || exec_status=$?
exit "$exec_status"
