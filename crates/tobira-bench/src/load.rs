//! The closed-loop load generator: `concurrency` connections, each sending its next request
//! as soon as the previous answer arrived, for warm-up + duration. Only answers that arrive
//! inside the measured window count, for throughput and latency alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

use crate::http::{Conn, Endpoint};
use tobira::crypto::srp::{self, client::Prepared};
use crate::sys::{CpuSnap, CpuUse};

/// What a run sends.
pub struct Workload {
    pub target: HeaderValue,
    pub signed: bool,
    pub bodies: Bodies,
}

pub enum Bodies {
    /// Prepared bodies, taken round-robin (offset per connection).
    Cycle(Vec<Bytes>),
    /// SignUp: a new user per request.
    SignUp { client_id: String, tag: String, password: String },
    /// A complete SRP sign-in per operation (two requests); each connection signs in its own user.
    Srp(Arc<SrpSpec>),
}

/// What an SRP sign-in needs. The client keeps its secret `a` and the values derived from the
/// password per user, so it does one modular exponentiation per sign-in (the server does its
/// full share every time).
pub struct SrpSpec {
    pub client_id: String,
    /// The pool id's part after `_`.
    pub pool_name: String,
    pub users: Vec<String>,
    pub password: String,
}

/// One SRP sign-in: InitiateAuth (USER_SRP_AUTH) and RespondToAuthChallenge (PASSWORD_VERIFIER).
pub async fn srp_sign_in(conn: &mut Conn, ep: &Endpoint, spec: &SrpSpec, worker: usize, prepared: &mut Option<(String, Prepared)>) -> Result<(u16, Bytes), String> {
    use base64::Engine;
    let user = &spec.users[worker % spec.users.len()];
    let a = [0x3c_u8 ^ (worker as u8); 32];
    let big_a = match prepared {
        Some((_, p)) => p.big_a.clone(),
        None => srp::client::public_a(&a),
    };
    let init = serde_json::json!({
        "AuthFlow": "USER_SRP_AUTH", "ClientId": spec.client_id,
        "AuthParameters": { "USERNAME": user, "SRP_A": srp::to_hex(&big_a) },
    });
    let (status, body) = conn.call(ep, &crate::http::target("InitiateAuth"), false, Bytes::from(init.to_string())).await?;
    if status != 200 {
        return Ok((status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("InitiateAuth: bad JSON: {e}"))?;
    let p = &v["ChallengeParameters"];
    let field = |k: &str| p[k].as_str().map(str::to_string).ok_or_else(|| format!("InitiateAuth: no {k}"));
    let (salt, big_b, block, user_id) = (field("SALT")?, field("SRP_B")?, field("SECRET_BLOCK")?, field("USER_ID_FOR_SRP")?);
    if prepared.as_ref().is_none_or(|(s, _)| *s != salt) {
        let salt_bytes = srp::from_hex(&salt).ok_or("bad SALT")?;
        *prepared = Some((salt.clone(), Prepared::new(&spec.pool_name, &user_id, &spec.password, &salt_bytes, &a)));
    }
    let (_, prep) = prepared.as_ref().ok_or("no SRP state")?;
    let key = prep.session_key(&srp::from_hex(&big_b).ok_or("bad SRP_B")?).map_err(|e| format!("SRP: {e:?}"))?;
    let timestamp = tobira::civil::srp_timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
    let block_bytes = base64::engine::general_purpose::STANDARD.decode(&block).map_err(|e| format!("bad SECRET_BLOCK: {e}"))?;
    let signature = srp::claim_signature(&key, &spec.pool_name, &user_id, &block_bytes, &timestamp);
    let respond = serde_json::json!({
        "ChallengeName": "PASSWORD_VERIFIER", "ClientId": spec.client_id,
        "ChallengeResponses": { "USERNAME": user_id, "PASSWORD_CLAIM_SECRET_BLOCK": block, "PASSWORD_CLAIM_SIGNATURE": signature, "TIMESTAMP": timestamp },
    });
    let (status, body) = conn.call(ep, &crate::http::target("RespondToAuthChallenge"), false, Bytes::from(respond.to_string())).await?;
    if status == 200 && !body.windows(20).any(|w| w == b"AuthenticationResult") {
        return Err(format!("RespondToAuthChallenge gave no tokens: {}", String::from_utf8_lossy(&body[..body.len().min(200)])));
    }
    Ok((status, body))
}

impl Bodies {
    fn get(&self, worker: usize, seq: u64, concurrency: usize) -> Bytes {
        match self {
            Bodies::Cycle(v) => v[((seq as usize).wrapping_mul(concurrency).wrapping_add(worker)) % v.len()].clone(),
            Bodies::Srp(_) => Bytes::new(),
            Bodies::SignUp { client_id, tag, password } => {
                let name = format!("su-{tag}-{worker}-{seq}");
                Bytes::from(format!(
                    r#"{{"ClientId":"{client_id}","Username":"{name}","Password":"{password}","UserAttributes":[{{"Name":"email","Value":"{name}@bench.example"}}]}}"#
                ))
            }
        }
    }
}

pub struct RunConfig {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
    /// When set, `perf record` samples the server during the measured window into this file.
    pub perf: Option<(PathBuf, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub cpu: CpuUse,
}

struct WorkerOut {
    lat_us: Vec<u32>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(ep: &Endpoint, w: Arc<Workload>, cfg: &RunConfig) -> Result<RunResult, String> {
    // Connect everyone first, so connection set-up is not measured.
    let mut conns = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency {
        conns.push(Conn::open(ep).await?);
    }
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;

    let server_pid = cfg.server_pid;
    let perf = cfg.perf.clone();
    let duration = cfg.duration;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let a = CpuSnap::take(server_pid);
        let perf_child = match (&perf, server_pid) {
            (Some((out, args)), Some(pid)) => std::process::Command::new("perf")
                .arg("record")
                .args(args)
                .arg("-p")
                .arg(pid.to_string())
                .arg("-o")
                .arg(out)
                .arg("--")
                .arg("sleep")
                .arg(format!("{:.1}", duration.as_secs_f64()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| eprintln!("tobira-bench: cannot start perf: {e}"))
                .ok(),
            _ => None,
        };
        tokio::time::sleep_until(end.into()).await;
        let b = CpuSnap::take(server_pid);
        if let Some(mut c) = perf_child {
            let _ = tokio::task::spawn_blocking(move || c.wait()).await;
        }
        CpuUse::between(&a, &b)
    });

    let mut tasks = Vec::with_capacity(cfg.concurrency);
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let ep = ep.clone();
        let w = w.clone();
        let concurrency = cfg.concurrency;
        tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut { lat_us: Vec::with_capacity(1 << 14), ok: 0, errors: 0, first_error: None };
            let mut seq: u64 = 0;
            let mut prepared: Option<(String, Prepared)> = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let body = w.bodies.get(worker, seq, concurrency);
                seq += 1;
                let res = match &w.bodies {
                    Bodies::Srp(spec) => srp_sign_in(&mut conn, &ep, spec, worker, &mut prepared).await,
                    _ => conn.call(&ep, &w.target, w.signed, body).await,
                };
                let t1 = Instant::now();
                let counted = t1 >= measure_from && t1 <= end;
                match res {
                    Ok((200, _)) => {
                        if counted {
                            out.ok += 1;
                            out.lat_us.push(t1.duration_since(t0).as_micros().min(u32::MAX as u128) as u32);
                        }
                    }
                    Ok((status, b)) => {
                        if counted {
                            out.errors += 1;
                        }
                        if out.first_error.is_none() {
                            out.first_error = Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&b[..b.len().min(300)])));
                        }
                    }
                    Err(e) => {
                        if counted {
                            out.errors += 1;
                        }
                        if out.first_error.is_none() {
                            out.first_error = Some(e);
                        }
                        // The connection may be gone: open a new one.
                        match Conn::open(&ep).await {
                            Ok(c) => conn = c,
                            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                }
            }
            out
        }));
    }
    let mut lat: Vec<u32> = Vec::new();
    let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
    for t in tasks {
        let o = t.await.map_err(|e| format!("worker panicked: {e}"))?;
        ok += o.ok;
        errors += o.errors;
        if first_error.is_none() {
            first_error = o.first_error;
        }
        lat.extend_from_slice(&o.lat_us);
    }
    let cpu = sampler.await.map_err(|e| format!("sampler failed: {e}"))?;
    lat.sort_unstable();
    let secs = cfg.duration.as_secs_f64();
    Ok(RunResult {
        ok,
        errors,
        first_error,
        ops_per_sec: ok as f64 / secs,
        p50_ms: percentile(&lat, 0.50),
        p95_ms: percentile(&lat, 0.95),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().map(|&x| x as f64 / 1000.0).unwrap_or(f64::NAN),
        cpu,
    })
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
pub fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
