//! AWS Signature Version 4 verification (the server side of SigV4).
//!
//! Covers both ways a client can sign: the `Authorization: AWS4-HMAC-SHA256 …` header and
//! presigned query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, …). The canonical request is
//! built the way the AWS SDKs build it for every service except S3:
//!
//! * canonical URI: the path *as received on the wire* (still percent-encoded), with `.`/`..`
//!   segments and empty segments removed, then URI-encoded once more (so `%3D` on the wire becomes
//!   `%253D`; `/` is kept);
//! * canonical query: every parameter form-decoded (`+` is a space), re-encoded with the strict
//!   RFC 3986 unreserved set, sorted by name then value; `X-Amz-Signature` is left out for
//!   presigned requests;
//! * canonical headers: the signed headers in the order the client listed them, values trimmed of
//!   spaces with inner runs of spaces collapsed, several values of one header joined with `,`;
//! * payload: lowercase hex SHA-256 of the body.
//!
//! Nothing here panics on any input: every header and query value may be arbitrary bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::{digest, hmac};
use http::{HeaderMap, HeaderValue, Method, Uri};
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorKind};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from the server clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Largest `X-Amz-Expires` accepted on a presigned request (one week, as on AWS).
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 7 * 24 * 60 * 60;
/// `x-amz-content-sha256` value for a body that is not covered by the signature (presigned only).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// AWS's message for a signature that does not verify.
pub const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// AWS's message for an access key id it does not know.
pub const MSG_INVALID_TOKEN: &str = "The security token included in the request is invalid.";
/// AWS's message when a request that needs a signature carries none.
pub const MSG_MISSING_TOKEN: &str = "Request is missing Authentication Token";

const TERMINATOR: &str = "aws4_request";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

const Q_ALGORITHM: &str = "X-Amz-Algorithm";
const Q_CREDENTIAL: &str = "X-Amz-Credential";
const Q_DATE: &str = "X-Amz-Date";
const Q_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const Q_SIGNATURE: &str = "X-Amz-Signature";
const Q_SECURITY_TOKEN: &str = "X-Amz-Security-Token";
const Q_EXPIRES: &str = "X-Amz-Expires";

/// RFC 3986 unreserved characters stay as they are; every other byte becomes `%XX` (uppercase).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// As [`STRICT`], but `/` is kept: for the canonical URI.
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// What the Authorization header (or presigned query) claims. Nothing in it is verified by
/// [`parse_claim`]; [`verify`] returns it only once the signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Claim {
    pub access_key_id: String,
    /// Credential-scope date, `yyyymmdd` (8 ASCII digits).
    pub date: String,
    pub region: String,
    pub service: String,
    /// As the client listed them (normally lowercase, sorted).
    pub signed_headers: Vec<String>,
    /// As the client sent it (normally 64 lowercase hex digits).
    pub signature: String,
    /// Request time, `yyyymmddThhmmssZ`: `X-Amz-Date`, or the `Date` header converted.
    pub amz_date: String,
    /// `x-amz-security-token` header, or `X-Amz-Security-Token` query parameter.
    pub session_token: Option<String>,
}

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// `Authorization` header; `date_header` is the header the time came from.
    Header { date_header: &'static str },
    /// Presigned query; `expires` is `X-Amz-Expires` when given.
    Query { expires: Option<u64> },
}

#[derive(Debug)]
struct Parsed {
    claim: SigV4Claim,
    location: Location,
    /// `amz_date` as seconds since the Unix epoch.
    epoch: i64,
}

/// Parse what the request claims without checking anything cryptographic.
///
/// `Ok(None)`: the request carries no signature at all (no `Authorization` header and no
/// `X-Amz-Algorithm`/`X-Amz-Credential`/`X-Amz-Signature` query parameter).
/// `Err(IncompleteSignature)`: a signature is there but malformed.
pub fn parse_claim(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<Option<SigV4Claim>, ApiError> {
    let _ = method;
    Ok(parse(uri, headers)?.map(|p| p.claim))
}

/// Verify the SigV4 signature of a request and return what it claims.
///
/// * `uri` must be the request target exactly as received (path still percent-encoded, raw query).
/// * `headers` must be the request headers as received (`Host` included).
/// * `body` is the complete request body.
/// * `secret_for` maps an access key id to its secret access key.
///
/// A request with no signature at all fails with `MissingAuthenticationToken`; callers that
/// allow anonymous calls should use [`parse_claim`] first.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_epoch_secs: i64,
    secret_for: &dyn Fn(&str) -> Option<String>,
) -> Result<SigV4Claim, ApiError> {
    let parsed = parse(uri, headers)?.ok_or_else(|| ApiError::new(ErrorKind::MissingAuthenticationToken, MSG_MISSING_TOKEN))?;
    let claim = &parsed.claim;

    // Credential scope day must be the request day.
    let day = claim.amz_date.get(..8).unwrap_or("");
    if claim.date != day {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            claim.date, day, claim.amz_date
        )));
    }

    if !claim.signed_headers.iter().any(|h| h.eq_ignore_ascii_case("host")) {
        return Err(invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."));
    }
    if let Location::Header { date_header } = parsed.location {
        // An unsigned date would let a captured request be replayed with a fresh date.
        if !claim.signed_headers.iter().any(|h| h.eq_ignore_ascii_case(date_header)) {
            let shown = if date_header == X_AMZ_DATE { "X-Amz-Date" } else { "Date" };
            return Err(invalid(format!("'{shown}' must be a 'SignedHeader' in the AWS Authorization.")));
        }
    }

    check_time(&parsed, now_epoch_secs)?;

    let secret = secret_for(&claim.access_key_id).ok_or_else(|| ApiError::new(ErrorKind::UnrecognizedClient, MSG_INVALID_TOKEN))?;

    let presigned = matches!(parsed.location, Location::Query { .. });
    let body_hash = hex::encode(digest::digest(&digest::SHA256, body).as_ref());
    let mut payload_hashes: Vec<&str> = Vec::with_capacity(2);
    let content_sha256 = header_str(headers, X_AMZ_CONTENT_SHA256);
    match content_sha256.as_deref() {
        None => {
            payload_hashes.push(&body_hash);
            // A presigned URL may have been made with UNSIGNED-PAYLOAD (S3-style). With an
            // empty body nothing is left unsigned, so accept either form.
            if presigned && body.is_empty() {
                payload_hashes.push(UNSIGNED_PAYLOAD);
            }
        }
        Some(v) if presigned && v == UNSIGNED_PAYLOAD => payload_hashes.push(UNSIGNED_PAYLOAD),
        Some(v) if v.eq_ignore_ascii_case(&body_hash) => payload_hashes.push(v),
        Some(_) => {
            return Err(invalid("The provided 'x-amz-content-sha256' header does not match what was computed."));
        }
    }

    let provided = match hex::decode(claim.signature.as_bytes()) {
        Ok(b) if b.len() == 32 => b,
        _ => return Err(invalid(MSG_SIGNATURE_MISMATCH)),
    };
    let key = signing_key(&secret, &claim.date, &claim.region, &claim.service);
    let mut ok = subtle::Choice::from(0u8);
    for payload_hash in payload_hashes {
        let creq = canonical_request(method, uri, headers, &claim.signed_headers, payload_hash, presigned);
        let sts = string_to_sign(&claim.amz_date, &claim.date, &claim.region, &claim.service, &creq);
        let tag = hmac::sign(&key, sts.as_bytes());
        ok |= tag.as_ref().ct_eq(&provided);
    }
    if bool::from(ok) {
        Ok(parsed.claim)
    } else {
        Err(invalid(MSG_SIGNATURE_MISMATCH))
    }
}

/// Check that the credential scope names the expected region and one of the expected services,
/// with AWS's wording. `region: None` accepts any region.
pub fn check_scope(claim: &SigV4Claim, region: Option<&str>, services: &[&str]) -> Result<(), ApiError> {
    if let Some(region) = region {
        if claim.region != region {
            return Err(invalid(format!("Credential should be scoped to a valid region, not '{}'. ", claim.region)));
        }
    }
    if !services.iter().any(|s| *s == claim.service) {
        let expected = services.first().copied().unwrap_or("");
        return Err(invalid(format!("Credential should be scoped to correct service: '{expected}'. ")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::IncompleteSignature, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidSignature, message)
}

/// First value of a header as text (invalid UTF-8 replaced by U+FFFD).
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()))
}

fn parse(uri: &Uri, headers: &HeaderMap) -> Result<Option<Parsed>, ApiError> {
    let mut auth_values = headers.get_all(http::header::AUTHORIZATION).iter();
    let auth = auth_values.next();
    if auth.is_some() && auth_values.next().is_some() {
        return Err(incomplete("Only one Authorization header may be specified."));
    }
    let query = uri.query().unwrap_or("");
    let presigned = !query.is_empty()
        && form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == Q_ALGORITHM || k == Q_CREDENTIAL || k == Q_SIGNATURE);
    match (auth, presigned) {
        (None, false) => Ok(None),
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        )),
        (Some(value), false) => parse_header_auth(value, headers).map(Some),
        (None, true) => parse_query_auth(query, headers).map(Some),
    }
}

fn parse_header_auth(value: &HeaderValue, headers: &HeaderMap) -> Result<Parsed, ApiError> {
    let raw = String::from_utf8_lossy(value.as_bytes());
    let text = raw.trim_matches(|c| c == ' ' || c == '\t');
    let (algorithm, rest) = match text.find([' ', '\t']) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_matches(|c| c == ' ' || c == '\t');
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!("'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{text}'.")));
        };
        let v = v.trim_matches(|c| c == ' ' || c == '\t');
        match k.trim_matches(|c| c == ' ' || c == '\t') {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    if algorithm != ALGORITHM {
        return Err(incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}'.")));
    }
    let require = |v: Option<&str>, name: &str| match v {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(incomplete(format!("Authorization header requires '{name}' parameter. Authorization={text}"))),
    };
    let credential = require(credential, "Credential")?;
    let signature = require(signature, "Signature")?;
    let signed_headers = require(signed_headers, "SignedHeaders")?;

    let (access_key_id, date, region, service) = parse_credential(&credential)?;
    let signed_headers = parse_signed_headers(&signed_headers)?;

    let (amz_date, epoch, date_header) = if let Some(v) = header_str(headers, X_AMZ_DATE) {
        let epoch = parse_amz_date(&v).ok_or_else(|| bad_iso_date(&v))?;
        (v.into_owned(), epoch, X_AMZ_DATE)
    } else if let Some(v) = header_str(headers, "date") {
        let epoch = parse_http_date(&v)
            .ok_or_else(|| incomplete(format!("Date must be in RFC 1123 format ('Sun, 06 Nov 1994 08:49:37 GMT'). Got '{v}'.")))?;
        (format_amz_date(epoch), epoch, "date")
    } else {
        return Err(incomplete(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={text}"
        )));
    };

    let session_token = header_str(headers, X_AMZ_SECURITY_TOKEN).map(Cow::into_owned);
    Ok(Parsed {
        claim: SigV4Claim { access_key_id, date, region, service, signed_headers, signature, amz_date, session_token },
        location: Location::Header { date_header },
        epoch,
    })
}

fn parse_query_auth(query: &str, _headers: &HeaderMap) -> Result<Parsed, ApiError> {
    const NAMES: [&str; 7] = [Q_ALGORITHM, Q_CREDENTIAL, Q_SIGNATURE, Q_SIGNED_HEADERS, Q_DATE, Q_SECURITY_TOKEN, Q_EXPIRES];
    let mut values: [Option<String>; 7] = Default::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(i) = NAMES.iter().position(|n| *n == k) {
            if values[i].is_some() {
                return Err(incomplete(format!("Duplicate query-string parameter '{k}'. Re-examine the query-string parameters.")));
            }
            values[i] = Some(v.into_owned());
        }
    }
    let [algorithm, credential, signature, signed_headers, date, session_token, expires] = values;
    let require = |v: Option<String>, name: &str| match v {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(incomplete(format!("AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."))),
    };
    let algorithm = require(algorithm, Q_ALGORITHM)?;
    let credential = require(credential, Q_CREDENTIAL)?;
    let signature = require(signature, Q_SIGNATURE)?;
    let signed_headers = require(signed_headers, Q_SIGNED_HEADERS)?;
    let amz_date = require(date, Q_DATE)?;
    if algorithm != ALGORITHM {
        return Err(incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}'.")));
    }
    let expires = match expires {
        None => None,
        Some(v) => {
            let secs = v
                .parse::<u64>()
                .ok()
                .filter(|s| v.bytes().all(|b| b.is_ascii_digit()) && *s > 0)
                .ok_or_else(|| incomplete(format!("X-Amz-Expires must be a positive integer number of seconds. Got '{v}'.")))?;
            if secs > MAX_PRESIGN_EXPIRES_SECS {
                return Err(incomplete(format!("X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES_SECS}")));
            }
            Some(secs)
        }
    };
    let (access_key_id, cdate, region, service) = parse_credential(&credential)?;
    let signed_headers = parse_signed_headers(&signed_headers)?;
    let epoch = parse_amz_date(&amz_date).ok_or_else(|| bad_iso_date(&amz_date))?;
    Ok(Parsed {
        claim: SigV4Claim {
            access_key_id,
            date: cdate,
            region,
            service,
            signed_headers,
            signature,
            amz_date,
            session_token: session_token.filter(|t| !t.is_empty()),
        },
        location: Location::Query { expires },
        epoch,
    })
}

fn bad_iso_date(v: &str) -> ApiError {
    incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{v}'. See http://en.wikipedia.org/wiki/ISO_8601"))
}

/// `AKID/yyyymmdd/region/service/aws4_request` → (akid, date, region, service).
fn parse_credential(credential: &str) -> Result<(String, String, String, String), ApiError> {
    let mut parts = credential.rsplitn(5, '/');
    let terminator = parts.next().unwrap_or("");
    let service = parts.next();
    let region = parts.next();
    let date = parts.next();
    let akid = parts.next();
    let (Some(akid), Some(date), Some(region), Some(service)) = (akid, date, region, service) else {
        return Err(incomplete(format!(
            "Credential should be of the form 'AccessKeyId/yyyymmdd/region/service/aws4_request', not '{credential}'."
        )));
    };
    if terminator != TERMINATOR {
        return Err(incomplete(format!("Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'.")));
    }
    if akid.is_empty() || region.is_empty() || service.is_empty() {
        return Err(incomplete(format!(
            "Credential should be of the form 'AccessKeyId/yyyymmdd/region/service/aws4_request', not '{credential}'."
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!("Credential should be scoped to a date of the form yyyymmdd, not '{date}'.")));
    }
    Ok((akid.to_string(), date.to_string(), region.to_string(), service.to_string()))
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for name in list.split(';') {
        if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(incomplete(format!("SignedHeaders contains an invalid header name: '{list}'.")));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

fn check_time(parsed: &Parsed, now: i64) -> Result<(), ApiError> {
    let t = parsed.epoch;
    let skew = MAX_CLOCK_SKEW_SECS;
    let date = &parsed.claim.amz_date;
    // Not yet current: same rule for both locations.
    if t > now.saturating_add(skew) {
        return Err(invalid(format!(
            "Signature not yet current: {date} is still later than {} ({} + 15 min.)",
            format_amz_date(now.saturating_add(skew)),
            format_amz_date(now)
        )));
    }
    match parsed.location {
        Location::Query { expires: Some(expires) } => {
            let expires = expires as i64; // at most one week, no overflow
            if now > t.saturating_add(expires) {
                return Err(invalid(format!(
                    "Signature expired: {date} is now earlier than {} ({} - {expires} sec.)",
                    format_amz_date(now.saturating_sub(expires)),
                    format_amz_date(now)
                )));
            }
        }
        _ => {
            if t < now.saturating_sub(skew) {
                return Err(invalid(format!(
                    "Signature expired: {date} is now earlier than {} ({} - 15 min.)",
                    format_amz_date(now.saturating_sub(skew)),
                    format_amz_date(now)
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Canonical request, string to sign, signing key
// ---------------------------------------------------------------------------------------------

/// The canonical request, as bytes (header values need not be UTF-8).
fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(uri.path()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(uri.query().unwrap_or(""), presigned).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let lower = name.to_ascii_lowercase();
        let mut first = true;
        let mut any = false;
        for value in headers.get_all(lower.as_str()) {
            any = true;
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, value.as_bytes());
        }
        if !any && lower == "host" {
            // HTTP/2 carries the host in :authority, which ends up in the URI.
            if let Some(authority) = uri.authority() {
                push_trimmed(&mut out, authority.as_str().as_bytes());
            }
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Header value with leading/trailing spaces removed and inner runs of spaces made one.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Non-S3 canonical URI: remove dot segments and empty segments from the raw path, then encode
/// it (again) keeping `/`.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    for s in &segments {
        normalized.push('/');
        normalized.push_str(s);
    }
    let ends_with_slash = ["/", "/.", "/./", "/..", "/../"].iter().any(|e| path.ends_with(e));
    if normalized.is_empty() || (ends_with_slash && !normalized.ends_with('/')) {
        normalized.push('/');
    }
    percent_encode(normalized.as_bytes(), PATH).to_string()
}

/// Decode every parameter, re-encode strictly, sort by (name, value), join with `&`.
fn canonical_query(query: &str, presigned: bool) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !(presigned && k == Q_SIGNATURE))
        .map(|(k, v)| (percent_encode(k.as_bytes(), STRICT).to_string(), percent_encode(v.as_bytes(), STRICT).to_string()))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn string_to_sign(amz_date: &str, date: &str, region: &str, service: &str, canonical_request: &[u8]) -> String {
    let hash = hex::encode(digest::digest(&digest::SHA256, canonical_request).as_ref());
    format!("{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/{TERMINATOR}\n{hash}")
}

const KEY_CACHE_MAX: usize = 256;

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`,
/// cached per (secret, date, region, service). The cache key is a SHA-256 of those, so secrets
/// are not kept in clear.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], [u8; 32]>>> = OnceLock::new();
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [secret, date, region, service] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut cache_key = [0u8; 32];
    cache_key.copy_from_slice(ctx.finish().as_ref());

    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(k) = map.get(&cache_key) {
            return hmac::Key::new(hmac::HMAC_SHA256, k);
        }
    }
    let derived = derive_signing_key(secret, date, region, service);
    if let Ok(mut map) = cache.lock() {
        if map.len() >= KEY_CACHE_MAX {
            map.clear();
        }
        map.insert(cache_key, derived);
    }
    hmac::Key::new(hmac::HMAC_SHA256, &derived)
}

fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k = Vec::with_capacity(4 + secret.len());
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret.as_bytes());
    let mut key = k;
    for part in [date, region, service, TERMINATOR] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes());
        key = tag.as_ref().to_vec();
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&key);
    out
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

use crate::civil::days_from_civil;

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')))
}

fn to_epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
}

/// `yyyymmddThhmmssZ` → epoch seconds.
fn parse_amz_date(v: &str) -> Option<i64> {
    let b = v.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    to_epoch(digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?, digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) → epoch seconds.
fn parse_http_date(v: &str) -> Option<i64> {
    let b = v.trim().as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return None;
    }
    const MONTHS: [&[u8]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let month = MONTHS.iter().position(|m| *m == &b[8..11])? as i64 + 1;
    to_epoch(digits(&b[12..16])?, month, digits(&b[5..7])?, digits(&b[17..19])?, digits(&b[20..22])?, digits(&b[23..25])?)
}

fn format_amz_date(epoch: i64) -> String {
    crate::civil::amz_date(epoch)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;
    use std::time::{Duration, UNIX_EPOCH};

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2024-01-01T12:00:00Z
    const T0: i64 = 1_704_110_400;

    fn secrets(akid: &str) -> Option<String> {
        match akid {
            AKID => Some(SECRET.to_string()),
            "ASIATEMP" => Some("tempsecret/abc+def".to_string()),
            _ => None,
        }
    }

    /// What the server sees: method, origin-form URI, headers, body.
    #[derive(Clone)]
    struct Req {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Req {
        fn verify_at(&self, now: i64) -> Result<SigV4Claim, ApiError> {
            verify(&self.method, &self.uri, &self.headers, &self.body, now, &secrets)
        }
        fn verify(&self) -> Result<SigV4Claim, ApiError> {
            self.verify_at(T0)
        }
        fn auth(&self) -> String {
            self.headers.get("authorization").unwrap().to_str().unwrap().to_string()
        }
        fn set(&mut self, name: &'static str, value: &str) {
            self.headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
    }

    struct Signer<'a> {
        akid: &'a str,
        secret: &'a str,
        token: Option<&'a str>,
        region: &'a str,
        service: &'a str,
        time: i64,
        settings: SigningSettings,
    }

    impl Default for Signer<'_> {
        fn default() -> Self {
            Signer {
                akid: AKID,
                secret: SECRET,
                token: None,
                region: "us-east-1",
                service: "cognito-idp",
                time: T0,
                settings: SigningSettings::default(),
            }
        }
    }

    impl Signer<'_> {
        /// Sign with the official aws-sigv4 signer, then turn the result into what a server sees.
        fn sign(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Req {
            let identity = Credentials::new(self.akid, self.secret, self.token.map(str::to_string), None, "test").into();
            let params = SigningParams::builder()
                .identity(&identity)
                .region(self.region)
                .name(self.service)
                .time(UNIX_EPOCH + Duration::from_secs(self.time as u64))
                .settings(self.settings.clone())
                .build()
                .unwrap()
                .into();
            let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)).unwrap();
            let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
            let mut builder = http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            let mut req = builder.body(()).unwrap();
            instructions.apply_to_request_http1x(&mut req);
            let (parts, ()) = req.into_parts();
            // The server sees the origin-form target, not the absolute URL.
            let pq = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
            Req { method: parts.method, uri: pq.parse().unwrap(), headers: parts.headers, body: body.to_vec() }
        }
    }

    const HOST: &str = "cognito-idp.us-east-1.amazonaws.com";

    fn json_request() -> Req {
        Signer::default().sign(
            "POST",
            &format!("https://{HOST}/"),
            &[
                ("host", HOST),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AWSCognitoIdentityProviderService.ListUserPools"),
            ],
            br#"{"MaxResults":10}"#,
        )
    }

    fn assert_kind(r: Result<SigV4Claim, ApiError>, kind: ErrorKind) -> ApiError {
        match r {
            Ok(c) => panic!("expected {kind:?}, got Ok({c:?})"),
            Err(e) => {
                assert_eq!(e.kind, kind, "{e}");
                e
            }
        }
    }

    // ----- positive cases signed by aws-sigv4 -------------------------------------------------

    #[test]
    fn json11_post_verifies() {
        let req = json_request();
        let claim = req.verify().unwrap();
        assert_eq!(claim.access_key_id, AKID);
        assert_eq!(claim.date, "20240101");
        assert_eq!(claim.amz_date, "20240101T120000Z");
        assert_eq!(claim.region, "us-east-1");
        assert_eq!(claim.service, "cognito-idp");
        assert!(claim.signed_headers.iter().any(|h| h == "x-amz-target"));
        assert!(claim.signed_headers.iter().any(|h| h == "host"));
        assert_eq!(claim.session_token, None);
        assert_eq!(parse_claim(&req.method, &req.uri, &req.headers).unwrap(), Some(claim.clone()));
        check_scope(&claim, Some("us-east-1"), &["cognito-idp"]).unwrap();
        assert_eq!(check_scope(&claim, Some("eu-west-1"), &["cognito-idp"]).unwrap_err().kind, ErrorKind::InvalidSignature);
        assert_eq!(check_scope(&claim, None, &["iam", "sts"]).unwrap_err().kind, ErrorKind::InvalidSignature);
        // Second verification hits the signing-key cache.
        req.verify().unwrap();
    }

    #[test]
    fn query_protocol_form_post_verifies() {
        let signer = Signer { service: "iam", ..Signer::default() };
        let body = b"Action=ListUsers&Version=2010-05-08&PathPrefix=%2Fdivision_abc%2F&Marker=a+b";
        let req = signer.sign(
            "POST",
            "https://iam.amazonaws.com/",
            &[("host", "iam.amazonaws.com"), ("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            body,
        );
        let claim = req.verify().unwrap();
        assert_eq!(claim.service, "iam");
        assert!(claim.signed_headers.iter().any(|h| h == "content-type"));
    }

    #[test]
    fn session_token_verifies_and_is_reported() {
        let signer =
            Signer { akid: "ASIATEMP", secret: "tempsecret/abc+def", token: Some("FwoGZXIvYXdzEJr//token=="), ..Signer::default() };
        let req = signer.sign(
            "POST",
            &format!("https://{HOST}/"),
            &[("host", HOST), ("x-amz-target", "AWSCognitoIdentityProviderService.ListUserPools")],
            b"{}",
        );
        let claim = req.verify().unwrap();
        assert_eq!(claim.access_key_id, "ASIATEMP");
        assert_eq!(claim.session_token.as_deref(), Some("FwoGZXIvYXdzEJr//token=="));
        assert!(claim.signed_headers.iter().any(|h| h == "x-amz-security-token"));
        // Swapping the (signed) token breaks the signature.
        let mut bad = req.clone();
        bad.set("x-amz-security-token", "other");
        assert_kind(bad.verify(), ErrorKind::InvalidSignature);
    }

    fn presigned(expires: u64, token: Option<&str>) -> Req {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        let signer = Signer { service: "sts", token, settings, ..Signer::default() };
        signer.sign("GET", "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15", &[("host", "sts.amazonaws.com")], b"")
    }

    #[test]
    fn presigned_get_verifies() {
        let req = presigned(900, None);
        assert!(req.headers.get("authorization").is_none());
        assert!(req.uri.query().unwrap().contains("X-Amz-Signature="));
        let claim = req.verify().unwrap();
        assert_eq!(claim.service, "sts");
        assert_eq!(claim.signed_headers, vec!["host".to_string()]);
        assert_eq!(claim.amz_date, "20240101T120000Z");
        // Valid until X-Amz-Expires has passed, not just 15 minutes.
        let long = presigned(3600, None);
        long.verify_at(T0 + 3600).unwrap();
        let e = assert_kind(long.verify_at(T0 + 3601), ErrorKind::InvalidSignature);
        assert!(e.message.starts_with("Signature expired: 20240101T120000Z is now earlier than"), "{}", e.message);
        // Tampering with a query parameter breaks it.
        let mut bad = req.clone();
        bad.uri = req.uri.to_string().replace("GetCallerIdentity", "GetSessionToken").parse().unwrap();
        assert_kind(bad.verify(), ErrorKind::InvalidSignature);
    }

    #[test]
    fn presigned_with_session_token() {
        let signer_token = "IQoJb3JpZ2luX2VjE+/token with space";
        let req = presigned(900, Some(signer_token));
        let claim = req.verify().unwrap();
        assert_eq!(claim.session_token.as_deref(), Some(signer_token));
    }

    #[test]
    fn path_and_query_needing_encoding() {
        let signer = Signer { service: "execute-api", ..Signer::default() };
        for url in [
            "https://example.amazonaws.com/test/@connections/JBDvjfGEIAMCERw%3D",
            "https://example.amazonaws.com/a%20b/caf%C3%A9/x+y/~z/!$'()*,;=:@/",
            "https://example.amazonaws.com/foo/./bar/../baz//qux",
            "https://example.amazonaws.com/%2F%2e%2E/",
            "https://example.amazonaws.com/p?b=2&a=%20x&a=1&c&d=a+b&e=%2B&f=%E2%98%83&g=~-._*",
        ] {
            let req = signer.sign("GET", url, &[("host", "example.amazonaws.com")], b"");
            req.verify().unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn date_header_instead_of_x_amz_date() {
        // aws-sigv4 always uses X-Amz-Date, so build this one by hand from the spec.
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("date", HeaderValue::from_static("Mon, 01 Jan 2024 12:00:00 GMT"));
        let signed = vec!["date".to_string(), "host".to_string()];
        let uri: Uri = "/".parse().unwrap();
        let empty = hex::encode(digest::digest(&digest::SHA256, b"").as_ref());
        let creq = canonical_request(&Method::GET, &uri, &headers, &signed, &empty, false);
        assert_eq!(
            String::from_utf8(creq.clone()).unwrap(),
            format!("GET\n/\n\ndate:Mon, 01 Jan 2024 12:00:00 GMT\nhost:example.amazonaws.com\n\ndate;host\n{empty}")
        );
        let sts = string_to_sign("20240101T120000Z", "20240101", "us-east-1", "iam", &creq);
        let sig = hex::encode(
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &derive_signing_key(SECRET, "20240101", "us-east-1", "iam")), sts.as_bytes())
                .as_ref(),
        );
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/20240101/us-east-1/iam/aws4_request, SignedHeaders=date;host, Signature={sig}"
            ))
            .unwrap(),
        );
        let claim = verify(&Method::GET, &uri, &headers, b"", T0, &secrets).unwrap();
        assert_eq!(claim.amz_date, "20240101T120000Z");
        // Unsigned Date header: rejected.
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature={sig}"
            ))
            .unwrap(),
        );
        assert_kind(verify(&Method::GET, &uri, &headers, b"", T0, &secrets), ErrorKind::InvalidSignature);
    }

    // ----- negative cases ---------------------------------------------------------------------

    #[test]
    fn wrong_secret_is_invalid_signature() {
        let req = Signer { secret: "not-the-secret", ..Signer::default() }.sign(
            "POST",
            &format!("https://{HOST}/"),
            &[("host", HOST), ("x-amz-target", "AWSCognitoIdentityProviderService.ListUserPools")],
            b"{}",
        );
        let e = assert_kind(req.verify(), ErrorKind::InvalidSignature);
        assert_eq!(e.message, MSG_SIGNATURE_MISMATCH);
    }

    #[test]
    fn unknown_key_is_unrecognized_client() {
        let req = Signer { akid: "AKIDUNKNOWN", ..Signer::default() }.sign("POST", &format!("https://{HOST}/"), &[("host", HOST)], b"{}");
        let e = assert_kind(req.verify(), ErrorKind::UnrecognizedClient);
        assert_eq!(e.message, "The security token included in the request is invalid.");
    }

    #[test]
    fn tampered_body_is_invalid_signature() {
        let mut req = json_request();
        req.body = br#"{"MaxResults":60}"#.to_vec();
        let e = assert_kind(req.verify(), ErrorKind::InvalidSignature);
        assert_eq!(e.message, MSG_SIGNATURE_MISMATCH);
    }

    #[test]
    fn tampered_signed_header_is_invalid_signature() {
        let mut req = json_request();
        req.set("x-amz-target", "AWSCognitoIdentityProviderService.DeleteUserPool");
        assert_kind(req.verify(), ErrorKind::InvalidSignature);
        let mut req = json_request();
        req.set("host", "evil.example.com");
        assert_kind(req.verify(), ErrorKind::InvalidSignature);
        // Removing a signed header breaks it too.
        let mut req = json_request();
        req.headers.remove("x-amz-target");
        assert_kind(req.verify(), ErrorKind::InvalidSignature);
        // And so does changing the method or the path.
        let mut req = json_request();
        req.method = Method::PUT;
        assert_kind(req.verify(), ErrorKind::InvalidSignature);
        let mut req = json_request();
        req.uri = "/other".parse().unwrap();
        assert_kind(req.verify(), ErrorKind::InvalidSignature);
    }

    #[test]
    fn unsigned_header_added_still_verifies() {
        let mut req = json_request();
        req.set("user-agent", "something/else");
        req.set("x-forwarded-for", "10.0.0.1");
        req.headers.append("x-extra", HeaderValue::from_bytes(b"\xff\xfe garbage").unwrap());
        req.verify().unwrap();
        // Extra whitespace in a signed header value is canonicalised away.
        let mut req = json_request();
        req.set("x-amz-target", "   AWSCognitoIdentityProviderService.ListUserPools  ");
        req.verify().unwrap();
    }

    #[test]
    fn clock_skew_over_15_minutes_is_rejected() {
        let req = json_request();
        req.verify_at(T0 + 15 * 60).unwrap();
        req.verify_at(T0 - 15 * 60).unwrap();
        let e = assert_kind(req.verify_at(T0 + 15 * 60 + 1), ErrorKind::InvalidSignature);
        assert_eq!(e.message, "Signature expired: 20240101T120000Z is now earlier than 20240101T120001Z (20240101T121501Z - 15 min.)");
        let e = assert_kind(req.verify_at(T0 - 15 * 60 - 1), ErrorKind::InvalidSignature);
        assert_eq!(
            e.message,
            "Signature not yet current: 20240101T120000Z is still later than 20240101T115959Z (20240101T114459Z + 15 min.)"
        );
        // Extreme clocks do not overflow.
        assert_kind(req.verify_at(i64::MAX), ErrorKind::InvalidSignature);
        assert_kind(req.verify_at(i64::MIN), ErrorKind::InvalidSignature);
    }

    #[test]
    fn credential_scope_date_must_match_request_day() {
        let mut req = json_request();
        let auth = req.auth().replace("/20240101/", "/20240102/");
        req.set("authorization", &auth);
        let e = assert_kind(req.verify(), ErrorKind::InvalidSignature);
        assert_eq!(
            e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240102' != '20240101', from '20240101T120000Z'."
        );
    }

    #[test]
    fn host_must_be_signed() {
        let mut settings = SigningSettings::default();
        let mut excluded = settings.excluded_headers.take().unwrap_or_default();
        excluded.push("host".into());
        settings.excluded_headers = Some(excluded);
        let req = Signer { settings, ..Signer::default() }.sign(
            "POST",
            &format!("https://{HOST}/"),
            &[("host", HOST), ("x-amz-target", "AWSCognitoIdentityProviderService.ListUserPools")],
            b"{}",
        );
        assert!(!req.auth().contains("host"), "{}", req.auth());
        let e = assert_kind(req.verify(), ErrorKind::InvalidSignature);
        assert_eq!(e.message, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }

    #[test]
    fn content_sha256_header() {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let req = Signer { settings, ..Signer::default() }.sign("POST", &format!("https://{HOST}/"), &[("host", HOST)], b"{}");
        assert!(req.headers.contains_key("x-amz-content-sha256"));
        req.verify().unwrap();
        // Header that does not match the body.
        let mut bad = req.clone();
        bad.body = b"{\"x\":1}".to_vec();
        assert_kind(bad.verify(), ErrorKind::InvalidSignature);
        // UNSIGNED-PAYLOAD is refused for header-signed requests.
        let mut bad = json_request();
        bad.set("x-amz-content-sha256", UNSIGNED_PAYLOAD);
        let e = assert_kind(bad.verify(), ErrorKind::InvalidSignature);
        assert!(e.message.contains("x-amz-content-sha256"));
    }

    #[test]
    fn presigned_unsigned_payload() {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        let signer = Signer { service: "sts", settings, ..Signer::default() };
        let identity = Credentials::new(AKID, SECRET, None, None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(UNIX_EPOCH + Duration::from_secs(T0 as u64))
            .settings(signer.settings.clone())
            .build()
            .unwrap()
            .into();
        let url = "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15";
        let signable =
            SignableRequest::new("GET", url, [("host", "sts.amazonaws.com")].into_iter(), SignableBody::UnsignedPayload).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut r = http::Request::builder().method("GET").uri(url).header("host", "sts.amazonaws.com").body(()).unwrap();
        instructions.apply_to_request_http1x(&mut r);
        let uri: Uri = r.uri().path_and_query().unwrap().as_str().parse().unwrap();
        verify(&Method::GET, &uri, r.headers(), b"", T0, &secrets).unwrap();
        // With a body, UNSIGNED-PAYLOAD is only accepted when the client says so.
        assert_kind(verify(&Method::GET, &uri, r.headers(), b"x", T0, &secrets), ErrorKind::InvalidSignature);
        let mut h = r.headers().clone();
        h.insert("x-amz-content-sha256", HeaderValue::from_static(UNSIGNED_PAYLOAD));
        verify(&Method::GET, &uri, &h, b"x", T0, &secrets).unwrap();
    }

    #[test]
    fn no_signature_at_all() {
        let uri: Uri = "/?Action=ListUsers".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20240101T120000Z"));
        assert_eq!(parse_claim(&Method::POST, &uri, &headers).unwrap(), None);
        let e = assert_kind(verify(&Method::POST, &uri, &headers, b"", T0, &secrets), ErrorKind::MissingAuthenticationToken);
        assert_eq!(e.message, MSG_MISSING_TOKEN);
    }

    #[test]
    fn header_and_query_signature_together_is_incomplete() {
        let p = presigned(900, None);
        let mut req = json_request();
        req.uri = p.uri.clone();
        assert_kind(req.verify(), ErrorKind::IncompleteSignature);
    }

    fn with_auth(value: &[u8]) -> Result<SigV4Claim, ApiError> {
        let mut req = json_request();
        req.headers.insert("authorization", HeaderValue::from_bytes(value).unwrap());
        // parse_claim and verify must agree on malformed input.
        let parsed = parse_claim(&req.method, &req.uri, &req.headers);
        let verified = req.verify();
        if let Err(e) = &parsed {
            assert_eq!(verified.as_ref().unwrap_err(), e);
        }
        verified
    }

    #[test]
    fn garbage_authorization_is_incomplete_signature() {
        let cases: &[&[u8]] = &[
            b"",
            b"garbage",
            b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
            b"Basic dXNlcjpwYXNzMQ==",
            b"AWS4-HMAC-SHA256",
            b"AWS4-HMAC-SHA256 ",
            b"AWS4-HMAC-SHA256 Credential=",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws5_request, SignedHeaders=host, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2024/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=//20240101///aws4_request, SignedHeaders=host, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host;;x-amz-date, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=ho st, Signature=ab",
            b"AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=ab",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request SignedHeaders=host Signature=ab",
            b"AWS4-HMAC-SHA256 ,,,===,,,",
            b"AWS4-HMAC-SHA256 \xff\xfe\x80=\x81, \xc3",
            b"\xff\xff\xff\xff",
            b"AWS4-HMAC-SHA256 Credential=\xe2\x98\x83/20240101/r/s/aws4_request, SignedHeaders=\xe2\x98\x83, Signature=ab",
        ];
        for case in cases {
            let e = assert_kind(with_auth(case), ErrorKind::IncompleteSignature);
            assert!(!e.message.is_empty());
        }
        // AWS's wording for the common Bearer mistake.
        let e = with_auth(b"Bearer token").unwrap_err();
        assert_eq!(e.message, "'token' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer token'.");
        let e = with_auth(b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host")
            .unwrap_err();
        assert!(e.message.starts_with("Authorization header requires 'Signature' parameter."), "{}", e.message);

        // Well-formed but wrong signature values are a mismatch, not a crash.
        let good = json_request().auth();
        let sig_at = good.find("Signature=").unwrap() + "Signature=".len();
        for bad_sig in ["zz", "00", &"0".repeat(64), &"g".repeat(64), &good[sig_at..].to_uppercase()] {
            let v = format!("{}{bad_sig}", &good[..sig_at]);
            let r = with_auth(v.as_bytes());
            if bad_sig == good[sig_at..].to_uppercase() {
                r.unwrap(); // hex is case-insensitive
            } else {
                assert_kind(r, ErrorKind::InvalidSignature);
            }
        }
    }

    #[test]
    fn garbage_dates_and_duplicates() {
        for date in ["", "garbage", "20240101T120000", "20241301T120000Z", "20240230T120000Z", "2024010１T12000Z", "20240101T246000Z"] {
            let mut req = json_request();
            req.headers.insert("x-amz-date", HeaderValue::from_bytes(date.as_bytes()).unwrap());
            assert_kind(req.verify(), ErrorKind::IncompleteSignature);
        }
        let mut req = json_request();
        req.headers.insert("x-amz-date", HeaderValue::from_bytes(b"\xff\xff").unwrap());
        assert_kind(req.verify(), ErrorKind::IncompleteSignature);
        // No date at all.
        let mut req = json_request();
        req.headers.remove("x-amz-date");
        let e = assert_kind(req.verify(), ErrorKind::IncompleteSignature);
        assert!(e.message.starts_with("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."));
        // Two Authorization headers.
        let mut req = json_request();
        let auth = req.auth();
        req.headers.append("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_kind(req.verify(), ErrorKind::IncompleteSignature);
    }

    #[test]
    fn garbage_presigned_queries_are_incomplete() {
        let good = presigned(900, None).uri.to_string();
        let cases = [
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256".to_string(),
            "/?X-Amz-Signature=abc".to_string(),
            "/?X-Amz-Credential=%FF%FE".to_string(),
            good.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=nope"),
            good.replace("X-Amz-Expires=900", "X-Amz-Expires=-5"),
            good.replace("X-Amz-Expires=900", "X-Amz-Expires=604801"),
            good.replace("X-Amz-Expires=900", "X-Amz-Expires=99999999999999999999999"),
            good.replace("X-Amz-Date=20240101T120000Z", "X-Amz-Date=yesterday"),
            good.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="),
            format!("{good}&X-Amz-Signature=00"),
        ];
        for uri in cases {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
            let e = verify(&Method::GET, &uri, &headers, b"", T0, &secrets).unwrap_err();
            assert_eq!(e.kind, ErrorKind::IncompleteSignature, "{uri}: {e}");
        }
    }

    /// Cut and mangle a valid Authorization header at every position: no input may panic.
    #[test]
    fn mangled_authorization_never_panics() {
        let good = json_request().auth();
        let bytes = good.as_bytes();
        for i in 0..=bytes.len() {
            let _ = with_auth(&bytes[..i]);
            let _ = with_auth(&bytes[i..]);
            for replacement in [b'=', b',', b' ', b'/', b';', 0x80, 0xff, b'\t'] {
                let mut v = bytes.to_vec();
                if i < v.len() {
                    v[i] = replacement;
                    let _ = with_auth(&v);
                }
            }
        }
        // Query strings too.
        let q = presigned(900, None).uri.to_string();
        for i in 0..=q.len() {
            for candidate in [&q[..i], &q[i..]] {
                if let Ok(uri) = candidate.parse::<Uri>() {
                    let _ = verify(&Method::GET, &uri, &HeaderMap::new(), b"", T0, &secrets);
                    let _ = parse_claim(&Method::GET, &uri, &HeaderMap::new());
                }
            }
        }
    }

    // ----- AWS SigV4 test suite vectors (aws-signing-test-suite/v4, as shipped in aws-sigv4) ---

    /// 2015-08-30T12:36:00Z
    const SUITE_NOW: i64 = 1_440_938_160;

    fn suite_request(method: Method, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<SigV4Claim, ApiError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        let uri: Uri = target.parse().unwrap();
        verify(&method, &uri, &map, body, SUITE_NOW, &|k| (k == AKID).then(|| SECRET.to_string()))
    }

    const SUITE_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

    #[test]
    fn suite_get_vanilla_header() {
        let claim = suite_request(
            Method::GET,
            "/",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(claim.service, "service");
        // The suite's canonical request and string to sign, byte for byte.
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        let creq = canonical_request(
            &Method::GET,
            &"/".parse().unwrap(),
            &h,
            &["host".into(), "x-amz-date".into()],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            false,
        );
        assert_eq!(
            String::from_utf8(creq.clone()).unwrap(),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign("20150830T123600Z", "20150830", "us-east-1", "service", &creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn suite_get_vanilla_query() {
        suite_request(
            Method::GET,
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d",
            &[("Host", "example.amazonaws.com")],
            b"",
        )
        .unwrap();
    }

    #[test]
    fn suite_get_vanilla_with_session_token() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let claim = suite_request(
            Method::GET,
            "/",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Security-Token", token),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(claim.session_token.as_deref(), Some(token));
        let claim = suite_request(
            Method::GET,
            &format!("/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Security-Token={token}&X-Amz-Signature=7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c"),
            &[("Host", "example.amazonaws.com")],
            b"",
        )
        .unwrap();
        assert_eq!(claim.session_token.as_deref(), Some(token));
    }

    #[test]
    fn suite_get_vanilla_query_order_key_case() {
        suite_request(
            Method::GET,
            "/?Param2=value2&Param1=value1",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")),
            ],
            b"",
        )
        .unwrap();
    }

    #[test]
    fn suite_get_header_value_trim() {
        suite_request(
            Method::GET,
            "/",
            &[
                ("Host", "example.amazonaws.com"),
                ("My-Header1", " value1"),
                ("My-Header2", " \"a   b   c\""),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")),
            ],
            b"",
        )
        .unwrap();
    }

    #[test]
    fn suite_get_slash_dot_slash_normalized() {
        suite_request(
            Method::GET,
            "/./",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")),
            ],
            b"",
        )
        .unwrap();
    }

    #[test]
    fn suite_post_vanilla_query() {
        suite_request(
            Method::POST,
            "/?Param1=value1",
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")),
            ],
            b"",
        )
        .unwrap();
    }

    #[test]
    fn suite_post_x_www_form_urlencoded() {
        let body = b"Param1=value1";
        suite_request(
            Method::POST,
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("Content-Length", "13"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
                ("Authorization", &format!("{SUITE_AUTH}, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")),
            ],
            body,
        )
        .unwrap();
        // Presigned form of the same request.
        suite_request(
            Method::POST,
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Expires=3600&X-Amz-Signature=89a40deed0f26f9461242825a082d2222717248abc7ab41f552ad84a94ad46e9",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("Content-Length", "13"),
            ],
            body,
        )
        .unwrap();
    }

    #[test]
    fn canonical_uri_double_encodes_like_the_sdks() {
        // aws-signing-test-suite/v4/double-encode-path canonical URI.
        assert_eq!(canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"), "/test/%40connections/JBDvjfGEIAMCERw%253D");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//a//b/"), "/a/b/");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("/../.."), "/");
        assert_eq!(canonical_query("b=2&a=1&a=0&c", false), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("x=a+b%2Bc&X-Amz-Signature=1", true), "x=a%20b%2Bc");
    }

    #[test]
    fn date_helpers_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_NOW));
        assert_eq!(format_amz_date(SUITE_NOW), "20150830T123600Z");
        assert_eq!(parse_amz_date("20240229T000000Z"), Some(1_709_164_800));
        assert_eq!(parse_amz_date("20230229T000000Z"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(SUITE_NOW));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        let _ = format_amz_date(i64::MAX);
        let _ = format_amz_date(i64::MIN);
    }

    #[test]
    fn test_clock_is_what_the_comments_say() {
        assert_eq!(format_amz_date(T0), "20240101T120000Z");
    }
}
