import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { startTobira, arn, REGION, CREDENTIALS } from '../_support.mjs';

const HERE = new URL('.', import.meta.url).pathname;
let tobira, cognito;

before(async () => {
  tobira = await startTobira({
    dir: HERE,
    functions: {
      allowListedDomains: {
        handler: 'functions/allowListedDomains/lambda_function.lambda_handler',
        environment: { ALLOWED_DOMAINS: 'example.com, example.co.jp' },
      },
    },
  });
  cognito = new idp.CognitoIdentityProviderClient({ endpoint: tobira.endpoint, region: REGION, credentials: CREDENTIALS });
});

after(async () => { await tobira?.stop(); });

test('only allow-listed domains sign up; the others get Cognito\'s error and no user', async () => {
  const { UserPool } = await cognito.send(new idp.CreateUserPoolCommand({
    PoolName: 'corp', UsernameAttributes: ['email'], LambdaConfig: { PreSignUp: arn('allowListedDomains') },
  }));
  const { UserPoolClient } = await cognito.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'web' }));
  const signUp = (email) => cognito.send(new idp.SignUpCommand({
    ClientId: UserPoolClient.ClientId, Username: email, Password: 'Passw0rd!x', UserAttributes: [{ Name: 'email', Value: email }],
  }));

  await assert.rejects(signUp('mallory@evil.test'), (e) => {
    assert.equal(e.name, 'UserLambdaValidationException');
    assert.equal(e.message, 'PreSignUp failed with error Sign-up is limited to example.com, example.co.jp addresses.');
    return true;
  });
  const { Users } = await cognito.send(new idp.ListUsersCommand({ UserPoolId: UserPool.Id }));
  assert.equal(Users.length, 0, 'a rejected sign-up creates no user');

  const ok = await signUp('alice@example.co.jp');
  assert.equal(ok.UserConfirmed, true);
  const user = await cognito.send(new idp.AdminGetUserCommand({ UserPoolId: UserPool.Id, Username: 'alice@example.co.jp' }));
  assert.equal(user.UserStatus, 'CONFIRMED');
  assert.ok(user.UserAttributes.some((a) => a.Name === 'email_verified' && a.Value === 'true'));
  const outcomes = (await tobira.invocations(UserPool.Id)).map((i) => i.outcome);
  assert.deepEqual(outcomes, ['handler_error', 'ok']);
});
