//! TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), as authenticator apps compute it,
//! and the base32 form of the shared secret that AssociateSoftwareToken hands out.

use aws_lc_rs::hmac;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The code for time step `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:0width$}", bin % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// Checks `code` against the steps around `now_secs` (one step either side). Returns the
/// matching step if it is newer than `last_used_step` (a code is accepted once).
pub fn verify(secret: &[u8], code: &str, now_secs: i64, last_used_step: Option<i64>) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = now_secs.div_euclid(STEP_SECS);
    let mut found = None;
    for step in [now_step - 1, now_step, now_step + 1] {
        // Compare every candidate in constant time, whatever matched before.
        if crate::crypto::seal::ct_eq(code_at(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found.filter(|s| last_used_step.is_none_or(|last| *s > last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", last 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59 / 30), "287082");
        assert_eq!(code_at(secret, 1_111_111_109 / 30), "081804");
        assert_eq!(code_at(secret, 1_234_567_890 / 30), "005924");
        assert_eq!(code_at(secret, 20_000_000_000 / 30), "353130");
    }

    #[test]
    fn base32_round_trip() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        let data: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&data)).unwrap(), data);
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn window_and_reuse() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let step = now / 30;
        assert_eq!(verify(secret, &code_at(secret, step), now, None), Some(step));
        assert_eq!(verify(secret, &code_at(secret, step - 1), now, None), Some(step - 1));
        assert_eq!(verify(secret, &code_at(secret, step - 2), now, None), None);
        assert_eq!(verify(secret, &code_at(secret, step), now, Some(step)), None, "reuse refused");
        assert_eq!(verify(secret, "12345", now, None), None);
    }
}
