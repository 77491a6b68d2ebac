//! Cryptography: SRP verifiers and the SRP server (constant-time bignum from aws-lc),
//! RS256 JWTs with keys parsed once, and sealing of secrets under the master key.

pub mod jwt;
pub mod seal;
pub mod srp;
pub mod totp;
