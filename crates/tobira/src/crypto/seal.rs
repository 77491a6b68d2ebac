//! Secrets at rest, and the small hash/MAC helpers the rest of the crate uses.
//!
//! * [`MasterKey`]: a 32-byte master secret from `TOBIRA_MASTER_KEY` (base64 or hex) or from
//!   `<data_dir>/master.key` (created on first start). Two subkeys are derived from it with
//!   HKDF-SHA256 under distinct info strings: an AES-256-GCM key for [`MasterKey::seal`] /
//!   [`MasterKey::open`] and an HMAC-SHA256 key for [`MasterKey::mac`]. The master secret itself
//!   is not kept.
//! * Sealed blob layout: `nonce (12) ‖ ciphertext ‖ tag (16)`. The nonce is 96 random bits from
//!   the system CSPRNG (aws-lc), which is safe for far more than the number of secrets a server
//!   stores. The caller's `context` is the AEAD associated data: it binds a blob to its row (e.g.
//!   `b"verifier:us-east-1_abc:alice"`), so a blob copied to another row fails to open.
//! * [`MasterKey::mac`] is for values stored only as hashes (codes, refresh tokens): HMAC under
//!   the derived MAC key over `len(label) ‖ label ‖ data`, so different labels never collide.
//! * [`secret_hash`] is Cognito's `SECRET_HASH`; [`ct_eq`], [`sha256`], [`hmac_sha256`] are
//!   general helpers.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf, hmac};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub use super::jwt::CryptoError;

/// Name of the key file inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

const HKDF_SALT: &[u8] = b"tobira master key v1";
const INFO_SEAL: &[u8] = b"tobira seal aes-256-gcm v1";
const INFO_MAC: &[u8] = b"tobira mac hmac-sha256 v1";
const TAG_LEN: usize = 16;

/// The server's master key: derived AES-256-GCM and HMAC-SHA256 subkeys.
pub struct MasterKey {
    seal_key: LessSafeKey,
    mac_key: hmac::Key,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// HKDF output length marker for 32-byte subkeys.
struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl MasterKey {
    /// Derive the subkeys from a 32-byte master secret.
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(&secret);
        let derive = |info: &[u8]| -> [u8; 32] {
            let mut out = [0u8; 32];
            let info = [info];
            prk.expand(&info, Len32)
                .and_then(|okm| okm.fill(&mut out))
                .expect("HKDF-SHA256 expand to 32 bytes cannot fail");
            out
        };
        let mut enc = derive(INFO_SEAL);
        let mut mac = derive(INFO_MAC);
        let seal_key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &enc).expect("AES-256-GCM accepts a 32-byte key"));
        let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &mac);
        enc.fill(0);
        mac.fill(0);
        MasterKey { seal_key, mac_key }
    }

    /// Load the master key.
    ///
    /// * `env_value` (from `TOBIRA_MASTER_KEY`): 32 bytes as standard base64 (padding optional) or
    ///   as 64 hex digits. Surrounding whitespace is ignored; an empty value counts as unset.
    /// * Otherwise `<data_dir>/master.key` (base64) is read; if it does not exist it is created
    ///   with 32 random bytes, mode 0600, atomically (written to a temporary file, then linked
    ///   into place without overwriting; if another process created it first, theirs is used).
    /// * With neither, or on malformed input, `Err` with a message for the operator.
    pub fn load_or_create(env_value: Option<&str>, data_dir: Option<&Path>) -> Result<Self, String> {
        if let Some(v) = env_value.map(str::trim).filter(|v| !v.is_empty()) {
            let secret = parse_secret(v).map_err(|e| format!("TOBIRA_MASTER_KEY: {e}"))?;
            return Ok(Self::from_bytes(secret));
        }
        let Some(dir) = data_dir else {
            return Err(
                "no master key: set TOBIRA_MASTER_KEY (32 bytes, base64 or 64 hex digits) or configure a data directory"
                    .to_owned(),
            );
        };
        let path = dir.join(MASTER_KEY_FILE);
        match read_key_file(&path)? {
            Some(secret) => Ok(Self::from_bytes(secret)),
            None => Ok(Self::from_bytes(create_key_file(dir, &path)?)),
        }
    }

    /// AES-256-GCM with a random 12-byte nonce; returns `nonce ‖ ciphertext ‖ tag`.
    /// `context` is the associated data and must be given again to [`open`](Self::open).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system randomness unavailable");
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(NONCE_LEN);
        self.seal_key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut body)
            .expect("AES-GCM sealing cannot fail for in-range lengths");
        out.extend_from_slice(&body);
        out
    }

    /// Open a blob from [`seal`](Self::seal). Fails if it is truncated or tampered with, or if
    /// `context` differs from the one it was sealed with.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError("sealed blob too short".to_owned()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError("bad nonce".to_owned()))?;
        let mut buf = body.to_vec();
        let plain_len = self
            .seal_key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| CryptoError("sealed blob failed authentication (wrong key, context or data)".to_owned()))?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }

    /// HMAC-SHA256 under the derived MAC key over `len(label) as u64 BE ‖ label ‖ data`.
    pub fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.mac_key);
        ctx.update(&(label.len() as u64).to_be_bytes());
        ctx.update(label.as_bytes());
        ctx.update(data);
        to32(ctx.sign().as_ref())
    }
}

/// Parse 32 bytes from 64 hex digits or standard base64 (with or without padding).
fn parse_secret(v: &str) -> Result<[u8; 32], String> {
    let bytes = if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(v).map_err(|e| format!("invalid hex: {e}"))?
    } else {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        engine
            .decode(v)
            .map_err(|_| "expected 32 bytes as standard base64 or 64 hex digits".to_owned())?
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 32 bytes, got {} (base64 or 64 hex digits)", bytes.len()))
}

/// `Ok(None)` if the file does not exist.
fn read_key_file(path: &Path) -> Result<Option<[u8; 32]>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => parse_secret(s.trim())
            .map(Some)
            .map_err(|e| format!("master key file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read master key file {}: {e}", path.display())),
    }
}

/// Create `<dir>/master.key` atomically. If another process wins the race, read its key.
fn create_key_file(dir: &Path, path: &Path) -> Result<[u8; 32], String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| "system randomness unavailable".to_owned())?;

    let tmp = temp_path(dir);
    let result = write_private(&tmp, format!("{}\n", STANDARD.encode(secret)).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
        // hard_link fails with AlreadyExists instead of replacing (unlike rename), so a key
        // another process already published is never overwritten.
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                sync_dir(dir);
                Ok(Some(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(format!("cannot create master key file {}: {e}", path.display())),
        });
    let _ = std::fs::remove_file(&tmp);
    match result? {
        Some(secret) => Ok(secret),
        None => {
            read_key_file(path)?.ok_or_else(|| format!("master key file {} vanished while starting", path.display()))
        }
    }
}

fn temp_path(dir: &Path) -> PathBuf {
    let mut r = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut r);
    dir.join(format!(
        ".{MASTER_KEY_FILE}.{}.{}.tmp",
        std::process::id(),
        hex::encode(r)
    ))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn to32(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(s);
    out
}

/// HMAC-SHA256(key, msg).
/// AES-256-GCM under a raw key: `nonce (12) ‖ ciphertext ‖ tag (16)`, no associated data. The
/// format custom sender codes use, so a handler can decrypt them with any AES-GCM library.
pub fn encrypt_with_key(key: &[u8; 32], nonce: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let n: [u8; NONCE_LEN] = nonce.try_into().expect("12-byte nonce");
    let mut buf = plaintext.to_vec();
    k.seal_in_place_append_tag(Nonce::assume_unique_for_key(n), Aad::empty(), &mut buf).expect("seal");
    let mut out = n.to_vec();
    out.extend_from_slice(&buf);
    out
}

/// Opens what [`encrypt_with_key`] made.
pub fn decrypt_with_key(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CryptoError("too short".into()));
    }
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let n: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().expect("nonce");
    let mut buf = sealed[NONCE_LEN..].to_vec();
    let plain = k.open_in_place(Nonce::assume_unique_for_key(n), Aad::empty(), &mut buf).map_err(|_| CryptoError("cannot decrypt".into()))?;
    Ok(plain.to_vec())
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    to32(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg).as_ref())
}

/// Cognito `SECRET_HASH`: base64(HMAC-SHA256(key = client_secret, msg = username ‖ client_id)).
pub fn secret_hash(client_secret: &str, username: &str, client_id: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, client_secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(username.as_bytes());
    ctx.update(client_id.as_bytes());
    STANDARD.encode(ctx.sign().as_ref())
}

/// Constant-time equality (`subtle`); `false` on length mismatch (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// SHA-256(data).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    to32(digest::digest(&digest::SHA256, data).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let mut r = [0u8; 8];
            aws_lc_rs::rand::fill(&mut r).unwrap();
            let p = std::env::temp_dir().join(format!("tobira-seal-{tag}-{}-{}", std::process::id(), hex::encode(r)));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes([b; 32])
    }

    #[test]
    fn seal_open_round_trip() {
        let k = key(1);
        let ctx = b"verifier:us-east-1_abc:alice";
        for pt in [&b""[..], b"x", &[7u8; 1000]] {
            let s = k.seal(ctx, pt);
            assert_eq!(s.len(), 12 + pt.len() + 16);
            assert_eq!(k.open(ctx, &s).unwrap(), pt);
        }
        // Random nonces: two seals of the same plaintext differ.
        assert_ne!(k.seal(ctx, b"same"), k.seal(ctx, b"same"));
    }

    #[test]
    fn wrong_context_or_key_fails() {
        let k = key(1);
        let s = k.seal(b"verifier:us-east-1_abc:alice", b"secret");
        assert!(k.open(b"verifier:us-east-1_abc:bob", &s).is_err());
        assert!(k.open(b"", &s).is_err());
        assert!(key(2).open(b"verifier:us-east-1_abc:alice", &s).is_err());
    }

    #[test]
    fn tampered_blob_fails() {
        let k = key(1);
        let s = k.seal(b"c", b"secret value");
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x01;
            assert!(k.open(b"c", &t).is_err(), "flip at byte {i} accepted");
        }
        assert!(k.open(b"c", &s[..s.len() - 1]).is_err());
        assert!(k.open(b"c", &s[..27]).is_err());
        assert!(k.open(b"c", &[]).is_err());
        let mut longer = s.clone();
        longer.push(0);
        assert!(k.open(b"c", &longer).is_err());
    }

    #[test]
    fn mac_is_keyed_and_labelled() {
        let k = key(1);
        let m = k.mac("code", b"123456");
        assert_eq!(m, k.mac("code", b"123456"));
        assert_ne!(m, k.mac("refresh", b"123456"));
        assert_ne!(m, key(2).mac("code", b"123456"));
        // Label/data boundary is unambiguous.
        assert_ne!(k.mac("ab", b"c"), k.mac("a", b"bc"));
        // Subkeys differ from each other and from a plain HMAC under the master secret.
        assert_ne!(m, hmac_sha256(&[1u8; 32], b"123456"));
    }

    #[test]
    fn key_file_created_once_and_reused() {
        let dir = TempDir::new("file");
        let path = dir.0.join(MASTER_KEY_FILE);
        assert!(!path.exists());
        let k1 = MasterKey::load_or_create(None, Some(&dir.0)).unwrap();
        assert!(path.exists());
        let contents = std::fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(contents.trim()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let blob = k1.seal(b"ctx", b"hello");
        let k2 = MasterKey::load_or_create(None, Some(&dir.0)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), contents);
        assert_eq!(k2.open(b"ctx", &blob).unwrap(), b"hello");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MASTER_KEY_FILE)]);
        // Env takes precedence over the file.
        let k3 = MasterKey::load_or_create(Some(&STANDARD.encode([9u8; 32])), Some(&dir.0)).unwrap();
        assert!(k3.open(b"ctx", &blob).is_err());
    }

    #[test]
    fn key_file_race_converges() {
        let dir = TempDir::new("race");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let d = dir.0.clone();
                std::thread::spawn(move || MasterKey::load_or_create(None, Some(&d)).unwrap().seal(b"c", b"v"))
            })
            .collect();
        let blobs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let k = MasterKey::load_or_create(None, Some(&dir.0)).unwrap();
        for b in blobs {
            assert_eq!(k.open(b"c", &b).unwrap(), b"v");
        }
    }

    #[test]
    fn key_file_missing_dir_is_created_and_bad_file_rejected() {
        let dir = TempDir::new("nested");
        let nested = dir.0.join("a/b");
        assert!(MasterKey::load_or_create(None, Some(&nested)).is_ok());
        assert!(nested.join(MASTER_KEY_FILE).exists());

        let bad = TempDir::new("bad");
        std::fs::write(bad.0.join(MASTER_KEY_FILE), "not a key").unwrap();
        let err = MasterKey::load_or_create(None, Some(&bad.0)).unwrap_err();
        assert!(err.contains("master key file"), "{err}");
    }

    #[test]
    fn env_base64_and_hex() {
        let secret: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let reference = MasterKey::from_bytes(secret);
        let blob = reference.seal(b"c", b"v");
        let b64 = STANDARD.encode(secret);
        let hexed = hex::encode(secret);
        for env in [
            b64.clone(),
            b64.trim_end_matches('=').to_owned(),
            format!("  {b64}\n"),
            hexed.clone(),
            hexed.to_uppercase(),
        ] {
            let k = MasterKey::load_or_create(Some(&env), None).unwrap();
            assert_eq!(k.open(b"c", &blob).unwrap(), b"v", "env {env:?}");
        }
        for bad in [
            "abc",
            "!!!!",
            &STANDARD.encode([1u8; 31]),
            &STANDARD.encode([1u8; 33]),
            &hexed[..62],
            &"zz".repeat(32),
        ] {
            assert!(MasterKey::load_or_create(Some(bad), None).is_err(), "accepted {bad:?}");
        }
        // Empty env counts as unset; with no data dir that is an error.
        let err = MasterKey::load_or_create(Some("  "), None).unwrap_err();
        assert!(err.contains("TOBIRA_MASTER_KEY"), "{err}");
        assert!(MasterKey::load_or_create(None, None).is_err());
    }

    #[test]
    fn secret_hash_vector() {
        assert_eq!(
            secret_hash("abcdef0123456789secret", "alice", "1example23456789"),
            "GcRZK02i+29hMq+k/BccExhCvAWS8r8E+jSnMesU7xA="
        );
        assert_ne!(
            secret_hash("abcdef0123456789secret", "alice2", "1example23456789"),
            "GcRZK02i+29hMq+k/BccExhCvAWS8r8E+jSnMesU7xA="
        );
    }

    #[test]
    fn helpers() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
