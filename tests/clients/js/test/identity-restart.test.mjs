// Identity pools, identities and IAM roles survive a restart (SQLite file or PostgreSQL), and the
// Logins key may be the ID token's own issuer (what Amplify sends) as well as the AWS form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import * as ci from '@aws-sdk/client-cognito-identity';
import * as iam from '@aws-sdk/client-iam';
import { startTobira, decodeJwt } from '../harness.mjs';

const CREDS = { accessKeyId: 'AKIDTOBIRATEST', secretAccessKey: 'tobira-test-secret' };

test('identity pools, identities and roles survive a restart; the issuer form of the Logins key works', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tobira-restart-'));
  try {
    let server = await startTobira({ dataDir });
    const mk = (ep) => ({
      idp: new idp.CognitoIdentityProviderClient({ endpoint: ep, region: 'us-east-1', credentials: CREDS }),
      ci: new ci.CognitoIdentityClient({ endpoint: ep, region: 'us-east-1', credentials: CREDS }),
      iam: new iam.IAMClient({ endpoint: ep, region: 'us-east-1', credentials: CREDS }),
    });
    let c = mk(server.endpoint);
    const { UserPool } = await c.idp.send(new idp.CreateUserPoolCommand({ PoolName: 'restart' }));
    const { UserPoolClient } = await c.idp.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'c', ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }));
    await c.idp.send(new idp.AdminCreateUserCommand({ UserPoolId: UserPool.Id, Username: 'r', MessageAction: 'SUPPRESS' }));
    await c.idp.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: UserPool.Id, Username: 'r', Password: 'Passw0rd!x', Permanent: true }));
    const pool = await c.ci.send(new ci.CreateIdentityPoolCommand({
      IdentityPoolName: 'restart', AllowUnauthenticatedIdentities: false,
      CognitoIdentityProviders: [{ ProviderName: `cognito-idp.us-east-1.amazonaws.com/${UserPool.Id}`, ClientId: UserPoolClient.ClientId }],
    }));
    const roleName = `restart-${Math.random().toString(36).slice(2)}`;
    const { Role } = await c.iam.send(new iam.CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'cognito-identity.amazonaws.com' }, Condition: { StringEquals: { 'cognito-identity.amazonaws.com:aud': pool.IdentityPoolId } } }] }),
    }));
    await c.ci.send(new ci.SetIdentityPoolRolesCommand({ IdentityPoolId: pool.IdentityPoolId, Roles: { authenticated: Role.Arn } }));
    const signIn = async () => (await c.idp.send(new idp.InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'r', PASSWORD: 'Passw0rd!x' } }))).AuthenticationResult.IdToken;
    const before = await c.ci.send(new ci.GetIdCommand({ IdentityPoolId: pool.IdentityPoolId, Logins: { [`cognito-idp.us-east-1.amazonaws.com/${UserPool.Id}`]: await signIn() } }));

    await server.stop();
    server = await startTobira({ dataDir });
    c = mk(server.endpoint);
    const idToken = await signIn();
    // Amplify builds the key from the token's issuer, scheme stripped.
    const issuerKey = decodeJwt(idToken).payload.iss.replace(/^https?:\/\//, '');
    const after = await c.ci.send(new ci.GetIdCommand({ IdentityPoolId: pool.IdentityPoolId, Logins: { [issuerKey]: idToken } }));
    assert.equal(after.IdentityId, before.IdentityId, 'the same login, the same identity, after a restart and by either key form');
    const described = await c.ci.send(new ci.DescribeIdentityPoolCommand({ IdentityPoolId: pool.IdentityPoolId }));
    assert.equal(described.IdentityPoolName, 'restart');
    const roles = await c.ci.send(new ci.GetIdentityPoolRolesCommand({ IdentityPoolId: pool.IdentityPoolId }));
    assert.deepEqual(roles.Roles, { authenticated: Role.Arn });
    const creds = await c.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId: after.IdentityId, Logins: { [issuerKey]: idToken } }));
    assert.match(creds.Credentials.AccessKeyId, /^ASIA/);
    assert.equal((await c.iam.send(new iam.GetRoleCommand({ RoleName: roleName }))).Role.Arn, Role.Arn);
    await server.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
