// Helpers for the tests that drive tobira through the client libraries apps ship:
// amazon-cognito-identity-js (ACIJS) and Amplify v6. TOTP codes come from otpauth, at tobira's clock.

import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import {
  CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute,
} from 'amazon-cognito-identity-js';
import { getClock, advanceClock, decodeJwt } from './harness.mjs';

export { CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute };

/** The simplest Storage ACIJS accepts (setItem/getItem/removeItem/clear), as a Node app would give it. */
export function memoryStorage() {
  const data = new Map();
  return {
    setItem(k, v) { data.set(k, String(v)); return data.get(k); },
    getItem(k) { return data.has(k) ? data.get(k) : null; },
    removeItem(k) { return data.delete(k); },
    clear() { data.clear(); return {}; },
    keys() { return [...data.keys()]; },
  };
}

/**
 * An ACIJS user pool pointed at tobira, with a request log: every call the library makes
 * ({op, req, res, err}) is kept in pool.calls, so a test can see which challenges went over the wire.
 */
export function acijsPool(endpoint, poolId, clientId, storage = memoryStorage()) {
  const pool = new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint, Storage: storage });
  pool.calls = [];
  const orig = pool.client.request.bind(pool.client);
  pool.client.request = (op, params, cb) => {
    // A copy: the library mutates its request objects when it retries.
    const entry = { op, req: structuredClone(params) };
    pool.calls.push(entry);
    orig(op, params, (err, data) => {
      entry.err = err;
      entry.res = data;
      cb(err, data);
    });
  };
  pool.storage = storage;
  return pool;
}

/** The RespondToAuthChallenge challenge names the library sent since call index `from`. */
export function sentChallenges(pool, from = 0) {
  return pool.calls.slice(from).filter((c) => c.op === 'RespondToAuthChallenge').map((c) => c.req.ChallengeName);
}

/**
 * user.authenticateUser as a promise that settles at the first callback:
 *   {kind: 'success', session, userConfirmationNecessary} | {kind: 'totpRequired'|'mfaRequired'|'selectMFAType'
 *   |'mfaSetup'|'newPasswordRequired'|'customChallenge', challengeName, params}; rejects on onFailure.
 */
export function acijsCallbacks(resolve, reject) {
  const settle = (kind) => (challengeName, params) => resolve({ kind, challengeName, params });
  return {
    onSuccess: (session, userConfirmationNecessary) => resolve({ kind: 'success', session, userConfirmationNecessary }),
    onFailure: (err) => reject(err),
    totpRequired: settle('totpRequired'),
    mfaRequired: settle('mfaRequired'),
    selectMFAType: settle('selectMFAType'),
    mfaSetup: settle('mfaSetup'),
    newPasswordRequired: (userAttributes, requiredAttributes) => resolve({ kind: 'newPasswordRequired', userAttributes, requiredAttributes }),
    customChallenge: (params) => resolve({ kind: 'customChallenge', params }),
  };
}

export function acijsAuthenticate(user, username, password) {
  return new Promise((resolve, reject) => {
    user.authenticateUser(new AuthenticationDetails({ Username: username, Password: password }), acijsCallbacks(resolve, reject));
  });
}

export function acijsSendMfaCode(user, code, mfaType) {
  return new Promise((resolve, reject) => user.sendMFACode(code, acijsCallbacks(resolve, reject), mfaType));
}

/** Node-style ACIJS call (callback(err, result)) as a promise. */
export function nodeback(fn) {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

/** Assert that an ACIJS call failed with this Cognito error code and (when given) exact message. */
export async function expectAcijsError(promise, code, message) {
  let err;
  try {
    const out = await promise;
    assert.fail(`expected ${code}${message ? ` "${message}"` : ''} but the call succeeded: ${JSON.stringify(out?.kind ?? out)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(err.code, code, `error code; got ${err.code}: ${JSON.stringify(err.message)}`);
  if (message instanceof RegExp) assert.match(err.message, message);
  else if (message !== undefined) assert.equal(err.message, message, `error message for ${code}`);
  return err;
}

/** RFC 6238 code (SHA1, 6 digits, 30 s) for a base32 secret at a time in milliseconds. */
export function totpAt(secret, millis) {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });
  return totp.generate({ timestamp: millis });
}

/** The TOTP code for tobira's current time (its clock may have been moved forward). */
export async function tobiraTotp(endpoint, secret) {
  return totpAt(secret, await getClock(endpoint));
}

/**
 * Move tobira's clock into the next 30-second TOTP step (so a fresh code differs from any code used so far),
 * landing a few seconds into it. Returns the new time in ms.
 */
export async function nextTotpStep(endpoint) {
  const now = await getClock(endpoint);
  const intoStep = now % 30_000;
  const seconds = Math.ceil((30_000 - intoStep) / 1000) + 1;
  return advanceClock(endpoint, seconds);
}

/** A code that is certainly not the right one now (nor in the neighbouring steps). */
export async function wrongTotp(endpoint, secret) {
  const now = await getClock(endpoint);
  const near = new Set([-2, -1, 0, 1, 2].map((k) => totpAt(secret, now + k * 30_000)));
  for (let i = 0; ; i++) {
    const c = String((Number(totpAt(secret, now)) + 111_111 * (i + 1)) % 1_000_000).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

export function accessClaims(session) {
  return decodeJwt(session.getAccessToken().getJwtToken()).payload;
}

/** ACIJS call taking a {onSuccess, onFailure} callback object, as a promise. */
export function cbObject(fn, extra = () => ({})) {
  return new Promise((resolve, reject) => fn({ onSuccess: resolve, onFailure: reject, ...extra(resolve, reject) }));
}
