'use strict';
// tobira's worker for Node.js trigger handlers (embedded in tobira; see ports/triggers/local.rs).
// Loads one handler, then serves invocations one at a time. Requests and replies are
// newline-delimited JSON on file descriptor 3 (a Unix socket); stdout and stderr are the
// handler's own, logged by tobira.

const net = require('net');
const path = require('path');
const { pathToFileURL } = require('url');

const env = process.env;
const FILE = env.TOBIRA_HANDLER_FILE;
const EXPORTS = (env.TOBIRA_HANDLER_EXPORTS || 'handler').split(',');
const MARKER = env.TOBIRA_SENTINEL;
delete env.TOBIRA_HANDLER_FILE;
delete env.TOBIRA_HANDLER_EXPORTS;
delete env.TOBIRA_SENTINEL;

const chan = new net.Socket({ fd: 3, readable: true, writable: true });
chan.on('error', () => process.exit(1));
// tobira went away: so do we.
chan.on('end', () => process.exit(0));
chan.on('close', () => process.exit(0));

let handler = null;
let current = null; // { id, finish }
const queue = [];
let inbuf = '';

function send(msg) {
  chan.write(JSON.stringify(msg) + '\n');
}

function errorInfo(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || (err.constructor && err.constructor.name) || 'Error',
      errorMessage: String(err.message),
      stackTrace: String(err.stack || '').split('\n').slice(1).map((s) => s.trim()),
    };
  }
  if (err !== null && typeof err === 'object') {
    let message;
    try { message = JSON.stringify(err); } catch (_) { message = String(err); }
    return { errorType: 'object', errorMessage: message };
  }
  return { errorType: typeof err, errorMessage: String(err) };
}

// Everything the handler printed so far is in the pipes before this marker, and the marker before the reply.
function syncOutput(id) {
  try { process.stdout.write(MARKER + id + '\n'); } catch (_) {}
  try { process.stderr.write(MARKER + id + '\n'); } catch (_) {}
}

function reply(id, outcome, fatal) {
  let line;
  if (outcome.ok) {
    try {
      line = JSON.stringify({ type: 'result', id, ok: true, result: outcome.value === undefined ? null : outcome.value });
      if (line === undefined) throw new Error('not serializable');
    } catch (e) {
      outcome = { ok: false, error: Object.assign(new Error(`Unable to stringify response body: ${e && e.message}`), { name: 'Runtime.MarshalError' }) };
    }
  }
  if (!outcome.ok) {
    const info = errorInfo(outcome.error);
    if (outcome.errorType) info.errorType = outcome.errorType;
    console.error('Invoke Error', JSON.stringify(info));
    line = JSON.stringify({ type: 'result', id, ok: false, fatal: !!fatal, ...info });
  }
  syncOutput(id);
  chan.write(line + '\n');
}

async function load() {
  let mod;
  const viaImport = () => import(pathToFileURL(FILE).href);
  if (FILE.endsWith('.mjs')) {
    mod = await viaImport();
  } else if (FILE.endsWith('.cjs')) {
    mod = require(FILE);
  } else {
    try {
      mod = require(FILE);
    } catch (e) {
      if (e && (e.code === 'ERR_REQUIRE_ESM' || (e instanceof SyntaxError && /\b(import|export)\b/.test(e.message)))) {
        mod = await viaImport();
      } else {
        throw e;
      }
    }
  }
  for (const name of EXPORTS) {
    let fn = mod == null ? undefined : mod[name];
    if (typeof fn !== 'function' && mod && mod.default) fn = mod.default[name];
    if (typeof fn === 'function') return fn;
  }
  const err = new Error(`${path.basename(FILE)}.${EXPORTS[0]} is undefined or not exported`);
  err.name = 'Runtime.HandlerNotFound';
  throw err;
}

function makeContext(req, finish) {
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    invokedFunctionArn: req.invokedFunctionArn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
    awsRequestId: req.requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: undefined,
    // Settable as in Lambda; tobira answers as soon as the callback is called either way.
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, req.deadlineMs - Date.now()),
    done: (err, value) => (err !== undefined && err !== null ? finish({ ok: false, error: err }) : finish({ ok: true, value })),
    succeed: (value) => finish({ ok: true, value }),
    fail: (err) => finish({ ok: false, error: err === undefined || err === null ? new Error('handled') : err }),
  };
}

function run(req) {
  let settled = false;
  current = { id: req.id };
  const finish = (outcome) => {
    if (settled) return;
    settled = true;
    current = null;
    reply(req.id, outcome, false);
    setImmediate(next);
  };
  current.finish = finish;
  const context = makeContext(req, finish);
  const callback = (err, value) => (err !== undefined && err !== null ? finish({ ok: false, error: err }) : finish({ ok: true, value }));
  let r;
  try {
    r = handler(req.event, context, callback);
  } catch (e) {
    return finish({ ok: false, error: e });
  }
  if (r && typeof r.then === 'function') {
    r.then((value) => finish({ ok: true, value }), (error) => finish({ ok: false, error }));
  }
  // Otherwise: wait for the callback (or context.done/succeed/fail); tobira's timeout bounds the wait.
}

function next() {
  if (current || !handler) return;
  const req = queue.shift();
  if (req) run(req);
}

function onData(chunk) {
  inbuf += chunk;
  let i;
  while ((i = inbuf.indexOf('\n')) >= 0) {
    const line = inbuf.slice(0, i);
    inbuf = inbuf.slice(i + 1);
    if (line.trim()) queue.push(JSON.parse(line));
  }
  next();
}

// An uncaught error fails the invocation in progress and ends this worker; tobira starts a fresh one.
function fatal(err, errorType) {
  const c = current;
  current = null;
  const done = () => process.exit(1);
  if (c) {
    const outcome = { ok: false, error: err };
    if (errorType) outcome.errorType = errorType;
    try {
      reply(c.id, outcome, true);
    } catch (_) {}
    chan.end(done);
  } else if (!handler) {
    const info = errorInfo(err);
    console.error('Init Error', JSON.stringify(info));
    chan.end(JSON.stringify({ type: 'init_error', ...info }) + '\n', done);
  } else {
    console.error('Uncaught error outside an invocation:', err);
    chan.end(done);
  }
  setTimeout(done, 1000).unref();
}
process.on('uncaughtException', (err) => fatal(err));
process.on('unhandledRejection', (reason) => fatal(reason, 'Runtime.UnhandledPromiseRejection'));

chan.setEncoding('utf8');
chan.on('data', onData);

load().then(
  (fn) => {
    handler = fn;
    send({ type: 'ready' });
    next();
  },
  (e) => {
    const info = errorInfo(e);
    if (!/^Runtime\./.test(info.errorType)) {
      info.errorMessage = `${info.errorType}: ${info.errorMessage}`;
      info.errorType = e instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError';
    }
    console.error('Init Error', JSON.stringify(info));
    chan.end(JSON.stringify({ type: 'init_error', ...info }) + '\n', () => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
  },
);
