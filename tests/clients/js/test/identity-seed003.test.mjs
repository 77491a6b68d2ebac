// Identity pools, IAM and STS: seed 003's program unchanged but for its endpoint, and the
// refusals around it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import * as ci from '@aws-sdk/client-cognito-identity';
import * as iam from '@aws-sdk/client-iam';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { useTobira, advanceClock } from '../harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const t = useTobira();
const CREDS = { accessKeyId: 'AKIDTOBIRATEST', secretAccessKey: 'tobira-test-secret' };
const clients = (region = 'us-east-1') => ({
  idp: new idp.CognitoIdentityProviderClient({ endpoint: t.endpoint, region, credentials: CREDS }),
  ci: new ci.CognitoIdentityClient({ endpoint: t.endpoint, region, credentials: CREDS }),
  iam: new iam.IAMClient({ endpoint: t.endpoint, region, credentials: CREDS }),
});

async function seed003(noSleep) {
  const { stdout } = await run(process.execPath, [join(HERE, '..', 'seed003', 'run.js')], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: t.endpoint, AWS_REGION: 'ap-northeast-1', AWS_ACCESS_KEY_ID: 'AKIDSEED', AWS_SECRET_ACCESS_KEY: 'seed-secret',
      EmailAddress: `seed-${Math.random().toString(36).slice(2)}@example.com`, password: 'Passw0rd!x', NO_SLEEP: noSleep ? '1' : '0',
    },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

/**
 * IAM names are account-wide: on a PostgreSQL database shared with earlier runs the seed's fixed
 * role and policy may exist already, so they are removed first (AWS would refuse them too).
 */
async function removeSeedIam() {
  const c = clients();
  const policyArn = 'arn:aws:iam::123456789012:policy/service-role/userpool-authorized-policy';
  const quiet = (p) => p.catch((e) => { if (e.name !== 'NoSuchEntityException') throw e; });
  await quiet(c.iam.send(new iam.DetachRolePolicyCommand({ RoleName: 'userpool-authorized-role', PolicyArn: policyArn })));
  await quiet(c.iam.send(new iam.DeleteRoleCommand({ RoleName: 'userpool-authorized-role' })));
  await quiet(c.iam.send(new iam.DeletePolicyCommand({ PolicyArn: policyArn })));
}

test('seed 003 runs unchanged and prints the assumed-role ARN (without its sleep too)', async () => {
  await removeSeedIam();
  const fast = await seed003(true);
  assert.equal(fast.Arn, 'arn:aws:sts::123456789012:assumed-role/userpool-authorized-role/CognitoIdentityCredentials');
  assert.equal(fast.Account, '123456789012');
  assert.match(fast.UserId, /^AROA[A-Z2-7]+:CognitoIdentityCredentials$/);
});

test('seed 003 with its ten-second sleep', { timeout: 60_000 }, async () => {
  // The role and policy names are taken by the first run: delete them, as one would on AWS.
  await removeSeedIam();
  const slow = await seed003(false);
  assert.equal(slow.Arn, 'arn:aws:sts::123456789012:assumed-role/userpool-authorized-role/CognitoIdentityCredentials');
});

/** A pool, a client, a confirmed user signed in, an identity pool naming the client, a role. */
async function setUp({ trustAud, allowUnauth = false, sst = false } = {}) {
  const c = clients();
  const { UserPool } = await c.idp.send(new idp.CreateUserPoolCommand({ PoolName: 'ip' }));
  const { UserPoolClient } = await c.idp.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'c', ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }));
  await c.idp.send(new idp.AdminCreateUserCommand({ UserPoolId: UserPool.Id, Username: 'u', MessageAction: 'SUPPRESS' }));
  await c.idp.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: UserPool.Id, Username: 'u', Password: 'Passw0rd!x', Permanent: true }));
  const auth = await c.idp.send(new idp.InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'u', PASSWORD: 'Passw0rd!x' } }));
  const provider = `cognito-idp.us-east-1.amazonaws.com/${UserPool.Id}`;
  const pool = await c.ci.send(new ci.CreateIdentityPoolCommand({
    IdentityPoolName: 'ip', AllowUnauthenticatedIdentities: allowUnauth,
    CognitoIdentityProviders: [{ ProviderName: provider, ClientId: UserPoolClient.ClientId, ServerSideTokenCheck: sst }],
  }));
  const roleName = `r-${Math.random().toString(36).slice(2)}`;
  const { Role } = await c.iam.send(new iam.CreateRoleCommand({
    RoleName: roleName,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'cognito-identity.amazonaws.com' },
      Condition: { StringEquals: { 'cognito-identity.amazonaws.com:aud': trustAud ?? pool.IdentityPoolId } },
    }] }),
  }));
  const logins = { [provider]: auth.AuthenticationResult.IdToken };
  return { c, pool, provider, logins, auth, role: Role, userPoolId: UserPool.Id, clientId: UserPoolClient.ClientId };
}

async function expectError(promise, name, message) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('the same login gives the same identity; credentials work until they expire', async () => {
  const s = await setUp();
  await s.c.ci.send(new ci.SetIdentityPoolRolesCommand({ IdentityPoolId: s.pool.IdentityPoolId, Roles: { authenticated: s.role.Arn } }));
  const a = await s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: s.logins }));
  const b = await s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: s.logins }));
  assert.equal(a.IdentityId, b.IdentityId);
  assert.match(a.IdentityId, /^us-east-1:[0-9a-f-]{36}$/);
  const creds = await s.c.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId: a.IdentityId, Logins: s.logins }));
  assert.match(creds.Credentials.AccessKeyId, /^ASIA/);
  assert.ok(creds.Credentials.Expiration instanceof Date);
  const sts = new STSClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: { accessKeyId: creds.Credentials.AccessKeyId, secretAccessKey: creds.Credentials.SecretKey, sessionToken: creds.Credentials.SessionToken } });
  const who = await sts.send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, `arn:aws:sts::123456789012:assumed-role/${s.role.RoleName}/CognitoIdentityCredentials`);
  const forged = new STSClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: { accessKeyId: creds.Credentials.AccessKeyId, secretAccessKey: 'wrong', sessionToken: creds.Credentials.SessionToken } });
  await expectError(forged.send(new GetCallerIdentityCommand({})), 'SignatureDoesNotMatch');
  await advanceClock(t.endpoint, 3601);
  await expectError(sts.send(new GetCallerIdentityCommand({})), 'ExpiredToken');
});

test('refusals: no role, a trust policy for another pool, unauthenticated access, a token from another pool', async () => {
  const s = await setUp({ trustAud: 'us-east-1:00000000-0000-4000-8000-000000000000' });
  const { IdentityId } = await s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: s.logins }));
  await expectError(s.c.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId, Logins: s.logins })), 'InvalidIdentityPoolConfigurationException');
  await s.c.ci.send(new ci.SetIdentityPoolRolesCommand({ IdentityPoolId: s.pool.IdentityPoolId, Roles: { authenticated: s.role.Arn } }));
  await expectError(s.c.ci.send(new ci.GetCredentialsForIdentityCommand({ IdentityId, Logins: s.logins })), 'InvalidIdentityPoolConfigurationException');
  await expectError(s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId })), 'NotAuthorizedException', /Unauthenticated access is not supported/);
  const other = await setUp();
  await expectError(s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: { [s.provider]: other.auth.AuthenticationResult.IdToken } })), 'NotAuthorizedException');
  await expectError(s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: 'us-east-1:11111111-1111-4111-8111-111111111111', Logins: s.logins })), 'ResourceNotFoundException');
});

test('a signed-out token is refused with ServerSideTokenCheck; an expired one always', async () => {
  const s = await setUp({ sst: true });
  await s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: s.logins }));
  await s.c.idp.send(new idp.GlobalSignOutCommand({ AccessToken: s.auth.AuthenticationResult.AccessToken }));
  await expectError(s.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: s.pool.IdentityPoolId, Logins: s.logins })), 'NotAuthorizedException');
  const e = await setUp();
  await advanceClock(t.endpoint, 3700);
  await expectError(e.c.ci.send(new ci.GetIdCommand({ IdentityPoolId: e.pool.IdentityPoolId, Logins: e.logins })), 'NotAuthorizedException', /expired/);
});

test('IAM: validation and errors as AWS gives them', async () => {
  const c = clients();
  await expectError(c.iam.send(new iam.CreateRoleCommand({ RoleName: 'bad-doc', AssumeRolePolicyDocument: '{not json' })), 'MalformedPolicyDocumentException');
  await expectError(c.iam.send(new iam.GetRoleCommand({ RoleName: 'no-such-role' })), 'NoSuchEntityException');
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'cognito-identity.amazonaws.com' } }] });
  const twice = `twice-${Math.random().toString(36).slice(2)}`;
  await c.iam.send(new iam.CreateRoleCommand({ RoleName: twice, AssumeRolePolicyDocument: doc }));
  await expectError(c.iam.send(new iam.CreateRoleCommand({ RoleName: twice, AssumeRolePolicyDocument: doc })), 'EntityAlreadyExistsException');
  const got = await c.iam.send(new iam.GetRoleCommand({ RoleName: twice }));
  assert.equal(decodeURIComponent(got.Role.AssumeRolePolicyDocument), doc);
  assert.ok(got.Role.CreateDate instanceof Date);
});
