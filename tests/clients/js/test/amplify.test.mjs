// Amplify v6 (aws-amplify) in Node, configured the way an app is, with only userPoolEndpoint pointing at tobira.
// In Node, Amplify keeps its tokens in its in-memory fallback storage (no localStorage), so no shim is needed.
// Amplify is a process-wide singleton; node --test runs each file in its own process.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  SetUserPoolMfaConfigCommand, AssociateSoftwareTokenCommand, VerifySoftwareTokenCommand, SetUserMFAPreferenceCommand,
  AdminListDevicesCommand, AdminSetUserMFAPreferenceCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { Amplify } from 'aws-amplify';
import {
  signUp, confirmSignUp, signIn, confirmSignIn, fetchAuthSession, signOut, getCurrentUser,
  setUpTOTP, verifyTOTPSetup, updateMFAPreference, fetchMFAPreference, fetchUserAttributes,
  rememberDevice, fetchDevices, forgetDevice,
} from 'aws-amplify/auth';
import { useTobira, readInbox, waitForMessage, UUID_RE } from '../harness.mjs';
import { createEmailPool, createAppClient, adminCreateConfirmedUser, App, PASSWORD, randomEmail } from '../fixtures.mjs';
import { tobiraTotp, nextTotpStep, wrongTotp } from '../clientlibs.mjs';

// Amplify names a new device from navigator.userAgent before ConfirmDevice (and silently skips device
// tracking when that throws). Node 21+ has a global navigator; Node 20 does not, so give it the same minimal one.
if (typeof globalThis.navigator === 'undefined') {
  globalThis.navigator = { userAgent: `Node.js/${process.version}` };
}

// Every Cognito call Amplify makes ({op, req, res}), seen through the global fetch it uses in Node.
const wire = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  const target = headers.get('x-amz-target');
  const res = await realFetch(input, init);
  if (target?.startsWith('AWSCognitoIdentityProviderService.')) {
    let req = {};
    try { req = JSON.parse(init.body); } catch { /* not JSON */ }
    let out = {};
    try { out = await res.clone().json(); } catch { /* empty */ }
    wire.push({ op: target.split('.')[1], req, res: out, status: res.status });
  }
  return res;
};
const challengesSince = (from) => wire.slice(from).filter((c) => c.op === 'RespondToAuthChallenge').map((c) => c.req.ChallengeName);

/** Run an Amplify call and return the AuthError it throws (failing if it does not). */
async function amplifyError(promise) {
  try {
    const out = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(out)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

describe('Amplify v6: sign-up, SRP sign-in, TOTP MFA, session, sign-out', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('amplify');

  before(async () => {
    s.poolId = await createEmailPool(t.client);
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.poolId, SoftwareTokenMfaConfiguration: { Enabled: true }, MfaConfiguration: 'OPTIONAL',
    }));
    // A public client with Cognito's default flows (SRP, refresh, custom auth): what Amplify apps use.
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_CUSTOM_AUTH'],
    })).clientId;
    Amplify.configure({
      Auth: { Cognito: { userPoolId: s.poolId, userPoolClientId: s.clientId, userPoolEndpoint: t.endpoint } },
    });
  });

  it('signUp returns CONFIRM_SIGN_UP with e-mail delivery', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, email)).filter((m) => m.code).length;
    const out = await signUp({ username: email, password: PASSWORD, options: { userAttributes: { email } } });
    assert.equal(out.isSignUpComplete, false);
    assert.match(out.userId, UUID_RE);
    assert.equal(out.nextStep.signUpStep, 'CONFIRM_SIGN_UP');
    assert.equal(out.nextStep.codeDeliveryDetails.deliveryMedium, 'EMAIL');
    assert.equal(out.nextStep.codeDeliveryDetails.attributeName, 'email');
    s.sub = out.userId;
    s.code = (await waitForMessage(t.endpoint, s.poolId, email, { after: before, pred: (m) => m.code })).code;
  });

  it('confirmSignUp with the code from the inbox completes the sign-up', async () => {
    const out = await confirmSignUp({ username: email, confirmationCode: s.code });
    assert.equal(out.isSignUpComplete, true);
    assert.equal(out.nextStep.signUpStep, 'DONE');
  });

  it('signIn (SRP by default) is DONE; fetchAuthSession has the tokens; getCurrentUser is the sub', async () => {
    const out = await signIn({ username: email, password: PASSWORD });
    assert.equal(out.isSignedIn, true, JSON.stringify(out.nextStep));
    assert.equal(out.nextStep.signInStep, 'DONE');
    const session = await fetchAuthSession();
    assert.ok(session.tokens?.accessToken, 'access token present');
    assert.ok(session.tokens?.idToken, 'ID token present');
    assert.equal(session.userSub, s.sub);
    assert.equal(session.tokens.accessToken.payload.username, s.sub);
    assert.equal(session.tokens.accessToken.payload.iss, `${t.endpoint}/${s.poolId}`);
    assert.equal(session.tokens.idToken.payload.email, email);
    const me = await getCurrentUser();
    assert.equal(me.userId, s.sub);
    assert.equal(me.username, s.sub);
    const attrs = await fetchUserAttributes();
    assert.equal(attrs.email, email);
    assert.equal(attrs.email_verified, 'true');
  });

  it('fetchAuthSession({forceRefresh: true}) refreshes the tokens with the refresh token', async () => {
    const before = await fetchAuthSession();
    const after = await fetchAuthSession({ forceRefresh: true });
    assert.ok(after.tokens?.accessToken);
    assert.notEqual(after.tokens.accessToken.toString(), before.tokens.accessToken.toString());
    assert.equal(after.tokens.accessToken.payload.origin_jti, before.tokens.accessToken.payload.origin_jti);
  });

  it('setUpTOTP + verifyTOTPSetup + updateMFAPreference({totp: PREFERRED})', async () => {
    const setup = await setUpTOTP();
    assert.match(setup.sharedSecret, /^[A-Z2-7]+=*$/);
    const uri = setup.getSetupUri('tobira-tests', email).toString();
    assert.ok(uri.startsWith('otpauth://totp/'), uri);
    s.secret = setup.sharedSecret;
    await verifyTOTPSetup({ code: await tobiraTotp(t.endpoint, s.secret), options: { friendlyDeviceName: 'amplify phone' } });
    await updateMFAPreference({ totp: 'PREFERRED' });
    const pref = await fetchMFAPreference();
    assert.deepEqual(pref.enabled, ['TOTP']);
    assert.equal(pref.preferred, 'TOTP');
  });

  it('signOut clears the session', async () => {
    await signOut();
    const session = await fetchAuthSession();
    assert.equal(session.tokens, undefined);
    const err = await amplifyError(getCurrentUser());
    assert.equal(err.name, 'UserUnAuthenticatedException');
  });

  it('a wrong password is NotAuthorizedException "Incorrect username or password."', async () => {
    const err = await amplifyError(signIn({ username: email, password: 'Wrong-Passw0rd!' }));
    assert.equal(err.name, 'NotAuthorizedException');
    assert.equal(err.message, 'Incorrect username or password.');
  });

  it('signIn now stops at CONFIRM_SIGN_IN_WITH_TOTP_CODE; a wrong code is CodeMismatchException', async () => {
    await nextTotpStep(t.endpoint);
    const out = await signIn({ username: email, password: PASSWORD });
    assert.equal(out.isSignedIn, false);
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_TOTP_CODE');
    const err = await amplifyError(confirmSignIn({ challengeResponse: await wrongTotp(t.endpoint, s.secret) }));
    assert.equal(err.name, 'CodeMismatchException');
  });

  it('confirmSignIn with the TOTP code signs in; fetchAuthSession has the tokens', async () => {
    // A fresh sign-in (the wrong code above may have ended that attempt's session, as Cognito does).
    const out = await signIn({ username: email, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_TOTP_CODE');
    const done = await confirmSignIn({ challengeResponse: await tobiraTotp(t.endpoint, s.secret) });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    assert.equal(done.nextStep.signInStep, 'DONE');
    const session = await fetchAuthSession();
    assert.ok(session.tokens?.accessToken);
    assert.ok(session.tokens?.idToken);
    assert.equal(session.userSub, s.sub);
    assert.equal(session.tokens.idToken.payload.email, email);
  });

  it('signOut({global: true}) signs out everywhere; the session is gone', async () => {
    await signOut({ global: true });
    const session = await fetchAuthSession();
    assert.equal(session.tokens, undefined);
  });
});

describe('Amplify v6: choice-based sign-in (USER_AUTH) with e-mail OTP and passwords', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('amplify-choice');

  before(async () => {
    s.poolId = await createEmailPool(t.client, {
      UserPoolTier: 'ESSENTIALS',
      Policies: { SignInPolicy: { AllowedFirstAuthFactors: ['PASSWORD', 'EMAIL_OTP'] } },
    });
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    s.sub = await adminCreateConfirmedUser(t.client, s.poolId, email);
    Amplify.configure({
      Auth: { Cognito: { userPoolId: s.poolId, userPoolClientId: s.clientId, userPoolEndpoint: t.endpoint } },
    });
  });

  it('signIn with USER_AUTH and no preference asks to choose a first factor (SELECT_CHALLENGE)', async () => {
    const out = await signIn({ username: email, options: { authFlowType: 'USER_AUTH' } });
    assert.equal(out.isSignedIn, false);
    assert.equal(out.nextStep.signInStep, 'CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION');
    const offered = out.nextStep.availableChallenges;
    assert.ok(offered.includes('PASSWORD') && offered.includes('EMAIL_OTP'), JSON.stringify(offered));
    assert.ok(!offered.includes('SMS_OTP') && !offered.includes('WEB_AUTHN'), JSON.stringify(offered));
  });

  it('choosing EMAIL_OTP sends a code to the inbox; confirmSignIn with it signs in', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, email)).filter((m) => m.code).length;
    const out = await confirmSignIn({ challengeResponse: 'EMAIL_OTP' });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_EMAIL_CODE');
    assert.equal(out.nextStep.codeDeliveryDetails?.deliveryMedium, 'EMAIL');
    const msg = await waitForMessage(t.endpoint, s.poolId, email, { after: before, pred: (m) => m.code });
    const done = await confirmSignIn({ challengeResponse: msg.code });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    const session = await fetchAuthSession();
    assert.equal(session.userSub, s.sub);
    assert.ok(session.tokens?.idToken);
    await signOut();
  });

  it('preferredChallenge PASSWORD signs in at once', async () => {
    const out = await signIn({ username: email, password: PASSWORD, options: { authFlowType: 'USER_AUTH', preferredChallenge: 'PASSWORD' } });
    assert.equal(out.isSignedIn, true, JSON.stringify(out.nextStep));
    assert.equal((await fetchAuthSession()).userSub, s.sub);
    await signOut();
  });

  it('preferredChallenge PASSWORD_SRP signs in over SRP', async () => {
    const out = await signIn({ username: email, password: PASSWORD, options: { authFlowType: 'USER_AUTH', preferredChallenge: 'PASSWORD_SRP' } });
    assert.equal(out.isSignedIn, true, JSON.stringify(out.nextStep));
    assert.equal((await fetchAuthSession()).userSub, s.sub);
    await signOut();
  });

  it('preferredChallenge EMAIL_OTP goes straight to the code', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, email)).filter((m) => m.code).length;
    const out = await signIn({ username: email, options: { authFlowType: 'USER_AUTH', preferredChallenge: 'EMAIL_OTP' } });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_EMAIL_CODE');
    const msg = await waitForMessage(t.endpoint, s.poolId, email, { after: before, pred: (m) => m.code });
    const done = await confirmSignIn({ challengeResponse: msg.code });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    await signOut();
  });
});

describe('Amplify v6: remembered devices skip TOTP (ConfirmDevice, rememberDevice, DEVICE_SRP_AUTH)', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('amplify-device');

  before(async () => {
    s.poolId = await createEmailPool(t.client, {
      DeviceConfiguration: { ChallengeRequiredOnNewDevice: true, DeviceOnlyRememberedOnUserPrompt: true },
    });
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.poolId, SoftwareTokenMfaConfiguration: { Enabled: true }, MfaConfiguration: 'OPTIONAL',
    }));
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    s.sub = await adminCreateConfirmedUser(t.client, s.poolId, email);
    // TOTP turned on from another app (plain SDK calls; that app never confirms its device).
    const app = new App(t.client, t.endpoint, s.poolId, { clientId: s.clientId });
    const { AccessToken } = (await app.signIn(email)).AuthenticationResult;
    s.secret = (await t.client.send(new AssociateSoftwareTokenCommand({ AccessToken }))).SecretCode;
    await t.client.send(new VerifySoftwareTokenCommand({ AccessToken, UserCode: await tobiraTotp(t.endpoint, s.secret) }));
    await t.client.send(new SetUserMFAPreferenceCommand({ AccessToken, SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true } }));
    await nextTotpStep(t.endpoint);
    Amplify.configure({
      Auth: { Cognito: { userPoolId: s.poolId, userPoolClientId: s.clientId, userPoolEndpoint: t.endpoint } },
    });
  });

  it('first sign-in: TOTP, then Amplify confirms the new device; rememberDevice; fetchDevices lists it', async () => {
    const from = wire.length;
    const out = await signIn({ username: email, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_TOTP_CODE');
    const done = await confirmSignIn({ challengeResponse: await tobiraTotp(t.endpoint, s.secret) });
    assert.equal(done.isSignedIn, true);
    const confirm = wire.slice(from).find((c) => c.op === 'ConfirmDevice');
    const mfa = wire.slice(from).find((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'SOFTWARE_TOKEN_MFA');
    assert.ok(mfa?.res?.AuthenticationResult?.NewDeviceMetadata, `the tokens carry NewDeviceMetadata: ${JSON.stringify(Object.keys(mfa?.res?.AuthenticationResult ?? {}))}`);
    assert.ok(confirm, `Amplify called ConfirmDevice; calls: ${wire.slice(from).map((c) => c.op)}`);
    assert.equal(confirm.status, 200, JSON.stringify(confirm.res));
    assert.equal(confirm.res.UserConfirmationNecessary, true, 'DeviceOnlyRememberedOnUserPrompt=true');
    s.deviceKey = confirm.req.DeviceKey;
    const session = await fetchAuthSession();
    assert.equal(session.tokens.accessToken.payload.device_key, s.deviceKey);
    await rememberDevice();
    const devices = await fetchDevices();
    assert.deepEqual(devices.map((d) => d.id), [s.deviceKey]);
  });

  it('after signOut, signIn on the remembered device is DONE with no TOTP, through DEVICE_SRP_AUTH', async () => {
    await signOut();
    const from = wire.length;
    let out = await signIn({ username: email, password: PASSWORD });
    const step = out.nextStep.signInStep;
    if (step === 'CONFIRM_SIGN_IN_WITH_TOTP_CODE') {
      // Not what Cognito does; finish anyway so the next steps can run.
      await nextTotpStep(t.endpoint);
      out = await confirmSignIn({ challengeResponse: await tobiraTotp(t.endpoint, s.secret) });
    }
    const init = wire.slice(from).find((c) => c.op === 'InitiateAuth');
    const pv = wire.slice(from).find((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'PASSWORD_VERIFIER');
    assert.equal(step, 'DONE', `a remembered device skips MFA; challenges sent: ${challengesSince(from)}; `
      + `DEVICE_KEY in InitiateAuth: ${init?.req.AuthParameters.DEVICE_KEY}, in PASSWORD_VERIFIER: ${pv?.req.ChallengeResponses.DEVICE_KEY}`);
    // Amplify (like amazon-cognito-identity-js) looks its device key up under USER_ID_FOR_SRP, so on an
    // e-mail-username pool the key goes with PASSWORD_VERIFIER, not with InitiateAuth.
    assert.equal(init.req.AuthParameters.DEVICE_KEY ?? pv.req.ChallengeResponses.DEVICE_KEY, s.deviceKey);
    assert.deepEqual(challengesSince(from), ['PASSWORD_VERIFIER', 'DEVICE_SRP_AUTH', 'DEVICE_PASSWORD_VERIFIER']);
    const session = await fetchAuthSession();
    assert.equal(session.tokens.accessToken.payload.device_key, s.deviceKey);
  });

  it('forgetDevice removes it; the next sign-in asks for TOTP again', async () => {
    await forgetDevice();
    const listed = await t.client.send(new AdminListDevicesCommand({ UserPoolId: s.poolId, Username: email }));
    assert.deepEqual(listed.Devices, []);
    await signOut();
    await nextTotpStep(t.endpoint);
    const out = await signIn({ username: email, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_TOTP_CODE');
  });
});

describe('Amplify v6: TOTP setup during sign-in, SMS and e-mail MFA codes, MFA selection', () => {
  const t = useTobira();
  const s = {};
  const phone = '+15555550199';
  const configure = (poolId, clientId) => Amplify.configure({
    Auth: { Cognito: { userPoolId: poolId, userPoolClientId: clientId, userPoolEndpoint: t.endpoint } },
  });

  before(async () => {
    // Pool 1: MFA required, TOTP only -> MFA_SETUP for a user without MFA.
    s.setupPool = await createEmailPool(t.client);
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.setupPool, SoftwareTokenMfaConfiguration: { Enabled: true }, MfaConfiguration: 'ON',
    }));
    s.setupClient = (await createAppClient(t.client, s.setupPool, { secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] })).clientId;
    s.setupEmail = randomEmail('amp-setup');
    await adminCreateConfirmedUser(t.client, s.setupPool, s.setupEmail);

    // Pool 2: MFA optional with SMS, TOTP and e-mail codes.
    const sms = { SnsCallerArn: 'arn:aws:iam::123456789012:role/cognito-sms', ExternalId: 'tobira-tests', SnsRegion: 'us-east-1' };
    s.mfaPool = await createEmailPool(t.client, {
      UserPoolTier: 'ESSENTIALS', SmsConfiguration: sms,
      EmailConfiguration: { EmailSendingAccount: 'DEVELOPER', From: 'no-reply@example.com', SourceArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com' },
    });
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.mfaPool, MfaConfiguration: 'OPTIONAL',
      SoftwareTokenMfaConfiguration: { Enabled: true },
      SmsMfaConfiguration: { SmsAuthenticationMessage: 'Your sign-in code is {####}', SmsConfiguration: sms },
      EmailMfaConfiguration: { Message: 'Your sign-in code is {####}', Subject: 'Sign-in code' },
    }));
    s.mfaClient = (await createAppClient(t.client, s.mfaPool, { secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] })).clientId;
    s.smsEmail = randomEmail('amp-sms');
    await adminCreateConfirmedUser(t.client, s.mfaPool, s.smsEmail, PASSWORD, [
      { Name: 'phone_number', Value: phone }, { Name: 'phone_number_verified', Value: 'true' },
    ]);
    s.mailEmail = randomEmail('amp-mail');
    await adminCreateConfirmedUser(t.client, s.mfaPool, s.mailEmail);
    await t.client.send(new AdminSetUserMFAPreferenceCommand({
      UserPoolId: s.mfaPool, Username: s.smsEmail, SMSMfaSettings: { Enabled: true, PreferredMfa: true },
    }));
    await t.client.send(new AdminSetUserMFAPreferenceCommand({
      UserPoolId: s.mfaPool, Username: s.mailEmail, EmailMfaSettings: { Enabled: true, PreferredMfa: true },
    }));
  });

  it('MFA required and none set up: CONTINUE_SIGN_IN_WITH_TOTP_SETUP; confirmSignIn with the first code signs in', async () => {
    configure(s.setupPool, s.setupClient);
    const out = await signIn({ username: s.setupEmail, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONTINUE_SIGN_IN_WITH_TOTP_SETUP', JSON.stringify(out.nextStep));
    const secret = out.nextStep.totpSetupDetails.sharedSecret;
    assert.match(secret, /^[A-Z2-7]+=*$/);
    const done = await confirmSignIn({ challengeResponse: await tobiraTotp(t.endpoint, secret) });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    assert.ok((await fetchAuthSession()).tokens?.accessToken);
    const pref = await fetchMFAPreference();
    assert.ok(pref.enabled?.includes('TOTP'), JSON.stringify(pref));
    await signOut();
    await nextTotpStep(t.endpoint);
    const again = await signIn({ username: s.setupEmail, password: PASSWORD });
    assert.equal(again.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_TOTP_CODE');
    const ok = await confirmSignIn({ challengeResponse: await tobiraTotp(t.endpoint, secret) });
    assert.equal(ok.isSignedIn, true);
    await signOut();
  });

  it('SMS MFA: CONFIRM_SIGN_IN_WITH_SMS_CODE with the code from the SMS inbox', async () => {
    configure(s.mfaPool, s.mfaClient);
    const before = (await readInbox(t.endpoint, s.mfaPool, phone)).filter((m) => m.code).length;
    const out = await signIn({ username: s.smsEmail, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_SMS_CODE', JSON.stringify(out.nextStep));
    assert.equal(out.nextStep.codeDeliveryDetails.deliveryMedium, 'SMS');
    const msg = await waitForMessage(t.endpoint, s.mfaPool, phone, { after: before, pred: (m) => m.code });
    const done = await confirmSignIn({ challengeResponse: msg.code });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    await signOut();
  });

  it('e-mail MFA: CONFIRM_SIGN_IN_WITH_EMAIL_CODE with the code from the inbox', async () => {
    configure(s.mfaPool, s.mfaClient);
    const before = (await readInbox(t.endpoint, s.mfaPool, s.mailEmail)).filter((m) => m.code).length;
    const out = await signIn({ username: s.mailEmail, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_EMAIL_CODE', JSON.stringify(out.nextStep));
    assert.equal(out.nextStep.codeDeliveryDetails.deliveryMedium, 'EMAIL');
    const msg = await waitForMessage(t.endpoint, s.mfaPool, s.mailEmail, { after: before, pred: (m) => m.code });
    assert.equal(msg.channel, 'EMAIL');
    const done = await confirmSignIn({ challengeResponse: msg.code });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    await signOut();
  });

  it('SMS and e-mail enabled, none preferred: CONTINUE_SIGN_IN_WITH_MFA_SELECTION; choosing EMAIL sends the code', async () => {
    configure(s.mfaPool, s.mfaClient);
    await t.client.send(new AdminSetUserMFAPreferenceCommand({
      UserPoolId: s.mfaPool, Username: s.smsEmail,
      SMSMfaSettings: { Enabled: true, PreferredMfa: false }, EmailMfaSettings: { Enabled: true, PreferredMfa: false },
    }));
    const out = await signIn({ username: s.smsEmail, password: PASSWORD });
    assert.equal(out.nextStep.signInStep, 'CONTINUE_SIGN_IN_WITH_MFA_SELECTION', JSON.stringify(out.nextStep));
    assert.deepEqual([...out.nextStep.allowedMFATypes].sort(), ['EMAIL', 'SMS']);
    const before = (await readInbox(t.endpoint, s.mfaPool, s.smsEmail)).filter((m) => m.code).length;
    const next = await confirmSignIn({ challengeResponse: 'EMAIL' });
    assert.equal(next.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_EMAIL_CODE', JSON.stringify(next.nextStep));
    const msg = await waitForMessage(t.endpoint, s.mfaPool, s.smsEmail, { after: before, pred: (m) => m.code && m.channel === 'EMAIL' });
    const done = await confirmSignIn({ challengeResponse: msg.code });
    assert.equal(done.isSignedIn, true, JSON.stringify(done.nextStep));
    await signOut();
  });
});
