"""7. Time: lockout after repeated wrong passwords (lifted by moving the test clock), token, code and
temporary-password expiry.

Cognito: after 5 failed attempts the user is locked for 2^(n-5) seconds (capped near 15 minutes);
during the lock every attempt fails with NotAuthorizedException "Password attempts exceeded".
"""

from botocore.exceptions import ClientError

from helpers import PASSWORD, TEMP_PASSWORD, claims, expect_error, uniq

LOCKED = "Password attempts exceeded"
WRONG = "Incorrect username or password."


def test_lockout_and_clock_advance(idp, tobira, pools):
    pool_id = pools.create()["Id"]
    client_id = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])[
        "ClientId"]
    username = uniq("lock")
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=TEMP_PASSWORD)
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)

    def attempt(password):
        return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": password})

    messages = []
    for _ in range(15):
        try:
            attempt("Wrong-Pass0!")
        except ClientError as exc:
            err = exc.response["Error"]
            assert err["Code"] == "NotAuthorizedException", err
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            messages.append(err["Message"])
            if err["Message"] == LOCKED:
                break
        else:
            raise AssertionError("a wrong password was accepted")
    assert messages[:5] == [WRONG] * 5, f"the first five failures are plain wrong-password errors: {messages}"
    assert messages[-1] == LOCKED, f"no lockout after {len(messages)} wrong passwords: {messages}"
    assert set(messages[:-1]) == {WRONG}

    # While locked, even the right password is refused.
    with expect_error("NotAuthorizedException", LOCKED):
        attempt(PASSWORD)

    # Past the back-off (at most ~15 minutes), the right password works again.
    tobira.advance_clock(16 * 60)
    ar = attempt(PASSWORD)["AuthenticationResult"]
    assert claims(ar["AccessToken"])["username"] == username

    # A success resets the counter: the next wrong password is an ordinary failure.
    with expect_error("NotAuthorizedException", WRONG):
        attempt("Wrong-Pass0!")
    assert attempt(PASSWORD)["AuthenticationResult"]["AccessToken"]


def _plain_pool(idp, pools, **pool_kwargs):
    pool_id = pools.create(**pool_kwargs)["Id"]
    client_id = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])[
        "ClientId"]
    return pool_id, client_id


def test_access_token_expiry(idp, tobira, pools):
    pool_id, client_id = _plain_pool(idp, pools)
    username = uniq("exp")
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)
    ar = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                           AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]
    assert idp.get_user(AccessToken=ar["AccessToken"])["Username"] == username

    tobira.advance_clock(3600 + 120)
    with expect_error("NotAuthorizedException", "Access Token has expired"):
        idp.get_user(AccessToken=ar["AccessToken"])
    # The refresh token (30 days) still gives new tokens, stamped with the moved clock.
    new = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                            AuthParameters={"REFRESH_TOKEN": ar["RefreshToken"]})["AuthenticationResult"]
    assert claims(new["AccessToken"])["iat"] >= claims(ar["AccessToken"])["iat"] + 3600
    assert idp.get_user(AccessToken=new["AccessToken"])["Username"] == username


def test_confirmation_code_expiry(idp, tobira, pools):
    pool_id, client_id = _plain_pool(idp, pools, AutoVerifiedAttributes=["email"])
    username = uniq("codeexp")
    idp.sign_up(ClientId=client_id, Username=username, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
    code = tobira.last_code(pool_id, username)
    tobira.advance_clock(25 * 3600)  # sign-up codes are valid for 24 hours
    with expect_error("ExpiredCodeException", "Invalid code provided, please request a code again."):
        idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)
    idp.resend_confirmation_code(ClientId=client_id, Username=username)
    idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=tobira.last_code(pool_id, username))
    assert idp.admin_get_user(UserPoolId=pool_id, Username=username)["UserStatus"] == "CONFIRMED"


def test_temporary_password_expiry(idp, tobira, pools):
    pool_id, client_id = _plain_pool(idp, pools)
    username = uniq("tmpexp")
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          TemporaryPassword=TEMP_PASSWORD)
    tobira.advance_clock(8 * 24 * 3600)  # TemporaryPasswordValidityDays defaults to 7
    with expect_error("NotAuthorizedException",
                      "Temporary password has expired and must be reset by an administrator."):
        idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": TEMP_PASSWORD})
    # An administrator can set a new temporary password, which works again.
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password="Temp-Again4$", Permanent=False)
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": "Temp-Again4$"})
    assert resp["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
