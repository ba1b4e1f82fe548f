#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the external tools the tests
# start (DynamoDB Local, cfn-lint, sam, cargo-lambda, the Rust targets), then lints, builds
# every Lambda, tests, and checks the rate books. Exits non-zero on the first failure.
# Each Lambda is built once (release, arm64: what deploys): the `template_package` test runs
# the deploy dry run (`scripts/deploy.sh --dry-run`) on that build, which it finds up to date.
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

step "lambda builds (arm64)"
scripts/lambda-build.sh --arch arm64 --locked

step "tests (every crate, DynamoDB Local, template checks, the deploy dry run)"
cargo test --workspace --locked --no-fail-fast

step "rate books"
cargo run --quiet --locked -p credits -- rates check rates/
cargo run --quiet --locked -p credits -- rates test rates/
cargo run --quiet --locked -p credits -- rates fmt --check rates/

# Example books of other platforms: checked, tested and formatted like the seeds, never
# served (`credits serve` reads the top level of `rates/` only).
step "example rate books"
cargo run --quiet --locked -p credits -- rates check rates/examples/
cargo run --quiet --locked -p credits -- rates test rates/examples/
cargo run --quiet --locked -p credits -- rates fmt --check rates/examples/

step "console static site"
scripts/console-build.sh

step "done"
