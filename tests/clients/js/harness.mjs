// Test harness: starts a fresh tobira per test file (see ../CONTRACT.md) and gives the helpers the tests share.
//
// Environment:
//   TOBIRA_BIN          path of the binary (default <repo>/target/debug/tobira)
//   TOBIRA_TEST_STORE   sqlite (default) | postgres
//   TOBIRA_TEST_PG_URL  postgres URL (default postgres://postgres@127.0.0.1:5432/test)
//   TOBIRA_MASTER_KEY   passed through; for postgres a fixed test key is used when unset, so that every
//                       server started by this suite against the shared database uses the same key
//   TOBIRA_TEST_LOG=1   copy tobira's stderr to this process's stderr

import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..', '..');

export const STORE = (process.env.TOBIRA_TEST_STORE || 'sqlite').toLowerCase();
const START_TIMEOUT_MS = Number(process.env.TOBIRA_TEST_START_TIMEOUT_MS || 60_000);
const STOP_TIMEOUT_MS = 15_000;
const STDERR_KEEP = 64 * 1024;

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function binaryPath() {
  return process.env.TOBIRA_BIN || join(REPO, 'target', 'debug', 'tobira');
}

/**
 * Start tobira on an ephemeral loopback port with a fresh data directory and the test clock.
 * Resolves to {endpoint, port, dataDir, stop(), stderr()} once the listening line is on stdout.
 */
export async function startTobira({ args: extraArgs = [], env: extraEnv = {}, dataDir: reuseDir } = {}) {
  if (STORE !== 'sqlite' && STORE !== 'postgres') {
    throw new Error(`TOBIRA_TEST_STORE must be sqlite or postgres, not ${STORE}`);
  }
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`tobira binary not found at ${bin}; build it with cargo build (or set TOBIRA_BIN)`);
  }
  // A given data directory is the caller's: reused (a restart) and left in place on stop.
  const dataDir = reuseDir || mkdtempSync(join(tmpdir(), 'tobira-js-'));
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir];
  const env = { ...process.env, ...extraEnv };
  if (STORE === 'postgres') {
    args.push('--database-url', process.env.TOBIRA_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test');
    if (!env.TOBIRA_MASTER_KEY) {
      env.TOBIRA_MASTER_KEY = createHash('sha256').update('tobira-js-client-tests master key').digest('base64');
    }
  }
  args.push('--test-clock', ...extraArgs);

  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);

  let stderrBuf = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    if (process.env.TOBIRA_TEST_LOG) process.stderr.write(chunk);
    stderrBuf += chunk;
    if (stderrBuf.length > STDERR_KEEP) stderrBuf = stderrBuf.slice(-STDERR_KEEP);
  });

  const exited = new Promise((res) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      res({ code, signal });
    });
  });
  let exitInfo = null;
  exited.then((info) => { exitInfo = info; });

  const lines = createInterface({ input: child.stdout });
  const firstLine = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(
      `tobira printed no line on stdout within ${START_TIMEOUT_MS} ms\nstderr:\n${stderrBuf}`)), START_TIMEOUT_MS);
    lines.once('line', (line) => { clearTimeout(timer); res(line); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`tobira exited (code ${code}, signal ${signal}) before it was listening\nstderr:\n${stderrBuf}`));
    });
  }).catch(async (err) => {
    child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  lines.on('line', () => {});

  const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(firstLine);
  if (!m) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`first stdout line of tobira has no "listening on http://127.0.0.1:PORT": ${JSON.stringify(firstLine)}`);
  }
  const endpoint = m[1];
  const port = Number(m[2]);
  assert.ok(port > 0, `port must not be 0: ${firstLine}`);

  let stopping = null;
  /** SIGTERM, wait (bounded) for exit, SIGKILL if needed. Resolves to {code, signal, killed}. Idempotent. */
  function stop() {
    if (stopping) return stopping;
    stopping = (async () => {
      let killed = false;
      const crashed = exitInfo;
      if (!exitInfo) {
        child.kill('SIGTERM');
        const timer = new Promise((res) => setTimeout(() => res('timeout'), STOP_TIMEOUT_MS).unref());
        if ((await Promise.race([exited, timer])) === 'timeout') {
          killed = true;
          child.kill('SIGKILL');
        }
      }
      const info = await exited;
      if (!reuseDir) rmSync(dataDir, { recursive: true, force: true });
      return { ...info, killed, crashed };
    })();
    return stopping;
  }

  return { endpoint, port, dataDir, stop, stderr: () => stderrBuf, exitInfo: () => exitInfo };
}

/**
 * Start tobira in a before() hook and stop it in an after() hook, even when tests fail.
 * Returns an object whose fields (endpoint, client, server) are filled in by the time tests run.
 */
export function useTobira(options = {}) {
  const ctx = { server: null, endpoint: null, client: null };
  before(async () => {
    ctx.server = await startTobira(typeof options === 'function' ? await options() : options);
    ctx.endpoint = ctx.server.endpoint;
    ctx.client = makeClient(ctx.endpoint);
  });
  after(async () => {
    if (ctx.client) ctx.client.destroy();
    if (ctx.server) {
      const info = await ctx.server.stop();
      if (info.killed) {
        process.stderr.write(`tobira did not stop on SIGTERM within ${STOP_TIMEOUT_MS} ms and was killed\n`);
      }
      if (info.crashed) {
        process.stderr.write(`tobira exited on its own during the tests (code ${info.crashed.code}, signal ${info.crashed.signal}); `
          + `stderr tail:\n${ctx.server.stderr().slice(-8000)}\n`);
      }
    }
  });
  return ctx;
}

/** A Cognito client exactly as an app would make it, with only the endpoint changed. */
export function makeClient(endpoint) {
  return new CognitoIdentityProviderClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTOBIRATEST', secretAccessKey: 'tobira-test-secret' },
  });
}

/** Cognito SECRET_HASH: base64(HMAC-SHA256(key=clientSecret, msg=username+clientId)). */
export function secretHash(clientSecret, username, clientId) {
  return createHmac('sha256', clientSecret).update(username + clientId).digest('base64');
}

/** Decode a compact JWT without verifying it. */
export function decodeJwt(token) {
  assert.equal(typeof token, 'string', 'token must be a string');
  const parts = token.split('.');
  assert.equal(parts.length, 3, `a JWT has 3 parts, this has ${parts.length}`);
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(parts[0]), payload: dec(parts[1]), signature: parts[2] };
}

export function b64url(value) {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return buf.toString('base64url');
}

/** Read tobira's test inbox (oldest first). */
export async function readInbox(endpoint, poolId, username) {
  const url = `${endpoint}/_tobira/inbox?poolId=${encodeURIComponent(poolId)}&username=${encodeURIComponent(username)}`;
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url} -> ${res.status}`);
  const body = await res.json();
  assert.ok(Array.isArray(body.messages), `inbox body has a messages array: ${JSON.stringify(body)}`);
  return body.messages;
}

/**
 * Poll the inbox until there are more than `after` messages matching `pred`; return the newest match.
 * Bounded by timeoutMs.
 */
export async function waitForMessage(endpoint, poolId, username, { after = 0, pred = () => true, timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = [];
  for (;;) {
    last = (await readInbox(endpoint, poolId, username)).filter(pred);
    if (last.length > after) return last[last.length - 1];
    if (Date.now() > deadline) {
      throw new Error(`no new inbox message for ${username} in pool ${poolId} within ${timeoutMs} ms; matching messages: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Move tobira's test clock forward. Returns the new nowMillis. */
export async function advanceClock(endpoint, seconds) {
  const before = await getClock(endpoint);
  const res = await fetch(`${endpoint}/_tobira/clock`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ advanceSeconds: seconds }),
  });
  assert.ok(res.status >= 200 && res.status < 300, `POST /_tobira/clock -> ${res.status}`);
  const after = await getClock(endpoint);
  assert.ok(after - before >= seconds * 1000, `clock moved by ${after - before} ms, expected at least ${seconds * 1000}`);
  return after;
}

export async function getClock(endpoint) {
  const res = await fetch(`${endpoint}/_tobira/clock`);
  assert.equal(res.status, 200, `GET /_tobira/clock -> ${res.status}`);
  const body = await res.json();
  assert.equal(typeof body.nowMillis, 'number', `clock body: ${JSON.stringify(body)}`);
  return body.nowMillis;
}

/** Assert that `promise` rejects with a Cognito service error of this name, exact message and HTTP 400. */
export async function expectCognitoError(promise, name, message, status = 400) {
  let err;
  try {
    const out = await promise;
    const { $metadata, ...rest } = out ?? {};
    assert.fail(`expected ${name}${message !== undefined ? ` "${message}"` : ''} but the call succeeded: ${JSON.stringify(rest)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  const got = `${err.name}: ${JSON.stringify(err.message)} (HTTP ${err.$metadata?.httpStatusCode})`;
  assert.equal(err.name, name, `error name; got ${got}`);
  if (message instanceof RegExp) {
    assert.match(err.message, message, `error message; got ${got}`);
  } else if (message !== undefined) {
    assert.equal(err.message, message, `error message; got ${got}`);
  }
  if (status !== undefined) {
    assert.equal(err.$metadata?.httpStatusCode, status, `HTTP status; got ${got}`);
  }
  return err;
}

/** Random suffix for names, so runs against a shared PostgreSQL database never collide. */
export function uniq(n = 6) {
  return randomBytes(n).toString('hex');
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Name -> Value map from a Cognito attribute list, asserting the list shape. */
export function attrMap(list) {
  assert.ok(Array.isArray(list), `attributes are a list: ${JSON.stringify(list)}`);
  const out = {};
  for (const a of list) {
    assert.equal(typeof a.Name, 'string', `attribute has a Name: ${JSON.stringify(a)}`);
    assert.ok(!(a.Name in out), `attribute ${a.Name} listed twice`);
    out[a.Name] = a.Value;
  }
  return out;
}

/** The response without the SDK's $metadata. */
export function body(out) {
  const { $metadata, ...rest } = out;
  return rest;
}
