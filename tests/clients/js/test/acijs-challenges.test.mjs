// amazon-cognito-identity-js through the other challenges an app meets after SRP: NEW_PASSWORD_REQUIRED
// (newPasswordRequired / completeNewPasswordChallenge), MFA_SETUP (mfaSetup, then associate/verify with the
// challenge session), SELECT_MFA_TYPE (selectMFAType / sendMFASelectionAnswer) and SMS_MFA (mfaRequired,
// code from tobira's inbox).

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  SetUserPoolMfaConfigCommand,
  AdminCreateUserCommand,
  AdminSetUserMFAPreferenceCommand,
  AdminGetUserCommand,
  AssociateSoftwareTokenCommand,
  VerifySoftwareTokenCommand,
  RespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { useTobira, waitForMessage, readInbox } from '../harness.mjs';
import {
  createEmailPool, createAppClient, adminCreateConfirmedUser, App, PASSWORD, randomEmail,
} from '../fixtures.mjs';
import {
  acijsPool, CognitoUser, acijsAuthenticate, acijsSendMfaCode, acijsCallbacks, cbObject, expectAcijsError,
  tobiraTotp, nextTotpStep, accessClaims, sentChallenges,
} from '../clientlibs.mjs';

const FLOWS = ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
const SMS = {
  SmsAuthenticationMessage: 'Your sign-in code is {####}',
  SmsConfiguration: { SnsCallerArn: 'arn:aws:iam::123456789012:role/cognito-sms', ExternalId: 'tobira-tests', SnsRegion: 'us-east-1' },
};

describe('amazon-cognito-identity-js: NEW_PASSWORD_REQUIRED after SRP', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-newpw');

  before(async () => {
    s.poolId = await createEmailPool(t.client);
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: FLOWS })).clientId;
    const out = await t.client.send(new AdminCreateUserCommand({
      UserPoolId: s.poolId, Username: email, MessageAction: 'SUPPRESS', TemporaryPassword: 'Temp-Passw0rd!',
      UserAttributes: [{ Name: 'email', Value: email }, { Name: 'email_verified', Value: 'true' }],
    }));
    s.sub = out.User.Username;
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  it('the temporary password over SRP gives newPasswordRequired; completeNewPasswordChallenge signs in', async () => {
    const user = new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });
    const r = await acijsAuthenticate(user, email, 'Temp-Passw0rd!');
    assert.equal(r.kind, 'newPasswordRequired');
    assert.equal(typeof r.userAttributes, 'object', 'userAttributes parsed from the JSON string');
    assert.ok(Array.isArray(r.requiredAttributes));
    const done = await new Promise((resolve, reject) => user.completeNewPasswordChallenge(PASSWORD, {}, acijsCallbacks(resolve, reject)));
    assert.equal(done.kind, 'success');
    assert.equal(accessClaims(done.session).username, s.sub);
    const admin = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: email }));
    assert.equal(admin.UserStatus, 'CONFIRMED');
    const again = await acijsAuthenticate(new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage }), email, PASSWORD);
    assert.equal(again.kind, 'success');
  });
});

describe('amazon-cognito-identity-js: MFA_SETUP when the pool requires MFA (mfaSetup)', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-setup');

  before(async () => {
    s.poolId = await createEmailPool(t.client);
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.poolId, SoftwareTokenMfaConfiguration: { Enabled: true }, MfaConfiguration: 'ON',
    }));
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: FLOWS })).clientId;
    s.sub = await adminCreateConfirmedUser(t.client, s.poolId, email);
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  it('sign-in stops at mfaSetup; associate + verify with the challenge session finish the sign-in', async () => {
    const from = s.pool.calls.length;
    const user = new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'mfaSetup', `got ${r.kind}`);
    assert.equal(r.challengeName, 'MFA_SETUP');
    assert.deepEqual(JSON.parse(r.params.MFAS_CAN_SETUP), ['SOFTWARE_TOKEN_MFA']);
    const secret = await new Promise((resolve, reject) => user.associateSoftwareToken({ associateSecretCode: resolve, onFailure: reject }));
    const assoc = s.pool.calls.slice(from).find((c) => c.op === 'AssociateSoftwareToken');
    assert.ok(assoc.req.Session && !assoc.req.AccessToken, 'associated with the challenge session');
    assert.equal(typeof assoc.res.Session, 'string', 'AssociateSoftwareToken returns a new Session');
    const code = await tobiraTotp(t.endpoint, secret);
    const session = await cbObject((cb) => user.verifySoftwareToken(code, 'setup phone', cb));
    assert.equal(session.isValid(), true);
    assert.equal(accessClaims(session).username, s.sub);
    assert.deepEqual(sentChallenges(s.pool, from), ['PASSWORD_VERIFIER', 'MFA_SETUP']);
    s.secret = secret;
  });

  it('from then on the user is asked for the TOTP code', async () => {
    await nextTotpStep(t.endpoint);
    const user = new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'totpRequired', `got ${r.kind}`);
    const done = await acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA');
    assert.equal(done.kind, 'success');
    const admin = await t.client.send(new AdminGetUserCommand({ UserPoolId: s.poolId, Username: email }));
    assert.deepEqual(admin.UserMFASettingList, ['SOFTWARE_TOKEN_MFA']);
  });
});

describe('amazon-cognito-identity-js: SMS_MFA and SELECT_MFA_TYPE', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-sms');
  const phone = '+15555550188';

  before(async () => {
    s.poolId = await createEmailPool(t.client, { SmsConfiguration: SMS.SmsConfiguration });
    await t.client.send(new SetUserPoolMfaConfigCommand({
      UserPoolId: s.poolId, MfaConfiguration: 'OPTIONAL',
      SoftwareTokenMfaConfiguration: { Enabled: true }, SmsMfaConfiguration: SMS,
    }));
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: FLOWS })).clientId;
    s.sub = await adminCreateConfirmedUser(t.client, s.poolId, email, PASSWORD, [
      { Name: 'phone_number', Value: phone }, { Name: 'phone_number_verified', Value: 'true' },
    ]);
    await t.client.send(new AdminSetUserMFAPreferenceCommand({
      UserPoolId: s.poolId, Username: email, SMSMfaSettings: { Enabled: true, PreferredMfa: true },
    }));
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  const newUser = () => new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });

  it('SMS preferred: mfaRequired with a masked phone; the code from the SMS inbox signs in', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, phone)).filter((m) => m.code).length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'mfaRequired', `got ${r.kind}`);
    assert.equal(r.challengeName, 'SMS_MFA');
    assert.equal(r.params.CODE_DELIVERY_DELIVERY_MEDIUM, 'SMS');
    assert.ok(r.params.CODE_DELIVERY_DESTINATION.includes('*') && r.params.CODE_DELIVERY_DESTINATION !== phone,
      `masked: ${r.params.CODE_DELIVERY_DESTINATION}`);
    const msg = await waitForMessage(t.endpoint, s.poolId, phone, { after: before, pred: (m) => m.code });
    assert.equal(msg.channel, 'SMS');
    assert.equal(msg.destination, phone);
    const done = await acijsSendMfaCode(user, msg.code); // ACIJS's default mfaType is SMS_MFA
    assert.equal(done.kind, 'success');
    assert.equal(accessClaims(done.session).username, s.sub);
  });

  it('a wrong SMS code is CodeMismatchException', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, phone)).filter((m) => m.code).length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'mfaRequired');
    const msg = await waitForMessage(t.endpoint, s.poolId, phone, { after: before, pred: (m) => m.code });
    const wrong = String((Number(msg.code) + 1) % 10 ** msg.code.length).padStart(msg.code.length, '0');
    await expectAcijsError(acijsSendMfaCode(user, wrong), 'CodeMismatchException');
  });

  it('SMS and TOTP enabled, none preferred: selectMFAType; choosing SOFTWARE_TOKEN_MFA leads to totpRequired', async () => {
    // The user adds a TOTP (plain SDK calls from a signed-in session) and clears the preference.
    const app = new App(t.client, t.endpoint, s.poolId, { clientId: s.clientId });
    const first = await app.signIn(email);
    assert.equal(first.ChallengeName, 'SMS_MFA');
    const code = (await readInbox(t.endpoint, s.poolId, phone)).filter((m) => m.code).at(-1).code;
    const ok = await t.client.send(new RespondToAuthChallengeCommand({
      ClientId: s.clientId, ChallengeName: 'SMS_MFA', Session: first.Session,
      ChallengeResponses: { USERNAME: s.sub, SMS_MFA_CODE: code },
    }));
    const { AccessToken } = ok.AuthenticationResult;
    s.secret = (await t.client.send(new AssociateSoftwareTokenCommand({ AccessToken }))).SecretCode;
    await t.client.send(new VerifySoftwareTokenCommand({ AccessToken, UserCode: await tobiraTotp(t.endpoint, s.secret) }));
    await t.client.send(new AdminSetUserMFAPreferenceCommand({
      UserPoolId: s.poolId, Username: email,
      SMSMfaSettings: { Enabled: true, PreferredMfa: false }, SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: false },
    }));
    await nextTotpStep(t.endpoint);

    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'selectMFAType', `got ${r.kind}`);
    assert.deepEqual(JSON.parse(r.params.MFAS_CAN_CHOOSE).sort(), ['SMS_MFA', 'SOFTWARE_TOKEN_MFA']);
    const next = await new Promise((resolve, reject) => user.sendMFASelectionAnswer('SOFTWARE_TOKEN_MFA', acijsCallbacks(resolve, reject)));
    assert.equal(next.kind, 'totpRequired');
    assert.equal(next.challengeName, 'SOFTWARE_TOKEN_MFA');
    const done = await acijsSendMfaCode(user, await tobiraTotp(t.endpoint, s.secret), 'SOFTWARE_TOKEN_MFA');
    assert.equal(done.kind, 'success');
  });

  it('choosing SMS_MFA at selectMFAType leads to mfaRequired and an SMS code', async () => {
    const before = (await readInbox(t.endpoint, s.poolId, phone)).filter((m) => m.code).length;
    const user = newUser();
    const r = await acijsAuthenticate(user, email, PASSWORD);
    assert.equal(r.kind, 'selectMFAType');
    const next = await new Promise((resolve, reject) => user.sendMFASelectionAnswer('SMS_MFA', acijsCallbacks(resolve, reject)));
    assert.equal(next.kind, 'mfaRequired');
    const msg = await waitForMessage(t.endpoint, s.poolId, phone, { after: before, pred: (m) => m.code });
    const done = await acijsSendMfaCode(user, msg.code, 'SMS_MFA');
    assert.equal(done.kind, 'success');
  });
});

describe('amazon-cognito-identity-js: enableMFA / getMFAOptions / disableMFA (the legacy SMS setting)', () => {
  const t = useTobira();
  const s = {};
  const email = randomEmail('acijs-legacy');
  const phone = '+15555550177';

  before(async () => {
    s.poolId = await createEmailPool(t.client, { SmsConfiguration: SMS.SmsConfiguration });
    await t.client.send(new SetUserPoolMfaConfigCommand({ UserPoolId: s.poolId, MfaConfiguration: 'OPTIONAL', SmsMfaConfiguration: SMS }));
    s.clientId = (await createAppClient(t.client, s.poolId, { secret: false, flows: FLOWS })).clientId;
    await adminCreateConfirmedUser(t.client, s.poolId, email, PASSWORD, [
      { Name: 'phone_number', Value: phone }, { Name: 'phone_number_verified', Value: 'true' },
    ]);
    s.pool = acijsPool(t.endpoint, s.poolId, s.clientId);
  });

  const newUser = () => new CognitoUser({ Username: email, Pool: s.pool, Storage: s.pool.storage });
  const call = (user, method) => new Promise((resolve, reject) => user[method]((err, out) => (err ? reject(err) : resolve(out))));

  it('enableMFA turns SMS MFA on: getMFAOptions lists it and the next sign-in asks for the SMS code', async () => {
    const user = newUser();
    assert.equal((await acijsAuthenticate(user, email, PASSWORD)).kind, 'success');
    assert.equal(await call(user, 'getMFAOptions'), undefined, 'no MFA options before');
    assert.equal(await call(user, 'enableMFA'), 'SUCCESS');
    assert.deepEqual(await call(user, 'getMFAOptions'), [{ DeliveryMedium: 'SMS', AttributeName: 'phone_number' }]);
    const before = (await readInbox(t.endpoint, s.poolId, phone)).filter((m) => m.code).length;
    const again = newUser();
    const r = await acijsAuthenticate(again, email, PASSWORD);
    assert.equal(r.kind, 'mfaRequired');
    assert.equal(r.challengeName, 'SMS_MFA');
    const msg = await waitForMessage(t.endpoint, s.poolId, phone, { after: before, pred: (m) => m.code });
    assert.equal((await acijsSendMfaCode(again, msg.code)).kind, 'success');
    assert.equal(await call(again, 'disableMFA'), 'SUCCESS');
    assert.equal(await call(again, 'getMFAOptions'), undefined);
    assert.equal((await acijsAuthenticate(newUser(), email, PASSWORD)).kind, 'success', 'no MFA once disabled');
  });
});
