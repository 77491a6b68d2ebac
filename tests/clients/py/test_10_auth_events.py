"""10. AdminListUserAuthEvents: every sign-in attempt is recorded, newest first.

Cognito records these when threat protection is on (UserPoolAddOns AdvancedSecurityMode AUDIT, Plus tier);
the pool here is made that way.
"""

import datetime

import pytest
from pycognito import Cognito

from clientlib_support import SRP_FLOWS, confirmed_user, enable_totp, module_server, totp_now, wrong_totp
from helpers import PASSWORD, expect_error, secret_hash, uniq

tobira, idp, pools = module_server()


@pytest.fixture(scope="module")
def pool(idp, pools):
    pool_id = pools.create(UserPoolTier="PLUS", UserPoolAddOns={"AdvancedSecurityMode": "AUDIT"})["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS)
    return {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"]}


def password_auth(idp, pool, username, password=PASSWORD):
    return idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": password,
                                             "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"])})


def events(idp, pool, username, **kw):
    return idp.admin_list_user_auth_events(UserPoolId=pool["pool_id"], Username=username, **kw)["AuthEvents"]


def challenge_map(event):
    return {c["ChallengeName"]: c["ChallengeResponse"] for c in event.get("ChallengeResponses", [])}


@pytest.fixture(scope="module")
def history(idp, tobira, pool):
    """pass (password) -> fail (wrong password) -> pass (SRP via pycognito) -> fail (wrong TOTP) -> pass (TOTP),
    two seconds apart on tobira's clock."""
    username = confirmed_user(idp, pool["pool_id"], uniq("events"))
    expected = []

    password_auth(idp, pool, username)
    expected.append(("Pass", {"Password": "Success"}))
    tobira.advance_clock(2)

    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        password_auth(idp, pool, username, "Wrong-Passw0rd!")
    expected.append(("Fail", {"Password": "Failure"}))
    tobira.advance_clock(2)

    u = Cognito(pool["pool_id"], pool["client_id"], client_secret=pool["secret"], username=username,
                boto3_client_kwargs=dict(endpoint_url=tobira.url, region_name="us-east-1",
                                         aws_access_key_id="AKIDTOBIRATEST", aws_secret_access_key="tobira-test-secret"))
    u.authenticate(password=PASSWORD)
    expected.append(("Pass", {"Password": "Success"}))
    tobira.advance_clock(2)

    secret = enable_totp(idp, tobira, u.access_token)  # moves the clock into the next TOTP step
    out = password_auth(idp, pool, username)
    assert out["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    with expect_error("CodeMismatchException"):
        idp.respond_to_auth_challenge(
            ClientId=pool["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=out["Session"],
            ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": wrong_totp(tobira, secret),
                                "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"])})
    expected.append(("Fail", {"Password": "Success", "Mfa": "Failure"}))
    tobira.advance_clock(2)

    out = password_auth(idp, pool, username)
    ok = idp.respond_to_auth_challenge(
        ClientId=pool["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=out["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp_now(tobira, secret),
                            "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"])})
    assert ok["AuthenticationResult"]["AccessToken"]
    expected.append(("Pass", {"Password": "Success", "Mfa": "Success"}))
    return {"username": username, "expected": list(reversed(expected))}


def test_events_newest_first_with_pass_and_fail(idp, pool, history):
    got = events(idp, pool, history["username"])
    assert len(got) == len(history["expected"]), [(e["EventResponse"], challenge_map(e)) for e in got]
    for event, (response, challenges) in zip(got, history["expected"]):
        assert event["EventType"] == "SignIn", event
        assert event["EventResponse"] == response, event
        assert challenge_map(event) == challenges, event
    dates = [e["CreationDate"] for e in got]
    assert all(isinstance(d, datetime.datetime) for d in dates)
    assert dates == sorted(dates, reverse=True), f"newest first: {dates}"
    assert len({e["EventId"] for e in got}) == len(got), "event ids are unique"


def test_events_carry_context_data(idp, pool, history):
    for event in events(idp, pool, history["username"]):
        assert event["EventContextData"]["IpAddress"] == "127.0.0.1", event
        assert isinstance(event["EventId"], str) and event["EventId"]


def test_events_page_with_max_results(idp, pool, history):
    first = idp.admin_list_user_auth_events(UserPoolId=pool["pool_id"], Username=history["username"], MaxResults=2)
    assert len(first["AuthEvents"]) == 2
    assert first.get("NextToken")
    second = idp.admin_list_user_auth_events(UserPoolId=pool["pool_id"], Username=history["username"],
                                             MaxResults=2, NextToken=first["NextToken"])
    all_ids = [e["EventId"] for e in events(idp, pool, history["username"])]
    assert [e["EventId"] for e in first["AuthEvents"] + second["AuthEvents"]] == all_ids[:4]


def test_events_for_an_unknown_user(idp, pool):
    with expect_error("UserNotFoundException", "User does not exist."):
        events(idp, pool, uniq("nobody"))


def test_events_for_a_user_who_never_signed_in(idp, pool):
    username = confirmed_user(idp, pool["pool_id"], uniq("quiet"))
    assert events(idp, pool, username) == []
