// amazon-cognito-identity-js (ACIJS), the library most shipped web and React Native apps still use:
// sign-up, SRP sign-in, sessions, passwords, TOTP MFA and remembered devices (device SRP).
// ACIJS has no client-secret support, so every app client here has no secret.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  SetUserPoolMfaConfigCommand,
  GetUserPoolMfaConfigCommand,
  AssociateSoftwareTokenCommand,
  VerifySoftwareTokenCommand,
  SetUserMFAPreferenceCommand,
  AdminGetUserCommand,
  AdminListDevicesCommand,
  AdminGetDeviceCommand,
  AdminForgetDeviceCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  useTobira, decodeJwt, readInbox, waitForMessage, advanceClock, UUID_RE, attrMap,
} from '../harness.mjs';
import {
  createEmailPool, createAppClient, App, adminCreateConfirmedUser, PASSWORD, PASSWORD_2, randomEmail,
} from '../fixtures.mjs';
import {
  acijsPool, CognitoUser, CognitoUserAttribute, acijsAuthenticate, acijsSendMfaCode, nodeback, cbObject,
  expectAcijsError, tobiraTotp, nextTotpStep, wrongTotp, accessClaims, sentChallenges, memoryStorage,
} from '../clientlibs.mjs';

const SRP_FLOWS = ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
const WRONG = 'Incorrect username or password.';

describe('amazon-cognito-identity-js: sign-up, SRP sign-in, sessions, passwords', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs');

  before(async () => {
    s.poolId = await createEmailPool(t.client);
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: SRP_FLOWS })).clientId;
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  const newUser = (username = email) => new CognitoUser({ Username: username, Pool: s.pool, Storage: s.pool.storage });

  it('pool.signUp returns an unconfirmed user, its sub and EMAIL delivery details', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, email)).filter((m) => m.code).length;
    const out = await nodeback((cb) => s.pool.signUp(email, PASSWORD,
      [new CognitoUserAttribute({ Name: 'email', Value: email })], null, cb));
    assert.equal(out.userConfirmed, false);
    assert.match(out.userSub, UUID_RE);
    assert.equal(out.codeDeliveryDetails.DeliveryMedium, 'EMAIL');
    assert.equal(out.codeDeliveryDetails.AttributeName, 'email');
    assert.equal(out.user.getUsername(), email);
    s.sub = out.userSub;
    s.code = (await waitForMessage(t.endpoint, s.poolId, email, { after: before, pred: (m) => m.code })).code;
  });

  it('SRP sign-in before confirmation is UserNotConfirmedException', async () => {
    await expectAcijsError(acijsAuthenticate(newUser(), email, PASSWORD), 'UserNotConfirmedException', 'User is not confirmed.');
  });

  it('confirmRegistration with the code from the inbox', async () => {
    const out = await nodeback((cb) => newUser().confirmRegistration(s.code, true, cb));
    assert.equal(out, 'SUCCESS');
  });

  it('authenticateUser signs in over SRP (USER_SRP_AUTH -> PASSWORD_VERIFIER) and caches the session', async () => {
    const from = s.pool.calls.length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'success', `expected tokens, got ${r.kind} ${r.challengeName ?? ''}`);
    const calls = s.pool.calls.slice(from);
    assert.equal(calls[0].op, 'InitiateAuth');
    assert.equal(calls[0].req.AuthFlow, 'USER_SRP_AUTH');
    assert.equal(calls[0].res.ChallengeName, 'PASSWORD_VERIFIER');
    assert.equal(calls[0].res.ChallengeParameters.USER_ID_FOR_SRP, s.sub, 'USER_ID_FOR_SRP is the sub on an email-username pool');
    assert.deepEqual(sentChallenges(s.pool, from), ['PASSWORD_VERIFIER']);
    const session = r.session;
    assert.equal(session.isValid(), true);
    const a = accessClaims(session);
    const i = decodeJwt(session.getIdToken().getJwtToken()).payload;
    assert.equal(a.username, s.sub);
    assert.equal(a.client_id, s.clientId);
    assert.equal(a.token_use, 'access');
    assert.equal(a.iss, `${t.endpoint}/${s.poolId}`);
    assert.equal(a.device_key, undefined, 'no device_key without device tracking');
    assert.equal(calls.at(-1).res.AuthenticationResult.NewDeviceMetadata, undefined, 'no NewDeviceMetadata without device tracking');
    assert.equal(i.email, email);
    assert.equal(i['cognito:username'], s.sub);
    assert.equal(i.aud, s.clientId);
    assert.equal(typeof session.getRefreshToken().getToken(), 'string');
    // ACIJS switched to USER_ID_FOR_SRP and cached under it.
    assert.equal(user.getUsername(), s.sub);
    assert.equal(s.pool.storage.getItem(`CognitoIdentityServiceProvider.${s.clientId}.LastAuthUser`), s.sub);
    s.session = session;
  });

  it('pool.getCurrentUser().getSession returns the cached valid session; getUserAttributes works with it', async () => {
    const user = s.pool.getCurrentUser();
    assert.ok(user, 'a current user after sign-in');
    assert.equal(user.getUsername(), s.sub);
    const session = await nodeback((cb) => user.getSession(cb));
    assert.equal(session.isValid(), true);
    assert.equal(session.getAccessToken().getJwtToken(), s.session.getAccessToken().getJwtToken());
    const attrs = await nodeback((cb) => user.getUserAttributes(cb));
    const m = Object.fromEntries(attrs.map((a) => [a.getName(), a.getValue()]));
    assert.equal(m.email, email);
    assert.equal(m.sub, s.sub);
  });

  it('refreshSession (REFRESH_TOKEN_AUTH) gives new tokens of the same session', async () => {
    const user = s.pool.getCurrentUser();
    await nodeback((cb) => user.getSession(cb));
    const fresh = await nodeback((cb) => user.refreshSession(s.session.getRefreshToken(), cb));
    assert.equal(fresh.isValid(), true);
    const a0 = accessClaims(s.session);
    const a1 = accessClaims(fresh);
    assert.notEqual(a1.jti, a0.jti);
    assert.equal(a1.origin_jti, a0.origin_jti);
    assert.equal(a1.username, s.sub);
    assert.equal(fresh.getRefreshToken().getToken(), s.session.getRefreshToken().getToken(),
      'ACIJS keeps the refresh token when none comes back');
  });

  it('a wrong password over SRP is NotAuthorizedException "Incorrect username or password."', async () => {
    await expectAcijsError(acijsAuthenticate(newUser(), email, 'Wrong-Passw0rd!'), 'NotAuthorizedException', WRONG);
  });

  it('an unknown user over SRP is UserNotFoundException "User does not exist." (PreventUserExistenceErrors unset)', async () => {
    await expectAcijsError(acijsAuthenticate(newUser(randomEmail('nobody')), 'x', PASSWORD),
      'UserNotFoundException', 'User does not exist.');
  });

  it('changePassword with the signed-in session; the new password signs in over SRP, the old one no more', async () => {
    const user = s.pool.getCurrentUser();
    await nodeback((cb) => user.getSession(cb));
    const out = await nodeback((cb) => user.changePassword(PASSWORD, PASSWORD_2, cb));
    assert.equal(out, 'SUCCESS');
    const r = await acijsAuthenticate(newUser(), email, PASSWORD_2);
    assert.equal(r.kind, 'success');
    await expectAcijsError(acijsAuthenticate(newUser(), email, PASSWORD), 'NotAuthorizedException', WRONG);
  });

  it('forgotPassword e-mails a code; confirmPassword with it sets the password', async () => {
    const third = 'Third-Passw0rd!';
    const before = (await readInbox(t.endpoint, s.poolId, email)).filter((m) => m.code).length;
    const user = newUser();
    const delivery = await cbObject((cb) => user.forgotPassword(cb), (resolve) => ({ inputVerificationCode: resolve }));
    assert.equal(delivery.CodeDeliveryDetails.DeliveryMedium, 'EMAIL');
    assert.equal(delivery.CodeDeliveryDetails.AttributeName, 'email');
    const msg = await waitForMessage(t.endpoint, s.poolId, email, { after: before, pred: (m) => m.code });
    const out = await cbObject((cb) => user.confirmPassword(msg.code, third, cb));
    assert.equal(out, 'SUCCESS');
    const r = await acijsAuthenticate(newUser(), email, third);
    assert.equal(r.kind, 'success');
    await expectAcijsError(acijsAuthenticate(newUser(), email, PASSWORD_2), 'NotAuthorizedException', WRONG);
  });

  it('signOut with revocation revokes the refresh token (RevokeToken) and clears the cache', async () => {
    const user = s.pool.getCurrentUser();
    const session = await nodeback((cb) => user.getSession(cb));
    const from = s.pool.calls.length;
    await new Promise((resolve, reject) => user.signOut((err) => (err ? reject(err) : resolve())));
    assert.ok(s.pool.calls.slice(from).some((c) => c.op === 'RevokeToken' && !c.err), 'RevokeToken called and accepted');
    assert.equal(s.pool.getCurrentUser(), null);
    await expectAcijsError(nodeback((cb) => newUser(s.sub).refreshSession(session.getRefreshToken(), cb)),
      'NotAuthorizedException', 'Refresh Token has been revoked');
  });
});

/** Pool with TOTP MFA OPTIONAL (and extra CreateUserPool settings); returns its id. */
async function totpPool(client, extra = {}) {
  const poolId = await createEmailPool(client, extra);
  const out = await client.send(new SetUserPoolMfaConfigCommand({
    UserPoolId: poolId,
    SoftwareTokenMfaConfiguration: { Enabled: true },
    MfaConfiguration: 'OPTIONAL',
  }));
  assert.equal(out.MfaConfiguration, 'OPTIONAL');
  assert.equal(out.SoftwareTokenMfaConfiguration?.Enabled, true);
  return poolId;
}

describe('amazon-cognito-identity-js: TOTP MFA (associateSoftwareToken, verifySoftwareToken, totpRequired)', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-totp');

  before(async () => {
    s.poolId = await totpPool(t.client);
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: SRP_FLOWS })).clientId;
    s.username = await adminCreateConfirmedUser(t.client, s.poolId, email);
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  const newUser = () => new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });

  it('GetUserPoolMfaConfig reports OPTIONAL with software tokens enabled', async () => {
    const out = await t.client.send(new GetUserPoolMfaConfigCommand({ UserPoolId: s.poolId }));
    assert.equal(out.MfaConfiguration, 'OPTIONAL');
    assert.equal(out.SoftwareTokenMfaConfiguration?.Enabled, true);
  });

  it('without a TOTP the user signs in with the password alone', async () => {
    s.user = newUser();
    const r = await acijsAuthenticate(s.user, email, PASSWORD);
    assert.equal(r.kind, 'success', `got ${r.kind} ${r.challengeName ?? ''}`);
  });

  it('associateSoftwareToken gives a base32 secret; verifySoftwareToken accepts the authenticator code', async () => {
    const secret = await new Promise((resolve, reject) => s.user.associateSoftwareToken({
      associateSecretCode: resolve, onFailure: reject,
    }));
    assert.match(secret, /^[A-Z2-7]+=*$/, 'SecretCode is base32');
    assert.ok(secret.replace(/=+$/, '').length >= 16, `secret long enough: ${secret}`);
    s.secret = secret;
    const code = await tobiraTotp(t.endpoint, secret);
    const out = await cbObject((cb) => s.user.verifySoftwareToken(code, 'acijs phone', cb));
    assert.equal(out.Status, 'SUCCESS');
  });

  it('setUserMfaPreference makes TOTP the preferred MFA; getUserData shows it', async () => {
    const out = await nodeback((cb) => s.user.setUserMfaPreference(null, { Enabled: true, PreferredMfa: true }, cb));
    assert.equal(out, 'SUCCESS');
    const data = await nodeback((cb) => s.user.getUserData(cb, { bypassCache: true }));
    assert.deepEqual(data.UserMFASettingList, ['SOFTWARE_TOKEN_MFA']);
    assert.equal(data.PreferredMfaSetting, 'SOFTWARE_TOKEN_MFA');
    const admin = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: email }));
    assert.deepEqual(admin.UserMFASettingList, ['SOFTWARE_TOKEN_MFA']);
    assert.equal(admin.PreferredMfaSetting, 'SOFTWARE_TOKEN_MFA');
  });

  it('the next SRP sign-in stops at SOFTWARE_TOKEN_MFA (totpRequired); the TOTP code completes it', async () => {
    await nextTotpStep(t.endpoint); // the code used for verifySoftwareToken may not be used again
    const from = s.pool.calls.length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired', `got ${r.kind}`);
    assert.equal(r.challengeName, 'SOFTWARE_TOKEN_MFA');
    assert.equal(typeof user.Session, 'string', 'the MFA challenge carries a Session');
    s.usedCode = await tobiraTotp(t.endpoint, s.secret);
    const done = await acijsSendMfaCode(user, s.usedCode, 'SOFTWARE_TOKEN_MFA');
    assert.equal(done.kind, 'success');
    assert.deepEqual(sentChallenges(s.pool, from), ['PASSWORD_VERIFIER', 'SOFTWARE_TOKEN_MFA']);
    const a = accessClaims(done.session);
    assert.equal(a.username, s.username);
  });

  it('the same TOTP code is refused on the next sign-in (a code works once)', async () => {
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired');
    const err = await acijsSendMfaCode(user, s.usedCode, 'SOFTWARE_TOKEN_MFA').then(
      (ok) => assert.fail(`a reused TOTP code was accepted: ${ok.kind}`), (e) => e);
    assert.ok(['CodeMismatchException', 'ExpiredCodeException'].includes(err.code), `got ${err.code}: ${err.message}`);
  });

  it('a wrong TOTP code is CodeMismatchException', async () => {
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired');
    await expectAcijsError(acijsSendMfaCode(user, await wrongTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA'),
      'CodeMismatchException');
  });

  it('last: answering after AuthSessionValidity (3 minutes) is "Invalid session for the user, session is expired."', async () => {
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired');
    await advanceClock(t.endpoint, 3 * 60 + 10);
    await expectAcijsError(acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA'),
      'NotAuthorizedException', 'Invalid session for the user, session is expired.');
  });
});

describe('amazon-cognito-identity-js: remembered devices skip MFA through DEVICE_SRP_AUTH', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-device');

  before(async () => {
    s.poolId = await totpPool(t.client, {
      DeviceConfiguration: { ChallengeRequiredOnNewDevice: true, DeviceOnlyRememberedOnUserPrompt: false },
    });
    s.clientId = (await createAppClient(t.client, s.poolId, {
      secret: false, flows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    })).clientId;
    s.username = await adminCreateConfirmedUser(t.client, s.poolId, email);
    // The user turns on TOTP from another app (plain SDK calls; that app never confirms its device).
    const app = new App(t.client, t.endpoint, s.poolId, { clientId: s.clientId });
    const { AccessToken } = (await app.signIn(email)).AuthenticationResult;
    const { SecretCode } = await t.client.send(new AssociateSoftwareTokenCommand({ AccessToken }));
    s.secret = SecretCode;
    const v = await t.client.send(new VerifySoftwareTokenCommand({
      AccessToken, UserCode: await tobiraTotp(t.endpoint, SecretCode), FriendlyDeviceName: 'phone',
    }));
    assert.equal(v.Status, 'SUCCESS');
    await t.client.send(new SetUserMFAPreferenceCommand({
      AccessToken, SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true },
    }));
    await nextTotpStep(t.endpoint);
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId, memoryStorage());
  });

  const newUser = () => new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });

  it('first sign-in on a new device: TOTP is required, then ACIJS confirms the new device', async () => {
    const from = s.pool.calls.length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired', `a new device must be challenged; got ${r.kind}`);
    const done = await acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA');
    assert.equal(done.kind, 'success');
    assert.notEqual(done.userConfirmationNecessary, true,
      'DeviceOnlyRememberedOnUserPrompt=false: no user confirmation needed');

    const mfaCall = s.pool.calls.slice(from).find((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'SOFTWARE_TOKEN_MFA');
    const meta = mfaCall?.res?.AuthenticationResult?.NewDeviceMetadata;
    assert.ok(meta, `the tokens carry NewDeviceMetadata: ${JSON.stringify(mfaCall?.res?.AuthenticationResult && Object.keys(mfaCall.res.AuthenticationResult))}`);
    assert.match(meta.DeviceKey, /^us-east-1_[0-9a-f-]+$/, 'DeviceKey is <region>_<uuid>');
    assert.equal(typeof meta.DeviceGroupKey, 'string');
    assert.ok(meta.DeviceGroupKey.length > 0);
    const confirm = s.pool.calls.slice(from).find((c) => c.op === 'ConfirmDevice');
    assert.ok(confirm, 'ACIJS called ConfirmDevice');
    assert.ok(!confirm.err, `ConfirmDevice failed: ${confirm.err?.code} ${confirm.err?.message}`);
    assert.equal(confirm.req.DeviceKey, meta.DeviceKey);
    s.deviceName = confirm.req.DeviceName;
    assert.equal(confirm.res.UserConfirmationNecessary, false);

    assert.equal(accessClaims(done.session).device_key, meta.DeviceKey, 'the access token carries device_key');
    assert.equal(s.pool.storage.getItem(`CognitoIdentityServiceProvider.${s.clientId}.${s.username}.deviceKey`), meta.DeviceKey);
    s.deviceKey = meta.DeviceKey;
    s.user = user;
  });

  it('setDeviceStatusRemembered; getDevice / listDevices / AdminGetDevice / AdminListDevices list the device', async () => {
    assert.equal(await cbObject((cb) => s.user.setDeviceStatusRemembered(cb)), 'SUCCESS');
    const got = await cbObject((cb) => s.user.getDevice(cb));
    assert.equal(got.Device.DeviceKey, s.deviceKey);
    for (const k of ['DeviceCreateDate', 'DeviceLastModifiedDate', 'DeviceLastAuthenticatedDate']) {
      assert.ok(got.Device[k], `${k} present: ${JSON.stringify(got.Device)}`);
    }
    const list = await cbObject((cb) => s.user.listDevices(10, null, cb));
    assert.deepEqual(list.Devices.map((d) => d.DeviceKey), [s.deviceKey]);
    const adminList = await t.client.send(new AdminListDevicesCommand({ UserPoolId: s.poolId, Username: email }));
    assert.deepEqual(adminList.Devices.map((d) => d.DeviceKey), [s.deviceKey]);
    const adminGet = await t.client.send(new AdminGetDeviceCommand({ UserPoolId: s.poolId, Username: email, DeviceKey: s.deviceKey }));
    assert.equal(adminGet.Device.DeviceKey, s.deviceKey);
    assert.ok(adminGet.Device.DeviceCreateDate instanceof Date);
  });

  it('device attributes have Cognito\'s shape (device_status valid, dev:device_remembered_status, name, IP)', async () => {
    // API reference, AdminListDevices example: device_status "valid", the remembered state in
    // dev:device_remembered_status, the name the client gave in ConfirmDevice, and the last IP used.
    const got = await cbObject((cb) => s.user.getDevice(cb));
    const attrs = attrMap(got.Device.DeviceAttributes);
    assert.equal(attrs.device_status, 'valid', JSON.stringify(attrs));
    assert.equal(attrs['dev:device_remembered_status'], 'remembered', JSON.stringify(attrs));
    assert.equal(attrs.device_name, s.deviceName);
    assert.equal(attrs.last_ip_used, '127.0.0.1');
  });

  it('after sign-out, the next sign-in on the remembered device goes through DEVICE_SRP_AUTH with no MFA step', async () => {
    s.user.signOut();
    assert.equal(s.pool.getCurrentUser(), null);
    const from = s.pool.calls.length;
    const user = newUser();
    let r = await acijsAuthenticate(user, email, PASSWORD);
    const first = r.kind;
    if (r.kind === 'totpRequired') {
      // Not what Cognito does; finish the sign-in anyway so the steps after this one can run.
      await nextTotpStep(t.endpoint);
      r = await acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA');
    }
    s.user = user;
    assert.equal(first, 'success', `the remembered device must skip MFA; got ${first}; challenges sent: ${sentChallenges(s.pool, from)}`);
    const calls = s.pool.calls.slice(from);
    const pv = calls.find((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'PASSWORD_VERIFIER');
    assert.equal(pv.req.ChallengeResponses.DEVICE_KEY, s.deviceKey, 'ACIJS sent its device key');
    assert.equal(pv.res.ChallengeName, 'DEVICE_SRP_AUTH');
    assert.deepEqual(sentChallenges(s.pool, from), ['PASSWORD_VERIFIER', 'DEVICE_SRP_AUTH', 'DEVICE_PASSWORD_VERIFIER']);
    const dsrp = calls.find((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'DEVICE_SRP_AUTH');
    assert.equal(dsrp.res.ChallengeName, 'DEVICE_PASSWORD_VERIFIER');
    for (const k of ['SRP_B', 'SALT', 'SECRET_BLOCK']) assert.equal(typeof dsrp.res.ChallengeParameters[k], 'string', k);
    assert.ok(!calls.some((c) => c.op === 'ConfirmDevice'), 'no new device to confirm');
    const a = accessClaims(r.session);
    assert.equal(a.device_key, s.deviceKey, 'the access token carries the remembered device_key');
    assert.equal(a.username, s.username);
  });

  it('refreshSession on the remembered device keeps device_key', async () => {
    const session = await nodeback((cb) => s.user.getSession(cb));
    const fresh = await nodeback((cb) => s.user.refreshSession(session.getRefreshToken(), cb));
    assert.equal(accessClaims(fresh).device_key, s.deviceKey);
  });

  it('forgetDevice; AdminListDevices is empty and the next sign-in asks for TOTP again', async () => {
    assert.equal(await cbObject((cb) => s.user.forgetDevice(cb)), 'SUCCESS');
    const adminList = await t.client.send(new AdminListDevicesCommand({ UserPoolId: s.poolId, Username: email }));
    assert.deepEqual(adminList.Devices, []);
    s.user.signOut();
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired', `a forgotten device is new again; got ${r.kind}`);
    await nextTotpStep(t.endpoint);
    const done = await acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA');
    assert.equal(done.kind, 'success');
    s.deviceKey = accessClaims(done.session).device_key;
    assert.ok(s.deviceKey, 'a new device was tracked');
    user.signOut();
  });

  it('a device forgotten by an administrator: ACIJS gets ResourceNotFoundException, retries without it, MFA again', async () => {
    await t.client.send(new AdminForgetDeviceCommand({ UserPoolId: s.poolId, Username: email, DeviceKey: s.deviceKey }));
    const from = s.pool.calls.length;
    const r = await acijsAuthenticate(newUser(), email, PASSWORD);
    const pvs = s.pool.calls.slice(from).filter((c) => c.op === 'RespondToAuthChallenge' && c.req.ChallengeName === 'PASSWORD_VERIFIER');
    assert.equal(pvs[0]?.req.ChallengeResponses.DEVICE_KEY, s.deviceKey, 'the first answer carried the stale key');
    assert.equal(pvs[0]?.err?.code, 'ResourceNotFoundException', `got ${pvs[0]?.err?.code}: ${pvs[0]?.err?.message}`);
    // Cognito's words (reported in amazon-cognito-identity-js #200 and the Amplify retry fixes); ACIJS only
    // retries when the message mentions the device.
    assert.equal(pvs[0].err.message, 'Device does not exist.');
    assert.equal(pvs.length, 2, 'ACIJS answered the same challenge again without DEVICE_KEY');
    assert.ok(!pvs[1].err, `the retry (same SECRET_BLOCK, DEVICE_KEY null) is accepted: ${pvs[1].err?.code} ${pvs[1].err?.message}`);
    assert.equal(r.kind, 'totpRequired');
  });
});
