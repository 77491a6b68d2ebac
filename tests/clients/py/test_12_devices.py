"""12. Remembered devices with boto3 and pycognito's device-SRP maths (generate_hash_device, AWSSRP with a
device key): NewDeviceMetadata, ConfirmDevice, DeviceOnlyRememberedOnUserPrompt, DEVICE_SRP_AUTH /
DEVICE_PASSWORD_VERIFIER, device_key in the access token, (Admin)GetDevice / (Admin)ListDevices /
(Admin)UpdateDeviceStatus / (Admin)ForgetDevice.

Pool: TOTP MFA OPTIONAL, DeviceConfiguration {ChallengeRequiredOnNewDevice: true,
DeviceOnlyRememberedOnUserPrompt: true}: a confirmed device is tracked but skips MFA only once remembered.
The app client has no secret (as a mobile app's).
"""

import base64
import re

import pytest
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP, generate_hash_device

from clientlib_support import confirmed_user, enable_totp, module_server, next_totp_step, totp_now
from helpers import PASSWORD, FlowState, claims, expect_error, uniq

tobira, idp, pools = module_server()

DEVICE_KEY_RE = r"^us-east-1_[0-9a-f-]+$"


@pytest.fixture(scope="module")
def env(idp, tobira, pools):
    pool_id = pools.create(DeviceConfiguration={"ChallengeRequiredOnNewDevice": True,
                                                "DeviceOnlyRememberedOnUserPrompt": True})["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client_id = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                                                         "ALLOW_REFRESH_TOKEN_AUTH"])["ClientId"]
    username = confirmed_user(idp, pool_id, uniq("dev"))
    at = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                           AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]
    secret = enable_totp(idp, tobira, at["AccessToken"])
    return {"pool_id": pool_id, "client_id": client_id, "username": username, "secret": secret}


@pytest.fixture(scope="module")
def flow():
    return FlowState()


def sign_in(idp, tobira, env, device=None, key_in_initiate=True):
    """SRP sign-in answering every challenge like a device-aware client. Returns (result, challenges seen).

    key_in_initiate=False sends DEVICE_KEY only with PASSWORD_VERIFIER, as amazon-cognito-identity-js does
    when it learns the device key from its storage after USER_ID_FOR_SRP comes back."""
    kw = {}
    if device:
        kw = dict(device_key=device["key"], device_group_key=device["group"], device_password=device["password"])
    aws = AWSSRP(username=env["username"], password=PASSWORD, pool_id=env["pool_id"], client_id=env["client_id"],
                 client=idp, **kw)
    params = aws.get_auth_params()
    if not key_in_initiate:
        params.pop("DEVICE_KEY", None)
    r = idp.initiate_auth(ClientId=env["client_id"], AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    seen = []
    while r.get("ChallengeName"):
        name = r["ChallengeName"]
        seen.append(name)
        session = {"Session": r["Session"]} if r.get("Session") else {}
        extra = {"DEVICE_KEY": device["key"]} if device else {}
        if name == "PASSWORD_VERIFIER":
            resp = aws.process_challenge(r["ChallengeParameters"], params)
        elif name == "SOFTWARE_TOKEN_MFA":
            resp = {"USERNAME": env["username"], "SOFTWARE_TOKEN_MFA_CODE": totp_now(tobira, env["secret"]), **extra}
        elif name == "DEVICE_SRP_AUTH":
            assert device, "DEVICE_SRP_AUTH without a device key sent"
            resp = {"USERNAME": env["username"], "DEVICE_KEY": device["key"], "SRP_A": params["SRP_A"]}
        elif name == "DEVICE_PASSWORD_VERIFIER":
            cp = r["ChallengeParameters"]
            assert {"SRP_B", "SALT", "SECRET_BLOCK"} <= set(cp), cp
            resp = aws.process_device_challenge(cp)
        else:
            raise AssertionError(f"unexpected challenge {name}: {r}")
        r = idp.respond_to_auth_challenge(ClientId=env["client_id"], ChallengeName=name, ChallengeResponses=resp,
                                          **session)
    return r["AuthenticationResult"], seen


def device_attrs(device):
    return {a["Name"]: a["Value"] for a in device["DeviceAttributes"]}


def test_new_device_metadata_and_confirm_device(idp, tobira, env, flow):
    ar, seen = sign_in(idp, tobira, env)
    assert seen == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA"]
    meta = ar.get("NewDeviceMetadata")
    assert meta, f"device tracking is on: the tokens carry NewDeviceMetadata ({sorted(ar)})"
    assert re.match(DEVICE_KEY_RE, meta["DeviceKey"]), meta
    assert meta["DeviceGroupKey"]
    assert claims(ar["AccessToken"]).get("device_key") == meta["DeviceKey"], "access token carries device_key"
    password, verifier = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    out = idp.confirm_device(AccessToken=ar["AccessToken"], DeviceKey=meta["DeviceKey"],
                             DeviceSecretVerifierConfig=verifier, DeviceName="pytest laptop")
    assert out["UserConfirmationNecessary"] is True, "DeviceOnlyRememberedOnUserPrompt=true: the user decides"
    flow.device = {"key": meta["DeviceKey"], "group": meta["DeviceGroupKey"], "password": password}
    flow.access = ar["AccessToken"]


def test_confirmed_device_is_listed(idp, env, flow):
    got = idp.get_device(AccessToken=flow.access, DeviceKey=flow.device["key"])["Device"]
    assert got["DeviceKey"] == flow.device["key"]
    for k in ("DeviceCreateDate", "DeviceLastModifiedDate", "DeviceLastAuthenticatedDate"):
        assert k in got, f"{k} missing: {got}"
    listed = idp.list_devices(AccessToken=flow.access)["Devices"]
    assert [d["DeviceKey"] for d in listed] == [flow.device["key"]]
    admin = idp.admin_get_device(UserPoolId=env["pool_id"], Username=env["username"], DeviceKey=flow.device["key"])
    assert admin["Device"]["DeviceKey"] == flow.device["key"]


def test_device_attributes_have_cognitos_shape(idp, env, flow):
    """API reference (AdminListDevices example): device_status "valid", the remembered state in
    dev:device_remembered_status, device_name as given to ConfirmDevice, last_ip_used."""
    a = device_attrs(idp.get_device(AccessToken=flow.access, DeviceKey=flow.device["key"])["Device"])
    assert a.get("device_status") == "valid", a
    assert a.get("device_name") == "pytest laptop", a
    assert a.get("dev:device_remembered_status") == "not_remembered", a
    assert a.get("last_ip_used") == "127.0.0.1", a


def test_tracked_but_not_remembered_device_still_needs_mfa_then_device_srp(idp, tobira, env, flow):
    next_totp_step(tobira)
    ar, seen = sign_in(idp, tobira, env, flow.device)
    assert seen == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"], seen
    assert "NewDeviceMetadata" not in ar, "a known device gets no new metadata"
    assert claims(ar["AccessToken"])["device_key"] == flow.device["key"]
    flow.access = ar["AccessToken"]


def test_update_device_status_remembered_skips_mfa(idp, tobira, env, flow):
    idp.update_device_status(AccessToken=flow.access, DeviceKey=flow.device["key"],
                             DeviceRememberedStatus="remembered")
    ar, seen = sign_in(idp, tobira, env, flow.device)
    assert seen == ["PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"], seen
    assert claims(ar["AccessToken"])["device_key"] == flow.device["key"]
    flow.access = ar["AccessToken"]
    flow.refresh = ar["RefreshToken"]


def test_remembered_status_shows_in_device_attributes(idp, env, flow):
    a = device_attrs(idp.get_device(AccessToken=flow.access, DeviceKey=flow.device["key"])["Device"])
    assert a.get("dev:device_remembered_status") == "remembered", a
    assert a.get("device_status") == "valid", a


def test_device_key_sent_only_with_password_verifier(idp, tobira, env, flow):
    """amazon-cognito-identity-js puts DEVICE_KEY in the PASSWORD_VERIFIER answer, not in InitiateAuth."""
    next_totp_step(tobira)  # so that, should MFA be asked for, the flow still completes and shows it
    ar, seen = sign_in(idp, tobira, env, flow.device, key_in_initiate=False)
    assert seen == ["PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"], seen
    assert claims(ar["AccessToken"])["device_key"] == flow.device["key"]


def test_refresh_with_device_key_keeps_it(idp, env, flow):
    out = idp.initiate_auth(ClientId=env["client_id"], AuthFlow="REFRESH_TOKEN_AUTH",
                            AuthParameters={"REFRESH_TOKEN": flow.refresh, "DEVICE_KEY": flow.device["key"]})
    assert claims(out["AuthenticationResult"]["AccessToken"])["device_key"] == flow.device["key"]


def test_wrong_device_password_is_refused(idp, tobira, env, flow):
    forged = dict(flow.device, password=base64.b64encode(b"x" * 40).decode())
    with pytest.raises(ClientError) as info:
        sign_in(idp, tobira, env, forged)
    assert info.value.response["Error"]["Code"] == "NotAuthorizedException", info.value.response["Error"]


def test_admin_update_device_status_not_remembered_brings_mfa_back(idp, tobira, env, flow):
    idp.admin_update_device_status(UserPoolId=env["pool_id"], Username=env["username"],
                                   DeviceKey=flow.device["key"], DeviceRememberedStatus="not_remembered")
    admin = idp.admin_list_devices(UserPoolId=env["pool_id"], Username=env["username"])["Devices"]
    assert [d["DeviceKey"] for d in admin] == [flow.device["key"]]
    next_totp_step(tobira)
    _, seen = sign_in(idp, tobira, env, flow.device)
    assert seen == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"], seen


def test_forget_device_and_admin_forget_device(idp, tobira, env, flow):
    idp.admin_forget_device(UserPoolId=env["pool_id"], Username=env["username"], DeviceKey=flow.device["key"])
    assert idp.admin_list_devices(UserPoolId=env["pool_id"], Username=env["username"])["Devices"] == []
    with pytest.raises(ClientError) as info:
        idp.admin_get_device(UserPoolId=env["pool_id"], Username=env["username"], DeviceKey=flow.device["key"])
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # A client still holding the forgotten key: Cognito answers ResourceNotFoundException mentioning the device
    # (amazon-cognito-identity-js then retries without DEVICE_KEY).
    next_totp_step(tobira)
    with pytest.raises(ClientError) as info:
        sign_in(idp, tobira, env, flow.device)
    err = info.value.response["Error"]
    assert err["Code"] == "ResourceNotFoundException", err
    assert err["Message"] == "Device does not exist.", err
    # Same when the stale key only comes with PASSWORD_VERIFIER (as amazon-cognito-identity-js sends it).
    with expect_error("ResourceNotFoundException", "Device does not exist."):
        sign_in(idp, tobira, env, flow.device, key_in_initiate=False)
    next_totp_step(tobira)
    # Signing in again without it makes a new device.
    ar, seen = sign_in(idp, tobira, env)
    assert seen == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA"]
    new_key = ar["NewDeviceMetadata"]["DeviceKey"]
    assert new_key != flow.device["key"]
    password, verifier = generate_hash_device(ar["NewDeviceMetadata"]["DeviceGroupKey"], new_key)
    idp.confirm_device(AccessToken=ar["AccessToken"], DeviceKey=new_key, DeviceSecretVerifierConfig=verifier,
                       DeviceName="second")
    idp.forget_device(AccessToken=ar["AccessToken"], DeviceKey=new_key)
    assert idp.list_devices(AccessToken=ar["AccessToken"])["Devices"] == []


def test_device_of_another_user_or_unknown(idp, env):
    with expect_error("ResourceNotFoundException"):
        idp.admin_get_device(UserPoolId=env["pool_id"], Username=env["username"],
                             DeviceKey="us-east-1_00000000-0000-4000-8000-000000000000")
