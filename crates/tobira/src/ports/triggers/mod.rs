//! Trigger invocation: how a pool's `LambdaConfig` ARN reaches code.
//!
//! An ARN `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` is resolved by NAME, in order:
//!
//! 1. a `[functions.NAME]` table in `tobira.toml` ([`FunctionSpec`]): a local handler, an HTTP
//!    endpoint, or `lambda = true` for the Lambda Invoke API;
//! 2. a folder `NAME/` in the functions directory holding `index.mjs`, `index.js`, `index.cjs`,
//!    `index.py` or `lambda_function.py` (the first found);
//! 3. the Lambda Invoke API at `--lambda-endpoint`, when one is set;
//! 4. otherwise [`InvokeError::NotFound`].
//!
//! Local handlers run in warm worker processes ([`local`]); HTTP endpoints and the Lambda API are
//! reached over HTTP(S) ([`remote`]). Every attempt is recorded in a bounded ring served as
//! [`Triggers::invocations`].
//!
//! Retries follow Cognito: a transport failure of an HTTP endpoint or of the Lambda API (connection
//! refused or reset, HTTP 408/429/5xx) is retried after 5 s, 3 attempts in all. Handler errors are
//! never retried, and neither is a timeout: a timed-out local handler is killed and reported as
//! [`InvokeError::Failed`] at once (retrying would hold the caller for 25 s), and so is a timed-out
//! HTTP request.

mod fake;
mod local;
mod remote;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

pub use fake::{FakeCall, FakeTriggers};
pub use remote::webhook_signature;

/// The parts of a Lambda function ARN that tobira uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The ARN as given.
    pub arn: String,
    pub name: String,
    /// `$LATEST`, a version number or an alias, when the ARN carries one.
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// The region named in the ARN.
    pub fn region(&self) -> Option<&str> {
        self.arn.split(':').nth(3).filter(|r| !r.is_empty())
    }
}

/// Parses `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`. The name must be a valid
/// Lambda function name (1–64 of `A-Za-z0-9-_`), which also makes it safe as a folder name.
pub fn parse_arn(arn: &str) -> Option<FunctionRef> {
    let parts: Vec<&str> = arn.split(':').collect();
    if !(parts.len() == 7 || parts.len() == 8) {
        return None;
    }
    if parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2] != "lambda" || parts[5] != "function" {
        return None;
    }
    let region = parts[3];
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return None;
    }
    if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = parts[6];
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    let qualifier = match parts.get(7) {
        None => None,
        Some(q) => {
            let ok = *q == "$LATEST"
                || (!q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            if !ok {
                return None;
            }
            Some(q.to_string())
        }
    };
    Some(FunctionRef { arn: arn.to_string(), name: name.to_string(), qualifier })
}

#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// The handler threw / returned an error (callback(err) / raised): Cognito's UserLambdaValidationException "<Trigger> failed with error <message>."
    Handler { message: String, error_type: Option<String> },
    /// Timed out, crashed, exited, or could not be started/reached: UnexpectedLambdaException.
    Failed(String),
    /// The function could not be found anywhere.
    NotFound(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Handler { message, error_type: Some(t) } => write!(f, "{t}: {message}"),
            InvokeError::Handler { message, error_type: None } => f.write_str(message),
            InvokeError::Failed(m) | InvokeError::NotFound(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for InvokeError {}

/// One invocation attempt, as served at `GET /_tobira/invocations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    /// The function name (from the ARN).
    pub function: String,
    /// The trigger source, e.g. `PreSignUp_SignUp`.
    pub source: String,
    pub pool_id: String,
    /// The `awsRequestId` the handler saw (one per attempt).
    pub request_id: String,
    /// Epoch milliseconds (wall clock).
    pub started_ms: i64,
    pub duration_ms: u64,
    /// `ok`, `handler_error`, `failed` or `not_found`.
    pub outcome: String,
    pub error: Option<String>,
}

#[async_trait::async_trait]
pub trait Triggers: Send + Sync + 'static {
    /// Synchronous (RequestResponse) invocation; returns the handler's result (the event it returned, or whatever value).
    async fn invoke(&self, arn: &str, event: Value, source: &str, pool_id: &str) -> Result<Value, InvokeError>;
    /// Asynchronous (Event) invocation: fire and forget (still recorded).
    async fn invoke_async(&self, arn: &str, event: Value, source: &str, pool_id: &str);
    /// Recent invocations, oldest first (bounded ring, e.g. 10,000), for GET /_tobira/invocations.
    fn invocations(&self, pool_id: Option<&str>) -> Vec<Invocation>;
}

// ------------------------------------------------------------------------------------ configuration

/// How functions are found. Built by [`FunctionsConfig::from_toml`] from `tobira.toml`'s
/// `[functions.NAME]` tables and the `--functions-dir` / `--lambda-endpoint` flags.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionsConfig {
    pub functions_dir: PathBuf,
    pub functions: BTreeMap<String, FunctionSpec>,
    pub lambda_endpoint: Option<String>,
    /// For functions without their own `timeout`: 5 s, Cognito's own limit.
    pub default_timeout: Duration,
    pub region: String,
    pub account_id: String,
}

impl Default for FunctionsConfig {
    fn default() -> Self {
        FunctionsConfig {
            functions_dir: PathBuf::from("functions"),
            functions: BTreeMap::new(),
            lambda_endpoint: None,
            default_timeout: DEFAULT_TIMEOUT,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Local workers per function unless `concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 2;
const MAX_CONCURRENCY: usize = 64;
const MAX_TIMEOUT_SECS: f64 = 900.0;
const RING_CAPACITY: usize = 10_000;

/// One `[functions.NAME]` table.
#[derive(Clone, PartialEq)]
pub enum FunctionSpec {
    /// `handler = "path/to/index.handler"` (relative paths are taken from the working directory),
    /// `runtime = "nodejs" | "python"` (default: from the file found), `environment = { … }`,
    /// `timeout` (seconds), `concurrency` (warm workers, default 2).
    Local { handler: String, runtime: Option<String>, environment: BTreeMap<String, String>, timeout: Option<Duration>, concurrency: Option<usize> },
    /// `url = "http(s)://…"`, `secret` (Standard Webhooks, `whsec_<base64>` or raw), `timeout`.
    Http { url: String, secret: Option<String>, timeout: Option<Duration> },
    /// `lambda = true`: the Lambda Invoke API at `--lambda-endpoint`, or AWS's regional endpoint.
    Lambda { timeout: Option<Duration> },
}

impl std::fmt::Debug for FunctionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FunctionSpec::Local { handler, runtime, environment, timeout, concurrency } => f
                .debug_struct("Local")
                .field("handler", handler)
                .field("runtime", runtime)
                .field("environment", &environment.keys().collect::<Vec<_>>())
                .field("timeout", timeout)
                .field("concurrency", concurrency)
                .finish(),
            FunctionSpec::Http { url, secret, timeout } => f
                .debug_struct("Http")
                .field("url", url)
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .field("timeout", timeout)
                .finish(),
            FunctionSpec::Lambda { timeout } => f.debug_struct("Lambda").field("timeout", timeout).finish(),
        }
    }
}

impl FunctionsConfig {
    /// Reads the `[functions]` table of `tobira.toml`: one sub-table per function name.
    pub fn from_toml(table: Option<&toml::Table>, functions_dir: PathBuf, lambda_endpoint: Option<String>, region: &str, account_id: &str) -> Result<Self, String> {
        let mut functions = BTreeMap::new();
        for (name, value) in table.into_iter().flatten() {
            if parse_arn(&format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")).is_none() {
                return Err(format!("functions.{name}: not a valid Lambda function name (1-64 of A-Z a-z 0-9 - _)"));
            }
            let t = value.as_table().ok_or_else(|| format!("functions.{name}: expected a table ([functions.{name}])"))?;
            functions.insert(name.clone(), spec_from_table(name, t)?);
        }
        let lambda_endpoint = match lambda_endpoint.map(|e| e.trim().trim_end_matches('/').to_string()).filter(|e| !e.is_empty()) {
            Some(e) => {
                remote::check_url(&e).map_err(|m| format!("lambda endpoint {e:?}: {m}"))?;
                Some(e)
            }
            None => None,
        };
        Ok(FunctionsConfig { functions_dir, functions, lambda_endpoint, default_timeout: DEFAULT_TIMEOUT, region: region.to_string(), account_id: account_id.to_string() })
    }
}

fn spec_from_table(name: &str, t: &toml::Table) -> Result<FunctionSpec, String> {
    let err = |m: String| format!("functions.{name}: {m}");
    let allowed: &[&str] = if t.contains_key("handler") {
        &["handler", "runtime", "environment", "timeout", "concurrency"]
    } else if t.contains_key("url") {
        &["url", "secret", "timeout"]
    } else if t.contains_key("lambda") {
        &["lambda", "timeout"]
    } else {
        return Err(err("needs one of `handler = \"path/to/index.handler\"`, `url = \"http://…\"` or `lambda = true`".into()));
    };
    if let Some(k) = t.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(format!("unknown or conflicting setting `{k}` (allowed here: {})", allowed.join(", "))));
    }
    let string = |k: &str| -> Result<Option<String>, String> {
        match t.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err(format!("`{k}` must be a string"))),
        }
    };
    let timeout = match t.get("timeout") {
        None => None,
        Some(v) => {
            let secs = match v {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                _ => return Err(err("`timeout` must be a number of seconds".into())),
            };
            if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
                return Err(err(format!("`timeout` must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds")));
            }
            Some(Duration::from_secs_f64(secs))
        }
    };
    if t.contains_key("handler") {
        let handler = string("handler")?.unwrap_or_default();
        let runtime = string("runtime")?;
        if let Some(r) = &runtime {
            local::Runtime::parse(r).map_err(err)?;
        }
        local::split_handler(&handler).map_err(err)?;
        let mut environment = BTreeMap::new();
        match t.get("environment") {
            None => {}
            Some(toml::Value::Table(env)) => {
                for (k, v) in env {
                    if k.is_empty() || k.contains('=') || k.contains('\0') {
                        return Err(err(format!("environment variable name {k:?} is not valid")));
                    }
                    let v = match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => return Err(err(format!("environment.{k} must be a string, number or boolean"))),
                    };
                    if v.contains('\0') {
                        return Err(err(format!("environment.{k} contains a NUL byte")));
                    }
                    environment.insert(k.clone(), v);
                }
            }
            Some(_) => return Err(err("`environment` must be a table of strings".into())),
        }
        let concurrency = match t.get("concurrency") {
            None => None,
            Some(toml::Value::Integer(i)) if *i >= 1 && *i <= MAX_CONCURRENCY as i64 => Some(*i as usize),
            Some(_) => return Err(err(format!("`concurrency` must be a whole number from 1 to {MAX_CONCURRENCY}"))),
        };
        let spec = FunctionSpec::Local { handler, runtime, environment, timeout, concurrency };
        if let Err(m) = local::LocalFunction::from_spec(name, &spec, Path::new("."), DEFAULT_TIMEOUT) {
            tracing::warn!(function = name, "{m}");
        }
        Ok(spec)
    } else if t.contains_key("url") {
        let url = string("url")?.unwrap_or_default();
        remote::check_url(&url).map_err(err)?;
        let secret = string("secret")?;
        if let Some(s) = &secret {
            remote::webhook_key(s).map_err(err)?;
        }
        Ok(FunctionSpec::Http { url, secret, timeout })
    } else {
        match t.get("lambda") {
            Some(toml::Value::Boolean(true)) => Ok(FunctionSpec::Lambda { timeout }),
            _ => Err(err("`lambda` must be `true` (remove the table to not use the Lambda API)".into())),
        }
    }
}

// ------------------------------------------------------------------------------------ the standard port

/// Resolves ARNs to local workers, HTTP endpoints or the Lambda API, and records every attempt.
pub struct StandardTriggers {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    cfg: FunctionsConfig,
    /// The working directory at construction, for relative handler paths and the functions dir.
    base_dir: PathBuf,
    pools: Mutex<HashMap<String, Arc<local::Pool>>>,
    host: Arc<local::Host>,
    ring: Ring,
    retry_delay: Mutex<Duration>,
    closed: AtomicBool,
}

/// What an ARN resolved to.
enum Target {
    Local(Arc<local::Pool>),
    Http { url: String, key: Option<Vec<u8>>, timeout: Duration },
    Lambda { endpoint: String, timeout: Duration },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Sync,
    Async,
}

impl StandardTriggers {
    pub fn new(cfg: FunctionsConfig) -> Self {
        let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let host = Arc::new(local::Host::new(cfg.region.clone()));
        StandardTriggers {
            inner: Arc::new(Inner {
                cfg,
                base_dir,
                pools: Mutex::new(HashMap::new()),
                host,
                ring: Ring::new(RING_CAPACITY),
                retry_delay: Mutex::new(Duration::from_secs(5)),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The wait between attempts on a transport failure (Cognito: 5 s). For tests.
    pub fn with_retry_delay(self, delay: Duration) -> Self {
        *self.inner.retry_delay.lock().unwrap_or_else(|p| p.into_inner()) = delay;
        self
    }

    /// Kills every worker process (and anything they started) and waits for them to exit. Later
    /// invocations fail.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let pools: Vec<Arc<local::Pool>> = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, p)| p).collect();
        for p in &pools {
            p.close().await;
        }
        self.inner.host.kill_all();
    }

    /// Tells local workers where this tobira listens: unless the function (or tobira's own
    /// environment) says otherwise, they get `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` set to it
    /// and these credentials, so a handler's Cognito calls (AdminUpdateUserAttributes after
    /// sign-up, say) reach tobira with the code deployed to Lambda unchanged.
    pub fn set_local_endpoint(&self, url: &str, access_key: (&str, &str)) {
        *self.inner.host.defaults.lock().unwrap_or_else(|p| p.into_inner()) = vec![
            ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER".into(), url.to_string()),
            ("AWS_ACCESS_KEY_ID".into(), access_key.0.to_string()),
            ("AWS_SECRET_ACCESS_KEY".into(), access_key.1.to_string()),
        ];
    }

    /// Process ids of the live worker processes (for tests and diagnostics).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner.host.live_pids()
    }
}

impl Drop for StandardTriggers {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let pools: Vec<Arc<local::Pool>> = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, p)| p).collect();
        for p in &pools {
            p.close_now();
        }
        self.inner.host.kill_all();
    }
}

#[async_trait::async_trait]
impl Triggers for StandardTriggers {
    async fn invoke(&self, arn: &str, event: Value, source: &str, pool_id: &str) -> Result<Value, InvokeError> {
        self.inner.call(arn, event, source, pool_id, Mode::Sync).await
    }

    async fn invoke_async(&self, arn: &str, event: Value, source: &str, pool_id: &str) {
        let inner = self.inner.clone();
        let (arn, source, pool_id) = (arn.to_string(), source.to_string(), pool_id.to_string());
        tokio::spawn(async move {
            if let Err(e) = inner.call(&arn, event, &source, &pool_id, Mode::Async).await {
                tracing::warn!(function = %arn, source = %source, error = %e, "asynchronous trigger failed");
            }
        });
    }

    fn invocations(&self, pool_id: Option<&str>) -> Vec<Invocation> {
        self.inner.ring.list(pool_id)
    }
}

impl Inner {
    async fn call(&self, arn: &str, event: Value, source: &str, pool_id: &str, mode: Mode) -> Result<Value, InvokeError> {
        let started = Instant::now();
        let started_ms = now_ms();
        let record = |request_id: &str, started: Instant, started_ms: i64, r: &Result<Value, InvokeError>, name: &str| {
            let (outcome, error) = match r {
                Ok(_) => ("ok", None),
                Err(e @ InvokeError::Handler { .. }) => ("handler_error", Some(e.to_string())),
                Err(InvokeError::Failed(m)) => ("failed", Some(m.clone())),
                Err(InvokeError::NotFound(m)) => ("not_found", Some(m.clone())),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            tracing::info!(function = name, source, pool = pool_id, request_id, duration_ms, outcome, error = error.as_deref().unwrap_or(""), "trigger invoked");
            self.ring.push(Invocation {
                function: name.to_string(),
                source: source.to_string(),
                pool_id: pool_id.to_string(),
                request_id: request_id.to_string(),
                started_ms,
                duration_ms,
                outcome: outcome.to_string(),
                error,
            });
        };
        let Some(f) = parse_arn(arn) else {
            let r = Err(InvokeError::NotFound(format!("{arn} is not a Lambda function ARN")));
            record(&new_request_id(), started, started_ms, &r, arn);
            return r;
        };
        if self.closed.load(Ordering::SeqCst) {
            let r = Err(InvokeError::Failed("tobira is shutting down".into()));
            record(&new_request_id(), started, started_ms, &r, &f.name);
            return r;
        }
        let target = match self.resolve(&f) {
            Ok(t) => t,
            Err(e) => {
                let r = Err(e);
                record(&new_request_id(), started, started_ms, &r, &f.name);
                return r;
            }
        };
        match target {
            Target::Local(pool) => {
                let request_id = new_request_id();
                let r = pool.invoke(&f, &request_id, event).await;
                record(&request_id, started, started_ms, &r, &f.name);
                r
            }
            remote_target => {
                let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
                let body = bytes::Bytes::from(serde_json::to_vec(&event).map_err(|e| InvokeError::Failed(e.to_string()))?);
                let retry_delay = *self.retry_delay.lock().unwrap_or_else(|p| p.into_inner());
                let mut attempt = 1;
                loop {
                    let started = Instant::now();
                    let started_ms = now_ms();
                    let request_id = new_request_id();
                    let r = match &remote_target {
                        Target::Http { url, key, timeout } => remote::call_webhook(url, key.as_deref(), &id, body.clone(), *timeout).await,
                        Target::Lambda { endpoint, timeout } => {
                            let region = f.region().unwrap_or(&self.cfg.region).to_string();
                            remote::call_lambda(endpoint, &region, &f, body.clone(), mode, *timeout).await
                        }
                        Target::Local(_) => unreachable!(),
                    };
                    let (r, retryable) = match r {
                        Ok(v) => (Ok(v), false),
                        Err(remote::RemoteError::Retryable(m)) => (Err(InvokeError::Failed(m)), true),
                        Err(remote::RemoteError::Final(e)) => (Err(e), false),
                    };
                    record(&request_id, started, started_ms, &r, &f.name);
                    if !retryable || attempt >= 3 || self.closed.load(Ordering::SeqCst) {
                        return r;
                    }
                    attempt += 1;
                    tokio::time::sleep(retry_delay).await;
                }
            }
        }
    }

    fn resolve(&self, f: &FunctionRef) -> Result<Target, InvokeError> {
        if let Some(spec) = self.cfg.functions.get(&f.name) {
            return match spec {
                FunctionSpec::Local { .. } => {
                    let lf = local::LocalFunction::from_spec(&f.name, spec, &self.base_dir, self.cfg.default_timeout).map_err(InvokeError::Failed)?;
                    Ok(Target::Local(self.pool_for(lf)))
                }
                FunctionSpec::Http { url, secret, timeout } => {
                    let key = match secret {
                        Some(s) => Some(remote::webhook_key(s).map_err(InvokeError::Failed)?),
                        None => None,
                    };
                    Ok(Target::Http { url: url.clone(), key, timeout: timeout.unwrap_or(self.cfg.default_timeout) })
                }
                FunctionSpec::Lambda { timeout } => {
                    let endpoint = self.cfg.lambda_endpoint.clone().unwrap_or_else(|| {
                        let region = f.region().unwrap_or(&self.cfg.region);
                        format!("https://lambda.{region}.amazonaws.com")
                    });
                    Ok(Target::Lambda { endpoint, timeout: timeout.unwrap_or(self.cfg.default_timeout) })
                }
            };
        }
        let dir = self.base_dir.join(&self.cfg.functions_dir).join(&f.name);
        if let Some(lf) = local::LocalFunction::from_folder(&f.name, &dir, self.cfg.default_timeout) {
            return Ok(Target::Local(self.pool_for(lf)));
        }
        if let Some(endpoint) = &self.cfg.lambda_endpoint {
            return Ok(Target::Lambda { endpoint: endpoint.clone(), timeout: self.cfg.default_timeout });
        }
        Err(InvokeError::NotFound(format!(
            "function {} not found: no [functions.{}] in tobira.toml, no folder {} with an index.mjs, index.js, index.cjs, index.py or lambda_function.py, and no --lambda-endpoint",
            f.name,
            f.name,
            dir.display()
        )))
    }

    /// The pool for a function, replacing one whose resolved handler changed (its workers are killed).
    fn pool_for(&self, lf: local::LocalFunction) -> Arc<local::Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pools.get(&lf.name) {
            if p.function() == &lf {
                return p.clone();
            }
            p.close_now();
        }
        let p = Arc::new(local::Pool::new(lf.clone(), self.host.clone(), self.cfg.account_id.clone()));
        pools.insert(lf.name.clone(), p.clone());
        p
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A bounded record of invocations, oldest first.
pub(crate) struct Ring {
    inner: Mutex<VecDeque<Invocation>>,
    capacity: usize,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Ring { inner: Mutex::new(VecDeque::new()), capacity }
    }
    pub(crate) fn push(&self, inv: Invocation) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= self.capacity {
            g.pop_front();
        }
        g.push_back(inv);
    }
    pub(crate) fn list(&self, pool_id: Option<&str>) -> Vec<Invocation> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.iter().filter(|i| pool_id.is_none_or(|p| i.pool_id == p)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let f = parse_arn("arn:aws:lambda:us-east-1:123456789012:function:pre-signup").unwrap();
        assert_eq!((f.name.as_str(), f.qualifier.as_deref(), f.region()), ("pre-signup", None, Some("us-east-1")));
        let f = parse_arn("arn:aws:lambda:eu-west-1:123456789012:function:my_fn:$LATEST").unwrap();
        assert_eq!(f.qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(parse_arn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:prod").unwrap().qualifier.as_deref(), Some("prod"));
        for bad in [
            "",
            "pre-signup",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:../etc",
            "arn:aws:lambda:us-east-1:123456789012:function:a/b",
            "arn:aws:s3:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:12345:function:f",
            "arn:aws:lambda:us-east-1:123456789012:layer:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:bad/q",
            "arn:aws:lambda:us-east-1:123456789012:function:f:q:extra",
        ] {
            assert!(parse_arn(bad).is_none(), "{bad}");
        }
        assert!(parse_arn(&format!("arn:aws:lambda:us-east-1:123456789012:function:{}", "a".repeat(65))).is_none());
    }

    fn cfg(text: &str) -> Result<FunctionsConfig, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        FunctionsConfig::from_toml(t.get("functions").and_then(|v| v.as_table()), "fns".into(), None, "us-east-1", "123456789012")
    }

    #[test]
    fn function_tables() {
        let c = cfg(r#"
            [functions.a]
            handler = "src/a/index.handler"
            runtime = "nodejs20.x"
            environment = { GREETING = "hi", N = 3, ON = true }
            timeout = 1.5
            concurrency = 4
            [functions.b]
            url = "http://127.0.0.1:3000/hook"
            secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            [functions.c]
            lambda = true
            timeout = 3
        "#)
        .unwrap();
        assert_eq!(c.functions_dir, PathBuf::from("fns"));
        assert_eq!(c.default_timeout, DEFAULT_TIMEOUT);
        match &c.functions["a"] {
            FunctionSpec::Local { handler, runtime, environment, timeout, concurrency } => {
                assert_eq!(handler, "src/a/index.handler");
                assert_eq!(runtime.as_deref(), Some("nodejs20.x"));
                assert_eq!(environment.get("N").map(String::as_str), Some("3"));
                assert_eq!(environment.get("ON").map(String::as_str), Some("true"));
                assert_eq!(*timeout, Some(Duration::from_millis(1500)));
                assert_eq!(*concurrency, Some(4));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&c.functions["b"], FunctionSpec::Http { secret: Some(_), .. }));
        assert!(!format!("{:?}", c.functions["b"]).contains("whsec_"), "secrets stay out of Debug");
        assert_eq!(c.functions["c"], FunctionSpec::Lambda { timeout: Some(Duration::from_secs(3)) });
        assert!(cfg("").unwrap().functions.is_empty());
    }

    #[test]
    fn bad_function_tables_are_refused() {
        for (bad, why) in [
            ("[functions.a]\n", "needs one of"),
            ("[functions.a]\nhandler = \"index\"\n", "handler"),
            ("[functions.a]\nhandler = \"index.handler\"\nruntime = \"ruby\"\n", "runtime"),
            ("[functions.a]\nhandler = \"index.handler\"\nurl = \"http://x\"\n", "conflicting"),
            ("[functions.a]\nhandler = \"index.handler\"\ntimeout = 0\n", "timeout"),
            ("[functions.a]\nhandler = \"index.handler\"\nconcurrency = 0\n", "concurrency"),
            ("[functions.a]\nhandler = \"index.handler\"\nenvironment = { A = [1] }\n", "environment"),
            ("[functions.a]\nhandler = \"index.handler\"\nsurprise = 1\n", "surprise"),
            ("[functions.a]\nurl = \"ftp://x\"\n", "http"),
            ("[functions.a]\nurl = \"http://x\"\nsecret = \"whsec_!!\"\n", "base64"),
            ("[functions.a]\nlambda = false\n", "lambda"),
            ("[functions]\na = 1\n", "table"),
            ("[functions.\"a/b\"]\nlambda = true\n", "name"),
        ] {
            let e = cfg(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let t: toml::Table = toml::Table::new();
        assert!(FunctionsConfig::from_toml(Some(&t), "f".into(), Some("nope".into()), "us-east-1", "123456789012").is_err());
        let ok = FunctionsConfig::from_toml(None, "f".into(), Some("http://127.0.0.1:4566/".into()), "us-east-1", "123456789012").unwrap();
        assert_eq!(ok.lambda_endpoint.as_deref(), Some("http://127.0.0.1:4566"));
    }

    #[test]
    fn the_ring_is_bounded_and_filters_by_pool() {
        let ring = Ring::new(2);
        for (i, pool) in ["p1", "p2", "p1"].iter().enumerate() {
            ring.push(Invocation {
                function: format!("f{i}"),
                source: "PreSignUp_SignUp".into(),
                pool_id: pool.to_string(),
                request_id: String::new(),
                started_ms: 0,
                duration_ms: 0,
                outcome: "ok".into(),
                error: None,
            });
        }
        assert_eq!(ring.list(None).iter().map(|i| i.function.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);
        assert_eq!(ring.list(Some("p1")).len(), 1);
        let json = serde_json::to_value(&ring.list(None)[0]).unwrap();
        assert!(json.get("poolId").is_some() && json.get("durationMs").is_some() && json.get("requestId").is_some());
    }
}
