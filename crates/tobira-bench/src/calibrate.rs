//! The crypto floor: what one core of this machine spends on the public-key work each operation
//! cannot avoid, measured with tobira's own code (RSA-2048 RS256 signing, the SRP verifier
//! g^x mod N over the 3072-bit group, RS256 verification). It turns the per-core limits into
//! "how far is the server from its crypto" and tells whether a limit is reachable at all here.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tobira::crypto::{jwt, srp};

use crate::sys::{CpuSnap, CpuUse};

#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// One RS256 signature of a typical token, µs.
    pub sign_us: f64,
    /// One SRP verifier computation (what a password check or a password set costs), µs.
    pub verifier_us: f64,
    /// One RS256 verification, µs.
    pub verify_us: f64,
    /// The server's side of one SRP exchange (B, then the session key from A), µs.
    pub srp_server_us: f64,
    /// Other processes' CPU while calibrating (cores), to judge the numbers.
    pub other_cores: f64,
}

fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

pub fn measure() -> Result<Floor, String> {
    let before = CpuSnap::take(None);
    let (key, _) = jwt::RsaSigningKey::generate().map_err(|e| format!("RSA key generation: {}", e.0))?;
    let claims: Map<String, Value> = json!({
        "sub": "5f1c6a3e-0d7e-4c1b-9a55-2b7d9d3f0c11", "iss": "http://127.0.0.1:9229/us-east-1_AbCdEfGhI",
        "client_id": "1example23456789abcdefghij", "origin_jti": "2b0f4f6a-9d43-4a7e-bc2e-6a3d1f7b9e20",
        "event_id": "c9b1d6a2-3f8e-4b55-8e1f-0a2b3c4d5e6f", "token_use": "access", "scope": "aws.cognito.signin.user.admin",
        "auth_time": 1_700_000_000, "exp": 1_700_003_600, "iat": 1_700_000_000,
        "jti": "7e6d5c4b-3a29-4817-9f0e-d1c2b3a49586", "username": "user000123",
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    let budget = Duration::from_millis(1500);
    let sign_us = time_per_call(budget, || {
        std::hint::black_box(key.sign(&claims));
    });
    let token = key.sign(&claims);
    let parsed = jwt::parse(&token).map_err(|e| e.0)?;
    let vk = key.verifying_key();
    let verify_us = time_per_call(Duration::from_millis(500), || {
        std::hint::black_box(vk.verify(&parsed));
    });
    let salt = [7u8; 16];
    let verifier_us = time_per_call(budget, || {
        std::hint::black_box(srp::compute_verifier("AbCdEfGhI", "user000123", crate::PASSWORD, &salt));
    });
    let verifier = srp::compute_verifier("AbCdEfGhI", "user000123", crate::PASSWORD, &salt);
    let big_a = srp::client::public_a(&[0x5a; 32]);
    let rng = tobira::ports::SystemRandom;
    let srp_server_us = time_per_call(budget, || {
        let eph = srp::server_ephemeral(&rng, &verifier);
        std::hint::black_box(srp::server_session_key_for(&big_a, &eph, &verifier).ok());
    });
    let used = CpuUse::between(&before, &CpuSnap::take(None));
    Ok(Floor { sign_us, verifier_us, verify_us, srp_server_us, other_cores: (used.machine_cores - used.client_cores).max(0.0) })
}

/// `--calibrate-only`: the floor on one core, then on every core at once.
pub fn report_parallel() -> Result<(), String> {
    let show = |label: &str, f: &Floor| {
        println!(
            "{label}: RS256 sign {:.0} µs, SRP verifier {:.0} µs, SRP server exchange {:.0} µs, RS256 verify {:.0} µs",
            f.sign_us, f.verifier_us, f.srp_server_us, f.verify_us
        )
    };
    show("one core", &measure()?);
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let floors: Vec<Result<Floor, String>> =
        std::thread::scope(|s| (0..n).map(|_| s.spawn(measure)).collect::<Vec<_>>().into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panic".into()))).collect());
    for (i, f) in floors.into_iter().enumerate() {
        show(&format!("{n} at once, thread {i}"), &f?);
    }
    Ok(())
}
