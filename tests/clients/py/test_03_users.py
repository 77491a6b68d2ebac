"""3. User lifecycle through the admin and the token-based (user) APIs."""

import json
import re

import pytest

from helpers import (OTHER_PASSWORD, PASSWORD, TEMP_PASSWORD, UUID_RE, attrs, body, expect_error, masked, uniq,
                     uniq_email)


class Ctx:
    def __init__(self, idp, tobira, pool_id, client_id):
        self.idp, self.tobira, self.pool_id, self.client_id = idp, tobira, pool_id, client_id

    def create(self, username=None, email=None, verified=None, extra=None, password=PASSWORD):
        """AdminCreateUser (suppressed) + permanent password -> CONFIRMED user."""
        username = username or uniq("u")
        user_attrs = []
        if email:
            user_attrs.append({"Name": "email", "Value": email})
        if verified is not None:
            user_attrs.append({"Name": "email_verified", "Value": verified})
        user_attrs += [{"Name": k, "Value": v} for k, v in (extra or {}).items()]
        self.idp.admin_create_user(UserPoolId=self.pool_id, Username=username, UserAttributes=user_attrs,
                                   TemporaryPassword=TEMP_PASSWORD, MessageAction="SUPPRESS")
        if password:
            self.idp.admin_set_user_password(UserPoolId=self.pool_id, Username=username, Password=password,
                                             Permanent=True)
        return username

    def sign_in(self, username, password=PASSWORD):
        return self.idp.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": username, "PASSWORD": password})

    def tokens(self, username, password=PASSWORD):
        return self.sign_in(username, password)["AuthenticationResult"]

    def get(self, username):
        return self.idp.admin_get_user(UserPoolId=self.pool_id, Username=username)

    def user_attrs(self, username):
        return attrs(self.get(username)["UserAttributes"])


@pytest.fixture(scope="module")
def ctx(idp, tobira, pools):
    pool = pools.create(
        AutoVerifiedAttributes=["email"],
        UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["email"]},
    )
    client = pools.client(pool["Id"], ExplicitAuthFlows=[
        "ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    return Ctx(idp, tobira, pool["Id"], client["ClientId"])


def test_admin_create_user_force_change_password(ctx, idp, tobira):
    username, email = uniq("fcp"), uniq_email("fcp")
    resp = idp.admin_create_user(
        UserPoolId=ctx.pool_id, Username=username, TemporaryPassword=TEMP_PASSWORD, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "given_name", "Value": "Hana"}])
    user = resp["User"]
    assert user["Username"] == username
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert user["Enabled"] is True
    assert user["UserCreateDate"] == user["UserLastModifiedDate"]
    a = attrs(user["Attributes"])
    assert UUID_RE.match(a["sub"])
    assert a["email"] == email and a["given_name"] == "Hana"
    assert "email_verified" not in a, "AdminCreateUser never adds email_verified"
    assert tobira.inbox(ctx.pool_id, username) == [], "MessageAction SUPPRESS sends nothing"
    assert tobira.inbox(ctx.pool_id, email) == []

    with expect_error("UsernameExistsException"):
        idp.admin_create_user(UserPoolId=ctx.pool_id, Username=username, MessageAction="SUPPRESS")

    challenge = ctx.sign_in(username, TEMP_PASSWORD)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert challenge["Session"]
    params = challenge["ChallengeParameters"]
    assert params["USER_ID_FOR_SRP"] == username
    assert "USERNAME" not in params
    assert json.loads(params["requiredAttributes"]) == []
    user_attributes = json.loads(params["userAttributes"])
    assert isinstance(user_attributes, dict) and "sub" not in user_attributes

    with expect_error("NotAuthorizedException", "User cannot be confirmed. Current status is FORCE_CHANGE_PASSWORD"):
        idp.admin_confirm_sign_up(UserPoolId=ctx.pool_id, Username=username)

    resp = idp.admin_set_user_password(UserPoolId=ctx.pool_id, Username=username, Password=PASSWORD,
                                       Permanent=True)
    assert body(resp) == {}
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"
    ar = ctx.tokens(username)
    assert ar["AccessToken"] and ar["RefreshToken"]


def test_new_password_required_challenge(ctx, idp):
    username = ctx.create(password=None)
    challenge = ctx.sign_in(username, TEMP_PASSWORD)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    resp = idp.respond_to_auth_challenge(
        ClientId=ctx.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": PASSWORD})
    assert resp["ChallengeParameters"] == {}
    assert resp["AuthenticationResult"]["AccessToken"]
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"
    assert ctx.tokens(username)["IdToken"]


def test_admin_set_user_password_too_short(ctx, idp):
    username = ctx.create(password=None)
    for permanent in (True, False):
        with expect_error("InvalidPasswordException",
                          "Password does not conform to policy: Password not long enough"):
            idp.admin_set_user_password(UserPoolId=ctx.pool_id, Username=username, Password="Ab1!",
                                        Permanent=permanent)
    assert ctx.get(username)["UserStatus"] == "FORCE_CHANGE_PASSWORD"

    # Non-permanent on a confirmed user forces a new password again.
    confirmed = ctx.create()
    idp.admin_set_user_password(UserPoolId=ctx.pool_id, Username=confirmed, Password=OTHER_PASSWORD,
                                Permanent=False)
    assert ctx.get(confirmed)["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert ctx.sign_in(confirmed, OTHER_PASSWORD)["ChallengeName"] == "NEW_PASSWORD_REQUIRED"


def test_admin_confirm_sign_up_twice(ctx, idp):
    username, email = uniq("acs"), uniq_email("acs")
    resp = idp.sign_up(ClientId=ctx.client_id, Username=username, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": email}])
    assert resp["UserConfirmed"] is False
    assert ctx.get(username)["UserStatus"] == "UNCONFIRMED"
    with expect_error("UserNotConfirmedException", "User is not confirmed."):
        ctx.sign_in(username)

    assert body(idp.admin_confirm_sign_up(UserPoolId=ctx.pool_id, Username=username)) == {}
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"
    with expect_error("NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED"):
        idp.admin_confirm_sign_up(UserPoolId=ctx.pool_id, Username=username)
    assert ctx.tokens(username)["AccessToken"]


def test_admin_disable_enable_user(ctx, idp):
    username = ctx.create()
    assert body(idp.admin_disable_user(UserPoolId=ctx.pool_id, Username=username)) == {}
    assert ctx.get(username)["Enabled"] is False
    with expect_error("NotAuthorizedException", "User is disabled."):
        ctx.sign_in(username)
    disabled = idp.list_users(UserPoolId=ctx.pool_id, Filter='status = "Disabled"')["Users"]
    assert username in [u["Username"] for u in disabled]
    assert all(u["Enabled"] is False for u in disabled)

    assert body(idp.admin_enable_user(UserPoolId=ctx.pool_id, Username=username)) == {}
    assert ctx.get(username)["Enabled"] is True
    assert ctx.tokens(username)["AccessToken"]
    disabled = idp.list_users(UserPoolId=ctx.pool_id, Filter='status = "Disabled"')["Users"]
    assert username not in [u["Username"] for u in disabled]


def test_admin_delete_user_attributes(ctx, idp):
    username = ctx.create(extra={"given_name": "Aki", "family_name": "Sato"})
    resp = idp.admin_delete_user_attributes(UserPoolId=ctx.pool_id, Username=username,
                                            UserAttributeNames=["given_name"])
    assert body(resp) == {}
    a = ctx.user_attrs(username)
    assert "given_name" not in a
    assert a["family_name"] == "Sato"


def test_admin_delete_user(ctx, idp):
    username = ctx.create()
    assert body(idp.admin_delete_user(UserPoolId=ctx.pool_id, Username=username)) == {}
    with expect_error("UserNotFoundException", "User does not exist."):
        ctx.get(username)
    with expect_error("UserNotFoundException", "User does not exist."):
        idp.admin_delete_user(UserPoolId=ctx.pool_id, Username=username)
    with expect_error("UserNotFoundException", "User does not exist."):
        ctx.sign_in(username)
    # The name can be used again.
    ctx.create(username=username)
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"


def test_change_password(ctx, idp):
    username = ctx.create()
    access = ctx.tokens(username)["AccessToken"]
    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        idp.change_password(PreviousPassword="Wrong-Pass9!", ProposedPassword=OTHER_PASSWORD,
                            AccessToken=access)
    resp = idp.change_password(PreviousPassword=PASSWORD, ProposedPassword=OTHER_PASSWORD, AccessToken=access)
    assert body(resp) == {}
    with expect_error("NotAuthorizedException", "Incorrect username or password."):
        ctx.sign_in(username, PASSWORD)
    assert ctx.tokens(username, OTHER_PASSWORD)["AccessToken"]


def test_update_email_waits_for_verification(ctx, idp, tobira):
    old, new = uniq_email("old"), uniq_email("new")
    username = ctx.create(email=old, verified="true")
    access = ctx.tokens(username)["AccessToken"]

    resp = idp.update_user_attributes(AccessToken=access, UserAttributes=[{"Name": "email", "Value": new}])
    details = resp["CodeDeliveryDetailsList"]
    assert len(details) == 1, details
    assert details[0]["AttributeName"] == "email" and details[0]["DeliveryMedium"] == "EMAIL"
    assert masked(details[0]["Destination"], new), details

    got = attrs(idp.get_user(AccessToken=access)["UserAttributes"])
    assert got["email"] == old, "the old email stays until the new one is verified"
    assert got["email_verified"] == "true"

    msg = tobira.last_message(ctx.pool_id, username)
    assert msg["destination"] == new, "the code goes to the new address"
    assert msg["channel"] == "EMAIL"
    code = msg["code"]
    wrong = "000000" if code != "000000" else "111111"
    with expect_error("CodeMismatchException", "Invalid verification code provided, please try again."):
        idp.verify_user_attribute(AccessToken=access, AttributeName="email", Code=wrong)
    assert attrs(idp.get_user(AccessToken=access)["UserAttributes"])["email"] == old

    assert body(idp.verify_user_attribute(AccessToken=access, AttributeName="email", Code=code)) == {}
    got = attrs(idp.get_user(AccessToken=access)["UserAttributes"])
    assert got["email"] == new and got["email_verified"] == "true"
    assert [u["Username"] for u in idp.list_users(UserPoolId=ctx.pool_id, Filter=f'email = "{new}"')["Users"]] \
        == [username]

    # A non-verifiable attribute is applied at once, with nothing to deliver.
    resp = idp.update_user_attributes(AccessToken=access, UserAttributes=[{"Name": "given_name", "Value": "Ren"}])
    assert not resp.get("CodeDeliveryDetailsList")
    assert attrs(idp.get_user(AccessToken=access)["UserAttributes"])["given_name"] == "Ren"


def test_get_user_attribute_verification_code(ctx, idp, tobira):
    email = uniq_email("gvc")
    username = ctx.create(email=email)
    assert "email_verified" not in ctx.user_attrs(username)
    access = ctx.tokens(username)["AccessToken"]
    before = len(tobira.inbox(ctx.pool_id, username))

    resp = idp.get_user_attribute_verification_code(AccessToken=access, AttributeName="email")
    cdd = resp["CodeDeliveryDetails"]
    assert cdd["AttributeName"] == "email" and cdd["DeliveryMedium"] == "EMAIL"
    assert masked(cdd["Destination"], email)

    msgs = tobira.inbox(ctx.pool_id, username)
    assert len(msgs) == before + 1
    assert msgs[-1]["destination"] == email and msgs[-1]["channel"] == "EMAIL"
    assert re.fullmatch(r"\d{6}", msgs[-1]["code"])
    assert body(idp.verify_user_attribute(AccessToken=access, AttributeName="email",
                                          Code=msgs[-1]["code"])) == {}
    assert ctx.user_attrs(username)["email_verified"] == "true"


def test_delete_user_attributes(ctx, idp):
    username = ctx.create(extra={"given_name": "Yui", "nickname": "yu"})
    access = ctx.tokens(username)["AccessToken"]
    resp = idp.delete_user_attributes(AccessToken=access, UserAttributeNames=["given_name"])
    assert body(resp) == {}
    got = attrs(idp.get_user(AccessToken=access)["UserAttributes"])
    assert "given_name" not in got and got["nickname"] == "yu"


def test_delete_user(ctx, idp):
    username = ctx.create()
    access = ctx.tokens(username)["AccessToken"]
    assert body(idp.delete_user(AccessToken=access)) == {}
    with expect_error("UserNotFoundException", "User does not exist."):
        ctx.get(username)


def test_admin_reset_user_password(ctx, idp, tobira):
    email = uniq_email("reset")
    username = ctx.create(email=email, verified="true")
    assert body(idp.admin_reset_user_password(UserPoolId=ctx.pool_id, Username=username)) == {}
    assert ctx.get(username)["UserStatus"] == "RESET_REQUIRED"
    with expect_error("PasswordResetRequiredException", "Password reset required for the user"):
        ctx.sign_in(username)

    msg = tobira.last_message(ctx.pool_id, username)
    assert msg["destination"] == email
    assert msg["channel"] == "EMAIL", f"a code for an email address must go out by EMAIL, inbox says {msg['channel']}"
    resp = idp.confirm_forgot_password(ClientId=ctx.client_id, Username=username, ConfirmationCode=msg["code"],
                                       Password=OTHER_PASSWORD)
    assert body(resp) == {}
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"
    assert ctx.tokens(username, OTHER_PASSWORD)["AccessToken"]


def test_forgot_password(ctx, idp, tobira):
    email = uniq_email("forgot")
    username = ctx.create(email=email, verified="true")
    resp = idp.forgot_password(ClientId=ctx.client_id, Username=username)
    cdd = resp["CodeDeliveryDetails"]
    assert cdd["AttributeName"] == "email" and cdd["DeliveryMedium"] == "EMAIL"
    assert masked(cdd["Destination"], email)
    msg = tobira.last_message(ctx.pool_id, username)
    assert msg["destination"] == email
    assert msg["channel"] == cdd["DeliveryMedium"], \
        f"CodeDeliveryDetails says {cdd['DeliveryMedium']} but the message went out by {msg['channel']}"
    code = msg["code"]
    wrong = "000000" if code != "000000" else "111111"
    with expect_error("CodeMismatchException", "Invalid verification code provided, please try again."):
        idp.confirm_forgot_password(ClientId=ctx.client_id, Username=username, ConfirmationCode=wrong,
                                    Password=OTHER_PASSWORD)
    idp.confirm_forgot_password(ClientId=ctx.client_id, Username=username, ConfirmationCode=code,
                                Password=OTHER_PASSWORD)
    assert ctx.tokens(username, OTHER_PASSWORD)["AccessToken"]

    # No email or phone: nothing to send the code to.
    bare = ctx.create()
    with expect_error("InvalidParameterException",
                      "Cannot reset password for the user as there is no registered/verified email or phone_number"):
        idp.forgot_password(ClientId=ctx.client_id, Username=bare)


def test_resend_confirmation_code(ctx, idp, tobira):
    username, email = uniq("resend"), uniq_email("resend")
    resp = idp.sign_up(ClientId=ctx.client_id, Username=username, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": email}])
    assert resp["UserConfirmed"] is False
    assert resp["CodeDeliveryDetails"]["AttributeName"] == "email"
    first = tobira.inbox(ctx.pool_id, username)
    assert len([m for m in first if m.get("code")]) == 1

    resp = idp.resend_confirmation_code(ClientId=ctx.client_id, Username=username)
    cdd = resp["CodeDeliveryDetails"]
    assert cdd["AttributeName"] == "email" and cdd["DeliveryMedium"] == "EMAIL"
    assert masked(cdd["Destination"], email)
    msgs = [m for m in tobira.inbox(ctx.pool_id, username) if m.get("code")]
    assert len(msgs) == 2
    assert msgs[-1]["destination"] == email and msgs[-1]["channel"] == "EMAIL"

    assert body(idp.confirm_sign_up(ClientId=ctx.client_id, Username=username,
                                    ConfirmationCode=msgs[-1]["code"])) == {}
    assert ctx.get(username)["UserStatus"] == "CONFIRMED"
    assert ctx.user_attrs(username)["email_verified"] == "true"
    assert ctx.tokens(username)["AccessToken"]


def test_admin_create_user_sends_invitation(ctx, idp, tobira):
    username, email = uniq("invite"), uniq_email("invite")
    user = idp.admin_create_user(UserPoolId=ctx.pool_id, Username=username, DesiredDeliveryMediums=["EMAIL"],
                                 UserAttributes=[{"Name": "email", "Value": email},
                                                 {"Name": "email_verified", "Value": "true"}])["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    msgs = tobira.inbox(ctx.pool_id, username)
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert msg["channel"] == "EMAIL" and msg["destination"] == email
    temp = msg["code"]
    assert temp and temp in msg["message"], "the invitation carries the temporary password"
    assert username in msg["message"], "the invitation carries the username"
    challenge = ctx.sign_in(username, temp)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED", "a generated temporary password must work"

    # RESEND re-sends the invitation to the existing FORCE_CHANGE_PASSWORD user.
    idp.admin_create_user(UserPoolId=ctx.pool_id, Username=username, MessageAction="RESEND",
                          DesiredDeliveryMediums=["EMAIL"])
    msgs = tobira.inbox(ctx.pool_id, username)
    assert len(msgs) == 2 and msgs[-1]["destination"] == email
    assert ctx.sign_in(username, msgs[-1]["code"])["ChallengeName"] == "NEW_PASSWORD_REQUIRED"


def test_admin_get_user_shape(ctx, idp):
    username = ctx.create(email=uniq_email("shape"))
    resp = body(ctx.get(username))
    assert set(resp) == {"Username", "UserAttributes", "UserCreateDate", "UserLastModifiedDate", "UserStatus",
                         "Enabled"}, sorted(resp)
    assert resp["Username"] == username and resp["Enabled"] is True and resp["UserStatus"] == "CONFIRMED"


def test_admin_user_global_sign_out(ctx, idp):
    username = ctx.create()
    tokens = ctx.tokens(username)
    assert body(idp.admin_user_global_sign_out(UserPoolId=ctx.pool_id, Username=username)) == {}
    with expect_error("NotAuthorizedException", "Refresh Token has been revoked"):
        idp.initiate_auth(ClientId=ctx.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    with expect_error("NotAuthorizedException", "Access Token has been revoked"):
        idp.get_user(AccessToken=tokens["AccessToken"])
    assert ctx.tokens(username)["AccessToken"]


def test_revoke_token(ctx, idp):
    username = ctx.create()
    keep, revoke = ctx.tokens(username), ctx.tokens(username)
    assert body(idp.revoke_token(Token=revoke["RefreshToken"], ClientId=ctx.client_id)) == {}
    with expect_error("NotAuthorizedException", "Refresh Token has been revoked"):
        idp.initiate_auth(ClientId=ctx.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": revoke["RefreshToken"]})
    # Only that sign-in session is revoked; the other refresh token still works.
    ar = idp.initiate_auth(ClientId=ctx.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                           AuthParameters={"REFRESH_TOKEN": keep["RefreshToken"]})["AuthenticationResult"]
    assert ar["AccessToken"] and "RefreshToken" not in ar


def test_list_users_pagination_and_attributes_to_get(idp, pools):
    pool_id = pools.create()["Id"]
    names = sorted(uniq("page") for _ in range(3))
    for name in names:
        idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "given_name", "Value": name[-4:]},
                                              {"Name": "family_name", "Value": "Page"}])
    seen, token = [], None
    for _ in range(10):
        kwargs = {"UserPoolId": pool_id, "Limit": 1}
        if token:
            kwargs["PaginationToken"] = token
        page = idp.list_users(**kwargs)
        assert len(page["Users"]) <= 1
        seen += [u["Username"] for u in page["Users"]]
        token = page.get("PaginationToken")
        if not token:
            break
    assert sorted(seen) == names, seen

    page = idp.list_users(UserPoolId=pool_id, AttributesToGet=["given_name"])
    assert len(page["Users"]) == 3
    for u in page["Users"]:
        assert [a["Name"] for a in u["Attributes"]] == ["given_name"], u["Attributes"]
    assert [u["Username"] for u in idp.list_users(UserPoolId=pool_id, Filter=f'username = "{names[1]}"')["Users"]] \
        == [names[1]]
    assert idp.list_users(UserPoolId=pool_id, Filter='cognito:user_status = "FORCE_CHANGE_PASSWORD"')["Users"]
    assert idp.list_users(UserPoolId=pool_id, Filter='cognito:user_status = "CONFIRMED"')["Users"] == []
