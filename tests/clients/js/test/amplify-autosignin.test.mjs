// Sign-in straight after sign-up (the USER_AUTH Session that SignUp and ConfirmSignUp answer with),
// driven by Amplify v6's autoSignIn the way an app uses it, and the refusals with the AWS SDK v3.
// Amplify is a process-wide singleton, so this file configures it once for its own pool.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  SignUpCommand, ConfirmSignUpCommand, InitiateAuthCommand, AdminListUserAuthEventsCommand, AdminGetUserCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { Amplify } from 'aws-amplify';
import { signUp, confirmSignUp, autoSignIn, fetchAuthSession, signOut, signIn, confirmSignIn } from 'aws-amplify/auth';
import { useTobira, waitForMessage, expectCognitoError, decodeJwt } from '../harness.mjs';
import { createEmailPool, createAppClient, PASSWORD, randomEmail } from '../fixtures.mjs';

// Every InitiateAuth / RespondToAuthChallenge Amplify sends, seen through the global fetch it uses in Node.
const wire = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  const target = headers.get('x-amz-target') ?? '';
  if (target.startsWith('AWSCognitoIdentityProviderService.')) {
    let req = {};
    try { req = JSON.parse(init.body); } catch { /* not JSON */ }
    wire.push({ op: target.split('.')[1], req });
  }
  return realFetch(input, init);
};

const EXPIRED = 'Invalid session for the user, session is expired.';

describe('sign-in after sign-up with the USER_AUTH session', () => {
  const t = useTobira();
  const s = {};

  before(async () => {
    s.poolId = await createEmailPool(t.client, { Policies: { SignInPolicy: { AllowedFirstAuthFactors: ['PASSWORD', 'EMAIL_OTP'] } } });
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    s.plainClientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    Amplify.configure({
      Auth: { Cognito: { userPoolId: s.poolId, userPoolClientId: s.clientId, userPoolEndpoint: t.endpoint } },
    });
  });

  async function confirmationCode(email) {
    return (await waitForMessage(t.endpoint, s.poolId, email, { pred: (m) => m.code })).code;
  }

  it('Amplify: signUp, confirmSignUp, autoSignIn signs in with the session alone', async () => {
    const email = randomEmail('auto');
    const up = await signUp({
      username: email, password: PASSWORD,
      options: { userAttributes: { email }, autoSignIn: { authFlowType: 'USER_AUTH' } },
    });
    assert.equal(up.nextStep.signUpStep, 'CONFIRM_SIGN_UP');
    const confirmed = await confirmSignUp({ username: email, confirmationCode: await confirmationCode(email) });
    assert.equal(confirmed.isSignUpComplete, true);
    assert.equal(confirmed.nextStep.signUpStep, 'COMPLETE_AUTO_SIGN_IN');
    const from = wire.length;
    const out = await autoSignIn();
    assert.equal(out.isSignedIn, true, JSON.stringify(out));
    assert.equal(out.nextStep.signInStep, 'DONE');
    const calls = wire.slice(from);
    assert.deepEqual(calls.map((c) => c.op), ['InitiateAuth'], 'one call: no challenge, no password');
    assert.equal(calls[0].req.AuthFlow, 'USER_AUTH');
    assert.ok(calls[0].req.Session, 'Amplify passed the Session from ConfirmSignUp');
    assert.equal(calls[0].req.AuthParameters.PASSWORD, undefined);
    const { tokens } = await fetchAuthSession();
    assert.equal(tokens.idToken.payload.email, email);
    assert.equal(tokens.idToken.payload.token_use, 'id');
    await signOut();
  });

  it('Amplify: a passwordless sign-up, then an e-mail one-time code to sign in', async () => {
    const email = randomEmail('nopw');
    const up = await signUp({ username: email, options: { userAttributes: { email } } });
    assert.equal(up.nextStep.signUpStep, 'CONFIRM_SIGN_UP');
    const code = await confirmationCode(email);
    await confirmSignUp({ username: email, confirmationCode: code });
    const user = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: email }));
    assert.equal(user.UserStatus, 'CONFIRMED');
    const step = await signIn({ username: email, options: { authFlowType: 'USER_AUTH', preferredChallenge: 'EMAIL_OTP' } });
    assert.equal(step.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_EMAIL_CODE', JSON.stringify(step));
    const otp = await waitForMessage(t.endpoint, s.poolId, email, { after: 1, pred: (m) => m.code });
    const done = await confirmSignIn({ challengeResponse: otp.code });
    assert.equal(done.isSignedIn, true);
    await signOut();
  });

  it('SDK v3: the session signs in once, for its own user and client only', async () => {
    const email = randomEmail('sess');
    const other = randomEmail('other');
    for (const u of [email, other]) {
      const out = await t.client.send(new SignUpCommand({ ClientId: s.clientId, Username: u, Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: u }] }));
      assert.equal(out.UserConfirmed, false);
      assert.equal(typeof out.Session, 'string', 'a client allowed USER_AUTH gets a Session from SignUp');
    }
    const confirmed = await t.client.send(new ConfirmSignUpCommand({ ClientId: s.clientId, Username: email, ConfirmationCode: await confirmationCode(email) }));
    assert.equal(typeof confirmed.Session, 'string');
    const start = (username, session, clientId = s.clientId) => t.client.send(new InitiateAuthCommand({
      ClientId: clientId, AuthFlow: 'USER_AUTH', AuthParameters: { USERNAME: username }, Session: session,
    }));
    await expectCognitoError(start(other, confirmed.Session), 'NotAuthorizedException', EXPIRED);
    // Offered for the wrong user, the session is spent: its own user cannot use it either now.
    await expectCognitoError(start(email, confirmed.Session), 'NotAuthorizedException', EXPIRED);
    await expectCognitoError(start(email, 'not-a-session'), 'NotAuthorizedException', EXPIRED);
    const again = await t.client.send(new ConfirmSignUpCommand({ ClientId: s.clientId, Username: other, ConfirmationCode: await confirmationCode(other) }));
    const ok = await start(other, again.Session);
    assert.deepEqual(ok.ChallengeParameters, {});
    assert.equal(decodeJwt(ok.AuthenticationResult.AccessToken).payload.client_id, s.clientId);
    assert.ok(ok.AuthenticationResult.RefreshToken);
    await expectCognitoError(start(other, again.Session), 'NotAuthorizedException', EXPIRED);
    const events = await t.client.send(new AdminListUserAuthEventsCommand({ UserPoolId: s.poolId, Username: other }));
    assert.equal(events.AuthEvents[0].EventResponse, 'Pass', 'the sign-in is recorded');
  });

  it('SDK v3: a client without ALLOW_USER_AUTH gets no Session', async () => {
    const email = randomEmail('plain');
    const out = await t.client.send(new SignUpCommand({ ClientId: s.plainClientId, Username: email, Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: email }] }));
    assert.equal(out.Session, undefined);
    const confirmed = await t.client.send(new ConfirmSignUpCommand({ ClientId: s.plainClientId, Username: email, ConfirmationCode: await confirmationCode(email) }));
    assert.equal(confirmed.Session, undefined);
  });

  it('SDK v3: SignUp without a password needs a pool with one-time-code sign-in', async () => {
    const passwordPool = await createEmailPool(t.client);
    const { clientId } = await createAppClient(t.client, passwordPool, { secret: false, flows: ['ALLOW_USER_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] });
    const email = randomEmail('nopw');
    await expectCognitoError(
      t.client.send(new SignUpCommand({ ClientId: clientId, Username: email, UserAttributes: [{ Name: 'email', Value: email }] })),
      'InvalidParameterException',
    );
  });
});
