#!/usr/bin/env python3
"""Cold-start ("init") time of each Lambda bootstrap, measured locally (BENCHMARKS.md).

For each function it unzips target/lambda/<arch>/<fn>/bootstrap.zip, and N times:
  1. starts the bootstrap as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a fake Runtime
     API served by this script on 127.0.0.1, the function's environment as in
     infra/template.yaml, dummy AWS credentials, region us-east-1);
  2. init = time from just before spawning the process to its first
     `GET /2018-06-01/runtime/invocation/next` (the function is ready for its first event);
  3. hands it one event and measures first-event latency = event sent -> its
     `POST .../invocation/<id>/response` (or `/error`);
  4. kills the process when it asks for the next event.
It prints median and p90 per function (and a JSON report with --json).

Events: the HTTP functions get an API Gateway HTTP API (v2) `GET /v1/health` event (answered
from the rate books, no DynamoDB request); credits-cycle-rollover gets the scheduler event of
tests/fixtures/eventbridge-rollover.json, which reads DynamoDB. By default DynamoDB is an
unused loopback port (connection refused): init never contacts DynamoDB, so init time is
unaffected; the rollover's first event then fails after the SDK's retries (reported as
`error`). `--dynamodb-endpoint URL` points the functions at a real endpoint instead (e.g.
DynamoDB Local with the table created); `--event FILE` sends another event to every function
(an `id` in its JSON body is made unique per run, so each run charges anew rather than
replaying); `--env NAME=VALUE` adds a variable (e.g. SSL_CERT_FILE).
`--admin-key-secret` gives the HTTP functions the admin key as the template does, by a
Secrets Manager secret (`CREDITS_ADMIN_KEY_SECRET_ARN`), which they read during init: this
script's server answers that `GetSecretValue` too (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, over
loopback, so the figure holds the code path but not the network of a real region).

The static admin key configured (as its SHA-256) is the one of tests/fixtures, so the fixture
events authenticate. python3 standard library only. Usage:
  scripts/measure-init.py                      # all five functions, N=20, x86_64
  scripts/measure-init.py -n 50 credits-charge
  scripts/measure-init.py --json
  scripts/measure-init.py --admin-key-secret     # init reads the admin key's secret
  scripts/measure-init.py credits-charge --dynamodb-endpoint http://127.0.0.1:8000 \
      --event tests/fixtures/apigw-v2-charge.json   # account `acme` must exist, with credits
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = [
    "credits-charge",
    "credits-topup",
    "credits-refund",
    "credits-account",
    "credits-cycle-rollover",
]
# The static admin key of tests/fixtures (only its SHA-256 reaches the function).
FIXTURE_ADMIN_KEY = "lambda-fixture-admin-key-0123456789"
PREFIX = "/2018-06-01/runtime"
ADMIN_KEY_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-key-AbCdEf"


def health_event() -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": "GET /v1/health",
        "rawPath": "/v1/health",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "measure-init/1.0",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": "GET",
                "path": "/v1/health",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "measure-init/1.0",
            },
            "requestId": "req-health",
            "routeKey": "GET /v1/health",
            "stage": "$default",
            "time": "15/Jan/2026:10:00:00 +0000",
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }


class Run:
    """What one process did, filled in by the server's threads."""

    def __init__(self, event: bytes):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.lock = threading.Lock()
        self.first_next: int | None = None  # perf_counter_ns of the first GET next
        self.event_sent: int | None = None
        self.answered: int | None = None
        self.outcome: str | None = None  # "response" | "error" | "init-error"
        self.body: bytes = b""
        self.done = threading.Event()  # first event answered (or init error)
        self.release = threading.Event()  # lets a parked second GET next return


class RuntimeApi(http.server.ThreadingHTTPServer):
    """One per process run (a fresh port), so a late request of a killed process can never
    be taken for the next process's."""

    daemon_threads = True
    run: Run | None = None

    def handle_error(self, request, client_address):  # killed processes reset connections
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    server: RuntimeApi

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        arrived = time.perf_counter_ns()
        run = self.server.run
        if run is None or self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorMessage":"unknown path"}')
            return
        with run.lock:
            first = run.first_next is None
            if first:
                run.first_next = arrived
        if not first:
            # Lambda freezes a function waiting for its next event: park it until killed.
            run.release.wait(timeout=30)
            self._reply(410, b'{"errorMessage":"no more events"}')
            return
        deadline_ms = int(time.time() * 1000) + 30_000
        headers = {
            "Lambda-Runtime-Aws-Request-Id": run.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:measure-init",
            "Lambda-Runtime-Trace-Id": "Root=1-65a1b2c3-0123456789abcdef01234567;Sampled=0",
        }
        run.event_sent = time.perf_counter_ns()
        self._reply(200, run.event, headers)

    def do_POST(self):
        arrived = time.perf_counter_ns()
        body = self._body()
        run = self.server.run
        if run is None:
            self._reply(404)
            return
        if self.headers.get("X-Amz-Target") == "secretsmanager.GetSecretValue":
            secret = {"ARN": ADMIN_KEY_SECRET_ARN, "Name": "admin-key",
                      "SecretString": FIXTURE_ADMIN_KEY, "VersionId": str(uuid.uuid4()),
                      "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9}
            self._reply(200, json.dumps(secret).encode(),
                        {"Content-Type": "application/x-amz-json-1.1"})
            return
        if self.path == f"{PREFIX}/invocation/{run.request_id}/response":
            outcome = "response"
        elif self.path == f"{PREFIX}/invocation/{run.request_id}/error":
            outcome = "error"
        elif self.path == f"{PREFIX}/init/error":
            outcome = "init-error"
        else:
            self._reply(404, b'{"errorMessage":"unknown path"}')
            return
        with run.lock:
            if run.outcome is None:
                run.answered = arrived
                run.outcome = outcome
                run.body = body
        self._reply(202, b'{"status":"OK"}')
        run.done.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unzip_bootstrap(zip_path: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extract("bootstrap", into)
    binary = into / "bootstrap"
    binary.chmod(0o755)
    return binary


def environment(function: str, endpoint: str, task_root: pathlib.Path) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        # As infra/template.yaml (it changes nothing locally).
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512" if function == "credits-cycle-rollover" else "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/22/[$LATEST]measure-init",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDMEASUREINIT",
        "AWS_SECRET_ACCESS_KEY": "measure-init-secret",
        "AWS_SESSION_TOKEN": "measure-init-token",
        "CREDITS_TABLE": "credits",
        "CREDITS_ADMIN_KEY_SHA256": hashlib.sha256(FIXTURE_ADMIN_KEY.encode()).hexdigest(),
        "CREDITS_DYNAMODB_ENDPOINT": endpoint,
        "AWS_LAMBDA_LOG_LEVEL": "info",
    }


def fresh_ids(event: bytes) -> bytes:
    """The event with the `id` of its JSON body made unique, so that every run charges anew
    instead of replaying the first run's charge."""
    try:
        document = json.loads(event)
        body = json.loads(document["body"])
        body["id"] = f"{body['id']}-{uuid.uuid4().hex[:12]}"
        document["body"] = json.dumps(body)
        return json.dumps(document).encode()
    except (ValueError, KeyError, TypeError):
        return event


def measure_once(binary: pathlib.Path, env: dict, event: bytes, log_path: pathlib.Path,
                 timeout: float) -> dict:
    run = Run(fresh_ids(event))
    server = RuntimeApi(("127.0.0.1", 0), Handler)
    server.run = run
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    env = dict(env, AWS_LAMBDA_RUNTIME_API=address)
    if "CREDITS_ADMIN_KEY_SECRET_ARN" in env:
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = f"http://{address}"
    with open(log_path, "ab") as log:
        started = time.perf_counter_ns()
        process = subprocess.Popen([str(binary)], env=env, cwd=binary.parent,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            finished = run.done.wait(timeout)
            exited = process.poll()
        finally:
            run.release.set()
            process.kill()
            process.wait()
            server.shutdown()
            server.server_close()
    result: dict = {"outcome": run.outcome or ("exited" if exited is not None else "timeout")}
    if run.first_next is not None:
        result["init_ms"] = (run.first_next - started) / 1e6
    if finished and run.event_sent is not None and run.answered is not None:
        result["first_event_ms"] = (run.answered - run.event_sent) / 1e6
    if run.outcome in ("response", "error", "init-error"):
        try:
            payload = json.loads(run.body or b"null")
        except ValueError:
            payload = None
        if run.outcome == "response" and isinstance(payload, dict):
            if "statusCode" in payload:  # an HTTP function's answer
                result["status"] = payload["statusCode"]
        elif isinstance(payload, dict):
            message = str(payload.get("errorMessage") or payload.get("errorType"))
            result["error"] = message if len(message) <= 60 else message[:57] + "..."
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # nearest rank
    return ordered[int(rank) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("functions", nargs="*", default=FUNCTIONS)
    parser.add_argument("-n", type=int, default=20, help="runs per function (default 20)")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--lambda-dir", type=pathlib.Path, default=ROOT / "target" / "lambda")
    parser.add_argument("--dynamodb-endpoint", help="default: an unused loopback port")
    parser.add_argument("--event", type=pathlib.Path, help="send this event to every function")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="one more environment variable for the functions (repeatable)")
    parser.add_argument("--admin-key-secret", action="store_true",
                        help="the HTTP functions read the admin key from a (local) secret")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    endpoint = args.dynamodb_endpoint or f"http://127.0.0.1:{free_port()}"
    custom_event = args.event.read_bytes() if args.event else None
    rollover_event = (ROOT / "tests" / "fixtures" / "eventbridge-rollover.json").read_bytes()
    health = json.dumps(health_event()).encode()

    report = {"arch": args.arch, "runs": args.n, "dynamodb_endpoint": endpoint,
              "admin_key_secret": args.admin_key_secret,
              "cpu": cpu_model(), "cores": os.cpu_count(), "functions": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="measure-init-") as tmp:
        for function in args.functions:
            zip_path = args.lambda_dir / args.arch / function / "bootstrap.zip"
            if not zip_path.is_file():
                print(f"{function}: {zip_path} not found (run scripts/lambda-build.sh)",
                      file=sys.stderr)
                failed = True
                continue
            task_root = pathlib.Path(tmp) / function
            task_root.mkdir()
            binary = unzip_bootstrap(zip_path, task_root)
            env = environment(function, endpoint, task_root)
            if args.admin_key_secret and function != "credits-cycle-rollover":
                del env["CREDITS_ADMIN_KEY_SHA256"]
                env["CREDITS_ADMIN_KEY_SECRET_ARN"] = ADMIN_KEY_SECRET_ARN
            env.update(item.split("=", 1) for item in args.env)
            event = custom_event or (rollover_event if function == "credits-cycle-rollover"
                                     else health)
            log_path = pathlib.Path(tmp) / f"{function}.log"
            # One unmeasured run: the page cache holds the binary, as on a warm Lambda host.
            measure_once(binary, env, event, log_path, args.timeout)
            runs = [measure_once(binary, env, event, log_path, args.timeout)
                    for _ in range(args.n)]
            inits = [r["init_ms"] for r in runs if "init_ms" in r]
            firsts = [r["first_event_ms"] for r in runs if "first_event_ms" in r]
            outcomes: dict[str, int] = {}
            for r in runs:
                key = r["outcome"] + (f" {r['status']}" if "status" in r else "") + (
                    f" ({r['error']})" if r.get("error") else "")
                outcomes[key] = outcomes.get(key, 0) + 1
            summary = {
                "zip_bytes": zip_path.stat().st_size,
                "bootstrap_bytes": binary.stat().st_size,
                "outcomes": outcomes,
            }
            if inits:
                summary.update(init_median_ms=statistics.median(inits),
                               init_p90_ms=percentile(inits, 90),
                               init_min_ms=min(inits), init_max_ms=max(inits))
            if firsts:
                summary.update(first_event_median_ms=statistics.median(firsts),
                               first_event_p90_ms=percentile(firsts, 90))
            if len(inits) < args.n:
                failed = True
                log_tail = log_path.read_text(errors="replace")[-2000:]
                summary["log_tail"] = log_tail
            report["functions"][function] = summary
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"# {args.n} runs each, {args.arch}, {report['cores']} cores ({report['cpu']}), "
              f"DynamoDB endpoint {endpoint}")
        print(f"{'function':<24} {'init p50':>9} {'init p90':>9} {'min':>7} {'max':>7} "
              f"{'1st event p50':>14} {'p90':>8}  first event outcome")
        for function, s in report["functions"].items():
            if "init_median_ms" not in s:
                print(f"{function:<24} no init measured: {s['outcomes']}\n{s.get('log_tail', '')}")
                continue
            first = (f"{s['first_event_median_ms']:11.2f} ms {s['first_event_p90_ms']:5.2f} ms"
                     if "first_event_median_ms" in s else f"{'-':>14} {'-':>8}")
            print(f"{function:<24} {s['init_median_ms']:6.2f} ms {s['init_p90_ms']:6.2f} ms "
                  f"{s['init_min_ms']:7.2f} {s['init_max_ms']:7.2f} {first}  "
                  + ", ".join(f"{k} ×{v}" for k, v in s["outcomes"].items()))
    return 1 if failed else 0


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
