"""1. The boto3 main flow: email-username pool with a custom attribute, secret client, sign-up to sign-out."""

import re

import pytest

from helpers import (CLIENT_ID_RE, FlowState, PASSWORD, POOL_ID_RE, UUID_RE, attrs, body, claims, expect_error, jwt_parts,
                     masked, secret_hash, uniq_email, verify_jwt_signature)

STANDARD_ATTRIBUTES = [
    "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
    "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
    "phone_number", "phone_number_verified", "address", "updated_at",
]
DEFAULT_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
ACCESS_CLAIMS = {"auth_time", "client_id", "event_id", "exp", "iat", "iss", "jti", "origin_jti", "scope", "sub",
                 "token_use", "username"}
ID_CLAIMS = {"aud", "auth_time", "cognito:username", "event_id", "exp", "iat", "iss", "jti", "origin_jti", "sub",
             "token_use"}


@pytest.fixture(scope="module")
def flow():
    """Shared state of the ordered main flow (each test builds on the previous ones)."""
    return FlowState()


def test_create_user_pool_defaults(idp, pools, flow):
    pool = pools.create(
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Schema=[{
            "Name": "customerId",
            "AttributeDataType": "String",
            "Mutable": True,
            "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "256"},
        }],
    )
    flow.pool_id = pool["Id"]
    assert POOL_ID_RE.match(pool["Id"]), pool["Id"]

    resp = idp.describe_user_pool(UserPoolId=flow.pool_id)
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("content-type", "").startswith("application/x-amz-json-1.1"), headers
    assert resp["ResponseMetadata"].get("RequestId"), "no x-amzn-RequestId header"
    d = resp["UserPool"]

    assert d["Id"] == flow.pool_id
    assert d["Name"] == pool["Name"]
    assert d["Arn"] == f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{flow.pool_id}"
    policy = {k: v for k, v in d["Policies"]["PasswordPolicy"].items() if k != "PasswordHistorySize"}
    assert policy == DEFAULT_POLICY, d["Policies"]
    assert d["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert d["AdminCreateUserConfig"]["UnusedAccountValidityDays"] == 7
    assert d["MfaConfiguration"] == "OFF"
    assert d["EstimatedNumberOfUsers"] == 0
    assert d["UsernameAttributes"] == ["email"]
    assert d["AutoVerifiedAttributes"] == ["email"]
    assert "AliasAttributes" not in d
    assert d["DeletionProtection"] == "INACTIVE"
    assert d["EmailConfiguration"] == {"EmailSendingAccount": "COGNITO_DEFAULT"}
    assert d["LambdaConfig"] == {}
    assert d["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert d["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": []}
    assert d["CreationDate"] and d["LastModifiedDate"]

    schema = {a["Name"]: a for a in d["SchemaAttributes"]}
    names = [a["Name"] for a in d["SchemaAttributes"]]
    assert names[:20] == STANDARD_ATTRIBUTES, names
    assert "identities" not in schema
    assert set(names) == set(STANDARD_ATTRIBUTES) | {"custom:customerId"}, names
    sub = schema["sub"]
    assert sub["AttributeDataType"] == "String" and sub["Mutable"] is False and sub["Required"] is True
    assert sub["StringAttributeConstraints"] == {"MinLength": "1", "MaxLength": "2048"}
    assert schema["email"]["Mutable"] is True and schema["email"]["Required"] is False
    assert schema["email"]["StringAttributeConstraints"] == {"MinLength": "0", "MaxLength": "2048"}
    assert schema["email_verified"]["AttributeDataType"] == "Boolean"
    assert schema["birthdate"]["StringAttributeConstraints"] == {"MinLength": "10", "MaxLength": "10"}
    assert schema["updated_at"]["AttributeDataType"] == "Number"
    assert schema["updated_at"]["NumberAttributeConstraints"]["MinValue"] == "0"
    assert all(a["DeveloperOnlyAttribute"] is False for a in d["SchemaAttributes"])
    custom = schema["custom:customerId"]
    assert custom["AttributeDataType"] == "String"
    assert custom["Mutable"] is True and custom["Required"] is False
    assert custom["StringAttributeConstraints"] == {"MinLength": "1", "MaxLength": "256"}


def test_create_client_with_secret(idp, pools, flow):
    client = pools.client(
        flow.pool_id, GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    flow.client_id = client["ClientId"]
    flow.secret = client.get("ClientSecret")
    assert CLIENT_ID_RE.match(flow.client_id), flow.client_id
    assert flow.secret and re.fullmatch(r"[\w+]{24,64}", flow.secret), flow.secret

    d = idp.describe_user_pool_client(UserPoolId=flow.pool_id, ClientId=flow.client_id)["UserPoolClient"]
    assert d["ClientId"] == flow.client_id
    assert d["ClientSecret"] == flow.secret
    assert d["UserPoolId"] == flow.pool_id
    assert d["ClientName"] == client["ClientName"]
    assert sorted(d["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert d["AllowedOAuthFlowsUserPoolClient"] is False
    assert d["AuthSessionValidity"] == 3
    assert d["EnablePropagateAdditionalUserContextData"] is False
    assert d["EnableTokenRevocation"] is True
    assert d["RefreshTokenValidity"] == 30
    assert d["TokenValidityUnits"] == {}
    assert d["CreationDate"] and d["LastModifiedDate"]
    for absent in ("PreventUserExistenceErrors", "AccessTokenValidity", "IdTokenValidity", "ReadAttributes",
                   "WriteAttributes", "CallbackURLs", "SupportedIdentityProviders"):
        assert absent not in d, f"{absent} present although never set: {d.get(absent)!r}"


def test_bare_client_defaults(pools, idp, flow):
    bare = pools.client(flow.pool_id)
    assert "ClientSecret" not in bare
    assert CLIENT_ID_RE.match(bare["ClientId"])
    assert bare["ClientId"] != flow.client_id
    d = idp.describe_user_pool_client(UserPoolId=flow.pool_id, ClientId=bare["ClientId"])["UserPoolClient"]
    assert "ExplicitAuthFlows" not in d
    assert "ClientSecret" not in d
    assert d["RefreshTokenValidity"] == 30 and d["AuthSessionValidity"] == 3 and d["EnableTokenRevocation"] is True


def test_sign_up_with_secret_hash(idp, tobira, flow):
    flow.email = uniq_email("main")
    sh = secret_hash(flow.email, flow.client_id, flow.secret)

    with expect_error("NotAuthorizedException", f"Unable to verify secret hash for client {flow.client_id}"):
        idp.sign_up(ClientId=flow.client_id, Username=flow.email, Password=PASSWORD,
                    SecretHash=secret_hash(flow.email, flow.client_id, flow.secret + "x"))
    with expect_error("NotAuthorizedException"):
        idp.sign_up(ClientId=flow.client_id, Username=flow.email, Password=PASSWORD)

    resp = idp.sign_up(ClientId=flow.client_id, Username=flow.email, Password=PASSWORD, SecretHash=sh)
    flow.sub = resp["UserSub"]
    assert resp["UserConfirmed"] is False
    assert UUID_RE.match(resp["UserSub"]), resp["UserSub"]
    cdd = resp["CodeDeliveryDetails"]
    assert cdd["DeliveryMedium"] == "EMAIL" and cdd["AttributeName"] == "email"
    assert masked(cdd["Destination"], flow.email), cdd

    user = idp.admin_get_user(UserPoolId=flow.pool_id, Username=flow.email)
    assert user["Username"] == flow.sub, "email-username pools store Username = sub"
    assert user["UserStatus"] == "UNCONFIRMED"
    a = attrs(user["UserAttributes"])
    assert a["sub"] == flow.sub
    assert a["email"] == flow.email, "email is filled in from the username"
    assert a["email_verified"] == "false"

    with expect_error("UsernameExistsException", "An account with the given email already exists."):
        idp.sign_up(ClientId=flow.client_id, Username=flow.email, Password=PASSWORD, SecretHash=sh)


def test_confirm_sign_up_with_inbox_code(idp, tobira, flow):
    msg = tobira.last_message(flow.pool_id, flow.email)
    assert msg["channel"] == "EMAIL"
    assert msg["destination"] == flow.email
    assert msg["poolId"] == flow.pool_id
    code = msg["code"]
    assert re.fullmatch(r"\d{6}", code), code
    assert code in msg["message"], msg
    # The inbox can also be read by the stored username (the sub here).
    assert any(m["code"] == code for m in tobira.inbox(flow.pool_id, flow.sub))

    sh = secret_hash(flow.email, flow.client_id, flow.secret)
    wrong = "000000" if code != "000000" else "111111"
    with expect_error("CodeMismatchException", "Invalid verification code provided, please try again."):
        idp.confirm_sign_up(ClientId=flow.client_id, Username=flow.email, ConfirmationCode=wrong, SecretHash=sh)

    resp = idp.confirm_sign_up(ClientId=flow.client_id, Username=flow.email, ConfirmationCode=code,
                               SecretHash=sh)
    assert body(resp) == {}
    user = idp.admin_get_user(UserPoolId=flow.pool_id, Username=flow.email)
    assert user["UserStatus"] == "CONFIRMED"
    assert attrs(user["UserAttributes"])["email_verified"] == "true"
    assert idp.describe_user_pool(UserPoolId=flow.pool_id)["UserPool"]["EstimatedNumberOfUsers"] == 1


def test_user_password_auth(idp, tobira, flow):
    with expect_error("NotAuthorizedException"):
        idp.initiate_auth(ClientId=flow.client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": flow.email, "PASSWORD": PASSWORD})
    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        idp.initiate_auth(ClientId=flow.client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": flow.email, "PASSWORD": PASSWORD + "x",
                                          "SECRET_HASH": secret_hash(flow.email, flow.client_id, flow.secret)})

    resp = idp.initiate_auth(
        ClientId=flow.client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": flow.email, "PASSWORD": PASSWORD,
                        "SECRET_HASH": secret_hash(flow.email, flow.client_id, flow.secret)})
    assert resp["ChallengeParameters"] == {}
    assert "ChallengeName" not in resp and "Session" not in resp
    ar = resp["AuthenticationResult"]
    assert ar["ExpiresIn"] == 3600 and ar["TokenType"] == "Bearer"
    assert ar["AccessToken"] and ar["IdToken"] and ar["RefreshToken"]
    assert "NewDeviceMetadata" not in ar
    flow.tokens = ar

    access, idt = claims(ar["AccessToken"]), claims(ar["IdToken"])
    assert set(access) == ACCESS_CLAIMS, sorted(access)
    assert access["token_use"] == "access"
    assert access["client_id"] == flow.client_id
    assert access["username"] == flow.sub and access["sub"] == flow.sub
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert access["iss"] == tobira.issuer(flow.pool_id)
    assert access["exp"] - access["iat"] == 3600

    assert ID_CLAIMS <= set(idt), sorted(idt)
    assert idt["token_use"] == "id"
    assert idt["aud"] == flow.client_id
    assert idt["cognito:username"] == flow.sub and idt["sub"] == flow.sub
    assert idt["email"] == flow.email
    assert idt["email_verified"] is True, "email_verified is a JSON boolean in the ID token"
    assert idt["iss"] == tobira.issuer(flow.pool_id)
    assert "cognito:user_status" not in idt and "cognito:user_status" not in access
    assert idt["event_id"] == access["event_id"]
    assert idt["origin_jti"] == access["origin_jti"]
    assert idt["jti"] != access["jti"]

    jwks = tobira.jwks(flow.pool_id)
    verify_jwt_signature(ar["AccessToken"], jwks)
    verify_jwt_signature(ar["IdToken"], jwks)
    assert len(jwks["keys"]) == 2, "ID and access tokens are signed with different keys"
    for key in jwks["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["e"] == "AQAB"
    assert jwt_parts(ar["AccessToken"])[0]["kid"] != jwt_parts(ar["IdToken"])[0]["kid"]

    discovery = tobira.http("GET", f"/{flow.pool_id}/.well-known/openid-configuration")
    assert discovery["issuer"] == tobira.issuer(flow.pool_id)
    assert discovery["jwks_uri"] == f"{tobira.issuer(flow.pool_id)}/.well-known/jwks.json"
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]


def test_get_user(idp, flow):
    resp = idp.get_user(AccessToken=flow.tokens["AccessToken"])
    assert set(body(resp)) == {"Username", "UserAttributes"}, sorted(body(resp))
    assert resp["Username"] == flow.sub
    a = attrs(resp["UserAttributes"])
    assert a["sub"] == flow.sub and a["email"] == flow.email and a["email_verified"] == "true"
    with expect_error("NotAuthorizedException", "Invalid Access Token"):
        idp.get_user(AccessToken="not-a-token")


def test_admin_update_custom_attribute(idp, flow):
    resp = idp.admin_update_user_attributes(
        UserPoolId=flow.pool_id, Username=flow.email,
        UserAttributes=[{"Name": "custom:customerId", "Value": "cus_Tobira123"}])
    assert body(resp) == {}
    a = attrs(idp.admin_get_user(UserPoolId=flow.pool_id, Username=flow.email)["UserAttributes"])
    assert a["custom:customerId"] == "cus_Tobira123"
    assert a["email_verified"] == "true", "updating another attribute leaves email_verified alone"
    got = attrs(idp.get_user(AccessToken=flow.tokens["AccessToken"])["UserAttributes"])
    assert got["custom:customerId"] == "cus_Tobira123"

    # The API names custom attributes with their prefix; the bare name is not in the schema.
    with expect_error("InvalidParameterException"):
        idp.admin_update_user_attributes(
            UserPoolId=flow.pool_id, Username=flow.email,
            UserAttributes=[{"Name": "customerId", "Value": "cus_X"}])


def test_list_users_email_filter(idp, flow):
    resp = idp.list_users(UserPoolId=flow.pool_id, Filter=f'email = "{flow.email}"')
    users = resp["Users"]
    assert len(users) == 1, users
    u = users[0]
    assert u["Username"] == flow.sub
    assert u["UserStatus"] == "CONFIRMED" and u["Enabled"] is True
    assert {"Attributes", "Enabled", "UserCreateDate", "UserLastModifiedDate", "UserStatus", "Username"} <= set(u)
    assert attrs(u["Attributes"])["email"] == flow.email

    prefix = flow.email.split("@")[0][:8]
    assert [x["Username"] for x in idp.list_users(UserPoolId=flow.pool_id, Filter=f'email ^= "{prefix}"')["Users"]] \
        == [flow.sub]
    assert idp.list_users(UserPoolId=flow.pool_id, Filter='email = "nobody@example.com"')["Users"] == []
    assert [x["Username"] for x in idp.list_users(UserPoolId=flow.pool_id, Filter=f'sub = "{flow.sub}"')["Users"]] \
        == [flow.sub]


def test_refresh_token_auth(idp, flow):
    first = flow.tokens
    with expect_error("NotAuthorizedException", "Invalid Refresh Token"):
        idp.initiate_auth(ClientId=flow.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": "definitely-not-a-refresh-token",
                                          "SECRET_HASH": secret_hash(flow.sub, flow.client_id, flow.secret)})
    resp = idp.initiate_auth(
        ClientId=flow.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"],
                        "SECRET_HASH": secret_hash(flow.sub, flow.client_id, flow.secret)})
    ar = resp["AuthenticationResult"]
    assert "RefreshToken" not in ar, "REFRESH_TOKEN_AUTH returns no new refresh token"
    assert ar["AccessToken"] and ar["IdToken"] and ar["ExpiresIn"] == 3600 and ar["TokenType"] == "Bearer"
    old, new = claims(first["AccessToken"]), claims(ar["AccessToken"])
    assert new["username"] == flow.sub and new["client_id"] == flow.client_id
    assert new["jti"] != old["jti"]
    assert new["auth_time"] == old["auth_time"], "auth_time stays the original sign-in time"
    assert new["origin_jti"] == old["origin_jti"], "origin_jti is kept across refreshes"
    assert claims(ar["IdToken"])["cognito:username"] == flow.sub
    flow.refreshed = ar
    assert idp.get_user(AccessToken=ar["AccessToken"])["Username"] == flow.sub


def test_global_sign_out_revokes(idp, flow):
    resp = idp.global_sign_out(AccessToken=flow.refreshed["AccessToken"])
    assert body(resp) == {}
    with expect_error("NotAuthorizedException", "Access Token has been revoked"):
        idp.get_user(AccessToken=flow.tokens["AccessToken"])
    with expect_error("NotAuthorizedException", "Access Token has been revoked"):
        idp.get_user(AccessToken=flow.refreshed["AccessToken"])
    with expect_error("NotAuthorizedException", "Refresh Token has been revoked"):
        idp.initiate_auth(ClientId=flow.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": flow.tokens["RefreshToken"],
                                          "SECRET_HASH": secret_hash(flow.sub, flow.client_id, flow.secret)})
    # A fresh sign-in after the sign-out works.
    resp = idp.initiate_auth(
        ClientId=flow.client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": flow.email, "PASSWORD": PASSWORD,
                        "SECRET_HASH": secret_hash(flow.email, flow.client_id, flow.secret)})
    assert idp.get_user(AccessToken=resp["AuthenticationResult"]["AccessToken"])["Username"] == flow.sub


def test_sdk_intro_flow(idp, pools):
    """The seed story (Cognito 入門 with the SDK): email-username pool, SignUp, AdminConfirmSignUp,
    AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH with the email."""
    pool_id = pools.create(AutoVerifiedAttributes=["email"], UsernameAttributes=["email"])["Id"]
    client_id = pools.client(pool_id, ExplicitAuthFlows=[
        "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_AUTH"])[
        "ClientId"]
    email = uniq_email("intro")
    sub = idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                      UserAttributes=[{"Name": "email", "Value": email}])["UserSub"]
    assert body(idp.admin_confirm_sign_up(UserPoolId=pool_id, Username=email)) == {}
    resp = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    ar = resp["AuthenticationResult"]
    assert claims(ar["AccessToken"])["username"] == sub
    idt = claims(ar["IdToken"])
    assert idt["cognito:username"] == sub and idt["email"] == email
    assert idt["email_verified"] is False, "AdminConfirmSignUp confirms the user, not the email"
    assert attrs(idp.admin_get_user(UserPoolId=pool_id, Username=email)["UserAttributes"])["email_verified"] \
        == "false"
