// Lambda triggers with real Node.js and Python handlers: the exact events Cognito sends (fact
// sheet §5, cognito-observed §1) and what the handlers' answers change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { readInbox, decodeJwt } from '../harness.mjs';
import { acijsPool, CognitoUser, AuthenticationDetails, acijsCallbacks } from '../clientlibs.mjs';
import { useTriggerTobira, envelope, arn, UUID } from '../triggers.mjs';

const t = useTriggerTobira();
const PASSWORD = 'Passw0rd!x';

async function pool(lambdaConfig, extra = {}) {
  const { UserPool } = await t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'triggers', LambdaConfig: lambdaConfig, ...extra }));
  const { UserPoolClient } = await t.client.send(new idp.CreateUserPoolClientCommand({
    UserPoolId: UserPool.Id, ClientName: 'app',
    ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_CUSTOM_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
  }));
  t.reset();
  return { poolId: UserPool.Id, clientId: UserPoolClient.ClientId };
}

async function confirmedUser(poolId, username, attrs = [{ Name: 'email', Value: `${username}@example.com` }]) {
  await t.client.send(new idp.AdminCreateUserCommand({ UserPoolId: poolId, Username: username, MessageAction: 'SUPPRESS', UserAttributes: attrs }));
  await t.client.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: PASSWORD, Permanent: true }));
  const u = await t.client.send(new idp.AdminGetUserCommand({ UserPoolId: poolId, Username: username }));
  t.reset();
  return u.UserAttributes.find((a) => a.Name === 'sub').Value;
}

test('PreSignUp_SignUp: the recorded request, then autoConfirmUser confirms and fires PostConfirmation', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('node'), PostConfirmation: arn('node2') }, { UsernameAttributes: ['email'] });
  t.answer({ PreSignUp_SignUp: { response: { autoConfirmUser: true, autoVerifyEmail: true } } });
  const out = await t.client.send(new idp.SignUpCommand({
    ClientId: clientId, Username: 'info@example.com', Password: PASSWORD,
    UserAttributes: [{ Name: 'name', Value: 'John Doe' }],
    ValidationData: [{ Name: 'company', Value: 'example' }], ClientMetadata: { foo: 'bar' },
  }));
  assert.equal(out.UserConfirmed, true);
  const [pre, post, ...rest] = t.events();
  assert.equal(rest.length, 0);
  assert.deepEqual(pre, {
    ...envelope(poolId, clientId, out.UserSub, 'PreSignUp_SignUp'),
    request: {
      userAttributes: { name: 'John Doe', email: 'info@example.com' },
      validationData: { company: 'example' },
      clientMetadata: { foo: 'bar' },
    },
    response: { autoConfirmUser: false, autoVerifyEmail: false, autoVerifyPhone: false },
  });
  assert.deepEqual(post, {
    ...envelope(poolId, clientId, out.UserSub, 'PostConfirmation_ConfirmSignUp'),
    request: {
      userAttributes: { sub: out.UserSub, 'cognito:user_status': 'CONFIRMED', name: 'John Doe', email: 'info@example.com', email_verified: 'true' },
      clientMetadata: { foo: 'bar' },
    },
    response: {},
  });
  assert.deepEqual(Object.keys(post.request.userAttributes).slice(0, 2), ['sub', 'cognito:user_status']);
});

test('PreSignUp without ValidationData or ClientMetadata; no auto-confirm leaves the user UNCONFIRMED', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('node'), PostConfirmation: arn('node2') });
  await t.client.send(new idp.SignUpCommand({ ClientId: clientId, Username: 'plain', Password: PASSWORD }));
  const [pre, ...rest] = t.events();
  assert.equal(rest.length, 0, 'no PostConfirmation');
  assert.deepEqual(pre.request, { userAttributes: {}, validationData: {} });
  const u = await t.client.send(new idp.AdminGetUserCommand({ UserPoolId: poolId, Username: 'plain' }));
  assert.equal(u.UserStatus, 'UNCONFIRMED');
});

test('PreSignUp_AdminCreateUser ignores the answer and fires no PostConfirmation', async () => {
  const { poolId } = await pool({ PreSignUp: arn('node'), PostConfirmation: arn('node2') });
  t.answer({ PreSignUp_AdminCreateUser: { response: { autoConfirmUser: true } } });
  await t.client.send(new idp.AdminCreateUserCommand({
    UserPoolId: poolId, Username: 'admin-made', MessageAction: 'SUPPRESS',
    UserAttributes: [{ Name: 'email', Value: 'a@example.com' }], ClientMetadata: { via: 'admin' },
  }));
  const events = t.events();
  assert.deepEqual(events.map((e) => e.triggerSource), ['PreSignUp_AdminCreateUser']);
  assert.deepEqual(events[0], {
    ...envelope(poolId, 'CLIENT_ID_NOT_APPLICABLE', 'admin-made', 'PreSignUp_AdminCreateUser'),
    request: { userAttributes: { email: 'a@example.com' }, validationData: {}, clientMetadata: { via: 'admin' } },
    response: { autoConfirmUser: false, autoVerifyEmail: false, autoVerifyPhone: false },
  });
  const u = await t.client.send(new idp.AdminGetUserCommand({ UserPoolId: poolId, Username: 'admin-made' }));
  assert.equal(u.UserStatus, 'FORCE_CHANGE_PASSWORD');
});

test('PostConfirmation on ConfirmSignUp, AdminConfirmSignUp (once) and ConfirmForgotPassword', async () => {
  const { poolId, clientId } = await pool({ PostConfirmation: arn('py') }, { AutoVerifiedAttributes: ['email'] });
  const signUp = async (u) => t.client.send(new idp.SignUpCommand({ ClientId: clientId, Username: u, Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: `${u}@example.com` }] }));
  const a = await signUp('conf-a');
  const [msg] = await readInbox(t.endpoint, poolId, 'conf-a');
  await t.client.send(new idp.ConfirmSignUpCommand({ ClientId: clientId, Username: 'conf-a', ConfirmationCode: msg.code, ClientMetadata: { step: 'confirm' } }));
  await signUp('conf-b');
  await t.client.send(new idp.AdminConfirmSignUpCommand({ UserPoolId: poolId, Username: 'conf-b' }));
  await assert.rejects(t.client.send(new idp.AdminConfirmSignUpCommand({ UserPoolId: poolId, Username: 'conf-b' })), { name: 'NotAuthorizedException' });
  await t.client.send(new idp.ForgotPasswordCommand({ ClientId: clientId, Username: 'conf-a' }));
  const reset = (await readInbox(t.endpoint, poolId, 'conf-a')).at(-1);
  await t.client.send(new idp.ConfirmForgotPasswordCommand({ ClientId: clientId, Username: 'conf-a', ConfirmationCode: reset.code, Password: 'N3w-Passw0rd!' }));

  const recorded = t.recorded();
  assert.ok(recorded.every((r) => r.fn === 'py'), 'the Python handler ran');
  const events = recorded.map((r) => r.event);
  assert.deepEqual(events.map((e) => `${e.triggerSource}:${e.userName}`), [
    'PostConfirmation_ConfirmSignUp:conf-a', 'PostConfirmation_ConfirmSignUp:conf-b', 'PostConfirmation_ConfirmForgotPassword:conf-a',
  ]);
  assert.deepEqual(events[0], {
    ...envelope(poolId, clientId, 'conf-a', 'PostConfirmation_ConfirmSignUp'),
    request: {
      userAttributes: { sub: a.UserSub, 'cognito:user_status': 'CONFIRMED', email: 'conf-a@example.com', email_verified: 'true' },
      clientMetadata: { step: 'confirm' },
    },
    response: {},
  });
  assert.equal(events[1].callerContext.clientId, 'CLIENT_ID_NOT_APPLICABLE');
  assert.ok(!('clientMetadata' in events[1].request));
});

test('Pre- and PostAuthentication around a password sign-in; validationData is InitiateAuth\'s ClientMetadata', async () => {
  const { poolId, clientId } = await pool({ PreAuthentication: arn('node'), PostAuthentication: arn('node2') });
  const sub = await confirmedUser(poolId, 'auth-user');
  await t.client.send(new idp.InitiateAuthCommand({
    ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'auth-user', PASSWORD }, ClientMetadata: { app: 'web' },
  }));
  const attrs = { sub, 'cognito:user_status': 'CONFIRMED', email: 'auth-user@example.com' };
  assert.deepEqual(t.events(), [
    { ...envelope(poolId, clientId, 'auth-user', 'PreAuthentication_Authentication'), request: { userAttributes: attrs, validationData: { app: 'web' } }, response: {} },
    { ...envelope(poolId, clientId, 'auth-user', 'PostAuthentication_Authentication'), request: { userAttributes: attrs, newDeviceUsed: false }, response: {} },
  ]);

  // PreAuthentication refuses: the sign-in fails before the password is looked at.
  t.reset();
  t.answer({ PreAuthentication_Authentication: { throw: 'Sign-in is closed for maintenance' } });
  await assert.rejects(
    t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'auth-user', PASSWORD: 'wrong' } })),
    { name: 'UserLambdaValidationException', message: 'PreAuthentication failed with error Sign-in is closed for maintenance.' },
  );
  assert.deepEqual(t.events().map((e) => e.triggerSource), ['PreAuthentication_Authentication']);
});

test('SRP sign-in with amazon-cognito-identity-js fires Pre/PostAuthentication and TokenGeneration_Authentication', async () => {
  const { poolId, clientId } = await pool({ PreAuthentication: arn('node'), PostAuthentication: arn('node2'), PreTokenGeneration: arn('node3') });
  await confirmedUser(poolId, 'srp-user');
  const acijs = acijsPool(t.endpoint, poolId, clientId);
  const user = new CognitoUser({ Username: 'srp-user', Pool: acijs });
  const r = await new Promise((res, rej) => user.authenticateUser(new AuthenticationDetails({ Username: 'srp-user', Password: PASSWORD }), acijsCallbacks(res, rej)));
  assert.equal(r.kind, 'success');
  assert.deepEqual(t.events().map((e) => e.triggerSource), ['PreAuthentication_Authentication', 'PostAuthentication_Authentication', 'TokenGeneration_Authentication']);
  const inv = await t.invocations(poolId);
  assert.deepEqual(inv.map((i) => `${i.function}:${i.source}:${i.outcome}`), [
    'node:PreAuthentication_Authentication:ok', 'node2:PostAuthentication_Authentication:ok', 'node3:TokenGeneration_Authentication:ok',
  ]);
  for (const i of inv) {
    assert.equal(i.poolId, poolId);
    assert.match(i.requestId, UUID);
    assert.equal(typeof i.durationMs, 'number');
  }
});

test('PreTokenGeneration V1: the recorded event, claim overrides in the ID token, groups in both tokens, on refresh too', async () => {
  const { poolId, clientId } = await pool({ PreTokenGeneration: arn('node') }, { Schema: [{ Name: 'userId', AttributeDataType: 'String', Mutable: true }] });
  const sub = await confirmedUser(poolId, 'tok-user', [{ Name: 'custom:userId', Value: 'u-1' }]);
  await t.client.send(new idp.CreateGroupCommand({ UserPoolId: poolId, GroupName: 'group3' }));
  await t.client.send(new idp.AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: 'tok-user', GroupName: 'group3' }));
  t.reset();
  const overrides = { node: { response: { claimsOverrideDetails: {
    claimsToAddOrOverride: { add_attr1: 'value1' }, claimsToSuppress: ['username', 'client_id', 'custom:userId'],
    groupOverrideDetails: { groupsToOverride: ['group1', 'group2'] },
  } } } };
  t.answer(overrides);
  const auth = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'tok-user', PASSWORD } }));
  const [event] = t.events();
  assert.deepEqual(event, {
    ...envelope(poolId, clientId, 'tok-user', 'TokenGeneration_Authentication'),
    request: {
      userAttributes: { sub, 'cognito:user_status': 'CONFIRMED', 'custom:userId': 'u-1' },
      groupConfiguration: { groupsToOverride: ['group3'], iamRolesToOverride: [], preferredRole: null },
    },
    response: { claimsOverrideDetails: null },
  });
  const id = decodeJwt(auth.AuthenticationResult.IdToken).payload;
  const access = decodeJwt(auth.AuthenticationResult.AccessToken).payload;
  assert.equal(id.add_attr1, 'value1');
  assert.ok(!('custom:userId' in id));
  assert.deepEqual(id['cognito:groups'], ['group1', 'group2']);
  assert.deepEqual(access['cognito:groups'], ['group1', 'group2']);
  assert.equal(access.username, 'tok-user', 'V1 does not touch the access token');
  assert.equal(access.client_id, clientId);
  const { Users } = await t.client.send(new idp.ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: 'group3' }));
  assert.equal(Users.length, 1, 'group membership itself is unchanged');

  t.reset();
  t.answer(overrides);
  const refreshed = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: auth.AuthenticationResult.RefreshToken } }));
  assert.deepEqual(t.events().map((e) => e.triggerSource), ['TokenGeneration_RefreshTokens']);
  assert.equal(decodeJwt(refreshed.AuthenticationResult.IdToken).payload.add_attr1, 'value1');
});

test('PreTokenGeneration V2_0: scopes in the request, ID and access token claims, scopesToAdd', async () => {
  const { poolId, clientId } = await pool({ PreTokenGenerationConfig: { LambdaVersion: 'V2_0', LambdaArn: arn('node') } });
  await confirmedUser(poolId, 'v2-user');
  t.answer({ node: { response: { claimsAndScopeOverrideDetails: {
    idTokenGeneration: { claimsToAddOrOverride: { family_name: 'Doe', website: 'https://example.com' } },
    accessTokenGeneration: { claimsToAddOrOverride: { nickname: 'jd', roles: ['a', 'b'] }, scopesToAdd: ['openid', 'email'] },
  } } } });
  const auth = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'v2-user', PASSWORD } }));
  const [event] = t.events();
  assert.equal(event.version, '2');
  assert.deepEqual(event.request.scopes, ['aws.cognito.signin.user.admin']);
  assert.deepEqual(event.response, { claimsAndScopeOverrideDetails: null });
  const id = decodeJwt(auth.AuthenticationResult.IdToken).payload;
  const access = decodeJwt(auth.AuthenticationResult.AccessToken).payload;
  assert.equal(id.family_name, 'Doe');
  assert.equal(id.website, 'https://example.com');
  assert.equal(access.nickname, 'jd');
  assert.deepEqual(access.roles, ['a', 'b']);
  assert.equal(access.scope, 'aws.cognito.signin.user.admin openid email');
  const described = await t.client.send(new idp.DescribeUserPoolCommand({ UserPoolId: poolId }));
  assert.equal(described.UserPool.LambdaConfig.PreTokenGeneration, arn('node'));
});

test('UserMigration_Authentication: asked once, creates the user, tokens at once; ForgotPassword migrates too', async () => {
  const { poolId, clientId } = await pool({ UserMigration: arn('node') });
  t.answer({ UserMigration_Authentication: { response: { userAttributes: { email: 'legacy@example.com', email_verified: 'true' }, finalUserStatus: 'CONFIRMED', messageAction: 'SUPPRESS' } },
    UserMigration_ForgotPassword: { response: { userAttributes: { email: 'old2@example.com', email_verified: 'true' }, messageAction: 'SUPPRESS' } } });
  const first = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'legacy', PASSWORD }, ClientMetadata: { foo: 'bar' } }));
  assert.ok(first.AuthenticationResult.IdToken);
  const [event] = t.events();
  assert.deepEqual(event, {
    ...envelope(poolId, clientId, 'legacy', 'UserMigration_Authentication'),
    request: { password: PASSWORD, validationData: { foo: 'bar' }, userAttributes: null },
    response: { userAttributes: null, forceAliasCreation: null, enableSMSMFA: null, finalUserStatus: null, messageAction: null, desiredDeliveryMediums: null },
  });
  const second = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'legacy', PASSWORD } }));
  assert.equal(decodeJwt(second.AuthenticationResult.IdToken).payload.sub, decodeJwt(first.AuthenticationResult.IdToken).payload.sub);
  assert.equal(t.events().length, 1, 'invoked once per user');

  t.reset();
  t.answer({ UserMigration_Authentication: { throw: 'Unknown user' } });
  await assert.rejects(
    t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'nobody', PASSWORD } })),
    { name: 'UserNotFoundException', message: 'UserMigration failed with error Unknown user.' },
  );

  t.answer({ UserMigration_ForgotPassword: { response: { userAttributes: { email: 'old2@example.com', email_verified: 'true' }, messageAction: 'SUPPRESS' } } });
  const fp = await t.client.send(new idp.ForgotPasswordCommand({ ClientId: clientId, Username: 'old2' }));
  assert.equal(fp.CodeDeliveryDetails.DeliveryMedium, 'EMAIL');
  const fpEvent = t.events('UserMigration_ForgotPassword')[0];
  assert.deepEqual(fpEvent.request, { validationData: {}, userAttributes: null });
  const u = await t.client.send(new idp.AdminGetUserCommand({ UserPoolId: poolId, Username: 'old2' }));
  assert.equal(u.UserStatus, 'RESET_REQUIRED');
});

test('CustomMessage for every message a user gets, with the text the handler writes', async () => {
  const { poolId, clientId } = await pool({ CustomMessage: arn('node') }, { AutoVerifiedAttributes: ['email'] });
  const custom = { response: { emailSubject: 'Hello from the app', emailMessage: 'Your code: {####}' } };
  t.answer({
    CustomMessage_SignUp: custom, CustomMessage_ResendCode: custom, CustomMessage_ForgotPassword: custom,
    CustomMessage_UpdateUserAttribute: custom, CustomMessage_VerifyUserAttribute: custom,
    CustomMessage_AdminCreateUser: { response: { emailSubject: 'Welcome', emailMessage: 'Log in as {username} with {####}' } },
  });
  await t.client.send(new idp.SignUpCommand({ ClientId: clientId, Username: 'msg-user', Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: 'm@example.com' }], ClientMetadata: { lang: 'ja' } }));
  await t.client.send(new idp.ResendConfirmationCodeCommand({ ClientId: clientId, Username: 'msg-user' }));
  const msgs = await readInbox(t.endpoint, poolId, 'msg-user');
  await t.client.send(new idp.ConfirmSignUpCommand({ ClientId: clientId, Username: 'msg-user', ConfirmationCode: msgs.at(-1).code }));
  await t.client.send(new idp.ForgotPasswordCommand({ ClientId: clientId, Username: 'msg-user' }));
  const auth = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'msg-user', PASSWORD } }))
    .catch(() => null);
  await t.client.send(new idp.AdminCreateUserCommand({ UserPoolId: poolId, Username: 'invited', UserAttributes: [{ Name: 'email', Value: 'i@example.com' }], DesiredDeliveryMediums: ['EMAIL'] }));
  const sources = t.events().map((e) => e.triggerSource);
  assert.deepEqual(sources, ['CustomMessage_SignUp', 'CustomMessage_ResendCode', 'CustomMessage_ForgotPassword', 'CustomMessage_AdminCreateUser']);
  const [signUp] = t.events();
  assert.deepEqual(signUp.request, {
    userAttributes: { sub: signUp.request.userAttributes.sub, 'cognito:user_status': 'UNCONFIRMED', email: 'm@example.com', email_verified: 'false' },
    codeParameter: '{####}', linkParameter: '{##Click Here##}', usernameParameter: null, clientMetadata: { lang: 'ja' },
  });
  assert.deepEqual(signUp.response, { smsMessage: null, emailMessage: null, emailSubject: null });
  const all = await readInbox(t.endpoint, poolId, 'msg-user');
  assert.equal(all[0].subject, 'Hello from the app');
  assert.equal(all[0].message, `Your code: ${all[0].code}`);
  const invite = (await readInbox(t.endpoint, poolId, 'invited'))[0];
  assert.equal(invite.subject, 'Welcome');
  assert.equal(invite.message, `Log in as invited with ${invite.code}`);
  assert.equal(t.events('CustomMessage_AdminCreateUser')[0].request.usernameParameter, '{username}');

  // Attribute updates and verifications, through the signed-in user.
  t.reset();
  t.answer({ CustomMessage_UpdateUserAttribute: custom, CustomMessage_VerifyUserAttribute: custom });
  const user = await t.client.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: 'msg-user', Password: PASSWORD, Permanent: true })).then(() =>
    t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'msg-user', PASSWORD } })));
  void auth;
  const token = user.AuthenticationResult.AccessToken;
  await t.client.send(new idp.UpdateUserAttributesCommand({ AccessToken: token, UserAttributes: [{ Name: 'email', Value: 'm2@example.com' }] }));
  await t.client.send(new idp.GetUserAttributeVerificationCodeCommand({ AccessToken: token, AttributeName: 'email' }));
  assert.deepEqual(t.events().map((e) => e.triggerSource), ['CustomMessage_UpdateUserAttribute', 'CustomMessage_VerifyUserAttribute']);
});

test('CUSTOM_AUTH with SRP inside, driven by amazon-cognito-identity-js: the session history Define sees', async () => {
  const { poolId, clientId } = await pool({ DefineAuthChallenge: arn('node'), CreateAuthChallenge: arn('node2'), VerifyAuthChallengeResponse: arn('node3') });
  const sub = await confirmedUser(poolId, 'custom-user');
  t.answer({
    node: { define: true },
    node2: { response: { publicChallengeParameters: { question: 'colour?' }, privateChallengeParameters: { answer: 'blue' }, challengeMetadata: 'COLOUR' } },
    node3: { response: { answerCorrect: true } },
  });
  const acijs = acijsPool(t.endpoint, poolId, clientId);
  const user = new CognitoUser({ Username: 'custom-user', Pool: acijs });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  const challenge = await new Promise((res, rej) => user.authenticateUser(new AuthenticationDetails({ Username: 'custom-user', Password: PASSWORD }), acijsCallbacks(res, rej)));
  assert.equal(challenge.kind, 'customChallenge');
  assert.equal(challenge.params.question, 'colour?');
  const done = await new Promise((res, rej) => user.sendCustomChallengeAnswer('blue', acijsCallbacks(res, rej)));
  assert.equal(done.kind, 'success');

  const events = t.events();
  assert.deepEqual(events.map((e) => e.triggerSource), [
    'DefineAuthChallenge_Authentication', 'DefineAuthChallenge_Authentication', 'CreateAuthChallenge_Authentication',
    'VerifyAuthChallengeResponse_Authentication', 'DefineAuthChallenge_Authentication',
  ]);
  const attrs = { sub, 'cognito:user_status': 'CONFIRMED', email: 'custom-user@example.com' };
  assert.deepEqual(events[0], {
    ...envelope(poolId, clientId, 'custom-user', 'DefineAuthChallenge_Authentication'),
    request: { userAttributes: attrs, session: [{ challengeName: 'SRP_A', challengeResult: true, challengeMetadata: null }] },
    response: { challengeName: null, issueTokens: null, failAuthentication: null },
  });
  assert.deepEqual(events[1].request.session.map((s) => s.challengeName), ['SRP_A', 'PASSWORD_VERIFIER']);
  assert.deepEqual(events[2].request, { userAttributes: attrs, challengeName: 'CUSTOM_CHALLENGE', session: events[1].request.session });
  assert.deepEqual(events[2].response, { publicChallengeParameters: null, privateChallengeParameters: null, challengeMetadata: null });
  assert.deepEqual(events[3].request, { userAttributes: attrs, privateChallengeParameters: { answer: 'blue' }, challengeAnswer: 'blue' });
  assert.deepEqual(events[3].response, { answerCorrect: null });
  assert.deepEqual(events[4].request.session.at(-1), { challengeName: 'CUSTOM_CHALLENGE', challengeResult: true, challengeMetadata: 'COLOUR' });
});

test('CUSTOM_AUTH needs a DefineAuthChallenge trigger', async () => {
  const { clientId } = await pool({});
  await assert.rejects(
    t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'CUSTOM_AUTH', AuthParameters: { USERNAME: 'x' } })),
    { name: 'InvalidParameterException', message: 'Custom auth lambda trigger is not configured for the user pool.' },
  );
});

test('TokenGeneration_NewPasswordChallenge when an invited user sets a password; CustomSMSSender for a phone', async () => {
  const { poolId, clientId } = await pool({
    PreTokenGeneration: arn('node'),
    CustomSMSSender: { LambdaVersion: 'V1_0', LambdaArn: arn('node2') },
    KMSKeyID: 'arn:aws:kms:us-east-1:123456789012:key/sms',
  }, { AutoVerifiedAttributes: ['phone_number'] });
  await t.client.send(new idp.AdminCreateUserCommand({ UserPoolId: poolId, Username: 'invitee', TemporaryPassword: 'Temp-Passw0rd!', MessageAction: 'SUPPRESS' }));
  t.reset();
  const first = await t.client.send(new idp.InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'invitee', PASSWORD: 'Temp-Passw0rd!' } }));
  assert.equal(first.ChallengeName, 'NEW_PASSWORD_REQUIRED');
  assert.equal(t.events().length, 0, 'no tokens yet, no PreTokenGeneration');
  const done = await t.client.send(new idp.RespondToAuthChallengeCommand({
    ClientId: clientId, ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: first.Session,
    ChallengeResponses: { USERNAME: 'invitee', NEW_PASSWORD: PASSWORD }, ClientMetadata: { via: 'respond' },
  }));
  assert.ok(done.AuthenticationResult.IdToken);
  const [event] = t.events();
  assert.equal(event.triggerSource, 'TokenGeneration_NewPasswordChallenge');
  assert.deepEqual(event.request.clientMetadata, { via: 'respond' }, 'RespondToAuthChallenge\'s ClientMetadata reaches PreTokenGeneration');

  t.reset();
  const out = await t.client.send(new idp.SignUpCommand({ ClientId: clientId, Username: 'phoned', Password: PASSWORD, UserAttributes: [{ Name: 'phone_number', Value: '+819012345678' }] }));
  const deadline = Date.now() + 10_000;
  while (t.events('CustomSMSSender_SignUp').length === 0) {
    assert.ok(Date.now() < deadline, 'CustomSMSSender was invoked');
    await new Promise((r) => setTimeout(r, 25));
  }
  const [sms] = t.events('CustomSMSSender_SignUp');
  assert.equal(sms.request.type, 'customSMSSenderRequestV1');
  assert.equal(sms.request.userAttributes.sub, out.UserSub);
  assert.equal(sms.request.userAttributes.phone_number, '+819012345678');
  assert.match(sms.request.code, /^[A-Za-z0-9+/]+=*$/);
});
