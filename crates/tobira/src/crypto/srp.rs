//! Cognito's SRP-6a variant (server side), as used by `USER_SRP_AUTH` and `DEVICE_SRP_AUTH`.
//!
//! The math follows the protocol fact sheet §2 (amazon-cognito-identity-js `AuthenticationHelper`,
//! pycognito `aws_srp.py`):
//!
//! * group: N = RFC 3526 3072-bit MODP prime, g = 2, H = SHA-256;
//! * `PAD(n)`: big-endian bytes of the integer with a `0x00` prepended when the top bit is set
//!   (Java `BigInteger.toByteArray`); every hash input goes through `PAD`;
//! * k = H(PAD(N) ‖ PAD(g));
//! * x = H(PAD(salt) ‖ H(poolName ‖ userId ‖ ":" ‖ password)), v = g^x mod N;
//! * B = (k·v + g^b) mod N, u = H(PAD(A) ‖ PAD(B)), S = (A·v^u)^b mod N;
//! * key = HKDF-SHA256(IKM = PAD(S), salt = PAD(u), info = "Caldera Derived Key"), 16 bytes;
//! * PASSWORD_CLAIM_SIGNATURE = base64(HMAC-SHA256(key, poolName ‖ userId ‖ secretBlock ‖ timestamp)).
//!
//! Bignum arithmetic is aws-lc's `BIGNUM` through `aws-lc-sys`, wrapped in small RAII types.
//! Every exponentiation whose base or exponent is secret (x, b, v) uses
//! `BN_mod_exp_mont_consttime` with one Montgomery context for N built once (a `OnceLock`,
//! read-only afterwards), except powers of the fixed base g (v = g^x, g^b, A = g^a), which use a
//! precomputed table (see [`FixedBase`]): 63 Montgomery multiplications with constant-time table
//! reads instead of ~256 squarings, about four times faster and just as constant-time. Products involving secrets are done with Montgomery multiplication
//! and additions with `BN_mod_add_quick`, which avoid the data-dependent division of
//! `BN_mod_mul`/`BN_mod_add`. Exponents are loaded at a fixed width so the exponentiation time
//! does not reveal leading zero bits.
//!
//! ## Hex on the wire (for the integrator)
//! * `SRP_B` and `SALT` in `ChallengeParameters`: use [`to_hex`] (lowercase, minimal, like JS
//!   `BigInteger.toString(16)`). Both clients parse `SRP_B` as an integer. For `SALT`, minimal hex
//!   makes amazon-cognito-identity-js (`padHex(new BigInteger(SALT,16))`) and pycognito
//!   (`pad_hex(SALT)` on the string) compute the same bytes, namely `PAD(int(salt))`, which is
//!   exactly what [`compute_verifier`] uses. (Full-width hex would make them disagree for a salt
//!   whose first byte is `0x00`.) Salts from [`new_salt`] start with a byte in `0x10..=0x7f`, so
//!   for them minimal hex, full-width hex and PAD hex are the same 32 characters.
//!   `SRP_B` may come out as odd-length hex, which is fine since clients parse it as an integer.
//! * `SRP_A` from the client: unpadded lowercase hex, possibly of odd length; decode it with
//!   [`from_hex`] (accepts odd length, either case), then pass the bytes to [`server_session_key`].
//! * Device verifiers (`ConfirmDevice`): `PasswordVerifier` is base64 of `PAD(v)` and `Salt` is
//!   base64 of `PAD(random)`; store the decoded bytes as they are and check the verifier with
//!   [`is_valid_verifier`]. For `DEVICE_SRP_AUTH` use DeviceGroupKey as `pool_name` and DeviceKey as
//!   `user_id`.

use std::ptr::NonNull;
use std::sync::OnceLock;

use aws_lc_rs::{digest, hmac};
use aws_lc_sys::{BIGNUM, BN_CTX, BN_MONT_CTX};
use base64::Engine as _;

use crate::ports::random::Random;

/// Width of N (and of stored user verifiers) in bytes.
pub const N_BYTES: usize = 384;

/// RFC 3526 group 15 (3072-bit MODP) prime.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

const HKDF_INFO: &[u8] = b"Caldera Derived Key";

/// Errors of the SRP exchange. All of them mean "authentication fails".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrpError {
    /// The client's A is 0 mod N or out of range (longer than N).
    BadA,
    /// The scrambling parameter u = H(PAD(A) ‖ PAD(B)) is 0.
    BadU,
    /// The stored verifier is 0 mod N or longer than N (only possible for a client-supplied
    /// device verifier; see [`is_valid_verifier`]).
    BadVerifier,
}

impl std::fmt::Display for SrpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SrpError::BadA => "SRP: invalid A",
            SrpError::BadU => "SRP: u is zero",
            SrpError::BadVerifier => "SRP: invalid verifier",
        })
    }
}

impl std::error::Error for SrpError {}

// ---------------------------------------------------------------------------------------------
// Safe RAII wrappers over aws-lc BIGNUM / BN_CTX / BN_MONT_CTX.
// ---------------------------------------------------------------------------------------------

/// Panics on an aws-lc failure. With the invariants kept by this module (odd modulus, bases
/// reduced below N) the only possible failure is an allocation failure.
fn check(rc: std::os::raw::c_int, what: &str) {
    assert!(rc == 1, "aws-lc bignum operation failed: {what}");
}

/// An owned `BIGNUM`; cleared and freed on drop (values may be secret).
struct Bn(NonNull<BIGNUM>);

impl Bn {
    fn new() -> Bn {
        // SAFETY: BN_new has no preconditions; null (OOM) is handled.
        let p = unsafe { aws_lc_sys::BN_new() };
        Bn(NonNull::new(p).expect("aws-lc: BN_new failed (out of memory)"))
    }

    /// Big-endian bytes to a non-negative integer. The internal width is `ceil(len/8)` words
    /// regardless of leading zeros, which keeps constant-time exponentiation width fixed.
    fn from_be(bytes: &[u8]) -> Bn {
        let bn = Bn::new();
        // SAFETY: `bytes` is valid for `len` bytes; `bn` is a valid BIGNUM we own.
        let r = unsafe { aws_lc_sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), bn.0.as_ptr()) };
        assert!(!r.is_null(), "aws-lc: BN_bin2bn failed (out of memory)");
        bn
    }

    /// Zero at the full width of N (`LIMBS` words), for Montgomery-domain values.
    fn full_width() -> Bn {
        Bn::from_be(&[0u8; N_BYTES])
    }

    fn dup(&self) -> Bn {
        // SAFETY: valid BIGNUM; BN_dup keeps the width.
        let p = unsafe { aws_lc_sys::BN_dup(self.ptr()) };
        Bn(NonNull::new(p).expect("aws-lc: BN_dup failed (out of memory)"))
    }

    /// The words of a full-width value (see [`Bn::full_width`]).
    fn limbs(&self) -> &[u64] {
        // SAFETY: `d` holds `width` valid words; we only hand out `LIMBS` of them after checking.
        unsafe {
            let bn = &*self.ptr();
            assert_eq!(bn.width as usize, LIMBS, "not a full-width residue");
            std::slice::from_raw_parts(bn.d, LIMBS)
        }
    }

    fn limbs_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `limbs`; we own the BIGNUM exclusively.
        unsafe {
            let bn = &mut *self.mut_ptr();
            assert_eq!(bn.width as usize, LIMBS, "not a full-width residue");
            std::slice::from_raw_parts_mut(bn.d, LIMBS)
        }
    }

    fn ptr(&self) -> *const BIGNUM {
        self.0.as_ptr()
    }

    fn mut_ptr(&mut self) -> *mut BIGNUM {
        self.0.as_ptr()
    }

    fn is_zero(&self) -> bool {
        // SAFETY: valid BIGNUM, read-only.
        unsafe { aws_lc_sys::BN_is_zero(self.ptr()) == 1 }
    }

    fn num_bytes(&self) -> usize {
        // SAFETY: valid BIGNUM, read-only.
        unsafe { aws_lc_sys::BN_num_bytes(self.ptr()) as usize }
    }

    /// Minimal big-endian bytes (empty for zero).
    fn to_be(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.num_bytes()];
        // SAFETY: `out` has exactly BN_num_bytes bytes, which is what BN_bn2bin writes.
        let n = unsafe { aws_lc_sys::BN_bn2bin(self.ptr(), out.as_mut_ptr()) };
        debug_assert_eq!(n, out.len());
        out
    }

    /// Big-endian bytes left-padded to `len` (the value must fit).
    fn to_be_padded(&self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        // SAFETY: `out` is valid for `len` bytes.
        let rc = unsafe { aws_lc_sys::BN_bn2bin_padded(out.as_mut_ptr(), len, self.ptr()) };
        check(rc, "BN_bn2bin_padded");
        out
    }

    /// `PAD(self)` as bytes.
    fn pad(&self) -> Vec<u8> {
        pad_bytes(&self.to_be())
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the pointer; it is not used afterwards.
        unsafe { aws_lc_sys::BN_clear_free(self.0.as_ptr()) }
    }
}

/// A scratch `BN_CTX`, one per operation (never shared between threads).
struct Ctx(NonNull<BN_CTX>);

impl Ctx {
    fn new() -> Ctx {
        // SAFETY: no preconditions; null handled.
        let p = unsafe { aws_lc_sys::BN_CTX_new() };
        Ctx(NonNull::new(p).expect("aws-lc: BN_CTX_new failed (out of memory)"))
    }

    fn ptr(&mut self) -> *mut BN_CTX {
        self.0.as_ptr()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: we own the pointer.
        unsafe { aws_lc_sys::BN_CTX_free(self.0.as_ptr()) }
    }
}

struct MontCtx(NonNull<BN_MONT_CTX>);

impl Drop for MontCtx {
    fn drop(&mut self) {
        // SAFETY: we own the pointer.
        unsafe { aws_lc_sys::BN_MONT_CTX_free(self.0.as_ptr()) }
    }
}

/// The SRP group, built once. Read-only after construction.
struct Group {
    n: Bn,
    g: Bn,
    /// k as an integer (reduced mod N; it is a 256-bit hash so already < N).
    k: Bn,
    /// k in the Montgomery domain, so k·v mod N is one Montgomery multiplication.
    k_mont: Bn,
    mont: MontCtx,
}

// SAFETY: after `Group::new` returns, the BIGNUMs and the BN_MONT_CTX are only ever passed to
// aws-lc as `const` pointers (see `Bn::ptr`; `Group` exposes no `&mut` access). aws-lc documents
// that objects may be used concurrently by non-mutating functions, and functions taking a `const`
// pointer are non-mutating. The per-call scratch space lives in a `BN_CTX` owned by each call.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl Group {
    fn new() -> Group {
        let n_bytes = hex::decode(N_HEX).expect("N constant is valid hex");
        let n = Bn::from_be(&n_bytes);
        let g = Bn::from_be(&[2]);
        let mut ctx = Ctx::new();
        // SAFETY: `n` is a valid odd modulus; ctx is a fresh scratch context.
        let mont = unsafe { aws_lc_sys::BN_MONT_CTX_new_for_modulus(n.ptr(), ctx.ptr()) };
        let mont = MontCtx(NonNull::new(mont).expect("aws-lc: BN_MONT_CTX_new_for_modulus failed"));

        let mut k_input = pad_bytes(&n_bytes);
        k_input.extend_from_slice(&pad_bytes(&[2]));
        let k = Bn::from_be(&sha256(&k_input));
        let mut grp = Group { n, g, k_mont: Bn::new(), k, mont };
        grp.k_mont = grp.to_mont(&grp.k, &mut ctx);
        grp
    }

    fn mont(&self) -> *const BN_MONT_CTX {
        self.mont.0.as_ptr()
    }

    /// `base^exp mod N`, constant time in both. `base` must be < N.
    fn exp_ct(&self, base: &Bn, exp: &Bn, ctx: &mut Ctx) -> Bn {
        let mut r = Bn::new();
        // SAFETY: all pointers valid; base < N is an invariant kept by callers (checked by aws-lc,
        // which would return 0 and trip `check`).
        let rc = unsafe {
            aws_lc_sys::BN_mod_exp_mont_consttime(
                r.mut_ptr(),
                base.ptr(),
                exp.ptr(),
                self.n.ptr(),
                ctx.ptr(),
                self.mont(),
            )
        };
        check(rc, "BN_mod_exp_mont_consttime");
        r
    }

    /// `a mod N` for any non-negative `a` (public values only: uses division).
    fn reduce(&self, a: &Bn, ctx: &mut Ctx) -> Bn {
        let mut r = Bn::new();
        // SAFETY: valid pointers; N is non-zero.
        let rc = unsafe { aws_lc_sys::BN_nnmod(r.mut_ptr(), a.ptr(), self.n.ptr(), ctx.ptr()) };
        check(rc, "BN_nnmod");
        r
    }

    /// `a·b mod N` via Montgomery multiplication (no data-dependent division). `a, b < N`.
    fn mul_ct(&self, a: &Bn, b: &Bn, ctx: &mut Ctx) -> Bn {
        // mont_mul(aR, b) = a·b mod N.
        let a_mont = self.to_mont(a, ctx);
        self.mont_mul(&a_mont, b, ctx)
    }

    /// `a·R mod N`: into the Montgomery domain (full width).
    fn to_mont(&self, a: &Bn, ctx: &mut Ctx) -> Bn {
        let mut r = Bn::new();
        // SAFETY: valid pointers; a < N.
        check(unsafe { aws_lc_sys::BN_to_montgomery(r.mut_ptr(), a.ptr(), self.mont(), ctx.ptr()) }, "BN_to_montgomery");
        r
    }

    /// `a·R⁻¹ mod N`: out of the Montgomery domain.
    fn out_of_mont(&self, a: &Bn, ctx: &mut Ctx) -> Bn {
        let mut r = Bn::new();
        // SAFETY: valid pointers; a < N.
        check(unsafe { aws_lc_sys::BN_from_montgomery(r.mut_ptr(), a.ptr(), self.mont(), ctx.ptr()) }, "BN_from_montgomery");
        r
    }

    /// Montgomery product `a·b·R⁻¹ mod N`. With both operands at full width (every value made
    /// by `to_mont`, `mont_mul` or `Bn::full_width` is), aws-lc takes its fixed-width
    /// `bn_mul_mont` path, whose time does not depend on the values.
    fn mont_mul(&self, a: &Bn, b: &Bn, ctx: &mut Ctx) -> Bn {
        let mut r = Bn::new();
        // SAFETY: valid pointers; a, b < N.
        check(unsafe { aws_lc_sys::BN_mod_mul_montgomery(r.mut_ptr(), a.ptr(), b.ptr(), self.mont(), ctx.ptr()) }, "BN_mod_mul_montgomery");
        r
    }

    /// `k·v mod N` (v < N).
    fn k_times(&self, v: &Bn, ctx: &mut Ctx) -> Bn {
        self.mont_mul(&self.k_mont, v, ctx)
    }

    /// `a + b mod N` for `a, b < N`.
    fn add_ct(&self, a: &Bn, b: &Bn) -> Bn {
        let mut r = Bn::new();
        // SAFETY: valid pointers; a, b < N.
        let rc = unsafe { aws_lc_sys::BN_mod_add_quick(r.mut_ptr(), a.ptr(), b.ptr(), self.n.ptr()) };
        check(rc, "BN_mod_add_quick");
        r
    }
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(Group::new)
}

/// Limbs (64-bit words) of a residue mod N.
const LIMBS: usize = N_BYTES / 8;
/// Exponent bits per table row, and rows for a 256-bit exponent.
const WINDOW: usize = 4;
const ROWS: usize = 256 / WINDOW;
const ENTRIES: usize = 1 << WINDOW;

/// Fixed-base exponentiation g^e for exponents of up to 256 bits (x, b and a are all SHA-256
/// outputs or 32 random bytes). Row i holds g^(j·16^i) for j in 0..16, in the Montgomery domain,
/// so g^e = Π_i row_i[e_i] over the exponent's 64 nibbles e_i: 63 Montgomery multiplications.
///
/// Constant time: every row is used whatever the exponent (a zero nibble selects the Montgomery
/// one), every table read touches all 16 entries of its row and keeps one by masking
/// (`subtle`), and the multiplications are aws-lc's fixed-width `bn_mul_mont` (both operands
/// are always full-width: see [`FixedBase::mul`]). Built once, on first use (~1,000
/// multiplications, a few milliseconds); 64 × 16 × 384 bytes = 384 KiB.
struct FixedBase {
    /// `ROWS * ENTRIES * LIMBS` limbs, little-endian within an entry as aws-lc keeps them.
    table: Vec<u64>,
}

impl FixedBase {
    fn new(grp: &Group) -> FixedBase {
        let mut ctx = Ctx::new();
        let mut table = vec![0u64; ROWS * ENTRIES * LIMBS];
        let one = grp.to_mont(&Bn::from_be(&[1]), &mut ctx);
        // base = g^(16^i) in the Montgomery domain, row by row.
        let mut base = grp.to_mont(&grp.g, &mut ctx);
        for row in 0..ROWS {
            let mut cur = one.dup();
            for j in 0..ENTRIES {
                let at = (row * ENTRIES + j) * LIMBS;
                table[at..at + LIMBS].copy_from_slice(cur.limbs());
                cur = grp.mont_mul(&cur, &base, &mut ctx);
            }
            // After the loop cur = base^16 = g^(16^(i+1)).
            base = cur;
        }
        FixedBase { table }
    }

    /// Copies entry `nibble` of `row` into `out` without a secret-dependent memory access.
    fn select(&self, row: usize, nibble: u8, out: &mut Bn) {
        use subtle::{ConditionallySelectable, ConstantTimeEq};
        let dst = out.limbs_mut();
        dst.fill(0);
        let base = row * ENTRIES * LIMBS;
        for j in 0..ENTRIES {
            let hit = (j as u8).ct_eq(&nibble);
            let entry = &self.table[base + j * LIMBS..base + (j + 1) * LIMBS];
            for (d, e) in dst.iter_mut().zip(entry) {
                d.conditional_assign(e, hit);
            }
        }
    }

    /// g^e mod N, `e` big-endian of at most 32 bytes.
    fn pow(&self, grp: &Group, e: &[u8]) -> Bn {
        assert!(e.len() <= 32, "fixed-base exponent over 256 bits");
        let mut padded = [0u8; 32];
        padded[32 - e.len()..].copy_from_slice(e);
        let nibble = |i: usize| (padded[31 - i / 2] >> (4 * (i % 2))) & 0x0f;
        let mut ctx = Ctx::new();
        let mut acc = Bn::full_width();
        self.select(0, nibble(0), &mut acc);
        let mut entry = Bn::full_width();
        for row in 1..ROWS {
            self.select(row, nibble(row), &mut entry);
            acc = grp.mont_mul(&acc, &entry, &mut ctx);
        }
        subtle_zeroize(&mut padded);
        grp.out_of_mont(&acc, &mut ctx)
    }
}

fn subtle_zeroize(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, aligned pointer to a byte we own; volatile so the wipe is kept.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}

/// g^e mod N, constant time. Exponents of up to 256 bits (all of the server's) use the table;
/// longer ones (a client's `a` may be 1024 bits) the general exponentiation.
fn pow_g(e: &[u8]) -> Bn {
    static TABLE: OnceLock<FixedBase> = OnceLock::new();
    let grp = group();
    if e.len() > 32 {
        return grp.exp_ct(&grp.g, &Bn::from_be(e), &mut Ctx::new());
    }
    TABLE.get_or_init(|| FixedBase::new(grp)).pow(grp, e)
}

// ---------------------------------------------------------------------------------------------
// Hash helpers.
// ---------------------------------------------------------------------------------------------

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// `PAD` of an integer given as big-endian bytes: leading zero bytes removed, then `0x00`
/// prepended if the top bit is set; zero becomes `[0x00]`.
pub fn pad_bytes(be: &[u8]) -> Vec<u8> {
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = &be[first..];
    let mut out = Vec::with_capacity(digits.len() + 1);
    if digits.is_empty() || digits[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

fn strip_leading_zeros(be: &[u8]) -> &[u8] {
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    &be[first..]
}

// ---------------------------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------------------------

/// The pool name used in SRP: the part of the pool id after the first `_`
/// (`us-east-1_AbC123xyz` → `AbC123xyz`). Without a `_` the whole id is returned.
pub fn pool_name(pool_id: &str) -> &str {
    match pool_id.split_once('_') {
        Some((_, rest)) => rest,
        None => pool_id,
    }
}

/// A fresh 16-byte salt whose first byte is in `0x10..=0x7f` (a subset of the `0x01..=0x7f`
/// the fact sheet §2.2 item 11 asks for). Then `PAD(salt)` is the salt itself, and its hex is
/// the same 32 characters whether written minimal ([`to_hex`]), full-width or PAD-style, so every
/// client reads the same bytes and none sees an odd-length string.
pub fn new_salt(rng: &dyn Random) -> Vec<u8> {
    let mut salt = vec![0u8; 16];
    rng.fill(&mut salt);
    // Map the first byte onto 0x10..=0x7f (slight bias is irrelevant for a salt).
    salt[0] = 0x10 + (salt[0] % 0x70);
    salt
}

/// x = H(PAD(salt) ‖ H(poolName ‖ userId ‖ ":" ‖ password)), as a fixed-width exponent.
fn compute_x(pool_name: &str, user_id: &str, password: &str, salt: &[u8]) -> Bn {
    let mut inner = digest::Context::new(&digest::SHA256);
    inner.update(pool_name.as_bytes());
    inner.update(user_id.as_bytes());
    inner.update(b":");
    inner.update(password.as_bytes());
    let inner = inner.finish();
    let mut outer = digest::Context::new(&digest::SHA256);
    outer.update(&pad_bytes(salt));
    outer.update(inner.as_ref());
    Bn::from_be(outer.finish().as_ref())
}

/// v = g^x mod N as big-endian bytes, fixed 384-byte width.
///
/// The salt is treated as an integer (`PAD(int(salt))`), which is what amazon-cognito-identity-js
/// does and, with [`to_hex`] on the wire, what pycognito does too.
pub fn compute_verifier(pool_name: &str, user_id: &str, password: &str, salt: &[u8]) -> Vec<u8> {
    pow_g(&compute_x(pool_name, user_id, password, salt).to_be_padded(32)).to_be_padded(N_BYTES)
}

/// Recompute v from the password and compare with `verifier` in constant time.
/// `verifier` may be in fixed-width or minimal/PAD form.
pub fn verify_password(pool_name: &str, user_id: &str, password: &str, salt: &[u8], verifier: &[u8]) -> bool {
    let stored = strip_leading_zeros(verifier);
    if stored.len() > N_BYTES {
        return false;
    }
    let mut expected = vec![0u8; N_BYTES];
    expected[N_BYTES - stored.len()..].copy_from_slice(stored);
    let computed = compute_verifier(pool_name, user_id, password, salt);
    subtle::ConstantTimeEq::ct_eq(computed.as_slice(), expected.as_slice()).into()
}

/// True if `verifier` (big-endian) is usable: 0 < v < 2^3072 after stripping leading zeros and
/// v mod N ≠ 0. Use it to validate client-supplied device verifiers (`ConfirmDevice`).
pub fn is_valid_verifier(verifier: &[u8]) -> bool {
    load_verifier(verifier).is_ok()
}

/// Parse a verifier into an integer reduced mod N.
fn load_verifier(verifier: &[u8]) -> Result<Bn, SrpError> {
    let v = strip_leading_zeros(verifier);
    if v.is_empty() || v.len() > N_BYTES {
        return Err(SrpError::BadVerifier);
    }
    let grp = group();
    let v = Bn::from_be(v);
    // Stored verifiers are already < N; only reduce (a division) an out-of-range client value.
    // SAFETY: valid BIGNUMs, read-only.
    let v = if unsafe { aws_lc_sys::BN_ucmp(v.ptr(), grp.n.ptr()) } < 0 {
        v
    } else {
        grp.reduce(&v, &mut Ctx::new())
    };
    if v.is_zero() {
        return Err(SrpError::BadVerifier);
    }
    Ok(v)
}

/// Server side of one SRP exchange.
#[derive(Clone)]
pub struct ServerEphemeral {
    /// The 32-byte secret exponent b. Keep it server-side (e.g. sealed in the auth session).
    pub b: Vec<u8>,
    /// B, big-endian, minimal. Send as `SRP_B` with [`to_hex`].
    pub big_b: Vec<u8>,
}

impl std::fmt::Debug for ServerEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEphemeral")
            .field("b", &"<redacted>")
            .field("big_b", &to_hex(&self.big_b))
            .finish()
    }
}

/// b = 32 random bytes (256-bit exponent), B = (k·v + g^b) mod N; retried if B mod N == 0.
///
/// An invalid verifier (see [`is_valid_verifier`]) still yields a well-formed B, so that the
/// response does not reveal it; [`server_session_key`] will then fail.
pub fn server_ephemeral(rng: &dyn Random, verifier: &[u8]) -> ServerEphemeral {
    for _ in 0..64 {
        let mut b = vec![0u8; 32];
        rng.fill(&mut b);
        let big_b = server_public(&b, verifier);
        if !big_b.is_empty() {
            return ServerEphemeral { b, big_b };
        }
    }
    panic!("SRP: could not find b with B != 0 in 64 attempts; the random source is broken");
}

/// Recompute B = (k·v + g^b) mod N from b (big-endian; 32 bytes from [`server_ephemeral`])
/// deterministically. Minimal big-endian; empty only in the (negligible) case B = 0.
/// An unusable verifier is treated as v = 0 (B = g^b).
pub fn server_public(b: &[u8], verifier: &[u8]) -> Vec<u8> {
    let grp = group();
    let mut ctx = Ctx::new();
    let v = load_verifier(verifier).unwrap_or_else(|_| Bn::new());
    compute_big_b(grp, &Bn::from_be(b), &v, &mut ctx).to_be()
}

fn compute_big_b(grp: &Group, b: &Bn, v: &Bn, ctx: &mut Ctx) -> Bn {
    let gb = pow_g(&b.to_be_padded(32));
    let kv = grp.k_times(v, ctx);
    grp.add_ct(&kv, &gb)
}

/// Given client A (big-endian bytes), b and v: reject A mod N == 0, compute
/// u = H(PAD(A) ‖ PAD(B)) (reject u == 0), S = (A·v^u)^b mod N and return the 16-byte HKDF key
/// (IKM = PAD(S), salt = PAD(u), info = "Caldera Derived Key").
pub fn server_session_key(big_a: &[u8], b: &[u8], verifier: &[u8]) -> Result<[u8; 16], SrpError> {
    session_key_inner(big_a, b, None, verifier)
}

/// [`server_session_key`] for an ephemeral from [`server_ephemeral`], whose B is already known:
/// one modular exponentiation fewer.
pub fn server_session_key_for(big_a: &[u8], eph: &ServerEphemeral, verifier: &[u8]) -> Result<[u8; 16], SrpError> {
    session_key_inner(big_a, &eph.b, Some(&eph.big_b), verifier)
}

fn session_key_inner(big_a: &[u8], b: &[u8], known_big_b: Option<&[u8]>, verifier: &[u8]) -> Result<[u8; 16], SrpError> {
    let grp = group();
    let mut ctx = Ctx::new();

    let a_digits = strip_leading_zeros(big_a);
    if a_digits.is_empty() || a_digits.len() > N_BYTES {
        return Err(SrpError::BadA);
    }
    let a_int = Bn::from_be(a_digits);
    let a_red = grp.reduce(&a_int, &mut ctx);
    if a_red.is_zero() {
        return Err(SrpError::BadA);
    }
    let v = load_verifier(verifier)?;
    let b = Bn::from_be(b);
    let big_b = match known_big_b {
        Some(bb) => Bn::from_be(bb),
        None => compute_big_b(grp, &b, &v, &mut ctx),
    };

    // u is computed over A as the client sent it (clients send A < N, so this is A mod N).
    let u_digest = {
        let mut h = digest::Context::new(&digest::SHA256);
        h.update(&a_int.pad());
        h.update(&big_b.pad());
        h.finish()
    };
    if u_digest.as_ref().iter().all(|&x| x == 0) {
        return Err(SrpError::BadU);
    }
    let u = Bn::from_be(u_digest.as_ref());

    let vu = grp.exp_ct(&v, &u, &mut ctx);
    let avu = grp.mul_ct(&a_red, &vu, &mut ctx);
    let s = grp.exp_ct(&avu, &b, &mut ctx);

    Ok(hkdf_key(&s.pad(), &pad_bytes(u_digest.as_ref())))
}

/// HKDF-SHA256 with L = 16: PRK = HMAC(salt, ikm), key = HMAC(PRK, info ‖ 0x01)[..16].
fn hkdf_key(ikm: &[u8], salt: &[u8]) -> [u8; 16] {
    let prk = hmac_sha256(salt, &[ikm]);
    let okm = hmac_sha256(&prk, &[HKDF_INFO, &[1u8]]);
    let mut key = [0u8; 16];
    key.copy_from_slice(&okm[..16]);
    key
}

/// PASSWORD_CLAIM_SIGNATURE = base64(HMAC-SHA256(key, poolName ‖ userId ‖ secretBlock ‖ timestamp)).
/// `timestamp` must be the client's TIMESTAMP string exactly as received.
pub fn claim_signature(key: &[u8; 16], pool_name: &str, user_id: &str, secret_block: &[u8], timestamp: &str) -> String {
    let mac = hmac_sha256(
        key,
        &[
            pool_name.as_bytes(),
            user_id.as_bytes(),
            secret_block,
            timestamp.as_bytes(),
        ],
    );
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Constant-time check of a client's base64 signature against the expected one.
/// Both are decoded (standard alphabet); anything that does not decode is a mismatch.
pub fn verify_claim_signature(expected_b64: &str, given_b64: &str) -> bool {
    let engine = &base64::engine::general_purpose::STANDARD;
    let (Ok(expected), Ok(given)) = (engine.decode(expected_b64), engine.decode(given_b64.trim())) else {
        return false;
    };
    expected.len() == given.len() && bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), given.as_slice()))
}

/// Lowercase hex of a non-negative big-endian integer, minimal (no leading zero nibbles; `"0"`
/// for zero), like JS `BigInteger.toString(16)`. Use it for `SRP_B` and `SALT`
/// (see the module docs for why minimal is right for `SALT` too).
pub fn to_hex(bytes: &[u8]) -> String {
    let h = hex::encode(strip_leading_zeros(bytes));
    match h.strip_prefix('0') {
        Some(rest) => rest.to_owned(),
        None if h.is_empty() => "0".to_owned(),
        None => h,
    }
}

/// Parse client hex (e.g. `SRP_A`): either case, odd length allowed (a `0` nibble is implied in
/// front). `None` on an empty string or a non-hex character.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return None;
    }
    if s.len() % 2 == 1 {
        let mut padded = String::with_capacity(s.len() + 1);
        padded.push('0');
        padded.push_str(s);
        hex::decode(padded).ok()
    } else {
        hex::decode(s).ok()
    }
}

/// Client side of the exchange, **for tests only** (not constant time, no input hardening).
/// Mirrors amazon-cognito-identity-js `AuthenticationHelper`.
#[doc(hidden)]
#[allow(dead_code)]
pub mod client {
    use super::*;

    /// A = g^a mod N (minimal big-endian).
    pub fn public_a(a: &[u8]) -> Vec<u8> {
        pow_g(a).to_be()
    }

    /// The client's 16-byte key: S = (B − k·g^x)^(a + u·x) mod N, then the same HKDF.
    pub fn session_key(
        pool_name: &str,
        user_id: &str,
        password: &str,
        salt: &[u8],
        a: &[u8],
        big_b: &[u8],
    ) -> Result<[u8; 16], SrpError> {
        Prepared::new(pool_name, user_id, password, salt, a).session_key(big_b)
    }

    /// What a client can compute once per (user, password, a): for load generators, which then
    /// do one modular exponentiation per sign-in instead of three.
    #[derive(Clone)]
    pub struct Prepared {
        a: Vec<u8>,
        pub big_a: Vec<u8>,
        x: Vec<u8>,
        kgx: Vec<u8>,
    }

    impl Prepared {
        pub fn new(pool_name: &str, user_id: &str, password: &str, salt: &[u8], a: &[u8]) -> Prepared {
            let grp = group();
            let mut ctx = Ctx::new();
            let big_a = pow_g(a).to_be();
            let x = compute_x(pool_name, user_id, password, salt);
            let gx = pow_g(&x.to_be_padded(32));
            let kgx = grp.k_times(&gx, &mut ctx);
            Prepared { a: a.to_vec(), big_a, x: x.to_be(), kgx: kgx.to_be() }
        }

        /// The session key for the server's B: the same result as [`session_key`].
        pub fn session_key(&self, big_b: &[u8]) -> Result<[u8; 16], SrpError> {
            let grp = group();
            let mut ctx = Ctx::new();
            let (a, x, kgx) = (Bn::from_be(&self.a), Bn::from_be(&self.x), Bn::from_be(&self.kgx));
            let big_a = Bn::from_be(&self.big_a);
            let big_b = Bn::from_be(big_b);
            let u_digest = {
                let mut h = digest::Context::new(&digest::SHA256);
                h.update(&big_a.pad());
                h.update(&big_b.pad());
                h.finish()
            };
            if u_digest.as_ref().iter().all(|&x| x == 0) {
                return Err(SrpError::BadU);
            }
            let u = Bn::from_be(u_digest.as_ref());
            let b_red = grp.reduce(&big_b, &mut ctx);
            let mut base = Bn::new();
            let mut ux = Bn::new();
            let mut exp = Bn::new();
            // SAFETY: valid pointers; all operands are non-negative.
            unsafe {
                check(aws_lc_sys::BN_mod_sub(base.mut_ptr(), b_red.ptr(), kgx.ptr(), grp.n.ptr(), ctx.ptr()), "BN_mod_sub");
                check(aws_lc_sys::BN_mul(ux.mut_ptr(), u.ptr(), x.ptr(), ctx.ptr()), "BN_mul");
                check(aws_lc_sys::BN_add(exp.mut_ptr(), a.ptr(), ux.ptr()), "BN_add");
            }
            let s = grp.exp_ct(&base, &exp, &mut ctx);
            Ok(hkdf_key(&s.pad(), &pad_bytes(u_digest.as_ref())))
        }
    }

    /// k as bytes (for tests).
    pub fn k() -> Vec<u8> {
        group().k.to_be()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_base_powers_match_the_general_exponentiation() {
        let grp = group();
        let mut ctx = Ctx::new();
        let mut exps: Vec<Vec<u8>> = vec![vec![], vec![0], vec![1], vec![2], vec![0xff; 32], vec![0x80; 32], vec![0; 32], vec![0x0f, 0xf0]];
        let rng = SysRng;
        for n in [1, 7, 16, 31, 32, 32, 32, 32, 33, 128] {
            let mut e = vec![0u8; n];
            rng.fill(&mut e);
            exps.push(e);
        }
        for e in exps {
            let want = grp.exp_ct(&grp.g, &Bn::from_be(&e), &mut ctx).to_be();
            assert_eq!(pow_g(&e).to_be(), want, "g^{}", to_hex(&e));
        }
    }
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Deterministic test RNG (xorshift), good enough for tests.
    struct TestRng(AtomicU64);
    impl Random for TestRng {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                let mut x = self.0.load(Ordering::Relaxed);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.0.store(x, Ordering::Relaxed);
                *b = (x >> 24) as u8;
            }
        }
    }

    /// Real randomness for round trips.
    struct SysRng;
    impl Random for SysRng {
        fn fill(&self, buf: &mut [u8]) {
            aws_lc_rs::rand::fill(buf).expect("rng");
        }
    }

    const POOL: &str = "us-east-1_AbCdEfGhI";
    const USER: &str = "3f1c2b4a-0000-4000-8000-000000000001";
    const PASSWORD: &str = "Passw0rd!";
    const SALT_HEX: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f801";

    #[test]
    fn k_matches_fact_sheet() {
        assert_eq!(
            hex::encode(client::k()),
            "538282c4354742d7cbbde2359fcf67f9f5b3a6b08791e5011b43b8a5b66d9ee6"
        );
    }

    #[test]
    fn pool_name_and_pad() {
        assert_eq!(pool_name("us-east-1_AbC123xyz"), "AbC123xyz");
        assert_eq!(pool_name("a_b_c"), "b_c");
        assert_eq!(pool_name("nounderscore"), "nounderscore");
        assert_eq!(pad_bytes(&[0x00, 0x7f]), vec![0x7f]);
        assert_eq!(pad_bytes(&[0x00, 0x80]), vec![0x00, 0x80]);
        assert_eq!(pad_bytes(&[]), vec![0x00]);
        assert_eq!(pad_bytes(&[0, 0]), vec![0x00]);
    }

    #[test]
    fn fact_sheet_vector() {
        let salt = hex::decode(SALT_HEX).unwrap();
        let name = pool_name(POOL);
        let v = compute_verifier(name, USER, PASSWORD, &salt);
        assert_eq!(v.len(), N_BYTES);
        let a = [0x55u8; 32];
        let b = [0x77u8; 32];
        let big_a = client::public_a(&a);
        let key = server_session_key(&big_a, &b, &v).expect("valid exchange");
        assert_eq!(hex::encode(key), "bc986d2bef7854cbd57faecba1a93abc");
        let eph = ServerEphemeral { b: b.to_vec(), big_b: server_public(&b, &v) };
        assert_eq!(server_session_key_for(&big_a, &eph, &v).unwrap(), key, "with B given, the same key");
        let prepared = client::Prepared::new(name, USER, PASSWORD, &salt, &a);
        assert_eq!(prepared.session_key(&eph.big_b).unwrap(), key, "the prepared client agrees");

        let secret_block: Vec<u8> = (0u8..64).collect();
        let sig = claim_signature(&key, name, USER, &secret_block, "Tue Jan 2 03:04:05 UTC 2024");
        assert_eq!(sig, "hfzKJYD4MajfZ7rZ3gS5lCnM72AGiJb0FGXdTwSmQMA=");
        assert!(verify_claim_signature(
            &sig,
            "hfzKJYD4MajfZ7rZ3gS5lCnM72AGiJb0FGXdTwSmQMA="
        ));
        assert!(!verify_claim_signature(
            &sig,
            "hfzKJYD4MajfZ7rZ3gS5lCnM72AGiJb0FGXdTwSmQMB="
        ));
        assert!(!verify_claim_signature(&sig, "not base64!"));
        assert!(!verify_claim_signature(&sig, ""));

        // The client side derives the same key from B.
        let big_b = server_public(&b, &v);
        let ckey = client::session_key(name, USER, PASSWORD, &salt, &a, &big_b).unwrap();
        assert_eq!(ckey, key);
        // Hex of A with leading zeros or odd length decodes to the same integer.
        let a_hex = to_hex(&big_a);
        assert_eq!(server_session_key(&from_hex(&a_hex).unwrap(), &b, &v).unwrap(), key);
        let mut padded_a = vec![0u8; 3];
        padded_a.extend_from_slice(&big_a);
        assert_eq!(server_session_key(&padded_a, &b, &v).unwrap(), key);
    }

    /// A second vector, from an independent Python implementation of the fact-sheet formulas,
    /// chosen so that A, B, u and S all have their top bit set and the salt's first byte is
    /// ≥ 0x80 (every PAD adds a 0x00 byte), which the fact-sheet vector does not exercise.
    #[test]
    fn python_reference_vector_high_bits() {
        let salt = hex::decode("9a2b3c4d5e6f708192a3b4c5d6e7f801").unwrap();
        let v = compute_verifier("Xy9", "bob", "hunter2", &salt);
        assert_eq!(hex::encode(&v[..8]), "1205376e4959791a");
        let a = hex::decode("4539e4b4889079c2a00afeae0bfc1439840ef2379a1fb81c8ba27361ad476d6b").unwrap();
        let b = hex::decode("486bacc5c2d8a71a73d51bf8e522deaa264ec2628dca2955da1e9b8e00f21943").unwrap();
        let big_a = client::public_a(&a);
        assert!(big_a[0] >= 0x80);
        assert!(server_public(&b, &v)[0] >= 0x80);
        let key = server_session_key(&big_a, &b, &v).unwrap();
        assert_eq!(hex::encode(key), "f84ab1475c7c34a18b13c69b938ec436");
        let block: Vec<u8> = (0u8..10).collect();
        assert_eq!(
            claim_signature(&key, "Xy9", "bob", &block, "Wed Feb 14 09:08:07 UTC 2024"),
            "AaLXuqcQ1FwEaAxEg+X027CabZktH3Et8b1MChgxsg4="
        );
    }

    #[test]
    fn verify_password_true_false() {
        let salt = new_salt(&TestRng(AtomicU64::new(42)));
        let v = compute_verifier("AbC", "alice", "Correct horse", &salt);
        assert!(verify_password("AbC", "alice", "Correct horse", &salt, &v));
        assert!(!verify_password("AbC", "alice", "Correct hors", &salt, &v));
        assert!(!verify_password("AbC", "alice2", "Correct horse", &salt, &v));
        assert!(!verify_password("AbD", "alice", "Correct horse", &salt, &v));
        let mut salt2 = salt.clone();
        salt2[5] ^= 1;
        assert!(!verify_password("AbC", "alice", "Correct horse", &salt2, &v));
        // Minimal and PAD forms of the same verifier are accepted.
        assert!(verify_password("AbC", "alice", "Correct horse", &salt, &pad_bytes(&v)));
        assert!(verify_password(
            "AbC",
            "alice",
            "Correct horse",
            &salt,
            strip_leading_zeros(&v)
        ));
        assert!(!verify_password("AbC", "alice", "Correct horse", &salt, &[]));
        assert!(!verify_password("AbC", "alice", "Correct horse", &salt, &[1u8; 400]));
    }

    #[test]
    fn salts() {
        let rng = TestRng(AtomicU64::new(7));
        let (mut lo, mut hi) = (0xffu8, 0u8);
        for _ in 0..2000 {
            let s = new_salt(&rng);
            lo = lo.min(s[0]);
            hi = hi.max(s[0]);
            assert_eq!(s.len(), 16);
            assert!((0x10..=0x7f).contains(&s[0]));
            assert_eq!(to_hex(&s), hex::encode(&s));
            assert_eq!(pad_bytes(&s), s);
        }
        assert_eq!((lo, hi), (0x10, 0x7f));
        // Minimal hex round-trips through PAD semantics.
        assert_eq!(to_hex(&[0x0a, 0xbc]), "abc");
        assert_eq!(to_hex(&[0x00, 0x00, 0x12]), "12");
        assert_eq!(to_hex(&[0x80]), "80");
        assert_eq!(to_hex(&[]), "0");
        assert_eq!(to_hex(&[0, 0]), "0");
        assert_eq!(from_hex("abc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(from_hex("ABCD"), Some(vec![0xab, 0xcd]));
        assert_eq!(from_hex(""), None);
        assert_eq!(from_hex("xyz"), None);
    }

    #[test]
    fn rejects_bad_a() {
        let salt = hex::decode(SALT_HEX).unwrap();
        let v = compute_verifier("p", "u", "pw", &salt);
        let b = [0x11u8; 32];
        let n = hex::decode(N_HEX).unwrap();
        assert_eq!(server_session_key(&[], &b, &v), Err(SrpError::BadA));
        assert_eq!(server_session_key(&[0], &b, &v), Err(SrpError::BadA));
        assert_eq!(server_session_key(&[0; 384], &b, &v), Err(SrpError::BadA));
        assert_eq!(server_session_key(&n, &b, &v), Err(SrpError::BadA));
        let mut n0 = vec![0u8];
        n0.extend_from_slice(&n);
        assert_eq!(server_session_key(&n0, &b, &v), Err(SrpError::BadA));
        // Longer than N: out of range.
        assert_eq!(server_session_key(&[1u8; 385], &b, &v), Err(SrpError::BadA));
        // A = 1 is accepted by the protocol (not 0 mod N).
        assert!(server_session_key(&[1], &b, &v).is_ok());
    }

    #[test]
    fn rejects_bad_verifier() {
        let n = hex::decode(N_HEX).unwrap();
        assert!(!is_valid_verifier(&[]));
        assert!(!is_valid_verifier(&[0; 10]));
        assert!(!is_valid_verifier(&n));
        assert!(!is_valid_verifier(&[1u8; 385]));
        assert!(is_valid_verifier(&[5]));
        assert_eq!(server_session_key(&[2], &[1; 32], &n), Err(SrpError::BadVerifier));
        // server_public still answers (B = g^b) so the response does not reveal it.
        assert!(!server_public(&[1; 32], &n).is_empty());
    }

    #[test]
    fn full_round_trip_random() {
        let rng = SysRng;
        for i in 0..3 {
            let salt = new_salt(&rng);
            let user = format!("user-{i}");
            let v = compute_verifier("Pool1", &user, "s3cr3t!", &salt);
            let eph = server_ephemeral(&rng, &v);
            assert_eq!(eph.b.len(), 32);
            assert_eq!(server_public(&eph.b, &v), eph.big_b);
            let mut a = [0u8; 128];
            rng.fill(&mut a);
            let big_a = client::public_a(&a);
            // The client sees SALT and SRP_B as hex.
            let salt_wire = from_hex(&to_hex(&salt)).unwrap();
            let b_wire = from_hex(&to_hex(&eph.big_b)).unwrap();
            let ck = client::session_key("Pool1", &user, "s3cr3t!", &salt_wire, &a, &b_wire).unwrap();
            let sk = server_session_key(&from_hex(&to_hex(&big_a)).unwrap(), &eph.b, &v).unwrap();
            assert_eq!(ck, sk);
            let block = [9u8; 40];
            let ts = "Mon Mar 4 12:00:00 UTC 2024";
            let sig = claim_signature(&ck, "Pool1", &user, &block, ts);
            assert!(verify_claim_signature(
                &claim_signature(&sk, "Pool1", &user, &block, ts),
                &sig
            ));
            // A wrong password gives a different key and a failing signature.
            let wrong = client::session_key("Pool1", &user, "s3cr3t?", &salt_wire, &a, &b_wire).unwrap();
            assert_ne!(wrong, sk);
            let bad_sig = claim_signature(&wrong, "Pool1", &user, &block, ts);
            assert!(!verify_claim_signature(
                &claim_signature(&sk, "Pool1", &user, &block, ts),
                &bad_sig
            ));
        }
    }

    #[test]
    fn device_style_verifier_in_pad_form() {
        // ConfirmDevice sends PAD(v) and PAD(salt); the server keeps those bytes as they are.
        let salt = pad_bytes(&[0x9a; 16]); // high nibble: PAD adds 0x00
        assert_eq!(salt.len(), 17);
        let v = pad_bytes(&compute_verifier("GroupKey", "us-east-1_dev", "randpw", &salt));
        assert!(is_valid_verifier(&v));
        let rng = SysRng;
        let eph = server_ephemeral(&rng, &v);
        let a = [0x42u8; 128];
        let big_a = client::public_a(&a);
        let salt_wire = from_hex(&to_hex(&salt)).unwrap();
        let ck = client::session_key("GroupKey", "us-east-1_dev", "randpw", &salt_wire, &a, &eph.big_b).unwrap();
        assert_eq!(server_session_key(&big_a, &eph.b, &v).unwrap(), ck);
    }

    #[test]
    fn concurrent_use() {
        let salt = hex::decode(SALT_HEX).unwrap();
        let expected = compute_verifier("P", "u", "pw", &salt);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let salt = salt.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        assert_eq!(
                            compute_verifier("P", "u", "pw", &salt),
                            compute_verifier("P", "u", "pw", &salt)
                        );
                    }
                    compute_verifier("P", "u", "pw", &salt)
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
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

    /// `cargo test --release -- --ignored --nocapture srp_rates`
    #[test]
    #[ignore]
    fn srp_rates() {
        let salt = hex::decode(SALT_HEX).unwrap();
        let _ = compute_verifier("P", "u", "pw", &salt);
        let n = 3000;
        let t = bench_clock();
        for i in 0..n {
            std::hint::black_box(compute_verifier("P", "u", &format!("pw{i}"), &salt));
        }
        bench_report("compute_verifier", n, t);

        let v = compute_verifier("P", "u", "pw", &salt);
        let rng = SysRng;
        let big_a = client::public_a(&[0x42u8; 128]);
        let n = 1000;
        let t = bench_clock();
        for _ in 0..n {
            std::hint::black_box(server_ephemeral(&rng, &v));
        }
        bench_report("server_ephemeral", n, t);
        let eph = server_ephemeral(&rng, &v);
        let t = bench_clock();
        for _ in 0..n {
            std::hint::black_box(server_session_key(&big_a, &eph.b, &v).unwrap());
        }
        bench_report("server_session_key", n, t);
    }
}
