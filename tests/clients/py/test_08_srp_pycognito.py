"""8. SRP with pycognito (the Python library apps use) on a client WITH a secret, and SRP attacks.

pycognito verifies the tokens it gets against the pool's JWKS with issuer `{endpoint}/{poolId}`.
The negative cases drive boto3 with pycognito's own AWSSRP maths, then alter what goes over the wire.
"""

import base64

import pytest
from botocore.exceptions import ClientError
from pycognito import Cognito
from pycognito.aws_srp import AWSSRP

from clientlib_support import SRP_FLOWS, confirmed_user, module_server
from helpers import PASSWORD, UUID_RE, claims, expect_error, uniq, uniq_email

tobira, idp, pools = module_server()

WRONG = "Incorrect username or password."


@pytest.fixture(scope="module")
def app(idp, pools, tobira):
    """A plain (username) pool with a secret client allowing SRP, and one confirmed user."""
    pool_id = pools.create()["Id"]
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS)
    username = confirmed_user(idp, pool_id, uniq("srp"),
                              attributes=[{"Name": "email", "Value": uniq_email("srp")}])
    return {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"],
            "username": username, "endpoint": tobira.url}


def cognito(app, idp_url, username=None, **kw):
    return Cognito(app["pool_id"], app["client_id"], client_secret=app["secret"],
                   username=username or app["username"],
                   boto3_client_kwargs=dict(endpoint_url=idp_url, region_name="us-east-1",
                                            aws_access_key_id="AKIDTOBIRATEST",
                                            aws_secret_access_key="tobira-test-secret"), **kw)


def srp(app, idp, username=None, password=PASSWORD):
    return AWSSRP(username=username or app["username"], password=password, pool_id=app["pool_id"],
                  client_id=app["client_id"], client=idp, client_secret=app["secret"])


def start_srp(app, idp, username=None, password=PASSWORD):
    """InitiateAuth USER_SRP_AUTH; returns (aws, auth_params, response)."""
    aws = srp(app, idp, username, password)
    params = aws.get_auth_params()
    resp = idp.initiate_auth(ClientId=app["client_id"], AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    assert resp["ChallengeName"] == "PASSWORD_VERIFIER", resp
    return aws, params, resp


def respond(idp, app, resp, challenge_responses):
    kw = {"Session": resp["Session"]} if resp.get("Session") else {}
    return idp.respond_to_auth_challenge(ClientId=app["client_id"], ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=challenge_responses, **kw)


def test_pycognito_authenticate_srp(app, tobira):
    u = cognito(app, tobira.url)
    u.authenticate(password=PASSWORD)  # SRP; raises if the tokens do not verify against the JWKS
    assert u.token_type == "Bearer"
    assert u.refresh_token
    assert u.access_claims["username"] == app["username"]
    assert u.access_claims["iss"] == f"{tobira.url}/{app['pool_id']}"
    assert u.access_claims["client_id"] == app["client_id"]
    assert u.id_claims["aud"] == app["client_id"]
    assert u.id_claims["cognito:username"] == app["username"]
    user = u.get_user()
    assert user.username == app["username"]


def test_pycognito_renew_access_token_and_check_token(app, tobira):
    u = cognito(app, tobira.url)
    u.authenticate(password=PASSWORD)
    first_access, first_refresh = u.access_token, u.refresh_token
    first = claims(first_access)
    tobira.advance_clock(2)
    u.renew_access_token()  # REFRESH_TOKEN_AUTH with SECRET_HASH; verifies the new tokens
    assert u.access_token != first_access
    assert u.refresh_token == first_refresh, "REFRESH_TOKEN_AUTH returns no new refresh token"
    assert u.access_claims["origin_jti"] == first["origin_jti"]
    assert u.access_claims["jti"] != first["jti"]
    assert u.check_token(renew=False) is False, "a fresh access token is not expired"
    assert u.check_token() is False


def test_aws_srp_authenticate_user(app, idp):
    tokens = srp(app, idp).authenticate_user()
    ar = tokens["AuthenticationResult"]
    assert ar["TokenType"] == "Bearer"
    assert ar["ExpiresIn"] == 3600
    assert claims(ar["AccessToken"])["username"] == app["username"]
    assert tokens["ChallengeParameters"] == {}


def test_password_verifier_challenge_shape(app, idp):
    aws, params, resp = start_srp(app, idp)
    cp = resp["ChallengeParameters"]
    assert set(cp) == {"SALT", "SECRET_BLOCK", "SRP_B", "USERNAME", "USER_ID_FOR_SRP"}, cp
    assert cp["USERNAME"] == cp["USER_ID_FOR_SRP"] == app["username"]
    int(cp["SALT"], 16), int(cp["SRP_B"], 16)
    base64.b64decode(cp["SECRET_BLOCK"], validate=True)
    _, _, again = start_srp(app, idp)
    assert again["ChallengeParameters"]["SALT"] == cp["SALT"], "the salt is the user's, stable across calls"
    assert again["ChallengeParameters"]["SRP_B"] != cp["SRP_B"]
    assert again["ChallengeParameters"]["SECRET_BLOCK"] != cp["SECRET_BLOCK"]


def test_srp_on_email_username_pool_uses_the_sub(idp, pools, tobira):
    pool_id = pools.create(UsernameAttributes=["email"])["Id"]
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS)
    email = uniq_email("srpmail")
    sub = confirmed_user(idp, pool_id, email, attributes=[{"Name": "email", "Value": email},
                                                          {"Name": "email_verified", "Value": "true"}])
    sub = idp.admin_get_user(UserPoolId=pool_id, Username=email)["Username"]
    assert UUID_RE.match(sub)
    a = {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"]}
    u = cognito(a, tobira.url, username=email)
    u.authenticate(password=PASSWORD)  # pycognito signs with USER_ID_FOR_SRP and hashes the secret over USERNAME
    assert u.access_claims["username"] == sub
    assert u.id_claims["email"] == email


def test_wrong_password_over_srp(app, tobira):
    with expect_error("NotAuthorizedException", WRONG):
        cognito(app, tobira.url).authenticate(password="Wrong-Passw0rd!")


def test_tampered_password_claim_signature(app, idp):
    aws, params, resp = start_srp(app, idp)
    answer = aws.process_challenge(resp["ChallengeParameters"], params)
    sig = bytearray(base64.b64decode(answer["PASSWORD_CLAIM_SIGNATURE"]))
    sig[0] ^= 0x01
    tampered = dict(answer, PASSWORD_CLAIM_SIGNATURE=base64.b64encode(bytes(sig)).decode())
    with expect_error("NotAuthorizedException", WRONG):
        respond(idp, app, resp, tampered)


def test_tampered_timestamp_breaks_the_signature(app, idp):
    aws, params, resp = start_srp(app, idp)
    answer = aws.process_challenge(resp["ChallengeParameters"], params)
    ts = answer["TIMESTAMP"]
    # Same instant, one second later: a well-formed timestamp the signature was not made over.
    hh, mm, ss = ts.split(" ")[3].split(":")
    bumped = f"{hh}:{mm}:{(int(ss) + 1) % 60:02d}" if int(ss) < 59 else f"{hh}:{mm}:{58:02d}"
    forged = dict(answer, TIMESTAMP=ts.replace(ts.split(" ")[3], bumped))
    with expect_error("NotAuthorizedException", WRONG):
        respond(idp, app, resp, forged)


def test_replayed_password_verifier_is_refused(app, idp):
    aws, params, resp = start_srp(app, idp)
    answer = aws.process_challenge(resp["ChallengeParameters"], params)
    first = respond(idp, app, resp, answer)
    assert first["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as info:
        respond(idp, app, resp, answer)
    err = info.value.response["Error"]
    assert err["Code"] == "NotAuthorizedException", err
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_secret_block_from_another_challenge_is_refused(app, idp):
    """A signature made for one SECRET_BLOCK cannot be sent with another challenge's block."""
    aws1, params1, resp1 = start_srp(app, idp)
    answer1 = aws1.process_challenge(resp1["ChallengeParameters"], params1)
    _, _, resp2 = start_srp(app, idp)
    mixed = dict(answer1, PASSWORD_CLAIM_SECRET_BLOCK=resp2["ChallengeParameters"]["SECRET_BLOCK"])
    with pytest.raises(ClientError) as info:
        respond(idp, app, resp2, mixed)
    assert info.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_srp_without_secret_hash_on_a_secret_client(app, idp):
    aws = srp(app, idp)
    params = {k: v for k, v in aws.get_auth_params().items() if k != "SECRET_HASH"}
    with expect_error("NotAuthorizedException", f"Unable to verify secret hash for client {app['client_id']}"):
        idp.initiate_auth(ClientId=app["client_id"], AuthFlow="USER_SRP_AUTH", AuthParameters=params)


def test_srp_a_zero_mod_n_is_refused(app, idp):
    """SRP_A = N (so A mod N == 0) must be refused before any challenge is issued."""
    aws = srp(app, idp)
    params = dict(aws.get_auth_params(), SRP_A=format(aws.big_n, "x"))
    with pytest.raises(ClientError) as info:
        idp.initiate_auth(ClientId=app["client_id"], AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    assert info.value.response["Error"]["Code"] in ("InvalidParameterException", "NotAuthorizedException")


def test_pycognito_force_change_password_then_new_password_challenge(app, idp, tobira):
    """A temporary password over SRP: pycognito raises ForceChangePasswordException; new_password_challenge
    answers NEW_PASSWORD_REQUIRED (its answer also carries the PASSWORD_VERIFIER fields, which Cognito ignores)."""
    from pycognito.exceptions import ForceChangePasswordException

    username = uniq("fcp")
    idp.admin_create_user(UserPoolId=app["pool_id"], Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword="Temp-Passw0rd!")
    u = cognito(app, tobira.url, username=username)
    with pytest.raises(ForceChangePasswordException):
        u.authenticate(password="Temp-Passw0rd!")
    u.new_password_challenge("Temp-Passw0rd!", PASSWORD)
    assert idp.admin_get_user(UserPoolId=app["pool_id"], Username=username)["UserStatus"] == "CONFIRMED"
    u2 = cognito(app, tobira.url, username=username)
    u2.authenticate(password=PASSWORD)
    assert u2.access_claims["username"] == username
