//! Local handlers in warm worker processes.
//!
//! A worker is `node bootstrap.cjs` or `python3 -u bootstrap.py` (both embedded in tobira and
//! written to a private temporary directory at first use), started in the handler's folder with
//! the function's environment. It loads the handler once and then serves invocations one at a
//! time.
//!
//! **Protocol.** Requests and replies are newline-delimited JSON over a Unix socket that the
//! worker gets as file descriptor 3, so nothing the handler prints can corrupt them; stdin is
//! `/dev/null`. The worker first says `{"type":"ready"}` (or `{"type":"init_error",…}`), then
//! answers each `{"id","requestId","event","deadlineMs","invokedFunctionArn"}` with
//! `{"type":"result","id","ok":true,"result"}` or `{"type":"result","id","ok":false,"errorType",
//! "errorMessage","fatal"}`. Before each reply the worker writes a sync marker to its stdout and
//! stderr, so that every line the handler printed is logged (through `tracing`, target
//! `tobira::function`) with the right request id before the worker takes the next request.
//!
//! **Lifetime.** Each function has a pool of at most `concurrency` workers (default 2), started on
//! demand and reused. A worker that times out, exits, breaks the protocol or reports a fatal error
//! (an uncaught exception) is killed and replaced by a fresh one on the next call. Workers run in
//! their own process group and are subreapers, so killing one also kills whatever its handler
//! started, even in a session of its own or orphaned by a double fork ([`kill_group`]); they are
//! killed on [`super::StandardTriggers::shutdown`] and on drop, and (on Linux) by the kernel if
//! tobira itself dies: they are spawned from a dedicated thread with `PR_SET_PDEATHSIG`, and they
//! exit when their socket closes. Idle workers are replaced when the handler file's modification
//! time changes, so edits to it take effect on the next call.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch, Semaphore};

use super::{FunctionRef, FunctionSpec, InvokeError, DEFAULT_CONCURRENCY};

const NODE_BOOTSTRAP: &str = include_str!("bootstrap.cjs");
const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap.py");
/// How long a worker may take to load its handler (Lambda's init limit).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply accepted from a worker.
const MAX_REPLY: usize = 16 * 1024 * 1024;
/// Longest console line logged as one; longer ones are split.
const MAX_LOG_LINE: usize = 16 * 1024;
/// How long to wait for the sync markers before handing a worker to the next request.
const LOG_SYNC_WAIT: Duration = Duration::from_millis(500);
const MEMORY_MB: &str = "128";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Node,
    Python,
}

impl Runtime {
    /// `nodejs`, `node`, `nodejs20.x`…; `python`, `python3`, `python3.12`….
    pub(crate) fn parse(s: &str) -> Result<Runtime, String> {
        let l = s.trim().to_ascii_lowercase();
        if l.starts_with("node") {
            Ok(Runtime::Node)
        } else if l.starts_with("python") {
            Ok(Runtime::Python)
        } else {
            Err(format!("runtime {s:?} is not supported (use \"nodejs\" or \"python\")"))
        }
    }

    fn of_file(p: &Path) -> Option<Runtime> {
        match p.extension()?.to_str()? {
            "mjs" | "js" | "cjs" => Some(Runtime::Node),
            "py" => Some(Runtime::Python),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Python => "python",
        }
    }
}

/// `path/to/index.handler` → (`path/to/index`, `handler`).
pub(crate) fn split_handler(h: &str) -> Result<(&str, &str), String> {
    let bad = || format!("handler {h:?} must look like path/to/file.export, e.g. \"index.handler\"");
    let (module, export) = h.rsplit_once('.').ok_or_else(bad)?;
    if module.is_empty() || module.ends_with('/') || export.is_empty() || !export.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
        return Err(bad());
    }
    Ok((module, export))
}

/// A local function, resolved to a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LocalFunction {
    pub name: String,
    pub runtime: Runtime,
    /// Absolute path of the handler's file.
    pub file: PathBuf,
    /// Export names tried in order.
    pub exports: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl LocalFunction {
    pub(crate) fn from_spec(name: &str, spec: &FunctionSpec, base: &Path, default_timeout: Duration) -> Result<LocalFunction, String> {
        let FunctionSpec::Local { handler, runtime, environment, timeout, concurrency } = spec else {
            return Err(format!("function {name} is not a local handler"));
        };
        let (module, export) = split_handler(handler)?;
        let runtime = runtime.as_deref().map(Runtime::parse).transpose()?;
        let module_path = base.join(module);
        let mut candidates: Vec<PathBuf> = vec![];
        if Runtime::of_file(&module_path).is_some_and(|r| runtime.is_none_or(|want| want == r)) {
            candidates.push(module_path.clone());
        }
        let exts: &[&str] = match runtime {
            Some(Runtime::Node) => &["mjs", "js", "cjs"],
            Some(Runtime::Python) => &["py"],
            None => &["mjs", "js", "cjs", "py"],
        };
        for ext in exts {
            candidates.push(PathBuf::from(format!("{}.{ext}", module_path.display())));
        }
        // Python's dotted form: `package.module.handler`.
        if runtime != Some(Runtime::Node) {
            if let Some(file_name) = module_path.file_name().and_then(|f| f.to_str()).filter(|f| f.contains('.')) {
                candidates.push(module_path.with_file_name(format!("{}.py", file_name.replace('.', "/"))));
            }
        }
        let file = candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
            format!("function {name}: no handler file {}.{{{}}} (from handler {handler:?})", module_path.display(), exts.join(","))
        })?;
        let runtime = runtime.or_else(|| Runtime::of_file(&file)).unwrap_or(Runtime::Node);
        Ok(LocalFunction {
            name: name.to_string(),
            runtime,
            file,
            exports: vec![export.to_string()],
            environment: environment.clone(),
            timeout: timeout.unwrap_or(default_timeout),
            concurrency: concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
        })
    }

    /// `dir/index.mjs`, `index.js`, `index.cjs`, `index.py` or `lambda_function.py`, the first found.
    pub(crate) fn from_folder(name: &str, dir: &Path, default_timeout: Duration) -> Option<LocalFunction> {
        let options: [(&str, Runtime, &[&str]); 5] = [
            ("index.mjs", Runtime::Node, &["handler"]),
            ("index.js", Runtime::Node, &["handler"]),
            ("index.cjs", Runtime::Node, &["handler"]),
            ("index.py", Runtime::Python, &["handler", "lambda_handler"]),
            ("lambda_function.py", Runtime::Python, &["lambda_handler", "handler"]),
        ];
        options.iter().find(|(f, _, _)| dir.join(f).is_file()).map(|(f, runtime, exports)| LocalFunction {
            name: name.to_string(),
            runtime: *runtime,
            file: dir.join(f),
            exports: exports.iter().map(|e| e.to_string()).collect(),
            environment: BTreeMap::new(),
            timeout: default_timeout,
            concurrency: DEFAULT_CONCURRENCY,
        })
    }

    fn stamp(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.file).and_then(|m| m.modified()).ok()
    }
}

// ------------------------------------------------------------------------------------ the host

type SpawnJob = (Command, oneshot::Sender<std::io::Result<Child>>);

/// What all pools of one [`super::StandardTriggers`] share: the spawner thread, the bootstrap
/// files and the set of live process groups.
pub(crate) struct Host {
    region: String,
    /// Per-instance secret in the log sync markers.
    nonce: String,
    live: Mutex<HashSet<u32>>,
    dir: Mutex<Option<PathBuf>>,
    spawner: Mutex<Option<std::sync::mpsc::Sender<SpawnJob>>>,
    node: String,
    python: String,
    /// Environment every worker gets unless it has its own value: tobira's own endpoint for the
    /// Cognito client, and credentials to call it with.
    pub(crate) defaults: Mutex<Vec<(String, String)>>,
}

impl Host {
    pub(crate) fn new(region: String) -> Host {
        Host {
            region,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            live: Mutex::new(HashSet::new()),
            dir: Mutex::new(None),
            spawner: Mutex::new(None),
            node: std::env::var("TOBIRA_NODE").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "node".into()),
            python: std::env::var("TOBIRA_PYTHON").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "python3".into()),
            defaults: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn live_pids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.live.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect();
        v.sort();
        v
    }

    /// SIGKILL to every live worker's process group.
    pub(crate) fn kill_all(&self) {
        for pid in self.live.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            kill_group(pid);
        }
    }

    /// The bootstrap file for a runtime, written on first use into a fresh private directory.
    fn bootstrap(&self, runtime: Runtime) -> Result<PathBuf, String> {
        let mut g = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        let dir = match &*g {
            Some(d) => d.clone(),
            None => {
                use std::os::unix::fs::DirBuilderExt;
                let d = std::env::temp_dir().join(format!("tobira-functions-{}", uuid::Uuid::new_v4().simple()));
                std::fs::DirBuilder::new().mode(0o700).create(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
                for (name, text) in [("bootstrap.cjs", NODE_BOOTSTRAP), ("bootstrap.py", PYTHON_BOOTSTRAP)] {
                    std::fs::write(d.join(name), text).map_err(|e| format!("cannot write {}: {e}", d.join(name).display()))?;
                }
                *g = Some(d.clone());
                d
            }
        };
        Ok(dir.join(match runtime {
            Runtime::Node => "bootstrap.cjs",
            Runtime::Python => "bootstrap.py",
        }))
    }

    /// Spawns on the host's own long-lived thread, so that `PR_SET_PDEATHSIG` (tied to the
    /// spawning thread) fires only when this host is gone or tobira dies.
    async fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let (tx, rx) = oneshot::channel();
        {
            let mut g = self.spawner.lock().unwrap_or_else(|p| p.into_inner());
            if g.is_none() {
                let handle = tokio::runtime::Handle::current();
                let (jtx, jrx) = std::sync::mpsc::channel::<SpawnJob>();
                std::thread::Builder::new().name("tobira-fn-spawner".into()).spawn(move || {
                    let _rt = handle.enter();
                    while let Ok((mut cmd, reply)) = jrx.recv() {
                        let _ = reply.send(cmd.spawn());
                    }
                })?;
                *g = Some(jtx);
            }
            g.as_ref().expect("spawner").send((cmd, tx)).map_err(|_| std::io::Error::other("spawner thread is gone"))?;
        }
        rx.await.map_err(|_| std::io::Error::other("spawner thread is gone"))?
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill_all();
        if let Some(d) = self.dir.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Kills a worker and everything it started: its process group, and (on Linux) every descendant
/// that left the group (`detached: true`, `start_new_session=True`, `setsid`). Workers are
/// subreapers, so a descendant whose parent exited is still the worker's descendant. The tree is
/// stopped before it is killed, so nothing in it can fork its way out in between.
fn kill_group(pid: u32) {
    if pid <= 1 {
        return;
    }
    let signal = |p: u32, group: bool, sig: libc::c_int| {
        let target = if group { -(p as libc::pid_t) } else { p as libc::pid_t };
        // SAFETY: kill(2) sends a signal; no memory is involved.
        unsafe {
            libc::kill(target, sig);
        }
    };
    #[cfg(target_os = "linux")]
    {
        let first = descendants(pid);
        if !first.is_empty() {
            signal(pid, true, libc::SIGSTOP);
            for &d in &first {
                signal(d, false, libc::SIGSTOP);
            }
            for d in descendants(pid).into_iter().chain(first) {
                signal(d, false, libc::SIGKILL);
            }
        }
    }
    signal(pid, true, libc::SIGKILL);
    // A stopped process still gets SIGKILL; SIGCONT in case the group outlived its leader.
    signal(pid, true, libc::SIGCONT);
}

/// The live descendants of `root` (children first), from `/proc/*/stat`. Nothing unless `root` is
/// a running child of this process: a worker already reaped may have had its pid reused.
#[cfg(target_os = "linux")]
fn descendants(root: u32) -> Vec<u32> {
    let ours = std::fs::read_to_string(format!("/proc/{root}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').take(2).map(str::to_string).collect::<Vec<_>>()))
        .is_some_and(|f| f.len() == 2 && f[0] != "Z" && f[0] != "X" && f[1] == std::process::id().to_string());
    if !ours {
        return vec![];
    }
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("");
        if state == "Z" || state == "X" {
            continue;
        }
        if let Some(ppid) = fields.next().and_then(|s| s.parse::<u32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![];
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if c != root && !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------ pools

pub(crate) struct Pool {
    f: LocalFunction,
    host: Arc<Host>,
    account_id: String,
    permits: Semaphore,
    idle: Mutex<Vec<Worker>>,
    closed: AtomicBool,
}

impl Pool {
    pub(crate) fn new(f: LocalFunction, host: Arc<Host>, account_id: String) -> Pool {
        let permits = Semaphore::new(f.concurrency);
        Pool { f, host, account_id, permits, idle: Mutex::new(vec![]), closed: AtomicBool::new(false) }
    }

    pub(crate) fn function(&self) -> &LocalFunction {
        &self.f
    }

    /// Stops taking invocations and kills the idle workers, waiting for them to exit. Workers busy
    /// with an invocation are killed when it ends (and by [`Host::kill_all`]).
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        let idle: Vec<Worker> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for w in idle {
            w.kill_and_reap().await;
        }
    }

    /// Like [`Pool::close`], without waiting.
    pub(crate) fn close_now(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        drop(std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner())));
    }

    pub(crate) async fn invoke(&self, fref: &FunctionRef, request_id: &str, event: Value) -> Result<Value, InvokeError> {
        let closed = || InvokeError::Failed("tobira is shutting down".into());
        let _permit = self.permits.acquire().await.map_err(|_| closed())?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(closed());
        }
        let stamp = self.f.stamp();
        let reused = loop {
            let w = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match w {
                Some(mut w) => {
                    if w.stamp == stamp && w.alive() {
                        break Some(w);
                    }
                    // Exited, or the code changed: dropping it kills it.
                }
                None => break None,
            }
        };
        let mut w = match reused {
            Some(w) => w,
            None => self.start(request_id, stamp).await.map_err(InvokeError::Failed)?,
        };
        w.set_tag(request_id);
        w.seq += 1;
        let seq = w.seq;
        let deadline_ms = super::now_ms() + self.f.timeout.as_millis() as i64;
        let req = json!({
            "id": seq,
            "requestId": request_id,
            "event": event,
            "deadlineMs": deadline_ms,
            "invokedFunctionArn": fref.arn,
        });
        match w.exchange(&req, self.f.timeout).await {
            Ok(reply) => {
                let parsed = parse_reply(&reply, seq);
                w.sync_logs(seq).await;
                match parsed {
                    Ok((result, fatal)) => {
                        if fatal || self.closed.load(Ordering::SeqCst) {
                            w.kill_and_reap().await;
                        } else {
                            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(w);
                        }
                        result
                    }
                    Err(m) => {
                        w.kill_and_reap().await;
                        Err(InvokeError::Failed(format!("RequestId: {request_id} Error: {m}")))
                    }
                }
            }
            Err(fail) => {
                let m = match fail {
                    Fail::Timeout => format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", self.f.timeout.as_secs_f64()),
                    Fail::Exited(status) => format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                    Fail::Broken(m) => format!("RequestId: {request_id} Error: {m}"),
                };
                w.kill_and_reap().await;
                Err(InvokeError::Failed(m))
            }
        }
    }

    /// Starts a worker and waits for it to load the handler.
    async fn start(&self, request_id: &str, stamp: Option<SystemTime>) -> Result<Worker, String> {
        let f = &self.f;
        let bootstrap = self.host.bootstrap(f.runtime)?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| format!("cannot create a socket pair: {e}"))?;
        // The child's end, moved above 3 so that dup2 onto 3 is never a no-op (which would keep CLOEXEC).
        // SAFETY: fcntl on a descriptor we own; the result is a new descriptor we then own.
        let theirs_fd = unsafe {
            let fd = libc::fcntl(theirs.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 4);
            if fd < 0 {
                return Err(format!("cannot duplicate a descriptor: {}", std::io::Error::last_os_error()));
            }
            OwnedFd::from_raw_fd(fd)
        };
        drop(theirs);
        let dir = f.file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let mut cmd = match f.runtime {
            Runtime::Node => Command::new(&self.host.node),
            Runtime::Python => {
                let mut c = Command::new(&self.host.python);
                c.arg("-u");
                c
            }
        };
        cmd.arg(&bootstrap)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TOBIRA_") {
                cmd.env_remove(k);
            }
        }
        let stem = f.file.file_stem().and_then(|s| s.to_str()).unwrap_or("index");
        let (y, m, d) = civil_date(super::now_ms());
        cmd.env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB)
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", f.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("{y:04}/{m:02}/{d:02}/[$LATEST]{}", uuid::Uuid::new_v4().simple()))
            .env("AWS_REGION", &self.host.region)
            .env("AWS_DEFAULT_REGION", &self.host.region)
            .env("AWS_ACCOUNT_ID", &self.account_id)
            .env("LAMBDA_TASK_ROOT", &dir)
            .env("_HANDLER", format!("{stem}.{}", f.exports[0]))
            .env("TZ", ":UTC");
        for (k, v) in self.host.defaults.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if std::env::var_os(k).is_none() && !f.environment.contains_key(k) {
                cmd.env(k, v);
            }
        }
        for (k, v) in &f.environment {
            cmd.env(k, v);
        }
        cmd.env("TOBIRA_HANDLER_FILE", &f.file).env("TOBIRA_HANDLER_EXPORTS", f.exports.join(",")).env("TOBIRA_SENTINEL", self.marker_text());
        let child_fd = theirs_fd.as_raw_fd();
        // SAFETY: only async-signal-safe calls (prctl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                #[cfg(target_os = "linux")]
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Orphans among the handler's descendants become the worker's, not init's, so
                // killing the worker's tree finds them.
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
                if libc::dup2(child_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let program = match f.runtime {
            Runtime::Node => &self.host.node,
            Runtime::Python => &self.host.python,
        };
        let mut child = self.host.spawn(cmd).await.map_err(|e| format!("cannot start {program} for function {}: {e}", f.name))?;
        drop(theirs_fd);
        let pid = child.id().unwrap_or(0);
        self.host.live.lock().unwrap_or_else(|p| p.into_inner()).insert(pid);
        ours.set_nonblocking(true).map_err(|e| e.to_string())?;
        let sock = tokio::net::UnixStream::from_std(ours).map_err(|e| e.to_string())?;
        let (rx, tx) = sock.into_split();
        let tag = Arc::new(Mutex::new(request_id.to_string()));
        let name: Arc<str> = Arc::from(f.name.as_str());
        let marker = self.marker_text().into_bytes();
        let (out_tx, out_rx) = watch::channel(0u64);
        let (err_tx, err_rx) = watch::channel(0u64);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, false, name.clone(), tag.clone(), marker.clone(), out_tx));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, true, name.clone(), tag.clone(), marker, err_tx));
        }
        let mut w = Worker { pid, child, rx, rbuf: Vec::new(), tx, tag, seen: [out_rx, err_rx], seq: 0, stamp, host: self.host.clone() };
        tracing::debug!(function = %f.name, pid, runtime = f.runtime.label(), "function worker started");
        let ready = {
            let Worker { child, rx, rbuf, .. } = &mut w;
            tokio::select! {
                biased;
                r = tokio::time::timeout(INIT_TIMEOUT, read_msg(rx, rbuf)) => match r {
                    Ok(Ok(m)) => Ok(m),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(format!("the handler did not load within {} s", INIT_TIMEOUT.as_secs())),
                },
                s = child.wait() => Err(match s {
                    Ok(s) => format!("Runtime exited with error: {s}"),
                    Err(e) => e.to_string(),
                }),
            }
        };
        let fail = |m: String| format!("function {} could not start: {m}", f.name);
        match ready {
            Ok(m) if m.get("type").and_then(Value::as_str) == Some("ready") => Ok(w),
            Ok(m) => {
                let t = m.get("errorType").and_then(Value::as_str).unwrap_or("Runtime.Error").to_string();
                let msg = m.get("errorMessage").and_then(Value::as_str).unwrap_or("unknown error").to_string();
                w.sync_logs(0).await;
                w.kill_and_reap().await;
                Err(fail(format!("{t}: {msg}")))
            }
            Err(m) => {
                w.kill_and_reap().await;
                Err(fail(m))
            }
        }
    }

    fn marker_text(&self) -> String {
        format!("\u{1e}tobira:{}:", self.host.nonce)
    }
}

/// A result reply → (the invocation's outcome, whether the worker must be discarded).
fn parse_reply(reply: &Value, seq: u64) -> Result<(Result<Value, InvokeError>, bool), String> {
    if reply.get("type").and_then(Value::as_str) != Some("result") || reply.get("id").and_then(Value::as_u64) != Some(seq) {
        return Err("Runtime.InvalidReply: the worker broke the protocol".into());
    }
    let fatal = reply.get("fatal").and_then(Value::as_bool).unwrap_or(false);
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok((Ok(reply.get("result").cloned().unwrap_or(Value::Null)), fatal));
    }
    let message = match reply.get("errorMessage") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let error_type = reply.get("errorType").and_then(Value::as_str).map(str::to_string);
    Ok((Err(InvokeError::Handler { message, error_type }), fatal))
}

// ------------------------------------------------------------------------------------ workers

enum Fail {
    Timeout,
    Exited(String),
    Broken(String),
}

struct Worker {
    pid: u32,
    child: Child,
    rx: OwnedReadHalf,
    rbuf: Vec<u8>,
    tx: OwnedWriteHalf,
    /// The request id console lines are logged with.
    tag: Arc<Mutex<String>>,
    /// The last sync marker seen on stdout and stderr (`u64::MAX` at end of stream).
    seen: [watch::Receiver<u64>; 2],
    seq: u64,
    stamp: Option<SystemTime>,
    host: Arc<Host>,
}

impl Worker {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn set_tag(&self, request_id: &str) {
        *self.tag.lock().unwrap_or_else(|p| p.into_inner()) = request_id.to_string();
    }

    async fn exchange(&mut self, req: &Value, timeout: Duration) -> Result<Value, Fail> {
        let mut line = serde_json::to_vec(req).map_err(|e| Fail::Broken(e.to_string()))?;
        line.push(b'\n');
        let Worker { child, rx, rbuf, tx, .. } = self;
        let talk = async {
            tx.write_all(&line).await.map_err(|e| format!("cannot reach the worker: {e}"))?;
            read_msg(rx, rbuf).await
        };
        tokio::select! {
            biased;
            r = tokio::time::timeout(timeout, talk) => match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(m)) => {
                    // The socket closed: most likely the process exited; say how.
                    match tokio::time::timeout(Duration::from_secs(1), child.wait()).await {
                        Ok(Ok(s)) => Err(Fail::Exited(s.to_string())),
                        _ => Err(Fail::Broken(m)),
                    }
                }
                Err(_) => Err(Fail::Timeout),
            },
            s = child.wait() => Err(match s {
                Ok(s) => Fail::Exited(s.to_string()),
                Err(e) => Fail::Broken(e.to_string()),
            }),
        }
    }

    /// Waits until both output streams have passed the marker for `seq`, so that their lines are
    /// logged under this request's id.
    async fn sync_logs(&mut self, seq: u64) {
        let [a, b] = &mut self.seen;
        let _ = tokio::time::timeout(LOG_SYNC_WAIT, async {
            let _ = a.wait_for(|s| *s >= seq).await;
            let _ = b.wait_for(|s| *s >= seq).await;
        })
        .await;
    }

    async fn kill_and_reap(mut self) {
        kill_group(self.pid);
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        kill_group(self.pid);
        self.host.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.pid);
    }
}

async fn read_msg(rx: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Result<Value, String> {
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            return serde_json::from_slice(&line[..pos]).map_err(|e| format!("Runtime.InvalidReply: unreadable reply from the worker: {e}"));
        }
        if buf.len() > MAX_REPLY {
            return Err(format!("Runtime.InvalidReply: reply larger than {MAX_REPLY} bytes"));
        }
        buf.reserve(64 * 1024);
        match rx.read_buf(buf).await {
            Ok(0) => return Err("the worker closed its channel".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading from the worker: {e}")),
        }
    }
}

/// Logs a worker's stdout or stderr line by line, and reports the sync markers it passes.
async fn pump(mut r: impl AsyncRead + Unpin, is_stderr: bool, name: Arc<str>, tag: Arc<Mutex<String>>, marker: Vec<u8>, seen: watch::Sender<u64>) {
    let log = |line: &[u8]| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let request_id = tag.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if is_stderr {
            tracing::warn!(target: "tobira::function", function = %name, request_id = %request_id, stream = "stderr", "{text}");
        } else {
            tracing::info!(target: "tobira::function", function = %name, request_id = %request_id, stream = "stdout", "{text}");
        }
    };
    let handle = |line: &[u8]| match find(line, &marker) {
        Some(i) => {
            log(&line[..i]);
            let rest = &line[i + marker.len()..];
            if let Some(n) = std::str::from_utf8(rest).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                seen.send_replace(n);
            }
        }
        None => log(line),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            handle(&buf[..pos]);
            buf.drain(..=pos);
        }
        if buf.len() > MAX_LOG_LINE {
            handle(&buf);
            buf.clear();
        }
        buf.reserve(8192);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    handle(&buf);
    seen.send_replace(u64::MAX);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// (year, month, day) of an epoch-milliseconds instant, UTC.
fn civil_date(ms: i64) -> (i64, u32, u32) {
    let (y, m, d) = crate::civil::civil_from_days(ms.div_euclid(86_400_000));
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_split_at_the_last_dot() {
        assert_eq!(split_handler("index.handler").unwrap(), ("index", "handler"));
        assert_eq!(split_handler("src/fns/a.b.main").unwrap(), ("src/fns/a.b", "main"));
        for bad in ["index", ".handler", "index.", "dir/.handler", "index.a-b"] {
            assert!(split_handler(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runtimes() {
        assert_eq!(Runtime::parse("nodejs20.x").unwrap(), Runtime::Node);
        assert_eq!(Runtime::parse("Python3.12").unwrap(), Runtime::Python);
        assert!(Runtime::parse("java21").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(civil_date(1_767_225_599_000), (2025, 12, 31));
    }

    #[test]
    fn files_are_found_from_the_handler_string() {
        let dir = std::env::temp_dir().join(format!("tobira-local-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("a.cjs"), "").unwrap();
        std::fs::write(dir.join("pkg/mod.py"), "").unwrap();
        let spec = |h: &str, rt: Option<&str>| FunctionSpec::Local { handler: h.into(), runtime: rt.map(str::to_string), environment: BTreeMap::new(), timeout: None, concurrency: None };
        let t = Duration::from_secs(5);
        let a = LocalFunction::from_spec("a", &spec("a.main", None), &dir, t).unwrap();
        assert_eq!((a.runtime, a.file.clone(), a.exports.clone(), a.concurrency), (Runtime::Node, dir.join("a.cjs"), vec!["main".to_string()], 2));
        assert!(LocalFunction::from_spec("a", &spec("a.main", Some("python")), &dir, t).is_err());
        let p = LocalFunction::from_spec("p", &spec("pkg.mod.handler", None), &dir, t).unwrap();
        assert_eq!((p.runtime, p.file.clone()), (Runtime::Python, dir.join("pkg/mod.py")));
        let p = LocalFunction::from_spec("p", &spec("pkg/mod.handler", Some("python3.12")), &dir, t).unwrap();
        assert_eq!(p.file, dir.join("pkg/mod.py"));
        assert!(LocalFunction::from_spec("m", &spec("missing.handler", None), &dir, t).is_err());
        assert!(LocalFunction::from_folder("x", &dir, t).is_none());
        std::fs::write(dir.join("pkg/lambda_function.py"), "").unwrap();
        let f = LocalFunction::from_folder("x", &dir.join("pkg"), t).unwrap();
        assert_eq!(f.exports, ["lambda_handler", "handler"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
