//! USER_AUTH, the choice-based sign-in: the client names a PREFERRED_CHALLENGE or is offered
//! SELECT_CHALLENGE with the first factors the pool allows and the user can use
//! (PASSWORD, PASSWORD_SRP, EMAIL_OTP, SMS_OTP); and the sign-in straight after sign-up, where
//! the code that confirmed the account counts as the first factor.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::signin::Flow;
use super::users::CONFIRMED;
use super::{Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::UserRow;

/// Session kinds for signing in after sign-up: issued by SignUp, then by ConfirmSignUp.
const SIGNING_UP: &str = "SIGN_UP";
const SIGNED_UP: &str = "SIGN_UP_CONFIRMED";

impl Service {
    /// The pool's allowed first factors (SignInPolicy.AllowedFirstAuthFactors; PASSWORD by default).
    pub(super) fn allowed_first_factors(pool: &Pool) -> Vec<String> {
        pool.config
            .policies
            .sign_in_policy
            .as_ref()
            .and_then(|p| p.get("AllowedFirstAuthFactors"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_else(|| vec!["PASSWORD".into()])
    }

    pub(super) fn available_challenges(pool: &Pool, user: &UserRow) -> Vec<String> {
        let allowed = Self::allowed_first_factors(pool);
        let mut out = vec![];
        if allowed.iter().any(|a| a == "PASSWORD") && user.verifier.is_some() {
            out.push("PASSWORD".to_string());
            out.push("PASSWORD_SRP".to_string());
        }
        if allowed.iter().any(|a| a == "EMAIL_OTP") && user.attr("email").is_some() {
            out.push("EMAIL_OTP".to_string());
        }
        if allowed.iter().any(|a| a == "SMS_OTP") && user.attr("phone_number").is_some() {
            out.push("SMS_OTP".to_string());
        }
        out
    }

    pub(super) async fn user_auth_start(&self, ctx: &Ctx, pool: &Pool, client: &Client, p: &HashMap<String, String>) -> ApiResult<Value> {
        let username = p.get("USERNAME").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter USERNAME"))?;
        self.check_secret_hash(client, username, p.get("SECRET_HASH").map(String::as_str))?;
        let Some(user) = self.find_user(pool, username).await? else {
            return Err(if client.config.prevent_user_existence_errors() {
                ApiError::not_authorized("Incorrect username or password.")
            } else {
                ApiError::user_not_found()
            });
        };
        let available = Self::available_challenges(pool, &user);
        if let Some(pref) = p.get("PREFERRED_CHALLENGE") {
            if available.iter().any(|a| a == pref) {
                return self.first_factor(ctx, pool, client, user, pref, p).await;
            }
        }
        let flow = Flow { flow: "USER_AUTH".into(), device_key: p.get("DEVICE_KEY").cloned(), ..Flow::default() };
        let session = self.new_session(pool, client, &user, "SELECT_CHALLENGE", &flow).await?;
        Ok(json!({
            "ChallengeName": "SELECT_CHALLENGE",
            "Session": session,
            "ChallengeParameters": {},
            "AvailableChallenges": available,
        }))
    }

    /// Runs the chosen first factor. `p` holds PASSWORD or SRP_A where the factor needs them.
    async fn first_factor(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: UserRow, factor: &str, p: &HashMap<String, String>) -> ApiResult<Value> {
        match factor {
            "PASSWORD" => {
                let password = p.get("PASSWORD").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter PASSWORD"))?;
                self.password_sign_in(ctx, pool, client, &user.username, password, "USER_AUTH", p.get("DEVICE_KEY").map(String::as_str)).await
            }
            "PASSWORD_SRP" => {
                let mut q = p.clone();
                q.insert("USERNAME".into(), user.username.clone());
                q.remove("SECRET_HASH");
                let mut out = self.srp_start_checked(ctx, pool, client, &q, Flow { flow: "USER_AUTH".into(), ..Flow::default() }, true).await?;
                out["ChallengeName"] = json!("PASSWORD_VERIFIER");
                Ok(out)
            }
            "EMAIL_OTP" | "SMS_OTP" => {
                if !user.enabled {
                    return Err(ApiError::not_authorized("User is disabled."));
                }
                let flow = Flow { flow: "USER_AUTH".into(), device_key: p.get("DEVICE_KEY").cloned(), ..Flow::default() };
                self.mfa_challenge(ctx, pool, client, &user, flow, factor).await
            }
            other => Err(ApiError::invalid_parameter(format!("The challenge {other} is not available for this user."))),
        }
    }

    /// Whether sign-up hands out a Session for signing in with USER_AUTH afterwards.
    pub(super) fn offers_sign_up_session(client: &Client) -> bool {
        client.config.allows("USER_AUTH")
    }

    /// The Session SignUp and ConfirmSignUp answer with: single use, for this client and user,
    /// valid for the client's AuthSessionValidity.
    pub(super) async fn sign_up_session(&self, pool: &Pool, client: &Client, user: &UserRow, confirmed: bool) -> ApiResult<String> {
        let flow = Flow { flow: "USER_AUTH".into(), ..Flow::default() };
        self.new_session(pool, client, user, if confirmed { SIGNED_UP } else { SIGNING_UP }, &flow).await
    }

    /// ConfirmSignUp's optional Session from SignUp: any SignUp session given is used up (and one
    /// of another user's is logged); it decides nothing, since the confirmation code confirms.
    pub(super) async fn take_sign_up_session(&self, pool: &Pool, client: &Client, user: &UserRow, session: Option<&str>) {
        if let Some(token) = session.filter(|s| !s.is_empty()) {
            if let Ok((p, c, u, _)) = self.resume(token, SIGNING_UP).await {
                if (p.row.id.as_str(), c.row.id.as_str(), u.username_key.as_str()) != (pool.row.id.as_str(), client.row.id.as_str(), user.username_key.as_str()) {
                    tracing::info!(pool = %pool.row.id, "ConfirmSignUp was given another user's SignUp session; ignored");
                }
            }
        }
    }

    /// InitiateAuth USER_AUTH with the Session from ConfirmSignUp: the confirmation code was the
    /// first factor, so what follows is MFA (if required) and tokens. Once per confirmation.
    pub(super) async fn sign_in_after_sign_up(&self, ctx: &Ctx, pool: &Pool, client: &Client, p: &HashMap<String, String>, session: &str) -> ApiResult<Value> {
        let username = p.get("USERNAME").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter USERNAME"))?;
        self.check_secret_hash(client, username, p.get("SECRET_HASH").map(String::as_str))?;
        let expired = || ApiError::not_authorized("Invalid session for the user, session is expired.");
        let (spool, sclient, user, mut flow) = self.resume(session, SIGNED_UP).await.map_err(|_| expired())?;
        let named = self.find_user(pool, username).await?;
        if spool.row.id != pool.row.id || sclient.row.id != client.row.id || named.is_none_or(|n| n.username_key != user.username_key) {
            return Err(expired());
        }
        if !user.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        if user.status != CONFIRMED {
            return Err(expired());
        }
        self.pre_authentication(ctx, pool, &user).await?;
        flow.device_key = p.get("DEVICE_KEY").cloned();
        // (The confirmation code was the factor; AuthEvents name only Password and Mfa challenges.)
        self.next_step(ctx, pool, client, user, flow).await
    }

    pub(super) async fn answer_select_challenge(&self, ctx: &Ctx, pool: &Pool, client: &Client, session: &str, r: &HashMap<String, String>) -> ApiResult<Value> {
        let (_, _, user, flow) = self.resume(session, "SELECT_CHALLENGE").await?;
        self.check_user_secret_hash(client, &user, r.get("USERNAME").map(String::as_str), r.get("SECRET_HASH").map(String::as_str))?;
        let answer = r.get("ANSWER").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter ANSWER"))?;
        if !Self::available_challenges(pool, &user).iter().any(|a| a == answer) {
            return Err(ApiError::invalid_parameter(format!("The challenge {answer} is not available for this user.")));
        }
        let mut p = r.clone();
        if let Some(dk) = flow.device_key {
            p.entry("DEVICE_KEY".into()).or_insert(dk);
        }
        self.first_factor(ctx, pool, client, user, answer, &p).await
    }
}
