"""2. Pool and client administration: update semantics, pagination, deletion, custom attributes."""

from helpers import attrs, body, expect_error, uniq

DEFAULT_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}


def _policy(pool):
    return {k: v for k, v in pool["Policies"]["PasswordPolicy"].items() if k != "PasswordHistorySize"}


def test_update_user_pool_resets_omitted_settings(idp, pools):
    custom_policy = {
        "MinimumLength": 12,
        "RequireUppercase": False,
        "RequireLowercase": True,
        "RequireNumbers": False,
        "RequireSymbols": False,
        "TemporaryPasswordValidityDays": 3,
    }
    pool = pools.create(
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": custom_policy},
        Schema=[{"Name": "plan", "AttributeDataType": "String", "Mutable": True}],
    )
    pool_id = pool["Id"]
    d = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert _policy(d) == custom_policy
    assert d["AutoVerifiedAttributes"] == ["email"]

    resp = idp.update_user_pool(UserPoolId=pool_id, MfaConfiguration="OFF")
    assert body(resp) == {}

    d = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert _policy(d) == DEFAULT_POLICY, "UpdateUserPool resets an omitted password policy to the defaults"
    assert not d.get("AutoVerifiedAttributes"), \
        f"UpdateUserPool resets omitted AutoVerifiedAttributes, got {d.get('AutoVerifiedAttributes')!r}"
    assert d["MfaConfiguration"] == "OFF"
    # Things UpdateUserPool cannot change stay as they were.
    assert d["Id"] == pool_id and d["Name"] == pool["Name"]
    assert "custom:plan" in {a["Name"] for a in d["SchemaAttributes"]}
    assert d["LastModifiedDate"] >= pool["LastModifiedDate"]

    # And a setting given in the update is applied.
    idp.update_user_pool(UserPoolId=pool_id, AutoVerifiedAttributes=["email"],
                         Policies={"PasswordPolicy": {**DEFAULT_POLICY, "MinimumLength": 10}})
    d = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert d["AutoVerifiedAttributes"] == ["email"]
    assert _policy(d)["MinimumLength"] == 10


def test_update_user_pool_client_replaces_whole_client(idp, pools):
    pool_id = pools.create()["Id"]
    client = pools.client(
        pool_id,
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        CallbackURLs=["https://example.com/callback"],
        SupportedIdentityProviders=["COGNITO"],
        AccessTokenValidity=2,
        TokenValidityUnits={"AccessToken": "hours"},
        ReadAttributes=["email"],
        PreventUserExistenceErrors="ENABLED",
    )
    cid = client["ClientId"]
    d = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=cid)["UserPoolClient"]
    assert d["CallbackURLs"] == ["https://example.com/callback"]
    assert d["AccessTokenValidity"] == 2 and d["TokenValidityUnits"] == {"AccessToken": "hours"}
    assert d["PreventUserExistenceErrors"] == "ENABLED"

    renamed = uniq("renamed-")
    resp = idp.update_user_pool_client(UserPoolId=pool_id, ClientId=cid, ClientName=renamed,
                                       SupportedIdentityProviders=["COGNITO"])
    assert resp["UserPoolClient"]["ClientId"] == cid
    d = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=cid)["UserPoolClient"]
    assert d["ClientName"] == renamed
    assert d["SupportedIdentityProviders"] == ["COGNITO"]
    assert d["ClientSecret"] == client["ClientSecret"], "the secret survives an update"
    for dropped in ("CallbackURLs", "ExplicitAuthFlows", "AccessTokenValidity", "ReadAttributes"):
        assert dropped not in d, f"{dropped} should be dropped by UpdateUserPoolClient, got {d.get(dropped)!r}"
    assert d.get("PreventUserExistenceErrors") in (None, "LEGACY"), "an omitted setting returns to its default"
    assert d["TokenValidityUnits"] == {}
    assert d["RefreshTokenValidity"] == 30

    idp.update_user_pool_client(UserPoolId=pool_id, ClientId=cid, ClientName=renamed,
                                ExplicitAuthFlows=["USER_PASSWORD_AUTH"])
    d = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=cid)["UserPoolClient"]
    assert d["ExplicitAuthFlows"] == ["USER_PASSWORD_AUTH"], "legacy flow names are stored verbatim"
    assert "SupportedIdentityProviders" not in d


def test_list_user_pools_pagination(idp, pools):
    mine = {pools.create()["Id"] for _ in range(3)}

    first = idp.list_user_pools(MaxResults=1)
    assert len(first["UserPools"]) == 1
    assert first.get("NextToken"), "more pools exist, so a NextToken is expected"
    second = idp.list_user_pools(MaxResults=1, NextToken=first["NextToken"])
    assert len(second["UserPools"]) == 1
    assert second["UserPools"][0]["Id"] != first["UserPools"][0]["Id"]
    entry = first["UserPools"][0]
    assert {"Id", "Name", "LambdaConfig", "LastModifiedDate", "CreationDate"} <= set(entry), sorted(entry)

    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 60}
        if token:
            kwargs["NextToken"] = token
        page = idp.list_user_pools(**kwargs)
        pages += 1
        assert len(page["UserPools"]) <= 60
        seen += [p["Id"] for p in page["UserPools"]]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 1000, "pagination does not end"
    assert len(seen) == len(set(seen)), "a pool was listed twice"
    assert mine <= set(seen)

    if len(seen) <= 200:  # page through one at a time as well
        ones, token = [], None
        for _ in range(len(seen) + 50):
            kwargs = {"MaxResults": 1}
            if token:
                kwargs["NextToken"] = token
            page = idp.list_user_pools(**kwargs)
            assert len(page["UserPools"]) <= 1
            ones += [p["Id"] for p in page["UserPools"]]
            token = page.get("NextToken")
            if not token:
                break
        assert token is None, "MaxResults=1 pagination does not end"
        assert len(ones) == len(set(ones))
        assert mine <= set(ones)


def test_delete_user_pool(idp, pools):
    pool_id = pools.create()["Id"]
    assert body(idp.delete_user_pool(UserPoolId=pool_id)) == {}
    with expect_error("ResourceNotFoundException") as info:
        idp.describe_user_pool(UserPoolId=pool_id)
    assert f"User pool {pool_id} does not exist" in info.value.response["Error"]["Message"]
    ids = []
    token = None
    while True:
        page = idp.list_user_pools(MaxResults=60, **({"NextToken": token} if token else {}))
        ids += [p["Id"] for p in page["UserPools"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pool_id not in ids
    with expect_error("ResourceNotFoundException"):
        idp.delete_user_pool(UserPoolId=pool_id)


def test_add_custom_attributes(idp, pools):
    pool_id = pools.create()["Id"]
    resp = idp.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[
        {"Name": "tier", "AttributeDataType": "Number", "Mutable": True,
         "NumberAttributeConstraints": {"MinValue": "0", "MaxValue": "10"}},
        {"Name": "nickname2", "AttributeDataType": "String", "Mutable": False},
    ])
    assert body(resp) == {}
    schema = {a["Name"]: a for a in idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["SchemaAttributes"]}
    assert schema["custom:tier"]["AttributeDataType"] == "Number"
    assert schema["custom:tier"]["NumberAttributeConstraints"] == {"MinValue": "0", "MaxValue": "10"}
    assert schema["custom:tier"]["Mutable"] is True
    assert schema["custom:nickname2"]["AttributeDataType"] == "String"
    assert schema["custom:nickname2"]["Mutable"] is False

    user = idp.admin_create_user(UserPoolId=pool_id, Username=uniq("ca"), MessageAction="SUPPRESS",
                                 UserAttributes=[{"Name": "custom:tier", "Value": "5"},
                                                 {"Name": "custom:nickname2", "Value": "fixed"}])["User"]
    a = attrs(user["Attributes"])
    assert a["custom:tier"] == "5" and a["custom:nickname2"] == "fixed"

    with expect_error("InvalidParameterException"):
        idp.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[
            {"Name": "tier", "AttributeDataType": "String"}])
