#!/usr/bin/env bash
# HTTP throughput of `credits serve` over the embedded SQLite store (see BENCHMARKS.md):
# starts target/release/credits serve on a free loopback port over a fresh database in a temp
# dir, runs `credits bench` against it once per scenario, prints one line per scenario, and
# stops the server.
#   scripts/bench-serve.sh                 # the scenarios of BENCHMARKS.md (3 rounds, ~45 s)
#   scripts/bench-serve.sh -- --clients 32 --accounts 8 --charges 200   # one custom run
# Needs a release build first: cargo build --release -p credits (CARGO_TARGET_DIR is honoured)
# BENCH_DB_DIR: where the database goes (default: a new dir under /tmp); it must be on a real
# disk (not tmpfs) for the fsync cost to be measured.
# Every plan in rates/ has a `limit N requests per minute` (the ledger enforces it; there is no
# switch to turn it off), so the server loads a copy of rates/ with those lines removed and
# nothing else changed: the charges are rated, decided and committed exactly as in production.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/credits" # the build's target dir
[[ -x "$BIN" ]] || { echo "build first: cargo build --release -p credits" >&2; exit 1; }

if [[ -n "${BENCH_DB_DIR:-}" ]]; then
    dir=$BENCH_DB_DIR keep=1
else
    dir=$(mktemp -d /tmp/credits-bench.XXXXXX) keep=0
fi
mkdir -p "$dir"
export CREDITS_ADMIN_KEY="${CREDITS_ADMIN_KEY:-bench-admin-key-0123456789abcdef}" # 32 chars
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/rates"
for file in "$ROOT"/rates/*.rates; do
    sed -E '/^[[:space:]]*limit [0-9]+ requests? per /d' "$file" >"$dir/rates/$(basename "$file")"
done
RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --addr "127.0.0.1:$port" --db "$dir/credits.db" \
    --rates "$dir/rates" >"$dir/serve.log" 2>&1 &
server=$!
stop() {
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [[ "$keep" == 1 ]] || rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 100); do
    grep -q 'listening on' "$dir/serve.log" 2>/dev/null && break
    sleep 0.05
done
grep -q 'listening on' "$dir/serve.log" || { cat "$dir/serve.log" >&2; exit 1; }
url="http://127.0.0.1:$port"
echo "# credits serve at $url, db $dir/credits.db ($(df -T "$dir" | awk 'NR==2{print $2}')), $(nproc) cores"

# The server's CPU time so far (user + system, in clock ticks): the CPU a run costs the server
# is the one number of a run that other load on a shared machine barely moves.
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

run() { # label, bench args...
    local label=$1; shift
    local json cpu_before cpu_after
    cpu_before=$(server_cpu_ticks)
    json=$("$BIN" bench --url "$url" --json "$@") || { echo "$label: FAILED: $json" >&2; return 1; }
    cpu_after=$(server_cpu_ticks)
    python3 - "$label" "$json" "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
cpu_us = int(sys.argv[3]) * 1_000_000 // int(sys.argv[4]) // max(r['charged'], 1)
print(f"{label:<34} {r['charged']:>6} charges {r['elapsed_seconds']:6.2f} s "
      f"{r['charges_per_second']:7.0f}/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
      f"max {r['max_ms']:6.2f} ms  server cpu {cpu_us:4d} us/charge  errors {r['errors']} "
      f"5xx {r['server_errors']} balance {'ok' if r['balance_ok'] else 'MISMATCH'}")
EOF
}

if [[ "${1:-}" == "--" ]]; then
    shift
    run custom "$@"
    exit
fi

# Warm-up (first pages of the database, first connections), not reported.
run warm-up --clients 16 --accounts 16 --charges 50 >/dev/null
for round in 1 2 3; do
    run "r$round 16 clients / 16 accounts" --clients 16 --accounts 16 --charges 500
    run "r$round 64 clients / 64 accounts" --clients 64 --accounts 64 --charges 150
    run "r$round 16 clients / 1 account" --clients 16 --accounts 1 --charges 250
    run "r$round 64 clients / 1 account" --clients 64 --accounts 1 --charges 60
    run "r$round 1 client / 1 account" --clients 1 --accounts 1 --charges 3000
done
