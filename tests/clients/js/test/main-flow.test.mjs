// The main flow as a real app does it (the Stripe scenario: custom:customerId), with token claims.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateUserPoolCommand,
  CreateUserPoolClientCommand,
  DescribeUserPoolCommand,
  SignUpCommand,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  GetUserCommand,
  AdminUpdateUserAttributesCommand,
  AdminGetUserCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  useTobira, secretHash, decodeJwt, readInbox, waitForMessage, attrMap, body, uniq, UUID_RE,
} from '../harness.mjs';
import { PASSWORD, randomEmail } from '../fixtures.mjs';

describe('main flow: sign-up, confirm, sign-in, custom:customerId', () => {
  const t = useTobira();
  const s = {}; // state carried from step to step
  const email = randomEmail('jane');

  it('CreateUserPool with email as username, auto-verified email and custom:customerId', async () => {
    const out = await t.client.send(new CreateUserPoolCommand({
      PoolName: `stripe-${uniq()}`,
      UsernameAttributes: ['email'],
      AutoVerifiedAttributes: ['email'],
      Schema: [{ Name: 'customerId', AttributeDataType: 'String', Mutable: true }],
    }));
    const pool = out.UserPool;
    assert.match(pool.Id, /^us-east-1_[0-9a-zA-Z]+$/, 'pool id is <region>_<alnum>');
    assert.ok(pool.Id.length <= 55, 'pool id at most 55 characters');
    assert.deepEqual(pool.UsernameAttributes, ['email']);
    assert.deepEqual(pool.AutoVerifiedAttributes, ['email']);
    assert.match(pool.Arn, new RegExp(`^arn:aws:cognito-idp:us-east-1:\\d{12}:userpool/${pool.Id}$`));
    s.poolId = pool.Id;

    const desc = await t.client.send(new DescribeUserPoolCommand({ UserPoolId: s.poolId }));
    const custom = desc.UserPool.SchemaAttributes.find((a) => a.Name === 'custom:customerId');
    assert.ok(custom, 'schema lists custom:customerId');
    assert.equal(custom.AttributeDataType, 'String');
    assert.equal(custom.Mutable, true);
    assert.ok(desc.UserPool.SchemaAttributes.find((a) => a.Name === 'sub'), 'schema lists sub');
    assert.ok(!desc.UserPool.SchemaAttributes.find((a) => a.Name === 'customerId'), 'no unprefixed customerId');
  });

  it('CreateUserPoolClient with a secret and the password flows', async () => {
    const out = await t.client.send(new CreateUserPoolClientCommand({
      UserPoolId: s.poolId,
      ClientName: 'web',
      GenerateSecret: true,
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_ADMIN_USER_PASSWORD_AUTH'],
    }));
    const c = out.UserPoolClient;
    assert.match(c.ClientId, /^[0-9a-z]{26}$/, 'client id is 26 lowercase alphanumerics like Cognito');
    assert.equal(typeof c.ClientSecret, 'string');
    assert.match(c.ClientSecret, /^[\w+]{24,64}$/, 'client secret is 24-64 [\\w+] characters');
    assert.equal(c.UserPoolId, s.poolId);
    assert.deepEqual([...c.ExplicitAuthFlows].sort(),
      ['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH']);
    s.clientId = c.ClientId;
    s.clientSecret = c.ClientSecret;
  });

  it('SignUp with SecretHash returns an unconfirmed user and EMAIL delivery details', async () => {
    const out = await t.client.send(new SignUpCommand({
      ClientId: s.clientId,
      SecretHash: secretHash(s.clientSecret, email, s.clientId),
      Username: email,
      Password: PASSWORD,
    }));
    assert.equal(out.UserConfirmed, false);
    assert.match(out.UserSub, UUID_RE, 'UserSub is a UUID');
    const cdd = out.CodeDeliveryDetails;
    assert.ok(cdd, 'CodeDeliveryDetails present');
    assert.equal(cdd.DeliveryMedium, 'EMAIL');
    assert.equal(cdd.AttributeName, 'email');
    assert.ok(cdd.Destination.includes('@'), `destination keeps the @: ${cdd.Destination}`);
    assert.ok(cdd.Destination.includes('*'), `destination is masked: ${cdd.Destination}`);
    assert.notEqual(cdd.Destination, email, 'destination is not the clear address');
    s.sub = out.UserSub;
  });

  it('the confirmation code arrives in the inbox and ConfirmSignUp accepts it', async () => {
    const msg = await waitForMessage(t.endpoint, s.poolId, email, { pred: (m) => m.code });
    assert.equal(msg.channel, 'EMAIL');
    assert.equal(msg.destination, email);
    assert.match(msg.code, /^\d{6}$/, 'Cognito codes are 6 digits');
    assert.ok(msg.message.includes(msg.code), 'the message text carries the code');

    const out = await t.client.send(new ConfirmSignUpCommand({
      ClientId: s.clientId,
      SecretHash: secretHash(s.clientSecret, email, s.clientId),
      Username: email,
      ConfirmationCode: msg.code,
    }));
    assert.deepEqual(body(out), {});
  });

  it('InitiateAuth USER_PASSWORD_AUTH returns the full AuthenticationResult and empty ChallengeParameters', async () => {
    const out = await t.client.send(new InitiateAuthCommand({
      ClientId: s.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD, SECRET_HASH: secretHash(s.clientSecret, email, s.clientId) },
    }));
    assert.equal(out.ChallengeName, undefined);
    assert.equal(out.Session, undefined);
    assert.deepEqual(out.ChallengeParameters, {}, 'ChallengeParameters is present and empty');
    const r = out.AuthenticationResult;
    assert.equal(typeof r.AccessToken, 'string');
    assert.equal(typeof r.IdToken, 'string');
    assert.equal(typeof r.RefreshToken, 'string');
    assert.ok(r.RefreshToken.length > 20, 'refresh token is not trivially short');
    assert.equal(r.ExpiresIn, 3600);
    assert.equal(r.TokenType, 'Bearer');
    assert.equal(r.NewDeviceMetadata, undefined);
    assert.equal(typeof out.$metadata.requestId, 'string', 'x-amzn-RequestId reaches the SDK as $metadata.requestId');
    assert.ok(out.$metadata.requestId.length > 0);
    s.tokens = r;
  });

  it('GetUser returns the sub as Username and the verified email', async () => {
    const out = await t.client.send(new GetUserCommand({ AccessToken: s.tokens.AccessToken }));
    assert.deepEqual(Object.keys(body(out)).sort(), ['UserAttributes', 'Username'],
      'GetUser returns only Username and UserAttributes when no MFA is set');
    assert.equal(out.Username, s.sub, 'Username of an email-as-username pool is the sub');
    const attrs = attrMap(out.UserAttributes);
    assert.equal(attrs.sub, s.sub);
    assert.equal(attrs.email, email);
    assert.equal(attrs.email_verified, 'true', 'email_verified is the string "true" after ConfirmSignUp');
  });

  it('AdminUpdateUserAttributes sets custom:customerId and AdminGetUser shows it', async () => {
    const upd = await t.client.send(new AdminUpdateUserAttributesCommand({
      UserPoolId: s.poolId,
      Username: s.sub, // event.userName in a PostConfirmation trigger is the sub
      UserAttributes: [{ Name: 'custom:customerId', Value: 'cus_123' }],
    }));
    assert.deepEqual(body(upd), {});

    const bySub = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: s.sub }));
    assert.equal(bySub.Username, s.sub);
    assert.equal(bySub.UserStatus, 'CONFIRMED');
    assert.equal(bySub.Enabled, true);
    assert.ok(bySub.UserCreateDate instanceof Date && !Number.isNaN(bySub.UserCreateDate.getTime()));
    assert.ok(bySub.UserLastModifiedDate instanceof Date && !Number.isNaN(bySub.UserLastModifiedDate.getTime()));
    const attrs = attrMap(bySub.UserAttributes);
    assert.equal(attrs['custom:customerId'], 'cus_123');
    assert.equal(attrs.email, email);
    assert.equal(attrs.email_verified, 'true');

    const byEmail = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: email }));
    assert.equal(byEmail.Username, s.sub, 'AdminGetUser by email finds the user and reports the sub');
  });

  it('a new sign-in carries custom:customerId as a string in the ID token', async () => {
    const out = await t.client.send(new InitiateAuthCommand({
      ClientId: s.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD, SECRET_HASH: secretHash(s.clientSecret, email, s.clientId) },
    }));
    s.tokens2 = out.AuthenticationResult;
    const id = decodeJwt(s.tokens2.IdToken).payload;
    assert.equal(id['custom:customerId'], 'cus_123');
    const access = decodeJwt(s.tokens2.AccessToken).payload;
    assert.equal(access['custom:customerId'], undefined, 'attributes are not in the access token');
  });

  it('ID token claims follow Cognito', () => {
    const { header, payload: id } = decodeJwt(s.tokens2.IdToken);
    const access = decodeJwt(s.tokens2.AccessToken).payload;
    assert.equal(header.alg, 'RS256');
    assert.equal(typeof header.kid, 'string');
    assert.equal(id.iss, `${t.endpoint}/${s.poolId}`);
    assert.equal(id.sub, s.sub);
    assert.equal(id.aud, s.clientId);
    assert.equal(id.token_use, 'id');
    assert.equal(id['cognito:username'], s.sub, 'cognito:username is the sub in an email-as-username pool');
    assert.equal(id.email, email);
    assert.equal(id.email_verified, true, 'email_verified is a JSON boolean in the ID token');
    assert.ok(Number.isInteger(id.auth_time), 'auth_time is integer epoch seconds');
    assert.ok(Number.isInteger(id.iat) && Number.isInteger(id.exp));
    assert.equal(id.exp - id.iat, 3600);
    assert.ok(Math.abs(id.iat - id.auth_time) <= 5, 'auth_time is the sign-in time');
    assert.match(id.event_id, UUID_RE);
    assert.equal(typeof id.jti, 'string');
    assert.equal(typeof id.origin_jti, 'string');
    assert.equal(id.event_id, access.event_id, 'event_id is shared by the ID and access token');
    assert.equal(id.origin_jti, access.origin_jti, 'origin_jti is shared by the ID and access token');
    assert.notEqual(id.jti, access.jti, 'jti differs between the two tokens');
    assert.equal(id['cognito:user_status'], undefined);
    assert.equal(id['cognito:groups'], undefined, 'no cognito:groups for a user in no group');
    assert.equal(id.client_id, undefined);
    assert.equal(id.scope, undefined);
  });

  it('access token claims are exactly Cognito\'s set', () => {
    const { header, payload: a } = decodeJwt(s.tokens2.AccessToken);
    assert.equal(header.alg, 'RS256');
    assert.deepEqual(Object.keys(a).sort(), [
      'auth_time', 'client_id', 'event_id', 'exp', 'iat', 'iss', 'jti', 'origin_jti', 'scope', 'sub', 'token_use', 'username',
    ]);
    assert.equal(a.iss, `${t.endpoint}/${s.poolId}`);
    assert.equal(a.client_id, s.clientId);
    assert.equal(a.token_use, 'access');
    assert.equal(a.scope, 'aws.cognito.signin.user.admin');
    assert.equal(a.username, s.sub);
    assert.equal(a.sub, s.sub);
    assert.equal(a.exp - a.iat, 3600);
    const first = decodeJwt(s.tokens.AccessToken).payload;
    assert.notEqual(a.jti, first.jti, 'each sign-in gets a new jti');
    assert.notEqual(a.origin_jti, first.origin_jti, 'each sign-in gets a new origin_jti');
    assert.notEqual(a.event_id, first.event_id, 'each sign-in gets a new event_id');
  });

  it('the confirmation left exactly one message in the inbox for this user', async () => {
    const msgs = await readInbox(t.endpoint, s.poolId, email);
    assert.equal(msgs.length, 1, `messages: ${JSON.stringify(msgs)}`);
    for (const m of msgs) assert.equal(m.poolId, s.poolId);
  });

  it('SIGTERM stops tobira with exit code 0', async () => {
    const info = await t.server.stop();
    assert.equal(info.killed, false, 'tobira exited on SIGTERM without being killed');
    assert.equal(info.signal, null, `tobira exited by itself, not by signal ${info.signal}`);
    assert.equal(info.code, 0);
  });
});
