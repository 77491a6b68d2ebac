//! The wire: one HTTP listener routing by protocol and target. AWS JSON 1.1 (by
//! `X-Amz-Target`), the well-known token documents, tobira's own `/_tobira/*` endpoints,
//! and CORS for browser clients. No Cognito rules live here.

pub mod awsjson;
pub mod identity;
pub mod query;
pub mod sigv4;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::ports::{Inbox, OffsetClock};
use crate::service::{Ctx, Service};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub inbox: Arc<Inbox>,
    /// Present when `--test-clock` is on.
    pub test_clock: Option<Arc<OffsetClock>>,
    pub config: Arc<Config>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(aws_post).get(root_get))
        .route("/_tobira/inbox", get(inbox))
        .route("/_tobira/clock", get(clock_get).post(clock_post))
        .route("/_tobira/health", get(|| async { "ok" }))
        .route("/_tobira/invocations", get(invocations))
        .route("/.well-known/jwks_uri", get(identity_jwks))
        .route("/{pool_id}/.well-known/jwks.json", get(jwks))
        .route("/{pool_id}/.well-known/openid-configuration", get(openid_configuration))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(common_headers))
        .with_state(state)
}

/// Request id, CORS on every response, and preflight answers.
async fn common_headers(req: Request, next: axum::middleware::Next) -> Response {
    let origin = req.headers().get("origin").cloned();
    let preflight = req.method() == Method::OPTIONS;
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut resp = if preflight {
        let mut r = StatusCode::OK.into_response();
        let h = r.headers_mut();
        h.insert("access-control-allow-methods", HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"));
        let allow = req
            .headers()
            .get("access-control-request-headers")
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "content-type, x-amz-target, x-amz-user-agent, cache-control, authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256, amz-sdk-invocation-id, amz-sdk-request",
            ));
        h.insert("access-control-allow-headers", allow);
        h.insert("access-control-max-age", HeaderValue::from_static("86400"));
        r
    } else {
        let mut req = req;
        req.extensions_mut().insert(RequestId(request_id.clone()));
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert("x-amzn-requestid", HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("0")));
    h.insert("access-control-allow-origin", origin.unwrap_or(HeaderValue::from_static("*")));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date"),
    );
    h.insert("vary", HeaderValue::from_static("Origin"));
    resp
}

#[derive(Clone)]
struct RequestId(String);

fn json_response(status: StatusCode, body: &Value, content_type: &'static str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    r
}

const AMZ_JSON: &str = "application/x-amz-json-1.1";

pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(status, &json!({ "__type": e.type_name(), "message": e.message }), AMZ_JSON);
    if let Ok(v) = HeaderValue::from_str(&format!("{}:", e.type_name())) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// The base URL the client used to reach us.
fn public_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

fn ctx_for(headers: &HeaderMap, peer: Option<SocketAddr>, request_id: String) -> Ctx {
    Ctx {
        signed_region: None,
        public_url: public_url(headers),
        source_ip: peer.map(|p| p.ip().to_string()),
        user_agent: headers.get("user-agent").and_then(|h| h.to_str().ok()).map(str::to_string),
        request_id,
        ..Ctx::default()
    }
}

async fn aws_post(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap, req: Request) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(&ApiError::new(
                ErrorKind::RequestEntityTooLarge,
                format!("Request body is larger than the limit of {MAX_BODY} bytes."),
            ))
        }
    };
    let mut ctx = ctx_for(&headers, peer, request_id);
    let target = headers.get("x-amz-target").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let (prefix, op) = target.split_once('.').unwrap_or(("", ""));
    if target.is_empty() {
        if is_form(&headers, &body) {
            return query_post(&state, ctx, &method, &uri, &headers, &body).await;
        }
        return error_response(&ApiError::new(
            ErrorKind::UnknownOperation,
            "Missing X-Amz-Target header: tobira speaks AWS JSON 1.1 (X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>) and the query protocol (IAM, STS).",
        ));
    }
    let (supported, unsigned): (&[&str], &[&str]) = match prefix {
        awsjson::IDP_PREFIX => (awsjson::SUPPORTED, awsjson::UNSIGNED_OPERATIONS),
        identity::PREFIX => (identity::SUPPORTED, identity::UNSIGNED_OPERATIONS),
        _ => return error_response(&ApiError::new(ErrorKind::UnknownOperation, format!("Unknown service in target {target}."))),
    };
    if !supported.contains(&op) {
        return error_response(&ApiError::new(
            ErrorKind::UnknownOperation,
            format!("Operation {op} is not supported by tobira ({target})."),
        ));
    }
    let unsigned_ok = unsigned.contains(&op);
    match authenticate(&state, &method, &uri, &headers, &body, unsigned_ok).await {
        Ok((region, caller)) => {
            ctx.signed_region = region;
            ctx.caller = caller;
        }
        Err(e) => return error_response(&e),
    }
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return error_response(&ApiError::new(ErrorKind::SerializationException, "Request body must be a JSON object.")),
            Err(e) => return error_response(&ApiError::new(ErrorKind::SerializationException, format!("Malformed JSON in request body: {e}"))),
        }
    };
    let value = strip_nulls(value);
    let started = std::time::Instant::now();
    // A bug must cost one request a 500, never the connection or the process.
    let result = {
        let call = async {
            if prefix == identity::PREFIX {
                identity::dispatch(&state.service, &ctx, op, &value).await
            } else {
                awsjson::dispatch(&state.service, &ctx, op, &value).await
            }
        };
        guarded(call).await
    };
    let micros = started.elapsed().as_micros() as u64;
    match result {
        Ok(v) => {
            tracing::debug!(op, micros, request_id = %ctx.request_id, "ok");
            json_response(StatusCode::OK, &v, AMZ_JSON)
        }
        Err(e) => {
            if e.kind == ErrorKind::InternalError {
                tracing::error!(op, error = %e, request_id = %ctx.request_id, "internal error");
            } else {
                tracing::debug!(op, error = %e, request_id = %ctx.request_id, "client error");
            }
            error_response(&e)
        }
    }
}

/// Optional members sent as `null` are treated as absent, as AWS does.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// A signature's freshness is judged by the real clock, the one clients sign with, even when
/// `--test-clock` has moved tobira's own clock (which governs tokens, codes and credentials).
fn wall_clock_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Runs an operation so that a bug costs one request a 500, never the connection or the process.
async fn guarded(call: impl std::future::Future<Output = Result<Value, ApiError>>) -> Result<Value, ApiError> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(call).catch_unwind().await.unwrap_or_else(|_| Err(ApiError::internal("Internal server error.")))
}

/// A form-encoded body: the query protocol (IAM, STS).
fn is_form(headers: &HeaderMap, body: &Bytes) -> bool {
    let ct = headers.get("content-type").and_then(|h| h.to_str().ok()).unwrap_or("");
    ct.starts_with("application/x-www-form-urlencoded") || body.starts_with(b"Action=")
}

/// IAM and STS: the query protocol, answered in XML.
async fn query_post(state: &AppState, mut ctx: Ctx, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let signed_service = sigv4::parse_claim(method, uri, headers).ok().flatten().map(|c| c.service);
    let q = match query::parse(body, signed_service.as_deref()) {
        Ok(q) => q,
        Err(e) => return xml_error(None, &e, &ctx.request_id),
    };
    match authenticate(state, method, uri, headers, body, query::unsigned(&q.action)).await {
        Ok((region, caller)) => {
            ctx.signed_region = region;
            ctx.caller = caller;
        }
        Err(e) => return xml_error(Some(q.service), &e, &ctx.request_id),
    }
    let result = guarded(query::dispatch(&state.service, &ctx, &q)).await;
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, query::success_xml(q.service, &q.action, &v, &ctx.request_id)).into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static("text/xml"));
            r
        }
        Err(e) => {
            if e.kind == ErrorKind::InternalError {
                tracing::error!(action = %q.action, error = %e, request_id = %ctx.request_id, "internal error");
            }
            xml_error(Some(q.service), &e, &ctx.request_id)
        }
    }
}

fn xml_error(service: Option<query::QueryService>, e: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (status, query::error_xml(service, e, request_id)).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("text/xml"));
    r
}

/// SigV4 for every AWS call. Temporary credentials (`ASIA…`, minted by tobira) are always
/// verified, with their session token and expiry. Other keys: with keys configured, signatures
/// are verified; without, any well-formed signature is accepted (loopback development, like
/// local AWS emulators). Returns the region of the credential scope for signed calls and, for
/// temporary credentials, who they belong to.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    unsigned_ok: bool,
) -> Result<(Option<String>, Option<crate::service::sts::Caller>), ApiError> {
    let Some(claim) = sigv4::parse_claim(method, uri, headers)? else {
        if unsigned_ok {
            return Ok((None, None));
        }
        return Err(ApiError::new(ErrorKind::MissingAuthenticationToken, sigv4::MSG_MISSING_TOKEN));
    };
    if claim.access_key_id.starts_with("ASIA") {
        let (secret, caller) = state.service.temporary_secret(&claim.access_key_id, claim.session_token.as_deref()).await?;
        let lookup = move |_: &str| Some(secret.clone());
        let verified = sigv4::verify(method, uri, headers, body, wall_clock_secs(), &lookup)?;
        return Ok((Some(verified.region), Some(caller)));
    }
    if !state.config.access_keys.is_empty() {
        let keys = &state.config.access_keys;
        let lookup = |akid: &str| keys.iter().find(|(id, _)| id == akid).map(|(_, s)| s.clone());
        let verified = sigv4::verify(method, uri, headers, body, wall_clock_secs(), &lookup)?;
        return Ok((Some(verified.region), None));
    }
    Ok((Some(claim.region), None))
}

async fn root_get() -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "service": "tobira", "protocols": ["AWS JSON 1.1 (POST / with X-Amz-Target)"], "inbox": "/_tobira/inbox" }),
        "application/json",
    )
}

async fn fallback(method: Method, uri: Uri) -> Response {
    let mut r = error_response(&ApiError::new(ErrorKind::UnknownOperation, format!("No route for {method} {}.", uri.path())));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboxQuery {
    pool_id: Option<String>,
    username: Option<String>,
}

async fn inbox(State(state): State<AppState>, Query(q): Query<InboxQuery>) -> Response {
    let messages = state.inbox.list(q.pool_id.as_deref(), q.username.as_deref());
    json_response(StatusCode::OK, &json!({ "messages": messages }), "application/json")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationsQuery {
    pool_id: Option<String>,
}

/// Every trigger invocation tobira made (recent ones, oldest first), optionally for one pool.
async fn invocations(State(state): State<AppState>, Query(q): Query<InvocationsQuery>) -> Response {
    let list = state.service.triggers.invocations(q.pool_id.as_deref());
    json_response(StatusCode::OK, &json!({ "invocations": list }), "application/json")
}

/// The keys of cognito-identity's OpenID tokens (GetOpenIdToken).
async fn identity_jwks(State(state): State<AppState>) -> Response {
    match state.service.identity_jwks().await {
        Ok(v) => json_response(StatusCode::OK, &v, "application/json"),
        Err(e) => error_response(&e),
    }
}

async fn clock_get(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &json!({ "nowMillis": state.service.now() }), "application/json")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockBody {
    advance_seconds: i64,
}

async fn clock_post(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(clock) = &state.test_clock else {
        return (StatusCode::NOT_FOUND, "the test clock is off: start tobira with --test-clock").into_response();
    };
    match serde_json::from_slice::<ClockBody>(&body) {
        Ok(b) if b.advance_seconds >= 0 => {
            clock.advance_secs(b.advance_seconds);
            json_response(StatusCode::OK, &json!({ "nowMillis": state.service.now() }), "application/json")
        }
        _ => (StatusCode::BAD_REQUEST, "expected {\"advanceSeconds\": N} with N >= 0").into_response(),
    }
}

async fn jwks(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    match state.service.jwks(&pool_id).await {
        Ok(v) => json_response(StatusCode::OK, &v, "application/json"),
        Err(e) if e.kind == ErrorKind::ResourceNotFound => {
            json_response(StatusCode::NOT_FOUND, &json!({ "message": format!("User pool {pool_id} not found") }), "application/json")
        }
        Err(e) => error_response(&e),
    }
}

async fn openid_configuration(State(state): State<AppState>, Path(pool_id): Path<String>, headers: HeaderMap) -> Response {
    let ctx = ctx_for(&headers, None, String::new());
    match state.service.openid_configuration(&ctx, &pool_id).await {
        Ok(v) => json_response(StatusCode::OK, &v, "application/json"),
        Err(e) if e.kind == ErrorKind::ResourceNotFound => {
            json_response(StatusCode::NOT_FOUND, &json!({ "message": format!("User pool {pool_id} not found") }), "application/json")
        }
        Err(e) => error_response(&e),
    }
}
