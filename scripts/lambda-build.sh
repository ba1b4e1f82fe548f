#!/usr/bin/env bash
# Builds every Lambda function as a zip with cargo-lambda (from .venv, see install-tools.sh),
# with the `lambda` profile of the workspace Cargo.toml (release at opt-level "s").
#   --arch arm64     (default) what infra/template.yaml deploys by default (Graviton)
#   --arch x86_64    what this machine can run (scripts/measure-init.py, by hand)
#   --arch all       both, one after the other
#   --x86-only       the same as --arch x86_64
# Any other argument is passed to `cargo lambda build`.
# A missing Rust standard library for an architecture asked is an ERROR (exit 1) that says
# how to install it (`rustup target add ...`, which scripts/install-tools.sh runs): a build
# is never skipped silently.
# Output: target/lambda/<arch>/<binary>/bootstrap.zip   (arch: x86_64, arm64)
# Cargo's artifacts go to target/lambda-build (CARGO_TARGET_DIR overrides) so that this long
# release build does not hold the lock of the workspace's main target/ directory. Run again
# on unchanged sources, it rebuilds nothing (a few seconds): scripts/deploy.sh and the
# `template_sam_build` test call it and reuse what the test command built.
# Size goal (BENCHMARKS.md, "Lambda package sizes"): every bootstrap.zip <= 5 MB; a larger one
# fails the build (exit 1). LAMBDA_ZIP_MAX_BYTES overrides the limit (default 5000000; 0 = no
# limit). What keeps the zips small lives in the workspace Cargo.toml (AWS SDK and tracing
# features, the `lambda` profile): see BENCHMARKS.md before changing either.
set -euo pipefail

BINARIES=(credits-charge credits-topup credits-refund credits-cycle-rollover credits-account credits-events-publisher credits-webhook-sender)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start_ns=$(date +%s%N)
log() { printf '[lambda-build] %s\n' "$*"; }
die() { printf '[lambda-build] error: %s\n' "$*" >&2; exit 1; }

arch_arg=arm64
extra=()
while (( $# > 0 )); do
    case "$1" in
        --x86-only) arch_arg=x86_64 ;;
        --arch) [[ $# -ge 2 ]] || die "--arch needs a value: arm64, x86_64 or all"; arch_arg="$2"; shift ;;
        --arch=*) arch_arg="${1#--arch=}" ;;
        *) extra+=("$1") ;;
    esac
    shift
done
case "$arch_arg" in
    arm64|x86_64) archs=("$arch_arg") ;;
    all) archs=(x86_64 arm64) ;;
    *) die "--arch must be arm64, x86_64 or all, not '$arch_arg'" ;;
esac

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

triple_of() {
    case "$1" in
        x86_64) echo x86_64-unknown-linux-gnu ;;
        arm64) echo aarch64-unknown-linux-gnu ;;
    esac
}

# Every architecture asked needs its standard library: checked before building anything.
sysroot="$(rustc --print sysroot)" || die "rustc --print sysroot failed"
for arch in "${archs[@]}"; do
    target="$(triple_of "$arch")"
    if [[ ! -d "$sysroot/lib/rustlib/$target/lib" ]]; then
        die "cannot build $arch: the Rust standard library for $target is not installed.
  Install it with:   rustup target add $target      (scripts/install-tools.sh does)
  or build and deploy x86_64 instead: scripts/lambda-build.sh --arch x86_64, and
  scripts/deploy.sh --arch x86_64 (infra/template.yaml's Architecture must match the build)."
    fi
done

packages=()
for bin in "${BINARIES[@]}"; do packages+=(--package "$bin"); done

log "$(cargo lambda --version) | zig $(python -m ziglang version) | profile lambda | ${archs[*]}"
for arch in "${archs[@]}"; do
    target="$(triple_of "$arch")"
    out="$ROOT/target/lambda/$arch"
    t0=$(date +%s)
    log "building ${BINARIES[*]} for $target -> ${out#"$ROOT"/}"
    cargo lambda build --profile lambda --target "$target" --output-format zip \
        --lambda-dir "$out" "${packages[@]}" ${extra[@]+"${extra[@]}"}
    log "$arch built in $(( $(date +%s) - t0 )) s"
done

max_bytes="${LAMBDA_ZIP_MAX_BYTES:-5000000}"
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
