// Token verification with aws-jwt-verify, discovery/JWKS, and forged or expired tokens refused by tobira.
//
// CognitoJwtVerifier is not used: it derives the issuer (https://cognito-idp.<region>.amazonaws.com/<pool>) and the
// HTTPS JWKS URI from the pool id, while tobira's default issuer is the local form `${endpoint}/${poolId}`.
// The generic JwtVerifier is the documented way for any other issuer; its default fetcher is HTTPS-only, so it
// gets a SimpleJwksCache (the library's own cache) with a fetcher that uses global fetch over http.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign, createPublicKey } from 'node:crypto';
import { JwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { NonRetryableFetchError } from 'aws-jwt-verify/error';
import { GetUserCommand } from '@aws-sdk/client-cognito-identity-provider';
import { useTobira, decodeJwt, b64url, expectCognitoError, advanceClock } from '../harness.mjs';
import { createEmailPool, createAppClient, App, randomEmail } from '../fixtures.mjs';

/** aws-jwt-verify Fetcher over plain http (for loopback only), same contract as the library's SimpleFetcher. */
class HttpFetcher {
  constructor() { this.calls = []; }

  async fetch(uri) {
    this.calls.push(uri);
    const res = await fetch(uri, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) {
      throw new NonRetryableFetchError(uri, `Status code is ${res.status}, expected 200`);
    }
    return res.arrayBuffer();
  }
}

async function getJson(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url} -> ${res.status}`);
  assert.match(res.headers.get('content-type') || '', /json/, `content type of ${url}`);
  return res.json();
}

/** Sign header.payload with an RSA private key (RS256). */
function signRs256(header, payload, privateKey) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

describe('aws-jwt-verify, discovery and JWKS', () => {
  const t = useTobira();
  let poolId;
  let issuer;
  let app;
  let sub;
  let tokens;
  let idVerifier;
  let accessVerifier;
  let fetcher;

  before(async () => {
    poolId = await createEmailPool(t.client);
    issuer = `${t.endpoint}/${poolId}`;
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: false }));
    const email = randomEmail('jwt');
    sub = await app.signUpConfirmed(email);
    tokens = (await app.signIn(email)).AuthenticationResult;

    fetcher = new HttpFetcher();
    const jwksCache = new SimpleJwksCache({ fetcher });
    const jwksUri = `${issuer}/.well-known/jwks.json`;
    idVerifier = JwtVerifier.create({ issuer, audience: app.clientId, jwksUri }, { jwksCache });
    accessVerifier = JwtVerifier.create({
      issuer,
      audience: null, // Cognito access tokens have client_id, not aud
      jwksUri,
      scope: 'aws.cognito.signin.user.admin',
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'access') throw new Error(`token_use is ${payload.token_use}, expected access`);
        if (payload.client_id !== app.clientId) throw new Error(`client_id is ${payload.client_id}`);
      },
    }, { jwksCache });
  });

  it('openid-configuration names the tokens\' issuer and a JWKS URI that resolves', async () => {
    const conf = await getJson(`${issuer}/.well-known/openid-configuration`);
    assert.equal(conf.issuer, decodeJwt(tokens.IdToken).payload.iss);
    assert.equal(conf.issuer, issuer);
    assert.equal(typeof conf.jwks_uri, 'string');
    assert.equal(conf.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.ok(conf.id_token_signing_alg_values_supported.includes('RS256'));
    assert.deepEqual(conf.subject_types_supported, ['public']);
    assert.ok(Array.isArray(conf.response_types_supported));
    const jwks = await getJson(conf.jwks_uri);
    assert.ok(Array.isArray(jwks.keys) && jwks.keys.length > 0);
  });

  it('the JWKS has 2 public RSA signing keys, one for ID and one for access tokens', async () => {
    const jwks = await getJson(`${issuer}/.well-known/jwks.json`);
    assert.equal(jwks.keys.length, 2);
    for (const k of jwks.keys) {
      assert.equal(k.kty, 'RSA');
      assert.equal(k.alg, 'RS256');
      assert.equal(k.use, 'sig');
      assert.equal(k.e, 'AQAB');
      assert.equal(typeof k.kid, 'string');
      assert.ok(Buffer.from(k.n, 'base64url').length >= 256, 'modulus is at least 2048 bits');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, `JWKS leaks private member ${priv}`);
      createPublicKey({ key: k, format: 'jwk' }); // parses as a public key
    }
    assert.notEqual(jwks.keys[0].kid, jwks.keys[1].kid);
    const idKid = decodeJwt(tokens.IdToken).header.kid;
    const accessKid = decodeJwt(tokens.AccessToken).header.kid;
    assert.notEqual(idKid, accessKid, 'ID and access tokens are signed with different keys');
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [idKid, accessKid].sort());
  });

  it('another pool has its own keys', async () => {
    const other = await createEmailPool(t.client);
    const a = await getJson(`${t.endpoint}/${poolId}/.well-known/jwks.json`);
    const b = await getJson(`${t.endpoint}/${other}/.well-known/jwks.json`);
    const aKids = new Set(a.keys.map((k) => k.kid));
    const aNs = new Set(a.keys.map((k) => k.n));
    for (const k of b.keys) {
      assert.ok(!aKids.has(k.kid), 'kids are not shared between pools');
      assert.ok(!aNs.has(k.n), 'key material is not shared between pools');
    }
  });

  it('JwtVerifier accepts the ID token', async () => {
    const payload = await idVerifier.verify(tokens.IdToken);
    assert.equal(payload.sub, sub);
    assert.equal(payload.token_use, 'id');
    assert.ok(fetcher.calls.includes(`${issuer}/.well-known/jwks.json`), 'the JWKS was fetched over http from tobira');
  });

  it('JwtVerifier (audience null + customJwtCheck) accepts the access token', async () => {
    const payload = await accessVerifier.verify(tokens.AccessToken);
    assert.equal(payload.username, sub);
    assert.equal(payload.client_id, app.clientId);
  });

  it('each verifier refuses the other token type', async () => {
    await assert.rejects(idVerifier.verify(tokens.AccessToken), 'an access token has no aud');
    await assert.rejects(accessVerifier.verify(tokens.IdToken), 'an ID token is not an access token');
  });

  it('the refresh token is not a JWT the verifier accepts', async () => {
    await assert.rejects(idVerifier.verify(tokens.RefreshToken));
  });

  it('JwtVerifier refuses a token with a changed payload', async () => {
    const [h, , sig] = tokens.IdToken.split('.');
    const p = { ...decodeJwt(tokens.IdToken).payload, email: 'attacker@example.com' };
    await assert.rejects(idVerifier.verify(`${h}.${b64url(p)}.${sig}`));
  });
});

describe('tobira refuses forged and expired access tokens', () => {
  const t = useTobira();
  let app;
  let sub;
  let tokens;

  before(async () => {
    const poolId = await createEmailPool(t.client);
    app = new App(t.client, t.endpoint, poolId, await createAppClient(t.client, poolId, { secret: false }));
    const email = randomEmail('forge');
    sub = await app.signUpConfirmed(email);
    tokens = (await app.signIn(email)).AuthenticationResult;
  });

  const getUser = (AccessToken) => t.client.send(new GetUserCommand({ AccessToken }));

  it('the genuine access token works (sanity check)', async () => {
    const me = await getUser(tokens.AccessToken);
    assert.equal(me.Username, sub);
  });

  it('a token signed by another RSA key with the pool\'s real kid', async () => {
    const { header, payload } = decodeJwt(tokens.AccessToken);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = signRs256(header, payload, privateKey);
    await expectCognitoError(getUser(forged), 'NotAuthorizedException', undefined);
  });

  it('a token with alg "none", the real kid and an empty signature', async () => {
    const { header, payload } = decodeJwt(tokens.AccessToken);
    const forged = `${b64url({ ...header, alg: 'none' })}.${b64url(payload)}.`;
    await expectCognitoError(getUser(forged), 'NotAuthorizedException', undefined);
  });

  it('a genuine signature over a changed payload', async () => {
    const [h, , sig] = tokens.AccessToken.split('.');
    const payload = { ...decodeJwt(tokens.AccessToken).payload, exp: decodeJwt(tokens.AccessToken).payload.exp + 86400 };
    await expectCognitoError(getUser(`${h}.${b64url(payload)}.${sig}`), 'NotAuthorizedException', undefined);
  });

  it('an ID token given as the access token (wrong token_use)', async () => {
    await expectCognitoError(getUser(tokens.IdToken), 'NotAuthorizedException', undefined);
  });

  it('an expired access token: "Access Token has expired"; refresh still works', async () => {
    await advanceClock(t.endpoint, 3601);
    await expectCognitoError(getUser(tokens.AccessToken), 'NotAuthorizedException', 'Access Token has expired');
    const r = (await app.refresh(tokens.RefreshToken, sub)).AuthenticationResult;
    const me = await getUser(r.AccessToken);
    assert.equal(me.Username, sub);
  });
});
