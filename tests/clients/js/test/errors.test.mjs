// Errors with Cognito's exact names, messages and HTTP status.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  InitiateAuthCommand,
  AdminInitiateAuthCommand,
  AdminDisableUserCommand,
  AdminEnableUserCommand,
  AdminGetUserCommand,
  AdminSetUserPasswordCommand,
  ListUsersCommand,
  SignUpCommand,
  CreateUserPoolCommand,
  DescribeUserPoolCommand,
  ConfirmSignUpCommand,
  ResendConfirmationCodeCommand,
  AdminDeleteUserCommand,
  DeleteUserCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { useTobira, expectCognitoError, secretHash, uniq, waitForMessage } from '../harness.mjs';
import {
  createEmailPool, createAppClient, adminCreateConfirmedUser, App, PASSWORD, randomEmail,
} from '../fixtures.mjs';

const WRONG = 'Wrong-Passw0rd!';

describe('sign-in errors', () => {
  const t = useTobira();
  let poolId;
  let app; // secret client, PreventUserExistenceErrors not set
  let legacy; // no secret, LEGACY
  let enabled; // no secret, ENABLED
  const email = randomEmail('known');

  before(async () => {
    poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: true }));
    legacy = new App(t.client, t.endpoint, poolId,
      await createAppClient(t.client, poolId, { secret: false, PreventUserExistenceErrors: 'LEGACY' }));
    enabled = new App(t.client, t.endpoint, poolId,
      await createAppClient(t.client, poolId, { secret: false, PreventUserExistenceErrors: 'ENABLED' }));
    await adminCreateConfirmedUser(t.client, poolId, email);
  });

  it('the user can sign in (sanity check for the cases below)', async () => {
    const out = await app.signIn(email);
    assert.equal(typeof out.AuthenticationResult.AccessToken, 'string');
  });

  it('wrong password: NotAuthorizedException "Incorrect username or password."', async () => {
    await expectCognitoError(app.signIn(email, WRONG), 'NotAuthorizedException', 'Incorrect username or password.');
    await expectCognitoError(legacy.signIn(email, WRONG), 'NotAuthorizedException', 'Incorrect username or password.');
    await expectCognitoError(enabled.signIn(email, WRONG), 'NotAuthorizedException', 'Incorrect username or password.');
  });

  it('wrong password with ADMIN_USER_PASSWORD_AUTH: same error', async () => {
    await expectCognitoError(t.client.send(new AdminInitiateAuthCommand({
      UserPoolId: poolId,
      ClientId: app.clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: WRONG, SECRET_HASH: app.hash(email) },
    })), 'NotAuthorizedException', 'Incorrect username or password.');
  });

  it('unconfirmed user: UserNotConfirmedException "User is not confirmed."', async () => {
    const pending = randomEmail('pending');
    const out = await app.signUp(pending);
    assert.equal(out.UserConfirmed, false);
    await expectCognitoError(app.signIn(pending), 'UserNotConfirmedException', 'User is not confirmed.');
  });

  it('ResendConfirmationCode sends a new code that confirms the user', async () => {
    const pending = randomEmail('resend');
    await app.signUp(pending);
    await waitForMessage(t.endpoint, poolId, pending, { pred: (m) => m.code });
    const out = await t.client.send(new ResendConfirmationCodeCommand({
      ClientId: app.clientId, SecretHash: app.hash(pending), Username: pending,
    }));
    assert.equal(out.CodeDeliveryDetails.DeliveryMedium, 'EMAIL');
    assert.equal(out.CodeDeliveryDetails.AttributeName, 'email');
    assert.ok(out.CodeDeliveryDetails.Destination.includes('*'));
    const msg = await waitForMessage(t.endpoint, poolId, pending, { after: 1, pred: (m) => m.code });
    assert.equal(msg.channel, 'EMAIL');
    await t.client.send(new ConfirmSignUpCommand({
      ClientId: app.clientId, SecretHash: app.hash(pending), Username: pending, ConfirmationCode: msg.code,
    }));
    const ok = await app.signIn(pending);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
  });

  it('disabled user: NotAuthorizedException "User is disabled."; enabled again signs in', async () => {
    const other = randomEmail('disabled');
    await adminCreateConfirmedUser(t.client, poolId, other);
    await t.client.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: other }));
    const u = await t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: other }));
    assert.equal(u.Enabled, false);
    await expectCognitoError(app.signIn(other), 'NotAuthorizedException', 'User is disabled.');
    await t.client.send(new AdminEnableUserCommand({ UserPoolId: poolId, Username: other }));
    const ok = await app.signIn(other);
    assert.equal(typeof ok.AuthenticationResult.AccessToken, 'string');
  });

  it('unknown user, PreventUserExistenceErrors LEGACY: UserNotFoundException "User does not exist."', async () => {
    await expectCognitoError(legacy.signIn(randomEmail('ghost')), 'UserNotFoundException', 'User does not exist.');
  });

  it('unknown user, PreventUserExistenceErrors not set (LEGACY default): UserNotFoundException', async () => {
    await expectCognitoError(app.signIn(randomEmail('ghost')), 'UserNotFoundException', 'User does not exist.');
  });

  it('unknown user, PreventUserExistenceErrors ENABLED: NotAuthorizedException "Incorrect username or password."', async () => {
    await expectCognitoError(enabled.signIn(randomEmail('ghost')), 'NotAuthorizedException', 'Incorrect username or password.');
  });

  it('missing SECRET_HASH: NotAuthorizedException "Unable to verify secret hash for client <id>"', async () => {
    await expectCognitoError(t.client.send(new InitiateAuthCommand({
      ClientId: app.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD },
    })), 'NotAuthorizedException', `Unable to verify secret hash for client ${app.clientId}`);
  });

  it('wrong SECRET_HASH: same error', async () => {
    await expectCognitoError(t.client.send(new InitiateAuthCommand({
      ClientId: app.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD, SECRET_HASH: secretHash('not-the-secret', email, app.clientId) },
    })), 'NotAuthorizedException', `Unable to verify secret hash for client ${app.clientId}`);
  });

  it('SignUp with a wrong SecretHash: same error', async () => {
    await expectCognitoError(t.client.send(new SignUpCommand({
      ClientId: app.clientId,
      SecretHash: secretHash('not-the-secret', 'x@example.com', app.clientId),
      Username: randomEmail('badhash'),
      Password: PASSWORD,
    })), 'NotAuthorizedException', `Unable to verify secret hash for client ${app.clientId}`);
  });

  it('SignUp of an existing email: UsernameExistsException "An account with the given email already exists."', async () => {
    await expectCognitoError(app.signUp(email), 'UsernameExistsException', 'An account with the given email already exists.');
  });

  it('SignUp with a non-email username: InvalidParameterException "Username should be an email."', async () => {
    await expectCognitoError(app.signUp(`plainname${uniq(3)}`), 'InvalidParameterException', 'Username should be an email.');
  });

  it('ConfirmSignUp with a wrong code: CodeMismatchException', async () => {
    const pending = randomEmail('wrongcode');
    await app.signUp(pending);
    const msg = await waitForMessage(t.endpoint, poolId, pending, { pred: (m) => m.code });
    const wrong = msg.code.slice(0, -1) + String((Number(msg.code.at(-1)) + 1) % 10);
    await expectCognitoError(t.client.send(new ConfirmSignUpCommand({
      ClientId: app.clientId, SecretHash: app.hash(pending), Username: pending, ConfirmationCode: wrong,
    })), 'CodeMismatchException', 'Invalid verification code provided, please try again.');
  });

  it('an ADMIN_ flow through InitiateAuth is refused', async () => {
    const err = await expectCognitoError(t.client.send(new InitiateAuthCommand({
      ClientId: app.clientId,
      AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD, SECRET_HASH: app.hash(email) },
    })), 'InvalidParameterException', undefined);
    assert.ok(err.message.length > 0);
  });

  it('a flow the client does not allow is refused', async () => {
    const noPw = new App(t.client, t.endpoint, poolId,
      await createAppClient(t.client, poolId, { secret: false, flows: ['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH'] }));
    await expectCognitoError(noPw.signIn(email), 'InvalidParameterException', 'USER_PASSWORD_AUTH flow not enabled for this client');
  });
});

describe('password policy errors', () => {
  const t = useTobira();
  let poolId;
  let app;

  before(async () => {
    poolId = await createEmailPool(t.client, {
      Policies: {
        PasswordPolicy: {
          MinimumLength: 10, RequireUppercase: true, RequireLowercase: true, RequireNumbers: true, RequireSymbols: true,
        },
      },
    });
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: false }));
  });

  const cases = [
    ['too short', 'Ab1!efgh', 'Password is too short (minimum length 10)'],
    ['no symbol', 'Abcdefgh12', 'Password invalid (requires special symbols)'],
    ['no number', 'Abcdefgh!!', 'Password invalid (requires numbers)'],
  ];
  for (const [what, pw, message] of cases) {
    it(`SignUp with a password ${what}: InvalidParameterException "${message}", no user created`, async () => {
      const email = randomEmail('weak');
      await expectCognitoError(app.signUp(email, pw), 'InvalidParameterException', message);
      const list = await t.client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `email = "${email}"` }));
      assert.deepEqual(list.Users, []);
    });
  }

  it('AdminSetUserPassword too short: InvalidPasswordException "Password does not conform to policy: Password not long enough"', async () => {
    const email = randomEmail('adminweak');
    await adminCreateConfirmedUser(t.client, poolId, email, 'Long-Enough-Passw0rd!');
    for (const Permanent of [true, false]) {
      await expectCognitoError(t.client.send(new AdminSetUserPasswordCommand({
        UserPoolId: poolId, Username: email, Password: 'Ab1!efgh', Permanent,
      })), 'InvalidPasswordException', 'Password does not conform to policy: Password not long enough');
    }
    const u = await t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: email }));
    assert.equal(u.UserStatus, 'CONFIRMED', 'a refused password change leaves the status alone');
  });

  it('the pool reports the policy it was given', async () => {
    const d = await t.client.send(new DescribeUserPoolCommand({ UserPoolId: poolId }));
    const p = d.UserPool.Policies.PasswordPolicy;
    assert.equal(p.MinimumLength, 10);
    assert.equal(p.RequireSymbols, true);
  });
});

describe('unknown resources', () => {
  const t = useTobira();
  let poolId;

  before(async () => {
    poolId = await createEmailPool(t.client);
  });

  it('unknown pool: ResourceNotFoundException "User pool <id> does not exist."', async () => {
    const missing = 'us-east-1_NoSuchP00l';
    await expectCognitoError(t.client.send(new AdminGetUserCommand({ UserPoolId: missing, Username: 'someone' })),
      'ResourceNotFoundException', `User pool ${missing} does not exist.`);
    await expectCognitoError(t.client.send(new ListUsersCommand({ UserPoolId: missing })),
      'ResourceNotFoundException', `User pool ${missing} does not exist.`);
    await expectCognitoError(t.client.send(new DescribeUserPoolCommand({ UserPoolId: missing })),
      'ResourceNotFoundException', `User pool ${missing} does not exist.`);
  });

  it('unknown client id: ResourceNotFoundException "User pool client <id> does not exist."', async () => {
    const missing = 'nosuchclient0000000000abcd';
    await expectCognitoError(t.client.send(new InitiateAuthCommand({
      ClientId: missing,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: randomEmail(), PASSWORD },
    })), 'ResourceNotFoundException', `User pool client ${missing} does not exist.`);
    await expectCognitoError(t.client.send(new SignUpCommand({
      ClientId: missing, Username: randomEmail(), Password: PASSWORD,
    })), 'ResourceNotFoundException', `User pool client ${missing} does not exist.`);
  });

  it('unknown user in a real pool: UserNotFoundException "User does not exist."', async () => {
    await expectCognitoError(t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: randomEmail('nobody') })),
      'UserNotFoundException', 'User does not exist.');
  });

  it('AdminDeleteUser, then the user does not exist', async () => {
    const email = randomEmail('deleted');
    await adminCreateConfirmedUser(t.client, poolId, email);
    const out = await t.client.send(new AdminDeleteUserCommand({ UserPoolId: poolId, Username: email }));
    assert.deepEqual(Object.keys(out).filter((k) => k !== '$metadata'), []);
    await expectCognitoError(t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: email })),
      'UserNotFoundException', 'User does not exist.');
    await expectCognitoError(t.client.send(new AdminDeleteUserCommand({ UserPoolId: poolId, Username: email })),
      'UserNotFoundException', 'User does not exist.');
  });

  it('DeleteUser with the access token deletes the user', async () => {
    const email = randomEmail('selfdelete');
    await adminCreateConfirmedUser(t.client, poolId, email);
    const self = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: false }));
    const { AccessToken } = (await self.signIn(email)).AuthenticationResult;
    const out = await t.client.send(new DeleteUserCommand({ AccessToken }));
    assert.deepEqual(Object.keys(out).filter((k) => k !== '$metadata'), []);
    await expectCognitoError(t.client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: email })),
      'UserNotFoundException', 'User does not exist.');
  });

  it('a required custom attribute is refused', async () => {
    await expectCognitoError(t.client.send(new CreateUserPoolCommand({
      PoolName: `bad-${uniq()}`,
      Schema: [{ Name: 'tenant', AttributeDataType: 'String', Mutable: true, Required: true }],
    })), 'InvalidParameterException', 'Required custom attributes are not supported currently.');
  });
});
