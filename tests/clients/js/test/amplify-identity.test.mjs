// Amplify v6 getting AWS credentials from an identity pool, as apps do: fetchAuthSession() with
// identityPoolId configured, first as a guest (unauthenticated role), then signed in (the
// authenticated role, the same identity kept across refreshes), with only userPoolEndpoint and
// identityPoolEndpoint pointing at tobira. The credentials are then used with STS.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import * as ci from '@aws-sdk/client-cognito-identity';
import * as iam from '@aws-sdk/client-iam';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { Amplify } from 'aws-amplify';
import { signIn, signOut, fetchAuthSession } from 'aws-amplify/auth';
import { useTobira, uniq } from '../harness.mjs';
import { createEmailPool, createAppClient, adminCreateConfirmedUser, PASSWORD, randomEmail } from '../fixtures.mjs';

const CREDS = { accessKeyId: 'AKIDTOBIRATEST', secretAccessKey: 'tobira-test-secret' };

describe('Amplify v6: identity-pool credentials through fetchAuthSession', () => {
  const t = useTobira();
  const s = {};

  async function role(amr) {
    const k = new iam.IAMClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS });
    const { Role } = await k.send(new iam.CreateRoleCommand({
      RoleName: `amplify-${amr}-${uniq(4)}`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'cognito-identity.amazonaws.com' },
          Condition: {
            StringEquals: { 'cognito-identity.amazonaws.com:aud': s.identityPoolId },
            'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': amr },
          },
        }],
      }),
    }));
    return Role;
  }

  async function callerArn(credentials) {
    const sts = new STSClient({ endpoint: t.endpoint, region: 'us-east-1', credentials });
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
  }

  before(async () => {
    s.poolId = await createEmailPool(t.client);
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    const k = new ci.CognitoIdentityClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS });
    const pool = await k.send(new ci.CreateIdentityPoolCommand({
      IdentityPoolName: `amplify_${uniq(3)}`, AllowUnauthenticatedIdentities: true,
      CognitoIdentityProviders: [{ ProviderName: `cognito-idp.us-east-1.amazonaws.com/${s.poolId}`, ClientId: s.clientId }],
    }));
    s.identityPoolId = pool.IdentityPoolId;
    s.authRole = await role('authenticated');
    s.guestRole = await role('unauthenticated');
    await k.send(new ci.SetIdentityPoolRolesCommand({
      IdentityPoolId: s.identityPoolId, Roles: { authenticated: s.authRole.Arn, unauthenticated: s.guestRole.Arn },
    }));
    s.email = randomEmail('amplify-id');
    await adminCreateConfirmedUser(t.client, s.poolId, s.email);
    Amplify.configure({
      Auth: {
        Cognito: {
          userPoolId: s.poolId, userPoolClientId: s.clientId, userPoolEndpoint: t.endpoint,
          identityPoolId: s.identityPoolId, identityPoolEndpoint: t.endpoint, allowGuestAccess: true,
        },
      },
    });
  });

  it('a guest gets the unauthenticated role', async () => {
    const session = await fetchAuthSession();
    assert.equal(session.tokens, undefined);
    assert.ok(session.identityId?.startsWith('us-east-1:'), JSON.stringify(session.identityId));
    assert.match(session.credentials.accessKeyId, /^ASIA/);
    assert.equal(await callerArn(session.credentials), `arn:aws:sts::123456789012:assumed-role/${s.guestRole.RoleName}/CognitoIdentityCredentials`);
    s.guestIdentity = session.identityId;
  });

  it('signed in: the guest identity becomes authenticated, with the authenticated role, kept on a forced refresh', async () => {
    const out = await signIn({ username: s.email, password: PASSWORD });
    assert.equal(out.isSignedIn, true);
    const session = await fetchAuthSession();
    assert.ok(session.tokens?.idToken);
    assert.equal(session.identityId, s.guestIdentity, 'the login joined the guest identity Amplify kept');
    assert.equal(await callerArn(session.credentials), `arn:aws:sts::123456789012:assumed-role/${s.authRole.RoleName}/CognitoIdentityCredentials`);
    const again = await fetchAuthSession({ forceRefresh: true });
    assert.equal(again.identityId, session.identityId, 'one login, one identity');
    assert.notEqual(again.credentials.accessKeyId, session.credentials.accessKeyId, 'fresh credentials');
    const k = new ci.CognitoIdentityClient({ endpoint: t.endpoint, region: 'us-east-1', credentials: CREDS });
    const described = await k.send(new ci.DescribeIdentityCommand({ IdentityId: session.identityId }));
    assert.deepEqual(described.Logins, [`cognito-idp.us-east-1.amazonaws.com/${s.poolId}`]);
    await signOut();
  });
});
