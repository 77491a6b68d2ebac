"""4. Plain pools: email alias sign-in and case-insensitive usernames."""

import pytest

from helpers import PASSWORD, OTHER_PASSWORD, TEMP_PASSWORD, attrs, claims, expect_error, uniq, uniq_email

FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


def _create(idp, pool_id, username, password=PASSWORD, **user_attrs):
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=TEMP_PASSWORD,
                          UserAttributes=[{"Name": k, "Value": v} for k, v in user_attrs.items()])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)


def _sign_in(idp, client_id, username, password=PASSWORD):
    return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": password})


@pytest.fixture(scope="module")
def alias_pool(idp, pools):
    pool = pools.create(AliasAttributes=["email"], AutoVerifiedAttributes=["email"])
    legacy = pools.client(pool["Id"], ExplicitAuthFlows=FLOWS)
    enabled = pools.client(pool["Id"], ExplicitAuthFlows=FLOWS, PreventUserExistenceErrors="ENABLED")
    return pool["Id"], legacy["ClientId"], enabled["ClientId"]


def test_describe_alias_pool(idp, alias_pool):
    pool_id, _, _ = alias_pool
    d = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert d["AliasAttributes"] == ["email"]
    assert "UsernameAttributes" not in d


def test_sign_in_with_verified_email_alias(idp, alias_pool):
    pool_id, client_id, _ = alias_pool
    username, email = uniq("erin"), uniq_email("erin")
    _create(idp, pool_id, username, email=email, email_verified="true")

    ar = _sign_in(idp, client_id, email)["AuthenticationResult"]
    access, idt = claims(ar["AccessToken"]), claims(ar["IdToken"])
    assert access["username"] == username, "tokens carry the real username, not the alias"
    assert idt["cognito:username"] == username
    assert idt["email"] == email and idt["email_verified"] is True
    assert idp.get_user(AccessToken=ar["AccessToken"])["Username"] == username

    # Aliases work in the admin API too.
    assert idp.admin_get_user(UserPoolId=pool_id, Username=email)["Username"] == username
    resp = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    assert claims(resp["AuthenticationResult"]["AccessToken"])["username"] == username
    # The username still works as well.
    assert claims(_sign_in(idp, client_id, username)["AuthenticationResult"]["AccessToken"])["username"] == username


def test_unverified_email_is_not_an_alias(idp, alias_pool):
    pool_id, legacy, enabled = alias_pool
    username, email = uniq("frank"), uniq_email("frank")
    _create(idp, pool_id, username, email=email)
    assert "email_verified" not in attrs(idp.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"])

    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        _sign_in(idp, enabled, email)
    with expect_error("UserNotFoundException", "User does not exist."):
        _sign_in(idp, legacy, email)
    assert _sign_in(idp, legacy, username)["AuthenticationResult"]["AccessToken"]


def test_email_shaped_username_rejected(idp, alias_pool):
    pool_id, _, _ = alias_pool
    with expect_error("InvalidParameterException",
                      "Username cannot be of email format, since user pool is configured for email alias."):
        idp.admin_create_user(UserPoolId=pool_id, Username=uniq_email("shape"), MessageAction="SUPPRESS")


def test_duplicate_verified_alias(idp, alias_pool):
    pool_id, client_id, _ = alias_pool
    email = uniq_email("dup")
    first, second = uniq("first"), uniq("second")
    _create(idp, pool_id, first, email=email, email_verified="true")

    with expect_error("AliasExistsException"):
        idp.admin_create_user(UserPoolId=pool_id, Username=second, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"}])

    idp.admin_create_user(UserPoolId=pool_id, Username=second, MessageAction="SUPPRESS", ForceAliasCreation=True,
                          TemporaryPassword=TEMP_PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=second, Password=OTHER_PASSWORD, Permanent=True)
    ar = _sign_in(idp, client_id, email, OTHER_PASSWORD)["AuthenticationResult"]
    assert claims(ar["AccessToken"])["username"] == second, "ForceAliasCreation moves the alias to the new user"


def test_case_insensitive_username(idp, pools):
    pool = pools.create(UsernameConfiguration={"CaseSensitive": False})
    client_id = pools.client(pool["Id"], ExplicitAuthFlows=FLOWS)["ClientId"]
    d = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    assert d["UsernameConfiguration"] == {"CaseSensitive": False}

    username = uniq("henry")
    _create(idp, pool["Id"], username)
    ar = _sign_in(idp, client_id, username.upper())["AuthenticationResult"]
    assert claims(ar["AccessToken"])["username"] == username
    assert idp.admin_get_user(UserPoolId=pool["Id"], Username=username.upper())["Username"] == username
    with expect_error("UsernameExistsException"):
        idp.admin_create_user(UserPoolId=pool["Id"], Username=username.upper(), MessageAction="SUPPRESS")


def test_case_sensitive_by_default(idp, pools):
    pool = pools.create()
    client_id = pools.client(pool["Id"], ExplicitAuthFlows=FLOWS)["ClientId"]
    username = uniq("ivy")
    _create(idp, pool["Id"], username)
    with expect_error("UserNotFoundException", "User does not exist."):
        _sign_in(idp, client_id, username.upper())
    assert _sign_in(idp, client_id, username)["AuthenticationResult"]["AccessToken"]
