#!/usr/bin/env bash
# Deploys credits to AWS in one command, from a clean checkout with AWS credentials:
#   1. installs what is missing (scripts/install-tools.sh: sam, cfn-lint, cargo-lambda and
#      zig into .venv/, the Rust targets), unless the tools are there already;
#   2. builds every Lambda zip once (scripts/lambda-build.sh --arch <arch>);
#   3. packages: target/deploy/<arch>/template.yaml is infra/template.yaml with each
#      function's code the zip just built (no `sam build`: nothing is compiled twice) and the
#      Architecture parameter pinned to <arch>; each zip is checked (an ELF `bootstrap` for
#      <arch>, under the size limit);
#   4. lints the packaged template (cfn-lint, `sam validate --lint`), offline;
#   5. `sam deploy` of it (settings of infra/samconfig.toml: S3 bucket managed by SAM,
#      CAPABILITY_IAM, a change set to confirm). The stack generates the admin key itself
#      (Secrets Manager, `AdminKeySecret`): nothing secret passes through this machine;
#   6. prints the API URL and the command that prints the admin key.
#
# Usage: scripts/deploy.sh [--dry-run] [--arch arm64|x86_64] [--stage prod] [--service credits]
#                          [--region <region>] [-- <more sam deploy arguments>]
#   --dry-run   steps 1-4 only: no AWS credentials, no network beyond the build's crates.
#   --arch      the functions' architecture (default arm64, as the template); the build and the
#               deployed Architecture always agree.
#   --stage     stack `<service>-<stage>` (default credits-prod, as samconfig.toml).
#   after --     passed to `sam deploy`, e.g. `-- --no-confirm-changeset` in CI, or
#               `-- --parameter-overrides AlarmEmail=ops@example.com` (added to ours).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start_ns=$(date +%s%N)
log() { printf '[deploy] %s\n' "$*"; }
die() { printf '[deploy] error: %s\n' "$*" >&2; exit 1; }
step() { printf '\n[deploy] == %s (%ss)\n' "$*" "$(( ($(date +%s%N) - start_ns) / 1000000000 ))"; }

dry_run=0
arch=arm64
stage=prod
service=credits
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
sam_args=()
overrides=()
while (( $# > 0 )); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --arch) [[ $# -ge 2 ]] || die "--arch needs a value"; arch="$2"; shift ;;
        --arch=*) arch="${1#--arch=}" ;;
        --stage) [[ $# -ge 2 ]] || die "--stage needs a value"; stage="$2"; shift ;;
        --stage=*) stage="${1#--stage=}" ;;
        --service) [[ $# -ge 2 ]] || die "--service needs a value"; service="$2"; shift ;;
        --service=*) service="${1#--service=}" ;;
        --region) [[ $# -ge 2 ]] || die "--region needs a value"; region="$2"; shift ;;
        --region=*) region="${1#--region=}" ;;
        --) shift
            # `--parameter-overrides A=1 B=2` after -- is merged into ours (one flag only).
            while (( $# > 0 )); do
                if [[ "$1" == --parameter-overrides ]]; then
                    shift
                    while (( $# > 0 )) && [[ "$1" != --* ]]; do overrides+=("$1"); shift; done
                else
                    sam_args+=("$1"); shift
                fi
            done
            break ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) die "unknown argument \`$1\` (see --help)" ;;
    esac
    shift
done
case "$arch" in arm64|x86_64) ;; *) die "--arch must be arm64 or x86_64, not \`$arch\`" ;; esac
[[ "$stage" =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "--stage must match ^[a-z][a-z0-9]{0,11}\$ (the template's Stage)"
[[ "$service" =~ ^[a-z][a-z0-9-]{1,20}$ ]] || die "--service must match ^[a-z][a-z0-9-]{1,20}\$ (the template's ServiceName)"
stack="$service-$stage"

export PATH="$ROOT/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

step "tools"
if [[ -x .venv/bin/sam && -x .venv/bin/cfn-lint && -x .venv/bin/cargo-lambda ]]; then
    log "tools in .venv/ (scripts/install-tools.sh updates them)"
else
    scripts/install-tools.sh --deploy
fi

step "build ($arch)"
scripts/lambda-build.sh --arch "$arch"

step "package"
out="$ROOT/target/deploy/$arch"
mkdir -p "$out"
# The packaged template: each function's CodeUri is its zip (a path relative to the packaged
# template, which `sam deploy` uploads as it is), without the build metadata; Architecture
# may only be the one built. Parsed and written by SAM's own YAML helper (short-form tags).
.venv/bin/python - "$ROOT/infra/template.yaml" "$out/template.yaml" "$arch" "${LAMBDA_ZIP_MAX_BYTES:-5000000}" <<'PY'
import os, stat, sys, zipfile
from samcli.yamlhelper import yaml_dump, yaml_parse

source, target, arch, max_bytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
root = os.path.dirname(os.path.dirname(os.path.abspath(source)))
machine = {"arm64": 183, "x86_64": 62}[arch]  # ELF e_machine
with open(source) as f:
    template = yaml_parse(f.read())
template["Parameters"]["Architecture"]["Default"] = arch
template["Parameters"]["Architecture"]["AllowedValues"] = [arch]
problems, rows = [], []
for name, resource in template["Resources"].items():
    if resource.get("Type") != "AWS::Serverless::Function":
        continue
    binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    if not binary:
        problems.append(f"{name}: no Metadata.BuildProperties.Binary")
        continue
    zip_path = os.path.join(root, "target", "lambda", arch, binary, "bootstrap.zip")
    if not os.path.isfile(zip_path):
        problems.append(f"{name}: {zip_path} is missing")
        continue
    size = os.path.getsize(zip_path)
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        if "bootstrap" not in names:
            problems.append(f"{name}: {zip_path} has no `bootstrap`")
            continue
        info = z.getinfo("bootstrap")
        head = z.read("bootstrap")[:20]
    mode = info.external_attr >> 16
    if not head.startswith(b"\x7fELF") or int.from_bytes(head[18:20], "little") != machine:
        problems.append(f"{name}: bootstrap of {zip_path} is not an ELF executable for {arch}")
    if mode and not mode & stat.S_IXUSR:
        problems.append(f"{name}: bootstrap of {zip_path} is not executable")
    if max_bytes and size > max_bytes:
        problems.append(f"{name}: {zip_path} is {size} bytes, over {max_bytes}")
    resource["Properties"]["CodeUri"] = os.path.relpath(zip_path, os.path.dirname(os.path.abspath(target)))
    del resource["Metadata"]
    rows.append(f"  {name:20} {binary:24} {size:>10} bytes")
if not rows:
    problems.append("no AWS::Serverless::Function in the template")
if problems:
    sys.exit("[deploy] error: cannot package:\n  " + "\n  ".join(problems))
template["Description"] = template.get("Description", "") + f" Packaged for {arch} by scripts/deploy.sh."
with open(target, "w") as f:
    f.write("# Generated by scripts/deploy.sh from infra/template.yaml: do not edit.\n")
    f.write(yaml_dump(template))
print("\n".join(rows))
PY
log "packaged: ${out#"$ROOT"/}/template.yaml"

step "lint"
# Offline, as the template_lint test runs them on infra/template.yaml: `sam validate` wants a
# region only to name one in its checks; no call is made.
cfn-lint --include-checks I -- "$out/template.yaml"
(cd "$out" && sam validate --lint --template-file template.yaml --region "${region:-us-east-1}")
(cd "$out" && sam validate --template-file template.yaml --region "${region:-us-east-1}")
log "cfn-lint, sam validate --lint and sam validate (SAM's transform): clean"

if [[ "$dry_run" == 1 ]]; then
    step "dry run: done"
    log "to deploy: scripts/deploy.sh --arch $arch --stage $stage (needs AWS credentials)"
    exit 0
fi

step "deploy $stack"
region_args=()
[[ -n "$region" ]] && region_args=(--region "$region")
.venv/bin/python - ${region:+"$region"} <<'PY' || die "no usable AWS credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID...), or no region (--region, AWS_REGION)"
import sys, boto3
session = boto3.session.Session(region_name=(sys.argv[1] if len(sys.argv) > 1 else None))
if not session.region_name:
    sys.exit("[deploy] error: no region")
who = session.client("sts").get_caller_identity()
print(f"[deploy] account {who['Account']} as {who['Arn']}, region {session.region_name}")
PY
(cd "$out" && sam deploy --template-file template.yaml --config-file "$ROOT/infra/samconfig.toml" \
    --stack-name "$stack" ${region_args[@]+"${region_args[@]}"} \
    --parameter-overrides "ServiceName=$service" "Stage=$stage" "Architecture=$arch" \
        ${overrides[@]+"${overrides[@]}"} \
    ${sam_args[@]+"${sam_args[@]}"})

step "outputs"
.venv/bin/python - "$stack" ${region:+"$region"} <<'PY'
import sys, boto3
stack = sys.argv[1]
session = boto3.session.Session(region_name=(sys.argv[2] if len(sys.argv) > 2 else None))
described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
print(f"""
API URL:        {outputs.get('ApiUrl', '?')}
Admin key:      stored in Secrets Manager ({outputs.get('AdminKeySecretArn', '?')}); print it with
                {outputs.get('AdminKeyCommand', '?')}
Try it:         curl -s {outputs.get('ApiUrl', '?')}/v1/health
Alarms:         SNS topic {outputs.get('AlarmTopicArn', '?')}
""")
PY
step "done"
