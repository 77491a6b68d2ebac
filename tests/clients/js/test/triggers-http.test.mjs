// Triggers sent to an HTTP endpoint (Standard Webhooks signatures), Python handlers, and the
// asynchronous custom sender with its encrypted code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, createHmac, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { readInbox, STORE } from '../harness.mjs';
import { useTriggerTobira, envelope, arn } from '../triggers.mjs';

const SECRET = 'whsec_' + Buffer.from('tobira webhook test secret 32by!').toString('base64');
const received = [];
let hook;
let hookUrl;

// Started at load time: tobira's configuration names its URL.
{
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const id = req.headers['webhook-id'];
      const ts = req.headers['webhook-timestamp'];
      const expected = createHmac('sha256', Buffer.from(SECRET.slice(6), 'base64')).update(`${id}.${ts}.${body}`).digest();
      const given = (req.headers['webhook-signature'] || '').split(' ').map((s) => s.split(',')[1]).filter(Boolean).map((s) => Buffer.from(s, 'base64'));
      const verified = given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
      const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
      const event = JSON.parse(body);
      received.push({ verified, fresh, id, event: structuredClone(event), contentType: req.headers['content-type'] });
      if (!verified) return res.writeHead(401).end('bad signature');
      if (event.triggerSource === 'PreSignUp_SignUp') event.response.autoConfirmUser = true;
      if (event.triggerSource.startsWith('TokenGeneration_')) event.response = { claimsOverrideDetails: { claimsToAddOrOverride: { from_webhook: 'yes' } } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(event));
    });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${hook.address().port}/cognito-hook`;
}

const t = useTriggerTobira({ extra: () => `[functions.webhook]\nurl = ${JSON.stringify(hookUrl)}\nsecret = ${JSON.stringify(SECRET)}\n` });

after(async () => { await new Promise((r) => hook?.close(r)); });

test('an HTTP endpoint gets the signed event and its answer takes effect', async () => {
  const { UserPool } = await t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'webhook', LambdaConfig: { PreSignUp: arn('webhook'), PreTokenGeneration: arn('webhook') } }));
  const { UserPoolClient } = await t.client.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'app', ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }));
  const out = await t.client.send(new idp.SignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'hooked', Password: 'Passw0rd!x' }));
  assert.equal(out.UserConfirmed, true);
  const auth = await t.client.send(new idp.InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'hooked', PASSWORD: 'Passw0rd!x' } }));
  const id = JSON.parse(Buffer.from(auth.AuthenticationResult.IdToken.split('.')[1], 'base64url'));
  assert.equal(id.from_webhook, 'yes');
  assert.deepEqual(received.map((r) => r.event.triggerSource), ['PreSignUp_SignUp', 'TokenGeneration_Authentication']);
  for (const r of received) {
    assert.ok(r.verified, 'the Standard Webhooks signature verifies with the shared secret');
    assert.ok(r.fresh);
    assert.ok(r.id);
    assert.match(r.contentType, /application\/json/);
  }
  assert.deepEqual(received[0].event, {
    ...envelope(UserPool.Id, UserPoolClient.ClientId, 'hooked', 'PreSignUp_SignUp'),
    request: { userAttributes: {}, validationData: {} },
    response: { autoConfirmUser: false, autoVerifyEmail: false, autoVerifyPhone: false },
  });
});

test('a Python handler can refuse a sign-up with its exception message', async () => {
  const { UserPool } = await t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'py', LambdaConfig: { PreSignUp: arn('py') } }));
  const { UserPoolClient } = await t.client.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'app' }));
  t.answer({ PreSignUp_SignUp: { throw: 'No sign-ups on Sundays' } });
  await assert.rejects(
    t.client.send(new idp.SignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'sunday', Password: 'Passw0rd!x' })),
    { name: 'UserLambdaValidationException', message: 'PreSignUp failed with error No sign-ups on Sundays.' },
  );
  t.answer({ PreSignUp_SignUp: { response: { autoConfirmUser: true } } });
  const ok = await t.client.send(new idp.SignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'monday', Password: 'Passw0rd!x' }));
  assert.equal(ok.UserConfirmed, true);
  const rec = t.recorded().filter((r) => r.fn === 'py');
  assert.equal(rec.length, 2);
  assert.ok(rec[0].remainingMs > 0 && rec[0].remainingMs <= 5000, `context.get_remaining_time_in_millis(): ${rec[0].remainingMs}`);
});

test('CustomEmailSender is invoked asynchronously with an encrypted code that tobira sender-key decrypts', async () => {
  const kms = 'arn:aws:kms:us-east-1:123456789012:key/tobira-test';
  const { UserPool } = await t.client.send(new idp.CreateUserPoolCommand({
    PoolName: 'sender', AutoVerifiedAttributes: ['email'],
    LambdaConfig: { CustomEmailSender: { LambdaVersion: 'V1_0', LambdaArn: arn('node') }, KMSKeyID: kms },
  }));
  const { UserPoolClient } = await t.client.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'app' }));
  t.reset();
  const out = await t.client.send(new idp.SignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'sent', Password: 'Passw0rd!x', UserAttributes: [{ Name: 'email', Value: 's@example.com' }] }));
  assert.equal(out.UserConfirmed, false);
  const deadline = Date.now() + 10_000;
  while (t.events('CustomEmailSender_SignUp').length === 0) {
    assert.ok(Date.now() < deadline, 'the custom sender was invoked');
    await new Promise((r) => setTimeout(r, 25));
  }
  const [event] = t.events('CustomEmailSender_SignUp');
  assert.deepEqual(Object.keys(event.request).sort(), ['clientMetadata', 'code', 'type', 'userAttributes']);
  assert.equal(event.request.type, 'customEmailSenderRequestV1');
  assert.equal(event.request.clientMetadata, null);
  assert.deepEqual(event.request.userAttributes, { sub: out.UserSub, 'cognito:user_status': 'UNCONFIRMED', email: 's@example.com', email_verified: 'false' });
  assert.equal((await readInbox(t.endpoint, UserPool.Id, 'sent')).length, 0, 'tobira sent nothing itself');

  // Decrypt the code as docs/triggers.md shows, with the key `tobira sender-key` prints.
  const args = ['sender-key', '--pool', UserPool.Id, '--data-dir', t.server.dataDir];
  if (STORE === 'postgres') args.push('--database-url', process.env.TOBIRA_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test');
  const env = { ...process.env };
  if (STORE === 'postgres' && !env.TOBIRA_MASTER_KEY) {
    env.TOBIRA_MASTER_KEY = createHash('sha256').update('tobira-js-client-tests master key').digest('base64');
  }
  const bin = process.env.TOBIRA_BIN || new URL('../../../../target/debug/tobira', import.meta.url).pathname;
  const key = execFileSync(bin, args, { encoding: 'utf8', env }).trim();
  const raw = Buffer.from(event.request.code, 'base64');
  const d = createDecipheriv('aes-256-gcm', Buffer.from(key, 'base64'), raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(raw.length - 16));
  const code = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
  assert.match(code, /^\d{6}$/);
  await t.client.send(new idp.ConfirmSignUpCommand({ ClientId: UserPoolClient.ClientId, Username: 'sent', ConfirmationCode: code }));
});
