"""11. Choice-based sign-in (AuthFlow USER_AUTH): PREFERRED_CHALLENGE, SELECT_CHALLENGE / AvailableChallenges,
PASSWORD, PASSWORD_SRP and EMAIL_OTP with the code from tobira's inbox.

Cognito offers USER_AUTH on the Essentials tier; the pool's first factors are
Policies.SignInPolicy.AllowedFirstAuthFactors and the client needs ALLOW_USER_AUTH.
"""

import pytest
from pycognito.aws_srp import AWSSRP

from clientlib_support import confirmed_user, module_server
from helpers import PASSWORD, claims, expect_error, masked, secret_hash, uniq_email

tobira, idp, pools = module_server()

EMAIL_CONFIG = {"EmailSendingAccount": "DEVELOPER", "From": "no-reply@example.com",
                "SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com"}
FACTORS = ["PASSWORD", "EMAIL_OTP"]


@pytest.fixture(scope="module")
def pool(idp, pools):
    pool_id = pools.create(UserPoolTier="ESSENTIALS", UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
                           EmailConfiguration=EMAIL_CONFIG,
                           Policies={"SignInPolicy": {"AllowedFirstAuthFactors": FACTORS}})["Id"]
    client = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    return {"pool_id": pool_id, "client_id": client["ClientId"]}


@pytest.fixture(scope="module")
def user(idp, pool):
    email = uniq_email("choice")
    confirmed_user(idp, pool["pool_id"], email, attributes=[{"Name": "email", "Value": email},
                                                            {"Name": "email_verified", "Value": "true"}])
    sub = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=email)["Username"]
    return {"email": email, "sub": sub}


def user_auth(idp, pool, **params):
    return idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_AUTH", AuthParameters=params)


def respond(idp, pool, challenge, session, **responses):
    return idp.respond_to_auth_challenge(ClientId=pool["client_id"], ChallengeName=challenge, Session=session,
                                         ChallengeResponses=responses)


def assert_tokens(out, sub):
    ar = out["AuthenticationResult"]
    assert ar["TokenType"] == "Bearer"
    assert ar["RefreshToken"]
    assert claims(ar["AccessToken"])["username"] == sub
    return ar


def test_sign_in_policy_is_kept(idp, pool):
    got = idp.describe_user_pool(UserPoolId=pool["pool_id"])["UserPool"]
    assert got["Policies"]["SignInPolicy"]["AllowedFirstAuthFactors"] == FACTORS
    c = idp.describe_user_pool_client(UserPoolId=pool["pool_id"], ClientId=pool["client_id"])["UserPoolClient"]
    assert "ALLOW_USER_AUTH" in c["ExplicitAuthFlows"]


def test_preferred_password_signs_in_at_once(idp, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"], PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)
    assert "ChallengeName" not in out, out.get("ChallengeName")
    assert_tokens(out, user["sub"])


def test_preferred_password_with_a_wrong_password(idp, pool, user):
    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        user_auth(idp, pool, USERNAME=user["email"], PREFERRED_CHALLENGE="PASSWORD", PASSWORD="Wrong-Passw0rd!")


def test_no_preference_gives_select_challenge(idp, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"])
    assert out["ChallengeName"] == "SELECT_CHALLENGE"
    assert out["Session"]
    available = out["AvailableChallenges"]
    assert {"PASSWORD", "EMAIL_OTP"} <= set(available), available
    assert not {"SMS_OTP", "WEB_AUTHN"} & set(available), f"only the pool's allowed factors: {available}"
    assert "AuthenticationResult" not in out


def test_select_email_otp_then_code_from_inbox(idp, tobira, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"])
    assert out["ChallengeName"] == "SELECT_CHALLENGE"
    before = len(tobira.inbox(pool["pool_id"], user["email"]))
    otp = respond(idp, pool, "SELECT_CHALLENGE", out["Session"], USERNAME=user["email"], ANSWER="EMAIL_OTP")
    assert otp["ChallengeName"] == "EMAIL_OTP"
    assert otp["Session"]
    cp = otp["ChallengeParameters"]
    assert cp["CODE_DELIVERY_DELIVERY_MEDIUM"] == "EMAIL"
    assert masked(cp["CODE_DELIVERY_DESTINATION"], user["email"]), cp
    msgs = tobira.inbox(pool["pool_id"], user["email"])[before:]
    assert len(msgs) == 1, msgs
    assert msgs[0]["channel"] == "EMAIL" and msgs[0]["destination"] == user["email"]
    code = msgs[0]["code"]
    assert code and code in msgs[0]["message"]
    ok = respond(idp, pool, "EMAIL_OTP", otp["Session"], USERNAME=user["email"], EMAIL_OTP_CODE=code)
    ar = assert_tokens(ok, user["sub"])
    assert idp.get_user(AccessToken=ar["AccessToken"])["Username"] == user["sub"]


def test_email_otp_wrong_code(idp, tobira, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"], PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "EMAIL_OTP", "PREFERRED_CHALLENGE=EMAIL_OTP goes straight to the code"
    code = tobira.last_code(pool["pool_id"], user["email"])
    with expect_error("CodeMismatchException"):
        respond(idp, pool, "EMAIL_OTP", out["Session"], USERNAME=user["email"],
                EMAIL_OTP_CODE=f"{(int(code) + 1) % 1_000_000:0{len(code)}d}")


def test_preferred_email_otp(idp, tobira, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"], PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "EMAIL_OTP"
    code = tobira.last_code(pool["pool_id"], user["email"])
    ok = respond(idp, pool, "EMAIL_OTP", out["Session"], USERNAME=user["email"], EMAIL_OTP_CODE=code)
    assert_tokens(ok, user["sub"])


def test_select_password(idp, pool, user):
    out = user_auth(idp, pool, USERNAME=user["email"])
    ok = respond(idp, pool, "SELECT_CHALLENGE", out["Session"], USERNAME=user["email"], ANSWER="PASSWORD",
                 PASSWORD=PASSWORD)
    assert_tokens(ok, user["sub"])


def test_select_password_srp(idp, pool, user):
    """ANSWER=PASSWORD_SRP with SRP_A leads to PASSWORD_VERIFIER, answered with pycognito's SRP maths."""
    out = user_auth(idp, pool, USERNAME=user["email"])
    aws = AWSSRP(username=user["email"], password=PASSWORD, pool_id=pool["pool_id"], client_id=pool["client_id"],
                 client=idp)
    params = aws.get_auth_params()
    pv = respond(idp, pool, "SELECT_CHALLENGE", out["Session"], USERNAME=user["email"], ANSWER="PASSWORD_SRP",
                 SRP_A=params["SRP_A"])
    assert pv["ChallengeName"] == "PASSWORD_VERIFIER"
    assert pv["ChallengeParameters"]["USER_ID_FOR_SRP"] == user["sub"]
    answer = aws.process_challenge(pv["ChallengeParameters"], params)
    kw = {"Session": pv["Session"]} if pv.get("Session") else {}
    ok = idp.respond_to_auth_challenge(ClientId=pool["client_id"], ChallengeName="PASSWORD_VERIFIER",
                                       ChallengeResponses=answer, **kw)
    assert_tokens(ok, user["sub"])


def test_user_auth_needs_allow_user_auth_on_the_client(idp, pools, pool, user):
    other = pools.client(pool["pool_id"], ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    with expect_error("InvalidParameterException") as info:
        idp.initiate_auth(ClientId=other["ClientId"], AuthFlow="USER_AUTH",
                          AuthParameters={"USERNAME": user["email"], "PREFERRED_CHALLENGE": "PASSWORD",
                                          "PASSWORD": PASSWORD})
    # Same common tail as the other flows (see test_05_errors).
    assert info.value.response["Error"]["Message"].endswith("low not enabled for this client")


SMS_CONFIG = {"SnsCallerArn": "arn:aws:iam::123456789012:role/cognito-sms", "ExternalId": "tobira-tests",
              "SnsRegion": "us-east-1"}


def test_sms_otp_first_factor(idp, tobira, pools):
    pool_id = pools.create(UserPoolTier="ESSENTIALS", UsernameAttributes=["email"], SmsConfiguration=SMS_CONFIG,
                           Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "SMS_OTP"]}})["Id"]
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=["ALLOW_USER_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    p = {"pool_id": pool_id, "client_id": client["ClientId"]}
    email, phone = uniq_email("sms"), "+15555550177"
    confirmed_user(idp, pool_id, email, attributes=[
        {"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
        {"Name": "phone_number", "Value": phone}, {"Name": "phone_number_verified", "Value": "true"}])
    sub = idp.admin_get_user(UserPoolId=pool_id, Username=email)["Username"]

    # A client with a secret needs SECRET_HASH in USER_AUTH too (over the name the user typed).
    with expect_error("NotAuthorizedException", f"Unable to verify secret hash for client {client['ClientId']}"):
        user_auth(idp, p, USERNAME=email, PREFERRED_CHALLENGE="SMS_OTP")
    sh = secret_hash(email, client["ClientId"], client["ClientSecret"])

    out = user_auth(idp, p, USERNAME=email, PREFERRED_CHALLENGE="SMS_OTP", SECRET_HASH=sh)
    assert out["ChallengeName"] == "SMS_OTP"
    cp = out["ChallengeParameters"]
    assert cp["CODE_DELIVERY_DELIVERY_MEDIUM"] == "SMS"
    assert masked(cp["CODE_DELIVERY_DESTINATION"], phone), cp
    msg = tobira.last_message(pool_id, phone)
    assert msg["channel"] == "SMS" and msg["destination"] == phone, msg
    # The next steps' SECRET_HASH is over the canonical username, as for every challenge response.
    ok = respond(idp, p, "SMS_OTP", out["Session"], USERNAME=sub, SMS_OTP_CODE=msg["code"],
                 SECRET_HASH=secret_hash(sub, client["ClientId"], client["ClientSecret"]))
    assert_tokens(ok, sub)

    sel = user_auth(idp, p, USERNAME=email, SECRET_HASH=sh)
    assert sel["ChallengeName"] == "SELECT_CHALLENGE"
    assert {"PASSWORD", "SMS_OTP"} <= set(sel["AvailableChallenges"])
    assert "EMAIL_OTP" not in sel["AvailableChallenges"]
