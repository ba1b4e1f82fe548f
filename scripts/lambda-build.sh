#!/usr/bin/env bash
# Builds every Lambda function as a zip with cargo-lambda (from .venv, see install-tools.sh):
#   x86_64 always; arm64 only when rustup has the aarch64-unknown-linux-gnu standard library
#   (it may not be fetchable on a fresh machine).
# Output: target/lambda/<arch>/<binary>/bootstrap.zip   (arch: x86_64, arm64)
# Cargo's artifacts go to target/lambda-build (CARGO_TARGET_DIR overrides) so that this long
# release build does not hold the lock of the workspace's main target/ directory.
# Options: --x86-only (skip arm64), any other argument is passed to `cargo lambda build`.
# Size goal (BENCHMARKS.md, "Lambda package sizes"): every bootstrap.zip <= 6 MB; a larger one
# fails the build (exit 1). LAMBDA_ZIP_MAX_BYTES overrides the limit (default 6000000; 0 = no
# limit). What keeps the zips small lives in the workspace Cargo.toml (AWS SDK features,
# release profile): see BENCHMARKS.md before changing either.
set -euo pipefail

BINARIES=(credits-charge credits-topup credits-refund credits-cycle-rollover credits-account)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start_ns=$(date +%s%N)
log() { printf '[lambda-build] %s\n' "$*"; }
die() { printf '[lambda-build] error: %s\n' "$*" >&2; exit 1; }

x86_only=0
extra=()
for arg in "$@"; do
    case "$arg" in
        --x86-only) x86_only=1 ;;
        *) extra+=("$arg") ;;
    esac
done

# cargo-lambda and zig (python -m ziglang, found by cargo-zigbuild through PATH) from the venv.
export PATH="$ROOT/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null 2>&1 \
    || die "cargo-lambda not found in $ROOT/.venv/bin: run scripts/install-tools.sh"
case " ${RUSTFLAGS:-} ${CARGO_ENCODED_RUSTFLAGS:-} " in
    *target-cpu=native*) die "RUSTFLAGS has target-cpu=native: Lambda hosts may lack those instructions" ;;
esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/lambda-build}"
# aws-lc's jitter entropy source costs ~50 ms at every cold start.
export AWS_LC_SYS_NO_JITTER_ENTROPY="${AWS_LC_SYS_NO_JITTER_ENTROPY:-1}"

packages=()
for bin in "${BINARIES[@]}"; do packages+=(--package "$bin"); done

archs=(x86_64)
if [[ "$x86_only" == 1 ]]; then
    log "arm64: skipped (--x86-only)"
elif rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    archs+=(arm64)
else
    log "arm64: skipped (rustup target aarch64-unknown-linux-gnu is not installed)"
fi

log "$(cargo lambda --version) | zig $(python -m ziglang version)"
for arch in "${archs[@]}"; do
    case "$arch" in
        x86_64) target=x86_64-unknown-linux-gnu ;;
        arm64) target=aarch64-unknown-linux-gnu ;;
    esac
    out="$ROOT/target/lambda/$arch"
    t0=$(date +%s)
    log "building ${BINARIES[*]} for $target -> ${out#"$ROOT"/}"
    cargo lambda build --release --target "$target" --output-format zip \
        --lambda-dir "$out" "${packages[@]}" ${extra[@]+"${extra[@]}"}
    log "$arch built in $(( $(date +%s) - t0 )) s"
done

max_bytes="${LAMBDA_ZIP_MAX_BYTES:-6000000}"
[[ "$max_bytes" =~ ^[0-9]+$ ]] || die "LAMBDA_ZIP_MAX_BYTES must be a number of bytes, not '$max_bytes'"
status=0
too_big=()
printf '%-8s %-24s %12s %12s  %s\n' arch binary "zip bytes" unzipped zip
for arch in "${archs[@]}"; do
    for bin in "${BINARIES[@]}"; do
        zip="$ROOT/target/lambda/$arch/$bin/bootstrap.zip"
        if [[ -f "$zip" ]]; then
            bytes=$(stat -c %s "$zip")
            unzipped=$(python -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
            printf '%-8s %-24s %12s %12s  %s\n' "$arch" "$bin" "$bytes" "$unzipped" "${zip#"$ROOT"/}"
            if (( max_bytes > 0 && bytes > max_bytes )); then
                too_big+=("$arch/$bin ($bytes bytes)")
            fi
        else
            printf '%-8s %-24s %12s %12s  %s\n' "$arch" "$bin" missing - "${zip#"$ROOT"/}"
            status=1
        fi
    done
done
if (( ${#too_big[@]} > 0 )); then
    printf '[lambda-build] error: over the size limit of %s bytes (LAMBDA_ZIP_MAX_BYTES): %s\n' \
        "$max_bytes" "${too_big[*]}" >&2
    status=1
fi
log "done in $(( ($(date +%s%N) - start_ns) / 1000000000 )) s"
exit "$status"
