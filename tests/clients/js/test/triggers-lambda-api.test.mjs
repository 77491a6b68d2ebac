// `--lambda-endpoint`: functions found nowhere else go to the Lambda Invoke REST API, signed
// with SigV4. A stand-in Lambda checks the signature with the AWS SDK's own signer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import * as idp from '@aws-sdk/client-cognito-identity-provider';
import { startTobira, makeClient } from '../harness.mjs';

const KEY = { accessKeyId: 'AKIDLAMBDATEST', secretAccessKey: 'lambda-test-secret' };
const calls = [];
class Sha256 {
  constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(data) { this.h.update(data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}
// applyChecksum off: tobira, like most SDKs for services other than S3, signs no x-amz-content-sha256.
const signer = new SignatureV4({ service: 'lambda', region: 'us-east-1', credentials: KEY, sha256: Sha256, applyChecksum: false });

const lambda = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    const url = new URL(req.url, 'http://x');
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    // Re-sign the same request with the same key and time: the signatures must agree.
    const headers = { host: req.headers.host, 'content-type': req.headers['content-type'], 'x-amz-date': req.headers['x-amz-date'], 'x-amz-invocation-type': req.headers['x-amz-invocation-type'] };
    const date = req.headers['x-amz-date'];
    const signingDate = new Date(Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15)));
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body }, { signingDate });
    const theirs = /Signature=([0-9a-f]+)/.exec(req.headers.authorization || '')?.[1];
    const ours = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization)?.[1];
    calls.push({ fn: m?.[1], qualifier: url.searchParams.get('Qualifier'), type: req.headers['x-amz-invocation-type'], signatureOk: !!theirs && theirs === ours, auth: req.headers.authorization });
    if (!m || m[1] === 'missing') return res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ Type: 'User', message: 'Function not found' }));
    const event = JSON.parse(body);
    if (m[1] === 'failing') {
      return res.writeHead(200, { 'x-amz-function-error': 'Unhandled', 'content-type': 'application/json' })
        .end(JSON.stringify({ errorType: 'Error', errorMessage: 'Not on the guest list', trace: [] }));
    }
    event.response.autoConfirmUser = true;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(event));
  });
});
await new Promise((r) => lambda.listen(0, '127.0.0.1', r));
const server = await startTobira({
  args: ['--lambda-endpoint', `http://127.0.0.1:${lambda.address().port}`],
  env: { AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey, AWS_SESSION_TOKEN: '' },
});
const client = makeClient(server.endpoint);
after(async () => {
  client.destroy();
  await server.stop();
  await new Promise((r) => lambda.close(r));
});

async function poolWith(preSignUpArn) {
  const { UserPool } = await client.send(new idp.CreateUserPoolCommand({ PoolName: 'lambda-api', LambdaConfig: { PreSignUp: preSignUpArn } }));
  const { UserPoolClient } = await client.send(new idp.CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'app' }));
  return UserPoolClient.ClientId;
}

test('a function found nowhere else is invoked through the Lambda API, SigV4-signed, qualifier and all', async () => {
  const clientId = await poolWith('arn:aws:lambda:us-east-1:123456789012:function:remoteGate:live');
  const out = await client.send(new idp.SignUpCommand({ ClientId: clientId, Username: 'via-lambda', Password: 'Passw0rd!x' }));
  assert.equal(out.UserConfirmed, true);
  const call = calls.at(-1);
  assert.equal(call.fn, 'remoteGate');
  assert.equal(call.qualifier, 'live');
  assert.equal(call.type, 'RequestResponse');
  assert.match(call.auth, /^AWS4-HMAC-SHA256 Credential=AKIDLAMBDATEST\/\d{8}\/us-east-1\/lambda\/aws4_request, SignedHeaders=/);
  assert.ok(call.signatureOk, `the SDK's signer computes the same signature: ${call.auth}`);
});

test('an unhandled function error is the handler\'s error; a missing function is Cognito\'s invocation failure', async () => {
  const failing = await poolWith('arn:aws:lambda:us-east-1:123456789012:function:failing');
  await assert.rejects(client.send(new idp.SignUpCommand({ ClientId: failing, Username: 'nope', Password: 'Passw0rd!x' })),
    { name: 'UserLambdaValidationException', message: 'PreSignUp failed with error Not on the guest list.' });
  const missing = await poolWith('arn:aws:lambda:us-east-1:123456789012:function:missing');
  await assert.rejects(client.send(new idp.SignUpCommand({ ClientId: missing, Username: 'nope', Password: 'Passw0rd!x' })),
    { name: 'UnexpectedLambdaException' });
});
