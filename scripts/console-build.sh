#!/usr/bin/env bash
# Builds the browser console as a static site in target/console/ (or $1), to host beside the
# AWS API: the same files `credits serve` embeds at /console, the rate language compiled to
# WebAssembly (console/wasm, release, opt-level "s") and the `.rates` grammar. A static site
# has no `books` file, so its playground compares with nothing; put the books' sources there
# as `books` (a JSON list of {"name", "file", "source"}) to compare with them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/target/console}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/console-wasm"

cd "$ROOT"
started=$(date +%s)
# The same command as console/serve/build.rs runs for `credits serve`.
cargo build --release --locked --target wasm32-unknown-unknown -p credits-console-wasm \
    --target-dir "$TARGET_DIR" \
    --config 'profile.release.opt-level="s"' --config 'profile.release.panic="abort"'
mkdir -p "$OUT"
cp console/web/index.html console/web/console.css console/web/console.js \
   console/web/rates.js console/web/highlight.js \
   console/web/explorer.html console/web/explorer.js editors/rates.tmLanguage.json "$OUT/"
cp "$TARGET_DIR/wasm32-unknown-unknown/release/credits_console_wasm.wasm" "$OUT/rates.wasm"
printf '[console-build] %s: %s bytes of wasm, built in %s s\n' \
    "$OUT" "$(wc -c <"$OUT/rates.wasm")" "$(( $(date +%s) - started ))"
