"""Identity pools, IAM and STS with boto3: the enhanced flow of seed 003 and the classic flow
(GetOpenIdToken, then STS AssumeRoleWithWebIdentity), against tobira's own IAM roles."""
import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError


def _client(tobira, service, **creds):
    kw = dict(endpoint_url=tobira.url, region_name="us-east-1",
              aws_access_key_id=creds.get("key", "AKIDTOBIRATEST"), aws_secret_access_key=creds.get("secret", "tobira-test-secret"))
    if creds.get("token"):
        kw["aws_session_token"] = creds["token"]
    return boto3.client(service, **kw)


TRUST = lambda pool_id: json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
    "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": pool_id},
                  "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]})


@pytest.fixture
def signed_in(tobira, idp, pools):
    pool_id = pools.create()["Id"]
    client_id = pools.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["ClientId"]
    idp.admin_create_user(UserPoolId=pool_id, Username="ip-user", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="ip-user", Password="Passw0rd!x", Permanent=True)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "ip-user", "PASSWORD": "Passw0rd!x"})["AuthenticationResult"]
    provider = f"cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    return {"pool_id": pool_id, "client_id": client_id, "provider": provider, "logins": {provider: tokens["IdToken"]}}


def _identity_pool(tobira, s, classic=False):
    ci = _client(tobira, "cognito-identity")
    pool = ci.create_identity_pool(IdentityPoolName="boto", AllowUnauthenticatedIdentities=False, AllowClassicFlow=classic,
                                   CognitoIdentityProviders=[{"ProviderName": s["provider"], "ClientId": s["client_id"]}])
    iam = _client(tobira, "iam")
    role = iam.create_role(RoleName=f"boto-{uuid.uuid4().hex[:12]}", AssumeRolePolicyDocument=TRUST(pool["IdentityPoolId"]))["Role"]
    return ci, pool, role


def test_enhanced_flow_gives_credentials_that_sts_recognises(tobira, signed_in):
    ci, pool, role = _identity_pool(tobira, signed_in)
    ci.set_identity_pool_roles(IdentityPoolId=pool["IdentityPoolId"], Roles={"authenticated": role["Arn"]})
    assert ci.get_identity_pool_roles(IdentityPoolId=pool["IdentityPoolId"])["Roles"] == {"authenticated": role["Arn"]}
    identity = ci.get_id(IdentityPoolId=pool["IdentityPoolId"], Logins=signed_in["logins"])["IdentityId"]
    creds = ci.get_credentials_for_identity(IdentityId=identity, Logins=signed_in["logins"])["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    sts = _client(tobira, "sts", key=creds["AccessKeyId"], secret=creds["SecretKey"], token=creds["SessionToken"])
    who = sts.get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role['RoleName']}/CognitoIdentityCredentials"
    assert ci.describe_identity(IdentityId=identity)["Logins"] == [signed_in["provider"]]


def test_classic_flow_through_assume_role_with_web_identity(tobira, signed_in):
    ci, pool, role = _identity_pool(tobira, signed_in, classic=True)
    identity = ci.get_id(IdentityPoolId=pool["IdentityPoolId"], Logins=signed_in["logins"])["IdentityId"]
    token = ci.get_open_id_token(IdentityId=identity, Logins=signed_in["logins"])["Token"]
    sts = _client(tobira, "sts")
    out = sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="classic", WebIdentityToken=token)
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role['RoleName']}/classic"
    assert out["SubjectFromWebIdentityToken"] == identity
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="xx", WebIdentityToken="not-a-token-at-all")
    assert e.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_classic_flow_must_be_enabled(tobira, signed_in):
    ci, pool, _ = _identity_pool(tobira, signed_in, classic=False)
    identity = ci.get_id(IdentityPoolId=pool["IdentityPoolId"], Logins=signed_in["logins"])["IdentityId"]
    with pytest.raises(ClientError) as e:
        ci.get_open_id_token(IdentityId=identity, Logins=signed_in["logins"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"


def test_iam_errors_come_back_as_query_protocol_errors(tobira):
    iam = _client(tobira, "iam")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="no-such-role-here")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName="bad", PolicyDocument="[1,2")
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    policy = iam.create_policy(PolicyName=f"p-{uuid.uuid4().hex[:8]}", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))["Policy"]
    assert policy["DefaultVersionId"] == "v1"
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 0


def test_developer_authenticated_identities(tobira):
    ci = _client(tobira, "cognito-identity")
    pool = ci.create_identity_pool(IdentityPoolName="dev", AllowUnauthenticatedIdentities=False, DeveloperProviderName="login.example.app")
    pid = pool["IdentityPoolId"]
    first = ci.get_open_id_token_for_developer_identity(IdentityPoolId=pid, Logins={"login.example.app": "user-42"})
    again = ci.get_open_id_token_for_developer_identity(IdentityPoolId=pid, Logins={"login.example.app": "user-42"})
    assert first["IdentityId"] == again["IdentityId"], "the same developer user, the same identity"
    found = ci.lookup_developer_identity(IdentityPoolId=pid, DeveloperUserIdentifier="user-42", MaxResults=10)
    assert found["IdentityId"] == first["IdentityId"]
    assert ci.lookup_developer_identity(IdentityPoolId=pid, IdentityId=first["IdentityId"], MaxResults=10)["DeveloperUserIdentifierList"] == ["user-42"]
    iam = _client(tobira, "iam")
    role = iam.create_role(RoleName=f"dev-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=TRUST(pid))["Role"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": role["Arn"]})
    creds = ci.get_credentials_for_identity(IdentityId=first["IdentityId"], Logins={"cognito-identity.amazonaws.com": first["Token"]})["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as e:
        ci.get_open_id_token_for_developer_identity(IdentityPoolId=pid, Logins={"someone.else": "x"})
    assert e.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_assume_role_for_a_principal_the_trust_policy_names(tobira):
    iam = _client(tobira, "iam")
    trusting = iam.create_role(RoleName=f"ar-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))["Role"]
    other = iam.create_role(RoleName=f"ar-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]}))["Role"]
    sts = _client(tobira, "sts")
    out = sts.assume_role(RoleArn=trusting["Arn"], RoleSessionName="ci")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{trusting['RoleName']}/ci"
    c = out["Credentials"]
    who = _client(tobira, "sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]).get_caller_identity()
    assert who["Arn"] == out["AssumedRoleUser"]["Arn"]
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=other["Arn"], RoleSessionName="ci")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_iam_roles_and_policies_round_trip(tobira):
    iam = _client(tobira, "iam")
    name = f"rt-{uuid.uuid4().hex[:8]}"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}]}
    iam.create_role(RoleName=name, Path="/app/", AssumeRolePolicyDocument=json.dumps(doc), Description="round trip")
    role = iam.get_role(RoleName=name)["Role"]
    assert role["Arn"] == f"arn:aws:iam::123456789012:role/app/{name}"
    assert role["AssumeRolePolicyDocument"] == doc, "botocore decodes the URL-encoded document"
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    doc2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}]}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc2))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == doc2
    pdoc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    policy = iam.create_policy(PolicyName=f"pol-{name}", PolicyDocument=json.dumps(pdoc))["Policy"]
    assert any(p["Arn"] == policy["Arn"] for p in iam.list_policies()["Policies"])
    assert iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"]["Document"] == pdoc
    iam.attach_role_policy(RoleName=name, PolicyArn=policy["Arn"])
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [{"PolicyName": f"pol-{name}", "PolicyArn": policy["Arn"]}]
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert e.value.response["Error"]["Code"] == "DeleteConflict"
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(pdoc))
    assert iam.get_role_policy(RoleName=name, PolicyName="inline")["PolicyDocument"] == pdoc
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    iam.detach_role_policy(RoleName=name, PolicyArn=policy["Arn"])
    iam.delete_policy(PolicyArn=policy["Arn"])
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"


def test_identity_pool_lifecycle_and_unlink(tobira, signed_in):
    ci = _client(tobira, "cognito-identity")
    pool = ci.create_identity_pool(IdentityPoolName="life", AllowUnauthenticatedIdentities=True,
                                   CognitoIdentityProviders=[{"ProviderName": signed_in["provider"], "ClientId": signed_in["client_id"]}])
    pid = pool["IdentityPoolId"]
    # The PostgreSQL database outlives a run, so walk every page rather than the first.
    listed = [p for page in ci.get_paginator("list_identity_pools").paginate(MaxResults=60) for p in page["IdentityPools"]]
    assert {"IdentityPoolId": pid, "IdentityPoolName": "life"} in listed
    assert all(p["IdentityPoolId"].startswith("us-east-1:") for p in listed), "only this region's pools"

    updated = ci.update_identity_pool(IdentityPoolId=pid, IdentityPoolName="renamed", AllowUnauthenticatedIdentities=False,
                                      CognitoIdentityProviders=pool["CognitoIdentityProviders"])
    assert updated["IdentityPoolName"] == "renamed"
    assert ci.describe_identity_pool(IdentityPoolId=pid)["AllowUnauthenticatedIdentities"] is False
    identity = ci.get_id(IdentityPoolId=pid, Logins=signed_in["logins"])["IdentityId"]
    ci.unlink_identity(IdentityId=identity, Logins=signed_in["logins"], LoginsToRemove=[signed_in["provider"]])
    assert ci.describe_identity(IdentityId=identity)["Logins"] == []
    fresh = ci.get_id(IdentityPoolId=pid, Logins=signed_in["logins"])["IdentityId"]
    assert fresh != identity, "once unlinked, the login makes a new identity"
    out = ci.delete_identities(IdentityIdsToDelete=[identity])
    assert out["UnprocessedIdentityIds"] == []
    with pytest.raises(ClientError) as e:
        ci.describe_identity(IdentityId=identity)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    ci.delete_identity_pool(IdentityPoolId=pid)
    with pytest.raises(ClientError) as e:
        ci.describe_identity_pool(IdentityPoolId=pid)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_guest_identity_signing_in_keeps_its_id_and_a_known_login_wins(tobira, signed_in):
    ci = _client(tobira, "cognito-identity")
    pid = ci.create_identity_pool(IdentityPoolName="guests", AllowUnauthenticatedIdentities=True,
                                  CognitoIdentityProviders=[{"ProviderName": signed_in["provider"], "ClientId": signed_in["client_id"]}])["IdentityPoolId"]
    iam = _client(tobira, "iam")
    role = iam.create_role(RoleName=f"guest-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                                                "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                                                "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": pid}}}]}))["Role"]
    ci.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": role["Arn"], "unauthenticated": role["Arn"]})
    guest = ci.get_id(IdentityPoolId=pid)["IdentityId"]
    assert ci.describe_identity(IdentityId=guest)["Logins"] == []
    out = ci.get_credentials_for_identity(IdentityId=guest, Logins=signed_in["logins"])
    assert out["IdentityId"] == guest, "the login joins the guest identity"
    assert ci.describe_identity(IdentityId=guest)["Logins"] == [signed_in["provider"]]
    assert ci.get_id(IdentityPoolId=pid, Logins=signed_in["logins"])["IdentityId"] == guest
    other_guest = ci.get_id(IdentityPoolId=pid)["IdentityId"]
    again = ci.get_credentials_for_identity(IdentityId=other_guest, Logins=signed_in["logins"])
    assert again["IdentityId"] == guest, "a login already linked answers with its own identity"
    assert ci.describe_identity(IdentityId=other_guest)["Logins"] == []
