"""9. MFA: pool MFA configuration, TOTP with pycognito and boto3, SMS and e-mail codes from tobira's inbox,
SELECT_MFA_TYPE, MFA_SETUP, wrong / reused codes and expired sessions.

TOTP codes are computed (RFC 6238) at tobira's clock. The test that moves the clock past the session
validity is last in this module (this module has its own tobira).
"""

import json

import pytest
from botocore.exceptions import ClientError
from pycognito import Cognito
from pycognito.exceptions import SoftwareTokenMFAChallengeException

from clientlib_support import (SRP_FLOWS, confirmed_user, enable_totp, module_server, next_totp_step, totp_now,
                               wrong_totp)
from helpers import PASSWORD, claims, expect_error, masked, secret_hash, uniq, uniq_email

tobira, idp, pools = module_server()

SMS_CONFIG = {"SnsCallerArn": "arn:aws:iam::123456789012:role/cognito-sms", "ExternalId": "tobira-tests",
              "SnsRegion": "us-east-1"}
EMAIL_CONFIG = {"EmailSendingAccount": "DEVELOPER", "From": "no-reply@example.com",
                "SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com"}
SESSION_EXPIRED = "Invalid session for the user, session is expired."


def mfa_pool(idp, pools, mode="OPTIONAL", sms=True, totp=True, email=True, **create):
    pool_id = pools.create(UserPoolTier="ESSENTIALS", EmailConfiguration=EMAIL_CONFIG, SmsConfiguration=SMS_CONFIG,
                           **create)["Id"]
    kw = {"MfaConfiguration": mode, "SoftwareTokenMfaConfiguration": {"Enabled": totp}}
    if sms:
        kw["SmsMfaConfiguration"] = {"SmsAuthenticationMessage": "Your sign-in code is {####}",
                                     "SmsConfiguration": SMS_CONFIG}
    if email:
        kw["EmailMfaConfiguration"] = {"Message": "Your sign-in code is {####}", "Subject": "Sign-in code"}
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, **kw)
    return pool_id


@pytest.fixture(scope="module")
def pool(idp, pools):
    pool_id = mfa_pool(idp, pools)
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS, AuthSessionValidity=3)
    return {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"]}


def new_user(idp, pool, phone=None, **kw):
    username = uniq("mfa")
    attrs = [{"Name": "email", "Value": uniq_email("mfa")}, {"Name": "email_verified", "Value": "true"}]
    if phone:
        attrs += [{"Name": "phone_number", "Value": phone}, {"Name": "phone_number_verified", "Value": "true"}]
    return confirmed_user(idp, pool["pool_id"], username, attributes=attrs, **kw)


def password_auth(idp, pool, username, password=PASSWORD):
    return idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": password,
                                             "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"])})


def answer(idp, pool, username, challenge, session, **responses):
    return idp.respond_to_auth_challenge(
        ClientId=pool["client_id"], ChallengeName=challenge, Session=session,
        ChallengeResponses={"USERNAME": username,
                            "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"]), **responses})


def totp_user(idp, tobira, pool):
    username = new_user(idp, pool)
    at = password_auth(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    return username, enable_totp(idp, tobira, at)


def test_pool_mfa_config_round_trip(idp, pools):
    off = pools.create()["Id"]
    assert {k: v for k, v in idp.get_user_pool_mfa_config(UserPoolId=off).items() if k != "ResponseMetadata"} == \
        {"MfaConfiguration": "OFF"}, "an OFF pool reports only MfaConfiguration"
    pool_id = mfa_pool(idp, pools)
    got = idp.get_user_pool_mfa_config(UserPoolId=pool_id)
    assert got["MfaConfiguration"] == "OPTIONAL"
    assert got["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    assert got["SmsMfaConfiguration"]["SmsAuthenticationMessage"] == "Your sign-in code is {####}"
    assert got["SmsMfaConfiguration"]["SmsConfiguration"]["SnsCallerArn"] == SMS_CONFIG["SnsCallerArn"]
    assert got["EmailMfaConfiguration"] == {"Message": "Your sign-in code is {####}", "Subject": "Sign-in code"}
    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["MfaConfiguration"] == "OPTIONAL"


def test_associate_software_token_when_the_pool_has_no_totp(idp, pools):
    """DG (TOTP software token MFA): without TOTP enabled on the pool, associating fails."""
    pool_id = pools.create()["Id"]
    client_id = pools.client(pool_id, ExplicitAuthFlows=SRP_FLOWS)["ClientId"]
    username = confirmed_user(idp, pool_id, uniq("nototp"))
    at = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                           AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]
    with expect_error("SoftwareTokenMFANotFoundException", "Software Token MFA has not been enabled by the userPool."):
        idp.associate_software_token(AccessToken=at["AccessToken"])


def test_totp_with_pycognito(idp, tobira, pool):
    username = new_user(idp, pool)
    u = Cognito(pool["pool_id"], pool["client_id"], client_secret=pool["secret"], username=username,
                boto3_client_kwargs=dict(endpoint_url=tobira.url, region_name="us-east-1",
                                         aws_access_key_id="AKIDTOBIRATEST", aws_secret_access_key="tobira-test-secret"))
    u.authenticate(password=PASSWORD)  # no MFA yet
    secret = u.associate_software_token()
    assert u.verify_software_token(totp_now(tobira, secret), "pycognito phone") is True
    u.set_user_mfa_preference(sms_mfa=False, software_token_mfa=True, preferred="SOFTWARE_TOKEN")
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert got["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert got["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    me = idp.get_user(AccessToken=u.access_token)
    assert me["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert me["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"

    next_totp_step(tobira)
    with pytest.raises(SoftwareTokenMFAChallengeException) as info:
        u.authenticate(password=PASSWORD)
    tokens = info.value.get_tokens()
    assert tokens["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert tokens["Session"]
    u.respond_to_software_token_mfa_challenge(totp_now(tobira, secret))
    assert u.access_claims["username"] == username


def test_verify_software_token_with_a_wrong_code(idp, tobira, pool):
    username = new_user(idp, pool)
    at = password_auth(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    secret = idp.associate_software_token(AccessToken=at)["SecretCode"]
    with expect_error("EnableSoftwareTokenMFAException", "Code mismatch and fail enable Software Token MFA"):
        idp.verify_software_token(AccessToken=at, UserCode=wrong_totp(tobira, secret))
    # Not verified: the user cannot turn TOTP on, and still signs in without MFA.
    with expect_error("InvalidParameterException"):
        idp.set_user_mfa_preference(AccessToken=at, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    assert password_auth(idp, pool, username)["AuthenticationResult"]["AccessToken"]


def test_sms_mfa_needs_a_phone_number(idp, pool):
    username = new_user(idp, pool)  # e-mail only
    with expect_error("InvalidParameterException"):
        idp.admin_set_user_mfa_preference(UserPoolId=pool["pool_id"], Username=username,
                                          SMSMfaSettings={"Enabled": True, "PreferredMfa": True})


def test_admin_flow_with_totp_and_refresh_without_mfa(idp, tobira, pools):
    pool_id = mfa_pool(idp, pools, sms=False, email=False)
    client_id = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                                                         "ALLOW_REFRESH_TOKEN_AUTH"])["ClientId"]
    username = confirmed_user(idp, pool_id, uniq("admin"))
    at = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]
    secret = enable_totp(idp, tobira, at["AccessToken"])
    out = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert out["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    ok = idp.admin_respond_to_auth_challenge(
        UserPoolId=pool_id, ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=out["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp_now(tobira, secret)})
    ar = ok["AuthenticationResult"]
    assert claims(ar["AccessToken"])["username"] == username
    # Refreshing never asks for MFA.
    ref = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                            AuthParameters={"REFRESH_TOKEN": ar["RefreshToken"]})
    assert "ChallengeName" not in ref
    assert ref["AuthenticationResult"]["AccessToken"]


def test_totp_challenge_then_wrong_code(idp, tobira, pool):
    username, secret = totp_user(idp, tobira, pool)
    first = password_auth(idp, pool, username)
    assert first["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert first["Session"]
    assert "AuthenticationResult" not in first
    with expect_error("CodeMismatchException"):
        answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", first["Session"],
               SOFTWARE_TOKEN_MFA_CODE=wrong_totp(tobira, secret))


def test_totp_code_cannot_be_reused_within_its_step(idp, tobira, pool):
    username, secret = totp_user(idp, tobira, pool)  # leaves tobira's clock ~2 s into a fresh step
    code = totp_now(tobira, secret)
    one = password_auth(idp, pool, username)
    ok = answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", one["Session"], SOFTWARE_TOKEN_MFA_CODE=code)
    assert ok["AuthenticationResult"]["AccessToken"]
    assert totp_now(tobira, secret) == code, "still inside the same 30 s step"
    two = password_auth(idp, pool, username)
    with pytest.raises(ClientError) as info:
        answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", two["Session"], SOFTWARE_TOKEN_MFA_CODE=code)
    err = info.value.response["Error"]
    assert err["Code"] in ("CodeMismatchException", "ExpiredCodeException"), err
    # The next step's code works.
    next_totp_step(tobira)
    three = password_auth(idp, pool, username)
    ok = answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", three["Session"],
                SOFTWARE_TOKEN_MFA_CODE=totp_now(tobira, secret))
    assert ok["AuthenticationResult"]["AccessToken"]


def test_sms_mfa_code_from_the_inbox(idp, tobira, pool):
    phone = "+15555550123"
    username = new_user(idp, pool, phone=phone)
    idp.admin_set_user_mfa_preference(UserPoolId=pool["pool_id"], Username=username,
                                      SMSMfaSettings={"Enabled": True, "PreferredMfa": True})
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert got["UserMFASettingList"] == ["SMS_MFA"]
    assert got["PreferredMfaSetting"] == "SMS_MFA"
    before = len(tobira.inbox(pool["pool_id"], username))
    out = password_auth(idp, pool, username)
    assert out["ChallengeName"] == "SMS_MFA"
    cp = out["ChallengeParameters"]
    assert cp["CODE_DELIVERY_DELIVERY_MEDIUM"] == "SMS"
    assert masked(cp["CODE_DELIVERY_DESTINATION"], phone), cp
    msgs = tobira.inbox(pool["pool_id"], username)[before:]
    assert len(msgs) == 1, msgs
    assert msgs[0]["channel"] == "SMS"
    assert msgs[0]["destination"] == phone
    assert msgs[0]["message"] == f"Your sign-in code is {msgs[0]['code']}"
    with expect_error("CodeMismatchException"):
        answer(idp, pool, username, "SMS_MFA", out["Session"],
               SMS_MFA_CODE=f"{(int(msgs[0]['code']) + 1) % 1_000_000:06d}")
    out = password_auth(idp, pool, username)
    code = tobira.last_code(pool["pool_id"], username)
    ok = answer(idp, pool, username, "SMS_MFA", out["Session"], SMS_MFA_CODE=code)
    assert claims(ok["AuthenticationResult"]["AccessToken"])["username"] == username


def test_email_otp_mfa_code_from_the_inbox(idp, tobira, pool):
    username = new_user(idp, pool)
    email = {a["Name"]: a["Value"] for a in
             idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)["UserAttributes"]}["email"]
    idp.admin_set_user_mfa_preference(UserPoolId=pool["pool_id"], Username=username,
                                      EmailMfaSettings={"Enabled": True, "PreferredMfa": True})
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert got["UserMFASettingList"] == ["EMAIL_OTP"]
    assert got["PreferredMfaSetting"] == "EMAIL_OTP"
    before = len(tobira.inbox(pool["pool_id"], username))
    out = password_auth(idp, pool, username)
    assert out["ChallengeName"] == "EMAIL_OTP"
    assert out["ChallengeParameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"] == "EMAIL"
    assert masked(out["ChallengeParameters"]["CODE_DELIVERY_DESTINATION"], email)
    msgs = tobira.inbox(pool["pool_id"], username)[before:]
    assert len(msgs) == 1 and msgs[0]["channel"] == "EMAIL" and msgs[0]["destination"] == email, msgs
    assert msgs[0]["subject"] == "Sign-in code"
    assert msgs[0]["message"] == f"Your sign-in code is {msgs[0]['code']}"
    ok = answer(idp, pool, username, "EMAIL_OTP", out["Session"], EMAIL_OTP_CODE=msgs[0]["code"])
    assert claims(ok["AuthenticationResult"]["AccessToken"])["username"] == username


def test_select_mfa_type(idp, tobira, pool):
    username = new_user(idp, pool, phone="+15555550124")
    at = password_auth(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    secret = enable_totp(idp, tobira, at)
    # Both enabled, none preferred: the user chooses.
    idp.admin_set_user_mfa_preference(UserPoolId=pool["pool_id"], Username=username,
                                      SMSMfaSettings={"Enabled": True, "PreferredMfa": False},
                                      SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": False})
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert sorted(got["UserMFASettingList"]) == ["SMS_MFA", "SOFTWARE_TOKEN_MFA"]
    assert "PreferredMfaSetting" not in got
    out = password_auth(idp, pool, username)
    assert out["ChallengeName"] == "SELECT_MFA_TYPE"
    choices = json.loads(out["ChallengeParameters"]["MFAS_CAN_CHOOSE"])
    assert sorted(choices) == ["SMS_MFA", "SOFTWARE_TOKEN_MFA"]
    nxt = answer(idp, pool, username, "SELECT_MFA_TYPE", out["Session"], ANSWER="SOFTWARE_TOKEN_MFA")
    assert nxt["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    ok = answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", nxt["Session"],
                SOFTWARE_TOKEN_MFA_CODE=totp_now(tobira, secret))
    assert ok["AuthenticationResult"]["AccessToken"]


def test_mfa_setup_when_mfa_is_required(idp, tobira, pools):
    pool_id = mfa_pool(idp, pools, mode="ON", sms=False, email=False)
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS)
    p = {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"]}
    username = confirmed_user(idp, pool_id, uniq("setup"))
    out = password_auth(idp, p, username)
    assert out["ChallengeName"] == "MFA_SETUP"
    assert json.loads(out["ChallengeParameters"]["MFAS_CAN_SETUP"]) == ["SOFTWARE_TOKEN_MFA"]
    assoc = idp.associate_software_token(Session=out["Session"])
    assert assoc["SecretCode"] and assoc["Session"]
    # A mistyped code is refused and the same session is good for another try.
    with expect_error("EnableSoftwareTokenMFAException", "Code mismatch and fail enable Software Token MFA"):
        idp.verify_software_token(Session=assoc["Session"], UserCode=wrong_totp(tobira, assoc["SecretCode"]))
    ver = idp.verify_software_token(Session=assoc["Session"], UserCode=totp_now(tobira, assoc["SecretCode"]))
    assert ver["Status"] == "SUCCESS"
    ok = answer(idp, p, username, "MFA_SETUP", ver["Session"])
    assert claims(ok["AuthenticationResult"]["AccessToken"])["username"] == username
    # From now on the user is asked for the TOTP code.
    next_totp_step(tobira)
    assert password_auth(idp, p, username)["ChallengeName"] == "SOFTWARE_TOKEN_MFA"


def test_zz_expired_session(idp, tobira, pool):
    """Last in this module: moves tobira's clock past AuthSessionValidity (3 minutes)."""
    username, secret = totp_user(idp, tobira, pool)
    out = password_auth(idp, pool, username)
    assert out["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    tobira.advance_clock(3 * 60 + 10)
    with expect_error("NotAuthorizedException", SESSION_EXPIRED):
        answer(idp, pool, username, "SOFTWARE_TOKEN_MFA", out["Session"],
               SOFTWARE_TOKEN_MFA_CODE=totp_now(tobira, secret))
