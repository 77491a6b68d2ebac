"""Support for the SRP / MFA / device / auth-event / USER_AUTH tests (test_08 … test_11).

These tests move tobira's test clock (session expiry, TOTP steps), and real SRP clients stamp
PASSWORD_VERIFIER with the machine's own clock (tobira allows a few minutes of skew). So each of these
modules gets its own tobira (`tobira`, `idp`, `pools` overridden at module scope), independent of the
session-wide server that test_07 moves by days.

Usage in a test module:

    from clientlib_support import module_server
    tobira, idp, pools = module_server()
"""

import base64
import hashlib
import hmac
import os
import signal
import struct
import subprocess
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

import conftest
import helpers


def module_server():
    """Module-scoped replacements for conftest's session fixtures `tobira`, `idp` and `pools`."""

    @pytest.fixture(scope="module", name="tobira")
    def _tobira(tmp_path_factory):
        yield from _run_tobira(tmp_path_factory)

    @pytest.fixture(scope="module", name="idp")
    def _idp(tobira):
        return boto3.session.Session().client(
            "cognito-idp", endpoint_url=tobira.url, region_name=conftest.REGION,
            aws_access_key_id=conftest.ACCESS_KEY, aws_secret_access_key=conftest.SECRET_KEY,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60))

    @pytest.fixture(scope="module", name="pools")
    def _pools(idp):
        p = conftest.Pools(idp)
        yield p
        p.cleanup()

    return _tobira, _idp, _pools


def _run_tobira(tmp_path_factory):
    if not os.path.isfile(conftest.BIN) or not os.access(conftest.BIN, os.X_OK):
        raise RuntimeError(f"tobira binary not found at {conftest.BIN}: run `cargo build` first (or set TOBIRA_BIN)")
    root = tmp_path_factory.mktemp("tobira-mod")
    data_dir = root / "data"
    data_dir.mkdir()
    log_path = root / "tobira.log"
    cmd = [conftest.BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--test-clock"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOBIRA_") or k == "TOBIRA_MASTER_KEY"}
    if conftest.STORE == "postgres":
        conftest._check_postgres_reachable(conftest.PG_URL)
        cmd += ["--database-url", conftest.PG_URL]
        env.setdefault("TOBIRA_MASTER_KEY", conftest.PG_MASTER_KEY)
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=str(root))
    found = threading.Event()
    state = {"url": None}

    def reader():
        for raw in proc.stdout:
            if state["url"] is None:
                m = conftest.LISTEN_RE.search(raw.decode(errors="replace"))
                if m:
                    state["url"] = m.group(1)
                    found.set()
        found.set()

    thread = threading.Thread(target=reader, name="tobira-mod-stdout", daemon=True)
    thread.start()
    try:
        found.wait(conftest.START_TIMEOUT)
        if state["url"] is None:
            raise RuntimeError(f"tobira did not start (exit {proc.poll()}):\n"
                               f"{Path(log_path).read_text(errors='replace')[-4000:]}")
        yield conftest.Tobira(proc, state["url"], log_path, data_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        thread.join(timeout=5)
        log.close()


# ---------------------------------------------------------------------------------------------------------
# TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), computed at tobira's clock.

def totp_at(secret_b32, millis):
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int(millis // 1000) // 30
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


# RFC 6238 appendix B (SHA1, T=59 s): 94287082 -> the 6-digit code is 287082.
assert totp_at(base64.b32encode(b"12345678901234567890").decode(), 59_000) == "287082"


def totp_now(tobira, secret):
    return totp_at(secret, tobira.now_millis())


def next_totp_step(tobira):
    """Move tobira's clock a second or two into the next 30-second step."""
    now = tobira.now_millis()
    seconds = (30_000 - now % 30_000) // 1000 + 2
    return tobira.advance_clock(seconds)


def wrong_totp(tobira, secret):
    now = tobira.now_millis()
    near = {totp_at(secret, now + k * 30_000) for k in range(-2, 3)}
    code = totp_at(secret, now)
    for i in range(1, 10):
        cand = f"{(int(code) + 111_111 * i) % 1_000_000:06d}"
        if cand not in near:
            return cand
    raise AssertionError("no wrong code found")


# ---------------------------------------------------------------------------------------------------------
# Pool and user set-up.

SRP_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


def confirmed_user(idp, pool_id, username, password=helpers.PASSWORD, attributes=()):
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=helpers.TEMP_PASSWORD, UserAttributes=list(attributes))
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    return username


def enable_totp(idp, tobira, access_token):
    """AssociateSoftwareToken + VerifySoftwareToken + SetUserMFAPreference(preferred); returns the secret."""
    secret = idp.associate_software_token(AccessToken=access_token)["SecretCode"]
    out = idp.verify_software_token(AccessToken=access_token, UserCode=totp_now(tobira, secret),
                                    FriendlyDeviceName="phone")
    assert out["Status"] == "SUCCESS", out
    idp.set_user_mfa_preference(AccessToken=access_token,
                                SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    next_totp_step(tobira)  # the verification code may not be used again
    return secret
