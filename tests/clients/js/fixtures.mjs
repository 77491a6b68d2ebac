// Pool/client/user set-up shared by the test files, written the way an application would call the SDK.

import assert from 'node:assert/strict';
import {
  CreateUserPoolCommand,
  CreateUserPoolClientCommand,
  SignUpCommand,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { secretHash, uniq, readInbox, waitForMessage } from './harness.mjs';

export const PASSWORD = 'Corr3ct-Horse!';
export const PASSWORD_2 = 'Batt3ry-Staple?';

export const ALL_TEST_FLOWS = ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_ADMIN_USER_PASSWORD_AUTH'];

export function randomEmail(prefix = 'user') {
  return `${prefix}.${uniq(4)}@example.com`;
}

/** A pool where the email is the username, email auto-verified, with the custom attribute customerId. */
export async function createEmailPool(client, extra = {}) {
  const out = await client.send(new CreateUserPoolCommand({
    PoolName: `js-${uniq()}`,
    UsernameAttributes: ['email'],
    AutoVerifiedAttributes: ['email'],
    Schema: [{ Name: 'customerId', AttributeDataType: 'String', Mutable: true }],
    ...extra,
  }));
  assert.ok(out.UserPool?.Id, `CreateUserPool returned a pool id: ${JSON.stringify(out.UserPool)}`);
  return out.UserPool.Id;
}

/** An app client; returns {clientId, clientSecret (undefined without a secret)}. */
export async function createAppClient(client, poolId, { secret = true, flows = ALL_TEST_FLOWS, ...extra } = {}) {
  const out = await client.send(new CreateUserPoolClientCommand({
    UserPoolId: poolId,
    ClientName: `app-${uniq(3)}`,
    GenerateSecret: secret,
    ExplicitAuthFlows: flows,
    ...extra,
  }));
  const c = out.UserPoolClient;
  assert.ok(c?.ClientId, `CreateUserPoolClient returned a client id: ${JSON.stringify(c)}`);
  if (secret) assert.ok(c.ClientSecret, 'a client created with GenerateSecret has a ClientSecret');
  return { clientId: c.ClientId, clientSecret: c.ClientSecret };
}

/** What a real app with (or without) a client secret does for the user-facing calls. */
export class App {
  constructor(client, endpoint, poolId, { clientId, clientSecret }) {
    Object.assign(this, { client, endpoint, poolId, clientId, clientSecret });
  }

  hash(username) {
    return this.clientSecret ? secretHash(this.clientSecret, username, this.clientId) : undefined;
  }

  signUp(email, password = PASSWORD, attributes = []) {
    return this.client.send(new SignUpCommand({
      ClientId: this.clientId,
      SecretHash: this.hash(email),
      Username: email,
      Password: password,
      UserAttributes: attributes,
    }));
  }

  /** SignUp, read the code from the inbox, ConfirmSignUp. Returns the sub. */
  async signUpConfirmed(email, password = PASSWORD) {
    const before = (await readInbox(this.endpoint, this.poolId, email)).filter((m) => m.code).length;
    const out = await this.signUp(email, password);
    const msg = await waitForMessage(this.endpoint, this.poolId, email, { after: before, pred: (m) => m.code });
    await this.client.send(new ConfirmSignUpCommand({
      ClientId: this.clientId,
      SecretHash: this.hash(email),
      Username: email,
      ConfirmationCode: msg.code,
    }));
    return out.UserSub;
  }

  signIn(username, password = PASSWORD) {
    const AuthParameters = { USERNAME: username, PASSWORD: password };
    if (this.clientSecret) AuthParameters.SECRET_HASH = this.hash(username);
    return this.client.send(new InitiateAuthCommand({
      ClientId: this.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters,
    }));
  }

  /** REFRESH_TOKEN_AUTH; with a secret, SECRET_HASH is computed over the canonical username (the sub). */
  refresh(refreshToken, canonicalUsername) {
    const AuthParameters = { REFRESH_TOKEN: refreshToken };
    if (this.clientSecret) AuthParameters.SECRET_HASH = this.hash(canonicalUsername);
    return this.client.send(new InitiateAuthCommand({
      ClientId: this.clientId,
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters,
    }));
  }
}

/** A CONFIRMED user made by an administrator (no messages sent). Returns the username tobira stored (the sub). */
export async function adminCreateConfirmedUser(client, poolId, email, password = PASSWORD, extraAttributes = []) {
  const out = await client.send(new AdminCreateUserCommand({
    UserPoolId: poolId,
    Username: email,
    MessageAction: 'SUPPRESS',
    TemporaryPassword: 'Temp-Passw0rd!',
    UserAttributes: [{ Name: 'email', Value: email }, { Name: 'email_verified', Value: 'true' }, ...extraAttributes],
  }));
  await client.send(new AdminSetUserPasswordCommand({
    UserPoolId: poolId,
    Username: email,
    Password: password,
    Permanent: true,
  }));
  return out.User.Username;
}
