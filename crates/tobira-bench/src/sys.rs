//! The machine: CPU time of the server, of this load generator, of PostgreSQL, and of the whole
//! machine (from /proc), the spawned server process, and facts for the report header.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process (all its threads), in clock ticks, and its command name.
fn proc_stat(pid: &str) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let f: Vec<&str> = s[close + 1..].split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Sum of CPU ticks of every process called `postgres` (the server and its backends).
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())).map(str::to_string))
        .filter_map(|pid| proc_stat(&pid))
        .filter(|(comm, _)| comm.starts_with("postgres"))
        .map(|(_, t)| t)
        .sum()
}

/// (busy, total) ticks of the whole machine from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 5 {
        return (0, 0);
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    (total - idle, total)
}

#[derive(Debug, Clone, Copy)]
pub struct CpuSnap {
    at: Instant,
    server: Option<u64>,
    client: u64,
    db: u64,
    busy: u64,
    total: u64,
}

impl CpuSnap {
    pub fn take(server_pid: Option<u32>) -> CpuSnap {
        let server = server_pid.and_then(|p| proc_stat(&p.to_string())).map(|(_, t)| t);
        let client = proc_stat("self").map(|(_, t)| t).unwrap_or(0);
        let (busy, total) = machine_ticks();
        CpuSnap { at: Instant::now(), server, client, db: postgres_ticks(), busy, total }
    }
}

/// CPU use over a window, in cores (CPU-seconds per wall second).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server_cores: Option<f64>,
    pub client_cores: f64,
    pub db_cores: f64,
    /// Whole machine, every process.
    pub machine_cores: f64,
    pub machine_idle_frac: f64,
}

impl CpuUse {
    /// Everything else on the machine: processes that are neither tobira, PostgreSQL nor the bench.
    pub fn other_cores(&self) -> f64 {
        (self.machine_cores - self.server_cores.unwrap_or(0.0) - self.db_cores - self.client_cores).max(0.0)
    }
    pub fn between(a: &CpuSnap, b: &CpuSnap) -> CpuUse {
        let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let hz = clk_tck();
        let cores = |t: u64| t as f64 / hz / wall;
        let total = b.total.saturating_sub(a.total) as f64;
        let busy = b.busy.saturating_sub(a.busy) as f64;
        CpuUse {
            server_cores: match (a.server, b.server) {
                (Some(x), Some(y)) => Some(cores(y.saturating_sub(x))),
                _ => None,
            },
            client_cores: cores(b.client.saturating_sub(a.client)),
            db_cores: cores(b.db.saturating_sub(a.db)),
            machine_cores: cores(b.busy.saturating_sub(a.busy)),
            machine_idle_frac: if total > 0.0 { 1.0 - busy / total } else { 0.0 },
        }
    }
}

pub fn nproc() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

pub fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into())
}

pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Output of a command, trimmed; empty when it fails.
pub fn cmd_out(cmd: &str, args: &[&str], dir: &Path) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `abc1234` or `abc1234+dirty` (uncommitted changes under crates/ or the workspace manifest).
pub fn git_commit(repo: &Path) -> String {
    let head = cmd_out("git", &["rev-parse", "--short=10", "HEAD"], repo);
    if head.is_empty() {
        return "unknown".into();
    }
    let dirty = cmd_out("git", &["status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock"], repo);
    if dirty.is_empty() { head } else { format!("{head}+dirty") }
}

/// Newest modification time of any file under `dir`.
pub fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.filter_map(Result::ok) {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if let Ok(m) = md.modified() {
                if newest.is_none_or(|n| m > n) {
                    newest = Some(m);
                }
            }
        }
    }
    newest
}

/// A tobira process started by the bench, stopped (SIGTERM) and its data directory removed on drop.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    keep: bool,
}

impl Server {
    pub fn start(bin: &Path, data_dir: PathBuf, database_url: Option<&str>, keep: bool) -> Result<Server, String> {
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        // A no-op trigger handler (./functions/benchNoop, found from the server's working
        // directory): it only auto-confirms, so PostConfirmation follows PreSignUp.
        let noop = data_dir.join("functions").join("benchNoop");
        std::fs::create_dir_all(&noop).map_err(|e| format!("cannot create {}: {e}", noop.display()))?;
        std::fs::write(
            noop.join("index.mjs"),
            "export const handler = async (event) => {\n  if (event.triggerSource === 'PreSignUp_SignUp') event.response.autoConfirmUser = true;\n  return event;\n};\n",
        )
        .map_err(|e| format!("cannot write the no-op handler: {e}"))?;
        let log = data_dir.join("tobira.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(&data_dir);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        // Run where no stray tobira.toml can be picked up; a fresh master key per data dir.
        cmd.current_dir(&data_dir).env_remove("TOBIRA_MASTER_KEY").env_remove("TOBIRA_CONFIG");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {} // drain until the server exits
        });
        let first = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("tobira did not print its listening line; its log:\n{log_text}"));
            }
        };
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string)
            .ok_or_else(|| format!("unexpected first line from tobira: {first:?}"))?;
        Ok(Server { child, pid, url, data_dir, log, keep })
    }

    pub fn stop(&mut self) {
        // SAFETY: plain kill(2) on the child we started.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}
