//! Functions reached over HTTP: endpoints signed with Standard Webhooks, and the Lambda Invoke API
//! signed with SigV4.
//!
//! **HTTP endpoints** get `POST url` with the event as JSON and the headers `webhook-id`,
//! `webhook-timestamp` and, with a secret, `webhook-signature: v1,<base64 HMAC-SHA256(key,
//! "{id}.{timestamp}.{body}")>` (the key is the base64 after `whsec_`, or the secret's bytes). They
//! answer 2xx with the result as JSON (an empty body is `null`). A 4xx answer (other than 408 and
//! 429) is a handler error, its message taken from a JSON body's `errorMessage`, `message` or
//! `error` (or the body text), its type from `errorType`; so is any answer carrying
//! `X-Amz-Function-Error`. 408, 429, 5xx and connection failures may be retried.
//!
//! **The Lambda Invoke API**: `POST {endpoint}/2015-03-31/functions/NAME/invocations[?Qualifier=Q]`
//! with `X-Amz-Invocation-Type: RequestResponse` (or `Event`), SigV4-signed for service `lambda`
//! with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (when unset, the
//! placeholder `test`/`test` that local Lambda emulators accept).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::{FunctionRef, InvokeError, Mode};

/// Largest answer read (Lambda's synchronous payload limit is 6 MB).
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

pub(crate) enum RemoteError {
    /// A transport failure Cognito retries.
    Retryable(String),
    Final(InvokeError),
}

fn final_failed(m: String) -> RemoteError {
    RemoteError::Final(InvokeError::Failed(m))
}

pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{url:?} must be an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// The HMAC key of a Standard Webhooks secret: base64 after `whsec_`, or the raw bytes.
pub(crate) fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| format!("secret: whsec_ must be followed by base64 ({e})")),
        None if secret.is_empty() => Err("secret is empty".into()),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&k);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref()))
}

pub(crate) async fn call_webhook(url: &str, key: Option<&[u8]>, id: &str, body: Bytes, timeout: Duration) -> Result<Value, RemoteError> {
    let ts = super::now_ms() / 1000;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), id.to_string()),
        ("webhook-timestamp".to_string(), ts.to_string()),
    ];
    if let Some(k) = key {
        headers.push(("webhook-signature".to_string(), webhook_signature(k, id, ts, &body)));
    }
    let resp = post(url, &headers, body, timeout).await?;
    let status = resp.status;
    if resp.function_error.is_some() || ((400..500).contains(&status) && status != 408 && status != 429) {
        return Err(RemoteError::Final(handler_error(&resp.body, status)));
    }
    if status == 408 || status == 429 || status >= 500 {
        return Err(RemoteError::Retryable(format!("{url} answered HTTP {status}{}", snippet(&resp.body))));
    }
    if !(200..300).contains(&status) {
        return Err(final_failed(format!("{url} answered HTTP {status}")));
    }
    parse_json(&resp.body).map_err(|m| final_failed(format!("{url} answered with invalid JSON: {m}")))
}

pub(crate) async fn call_lambda(endpoint: &str, region: &str, f: &FunctionRef, body: Bytes, mode: Mode, timeout: Duration) -> Result<Value, RemoteError> {
    let base = endpoint.trim_end_matches('/');
    let path_prefix = base.parse::<http::Uri>().ok().map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
    let path = format!("{path_prefix}/2015-03-31/functions/{}/invocations", f.name);
    let query = f.qualifier.as_ref().map(|q| format!("Qualifier={}", percent_encoding::utf8_percent_encode(q, SIGV4_SET))).unwrap_or_default();
    let authority = base.parse::<http::Uri>().ok().and_then(|u| u.authority().map(|a| a.to_string())).unwrap_or_default();
    let scheme_host = base.strip_suffix(&path_prefix).unwrap_or(base);
    let url = if query.is_empty() { format!("{scheme_host}{path}") } else { format!("{scheme_host}{path}?{query}") };
    let invocation_type = match mode {
        Mode::Sync => "RequestResponse",
        Mode::Async => "Event",
    };
    let creds = Credentials::from_env();
    let amz_date = amz_date(super::now_ms());
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), authority),
        ("x-amz-date".to_string(), amz_date.clone()),
        ("x-amz-invocation-type".to_string(), invocation_type.to_string()),
    ];
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".to_string(), t.clone()));
    }
    let auth = sigv4_authorization(&creds, region, "lambda", "POST", &path, &query, &headers, &body, &amz_date);
    headers.push(("authorization".to_string(), auth));
    let resp = post(&url, &headers, body, timeout).await?;
    let status = resp.status;
    if status == 404 {
        return Err(RemoteError::Final(InvokeError::NotFound(format!("Lambda: {}{}", f.name, snippet(&resp.body)))));
    }
    if status == 429 || status >= 500 {
        return Err(RemoteError::Retryable(format!("Lambda answered HTTP {status}{}", snippet(&resp.body))));
    }
    if !(200..300).contains(&status) {
        return Err(final_failed(format!("Lambda answered HTTP {status}{}", snippet(&resp.body))));
    }
    if resp.function_error.is_some() {
        return Err(RemoteError::Final(match handler_error(&resp.body, status) {
            // The runtime's own failures (timeouts, crashes, import errors) are not the handler's.
            InvokeError::Handler { message, error_type: Some(t) } if t.starts_with("Runtime.") || t.starts_with("Sandbox.") => InvokeError::Failed(format!("{t}: {message}")),
            e => e,
        }));
    }
    if mode == Mode::Async {
        return Ok(Value::Null);
    }
    parse_json(&resp.body).map_err(|m| final_failed(format!("Lambda answered with invalid JSON: {m}")))
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn handler_error(body: &[u8], status: u16) -> InvokeError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let pick = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(Value::as_str).map(str::to_string);
    let message = pick("errorMessage").or_else(|| pick("message")).or_else(|| pick("error")).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body).trim().chars().take(1000).collect::<String>();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            text
        }
    });
    InvokeError::Handler { message, error_type: pick("errorType") }
}

fn snippet(body: &[u8]) -> String {
    let t: String = String::from_utf8_lossy(body).trim().chars().take(300).collect();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

// ------------------------------------------------------------------------------------ HTTP client

pub(crate) struct Response {
    pub status: u16,
    pub function_error: Option<String>,
    pub body: Bytes,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// One POST on a fresh connection. Connection failures are retryable; a timeout is not.
pub(crate) async fn post(url: &str, headers: &[(String, String)], body: Bytes, timeout: Duration) -> Result<Response, RemoteError> {
    match tokio::time::timeout(timeout, post_inner(url, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(final_failed(format!("{url} did not answer within {:.2} seconds", timeout.as_secs_f64()))),
    }
}

async fn post_inner(url: &str, headers: &[(String, String)], body: Bytes) -> Result<Response, RemoteError> {
    let uri: http::Uri = url.parse().map_err(|e| final_failed(format!("bad URL {url}: {e}")))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(final_failed(format!("{url}: only http:// and https:// are supported"))),
    };
    let host = uri.host().ok_or_else(|| final_failed(format!("{url}: no host")))?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| RemoteError::Retryable(format!("cannot connect to {url}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| final_failed(format!("{url}: {e}")))?;
        let conn = tokio_rustls::TlsConnector::from(tls_config()?).connect(name, tcp).await.map_err(|e| RemoteError::Retryable(format!("TLS with {url} failed: {e}")))?;
        Box::new(conn)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| RemoteError::Retryable(format!("{url}: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = http::Request::builder().method(http::Method::POST).uri(path);
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header(http::header::HOST, authority);
    }
    req = req.header(http::header::USER_AGENT, concat!("tobira/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(body)).map_err(|e| final_failed(format!("{url}: {e}")))?;
    let resp = sender.send_request(req).await.map_err(|e| RemoteError::Retryable(format!("{url}: {e}")))?;
    let status = resp.status().as_u16();
    let function_error = resp.headers().get("x-amz-function-error").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| RemoteError::Retryable(format!("reading the answer of {url}: {e}")))?
        .to_bytes();
    driver.abort();
    Ok(Response { status, function_error, body })
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, RemoteError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(c))
        })
        .clone()
        .map_err(|e| final_failed(format!("TLS setup failed: {e}")))
}

// ------------------------------------------------------------------------------------ SigV4

pub(crate) struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    fn from_env() -> Credentials {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(a), Some(s)) => Credentials { access_key: a, secret_key: s, session_token: get("AWS_SESSION_TOKEN") },
            _ => Credentials { access_key: "test".into(), secret_key: "test".into(), session_token: None },
        }
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const SIGV4_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `YYYYMMDDTHHMMSSZ`.
fn amz_date(ms: i64) -> String {
    crate::civil::amz_date(ms.div_euclid(1000))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// The `Authorization` header value for a request whose headers (names lowercase) are all signed.
/// `path` and `query` are already URI-encoded (`query` as `k=v&…`, sorted).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sigv4_authorization(creds: &Credentials, region: &str, service: &str, method: &str, path: &str, query: &str, headers: &[(String, String)], body: &[u8], amz_date: &str) -> String {
    let mut hs: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" "))).collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = hs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    // Non-S3 services sign the path encoded once more.
    let canonical_path: String = path.split('/').map(|seg| percent_encoding::utf8_percent_encode(seg, SIGV4_SET).to_string()).collect::<Vec<_>>().join("/");
    let canonical_request = format!("{method}\n{canonical_path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}", sha256_hex(body));
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));
    let k_date = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", creds.access_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures_match_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification's reference libraries.
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = webhook_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(webhook_key("raw-secret").unwrap(), b"raw-secret");
        assert!(webhook_key("whsec_%%%").is_err());
        assert!(webhook_key("").is_err());
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:3000/x").is_ok());
        assert!(check_url("https://example.com").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("localhost:3000").is_err());
        assert!(check_url("http://").is_err());
    }

    #[test]
    fn amz_dates() {
        assert_eq!(amz_date(1_440_938_160_000), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
    }

    #[test]
    fn sigv4_matches_the_aws_sdk() {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;
        let creds = Credentials { access_key: "AKIDEXAMPLE".into(), secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(), session_token: Some("tok/en+=".into()) };
        let body = br#"{"version":"1","triggerSource":"PreSignUp_SignUp"}"#;
        let ms = 1_700_000_000_000i64;
        let date = amz_date(ms);
        let path = "/2015-03-31/functions/my-fn/invocations";
        let query = "Qualifier=%24LATEST";
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), "127.0.0.1:4566".to_string()),
            ("x-amz-date".to_string(), date.clone()),
            ("x-amz-invocation-type".to_string(), "RequestResponse".to_string()),
            ("x-amz-security-token".to_string(), "tok/en+=".to_string()),
        ];
        let ours = sigv4_authorization(&creds, "eu-west-1", "lambda", "POST", path, query, &headers, body, &date);

        let identity = aws_credential_types::Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("tok/en+=".into()), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("lambda")
            .time(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let url = format!("http://127.0.0.1:4566{path}?{query}");
        let sdk_headers: Vec<(&str, &str)> = headers.iter().filter(|(k, _)| k != "x-amz-date" && k != "x-amz-security-token").map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signable = SignableRequest::new("POST", &url, sdk_headers.into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let theirs = instructions.headers().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.to_string()).unwrap();
        assert_eq!(ours, theirs);
    }
}
