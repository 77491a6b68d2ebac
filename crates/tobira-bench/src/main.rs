//! tobira-bench: throughput and latency of tobira's hot operations, measured over real HTTP on
//! loopback against the release binary (which it starts itself), on SQLite and PostgreSQL.
//!
//! See bench/README.md for how to run it and what each number means.

mod calibrate;
mod http;
mod load;
mod report;
mod sys;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use crate::http::{Conn, Endpoint};
use crate::load::{Bodies, RunConfig, Workload};
use crate::report::{OpSummary, SetupStats, StoreReport};

pub const PASSWORD: &str = "Bench-Passw0rd!1";
const TEMP_PASSWORD: &str = "Bench-Temp0rary!1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreSel {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OpKind {
    /// SignUp of a new user (into a separate pool, so the 100k pool stays 100k).
    Signup,
    /// InitiateAuth USER_PASSWORD_AUTH.
    Password,
    /// InitiateAuth REFRESH_TOKEN_AUTH.
    Refresh,
    /// InitiateAuth USER_SRP_AUTH, then RespondToAuthChallenge PASSWORD_VERIFIER: one complete SRP sign-in.
    Srp,
    /// GetUser with an access token.
    GetUser,
    /// AdminGetUser (SigV4).
    AdminGetUser,
    /// ListUsers with `email = "…"` on the 100k pool (SigV4), at the run's concurrency.
    ListUsers,
    /// The same ListUsers with one request in flight: latency without queueing.
    ListUsers1,
    /// SignUp with one request in flight (the baseline for the next).
    Signup1,
    /// SignUp on a pool whose PreSignUp and PostConfirmation are a no-op Node.js handler (it
    /// auto-confirms, so both fire), one request in flight: two warm invocations per sign-up.
    SignupTriggers1,
}

/// The limit an operation is compared against (from the issue).
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    None,
    /// Per-core throughput limit and the fraction of it to reach.
    PerCore { per_core: f64, target: f64 },
    /// Absolute throughput target for the machine.
    Absolute { ops: f64 },
    /// Median latency must stay below this.
    MedianBelowMs(f64),
}

impl OpKind {
    pub fn label(self) -> &'static str {
        match self {
            OpKind::Signup => "SignUp",
            OpKind::Password => "USER_PASSWORD_AUTH",
            OpKind::Refresh => "REFRESH_TOKEN_AUTH",
            OpKind::Srp => "USER_SRP_AUTH sign-in (2 calls)",
            OpKind::GetUser => "GetUser",
            OpKind::AdminGetUser => "AdminGetUser",
            OpKind::ListUsers => "ListUsers email=",
            OpKind::ListUsers1 => "ListUsers email= (1 in flight)",
            OpKind::Signup1 => "SignUp (1 in flight)",
            OpKind::SignupTriggers1 => "SignUp + 2 no-op Node triggers (1 in flight)",
        }
    }
    fn operation(self) -> &'static str {
        match self {
            OpKind::Signup | OpKind::Signup1 | OpKind::SignupTriggers1 => "SignUp",
            OpKind::Password | OpKind::Refresh | OpKind::Srp => "InitiateAuth",
            OpKind::GetUser => "GetUser",
            OpKind::AdminGetUser => "AdminGetUser",
            OpKind::ListUsers | OpKind::ListUsers1 => "ListUsers",
        }
    }
    /// Public-key work the operation cannot avoid, in µs of one core (from the calibration).
    pub fn crypto_floor_us(self, f: &calibrate::Floor) -> f64 {
        match self {
            OpKind::Signup | OpKind::Signup1 | OpKind::SignupTriggers1 => f.verifier_us,
            OpKind::Password => f.verifier_us + 2.0 * f.sign_us,
            OpKind::Refresh => 2.0 * f.sign_us,
            OpKind::Srp => f.srp_server_us + 2.0 * f.sign_us,
            OpKind::GetUser => f.verify_us,
            OpKind::AdminGetUser | OpKind::ListUsers | OpKind::ListUsers1 => 0.0,
        }
    }
    fn signed(self) -> bool {
        matches!(self, OpKind::AdminGetUser | OpKind::ListUsers | OpKind::ListUsers1)
    }
    pub fn limit(self) -> Limit {
        match self {
            OpKind::Signup | OpKind::Signup1 | OpKind::SignupTriggers1 => Limit::None,
            OpKind::Password => Limit::PerCore { per_core: 870.0, target: 0.70 },
            OpKind::Refresh => Limit::PerCore { per_core: 1700.0, target: 0.70 },
            OpKind::Srp => Limit::PerCore { per_core: 445.0, target: 0.80 },
            OpKind::GetUser | OpKind::AdminGetUser => Limit::Absolute { ops: 10_000.0 },
            OpKind::ListUsers | OpKind::ListUsers1 => Limit::MedianBelowMs(5.0),
        }
    }
}

#[derive(Debug, Parser)]
#[command(name = "tobira-bench", about = "Throughput and latency of tobira over HTTP on loopback (SQLite and PostgreSQL)")]
pub struct Cli {
    /// Stores to measure (each gets its own freshly started server).
    #[arg(long, value_enum, default_value = "both")]
    store: StoreSel,
    /// PostgreSQL URL for the postgres store.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
    /// Measure a running server instead of starting one (e.g. http://127.0.0.1:9229).
    #[arg(long)]
    endpoint: Option<String>,
    /// With --endpoint: the server's pid, for CPU accounting.
    #[arg(long)]
    server_pid: Option<u32>,
    /// With --endpoint: the store name to report.
    #[arg(long, default_value = "endpoint")]
    label: String,
    /// The tobira binary (default: <workspace>/target/release/tobira).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Requests in flight (one keep-alive connection each).
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before each measured run (load runs, nothing is counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Runs per operation; the report shows medians.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Users seeded into the read pool.
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// Users given a permanent password and signed in (token sources for the sign-in and token ops).
    #[arg(long, default_value_t = 1000)]
    signin_users: u64,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    seed_concurrency: usize,
    /// Operations to measure, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "signup,password,srp,refresh,get-user,admin-get-user,list-users,list-users1,signup1,signup-triggers1")]
    ops: Vec<OpKind>,
    /// Threads of the load generator (1 = a single-threaded runtime, the lightest).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Markdown file results are appended to (default: <workspace>/bench/RESULTS.md).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Print only; do not append to the results file.
    #[arg(long)]
    no_write: bool,
    /// Keep the server's data directory and the pools (default: removed at the end).
    #[arg(long)]
    keep: bool,
    /// Where server data directories go (default: the system temp dir).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Record each operation's first measured run with `perf record` into this directory.
    #[arg(long)]
    perf_dir: Option<PathBuf>,
    /// Arguments for `perf record` (before -p).
    #[arg(long, default_value = "-F 999 -g", allow_hyphen_values = true)]
    perf_args: String,
    /// Before each measured run, wait up to this many seconds for other processes on the machine
    /// to use less than 0.2 cores (0 = don't wait).
    #[arg(long, default_value_t = 20.0)]
    quiet_wait: f64,
    /// PostgreSQL store: do not run `ANALYZE` after seeding (by default the bench runs it through
    /// psql, as autovacuum would after a bulk load; this server may have autovacuum off).
    #[arg(long)]
    no_pg_analyze: bool,
    /// Skip measuring the crypto floor.
    #[arg(long)]
    no_calibrate: bool,
    /// Only measure the crypto floor: on one core, then on every core at once (shows whether
    /// the cores slow each other down, e.g. SMT siblings on the host), and exit.
    #[arg(long)]
    calibrate_only: bool,
    /// A note added to the results section.
    #[arg(long)]
    note: Option<String>,
}

fn workspace_root() -> PathBuf {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    m.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or(m)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = if cli.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(cli.client_threads).enable_all().build()
    };
    let rt = match rt {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tobira-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tobira-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let root = workspace_root();
    let results = cli.results.clone().unwrap_or_else(|| root.join("bench").join("RESULTS.md"));
    if cli.calibrate_only {
        return calibrate::report_parallel();
    }
    eprintln!("calibrating the crypto floor (tobira's RSA and SRP code, one core, ~3.5 s)…");
    let floor = if cli.no_calibrate { None } else { Some(calibrate::measure()?) };
    let header = report::Header::gather(&root, &cli, floor);
    eprintln!("{}", header.one_line());
    if let Some(d) = &cli.perf_dir {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }

    if let Some(url) = &cli.endpoint {
        let ep = Endpoint::parse(url)?;
        let rep = bench_store(&cli, &cli.label, &ep, cli.server_pid, "running server (--endpoint)".into()).await?;
        finish(&cli, &header, &rep, &results)?;
        return Ok(());
    }

    let bin = cli.bin.clone().unwrap_or_else(|| root.join("target").join("release").join("tobira"));
    if !bin.exists() {
        return Err(format!("{} not found: build it first with `cargo build --release -p tobira`", bin.display()));
    }
    if let (Ok(built), Some(src)) = (std::fs::metadata(&bin).and_then(|m| m.modified()), sys::newest_mtime(&root.join("crates/tobira/src"))) {
        if src > built {
            eprintln!("tobira-bench: warning: {} is older than crates/tobira/src: rebuild with `cargo build --release -p tobira`", bin.display());
        }
    }
    let stores: Vec<&str> = match cli.store {
        StoreSel::Sqlite => vec!["sqlite"],
        StoreSel::Postgres => vec!["postgres"],
        StoreSel::Both => vec!["sqlite", "postgres"],
    };
    let tmp = cli.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    for store in stores {
        let data_dir = tmp.join(format!("tobira-bench-{}-{store}", std::process::id()));
        let db_url = (store == "postgres").then_some(cli.database_url.as_str());
        let mut server = sys::Server::start(&bin, data_dir, db_url, cli.keep)?;
        eprintln!("[{store}] tobira pid {} at {} (data {}, log {})", server.pid, server.url, server.data_dir.display(), server.log.display());
        let ep = Endpoint::parse(&server.url)?;
        let fs = sys::cmd_out("df", &["--output=fstype", server.data_dir.to_str().unwrap_or(".")], &root);
        let where_ = match store {
            "postgres" => "spawned release binary, PostgreSQL at the given URL (same machine)".to_string(),
            _ => format!("spawned release binary, SQLite in a temp dir ({})", fs.lines().last().unwrap_or("?")),
        };
        let rep = bench_store(&cli, store, &ep, Some(server.pid), where_).await;
        server.stop();
        let rep = rep?;
        finish(&cli, &header, &rep, &results)?;
    }
    Ok(())
}

fn finish(cli: &Cli, header: &report::Header, rep: &StoreReport, results: &Path) -> Result<(), String> {
    println!("{}", report::text_table(header, rep));
    if !cli.no_write {
        report::append_markdown(results, header, rep)?;
        eprintln!("appended to {}", results.display());
    }
    Ok(())
}

/// Runs `n` calls of `op` with `conc` in flight; `make(i)` is the i-th body. Returns the
/// responses of the calls for which `keep(i)` holds, and the elapsed seconds.
async fn parallel(
    ep: &Endpoint,
    conc: usize,
    n: u64,
    op: &'static str,
    signed: bool,
    make: Arc<dyn Fn(u64) -> Value + Send + Sync>,
    keep: bool,
    what: &str,
) -> Result<(Vec<(u64, Value)>, f64), String> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..conc.max(1) {
        let (ep, next, done, make) = (ep.clone(), next.clone(), done.clone(), make.clone());
        let what = what.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&ep).await?;
            let mut kept = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = make(i);
                let mut tries = 0;
                let v = loop {
                    match conn.json(&ep, op, signed, &body).await {
                        Ok(v) => break v,
                        Err(e) if tries < 3 => {
                            tries += 1;
                            eprintln!("  {what}: retrying #{i} after: {e}");
                            conn = Conn::open(&ep).await?;
                        }
                        Err(e) => return Err(e),
                    }
                };
                if keep {
                    kept.push((i, v));
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 10_000 && d % (n / 10) == 0 {
                    eprintln!("  {what}: {d}/{n} ({:.0}/s)", d as f64 / started.elapsed().as_secs_f64());
                }
            }
            Ok::<_, String>(kept)
        }));
    }
    let mut out = vec![];
    for t in tasks {
        out.extend(t.await.map_err(|e| format!("{what}: task failed: {e}"))??);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok((out, started.elapsed().as_secs_f64()))
}

fn uname(i: u64) -> String {
    format!("user{i:06}")
}

/// xorshift64*: a fixed, dependency-free stream of "random" indexes.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

async fn create_pool(conn: &mut Conn, ep: &Endpoint, name: &str) -> Result<(String, String), String> {
    let p = conn.json(ep, "CreateUserPool", true, &json!({ "PoolName": name })).await?;
    let pool_id = p["UserPool"]["Id"].as_str().ok_or("CreateUserPool: no Id")?.to_string();
    let c = conn
        .json(
            ep,
            "CreateUserPoolClient",
            true,
            &json!({ "UserPoolId": pool_id, "ClientName": "bench", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"] }),
        )
        .await?;
    let client_id = c["UserPoolClient"]["ClientId"].as_str().ok_or("CreateUserPoolClient: no ClientId")?.to_string();
    Ok((pool_id, client_id))
}

async fn bench_store(cli: &Cli, store: &str, ep: &Endpoint, server_pid: Option<u32>, where_: String) -> Result<StoreReport, String> {
    let tag = format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let mut conn = Conn::open(ep).await?;
    let (pool_id, client_id) = create_pool(&mut conn, ep, &format!("bench-{}-{tag}", cli.users)).await?;
    let (su_pool_id, su_client_id) = create_pool(&mut conn, ep, &format!("bench-signup-{tag}")).await?;
    let (tr_pool_id, tr_client_id) = create_pool(&mut conn, ep, &format!("bench-triggers-{tag}")).await?;
    let noop = "arn:aws:lambda:us-east-1:123456789012:function:benchNoop";
    conn.json(ep, "UpdateUserPool", true, &json!({ "UserPoolId": tr_pool_id, "LambdaConfig": { "PreSignUp": noop, "PostConfirmation": noop } })).await?;

    // ---- seeding
    let seed_before = sys::CpuSnap::take(server_pid);
    eprintln!("[{store}] seeding {} users into {pool_id} (AdminCreateUser, MessageAction SUPPRESS, {} in flight)", cli.users, cli.seed_concurrency);
    let pid = pool_id.clone();
    let make = Arc::new(move |i: u64| {
        let u = uname(i);
        json!({
            "UserPoolId": pid, "Username": u, "MessageAction": "SUPPRESS", "TemporaryPassword": TEMP_PASSWORD,
            "UserAttributes": [{"Name": "email", "Value": format!("{u}@bench.example")}, {"Name": "email_verified", "Value": "true"}],
        })
    });
    let (_, seed_secs) = parallel(ep, cli.seed_concurrency, cli.users, "AdminCreateUser", true, make, false, "seed").await?;
    let seed_cpu = sys::CpuUse::between(&seed_before, &sys::CpuSnap::take(server_pid));

    let m = cli.signin_users.min(cli.users).max(1);
    let stride = (cli.users / m).max(1);
    let signin: Vec<String> = (0..m).map(|k| uname(k * stride)).collect();
    let (pid, names) = (pool_id.clone(), Arc::new(signin.clone()));
    let make = Arc::new(move |i: u64| json!({ "UserPoolId": pid, "Username": names[i as usize], "Password": PASSWORD, "Permanent": true }));
    let (_, setpw_secs) = parallel(ep, cli.seed_concurrency, m, "AdminSetUserPassword", true, make, false, "set passwords").await?;

    let (cid, names) = (client_id.clone(), Arc::new(signin.clone()));
    let make = Arc::new(move |i: u64| {
        json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": cid, "AuthParameters": { "USERNAME": names[i as usize], "PASSWORD": PASSWORD } })
    });
    let (signed_in, signin_secs) = parallel(ep, cli.seed_concurrency, m, "InitiateAuth", false, make, true, "sign in").await?;
    let mut access = vec![];
    let mut refresh = vec![];
    for (_, v) in &signed_in {
        let r = &v["AuthenticationResult"];
        access.push(r["AccessToken"].as_str().ok_or("sign-in returned no AccessToken")?.to_string());
        refresh.push(r["RefreshToken"].as_str().ok_or("sign-in returned no RefreshToken")?.to_string());
    }
    let analyzed = if store == "postgres" && cli.endpoint.is_none() && !cli.no_pg_analyze {
        let t = Instant::now();
        let ok = std::process::Command::new("psql")
            .args([cli.database_url.as_str(), "-qc", "ANALYZE"])
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let autovacuum = sys::cmd_out("psql", &["-Atc", "SHOW autovacuum", cli.database_url.as_str()], Path::new("."));
        Some(if ok {
            format!("ran `ANALYZE` after seeding ({:.1} s; server has autovacuum={autovacuum})", t.elapsed().as_secs_f64())
        } else {
            eprintln!("[{store}] warning: `psql … -c ANALYZE` failed; planner statistics may be stale");
            "ANALYZE after seeding FAILED (psql missing?): planner statistics may be stale".to_string()
        })
    } else if store == "postgres" {
        Some("no ANALYZE after seeding (--no-pg-analyze)".to_string())
    } else {
        None
    };
    let setup = SetupStats {
        analyzed,
        users: cli.users,
        seed_secs,
        seed_cpu,
        signin_users: m,
        setpw_secs,
        signin_secs,
        seed_concurrency: cli.seed_concurrency,
    };
    eprintln!(
        "[{store}] seeded {} users in {:.1} s ({:.0}/s); {} passwords set ({:.0}/s); {} sign-ins ({:.0}/s)",
        cli.users,
        seed_secs,
        cli.users as f64 / seed_secs,
        m,
        m as f64 / setpw_secs,
        m,
        m as f64 / signin_secs
    );

    // ---- request bodies
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let body = |v: Value| Bytes::from(v.to_string());
    let password_bodies: Vec<Bytes> = signin
        .iter()
        .map(|u| body(json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": { "USERNAME": u, "PASSWORD": PASSWORD } })))
        .collect();
    let refresh_bodies: Vec<Bytes> =
        refresh.iter().map(|t| body(json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client_id, "AuthParameters": { "REFRESH_TOKEN": t } }))).collect();
    let srp_spec = Arc::new(crate::load::SrpSpec {
        client_id: client_id.clone(),
        pool_name: pool_id.split_once('_').map(|(_, n)| n.to_string()).unwrap_or_default(),
        users: signin.clone(),
        password: PASSWORD.to_string(),
    });
    let getuser_bodies: Vec<Bytes> = access.iter().map(|t| body(json!({ "AccessToken": t }))).collect();
    let admin_bodies: Vec<Bytes> = (0..4096).map(|_| body(json!({ "UserPoolId": pool_id, "Username": uname(rng.next(cli.users)) }))).collect();
    let list_bodies: Vec<Bytes> = (0..4096)
        .map(|_| body(json!({ "UserPoolId": pool_id, "Filter": format!("email = \"{}@bench.example\"", uname(rng.next(cli.users))) })))
        .collect();

    let mut summaries: Vec<OpSummary> = cli.ops.iter().map(|&op| OpSummary::new(op)).collect();
    for rep in 0..cli.repeat {
        for (k, &op) in cli.ops.iter().enumerate() {
            let bodies = match op {
                OpKind::Signup => Bodies::SignUp { client_id: su_client_id.clone(), tag: format!("{tag}-{rep}"), password: PASSWORD.into() },
                OpKind::Password => Bodies::Cycle(password_bodies.clone()),
                OpKind::Refresh => Bodies::Cycle(refresh_bodies.clone()),
                OpKind::Srp => Bodies::Srp(srp_spec.clone()),
                OpKind::Signup1 => Bodies::SignUp { client_id: su_client_id.clone(), tag: format!("{tag}-{rep}-one"), password: PASSWORD.into() },
                OpKind::SignupTriggers1 => Bodies::SignUp { client_id: tr_client_id.clone(), tag: format!("{tag}-{rep}-tr"), password: PASSWORD.into() },
                OpKind::GetUser => Bodies::Cycle(getuser_bodies.clone()),
                OpKind::AdminGetUser => Bodies::Cycle(admin_bodies.clone()),
                OpKind::ListUsers | OpKind::ListUsers1 => Bodies::Cycle(list_bodies.clone()),
            };
            let w = Arc::new(Workload { target: http::target(op.operation()), signed: op.signed(), bodies });
            if rep == 0 {
                sanity_check(&mut conn, ep, op, &w).await?;
            }
            let concurrency = if matches!(op, OpKind::ListUsers1 | OpKind::Signup1 | OpKind::SignupTriggers1) { 1 } else { cli.concurrency };
            let perf = match (&cli.perf_dir, rep) {
                (Some(d), 0) => Some((
                    d.join(format!("{store}-{}.data", format!("{op:?}").to_lowercase())),
                    cli.perf_args.split_whitespace().map(str::to_string).collect(),
                )),
                _ => None,
            };
            let cfg = RunConfig {
                concurrency,
                warmup: Duration::from_secs_f64(cli.warmup),
                duration: Duration::from_secs_f64(cli.duration),
                server_pid,
                perf,
            };
            wait_quiet(server_pid, cli.quiet_wait).await;
            let r = load::run(ep, w, &cfg).await?;
            eprintln!(
                "[{store}] run {}/{} {:<32} {:>9.1} ops/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:.1} ms  ok {}  errors {}  tobira {:.2} + db {:.2} + client {:.2} cores{}",
                rep + 1,
                cli.repeat,
                op.label(),
                r.ops_per_sec,
                r.p50_ms,
                r.p95_ms,
                r.p99_ms,
                r.max_ms,
                r.ok,
                r.errors,
                r.cpu.server_cores.unwrap_or(f64::NAN),
                r.cpu.db_cores,
                r.cpu.client_cores,
                r.first_error.as_deref().map(|e| format!("\n    first error: {e}")).unwrap_or_default()
            );
            summaries[k].runs.push((concurrency, r));
        }
    }

    if !cli.keep {
        for p in [&su_pool_id, &tr_pool_id, &pool_id] {
            if let Err(e) = conn.json(ep, "DeleteUserPool", true, &json!({ "UserPoolId": p })).await {
                eprintln!("[{store}] warning: could not delete pool {p}: {e}");
            }
        }
    }
    Ok(StoreReport { store: store.to_string(), where_, setup, ops: summaries, cli_concurrency: cli.concurrency })
}

/// Waits (up to `max_secs`) until processes other than tobira, PostgreSQL and the bench use
/// less than 0.2 cores, so that a run does not start in the middle of someone else's build.
async fn wait_quiet(server_pid: Option<u32>, max_secs: f64) {
    if max_secs <= 0.0 {
        return;
    }
    let start = Instant::now();
    loop {
        let a = sys::CpuSnap::take(server_pid);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let other = sys::CpuUse::between(&a, &sys::CpuSnap::take(server_pid)).other_cores();
        if other < 0.2 {
            return;
        }
        if start.elapsed().as_secs_f64() >= max_secs {
            eprintln!("  (other processes still use {other:.2} cores after {max_secs} s of waiting; measuring anyway)");
            return;
        }
    }
}

/// One request of the operation must succeed (and ListUsers must find exactly its user).
async fn sanity_check(conn: &mut Conn, ep: &Endpoint, op: OpKind, w: &Workload) -> Result<(), String> {
    let body = match &w.bodies {
        Bodies::Srp(spec) => {
            let (status, b) = crate::load::srp_sign_in(conn, ep, spec, 0, &mut None).await?;
            if status != 200 {
                return Err(format!("{} sanity check failed: HTTP {status}: {}", op.label(), String::from_utf8_lossy(&b)));
            }
            return Ok(());
        }
        Bodies::Cycle(v) => v[0].clone(),
        Bodies::SignUp { client_id, tag, password } => {
            Bytes::from(json!({ "ClientId": client_id, "Username": format!("su-check-{tag}"), "Password": password }).to_string())
        }
    };
    let (status, b) = conn.call(ep, &w.target, w.signed, body).await?;
    if status != 200 {
        return Err(format!("{} sanity check failed: HTTP {status}: {}", op.label(), String::from_utf8_lossy(&b)));
    }
    if matches!(op, OpKind::ListUsers | OpKind::ListUsers1) {
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        let n = v["Users"].as_array().map(Vec::len).unwrap_or(0);
        if n != 1 {
            return Err(format!("ListUsers by email returned {n} users, expected 1: {v}"));
        }
    }
    Ok(())
}
