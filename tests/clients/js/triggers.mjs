// Helpers for the trigger tests: a tobira whose functions are the recording handlers in
// ./functions (Node.js and Python), the events they received, and the answers they give.
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { startTobira, makeClient } from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const arn = (name) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

/**
 * Starts tobira with functions `node` (and `node2`, `node3`: the same handler under other names),
 * `py` (Python), `slow` (timeout 1 s) and any `extra` [functions.NAME] tables (raw TOML lines).
 * Every handler records into one directory. `extra` may be a function (called when tobira starts).
 */
export function useTriggerTobira({ extra = '' } = {}) {
  const ctx = { server: null, endpoint: null, client: null, dir: null };
  before(async () => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'tobira-triggers-'));
    const node = join(HERE, 'functions', 'recorder', 'index.handler');
    const py = join(HERE, 'functions', 'pyrecorder', 'index.handler');
    const table = (name, handler, more = '') =>
      `[functions.${name}]\nhandler = ${JSON.stringify(handler)}\nenvironment = { RECORD_DIR = ${JSON.stringify(ctx.dir)} }\n${more}\n`;
    const more = typeof extra === 'function' ? extra() : extra;
    const toml = [table('node', node), table('node2', node), table('node3', node), table('py', py), table('slow', node, 'timeout = 1'), more].join('\n');
    const config = join(ctx.dir, 'tobira.toml');
    writeFileSync(config, toml);
    ctx.server = await startTobira({ args: ['--config', config, '--functions-dir', join(ctx.dir, 'no-such-dir')] });
    ctx.endpoint = ctx.server.endpoint;
    ctx.client = makeClient(ctx.endpoint);
  });
  after(async () => {
    ctx.client?.destroy();
    await ctx.server?.stop();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });
  /** Sets what the handlers answer, by trigger source or function name. */
  ctx.answer = (answers) => writeFileSync(join(ctx.dir, 'answers.json'), JSON.stringify(answers));
  /** Every event recorded so far: [{fn, remainingMs, event}], oldest first. */
  ctx.recorded = () => {
    const f = join(ctx.dir, 'events.jsonl');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  /** Forgets the recorded events and answers. */
  ctx.reset = () => {
    for (const f of ['events.jsonl', 'answers.json']) rmSync(join(ctx.dir, f), { force: true });
  };
  /** The events of one source (or all), in order. */
  ctx.events = (source) => ctx.recorded().map((r) => r.event).filter((e) => !source || e.triggerSource === source);
  ctx.invocations = async (poolId) => (await (await fetch(`${ctx.endpoint}/_tobira/invocations?poolId=${poolId}`)).json()).invocations;
  return ctx;
}

/** The envelope every event has, for `source` in `poolId` through `clientId`. */
export function envelope(poolId, clientId, userName, source) {
  return {
    version: '1',
    region: 'us-east-1',
    userPoolId: poolId,
    userName,
    callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId },
    triggerSource: source,
  };
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
