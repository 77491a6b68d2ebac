//! STS: temporary credentials (minted for identity pools and AssumeRoleWithWebIdentity), the
//! trust-policy check that admits them, and GetCallerIdentity. A temporary secret is stored
//! sealed and its session token only as a MAC; requests signed with them are checked by
//! [`Service::temporary_secret`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::iam::{iso, Params, Role};
use super::{Ctx, Service};
use crate::crypto::seal;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_bytes;
use crate::store::Record;

pub const CREDS: &str = "sts_creds";
/// Lifetime of identity-pool credentials.
pub const CREDENTIALS_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCreds {
    pub secret: String,
    pub token_mac: String,
    pub role_arn: String,
    pub role_id: String,
    pub session_name: String,
    pub expires: i64,
}

/// Temporary credentials as handed out.
pub struct Minted {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: String,
    pub expires_ms: i64,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
}

/// Who signed a request with temporary credentials.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub arn: String,
    pub user_id: String,
}

/// What the web identity claims, for the trust policy's conditions.
pub struct WebIdentity<'a> {
    pub provider: &'a str,
    pub aud: &'a str,
    pub sub: &'a str,
    pub amr: Vec<String>,
}

fn alnum(svc: &Service, n: usize, alphabet: &[u8]) -> String {
    random_bytes(svc.random.as_ref(), n).iter().map(|b| alphabet[(*b as usize) % alphabet.len()] as char).collect()
}

/// IAM's string matching for StringLike: `*` any run, `?` any one character.
fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.first() {
            None => v.is_empty(),
            Some('*') => (0..=v.len()).any(|i| go(&p[1..], &v[i..])),
            Some('?') => !v.is_empty() && go(&p[1..], &v[1..]),
            Some(c) => v.first() == Some(c) && go(&p[1..], &v[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &value.chars().collect::<Vec<_>>())
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// The trust policy's verdict on `action`: some Allow statement for it that `applies` to the
/// caller (principal and conditions), and no such Deny.
fn trust_decision(role: &Role, action: &str, applies: impl Fn(&Value) -> bool) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(&role.assume_role_policy_document) else { return false };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let mut allowed = false;
    for s in statements {
        let action_ok = strings(s.get("Action").unwrap_or(&Value::Null)).iter().any(|a| like(&a.to_ascii_lowercase(), action));
        if !action_ok || !applies(s) {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    allowed
}

/// Whether a role's trust policy lets `who` assume it with AssumeRoleWithWebIdentity: an Allow
/// statement for the federated provider and the action whose conditions all hold, and no Deny
/// that matches.
pub fn trust_admits(role: &Role, who: &WebIdentity) -> bool {
    trust_decision(role, "sts:assumerolewithwebidentity", |s| {
        let principal_ok = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(p) => strings(p.get("Federated").unwrap_or(&Value::Null)).iter().any(|f| f == who.provider),
            None => false,
        };
        principal_ok && conditions_hold(s.get("Condition"), who)
    })
}

/// Whether a role's trust policy lets an AWS principal (`callers`: the ARNs the caller goes by)
/// call sts:AssumeRole. Statements with conditions are not applied.
pub fn trust_admits_principal(role: &Role, callers: &[String], account: &str) -> bool {
    let root = format!("arn:aws:iam::{account}:root");
    trust_decision(role, "sts:assumerole", |s| {
        let principals: Vec<String> = match s.get("Principal") {
            Some(Value::String(p)) if p == "*" => vec!["*".into()],
            Some(p) => strings(p.get("AWS").unwrap_or(&Value::Null)),
            None => vec![],
        };
        let principal_ok = principals.iter().any(|p| p == "*" || p == account || *p == root || callers.iter().any(|c| c == p));
        principal_ok && s.get("Condition").is_none_or(|c| c.as_object().is_none_or(|m| m.is_empty()))
    })
}

fn conditions_hold(cond: Option<&Value>, who: &WebIdentity) -> bool {
    let Some(Value::Object(ops)) = cond else { return true };
    for (op, keys) in ops {
        let Value::Object(keys) = keys else { return false };
        let (set_op, base) = match op.split_once(':') {
            Some((q, b)) => (Some(q), b),
            None => (None, op.as_str()),
        };
        for (key, wanted) in keys {
            let key = key.to_ascii_lowercase();
            let provider = who.provider.to_ascii_lowercase();
            let values: Vec<String> = match key.strip_prefix(&format!("{provider}:")) {
                Some("aud") => vec![who.aud.to_string()],
                Some("sub") => vec![who.sub.to_string()],
                Some("amr") => who.amr.clone(),
                _ => vec![],
            };
            let wanted = strings(wanted);
            let test = |v: &str| {
                wanted.iter().any(|w| match base {
                    "StringEquals" => v == w,
                    "StringLike" => like(w, v),
                    "StringEqualsIgnoreCase" => v.eq_ignore_ascii_case(w),
                    _ => false,
                })
            };
            let negated = |v: &str| {
                !wanted.iter().any(|w| match base {
                    "StringNotEquals" => v == w,
                    "StringNotLike" => like(w, v),
                    _ => true,
                })
            };
            let check = |v: &str| if base.starts_with("StringNot") { negated(v) } else { test(v) };
            let ok = match set_op {
                Some("ForAnyValue") => values.iter().any(|v| check(v)),
                Some("ForAllValues") => values.iter().all(|v| check(v)),
                _ => values.len() == 1 && check(&values[0]),
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

impl Service {
    /// Mints temporary credentials for `role`, valid for `seconds`.
    pub async fn mint_credentials(&self, role: &Role, session_name: &str, seconds: i64) -> ApiResult<Minted> {
        use base64::Engine;
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let access_key_id = format!("ASIA{}", alnum(self, 16, UPPER));
        let secret = alnum(self, 40, SECRET);
        let session_token = base64::engine::general_purpose::STANDARD.encode(random_bytes(self.random.as_ref(), 192));
        let expires_ms = self.now() + seconds * 1000;
        let stored = StoredCreds {
            secret: base64::engine::general_purpose::STANDARD.encode(self.master.seal(format!("sts:{access_key_id}").as_bytes(), secret.as_bytes())),
            token_mac: hex::encode(self.master.mac("sts-token", session_token.as_bytes())),
            role_arn: role.arn.clone(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_string(),
            expires: expires_ms,
        };
        let body = serde_json::to_string(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
        self.store.insert_record(&Record { kind: CREDS.into(), id: access_key_id.clone(), scope: String::new(), body, created: self.now(), version: 1 }).await?;
        Ok(Minted {
            access_key_id,
            secret,
            session_token,
            expires_ms,
            assumed_role_arn: format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", self.config.account_id, role.role_name),
            assumed_role_id: format!("{}:{session_name}", role.role_id),
        })
    }

    /// The secret of temporary credentials for a signed request, once its session token matches
    /// and it has not expired; and who they belong to.
    pub async fn temporary_secret(&self, access_key_id: &str, session_token: Option<&str>) -> ApiResult<(String, Caller)> {
        let invalid = || ApiError::new(ErrorKind::UnrecognizedClient, "The security token included in the request is invalid.");
        let rec = self.store.get_record(CREDS, access_key_id).await?.ok_or_else(invalid)?;
        let c: StoredCreds = serde_json::from_str(&rec.body).map_err(|_| invalid())?;
        let token = session_token.ok_or_else(invalid)?;
        let mac = hex::encode(self.master.mac("sts-token", token.as_bytes()));
        if !seal::ct_eq(mac.as_bytes(), c.token_mac.as_bytes()) {
            return Err(invalid());
        }
        if c.expires <= self.now() {
            return Err(ApiError::new(ErrorKind::ExpiredToken, "The security token included in the request is expired"));
        }
        use base64::Engine;
        let sealed = base64::engine::general_purpose::STANDARD.decode(&c.secret).map_err(|_| invalid())?;
        let secret = self.master.open(format!("sts:{access_key_id}").as_bytes(), &sealed).map_err(|_| invalid())?;
        let role_name = c.role_arn.rsplit('/').next().unwrap_or_default();
        let caller = Caller {
            arn: format!("arn:aws:sts::{}:assumed-role/{role_name}/{}", self.config.account_id, c.session_name),
            user_id: format!("{}:{}", c.role_id, c.session_name),
        };
        Ok((String::from_utf8(secret).map_err(|_| invalid())?, caller))
    }

    pub async fn sts_get_caller_identity(&self, ctx: &Ctx, _p: &Params) -> ApiResult<Value> {
        let account = self.config.account_id.clone();
        Ok(match &ctx.caller {
            Some(c) => json!({ "UserId": c.user_id, "Account": account, "Arn": c.arn }),
            None => json!({ "UserId": account, "Account": account, "Arn": format!("arn:aws:iam::{account}:root") }),
        })
    }

    /// AssumeRole by a signed caller whom the role's trust policy names (or whose account it names).
    pub async fn sts_assume_role(&self, ctx: &Ctx, p: &Params) -> ApiResult<Value> {
        let role_arn = p.req("RoleArn")?;
        let session = p.req("RoleSessionName")?;
        let account = self.config.account_id.clone();
        let denied = || ApiError::new(ErrorKind::AccessDenied, format!("User is not authorized to perform: sts:AssumeRole on resource: {role_arn}"));
        let role = self.role_by_arn(role_arn).await?.ok_or_else(denied)?;
        let mut callers = vec![];
        match &ctx.caller {
            Some(c) => {
                callers.push(c.arn.clone());
                // An assumed-role session goes by its role's ARN too.
                if let Some(rest) = c.arn.strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/")) {
                    if let Some((name, _)) = rest.split_once('/') {
                        if let Some(r) = self.role_by_name(name).await? {
                            callers.push(r.arn);
                        }
                    }
                }
            }
            None => callers.push(format!("arn:aws:iam::{account}:root")),
        }
        if !trust_admits_principal(&role, &callers, &account) {
            return Err(denied());
        }
        let seconds = p.get("DurationSeconds").and_then(|d| d.parse::<i64>().ok()).unwrap_or(3600).clamp(900, role.max_session_duration.max(3600));
        let m = self.mint_credentials(&role, session, seconds).await?;
        Ok(json!({
            "Credentials": { "AccessKeyId": m.access_key_id, "SecretAccessKey": m.secret, "SessionToken": m.session_token, "Expiration": iso(m.expires_ms) },
            "AssumedRoleUser": { "AssumedRoleId": m.assumed_role_id, "Arn": m.assumed_role_arn },
        }))
    }

    /// Credentials for the classic flow: an OpenID token from GetOpenIdToken exchanged for a role
    /// whose trust policy admits it.
    pub async fn sts_assume_role_with_web_identity(&self, _ctx: &Ctx, p: &Params) -> ApiResult<Value> {
        let role_arn = p.req("RoleArn")?;
        let session = p.req("RoleSessionName")?;
        let token = p.req("WebIdentityToken")?;
        let claims = self.verify_open_id_token(token).await?;
        let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default().to_string();
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let amr: Vec<String> = claims.get("amr").map(strings).unwrap_or_default();
        let role = self.role_by_arn(role_arn).await?.ok_or_else(|| ApiError::new(ErrorKind::AccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity"))?;
        let who = WebIdentity { provider: "cognito-identity.amazonaws.com", aud: &aud, sub: &sub, amr };
        if !trust_admits(&role, &who) {
            return Err(ApiError::new(ErrorKind::AccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity"));
        }
        let seconds = p.get("DurationSeconds").and_then(|d| d.parse::<i64>().ok()).unwrap_or(3600).clamp(900, role.max_session_duration.max(3600));
        let m = self.mint_credentials(&role, session, seconds).await?;
        Ok(json!({
            "Credentials": { "AccessKeyId": m.access_key_id, "SecretAccessKey": m.secret, "SessionToken": m.session_token, "Expiration": iso(m.expires_ms) },
            "SubjectFromWebIdentityToken": sub,
            "AssumedRoleUser": { "AssumedRoleId": m.assumed_role_id, "Arn": m.assumed_role_arn },
            "Provider": "cognito-identity.amazonaws.com",
            "Audience": aud,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(doc: Value) -> Role {
        Role {
            role_name: "r".into(),
            role_id: "AROAX".into(),
            arn: "arn:aws:iam::123456789012:role/r".into(),
            path: "/".into(),
            assume_role_policy_document: doc.to_string(),
            description: None,
            max_session_duration: 3600,
            create_date: 0,
            attached: vec![],
            inline: Default::default(),
        }
    }

    #[test]
    fn the_seed_trust_policy_admits_authenticated_identities_of_its_pool_only() {
        let r = role(json!({ "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": { "Federated": "cognito-identity.amazonaws.com" },
            "Condition": { "StringEquals": { "cognito-identity.amazonaws.com:aud": "us-east-1:pool" },
                           "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" } } }] }));
        let who = |aud, amr: &[&str]| WebIdentity { provider: "cognito-identity.amazonaws.com", aud, sub: "us-east-1:id", amr: amr.iter().map(|s| s.to_string()).collect() };
        assert!(trust_admits(&r, &who("us-east-1:pool", &["authenticated", "cognito-idp.us-east-1.amazonaws.com/p"])));
        assert!(!trust_admits(&r, &who("us-east-1:other", &["authenticated"])));
        assert!(!trust_admits(&r, &who("us-east-1:pool", &["unauthenticated"])));
        let open = role(json!({ "Statement": { "Effect": "Allow", "Action": ["sts:*"], "Principal": { "Federated": ["cognito-identity.amazonaws.com"] } } }));
        assert!(trust_admits(&open, &who("x", &[])));
        let other = role(json!({ "Statement": { "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": { "Federated": "accounts.google.com" } } }));
        assert!(!trust_admits(&other, &who("x", &[])));
        assert!(like("cognito-idp.*", "cognito-idp.us-east-1.amazonaws.com/x"));
        assert!(!like("a?c", "abbc"));
    }
}
