// Bad handlers: each gives Cognito's error, leaves the data as Cognito would, and leaves no
// process behind; the next invocation works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { useTriggerTobira, arn } from '../triggers.mjs';

const t = useTriggerTobira();
const PASSWORD = 'Passw0rd!x';

async function pool(lambdaConfig) {
  const { UserPool } = await t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'bad-handlers', LambdaConfig: lambdaConfig }));
  const { UserPoolClient } = await t.client.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'app' }));
  t.reset();
  return { poolId: UserPool.Id, clientId: UserPoolClient.ClientId };
}

const signUp = (clientId, username) => t.client.send(new idp.SignUpCommand({ ClientId: clientId, Username: username, Password: PASSWORD }));

async function userCount(poolId) {
  return (await t.client.send(new idp.ListUsersCommand({ UserPoolId: poolId }))).Users.length;
}

/** Alive and not a zombie. */
function alive(pid) {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(f, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('a handler that throws: UserLambdaValidationException with its message, and no user', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('node') });
  t.answer({ PreSignUp_SignUp: { throw: 'Invalid email domain' } });
  await assert.rejects(signUp(clientId, 'thrown'), { name: 'UserLambdaValidationException', message: 'PreSignUp failed with error Invalid email domain.' });
  assert.equal(await userCount(poolId), 0);
  const inv = await t.invocations(poolId);
  assert.equal(inv.at(-1).outcome, 'handler_error');
  assert.match(inv.at(-1).error, /Invalid email domain/);
});

test('a handler that hangs past its timeout is killed, with everything it started; the next call works', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('slow') });
  t.answer({ PreSignUp_SignUp: { hang: true, spawnSleeper: true } });
  const started = Date.now();
  await assert.rejects(signUp(clientId, 'hung'), (e) => {
    assert.equal(e.name, 'UnexpectedLambdaException');
    assert.match(e.message, /^PreSignUp invocation failed due to error /);
    return true;
  });
  assert.ok(Date.now() - started < 4000, 'the 1 s timeout applies (no retries of a timeout)');
  assert.equal(await userCount(poolId), 0);
  const sleeper = Number(readFileSync(join(t.dir, 'sleepers.txt'), 'utf8').trim().split('\n').at(-1));
  await eventually(() => !alive(sleeper), `the handler's child process ${sleeper} is gone`);
  t.answer({});
  const ok = await signUp(clientId, 'after-hang');
  assert.equal(ok.UserConfirmed, false);
  assert.deepEqual((await t.invocations(poolId)).map((i) => i.outcome), ['failed', 'ok']);
});

test('a handler that exits the process: UnexpectedLambdaException, then a fresh worker serves', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('node') });
  t.answer({ PreSignUp_SignUp: { exit: 3 } });
  await assert.rejects(signUp(clientId, 'exited'), { name: 'UnexpectedLambdaException' });
  assert.equal(await userCount(poolId), 0);
  t.answer({});
  await signUp(clientId, 'after-exit');
  assert.equal(await userCount(poolId), 1);
});

test('a handler that returns something other than the event: InvalidLambdaResponseException', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('node') });
  t.answer({ PreSignUp_SignUp: { garbage: true } });
  await assert.rejects(signUp(clientId, 'garbage'), { name: 'InvalidLambdaResponseException', message: 'Unrecognizable lambda output' });
  assert.equal(await userCount(poolId), 0);
  t.answer({ PreSignUp_SignUp: { response: { autoConfirmUser: 'yes please' } } });
  await assert.rejects(signUp(clientId, 'bad-type'), { name: 'InvalidLambdaResponseException' });
});

test('a function that does not exist: UnexpectedLambdaException, recorded as not_found', async () => {
  const { poolId, clientId } = await pool({ PreSignUp: arn('ghost') });
  await assert.rejects(signUp(clientId, 'ghosted'), { name: 'UnexpectedLambdaException', message: 'PreSignUp invocation failed due to error ResourceNotFoundException.' });
  assert.equal(await userCount(poolId), 0);
  assert.equal((await t.invocations(poolId)).at(-1).outcome, 'not_found');
});

test('a failing PostConfirmation fails the call but the user stays confirmed', async () => {
  const { poolId, clientId } = await pool({ PostConfirmation: arn('node') });
  await signUp(clientId, 'pc-user');
  t.answer({ PostConfirmation_ConfirmSignUp: { throw: 'database is down' } });
  await assert.rejects(
    t.client.send(new idp.AdminConfirmSignUpCommand({ UserPoolId: poolId, Username: 'pc-user' })),
    { name: 'UserLambdaValidationException', message: 'PostConfirmation failed with error database is down.' },
  );
  const u = await t.client.send(new idp.AdminGetUserCommand({ UserPoolId: poolId, Username: 'pc-user' }));
  assert.equal(u.UserStatus, 'CONFIRMED');
});

test('an invalid Lambda ARN in LambdaConfig is refused', async () => {
  await assert.rejects(
    t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'bad-arn', LambdaConfig: { PreSignUp: 'not-an-arn' } })),
    { name: 'InvalidParameterException' },
  );
  await assert.rejects(
    t.client.send(new idp.CreateUserPoolCommand({ PoolName: 'no-kms', LambdaConfig: { CustomEmailSender: { LambdaVersion: 'V1_0', LambdaArn: arn('node') } } })),
    { name: 'InvalidParameterException' },
  );
});
