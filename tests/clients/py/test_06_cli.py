"""6. The AWS CLI v1 (`python -m awscli cognito-idp … --endpoint-url …`)."""

import pytest

from helpers import (CLIENT_ID_RE, POOL_ID_RE, FlowState, attrs, claims, uniq)

PASSWORD = "Cli-Pass1!"  # no ',' or '=' so it fits the --auth-parameters shorthand


@pytest.fixture(scope="module")
def cli(pools):
    return FlowState()


def test_cli_create_user_pool(aws, idp, pools, cli):
    name = uniq("cli-pool-")
    out = aws("create-user-pool", "--pool-name", name).json
    pool = out["UserPool"]
    pools.created.append(pool["Id"])
    cli.pool_id = pool["Id"]
    assert POOL_ID_RE.match(pool["Id"])
    assert pool["Name"] == name
    assert pool["MfaConfiguration"] == "OFF"
    assert isinstance(pool["CreationDate"], (int, float, str))
    assert idp.describe_user_pool(UserPoolId=cli.pool_id)["UserPool"]["Name"] == name
    described = aws("describe-user-pool", "--user-pool-id", cli.pool_id).json["UserPool"]
    assert described["Id"] == cli.pool_id
    assert described["Arn"].endswith(f":userpool/{cli.pool_id}")


def test_cli_create_user_pool_client(aws, cli):
    out = aws("create-user-pool-client", "--user-pool-id", cli.pool_id, "--client-name", "cli-client",
              "--explicit-auth-flows", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH").json
    client = out["UserPoolClient"]
    cli.client_id = client["ClientId"]
    assert CLIENT_ID_RE.match(client["ClientId"])
    assert client["ClientName"] == "cli-client"
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


def test_cli_admin_create_user(aws, cli):
    cli.username = uniq("cliuser")
    out = aws("admin-create-user", "--user-pool-id", cli.pool_id, "--username", cli.username,
              "--user-attributes", "Name=given_name,Value=Kaito",
              "--temporary-password", "Temp-Cli1!", "--message-action", "SUPPRESS").json
    user = out["User"]
    assert user["Username"] == cli.username
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert user["Enabled"] is True
    assert attrs(user["Attributes"])["given_name"] == "Kaito"


def test_cli_admin_set_user_password(aws, idp, cli):
    res = aws("admin-set-user-password", "--user-pool-id", cli.pool_id, "--username", cli.username,
              "--password", PASSWORD, "--permanent")
    assert res.stdout.strip() == "", "an empty response prints nothing"
    assert idp.admin_get_user(UserPoolId=cli.pool_id, Username=cli.username)["UserStatus"] == "CONFIRMED"


def test_cli_admin_initiate_auth(aws, cli):
    out = aws("admin-initiate-auth", "--user-pool-id", cli.pool_id, "--client-id", cli.client_id,
              "--auth-flow", "ADMIN_USER_PASSWORD_AUTH",
              "--auth-parameters", f"USERNAME={cli.username},PASSWORD={PASSWORD}").json
    ar = out["AuthenticationResult"]
    assert out["ChallengeParameters"] == {}
    assert ar["TokenType"] == "Bearer" and ar["ExpiresIn"] == 3600
    assert claims(ar["AccessToken"])["username"] == cli.username
    assert claims(ar["IdToken"])["aud"] == cli.client_id
    assert ar["RefreshToken"]
    me = aws("get-user", "--access-token", ar["AccessToken"]).json
    assert me["Username"] == cli.username


def test_cli_list_users_filter(aws, cli):
    out = aws("list-users", "--user-pool-id", cli.pool_id, "--filter", f'username = "{cli.username}"').json
    assert [u["Username"] for u in out["Users"]] == [cli.username]
    assert out["Users"][0]["UserStatus"] == "CONFIRMED"
    none = aws("list-users", "--user-pool-id", cli.pool_id, "--filter", 'username = "nobody-here"').json
    assert none["Users"] == []


def test_cli_list_user_pools(aws, idp, cli):
    out = aws("list-user-pools", "--max-results", "10").json
    assert 1 <= len(out["UserPools"]) <= 10
    assert all({"Id", "Name"} <= set(p) for p in out["UserPools"])
    # --max-results turns off the CLI's own paging; follow NextToken by hand until our pool shows up.
    seen = [p["Id"] for p in out["UserPools"]]
    token = out.get("NextToken")
    for _ in range(500):
        if cli.pool_id in seen or not token:
            break
        page = aws("list-user-pools", "--max-results", "10", "--next-token", token).json
        assert len(page["UserPools"]) <= 10
        seen += [p["Id"] for p in page["UserPools"]]
        token = page.get("NextToken")
    assert cli.pool_id in seen
    assert len(seen) == len(set(seen))


def test_cli_error_exit(aws, cli):
    res = aws("admin-get-user", "--user-pool-id", cli.pool_id, "--username", "no-such-user", check=False)
    assert res.returncode != 0
    assert "UserNotFoundException" in res.stderr
    assert "User does not exist." in res.stderr
    assert res.stdout.strip() == ""


def test_cli_update_user_pool_resets_omitted_settings(aws, idp, pools):
    """The seed story: `update-user-pool --lambda-config …` alone silently turned AllowAdminCreateUserOnly off."""
    pool_id = pools.create()["Id"]
    arn = "arn:aws:lambda:us-east-1:123456789012:function:post-auth"
    aws("update-user-pool", "--user-pool-id", pool_id, "--admin-create-user-config", "AllowAdminCreateUserOnly=true")
    d = aws("describe-user-pool", "--user-pool-id", pool_id).json["UserPool"]
    assert d["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True

    aws("update-user-pool", "--user-pool-id", pool_id, "--lambda-config", f"PostAuthentication={arn}")
    d = aws("describe-user-pool", "--user-pool-id", pool_id).json["UserPool"]
    assert d["LambdaConfig"] == {"PostAuthentication": arn}
    assert d["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False, "omitted settings go back to defaults"

    aws("update-user-pool", "--user-pool-id", pool_id, "--lambda-config", f"PostAuthentication={arn}",
        "--admin-create-user-config", "AllowAdminCreateUserOnly=true")
    d = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert d["LambdaConfig"] == {"PostAuthentication": arn}
    assert d["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
