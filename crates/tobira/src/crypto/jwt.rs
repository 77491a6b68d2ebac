//! RS256 JSON Web Tokens, Cognito style, with keys parsed once.
//!
//! * [`RsaSigningKey`] holds an RSA-2048 private key (aws-lc `RsaKeyPair`), its `kid`, its public
//!   JWK and a pre-parsed verifier, all computed once when the key is loaded or generated.
//!   Keys are stored as PKCS#8 DER (see [`RsaSigningKey::generate`] / [`RsaSigningKey::from_pkcs8`]).
//! * Tokens are `base64url(header).base64url(payload).base64url(signature)` without padding; the
//!   header is exactly `{"kid":"…","alg":"RS256"}` like Cognito's.
//! * The `kid` is the standard base64 (44 characters) of SHA-256 over the public key's
//!   SubjectPublicKeyInfo DER, the same shape as Cognito's kids. Clients treat it as opaque.
//! * [`parse`] splits and decodes a token without checking anything cryptographic;
//!   [`RsaVerifyingKey::verify`] checks `alg == RS256`, the `kid` (if the token has one) and the
//!   signature. Claim checks (`exp`, `iss`, `token_use`, …) belong to the caller.
//!
//! [`CryptoError`] lives here and is shared with `seal.rs`.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};

/// A crypto failure or malformed input, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoError(pub String);

impl CryptoError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        CryptoError(msg.into())
    }
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CryptoError {}

/// An RSA-2048 signing key with everything derived from it cached.
pub struct RsaSigningKey {
    kid: String,
    key_pair: RsaKeyPair,
    /// `"{\"kid\":…,\"alg\":\"RS256\"}"` base64url-encoded, ready to prefix tokens.
    header_b64: String,
    jwk: Value,
    verifying: RsaVerifyingKey,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigningKey {
    /// A new RSA-2048 key pair. Returns the key and its PKCS#8 (v1) DER for storage.
    pub fn generate() -> Result<(Self, Vec<u8>), CryptoError> {
        let key_pair =
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| CryptoError::new("RSA key generation failed"))?;
        let der = key_pair
            .as_der()
            .map_err(|_| CryptoError::new("RSA key PKCS#8 encoding failed"))?
            .as_ref()
            .to_vec();
        Ok((Self::from_key_pair(key_pair)?, der))
    }

    /// Load a key from PKCS#8 DER (as returned by [`generate`](Self::generate)).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let key_pair = RsaKeyPair::from_pkcs8(der).map_err(|e| CryptoError(format!("invalid RSA PKCS#8 key: {e}")))?;
        Self::from_key_pair(key_pair)
    }

    fn from_key_pair(key_pair: RsaKeyPair) -> Result<Self, CryptoError> {
        let public = key_pair.public_key();
        let spki = public
            .as_der()
            .map_err(|_| CryptoError::new("RSA public key encoding failed"))?;
        let spki = spki.as_ref();
        let kid = STANDARD.encode(super::seal::sha256(spki));

        let parsed = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki)
            .map_err(|e| CryptoError(format!("RSA public key rejected: {e}")))?;
        let verifying = RsaVerifyingKey {
            inner: Arc::new(VerifyingInner {
                kid: kid.clone(),
                key: parsed,
            }),
        };

        let components: signature::RsaPublicKeyComponents<Vec<u8>> = public.into();
        let jwk = serde_json::json!({
            "alg": "RS256",
            "e": URL_SAFE_NO_PAD.encode(&components.e),
            "kid": kid,
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "use": "sig",
        });

        // serde_json escapes the kid as a JSON string; base64 kids need no escaping anyway.
        let header = format!("{{\"kid\":{},\"alg\":\"RS256\"}}", Value::String(kid.clone()));
        let header_b64 = URL_SAFE_NO_PAD.encode(header.as_bytes());

        Ok(RsaSigningKey {
            kid,
            key_pair,
            header_b64,
            jwk,
            verifying,
        })
    }

    /// The key id (44-character standard base64).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign `claims` as an RS256 JWT. The header is exactly `{"kid":"…","alg":"RS256"}`; the
    /// payload is `claims` serialized by serde_json as given.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        // Serializing a Map<String, Value> cannot fail (string keys, no custom Serialize impls).
        let payload = serde_json::to_vec(claims).expect("JSON object serialization cannot fail");
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 350);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);

        let mut sig = vec![0u8; self.key_pair.public_modulus_len()];
        // PKCS#1 v1.5 signing is deterministic; the RNG argument is unused by aws-lc-rs but required.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut sig)
            .expect("RSA signing with a valid key cannot fail");
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
        token
    }

    /// The public JWK: `{"alg":"RS256","e":"AQAB","kid":…,"kty":"RSA","n":…,"use":"sig"}`.
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// A cheap-to-clone verifier for this key.
    pub fn verifying_key(&self) -> RsaVerifyingKey {
        self.verifying.clone()
    }
}

struct VerifyingInner {
    kid: String,
    key: ParsedPublicKey,
}

/// The public half of an [`RsaSigningKey`], parsed once; cloning shares it (`Arc`).
#[derive(Clone)]
pub struct RsaVerifyingKey {
    inner: Arc<VerifyingInner>,
}

impl std::fmt::Debug for RsaVerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaVerifyingKey")
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}

impl RsaVerifyingKey {
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// True iff the token's `alg` is `RS256`, its `kid` (when present) is this key's, and the
    /// signature over `header.payload` verifies. Any other `alg` (including `none`) is false.
    pub fn verify(&self, jwt: &ParsedJwt) -> bool {
        if jwt.alg != "RS256" {
            return false;
        }
        if jwt.kid.as_deref().is_some_and(|kid| kid != self.inner.kid) {
            return false;
        }
        self.inner
            .key
            .verify_sig(jwt.signing_input.as_bytes(), &jwt.signature)
            .is_ok()
    }
}

/// A decoded (not yet verified) JWT.
#[derive(Debug, Clone)]
pub struct ParsedJwt {
    /// Header `alg`.
    pub alg: String,
    /// Header `kid`, if present.
    pub kid: Option<String>,
    /// The full header object.
    pub header: Map<String, Value>,
    /// The payload object.
    pub claims: Map<String, Value>,
    /// `header_b64 + "." + payload_b64`, exactly as received.
    signing_input: String,
    signature: Vec<u8>,
}

/// Split a compact JWS into its three parts, base64url-decode them and parse header and payload
/// as JSON objects. Errors on anything malformed: not exactly 3 parts, bad base64url (padding is
/// not allowed), non-object JSON, missing or non-string `alg`, non-string `kid`.
/// Nothing is verified here.
pub fn parse(token: &str) -> Result<ParsedJwt, CryptoError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(CryptoError::new("JWT must have exactly 3 parts"));
    };
    let header = decode_object(h, "header")?;
    let claims = decode_object(p, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CryptoError::new("JWT signature is not valid base64url"))?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(CryptoError::new("JWT header has no string \"alg\"")),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(CryptoError::new("JWT header \"kid\" is not a string")),
    };
    Ok(ParsedJwt {
        alg,
        kid,
        header,
        claims,
        signing_input: token[..h.len() + 1 + p.len()].to_owned(),
        signature,
    })
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, CryptoError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| CryptoError(format!("JWT {what} is not valid base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CryptoError(format!("JWT {what} is not a JSON object"))),
        Err(_) => Err(CryptoError(format!("JWT {what} is not valid JSON"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::OnceLock;

    /// Key generation is slow-ish; share two keys across tests.
    fn keys() -> &'static (RsaSigningKey, Vec<u8>, RsaSigningKey) {
        static KEYS: OnceLock<(RsaSigningKey, Vec<u8>, RsaSigningKey)> = OnceLock::new();
        KEYS.get_or_init(|| {
            let (k1, der) = RsaSigningKey::generate().unwrap();
            let (k2, _) = RsaSigningKey::generate().unwrap();
            (k1, der, k2)
        })
    }

    fn claims() -> Map<String, Value> {
        match json!({"sub": "abc", "token_use": "access", "exp": 1700000000, "cognito:groups": ["a", "b"]}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn thread_safe_types() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RsaSigningKey>();
        assert_send_sync::<RsaVerifyingKey>();
        assert_send_sync::<ParsedJwt>();
        assert_send_sync::<crate::crypto::seal::MasterKey>();
    }

    #[test]
    fn sign_parse_verify() {
        let (k, _, _) = keys();
        assert_eq!(k.kid().len(), 44);
        assert!(STANDARD.decode(k.kid()).is_ok());
        let token = k.sign(&claims());
        let header_json = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(header_json).unwrap(),
            format!("{{\"kid\":\"{}\",\"alg\":\"RS256\"}}", k.kid())
        );
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.alg, "RS256");
        assert_eq!(parsed.kid.as_deref(), Some(k.kid()));
        assert_eq!(parsed.claims, claims());
        assert!(k.verifying_key().verify(&parsed));
        assert_eq!(k.verifying_key().kid(), k.kid());
    }

    #[test]
    fn tampered_payload_fails() {
        let (k, _, _) = keys();
        let token = k.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.insert("sub".into(), json!("evil"));
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        let parsed = parse(&forged).unwrap();
        assert_eq!(parsed.claims["sub"], "evil");
        assert!(!k.verifying_key().verify(&parsed));
        // Flipped signature bit.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
        assert!(!k.verifying_key().verify(&parse(&forged).unwrap()));
        // Truncated signature.
        let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig[..100]));
        assert!(!k.verifying_key().verify(&parse(&forged).unwrap()));
    }

    #[test]
    fn other_key_fails() {
        let (k1, _, k2) = keys();
        let parsed = parse(&k1.sign(&claims())).unwrap();
        assert!(!k2.verifying_key().verify(&parsed));
        // Even with the kid rewritten to the other key's, the signature does not verify.
        let mut p2 = parsed.clone();
        p2.kid = Some(k2.kid().to_owned());
        assert!(!k2.verifying_key().verify(&p2));
    }

    #[test]
    fn alg_none_parses_but_does_not_verify() {
        let (k, _, _) = keys();
        let header = URL_SAFE_NO_PAD.encode(format!("{{\"kid\":\"{}\",\"alg\":\"none\"}}", k.kid()));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let token = format!("{header}.{payload}.");
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.alg, "none");
        assert!(!k.verifying_key().verify(&parsed));
        // An RS256 signature reused under alg HS256 is refused too.
        let real = k.sign(&claims());
        let sig = real.rsplit('.').next().unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!("{{\"kid\":\"{}\",\"alg\":\"HS256\"}}", k.kid()));
        let parsed = parse(&format!("{header}.{payload}.{sig}")).unwrap();
        assert!(!k.verifying_key().verify(&parsed));
    }

    #[test]
    fn malformed_tokens() {
        let obj = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\"}");
        let arr = URL_SAFE_NO_PAD.encode(b"[1,2]");
        let bad_json = URL_SAFE_NO_PAD.encode(b"{\"alg\":");
        let no_alg = URL_SAFE_NO_PAD.encode(b"{\"kid\":\"x\"}");
        let num_kid = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\",\"kid\":5}");
        for t in [
            String::new(),
            "a.b".to_owned(),
            format!("{obj}.{obj}"),
            format!("{obj}.{obj}.AA.AA"),
            format!("{obj}.{arr}.AA"),
            format!("{arr}.{obj}.AA"),
            format!("{bad_json}.{obj}.AA"),
            format!("{no_alg}.{obj}.AA"),
            format!("{num_kid}.{obj}.AA"),
            format!("{obj}.{obj}.A*A"),
            format!("{obj}==.{obj}.AA"),
            format!("{obj}.%%%.AA"),
            "é.é.é".to_owned(),
        ] {
            assert!(parse(&t).is_err(), "should reject {t:?}");
        }
        assert!(parse(&format!("{obj}.{obj}.AA")).is_ok());
        assert!(RsaSigningKey::from_pkcs8(b"not a key").is_err());
        assert!(RsaSigningKey::from_pkcs8(&[]).is_err());
    }

    #[test]
    fn pkcs8_round_trip() {
        let (k, der, _) = keys();
        let k2 = RsaSigningKey::from_pkcs8(der).unwrap();
        assert_eq!(k2.kid(), k.kid());
        assert_eq!(k2.jwk(), k.jwk());
        // A token signed by the reloaded key verifies under the original's verifier and vice versa.
        assert!(k.verifying_key().verify(&parse(&k2.sign(&claims())).unwrap()));
        assert!(k2.verifying_key().verify(&parse(&k.sign(&claims())).unwrap()));
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(k.sign(&claims()), k2.sign(&claims()));

        let jwk = k.jwk();
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], k.kid());
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert!(n[0] & 0x80 != 0);
        let keys: Vec<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["alg", "e", "kid", "kty", "n", "use"]);
    }

    /// Wall-clock and on-CPU seconds of this thread (the CPU figure comes from
    /// `/proc/thread-self/schedstat` on Linux, so it is meaningful on a busy machine).
    fn bench_clock() -> (std::time::Instant, Option<u64>) {
        let cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        (std::time::Instant::now(), cpu)
    }

    fn bench_report(what: &str, n: u32, start: (std::time::Instant, Option<u64>)) {
        let wall = start.0.elapsed().as_secs_f64();
        let end = bench_clock().1;
        let cpu = match (start.1, end) {
            (Some(a), Some(b)) => format!("{:.0}/s per core of CPU time", n as f64 / ((b - a) as f64 / 1e9)),
            _ => "CPU time unavailable".to_owned(),
        };
        println!("{what}: {:.0}/s wall clock, {cpu}", n as f64 / wall);
    }

    /// `cargo test --release -- --ignored --nocapture jwt_rates`
    #[test]
    #[ignore]
    fn jwt_rates() {
        let (k, _, _) = keys();
        let c = claims();
        let n = 2000;
        let t = bench_clock();
        let mut token = String::new();
        for _ in 0..n {
            token = std::hint::black_box(k.sign(&c));
        }
        bench_report("sign", n, t);

        let vk = k.verifying_key();
        let n = 30000;
        let parsed = parse(&token).unwrap();
        let t = bench_clock();
        for _ in 0..n {
            assert!(vk.verify(std::hint::black_box(&parsed)));
        }
        bench_report("verify", n, t);

        let t = bench_clock();
        for _ in 0..n {
            let p = parse(std::hint::black_box(&token)).unwrap();
            assert!(vk.verify(&p));
        }
        bench_report("parse + verify", n, t);
    }
}
