"""5. Error codes, exact messages (cognito-observed §2.1) and HTTP status 400."""

import pytest

from helpers import PASSWORD, TEMP_PASSWORD, expect_error, uniq, uniq_email

UNITS = "[hours, days, minutes, seconds]"


@pytest.fixture(scope="module")
def email_pool(pools):
    pool = pools.create(UsernameAttributes=["email"], AutoVerifiedAttributes=["email"])
    client = pools.client(pool["Id"], ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    return pool["Id"], client["ClientId"]


@pytest.fixture(scope="module")
def plain_pool(idp, pools):
    pool = pools.create()
    admin_client = pools.client(pool["Id"], ExplicitAuthFlows=[
        "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    srp_client = pools.client(pool["Id"], ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    username = uniq("err")
    idp.admin_create_user(UserPoolId=pool["Id"], Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=TEMP_PASSWORD)
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username=username, Password=PASSWORD, Permanent=True)
    return pool["Id"], admin_client["ClientId"], srp_client["ClientId"], username


def test_sign_up_non_email_username(idp, email_pool):
    _, client_id = email_pool
    with expect_error("InvalidParameterException", "Username should be an email."):
        idp.sign_up(ClientId=client_id, Username=uniq("notanemail"), Password=PASSWORD)


@pytest.mark.parametrize("password,message", [
    ("Sh0rt!x", "Password is too short (minimum length 10)"),
    ("Abcdefgh12", "Password invalid (requires special symbols)"),
    ("Abcdefgh!!", "Password invalid (requires numbers)"),
])
def test_sign_up_password_policy(idp, pools, password, message):
    pool = pools.create(Policies={"PasswordPolicy": {
        "MinimumLength": 10, "RequireUppercase": True, "RequireLowercase": True,
        "RequireNumbers": True, "RequireSymbols": True}})
    client_id = pools.client(pool["Id"])["ClientId"]
    with expect_error("InvalidParameterException", message):
        idp.sign_up(ClientId=client_id, Username=uniq("pw"), Password=password)
    # A conforming password is accepted by the same pool.
    assert idp.sign_up(ClientId=client_id, Username=uniq("pw"), Password="Abcdefgh1!")["UserConfirmed"] is False


def test_admin_create_user_unknown_attribute(idp, plain_pool):
    pool_id = plain_pool[0]
    with expect_error("InvalidParameterException",
                      "Attributes did not conform to the schema: foo: Attribute does not exist in the schema.\n"):
        idp.admin_create_user(UserPoolId=pool_id, Username=uniq("foo"), MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "foo", "Value": "bar"}])


def test_email_verified_without_email(idp, plain_pool):
    pool_id = plain_pool[0]
    with expect_error("InvalidParameterException", "No email provided but email_verified was true"):
        idp.admin_create_user(UserPoolId=pool_id, Username=uniq("nv"), MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email_verified", "Value": "True"}])


def test_duplicate_on_email_username_pool(idp, email_pool):
    pool_id, _ = email_pool
    email = uniq_email("dupe")
    user = idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS")["User"]
    sub = {a["Name"]: a["Value"] for a in user["Attributes"]}["sub"]
    assert user["Username"] == sub
    with expect_error("UsernameExistsException", "An account with the given email already exists."):
        idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS")


def test_required_custom_attribute(idp):
    with expect_error("InvalidParameterException", "Required custom attributes are not supported currently."):
        idp.create_user_pool(PoolName=uniq("req-"), Schema=[
            {"Name": "must", "AttributeDataType": "String", "Required": True, "Mutable": True}])


@pytest.mark.parametrize("units,bad", [
    ({"AccessToken": "invalid", "IdToken": "hours", "RefreshToken": "days"}, ["accessToken"]),
    ({"AccessToken": "invalid", "IdToken": "invalid", "RefreshToken": "days"}, ["idToken", "accessToken"]),
    ({"AccessToken": "invalid", "IdToken": "invalid", "RefreshToken": "invalid"},
     ["idToken", "accessToken", "refreshToken"]),
])
def test_bad_token_validity_units(idp, email_pool, units, bad):
    pool_id, _ = email_pool
    n = len(bad)
    message = (f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(
        f"Value 'invalid' at 'tokenValidityUnits.{field}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: {UNITS}" for field in bad))
    with expect_error("InvalidParameterException", message):
        idp.create_user_pool_client(UserPoolId=pool_id, ClientName=uniq("units-"), TokenValidityUnits=units)


def test_list_users_limit_over_60(idp, plain_pool):
    with expect_error("InvalidParameterException",
                      "1 validation error detected: Value '100' at 'limit' failed to satisfy constraint: "
                      "Member must have value less than or equal to 60"):
        idp.list_users(UserPoolId=plain_pool[0], Limit=100)
    assert len(idp.list_users(UserPoolId=plain_pool[0], Limit=60)["Users"]) >= 1


@pytest.mark.parametrize("flow", ["ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"])
def test_initiate_auth_refuses_admin_flows(idp, plain_pool, flow):
    _, client_id, _, username = plain_pool
    with expect_error("InvalidParameterException", message_startswith="Initiate Auth method not supported"):
        idp.initiate_auth(ClientId=client_id, AuthFlow=flow,
                          AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})


def test_flow_not_in_explicit_auth_flows(idp, plain_pool):
    pool_id, _, srp_client, username = plain_pool
    with expect_error("InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client"):
        idp.initiate_auth(ClientId=srp_client, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    # Real-world wording varies here ("Auth flow not enabled for this client" /
    # "ADMIN_USER_PASSWORD_AUTH flow not enabled for this client"); only the common tail is pinned.
    with expect_error("InvalidParameterException") as info:
        idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=srp_client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert info.value.response["Error"]["Message"].endswith("low not enabled for this client")


def test_admin_no_srp_auth_legacy_name_accepted(idp, plain_pool):
    pool_id, client_id, _, username = plain_pool
    resp = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_NO_SRP_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    ar = resp["AuthenticationResult"]
    assert ar["AccessToken"] and ar["IdToken"] and ar["RefreshToken"]
    assert resp["ChallengeParameters"] == {}
    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD + "x"})


def test_unknown_pool_and_client(idp, plain_pool):
    missing_pool = "us-east-1_Zz0Zz0Zz0"
    with expect_error("ResourceNotFoundException") as info:
        idp.describe_user_pool(UserPoolId=missing_pool)
    assert f"User pool {missing_pool} does not exist" in info.value.response["Error"]["Message"]
    with expect_error("ResourceNotFoundException"):
        idp.list_users(UserPoolId=missing_pool)
    missing_client = "0123456789abcdefghijklmnop"
    with expect_error("ResourceNotFoundException", f"User pool client {missing_client} does not exist."):
        idp.initiate_auth(ClientId=missing_client, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "x", "PASSWORD": PASSWORD})


def test_srp_missing_srp_a(idp, plain_pool):
    _, _, srp_client, username = plain_pool
    with expect_error("InvalidParameterException", "Missing required parameter SRP_A"):
        idp.initiate_auth(ClientId=srp_client, AuthFlow="USER_SRP_AUTH", AuthParameters={"USERNAME": username})


def test_sign_up_refused_when_admin_only(idp, pools):
    pool_id = pools.create(AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})["Id"]
    client_id = pools.client(pool_id)["ClientId"]
    with expect_error("NotAuthorizedException", "SignUp is not permitted for this user pool"):
        idp.sign_up(ClientId=client_id, Username=uniq("nosignup"), Password=PASSWORD)
