// Shared by the examples' tests: start tobira (the freshly built binary) with an example's
// functions, and the local stand-ins for the services the handlers talk to (DynamoDB from moto,
// Stripe from localstripe), each on a free loopback port.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const STORE = (process.env.TOBIRA_TEST_STORE || 'sqlite').toLowerCase();
const children = new Set();
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLES', secretAccessKey: 'examples-secret' };
export const arn = (name) => `arn:aws:lambda:${REGION}:123456789012:function:${name}`;

/** A free loopback port (bound to 0 and released). */
export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

/** Waits until `url` answers (any HTTP status), or fails after `ms`. */
async function waitHttp(url, ms, child, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (code ${child.exitCode})`);
    try { await fetch(url); return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startProcess(cmd, args, env, what) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let log = '';
  const keep = (d) => { log = (log + d).slice(-20000); if (process.env.EXAMPLES_LOG) process.stderr.write(d); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('exit', () => children.delete(child));
  return { child, log: () => log, what };
}

async function stopProcess(p) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

const VENV_BIN = join(HERE, '.venv', 'bin');

/** moto's server (DynamoDB and the rest of AWS) on a free port. */
export async function startMoto() {
  const port = await freePort();
  const p = startProcess(join(VENV_BIN, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], {}, 'moto_server');
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/moto-api/`, 60_000, p.child, 'moto_server');
  return { url, stop: () => stopProcess(p), log: p.log };
}

/** localstripe, a stateful Stripe API stand-in, on a free port. */
export async function startLocalstripe() {
  const port = await freePort();
  // --from-scratch: localstripe otherwise reloads what an earlier run saved in /tmp.
  const p = startProcess(join(VENV_BIN, 'localstripe'), ['--port', String(port), '--from-scratch'], {}, 'localstripe');
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/v1/customers`, 60_000, p.child, 'localstripe');
  return { url, port, stop: () => stopProcess(p), log: p.log };
}

/**
 * tobira with `functions` ({NAME: {handler, environment}}) as `[functions.NAME]` tables. Handler
 * paths are relative to the example folder `dir`. `env` reaches tobira and, through it, the
 * handlers' processes.
 */
export async function startTobira({ dir, functions = {}, env = {} }) {
  const bin = process.env.TOBIRA_BIN || join(REPO, 'target', 'debug', 'tobira');
  if (!existsSync(bin)) throw new Error(`tobira binary not found at ${bin}: cargo build -p tobira first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'tobira-example-'));
  const toml = Object.entries(functions).map(([name, f]) => {
    const lines = [`[functions.${name}]`, `handler = ${JSON.stringify(resolve(dir, f.handler))}`];
    if (f.timeout) lines.push(`timeout = ${f.timeout}`);
    const e = Object.entries(f.environment || {}).map(([k, v]) => `${k} = ${JSON.stringify(String(v))}`);
    if (e.length) lines.push(`environment = { ${e.join(', ')} }`);
    return lines.join('\n');
  }).join('\n\n');
  const config = join(dataDir, 'tobira.toml');
  writeFileSync(config, toml + '\n');
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--config', config];
  const tenv = { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, ...env };
  if (STORE === 'postgres') {
    args.push('--database-url', process.env.TOBIRA_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test');
    tenv.TOBIRA_MASTER_KEY = process.env.TOBIRA_MASTER_KEY || createHash('sha256').update('tobira examples master key').digest('base64');
  }
  const p = startProcess(bin, args, tenv, 'tobira');
  const line = await new Promise((res, rej) => {
    const rl = createInterface({ input: p.child.stdout });
    const t = setTimeout(() => rej(new Error(`tobira did not start:\n${p.log()}`)), 60_000);
    rl.once('line', (l) => { clearTimeout(t); res(l); });
    p.child.once('exit', (c) => { clearTimeout(t); rej(new Error(`tobira exited (${c}):\n${p.log()}`)); });
  });
  const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
  if (!m) throw new Error(`unexpected first line from tobira: ${line}`);
  const endpoint = m[1];
  return {
    endpoint,
    log: p.log,
    invocations: async (poolId) => (await (await fetch(`${endpoint}/_tobira/invocations?poolId=${poolId}`)).json()).invocations,
    inbox: async (poolId, username) => (await (await fetch(`${endpoint}/_tobira/inbox?poolId=${poolId}&username=${encodeURIComponent(username)}`)).json()).messages,
    stop: async () => { await stopProcess(p); rmSync(dataDir, { recursive: true, force: true }); },
  };
}

/** Polls `f` until it returns a truthy value (bounded), for effects that happen asynchronously. */
export async function eventually(f, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
