// Which role an identity gets: role mappings (Token from cognito:preferred_role, Rules on
// claims, AmbiguousRoleResolution), CustomRoleArn, and guests with the unauthenticated role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import * as ci from '@aws-sdk/client-cognito-identity';
import * as iam from '@aws-sdk/client-iam';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { useTobira, decodeJwt } from '../harness.mjs';

const t = useTobira();
const CREDS = { accessKeyId: 'AKIDTOBIRATEST', secretAccessKey: 'tobira-test-secret' };
const c = () => ({
  idp: new idp.CognitoIdentityProviderClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS }),
  ci: new ci.CognitoIdentityClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS }),
  iam: new iam.IAMClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS }),
});

async function role(k, poolId, amr) {
  const name = `role-${Math.random().toString(36).slice(2)}`;
  const cond = { StringEquals: { 'cognito-identity.amazonaws.com:aud': poolId } };
  if (amr) cond['ForAnyValue:StringLike'] = { 'cognito-identity.amazonaws.com:amr': amr };
  const { Role } = await k.iam.send(new iam.CreateRoleCommand({
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'cognito-identity.amazonaws.com' }, Condition: cond }] }),
  }));
  return Role;
}

async function whoAmI(creds) {
  const sts = new STSClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretKey, sessionToken: creds.SessionToken } });
  return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
}

test('Token role mapping picks cognito:preferred_role; CustomRoleArn picks among cognito:roles; Deny on ambiguity', async () => {
  const k = c();
  const { UserPool } = await k.idp.send(new idp.CreateUserPoolCommand({ PoolName: 'rm' }));
  const { UserPoolClient } = await k.idp.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'c', ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }));
  const provider = `cognito-idp.us-east-1.amazonaws.com/${UserPool.Id}`;
  const pool = await k.ci.send(new ci.CreateIdentityPoolCommand({ IdentityPoolName: 'rm', AllowUnauthenticatedIdentities: false, CognitoIdentityProviders: [{ ProviderName: provider, ClientId: UserPoolClient.ClientId }] }));
  const [admins, editors, fallback] = [await role(k, pool.IdentityPoolId), await role(k, pool.IdentityPoolId), await role(k, pool.IdentityPoolId)];
  await k.idp.send(new idp.CreateGroupCommand({ UserPoolId: UserPool.Id, GroupName: 'admins', RoleArn: admins.Arn, Precedence: 1 }));
  await k.idp.send(new idp.CreateGroupCommand({ UserPoolId: UserPool.Id, GroupName: 'editors', RoleArn: editors.Arn, Precedence: 2 }));
  for (const u of ['grouped', 'plain']) {
    await k.idp.send(new idp.AdminCreateUserCommand({ UserPoolId: UserPool.Id, Username: u, MessageAction: 'SUPPRESS' }));
    await k.idp.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: UserPool.Id, Username: u, Password: 'Passw0rd!x', Permanent: true }));
  }
  await k.idp.send(new idp.AdminAddUserToGroupCommand({ UserPoolId: UserPool.Id, Username: 'grouped', GroupName: 'admins' }));
  await k.idp.send(new idp.AdminAddUserToGroupCommand({ UserPoolId: UserPool.Id, Username: 'grouped', GroupName: 'editors' }));
  await k.ci.send(new ci.SetIdentityPoolRolesCommand({
    IdentityPoolId: pool.IdentityPoolId, Roles: { authenticated: fallback.Arn },
    RoleMappings: { [`${provider}:${UserPoolClient.ClientId}`]: { Type: 'Token', AmbiguousRoleResolution: 'AuthenticatedRole' } },
  }));
  const credsFor = async (u, custom) => {
    const idToken = (await k.idp.send(new idp.InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: u, PASSWORD: 'Passw0rd!x' } }))).AuthenticationResult.IdToken;
    const Logins = { [provider]: idToken };
    const { IdentityId } = await k.ci.send(new ci.GetIdCommand({ IdentityPoolId: pool.IdentityPoolId, Logins }));
    return { idToken, res: k.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId, Logins, CustomRoleArn: custom })) };
  };
  const grouped = await credsFor('grouped');
  assert.equal(decodeJwt(grouped.idToken).payload['cognito:preferred_role'], admins.Arn);
  assert.equal(await whoAmI((await grouped.res).Credentials), `arn:aws:sts::123456789012:assumed-role/${admins.RoleName}/CognitoIdentityCredentials`);
  const custom = await credsFor('grouped', editors.Arn);
  assert.equal(await whoAmI((await custom.res).Credentials), `arn:aws:sts::123456789012:assumed-role/${editors.RoleName}/CognitoIdentityCredentials`);
  const plain = await credsFor('plain');
  assert.equal(await whoAmI((await plain.res).Credentials), `arn:aws:sts::123456789012:assumed-role/${fallback.RoleName}/CognitoIdentityCredentials`, 'no preferred role: the authenticated role');
  const notMine = await credsFor('plain', admins.Arn);
  await assert.rejects(notMine.res, { name: 'NotAuthorizedException' });

  await k.ci.send(new ci.SetIdentityPoolRolesCommand({
    IdentityPoolId: pool.IdentityPoolId, Roles: { authenticated: fallback.Arn },
    RoleMappings: { [`${provider}:${UserPoolClient.ClientId}`]: { Type: 'Token', AmbiguousRoleResolution: 'Deny' } },
  }));
  await assert.rejects((await credsFor('plain')).res, { name: 'InvalidIdentityPoolConfigurationException' });

  await k.ci.send(new ci.SetIdentityPoolRolesCommand({
    IdentityPoolId: pool.IdentityPoolId, Roles: { authenticated: fallback.Arn },
    RoleMappings: { [`${provider}:${UserPoolClient.ClientId}`]: { Type: 'Rules', AmbiguousRoleResolution: 'AuthenticatedRole', RulesConfiguration: { Rules: [
      { Claim: 'cognito:username', MatchType: 'Equals', Value: 'plain', RoleARN: editors.Arn },
    ] } } },
  }));
  assert.equal(await whoAmI((await (await credsFor('plain')).res).Credentials), `arn:aws:sts::123456789012:assumed-role/${editors.RoleName}/CognitoIdentityCredentials`);
});

test('guests get the unauthenticated role where the pool allows them; the OpenID JWKS is served', async () => {
  const k = c();
  const pool = await k.ci.send(new ci.CreateIdentityPoolCommand({ IdentityPoolName: 'guests', AllowUnauthenticatedIdentities: true, AllowClassicFlow: true }));
  const guestRole = await role(k, pool.IdentityPoolId, 'unauthenticated');
  await k.ci.send(new ci.SetIdentityPoolRolesCommand({ IdentityPoolId: pool.IdentityPoolId, Roles: { unauthenticated: guestRole.Arn } }));
  const { IdentityId } = await k.ci.send(new ci.GetIdCommand({ IdentityPoolId: pool.IdentityPoolId }));
  const { Credentials } = await k.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId }));
  assert.equal(await whoAmI(Credentials), `arn:aws:sts::123456789012:assumed-role/${guestRole.RoleName}/CognitoIdentityCredentials`);
  const { Token } = await k.ci.send(new ci.GetOpenIdTokenCommand({ IdentityId }));
  const { header, payload } = decodeJwt(Token);
  assert.equal(payload.iss, 'https://cognito-identity.amazonaws.com');
  assert.equal(payload.aud, pool.IdentityPoolId);
  assert.equal(payload.sub, IdentityId);
  assert.deepEqual(payload.amr, ['unauthenticated']);
  const jwks = await (await fetch(`${t.endpoint}/.well-known/jwks_uri`)).json();
  assert.ok(jwks.keys.some((key) => key.kid === header.kid && key.kty === 'RSA'));
  const { Identities } = await k.ci.send(new ci.ListIdentitiesCommand({ IdentityPoolId: pool.IdentityPoolId, MaxResults: 10 }));
  assert.deepEqual(Identities.map((i) => i.IdentityId), [IdentityId]);
});
