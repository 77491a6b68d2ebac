//! The server over real HTTP on loopback: the wire contract for bad input, SigV4 with and without
//! access keys, CORS, concurrency through the API on both backends, two processes sharing one
//! PostgreSQL database, graceful shutdown, and the refusal to listen beyond loopback without keys.
//!
//! In-process servers are built with `App::build(Config::for_tests(..))` and the router is served
//! on a listener bound here (`App::serve` binds by itself and does not hand back the address);
//! process tests spawn the real binary and read the address from its first stdout line.
//!
//! PostgreSQL comes from `TOBIRA_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! when it is unreachable the PostgreSQL tests are skipped, saying so, unless `TOBIRA_REQUIRE_PG=1`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{rand_bytes, TempDir};

const AMZ_JSON: &str = "application/x-amz-json-1.1";
const PREFIX: &str = "AWSCognitoIdentityProviderService";
/// Any credentials do when tobira has no access keys configured.
const ANY_KEY: (&str, &str) = ("AKIDTOBIRATEST", "tobira-test-secret");
const PASSWORD: &str = "Passw0rd!";
const MAX_BODY: usize = 1024 * 1024;
/// No single request may take longer than this: a hang is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- a small HTTP/1.1 client

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {self}"))
    }
    fn error_type(&self) -> String {
        self.json()["__type"].as_str().unwrap_or_default().to_string()
    }
    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
    /// 200, or panic showing the response.
    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {self}");
        self.json()
    }
}

impl std::fmt::Display for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

/// One request on a fresh connection (`Connection: close`). The body is written while the
/// response is read, so a server that answers before reading everything is seen answering.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: Vec<u8>) -> Resp {
    let what = format!("{method} {path}");
    tokio::time::timeout(REQUEST_TIMEOUT, http_inner(addr, method, path, headers, body))
        .await
        .unwrap_or_else(|_| panic!("{what}: no response within {REQUEST_TIMEOUT:?}"))
}

async fn http_inner(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: Vec<u8>) -> Resp {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let writer = tokio::spawn(async move {
        // Errors here (the server closing early) show up as a missing response instead.
        if wr.write_all(head.as_bytes()).await.is_ok() {
            let _ = wr.write_all(&body).await;
            let _ = wr.flush().await;
        }
        wr
    });
    let mut buf = Vec::new();
    loop {
        if let Some(resp) = parse_response(&buf) {
            writer.abort();
            return resp;
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                if let Some(resp) = parse_response(&buf) {
                    return resp;
                }
                panic!("{method} {path}: reading the response failed after {} bytes: {e}", buf.len());
            }
        }
    }
    writer.abort();
    parse_response(&buf).or_else(|| parse_to_eof(&buf)).unwrap_or_else(|| {
        panic!("{method} {path}: incomplete response: {:?}", String::from_utf8_lossy(&buf))
    })
}

fn split_head(buf: &[u8]) -> Option<(u16, Vec<(String, String)>, &[u8])> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, &buf[end + 4..]))
}

/// A complete response by Content-Length or chunked framing.
fn parse_response(buf: &[u8]) -> Option<Resp> {
    let (status, headers, rest) = split_head(buf)?;
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if let Some(len) = get("content-length") {
        let len: usize = len.parse().expect("content-length");
        return (rest.len() >= len).then(|| Resp { status, headers: headers.clone(), body: rest[..len].to_vec() });
    }
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let eol = at.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&at[..eol]).ok()?.split(';').next()?.trim(), 16).ok()?;
            at = &at[eol + 2..];
            if size == 0 {
                return Some(Resp { status, headers, body });
            }
            if at.len() < size + 2 {
                return None;
            }
            body.extend_from_slice(&at[..size]);
            at = &at[size + 2..];
        }
    }
    None
}

/// A response framed by the connection closing.
fn parse_to_eof(buf: &[u8]) -> Option<Resp> {
    let (status, headers, rest) = split_head(buf)?;
    Some(Resp { status, headers, body: rest.to_vec() })
}

// ---------------------------------------------------------------- AWS JSON calls

fn target(op: &str) -> String {
    format!("{PREFIX}.{op}")
}

/// SigV4-signed headers for `POST /` with this target and body, as the AWS SDKs sign.
fn signed_headers(addr: SocketAddr, target: &str, body: &[u8], key: (&str, &str)) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;

    let host = addr.to_string();
    let url = format!("http://{host}/");
    let headers = [("host", host.as_str()), ("content-type", AMZ_JSON), ("x-amz-target", target)];
    let identity = Credentials::new(key.0, key.1, None, None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("cognito-idp")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new("POST", &url, headers.iter().copied(), SignableBody::Bytes(body)).expect("signable");
    let (instructions, _signature) = sign(signable, &params).expect("sign").into_parts();
    let mut builder = http::Request::builder().method("POST").uri(&url);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let mut req = builder.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);
    req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().expect("ascii header").to_string())).collect()
}

fn unsigned_headers(target: &str) -> Vec<(String, String)> {
    vec![("content-type".into(), AMZ_JSON.into()), ("x-amz-target".into(), target.into())]
}

/// `POST /` with raw bytes, signed with `key` if given.
async fn raw(addr: SocketAddr, target: &str, body: Vec<u8>, key: Option<(&str, &str)>) -> Resp {
    let headers = match key {
        Some(k) => signed_headers(addr, target, &body, k),
        None => unsigned_headers(target),
    };
    http(addr, "POST", "/", &headers, body).await
}

/// A signed cognito-idp call (any credentials: for servers without access keys).
async fn call(addr: SocketAddr, op: &str, body: Value) -> Resp {
    raw(addr, &target(op), body.to_string().into_bytes(), Some(ANY_KEY)).await
}

/// An unsigned cognito-idp call (the operations AWS serves without a signature).
async fn call_unsigned(addr: SocketAddr, op: &str, body: Value) -> Resp {
    raw(addr, &target(op), body.to_string().into_bytes(), None).await
}

/// A pool and a public client allowing USER_PASSWORD_AUTH: (pool id, client id).
async fn pool_and_client(addr: SocketAddr) -> (String, String) {
    let pool = call(addr, "CreateUserPool", json!({ "PoolName": "servertest" })).await.ok();
    let pool_id = pool["UserPool"]["Id"].as_str().expect("pool id").to_string();
    let client = call(
        addr,
        "CreateUserPoolClient",
        json!({
            "UserPoolId": pool_id,
            "ClientName": "app",
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        }),
    )
    .await
    .ok();
    let client_id = client["UserPoolClient"]["ClientId"].as_str().expect("client id").to_string();
    (pool_id, client_id)
}

// ---------------------------------------------------------------- servers

/// An in-process server on 127.0.0.1:<free port>; stops when dropped.
struct InProcess {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn in_process(database_url: Option<String>, access_keys: &[(&str, &str)]) -> InProcess {
    let dir = TempDir::new("server");
    let mut config = tobira::config::Config::for_tests(dir.path().to_path_buf(), database_url);
    config.access_keys = access_keys.iter().map(|(a, s)| (a.to_string(), s.to_string())).collect();
    let app = tobira::app::App::build(config).await.expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let service = tobira::protocol::router(app.state).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, service).await.expect("serve");
    });
    InProcess { addr, task, _dir: dir }
}

/// The real binary, started as CONTRACT.md says; killed when dropped if still running.
struct Proc {
    child: Child,
    addr: Option<SocketAddr>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl Proc {
    /// Starts `tobira serve --data-dir <fresh dir> --test-clock <args>` with no `TOBIRA_*`
    /// environment but `env`, in the data dir (so no stray `tobira.toml` is read).
    fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let dir = TempDir::new("proc");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tobira"));
        cmd.arg("serve").arg("--data-dir").arg(dir.path()).arg("--test-clock").args(args);
        for (k, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
            if k.starts_with("TOBIRA_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        cmd.current_dir(dir.path()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tobira");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out_pipe = child.stdout.take().expect("stdout");
        let err_pipe = child.stderr.take().expect("stderr");
        let out = stdout.clone();
        let r1 = std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                out.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let err = stderr.clone();
        let r2 = std::thread::spawn(move || {
            let mut pipe = err_pipe;
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => err.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n])),
                }
            }
        });
        let mut p = Proc { child, addr: None, stdout, stderr, readers: vec![r1, r2], _dir: dir };
        p.addr = p.wait_listening(rx);
        p
    }

    /// Waits (bounded) for the `listening on http://…` line; `None` if the process exits first.
    fn wait_listening(&mut self, rx: mpsc::Receiver<String>) -> Option<SocketAddr> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        return Some(addr.parse().unwrap_or_else(|e| panic!("bad address in {line:?}: {e}")));
                    }
                }
                // stdout closed: the process is exiting.
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("tobira did not print its listening line within 60 s; stderr:\n{}", self.stderr())
                }
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        self.addr.unwrap_or_else(|| panic!("tobira did not start; stderr:\n{}", self.stderr()))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Polls for the exit (bounded), then collects the output.
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let status = common::poll_until("tobira to exit", timeout, || self.child.try_wait().expect("try_wait"));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    fn sigterm(&self) {
        let ok = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("run kill");
        assert!(ok.success(), "kill -TERM failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn master_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand_bytes(32))
}

// ---------------------------------------------------------------- bad input

/// One request per class of bad input: the exact `__type`, a 4xx status, a request id, no hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_error() {
    let server = in_process(None, &[]).await;
    let addr = server.addr;
    let key = Some(ANY_KEY);

    let check = |name: &str, r: &Resp, status: Option<u16>, ty: &str| {
        assert!((400..500).contains(&r.status), "{name}: want 4xx, got {r}");
        if let Some(s) = status {
            assert_eq!(r.status, s, "{name}: {r}");
        }
        assert_eq!(r.error_type(), ty, "{name}: {r}");
        assert!(r.header("x-amzn-requestid").is_some_and(|v| !v.is_empty()), "{name}: no x-amzn-RequestId");
        assert!(r.header("content-type").is_some_and(|v| v.starts_with(AMZ_JSON)), "{name}: content type {:?}", r.header("content-type"));
    };

    let r = raw(addr, &target("DescribeUserPool"), br#"{"UserPoolId": "#.to_vec(), key).await;
    check("malformed JSON", &r, Some(400), "SerializationException");
    let r = raw(addr, &target("SignUp"), b"{\"ClientId\": \"abc\" \"Username\": 1}".to_vec(), None).await;
    check("malformed JSON, unsigned operation", &r, Some(400), "SerializationException");
    let r = raw(addr, &target("DescribeUserPool"), b"{\"UserPoolId\": \"\xff\xfe\"}".to_vec(), key).await;
    check("invalid UTF-8", &r, Some(400), "SerializationException");
    let r = raw(addr, &target("DescribeUserPool"), "[".repeat(100_000).into_bytes(), key).await;
    check("deeply nested JSON", &r, Some(400), "SerializationException");

    let r = raw(addr, &target("DescribeUserPool"), br#"[{"UserPoolId": "us-east-1_abc"}]"#.to_vec(), key).await;
    check("JSON array body", &r, Some(400), "SerializationException");
    let r = raw(addr, &target("DescribeUserPool"), b"\"us-east-1_abc\"".to_vec(), key).await;
    check("JSON string body", &r, Some(400), "SerializationException");

    let r = call(addr, "FrobnicateWidgets", json!({})).await;
    check("unknown operation", &r, Some(400), "UnknownOperationException");
    assert!(r.message().contains("FrobnicateWidgets"), "message should name the operation: {r}");
    let r = raw(addr, "DynamoDB_20120810.ListTables", b"{}".to_vec(), key).await;
    check("unknown service", &r, Some(400), "UnknownOperationException");

    let r = http(addr, "POST", "/", &[("content-type".into(), AMZ_JSON.into())], b"{}".to_vec()).await;
    check("missing X-Amz-Target", &r, Some(400), "UnknownOperationException");

    let r = call(addr, "DescribeUserPool", json!({})).await;
    check("missing required field", &r, Some(400), "InvalidParameterException");
    assert_eq!(
        r.message(),
        "1 validation error detected: Value null at 'userPoolId' failed to satisfy constraint: Member must not be null"
    );
    let r = call(addr, "DescribeUserPool", json!({ "UserPoolId": null })).await;
    check("required field null", &r, Some(400), "InvalidParameterException");
    assert_eq!(
        r.message(),
        "1 validation error detected: Value null at 'userPoolId' failed to satisfy constraint: Member must not be null"
    );
    let r = raw(addr, &target("DescribeUserPool"), Vec::new(), key).await;
    check("empty body", &r, Some(400), "InvalidParameterException");

    let r = call(addr, "ListUserPools", json!({ "MaxResults": "ten" })).await;
    check("string for a number", &r, Some(400), "SerializationException");
    let r = call(addr, "DescribeUserPool", json!({ "UserPoolId": 42 })).await;
    check("number for a string", &r, Some(400), "SerializationException");
    let r = call_unsigned(addr, "SignUp", json!({ "ClientId": "abc", "Username": "u", "Password": PASSWORD, "UserAttributes": "email" }))
        .await;
    check("string for a list of structures", &r, Some(400), "SerializationException");
    let r = call_unsigned(addr, "InitiateAuth", json!({ "ClientId": "abc", "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": "x" }))
        .await;
    check("string for a map", &r, Some(400), "SerializationException");

    // The size limit: exactly 1 MiB is fine, one byte more is not.
    let mut exact = br#"{"MaxResults": 10}"#.to_vec();
    exact.resize(MAX_BODY, b' ');
    let r = raw(addr, &target("ListUserPools"), exact, key).await;
    assert_eq!(r.status, 200, "a body of exactly 1 MiB: {r}");
    let mut over = br#"{"MaxResults": 10}"#.to_vec();
    over.resize(MAX_BODY + 1, b' ');
    let r = raw(addr, &target("ListUserPools"), over, key).await;
    check("body of 1 MiB + 1", &r, Some(413), "RequestEntityTooLargeException");
    let r = raw(addr, &target("SignUp"), vec![b' '; 3 * MAX_BODY], None).await;
    check("body of 3 MiB, unsigned", &r, Some(413), "RequestEntityTooLargeException");

    let r = call(addr, "DescribeUserPool", json!({ "UserPoolId": "us-east-1_NoSuchPool" })).await;
    check("unknown pool", &r, Some(400), "ResourceNotFoundException");
    let r = call_unsigned(
        addr,
        "SignUp",
        json!({ "ClientId": "nosuchclient0000000000000", "Username": "someone", "Password": PASSWORD }),
    )
    .await;
    check("unknown client on SignUp", &r, Some(400), "ResourceNotFoundException");

    let r = call_unsigned(addr, "CreateUserPool", json!({ "PoolName": "unsigned" })).await;
    check("unsigned management call", &r, None, "MissingAuthenticationTokenException");
    let r = call_unsigned(addr, "ListUserPools", json!({ "MaxResults": 10 })).await;
    check("unsigned management read", &r, None, "MissingAuthenticationTokenException");

    let r = http(addr, "GET", "/no/such/path", &[], vec![]).await;
    assert_eq!(r.status, 404, "{r}");
    assert!(r.header("x-amzn-requestid").is_some());

    // And the server still answers normally after all that.
    let r = call(addr, "ListUserPools", json!({ "MaxResults": 10 })).await;
    assert_eq!(r.status, 200, "{r}");
    assert!(r.header("x-amzn-requestid").is_some());
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let r = call(addr, "ListUserPools", json!({ "MaxResults": 1 })).await;
        ids.insert(r.header("x-amzn-requestid").expect("request id").to_string());
    }
    assert_eq!(ids.len(), 5, "request ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight() {
    let server = in_process(None, &[]).await;
    let h = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let r = http(
        server.addr,
        "OPTIONS",
        "/",
        &h(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-amz-target,x-amz-user-agent"),
        ]),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{r}");
    let origin = r.header("access-control-allow-origin").expect("access-control-allow-origin");
    assert!(origin == "*" || origin == "http://localhost:3000", "{origin}");
    let allowed = r.header("access-control-allow-headers").expect("access-control-allow-headers").to_ascii_lowercase();
    assert!(allowed.contains("x-amz-target"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");
    assert!(r.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert!(r.header("x-amzn-requestid").is_some());

    // Without Access-Control-Request-Headers the default list still allows the target header.
    let r = http(server.addr, "OPTIONS", "/", &h(&[("origin", "https://app.example"), ("access-control-request-method", "POST")]), vec![])
        .await;
    assert_eq!(r.status, 200, "{r}");
    assert!(r.header("access-control-allow-origin").is_some());
    assert!(r.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase().contains("x-amz-target"));

    // Actual responses carry the CORS headers too, errors included.
    let mut headers = unsigned_headers(&target("SignUp"));
    headers.push(("origin".into(), "https://app.example".into()));
    let r = http(server.addr, "POST", "/", &headers, b"{}".to_vec()).await;
    assert!((400..500).contains(&r.status), "{r}");
    assert!(r.header("access-control-allow-origin").is_some());
    assert!(r.header("access-control-expose-headers").unwrap_or_default().to_ascii_lowercase().contains("x-amzn-requestid"));
}

// ---------------------------------------------------------------- signatures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_keys_are_verified() {
    const KEY: (&str, &str) = ("AKIDTOBIRAREAL", "the-real-secret/with+odd=chars");
    let server = in_process(None, &[KEY]).await;
    let addr = server.addr;
    let body = json!({ "PoolName": "signed" }).to_string().into_bytes();

    let r = raw(addr, &target("CreateUserPool"), body.clone(), Some(KEY)).await;
    assert_eq!(r.status, 200, "correctly signed: {r}");
    let pool_id = r.json()["UserPool"]["Id"].as_str().expect("pool id").to_string();
    assert!(pool_id.starts_with("us-east-1_"), "{pool_id}");

    let r = raw(addr, &target("CreateUserPool"), body.clone(), Some((KEY.0, "not-the-secret"))).await;
    assert!((400..500).contains(&r.status), "{r}");
    assert_eq!(r.error_type(), "InvalidSignatureException", "{r}");
    assert!(r.header("x-amzn-requestid").is_some());

    let r = raw(addr, &target("CreateUserPool"), body.clone(), Some(("AKIDUNKNOWN", KEY.1))).await;
    assert!((400..500).contains(&r.status), "{r}");
    assert_eq!(r.error_type(), "UnrecognizedClientException", "{r}");

    // A body changed after signing.
    let headers = signed_headers(addr, &target("CreateUserPool"), &body, KEY);
    let r = http(addr, "POST", "/", &headers, json!({ "PoolName": "tampered" }).to_string().into_bytes()).await;
    assert_eq!(r.error_type(), "InvalidSignatureException", "{r}");

    let r = raw(addr, &target("CreateUserPool"), body.clone(), None).await;
    assert!((400..500).contains(&r.status), "{r}");
    assert_eq!(r.error_type(), "MissingAuthenticationTokenException", "{r}");

    // Only the signed attempt made a pool.
    let r = raw(addr, &target("ListUserPools"), json!({ "MaxResults": 60 }).to_string().into_bytes(), Some(KEY)).await;
    let pools = r.ok()["UserPools"].as_array().expect("pools").clone();
    assert_eq!(pools.len(), 1, "{pools:?}");

    // Operations AWS serves unsigned stay unsigned with keys configured.
    let r = raw(
        addr,
        &target("SignUp"),
        json!({ "ClientId": "nosuchclient0000000000000", "Username": "u", "Password": PASSWORD }).to_string().into_bytes(),
        None,
    )
    .await;
    assert_eq!(r.error_type(), "ResourceNotFoundException", "{r}");
}

// ---------------------------------------------------------------- concurrency through the API

async fn fifty_signups(addr: SocketAddr) {
    let (pool_id, client_id) = pool_and_client(addr).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let client_id = client_id.clone();
            tokio::spawn(async move {
                call_unsigned(
                    addr,
                    "SignUp",
                    json!({
                        "ClientId": client_id,
                        "Username": "racer",
                        "Password": PASSWORD,
                        "UserAttributes": [{ "Name": "email", "Value": format!("racer{i}@example.com") }],
                    }),
                )
                .await
            })
        })
        .collect();
    let (mut ok, mut exists, mut other) = (0, 0, vec![]);
    for t in tasks {
        let r = t.await.expect("task");
        match (r.status, r.error_type().as_str()) {
            (200, _) => ok += 1,
            (400, "UsernameExistsException") => exists += 1,
            _ => other.push(r.to_string()),
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:#?}");
    assert_eq!((ok, exists), (1, 49));
    let users = call(addr, "ListUsers", json!({ "UserPoolId": pool_id })).await.ok();
    let users = users["Users"].as_array().expect("Users");
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["Username"], "racer");
    let d = call(addr, "DescribeUserPool", json!({ "UserPoolId": pool_id })).await.ok();
    assert_eq!(d["UserPool"]["EstimatedNumberOfUsers"], 1);
    call(addr, "DeleteUserPool", json!({ "UserPoolId": pool_id })).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signups_one_username_sqlite() {
    let server = in_process(None, &[]).await;
    fifty_signups(server.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signups_one_username_postgres() {
    let Some(url) = common::pg_url_if_reachable() else { return };
    let server = in_process(Some(url), &[]).await;
    fifty_signups(server.addr).await;
}

// ---------------------------------------------------------------- processes

/// Two tobira processes, one PostgreSQL database, one master key: each sees what the other did,
/// and tokens minted by one are honoured by the other.
#[test]
fn two_processes_share_postgres() {
    let Some(url) = common::pg_url_if_reachable() else { return };
    let key = master_key();
    let args = ["--listen", "127.0.0.1:0", "--database-url", url.as_str()];
    let a = Proc::start(&args, &[("TOBIRA_MASTER_KEY", key.as_str())]);
    let b = Proc::start(&args, &[("TOBIRA_MASTER_KEY", key.as_str())]);
    let (a_addr, b_addr) = (a.addr(), b.addr());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (pool_id, client_id) = pool_and_client(a_addr).await;
        let username = "shared-user";
        let r = call_unsigned(
            a_addr,
            "SignUp",
            json!({
                "ClientId": client_id,
                "Username": username,
                "Password": PASSWORD,
                "UserAttributes": [{ "Name": "email", "Value": "shared@example.com" }],
            }),
        )
        .await
        .ok();
        assert_eq!(r["UserConfirmed"], false, "{r}");
        let sub = r["UserSub"].as_str().expect("UserSub").to_string();

        // B sees A's pool, client and user.
        call(b_addr, "AdminConfirmSignUp", json!({ "UserPoolId": pool_id, "Username": username })).await.ok();
        let got = call(a_addr, "AdminGetUser", json!({ "UserPoolId": pool_id, "Username": username })).await.ok();
        assert_eq!(got["UserStatus"], "CONFIRMED", "A sees B's confirmation: {got}");

        let auth = call_unsigned(
            b_addr,
            "InitiateAuth",
            json!({
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": client_id,
                "AuthParameters": { "USERNAME": username, "PASSWORD": PASSWORD },
            }),
        )
        .await
        .ok();
        let access = auth["AuthenticationResult"]["AccessToken"].as_str().expect("AccessToken").to_string();
        let refresh = auth["AuthenticationResult"]["RefreshToken"].as_str().expect("RefreshToken").to_string();

        // A honours B's access token…
        let me = call_unsigned(a_addr, "GetUser", json!({ "AccessToken": access })).await.ok();
        assert_eq!(me["Username"], username, "{me}");
        let attrs = me["UserAttributes"].as_array().expect("UserAttributes");
        assert!(attrs.iter().any(|a| a["Name"] == "sub" && a["Value"] == sub.as_str()), "{me}");
        // …and B's refresh token.
        let again = call_unsigned(
            a_addr,
            "InitiateAuth",
            json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client_id, "AuthParameters": { "REFRESH_TOKEN": refresh } }),
        )
        .await
        .ok();
        assert!(again["AuthenticationResult"]["AccessToken"].is_string(), "{again}");

        // Both serve the same keys.
        let jwks_a = http(a_addr, "GET", &format!("/{pool_id}/.well-known/jwks.json"), &[], vec![]).await.ok();
        let jwks_b = http(b_addr, "GET", &format!("/{pool_id}/.well-known/jwks.json"), &[], vec![]).await.ok();
        assert_eq!(jwks_a, jwks_b);

        call(b_addr, "DeleteUserPool", json!({ "UserPoolId": pool_id })).await.ok();
        let r = call(a_addr, "DescribeUserPool", json!({ "UserPoolId": pool_id })).await;
        assert_eq!(r.error_type(), "ResourceNotFoundException", "A sees B's deletion: {r}");
    });
    drop(a);
    drop(b);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut p = Proc::start(&["--listen", "127.0.0.1:0"], &[]);
    let addr = p.addr();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // It serves; and an idle keep-alive connection is left open, as browsers do.
    let idle = rt.block_on(async {
        let r = http(addr, "GET", "/_tobira/health", &[], vec![]).await;
        assert_eq!(r.status, 200, "{r}");
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET /_tobira/health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        s
    });
    let started = std::time::Instant::now();
    p.sigterm();
    let status = p.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status:?}; stderr:\n{}", p.stderr());
    eprintln!("tobira exited {:?} after SIGTERM", started.elapsed());
    drop(idle);
    // And the port is closed.
    let refused = rt.block_on(async { TcpStream::connect(addr).await.is_err() });
    assert!(refused, "still accepting connections after exit");
}

#[test]
fn refuses_non_loopback_without_access_keys() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let mut p = Proc::start(&["--listen", listen], &[]);
        assert!(p.addr.is_none(), "tobira listened on {listen} with no access keys: {:?}", p.addr);
        let status = p.wait_exit(Duration::from_secs(60));
        let stderr = p.stderr();
        let stdout = p.stdout.lock().unwrap().clone();
        assert!(!status.success(), "{listen}: exit status {status:?}");
        assert!(stderr.to_ascii_lowercase().contains("access key"), "{listen}: stderr should mention access keys:\n{stderr}");
        assert!(!stdout.contains("listening"), "{listen}: {stdout}");
    }
}
