import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { CognitoUserPool, CognitoUser, AuthenticationDetails } from 'amazon-cognito-identity-js';
import { startTobira, arn, REGION, CREDENTIALS } from '../_support.mjs';

const HERE = new URL('.', import.meta.url).pathname;
let tobira, cognito, mailApi;
const mails = [];

before(async () => {
  // Stands in for the e-mail provider's HTTP API.
  mailApi = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      mails.push({ auth: req.headers.authorization, ...JSON.parse(body) });
      res.writeHead(202).end('{}');
    });
  });
  await new Promise((r) => mailApi.listen(0, '127.0.0.1', r));
  const mailUrl = `http://127.0.0.1:${mailApi.address().port}/v1/send`;
  const fn = (dir) => ({ handler: `functions/${dir}/index.handler`, environment: { MAIL_API_URL: mailUrl, MAIL_API_KEY: 'mail-key' } });
  tobira = await startTobira({
    dir: HERE,
    functions: { defineAuthChallenge: fn('defineAuthChallenge'), createAuthChallenge: fn('createAuthChallenge'), verifyAuthChallenge: fn('verifyAuthChallenge') },
  });
  cognito = new idp.CognitoIdentityProviderClient({ endpoint: tobira.endpoint, region: REGION, credentials: CREDENTIALS });
});

after(async () => {
  await tobira?.stop();
  await new Promise((r) => mailApi?.close(r));
});

/** amazon-cognito-identity-js's callbacks as a promise: {kind: 'challenge', params} | {kind: 'success', session}. */
function step(start) {
  return new Promise((resolve, reject) => start({
    onSuccess: (session) => resolve({ kind: 'success', session }),
    onFailure: reject,
    customChallenge: (params) => resolve({ kind: 'challenge', params }),
  }));
}

async function setUp() {
  const { UserPool } = await cognito.send(new idp.CreateUserPoolCommand({
    PoolName: 'passwordless', UsernameAttributes: ['email'],
    LambdaConfig: {
      DefineAuthChallenge: arn('defineAuthChallenge'),
      CreateAuthChallenge: arn('createAuthChallenge'),
      VerifyAuthChallengeResponse: arn('verifyAuthChallenge'),
    },
  }));
  const { UserPoolClient } = await cognito.send(new idp.CreateUserPoolClientCommand({
    UserPoolId: UserPool.Id, ClientName: 'spa', ExplicitAuthFlows: ['ALLOW_CUSTOM_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
  }));
  await cognito.send(new idp.AdminCreateUserCommand({
    UserPoolId: UserPool.Id, Username: 'kenji@example.com', MessageAction: 'SUPPRESS',
    UserAttributes: [{ Name: 'email', Value: 'kenji@example.com' }, { Name: 'email_verified', Value: 'true' }],
  }));
  // Passwordless users still need a (random, never used) password to leave FORCE_CHANGE_PASSWORD.
  await cognito.send(new idp.AdminSetUserPasswordCommand({ UserPoolId: UserPool.Id, Username: 'kenji@example.com', Password: `Unused-${Math.random()}A1!`, Permanent: true }));
  return new CognitoUserPool({ UserPoolId: UserPool.Id, ClientId: UserPoolClient.ClientId, endpoint: tobira.endpoint });
}

function startCustomAuth(pool) {
  const user = new CognitoUser({ Username: 'kenji@example.com', Pool: pool });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  return { user, first: step((cb) => user.initiateAuth(new AuthenticationDetails({ Username: 'kenji@example.com' }), cb)) };
}

test('sign in with the code that was e-mailed, after one wrong try', async () => {
  const pool = await setUp();
  const sentBefore = mails.length;
  const { user, first } = startCustomAuth(pool);
  const challenge = await first;
  assert.equal(challenge.kind, 'challenge');
  assert.equal(challenge.params.email, 'kenji@example.com');
  assert.equal(mails.length, sentBefore + 1);
  const mail = mails[mails.length - 1];
  assert.equal(mail.to, 'kenji@example.com');
  assert.equal(mail.auth, 'Bearer mail-key');
  const code = /code is (\d{6})/.exec(mail.text)[1];

  const again = await step((cb) => user.sendCustomChallengeAnswer(code === '000000' ? '111111' : '000000', cb));
  assert.equal(again.kind, 'challenge', 'a wrong code asks again');
  assert.equal(mails.length, sentBefore + 1, 'the same code stands: no second mail');
  const done = await step((cb) => user.sendCustomChallengeAnswer(code, cb));
  assert.equal(done.kind, 'success');
  assert.equal(done.session.getIdToken().decodePayload().email, 'kenji@example.com');
});

test('three wrong codes end the sign-in', async () => {
  const pool = await setUp();
  const { user, first } = startCustomAuth(pool);
  await first;
  const code = /code is (\d{6})/.exec(mails[mails.length - 1].text)[1];
  const wrong = code === '999999' ? '999998' : '999999';
  assert.equal((await step((cb) => user.sendCustomChallengeAnswer(wrong, cb))).kind, 'challenge');
  assert.equal((await step((cb) => user.sendCustomChallengeAnswer(wrong, cb))).kind, 'challenge');
  await assert.rejects(step((cb) => user.sendCustomChallengeAnswer(wrong, cb)), (e) => {
    assert.equal(e.code, 'NotAuthorizedException');
    assert.equal(e.message, 'Incorrect username or password.');
    return true;
  });
});
