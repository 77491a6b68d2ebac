//! USER_AUTH, the choice-based sign-in: the client names a PREFERRED_CHALLENGE or is offered
//! SELECT_CHALLENGE with the first factors the pool allows and the user can use
//! (PASSWORD, PASSWORD_SRP, EMAIL_OTP, SMS_OTP).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::signin::Flow;
use super::{Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::UserRow;

impl Service {
    /// The pool's allowed first factors (SignInPolicy.AllowedFirstAuthFactors; PASSWORD by default).
    fn allowed_first_factors(pool: &Pool) -> Vec<String> {
        pool.config
            .policies
            .sign_in_policy
            .as_ref()
            .and_then(|p| p.get("AllowedFirstAuthFactors"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_else(|| vec!["PASSWORD".into()])
    }

    fn available_challenges(pool: &Pool, user: &UserRow) -> Vec<String> {
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
