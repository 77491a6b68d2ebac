// Refresh, sign-out and revocation, and forgotten passwords.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  InitiateAuthCommand,
  GetUserCommand,
  GlobalSignOutCommand,
  RevokeTokenCommand,
  ForgotPasswordCommand,
  ConfirmForgotPasswordCommand,
  ChangePasswordCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  useTobira, decodeJwt, body, expectCognitoError, advanceClock, readInbox, waitForMessage, uniq,
} from '../harness.mjs';
import { createEmailPool, createAppClient, App, PASSWORD, PASSWORD_2, randomEmail } from '../fixtures.mjs';

describe('REFRESH_TOKEN_AUTH', () => {
  const t = useTobira();
  let app;
  const email = randomEmail('refresh');
  let sub;
  let first;

  before(async () => {
    const poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: true }));
    sub = await app.signUpConfirmed(email);
    first = (await app.signIn(email)).AuthenticationResult;
  });

  it('returns new access and ID tokens, no refresh token, same auth_time and origin_jti', async () => {
    await advanceClock(t.endpoint, 60);
    const out = await app.refresh(first.RefreshToken, sub);
    assert.deepEqual(out.ChallengeParameters, {});
    assert.equal(out.ChallengeName, undefined);
    const r = out.AuthenticationResult;
    assert.equal(r.RefreshToken, undefined, 'REFRESH_TOKEN_AUTH returns no new refresh token');
    assert.equal(typeof r.AccessToken, 'string');
    assert.equal(typeof r.IdToken, 'string');
    assert.equal(r.ExpiresIn, 3600);
    assert.equal(r.TokenType, 'Bearer');
    assert.notEqual(r.AccessToken, first.AccessToken);
    assert.notEqual(r.IdToken, first.IdToken);

    const oldA = decodeJwt(first.AccessToken).payload;
    const oldI = decodeJwt(first.IdToken).payload;
    const a = decodeJwt(r.AccessToken).payload;
    const i = decodeJwt(r.IdToken).payload;
    assert.equal(a.auth_time, oldA.auth_time, 'access auth_time is the original sign-in time');
    assert.equal(i.auth_time, oldI.auth_time, 'ID auth_time is the original sign-in time');
    assert.equal(a.origin_jti, oldA.origin_jti, 'access origin_jti kept across refresh');
    assert.equal(i.origin_jti, oldI.origin_jti, 'ID origin_jti kept across refresh');
    assert.notEqual(a.jti, oldA.jti, 'new jti');
    assert.notEqual(i.jti, oldI.jti, 'new jti');
    assert.ok(a.iat >= oldA.iat + 60, `iat follows tobira's clock (${a.iat} vs ${oldA.iat})`);
    assert.equal(a.exp - a.iat, 3600);
    assert.equal(a.token_use, 'access');
    assert.equal(a.username, sub);
    assert.equal(a.client_id, app.clientId);
    assert.equal(i.token_use, 'id');
    assert.equal(i.aud, app.clientId);
    assert.equal(i['cognito:username'], sub);
    assert.equal(i.email, email);
    assert.equal(i.email_verified, true);
    assert.equal(i.event_id, a.event_id);

    const me = await t.client.send(new GetUserCommand({ AccessToken: r.AccessToken }));
    assert.equal(me.Username, sub);
  });

  it('the legacy flow name REFRESH_TOKEN works too', async () => {
    const out = await t.client.send(new InitiateAuthCommand({
      ClientId: app.clientId,
      AuthFlow: 'REFRESH_TOKEN',
      AuthParameters: { REFRESH_TOKEN: first.RefreshToken, SECRET_HASH: app.hash(sub) },
    }));
    assert.equal(typeof out.AuthenticationResult.AccessToken, 'string');
    assert.equal(out.AuthenticationResult.RefreshToken, undefined);
  });

  it('a client with a secret needs SECRET_HASH on refresh', async () => {
    await expectCognitoError(t.client.send(new InitiateAuthCommand({
      ClientId: app.clientId,
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: first.RefreshToken },
    })), 'NotAuthorizedException', `Unable to verify secret hash for client ${app.clientId}`);
  });

  it('a random refresh token is "Invalid Refresh Token"', async () => {
    await expectCognitoError(app.refresh(`not-a-token-${uniq(16)}`, sub),
      'NotAuthorizedException', 'Invalid Refresh Token');
  });
});

describe('GlobalSignOut and RevokeToken', () => {
  const t = useTobira();
  let app;
  const email = randomEmail('signout');
  let sub;
  const sess = {};

  before(async () => {
    const poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: true }));
    sub = await app.signUpConfirmed(email);
    for (const k of ['a', 'b', 'c']) sess[k] = (await app.signIn(email)).AuthenticationResult;
  });

  it('GetUser with a garbage token is "Invalid Access Token"', async () => {
    await expectCognitoError(t.client.send(new GetUserCommand({ AccessToken: 'garbage' })),
      'NotAuthorizedException', 'Invalid Access Token');
    await expectCognitoError(t.client.send(new GetUserCommand({ AccessToken: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' })),
      'NotAuthorizedException', 'Invalid Access Token');
  });

  it('GlobalSignOut with a garbage token is "Invalid Access Token"', async () => {
    await expectCognitoError(t.client.send(new GlobalSignOutCommand({ AccessToken: 'garbage' })),
      'NotAuthorizedException', 'Invalid Access Token');
  });

  it('RevokeToken revokes that session\'s refresh token and its access tokens', async () => {
    const out = await t.client.send(new RevokeTokenCommand({
      Token: sess.b.RefreshToken, ClientId: app.clientId, ClientSecret: app.clientSecret,
    }));
    assert.deepEqual(body(out), {});
    await expectCognitoError(app.refresh(sess.b.RefreshToken, sub),
      'NotAuthorizedException', 'Refresh Token has been revoked');
    await expectCognitoError(t.client.send(new GetUserCommand({ AccessToken: sess.b.AccessToken })),
      'NotAuthorizedException', 'Access Token has been revoked');
  });

  it('RevokeToken leaves the user\'s other sessions alone', async () => {
    const r = await app.refresh(sess.c.RefreshToken, sub);
    assert.equal(typeof r.AuthenticationResult.AccessToken, 'string');
    const me = await t.client.send(new GetUserCommand({ AccessToken: sess.a.AccessToken }));
    assert.equal(me.Username, sub);
  });

  it('GlobalSignOut revokes every access and refresh token of the user', async () => {
    const out = await t.client.send(new GlobalSignOutCommand({ AccessToken: sess.a.AccessToken }));
    assert.deepEqual(body(out), {});
    for (const k of ['a', 'c']) {
      await expectCognitoError(t.client.send(new GetUserCommand({ AccessToken: sess[k].AccessToken })),
        'NotAuthorizedException', 'Access Token has been revoked');
      await expectCognitoError(app.refresh(sess[k].RefreshToken, sub),
        'NotAuthorizedException', 'Refresh Token has been revoked');
    }
  });

  it('a sign-in right after GlobalSignOut works', async () => {
    const d = (await app.signIn(email)).AuthenticationResult;
    const me = await t.client.send(new GetUserCommand({ AccessToken: d.AccessToken }));
    assert.equal(me.Username, sub);
    const r = await app.refresh(d.RefreshToken, sub);
    assert.equal(typeof r.AuthenticationResult.AccessToken, 'string');
  });
});

describe('ForgotPassword / ConfirmForgotPassword', () => {
  const t = useTobira();
  let app;
  let poolId;
  const email = randomEmail('forgot');
  let code;

  before(async () => {
    poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: true }));
    await app.signUpConfirmed(email);
  });

  it('ForgotPassword e-mails a code and reports EMAIL delivery', async () => {
    const before = (await readInbox(t.endpoint, poolId, email)).filter((m) => m.code).length;
    const out = await t.client.send(new ForgotPasswordCommand({
      ClientId: app.clientId, SecretHash: app.hash(email), Username: email,
    }));
    const cdd = out.CodeDeliveryDetails;
    assert.equal(cdd.DeliveryMedium, 'EMAIL');
    assert.equal(cdd.AttributeName, 'email');
    assert.ok(cdd.Destination.includes('@') && cdd.Destination.includes('*'), `masked destination: ${cdd.Destination}`);
    assert.notEqual(cdd.Destination, email);
    const msg = await waitForMessage(t.endpoint, poolId, email, { after: before, pred: (m) => m.code });
    code = msg.code; // kept before the checks below, so the later steps can still run
    assert.match(msg.code, /^\d{6}$/);
    assert.ok(msg.message.includes(msg.code));
    assert.equal(msg.destination, email);
    assert.equal(msg.channel, 'EMAIL', `the code went by ${msg.channel}, but CodeDeliveryDetails said EMAIL`);
  });

  it('a wrong code is CodeMismatchException', async () => {
    const wrong = code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
    await expectCognitoError(t.client.send(new ConfirmForgotPasswordCommand({
      ClientId: app.clientId, SecretHash: app.hash(email), Username: email, ConfirmationCode: wrong, Password: PASSWORD_2,
    })), 'CodeMismatchException', 'Invalid verification code provided, please try again.');
    // the password is unchanged
    const ok = await app.signIn(email, PASSWORD);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
  });

  it('ConfirmForgotPassword with the right code sets the new password', async () => {
    const out = await t.client.send(new ConfirmForgotPasswordCommand({
      ClientId: app.clientId, SecretHash: app.hash(email), Username: email, ConfirmationCode: code, Password: PASSWORD_2,
    }));
    assert.deepEqual(body(out), {});
  });

  it('the new password signs in and the old one is "Incorrect username or password."', async () => {
    const ok = await app.signIn(email, PASSWORD_2);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
    await expectCognitoError(app.signIn(email, PASSWORD), 'NotAuthorizedException', 'Incorrect username or password.');
  });

  it('the code cannot be used twice', async () => {
    let err;
    try {
      await t.client.send(new ConfirmForgotPasswordCommand({
        ClientId: app.clientId, SecretHash: app.hash(email), Username: email, ConfirmationCode: code, Password: 'Third-Passw0rd!',
      }));
    } catch (e) { err = e; }
    assert.ok(err, 'reusing the code must fail');
    assert.ok(['CodeMismatchException', 'ExpiredCodeException'].includes(err.name), `got ${err.name}: ${err.message}`);
    const ok = await app.signIn(email, PASSWORD_2);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
  });

  it('ChangePassword with the access token replaces the password', async () => {
    const third = 'Third-Passw0rd!';
    const { AccessToken } = (await app.signIn(email, PASSWORD_2)).AuthenticationResult;
    await expectCognitoError(t.client.send(new ChangePasswordCommand({
      AccessToken, PreviousPassword: 'Not-The-Passw0rd!', ProposedPassword: third,
    })), 'NotAuthorizedException', 'Incorrect username or password.');
    const out = await t.client.send(new ChangePasswordCommand({
      AccessToken, PreviousPassword: PASSWORD_2, ProposedPassword: third,
    }));
    assert.deepEqual(body(out), {});
    const ok = await app.signIn(email, third);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
    await expectCognitoError(app.signIn(email, PASSWORD_2), 'NotAuthorizedException', 'Incorrect username or password.');
  });
});
