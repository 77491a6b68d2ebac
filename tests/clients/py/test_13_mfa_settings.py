"""13. The rest of the MFA surface apps and admin tools call, with boto3: the legacy SMS setting
(SetUserSettings / AdminSetUserSettings, MFAOptions in GetUser), GetUserAuthFactors and its admin
variant, AdminDeleteSoftwareToken; and user-pool tags (TagResource, UntagResource, ListTagsForResource).
"""

import pytest

from clientlib_support import SRP_FLOWS, confirmed_user, enable_totp, module_server, totp_now
from helpers import PASSWORD, expect_error, secret_hash, uniq, uniq_email

tobira, idp, pools = module_server()

SMS_CONFIG = {"SnsCallerArn": "arn:aws:iam::123456789012:role/cognito-sms", "ExternalId": "tobira-tests",
              "SnsRegion": "us-east-1"}
SMS_OPTION = [{"DeliveryMedium": "SMS", "AttributeName": "phone_number"}]


@pytest.fixture(scope="module")
def pool(idp, pools):
    pool_id = pools.create(UserPoolTier="ESSENTIALS", SmsConfiguration=SMS_CONFIG,
                           Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "EMAIL_OTP"]}})["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True},
                                 SmsMfaConfiguration={"SmsAuthenticationMessage": "Code {####}", "SmsConfiguration": SMS_CONFIG})
    client = pools.client(pool_id, GenerateSecret=True, ExplicitAuthFlows=SRP_FLOWS + ["ALLOW_USER_AUTH"])
    return {"pool_id": pool_id, "client_id": client["ClientId"], "secret": client["ClientSecret"]}


def new_user(idp, pool, phone=None):
    attrs = [{"Name": "email", "Value": uniq_email("set")}, {"Name": "email_verified", "Value": "true"}]
    if phone:
        attrs += [{"Name": "phone_number", "Value": phone}, {"Name": "phone_number_verified", "Value": "true"}]
    return confirmed_user(idp, pool["pool_id"], uniq("set"), attributes=attrs)


def sign_in(idp, pool, username):
    return idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD,
                                             "SECRET_HASH": secret_hash(username, pool["client_id"], pool["secret"])})


def test_legacy_sms_setting_turns_sms_mfa_on_and_off(idp, pool):
    username = new_user(idp, pool, phone="+15555550188")
    at = sign_in(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    assert "MFAOptions" not in idp.get_user(AccessToken=at)
    idp.set_user_settings(AccessToken=at, MFAOptions=SMS_OPTION)
    assert idp.get_user(AccessToken=at)["MFAOptions"] == SMS_OPTION
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert got["MFAOptions"] == SMS_OPTION
    assert got["UserMFASettingList"] == ["SMS_MFA"]
    assert sign_in(idp, pool, username)["ChallengeName"] == "SMS_MFA"
    idp.admin_set_user_settings(UserPoolId=pool["pool_id"], Username=username, MFAOptions=[])
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert "MFAOptions" not in got and "UserMFASettingList" not in got
    assert "AuthenticationResult" in sign_in(idp, pool, username)


def test_legacy_sms_setting_needs_a_phone_number(idp, pool):
    username = new_user(idp, pool)
    with expect_error("InvalidParameterException"):
        idp.admin_set_user_settings(UserPoolId=pool["pool_id"], Username=username, MFAOptions=SMS_OPTION)
    with expect_error("UserNotFoundException", "User does not exist."):
        idp.admin_set_user_settings(UserPoolId=pool["pool_id"], Username="nobody-" + uniq(), MFAOptions=[])


def test_user_auth_factors(idp, tobira, pool):
    username = new_user(idp, pool)
    at = sign_in(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    out = idp.get_user_auth_factors(AccessToken=at)
    assert out["Username"] == username
    assert out["ConfiguredUserAuthFactors"] == ["PASSWORD", "EMAIL_OTP"]
    assert "UserMFASettingList" not in out
    enable_totp(idp, tobira, at)
    out = idp.admin_get_user_auth_factors(UserPoolId=pool["pool_id"], Username=username)
    assert out["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert out["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    with expect_error("NotAuthorizedException", "Invalid Access Token"):
        idp.get_user_auth_factors(AccessToken="not-a-token")


def test_admin_delete_software_token(idp, tobira, pool):
    username = new_user(idp, pool)
    at = sign_in(idp, pool, username)["AuthenticationResult"]["AccessToken"]
    enable_totp(idp, tobira, at)
    assert sign_in(idp, pool, username)["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    idp.admin_delete_software_token(UserPoolId=pool["pool_id"], Username=username)
    got = idp.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    assert "UserMFASettingList" not in got and "PreferredMfaSetting" not in got
    out = sign_in(idp, pool, username)
    assert "AuthenticationResult" in out, "no TOTP factor left, so no TOTP challenge"
    at = out["AuthenticationResult"]["AccessToken"]
    with expect_error("InvalidParameterException", "User has not verified software token mfa"):
        idp.set_user_mfa_preference(AccessToken=at, SoftwareTokenMfaSettings={"Enabled": True})
    secret = idp.associate_software_token(AccessToken=at)["SecretCode"]
    assert idp.verify_software_token(AccessToken=at, UserCode=totp_now(tobira, secret))["Status"] == "SUCCESS"


def test_user_pool_tags(idp, pools):
    pool_id = pools.create(UserPoolTags={"team": "identity"})["Id"]
    arn = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    assert idp.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "identity"}
    idp.tag_resource(ResourceArn=arn, Tags={"t2:tag": "v2", "team": "auth"})
    assert idp.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "auth", "t2:tag": "v2"}
    idp.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"])
    assert idp.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"t2:tag": "v2"}
    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["UserPoolTags"] == {"t2:tag": "v2"}
    gone = arn.rsplit("/", 1)[0] + "/us-east-1_Nonexist0"
    with expect_error("ResourceNotFoundException"):
        idp.list_tags_for_resource(ResourceArn=gone)
