"""Pure helpers for the Python client suite (no fixtures here; see conftest.py)."""

import base64
import hashlib
import hmac
import json
import re
import uuid
from contextlib import contextmanager

import pytest
import rsa
from botocore.exceptions import ClientError

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
POOL_ID_RE = re.compile(r"^us-east-1_[0-9A-Za-z]{9}$")
CLIENT_ID_RE = re.compile(r"^[0-9a-z]{26}$")

# A password that satisfies the default policy (8+, upper, lower, number, symbol).
PASSWORD = "Tobira-Pass1!"
OTHER_PASSWORD = "Another-Pass2?"
TEMP_PASSWORD = "Temp-Pass3#"


def uniq(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def uniq_email(prefix="user"):
    return f"{uniq(prefix)}@example.com"


def secret_hash(username, client_id, client_secret):
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def attrs(items):
    """[{'Name':…,'Value':…}, …] -> {name: value}; fails on duplicate names."""
    out = {}
    for item in items:
        assert item["Name"] not in out, f"duplicate attribute {item['Name']} in {items}"
        out[item["Name"]] = item["Value"]
    return out


def body(resp):
    """A boto3 response without ResponseMetadata."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def _b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    parts = token.split(".")
    assert len(parts) == 3, f"not a 3-part JWT: {token[:40]}…"
    header = json.loads(_b64url(parts[0]))
    payload = json.loads(_b64url(parts[1]))
    return header, payload


def claims(token):
    return jwt_parts(token)[1]


def verify_jwt_signature(token, jwks):
    """RS256 signature check of `token` against a JWKS document (raises on failure)."""
    header, _ = jwt_parts(token)
    assert header.get("alg") == "RS256", header
    kid = header.get("kid")
    keys = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert len(keys) == 1, f"kid {kid!r} not (uniquely) in JWKS {[k.get('kid') for k in jwks['keys']]}"
    jwk = keys[0]
    assert jwk["kty"] == "RSA"
    n = int.from_bytes(_b64url(jwk["n"]), "big")
    e = int.from_bytes(_b64url(jwk["e"]), "big")
    signing_input, sig = token.rsplit(".", 1)
    assert rsa.verify(signing_input.encode(), _b64url(sig), rsa.PublicKey(n, e)) == "SHA-256"


@contextmanager
def expect_error(code, message=None, status=400, message_startswith=None):
    """Expect a botocore ClientError with this Error.Code (and exact Message when given) and HTTP status.

    Also checks that the wire body carried the lowercase `message` member (botocore copies it to the
    top-level `message` key of the response), as real Cognito error bodies do.
    """
    with pytest.raises(ClientError) as info:
        yield info
    resp = info.value.response
    err = resp.get("Error", {})
    assert err.get("Code") == code, f"expected {code}, got {err.get('Code')}: {err.get('Message')!r}"
    if message is not None:
        assert err.get("Message") == message, f"{code}: message {err.get('Message')!r} != {message!r}"
    if message_startswith is not None:
        assert (err.get("Message") or "").startswith(message_startswith), \
            f"{code}: message {err.get('Message')!r} does not start with {message_startswith!r}"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status, \
        f"{code}: HTTP {resp['ResponseMetadata']['HTTPStatusCode']} != {status}"
    assert resp.get("message") == err.get("Message"), \
        f"error body has no lowercase 'message' member equal to the message: {resp!r}"


def masked(destination, real):
    """A CodeDeliveryDetails destination must be masked, not the plain address."""
    return isinstance(destination, str) and destination != real and "*" in destination


class FlowState:
    """State shared by the ordered steps of one flow. Reading a value that an earlier (failed) step
    never set skips the test instead of failing it a second time."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.skip(f"needs '{name}' from an earlier step of this flow, which failed")
