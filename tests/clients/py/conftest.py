"""Fixtures for the Python client suite: a real tobira process, boto3, the AWS CLI v1, inbox and clock.

See ../CONTRACT.md. Environment:
  TOBIRA_BIN          binary (default <repo>/target/debug/tobira)
  TOBIRA_TEST_STORE   sqlite (default) | postgres
  TOBIRA_TEST_PG_URL  postgres URL (default postgres://postgres@127.0.0.1:5432/test)
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

import helpers

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BIN = os.environ.get("TOBIRA_BIN") or str(REPO / "target" / "debug" / "tobira")
STORE = os.environ.get("TOBIRA_TEST_STORE", "sqlite") or "sqlite"
PG_URL = os.environ.get("TOBIRA_TEST_PG_URL") or "postgres://postgres@127.0.0.1:5432/test"
REGION = "us-east-1"
ACCESS_KEY = "AKIDTOBIRATEST"
SECRET_KEY = "tobira-test-secret"
# Used only for postgres when the caller did not set one, so that every run against the shared
# database encrypts with the same key.
PG_MASTER_KEY = "dG9iaXJhLXB5LWNsaWVudC10ZXN0LW1hc3Rlci1rZXk="  # 32 bytes, base64
START_TIMEOUT = 60.0
LISTEN_RE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")

_AWS_DIR = tempfile.mkdtemp(prefix="tobira-py-aws-")
_AWS_CONFIG = os.path.join(_AWS_DIR, "config")
_AWS_CREDS = os.path.join(_AWS_DIR, "credentials")


def _isolated_aws_env(base):
    """Environment with no trace of the machine's AWS configuration."""
    env = {k: v for k, v in base.items() if not k.startswith("AWS_") and not k.startswith("BOTO")}
    env.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": _AWS_CONFIG,
        "AWS_SHARED_CREDENTIALS_FILE": _AWS_CREDS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_PAGER": "",
    })
    no_proxy = "127.0.0.1,localhost"
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(x for x in (env.get(key), no_proxy) if x)
    return env


def pytest_configure(config):
    for path in (_AWS_CONFIG, _AWS_CREDS):
        Path(path).write_text("")
    # boto3 in this process must not see the machine's AWS config either.
    clean = _isolated_aws_env(os.environ)
    for key in list(os.environ):
        if key not in clean:
            del os.environ[key]
    os.environ.update(clean)


def pytest_report_header(config):
    return f"tobira: {BIN} (store: {STORE})"


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Tobira:
    """A running tobira process and its test endpoints."""

    def __init__(self, proc, url, log_path, data_dir):
        self.proc = proc
        self.url = url
        self.log_path = log_path
        self.data_dir = data_dir

    # -- raw HTTP to tobira's own /_tobira/* endpoints (and public JWKS) --
    def http(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with _NO_PROXY_OPENER.open(req, timeout=30) as resp:
            raw = resp.read()
            assert 200 <= resp.status < 300, f"{method} {path}: HTTP {resp.status} {raw[:300]!r}"
            return json.loads(raw) if raw else None

    def inbox(self, pool_id, username):
        q = urllib.parse.urlencode({"poolId": pool_id, "username": username})
        return self.http("GET", f"/_tobira/inbox?{q}")["messages"]

    def last_message(self, pool_id, username):
        msgs = [m for m in self.inbox(pool_id, username) if m.get("code")]
        assert msgs, f"no message with a code in the inbox for {username} in {pool_id}"
        return msgs[-1]

    def last_code(self, pool_id, username):
        return self.last_message(pool_id, username)["code"]

    def now_millis(self):
        return self.http("GET", "/_tobira/clock")["nowMillis"]

    def advance_clock(self, seconds):
        before = self.now_millis()
        self.http("POST", "/_tobira/clock", {"advanceSeconds": seconds})
        after = self.now_millis()
        assert after >= before + seconds * 1000, f"clock did not advance by {seconds}s: {before} -> {after}"
        return after

    def jwks(self, pool_id):
        return self.http("GET", f"/{pool_id}/.well-known/jwks.json")

    def issuer(self, pool_id):
        return f"{self.url}/{pool_id}"

    def log_tail(self, n=60):
        try:
            lines = Path(self.log_path).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _check_postgres_reachable(url):
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5432
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise RuntimeError(f"TOBIRA_TEST_STORE=postgres but {host}:{port} is unreachable: {exc}") from exc


@pytest.fixture(scope="session")
def tobira(tmp_path_factory):
    if not os.path.isfile(BIN) or not os.access(BIN, os.X_OK):
        raise RuntimeError(f"tobira binary not found at {BIN}: run `cargo build` first (or set TOBIRA_BIN)")
    if STORE not in ("sqlite", "postgres"):
        raise RuntimeError(f"TOBIRA_TEST_STORE must be sqlite or postgres, not {STORE!r}")
    root = tmp_path_factory.mktemp("tobira")
    data_dir = root / "data"
    data_dir.mkdir()
    log_path = root / "tobira.log"
    cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--test-clock"]
    # Only the contract's knobs reach tobira: no stray TOBIRA_* settings, no ./tobira.toml from the cwd.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOBIRA_") or k == "TOBIRA_MASTER_KEY"}
    if STORE == "postgres":
        _check_postgres_reachable(PG_URL)
        cmd += ["--database-url", PG_URL]
        env.setdefault("TOBIRA_MASTER_KEY", PG_MASTER_KEY)
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
                            cwd=str(root))

    found = threading.Event()
    state = {"url": None, "lines": []}

    def reader():
        # Keeps draining stdout for the whole run so tobira never blocks on a full pipe.
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            state["lines"].append(line)
            if state["url"] is None:
                m = LISTEN_RE.search(line)
                if m:
                    state["url"] = m.group(1)
                    found.set()
        found.set()  # EOF: the process is gone

    thread = threading.Thread(target=reader, name="tobira-stdout", daemon=True)
    thread.start()
    server = None
    try:
        found.wait(START_TIMEOUT)
        if state["url"] is None:
            raise RuntimeError(
                f"tobira did not print 'listening on http://127.0.0.1:PORT' within {START_TIMEOUT}s "
                f"(exit code {proc.poll()}); stdout: {state['lines'][:5]!r}\n"
                f"--- stderr tail ({log_path}) ---\n{Path(log_path).read_text(errors='replace')[-4000:]}")
        assert LISTEN_RE.search(state["lines"][0]), \
            f"contract: the first stdout line must carry the listen address, got {state['lines'][0]!r}"
        server = Tobira(proc, state["url"], log_path, data_dir)
        yield server
    finally:
        rc = proc.poll()
        if rc is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = "killed (no exit within 20s of SIGTERM)"
        thread.join(timeout=5)
        log.close()
        if server is not None and rc != 0:
            raise AssertionError(f"contract: tobira must exit 0 on SIGTERM, got {rc}\n"
                                 f"--- stderr tail ({log_path}) ---\n{server.log_tail()}")


@pytest.fixture(scope="session")
def idp(tobira):
    """boto3 cognito-idp client pointed at tobira. One HTTP request per call (no retries)."""
    return boto3.session.Session().client(
        "cognito-idp",
        endpoint_url=tobira.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60),
    )


class AwsResult:
    def __init__(self, cp):
        self.returncode = cp.returncode
        self.stdout = cp.stdout
        self.stderr = cp.stderr

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else None


@pytest.fixture(scope="session")
def aws(tobira):
    """aws(*args, check=True): runs `python -m awscli cognito-idp … --endpoint-url … --output json`."""
    env = _isolated_aws_env(os.environ)

    def run(*args, check=True):
        cmd = [sys.executable, "-m", "awscli", "cognito-idp", *args,
               "--endpoint-url", tobira.url, "--output", "json"]
        cp = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                            stdin=subprocess.DEVNULL)
        res = AwsResult(cp)
        if check:
            assert cp.returncode == 0, f"aws {' '.join(args)} exited {cp.returncode}\nstderr: {cp.stderr}"
        return res

    return run


class Pools:
    """Creates pools with unique names and deletes them at the end of the session."""

    def __init__(self, idp):
        self.idp = idp
        self.created = []

    def create(self, **kwargs):
        kwargs.setdefault("PoolName", helpers.uniq("pypool-"))
        pool = self.idp.create_user_pool(**kwargs)["UserPool"]
        self.created.append(pool["Id"])
        return pool

    def client(self, pool_id, **kwargs):
        kwargs.setdefault("ClientName", helpers.uniq("pyclient-"))
        return self.idp.create_user_pool_client(UserPoolId=pool_id, **kwargs)["UserPoolClient"]

    def cleanup(self):
        for pool_id in self.created:
            try:
                self.idp.delete_user_pool(UserPoolId=pool_id)
            except Exception:  # already deleted by a test, or the server is gone
                pass


@pytest.fixture(scope="session")
def pools(idp):
    p = Pools(idp)
    yield p
    p.cleanup()



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "call" and call.excinfo is not None:
        # Point at tobira's log when a test fails.
        server = getattr(item, "funcargs", {}).get("tobira")
        if server is not None:
            item.add_report_section("call", "tobira log", f"(full log: {server.log_path})\n{server.log_tail(30)}")
    yield
