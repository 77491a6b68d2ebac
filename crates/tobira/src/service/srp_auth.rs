//! USER_SRP_AUTH: the PASSWORD_VERIFIER challenge and its proof (fact sheet §2).
//!
//! InitiateAuth computes B and the session key at once (so a bad A is refused up front) and
//! answers with SALT, SRP_B and a SECRET_BLOCK. Cognito returns no Session for this challenge:
//! the SECRET_BLOCK is the handle, 64 random bytes whose MAC keys a single-use, expiring
//! session holding the sealed session key. The proof is checked in constant time against the
//! TIMESTAMP exactly as the client sent it.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::signin::Flow;
use super::users::{FORCE_CHANGE_PASSWORD, RESET_REQUIRED, UNCONFIRMED};
use super::{Client, Ctx, Pool, Service};
use crate::crypto::srp;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_bytes;
use crate::store::{SessionRow, UserRow};

/// How far the client's TIMESTAMP may be from tobira's clock.
pub const TIMESTAMP_SKEW_SECS: i64 = 300;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Service {
    pub(super) async fn srp_start(&self, ctx: &Ctx, pool: &Pool, client: &Client, p: &HashMap<String, String>, flow_name: &str) -> ApiResult<Value> {
        let username = p.get("USERNAME").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter USERNAME"))?;
        self.check_secret_hash(client, username, p.get("SECRET_HASH").map(String::as_str))?;
        self.srp_start_checked(ctx, pool, client, p, Flow { flow: flow_name.to_string(), ..Flow::default() }, true).await
    }

    /// USER_SRP_AUTH once the caller's secret hash (if any) has been checked. `base` is the flow
    /// the challenge continues (CUSTOM_AUTH carries its history); `pre_auth` fires the pre
    /// authentication trigger (not again inside a custom authentication).
    pub(super) async fn srp_start_checked(&self, ctx: &Ctx, pool: &Pool, client: &Client, p: &HashMap<String, String>, base: Flow, pre_auth: bool) -> ApiResult<Value> {
        use base64::Engine;
        let username = p.get("USERNAME").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter USERNAME"))?;
        let a_hex = p.get("SRP_A").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter SRP_A"))?;
        if a_hex.is_empty() || !a_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::validation(&[format!(
                "Value '{a_hex}' at 'a' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-fA-F]+$"
            )]));
        }
        let big_a = srp::from_hex(a_hex).ok_or_else(|| ApiError::invalid_parameter("SRP_A is not valid hex."))?;
        let user = self.find_user(pool, username).await?;
        if let (Some(u), true) = (&user, pre_auth) {
            self.pre_authentication(ctx, pool, u).await?;
        }
        let (user_id, salt, verifier, username_key) = match &user {
            Some(u) => {
                let (salt, v) = self.verifier(u)?.ok_or_else(|| ApiError::not_authorized("Incorrect username or password."))?;
                (u.username.clone(), salt, v, u.username_key.clone())
            }
            None if client.config.prevent_user_existence_errors() => {
                // A deterministic decoy per (pool, username): same salt and user id every time.
                let seed = self.master.mac("srp-decoy", format!("{}\n{username}", pool.row.id).as_bytes());
                let mut salt = seed[..16].to_vec();
                salt[0] = 0x10 | (salt[0] & 0x6f);
                let id = uuid::Builder::from_random_bytes(seed[16..32].try_into().expect("16 bytes")).into_uuid().to_string();
                let v = srp::compute_verifier(srp::pool_name(&pool.row.id), &id, &b64().encode(seed), &salt);
                (id, salt, v, String::new())
            }
            None => return Err(ApiError::user_not_found()),
        };
        let eph = srp::server_ephemeral(self.random.as_ref(), &verifier);
        let key = srp::server_session_key_for(&big_a, &eph, &verifier)
            .map_err(|_| ApiError::not_authorized("Incorrect username or password."))?;
        let block = random_bytes(self.random.as_ref(), 64);
        let block_b64 = b64().encode(&block);
        let sealed_key = self.master.seal(b"srp-session-key", &key);
        let flow = Flow {
            device_key: p.get("DEVICE_KEY").cloned(),
            srp_key: Some(b64().encode(sealed_key)),
            user_id: Some(user_id.clone()),
            decoy: user.is_none(),
            expires: self.now() + client.config.auth_session_validity.unwrap_or(3) * 60_000,
            ..base
        };
        if let (Some(dk), Some(u)) = (&flow.device_key, &user) {
            match self.store.get_device(dk).await? {
                Some(d) if d.pool_id == pool.row.id && d.username_key == u.username_key => {}
                _ => return Err(ApiError::resource_not_found("Device does not exist.")),
            }
        }
        self.store
            .put_session(&SessionRow {
                id_mac: self.master.mac("srp-block", &block).to_vec(),
                pool_id: pool.row.id.clone(),
                client_id: client.row.id.clone(),
                username_key,
                challenge: "PASSWORD_VERIFIER".into(),
                payload: serde_json::to_string(&flow).map_err(|e| ApiError::internal(e.to_string()))?,
                expires: flow.expires,
            })
            .await?;
        Ok(json!({
            "ChallengeName": "PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "SALT": srp::to_hex(&salt),
                "SECRET_BLOCK": block_b64,
                "SRP_B": srp::to_hex(&eph.big_b),
                "USERNAME": user_id,
                "USER_ID_FOR_SRP": user_id,
            },
        }))
    }

    pub(super) async fn srp_verify(&self, ctx: &Ctx, pool: &Pool, client: &Client, r: &HashMap<String, String>) -> ApiResult<Value> {
        use base64::Engine;
        let get = |n: &str| r.get(n).map(String::as_str).ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {n}")));
        let username = get("USERNAME")?;
        let block_b64 = get("PASSWORD_CLAIM_SECRET_BLOCK")?;
        let timestamp = get("TIMESTAMP")?;
        let signature = get("PASSWORD_CLAIM_SIGNATURE")?;
        let incorrect = || ApiError::not_authorized("Incorrect username or password.");
        let block = b64().decode(block_b64).map_err(|_| ApiError::not_authorized("Invalid session for the user."))?;
        if let Some(dk) = r.get("DEVICE_KEY").filter(|d| !d.is_empty()) {
            // An unknown device is refused without spending the challenge: clients
            // (amazon-cognito-identity-js) answer the same challenge again without it.
            if let Some(s) = self.store.peek_session(&self.master.mac("srp-block", &block)).await? {
                match self.store.get_device(dk).await? {
                    Some(d) if d.pool_id == s.pool_id && d.username_key == s.username_key => {}
                    _ => return Err(ApiError::resource_not_found("Device does not exist.")),
                }
            }
        }
        let s = self
            .store
            .take_session(&self.master.mac("srp-block", &block))
            .await?
            .ok_or_else(|| ApiError::not_authorized("Invalid session for the user, session is expired."))?;
        if s.expires < self.now() || s.pool_id != pool.row.id || s.client_id != client.row.id || s.challenge != "PASSWORD_VERIFIER" {
            return Err(ApiError::not_authorized("Invalid session for the user, session is expired."));
        }
        let mut flow: Flow = serde_json::from_str(&s.payload).map_err(|_| ApiError::internal("corrupt session"))?;
        if flow.decoy {
            return Err(incorrect());
        }
        let user_id = flow.user_id.clone().unwrap_or_default();
        if let Some(dk) = r.get("DEVICE_KEY").filter(|d| !d.is_empty()) {
            // amazon-cognito-identity-js names its device here rather than in InitiateAuth.
            flow.device_key = Some(dk.clone());
        }
        let user = self.store.get_user(&pool.row.id, &s.username_key).await?.ok_or_else(incorrect)?;
        self.check_user_secret_hash(client, &user, Some(username), r.get("SECRET_HASH").map(String::as_str))?;
        if user.locked_until > self.now() {
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(ApiError::not_authorized("Password attempts exceeded"));
        }
        let ts = parse_timestamp(timestamp).ok_or_else(|| ApiError::invalid_parameter("TIMESTAMP is not in the format 'ddd MMM d HH:mm:ss UTC yyyy'."))?;
        if (ts - self.now() / 1000).abs() > TIMESTAMP_SKEW_SECS {
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        let sealed = b64().decode(flow.srp_key.take().unwrap_or_default()).map_err(|_| ApiError::internal("corrupt session"))?;
        let key: [u8; 16] = self
            .master
            .open(b"srp-session-key", &sealed)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| ApiError::internal("corrupt session key"))?;
        let expected = srp::claim_signature(&key, srp::pool_name(&pool.row.id), &user_id, &block, timestamp);
        if !srp::verify_claim_signature(&expected, signature) {
            self.record_failure(&user).await?;
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(incorrect());
        }
        self.after_password_proof(ctx, pool, client, user, flow).await
    }

    /// What follows a correct password (by USER_PASSWORD_AUTH or SRP): status checks, then tokens
    /// or the next challenge.
    pub(super) async fn after_password_proof(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: UserRow, mut flow: Flow) -> ApiResult<Value> {
        flow.challenges.push(("Password".into(), true));
        if !user.enabled {
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(ApiError::not_authorized("User is disabled."));
        }
        let user = if user.failed_attempts > 0 {
            let key = user.username_key.clone();
            self.with_user_retry(|| async {
                let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                u.failed_attempts = 0;
                u.locked_until = 0;
                self.save_user(&mut u, false).await?;
                Ok(u)
            })
            .await?
        } else {
            user
        };
        match user.status.as_str() {
            UNCONFIRMED => Err(ApiError::new(ErrorKind::UserNotConfirmed, "User is not confirmed.")),
            RESET_REQUIRED => Err(ApiError::new(ErrorKind::PasswordResetRequired, "Password reset required for the user")),
            FORCE_CHANGE_PASSWORD => {
                if user.password_expires.is_some_and(|e| e < self.now()) {
                    return Err(ApiError::not_authorized("Temporary password has expired and must be reset by an administrator."));
                }
                self.new_password_challenge(pool, client, &user, &flow).await
            }
            _ if flow.flow == "CUSTOM_AUTH" => {
                let mut flow = flow;
                flow.custom.push(super::signin::CustomStep { challenge_name: "PASSWORD_VERIFIER".into(), challenge_result: true, challenge_metadata: None });
                self.custom_define(ctx, pool, client, user, flow, None).await
            }
            _ => self.next_step(ctx, pool, client, user, flow).await,
        }
    }
}

/// `Tue Jan 2 03:04:05 UTC 2024` → epoch seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_dow, mon, day, hms, utc, year] = parts.as_slice() else { return None };
    if *utc != "UTC" {
        return None;
    }
    let m = crate::civil::MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let d: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let y: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<i64> = hms.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, se] = hms.as_slice() else { return None };
    if !(0..24).contains(h) || !(0..60).contains(mi) || !(0..61).contains(se) {
        return None;
    }
    let days = crate::civil::days_from_civil(y, m, d);
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("Tue Jan 2 03:04:05 UTC 2024"), Some(1_704_164_645));
        assert_eq!(parse_timestamp("Thu Feb 29 00:00:00 UTC 2024"), Some(1_709_164_800));
        assert_eq!(parse_timestamp("Tue Jan 2 03:04:05 GMT 2024"), None);
        assert_eq!(parse_timestamp("Tue Foo 2 03:04:05 UTC 2024"), None);
        assert_eq!(parse_timestamp("garbage"), None);
        assert_eq!(parse_timestamp("Tue Jan 2 25:04:05 UTC 2024"), None);
    }
}
