//! Helpers shared by the integration tests: temporary directories, random names, and the
//! PostgreSQL convention (`TOBIRA_TEST_PG_URL`, skipped when unreachable unless
//! `TOBIRA_REQUIRE_PG=1`).
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tobira-test-{tag}-{}", rand_hex()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 32 random lowercase hex digits.
pub fn rand_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `n` random bytes.
pub fn rand_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut v).expect("randomness");
    v
}

pub fn pg_url() -> String {
    std::env::var("TOBIRA_TEST_PG_URL").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_PG_URL.to_string())
}

pub fn require_pg() -> bool {
    std::env::var("TOBIRA_REQUIRE_PG").map(|v| v.trim() == "1").unwrap_or(false)
}

/// `host:port` of a `postgres://[user[:pw]@]host[:port][/db][?…]` URL, if it names one.
fn pg_host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if hostport.is_empty() {
        return None;
    }
    if hostport.starts_with('[') {
        // [v6]:port or [v6]
        return Some(if hostport.contains("]:") { hostport.to_string() } else { format!("{hostport}:5432") });
    }
    Some(if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") })
}

/// A quick TCP probe, done once per test binary, so that an absent PostgreSQL costs one
/// connection attempt rather than sqlx's retry loop in every test.
fn pg_probe() -> &'static Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let url = pg_url();
        let Some(hp) = pg_host_port(&url) else { return Ok(()) };
        let addrs: Vec<_> = match hp.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => return Err(format!("cannot resolve {hp}: {e}")),
        };
        let mut last = format!("no address for {hp}");
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{a}: {e}"),
            }
        }
        Err(last)
    })
}

/// Decides what to do when PostgreSQL cannot be used: panic under `TOBIRA_REQUIRE_PG=1`,
/// otherwise say so on stderr and return `None`.
pub fn pg_unavailable<T>(why: &str) -> Option<T> {
    if require_pg() {
        panic!("PostgreSQL is required (TOBIRA_REQUIRE_PG=1) but unusable at {}: {why}", pg_url());
    }
    // Straight to the process's stderr (not eprintln!, which the test harness captures and
    // hides for passing tests), so a skipped half is visible in every run.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipping PostgreSQL: {} unreachable: {why} (set TOBIRA_REQUIRE_PG=1 to fail instead)", pg_url());
    None
}

/// The PostgreSQL URL if the server answers, else `None` (after saying so) or a panic
/// (under `TOBIRA_REQUIRE_PG=1`).
pub fn pg_url_if_reachable() -> Option<String> {
    match pg_probe() {
        Ok(()) => Some(pg_url()),
        Err(e) => pg_unavailable(e),
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub fn poll_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
