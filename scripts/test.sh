#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the external tools the tests
# start (DynamoDB Local, cfn-lint, sam, cargo-lambda), then lints, tests, checks the rate
# books, and builds every Lambda. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
started_at=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started_at ))"; }

step "install test tools"
scripts/install-tools.sh
export PATH="$PWD/.venv/bin:$PATH"

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (every crate, DynamoDB Local, template checks)"
cargo test --workspace --locked --no-fail-fast

step "rate books"
cargo run --quiet --locked -p credits -- rates check rates/
cargo run --quiet --locked -p credits -- rates test rates/
cargo run --quiet --locked -p credits -- rates fmt --check rates/

step "console static site"
scripts/console-build.sh

step "lambda builds"
scripts/lambda-build.sh

step "done"
