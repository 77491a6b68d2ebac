//! A lean AWS JSON 1.1 client: one keep-alive HTTP/1.1 connection per in-flight request slot,
//! requests built by hand (no SDK), hyper's low-level client connection underneath.

use std::net::{SocketAddr, ToSocketAddrs};

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

pub const IDP_PREFIX: &str = "AWSCognitoIdentityProviderService";

/// Where the server is, plus the header values every request reuses.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    host: HeaderValue,
    authorization: HeaderValue,
    amz_date: HeaderValue,
}

impl Endpoint {
    /// `http://HOST:PORT` (loopback expected; https is not supported).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("endpoint {url:?} must start with http://"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority} resolves to nothing"))?;
        if !addr.ip().is_loopback() {
            eprintln!("tobira-bench: warning: {addr} is not a loopback address");
        }
        let (amz_date, day) = amz_now();
        // A syntactically valid SigV4 header: a server without configured access keys accepts any
        // well-formed signature (loopback development mode), so no real signing is needed.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/{day}/us-east-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            "0123456789abcdef".repeat(4)
        );
        Ok(Endpoint {
            addr,
            host: HeaderValue::from_str(authority).map_err(|e| e.to_string())?,
            authorization: HeaderValue::from_str(&authorization).map_err(|e| e.to_string())?,
            amz_date: HeaderValue::from_str(&amz_date).map_err(|e| e.to_string())?,
        })
    }
}

/// `X-Amz-Target` for an operation.
pub fn target(op: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{IDP_PREFIX}.{op}")).expect("ascii operation name")
}

/// One keep-alive connection.
pub struct Conn {
    tx: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(ep: &Endpoint) -> Result<Conn, String> {
        let stream = TcpStream::connect(ep.addr).await.map_err(|e| format!("connect {}: {e}", ep.addr))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { tx })
    }

    /// Sends one JSON 1.1 request; returns the status and the body.
    pub async fn call(&mut self, ep: &Endpoint, target: &HeaderValue, signed: bool, body: Bytes) -> Result<(u16, Bytes), String> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = Uri::from_static("/");
        let h = req.headers_mut();
        h.insert(HOST, ep.host.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
        h.insert("x-amz-target", target.clone());
        if signed {
            h.insert(AUTHORIZATION, ep.authorization.clone());
            h.insert("x-amz-date", ep.amz_date.clone());
        }
        self.tx.ready().await.map_err(|e| format!("connection not ready: {e}"))?;
        let resp = self.tx.send_request(req).await.map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| format!("reading body: {e}"))?.to_bytes();
        Ok((status, body))
    }

    /// A setup call: JSON in, JSON out, non-200 is an error.
    pub async fn json(&mut self, ep: &Endpoint, op: &str, signed: bool, body: &Value) -> Result<Value, String> {
        let (status, bytes) = self.call(ep, &target(op), signed, Bytes::from(body.to_string())).await?;
        if status != 200 {
            return Err(format!("{op} -> HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{op}: bad JSON response: {e}"))
    }
}

/// The current time as SigV4's `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) and its day (`YYYYMMDD`).
fn amz_now() -> (String, String) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let stamp = tobira::civil::amz_date(secs);
    let day = stamp[..8].to_string();
    (stamp, day)
}
