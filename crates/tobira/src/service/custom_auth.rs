//! CUSTOM_AUTH: DefineAuthChallenge decides, CreateAuthChallenge asks, VerifyAuthChallengeResponse
//! judges (fact sheet §5.3, recordings in cognito-observed §1.7). SRP may run inside it: a client
//! that starts with `CHALLENGE_NAME=SRP_A` sees PASSWORD_VERIFIER when Define asks for it.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::signin::{CustomStep, Flow};
use super::triggers::{self, event_attributes, Trigger};
use super::users::{CONFIRMED, UNCONFIRMED};
use super::{Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::store::UserRow;

/// A custom authentication may not go on for ever.
const MAX_STEPS: usize = 16;

impl Service {
    pub(super) async fn custom_start(&self, ctx: &Ctx, pool: &Pool, client: &Client, p: &HashMap<String, String>) -> ApiResult<Value> {
        let username = p.get("USERNAME").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter USERNAME"))?;
        self.check_secret_hash(client, username, p.get("SECRET_HASH").map(String::as_str))?;
        if triggers::configured(&pool.config.lambda_config, Trigger::DefineAuthChallenge).is_none() {
            return Err(ApiError::invalid_parameter("Custom auth lambda trigger is not configured for the user pool."));
        }
        let Some(user) = self.find_user(pool, username).await? else {
            return Err(if client.config.prevent_user_existence_errors() {
                ApiError::not_authorized("Incorrect username or password.")
            } else {
                ApiError::user_not_found()
            });
        };
        self.pre_authentication(ctx, pool, &user).await?;
        if !user.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        if user.status == UNCONFIRMED {
            return Err(ApiError::new(ErrorKind::UserNotConfirmed, "User is not confirmed."));
        }
        let mut flow = Flow { flow: "CUSTOM_AUTH".into(), device_key: p.get("DEVICE_KEY").cloned(), ..Flow::default() };
        let srp = p.get("CHALLENGE_NAME").is_some_and(|c| c == "SRP_A");
        if srp {
            flow.custom.push(CustomStep { challenge_name: "SRP_A".into(), challenge_result: true, challenge_metadata: None });
        }
        self.custom_define(ctx, pool, client, user, flow, srp.then_some(p)).await
    }

    /// Asks DefineAuthChallenge what comes next, and does it. `srp` holds InitiateAuth's
    /// parameters while PASSWORD_VERIFIER may still be asked for.
    pub(super) async fn custom_define(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: UserRow, mut flow: Flow, srp: Option<&HashMap<String, String>>) -> ApiResult<Value> {
        if flow.custom.len() > MAX_STEPS {
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        let request = triggers::with_metadata(json!({ "userAttributes": event_attributes(&user), "session": flow.custom }), ctx);
        let response = json!({ "challengeName": null, "issueTokens": null, "failAuthentication": null });
        let r = self
            .fire(ctx, pool, Trigger::DefineAuthChallenge, "DefineAuthChallenge_Authentication", &user.username, request, response)
            .await?
            .unwrap_or_default();
        let flag = |k: &str| r.get(k).is_some_and(|v| v == &Value::Bool(true) || v == "true");
        if flag("failAuthentication") {
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Custom"), false).await;
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        if flag("issueTokens") {
            if user.status != CONFIRMED {
                return Err(ApiError::not_authorized("Incorrect username or password."));
            }
            flow.mfa_done = true;
            flow.device_key = None;
            return self.next_step(ctx, pool, client, user, flow).await;
        }
        match r.get("challengeName").and_then(Value::as_str) {
            Some("CUSTOM_CHALLENGE") => self.custom_create(ctx, pool, client, user, flow).await,
            Some("PASSWORD_VERIFIER") => {
                let Some(p) = srp else {
                    return Err(ApiError::new(ErrorKind::InvalidLambdaResponse, "Invalid lambda response: PASSWORD_VERIFIER needs SRP_A in the InitiateAuth call."));
                };
                let mut q = p.clone();
                q.insert("USERNAME".into(), user.username.clone());
                self.srp_start_checked(ctx, pool, client, &q, flow, false).await
            }
            _ => Err(triggers::unrecognizable()),
        }
    }

    async fn custom_create(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: UserRow, mut flow: Flow) -> ApiResult<Value> {
        let request = triggers::with_metadata(
            json!({ "userAttributes": event_attributes(&user), "challengeName": "CUSTOM_CHALLENGE", "session": flow.custom }),
            ctx,
        );
        let response = json!({ "publicChallengeParameters": null, "privateChallengeParameters": null, "challengeMetadata": null });
        let r = self
            .fire(ctx, pool, Trigger::CreateAuthChallenge, "CreateAuthChallenge_Authentication", &user.username, request, response)
            .await?
            .unwrap_or_default();
        let strings = |k: &str| -> ApiResult<Map<String, Value>> {
            match r.get(k) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(m)) => Ok(m
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))))
                    .collect()),
                Some(_) => Err(triggers::unrecognizable()),
            }
        };
        let public = strings("publicChallengeParameters")?;
        flow.private_params = Some(Value::Object(strings("privateChallengeParameters")?));
        flow.challenge_metadata = r.get("challengeMetadata").and_then(Value::as_str).map(str::to_string);
        let session = self.new_session(pool, client, &user, "CUSTOM_CHALLENGE", &flow).await?;
        let mut params = public;
        params.insert("USERNAME".into(), json!(user.username));
        Ok(json!({ "ChallengeName": "CUSTOM_CHALLENGE", "Session": session, "ChallengeParameters": params }))
    }

    pub(super) async fn answer_custom_challenge(&self, ctx: &Ctx, pool: &Pool, client: &Client, session: &str, r: &HashMap<String, String>) -> ApiResult<Value> {
        let (_, _, user, mut flow) = self.resume(session, "CUSTOM_CHALLENGE").await?;
        self.check_user_secret_hash(client, &user, r.get("USERNAME").map(String::as_str), r.get("SECRET_HASH").map(String::as_str))?;
        let answer = r.get("ANSWER").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter ANSWER"))?;
        let request = triggers::with_metadata(
            json!({
                "userAttributes": event_attributes(&user),
                "privateChallengeParameters": flow.private_params.take().unwrap_or_else(|| json!({})),
                "challengeAnswer": answer,
            }),
            ctx,
        );
        let v = self
            .fire(ctx, pool, Trigger::VerifyAuthChallengeResponse, "VerifyAuthChallengeResponse_Authentication", &user.username, request, json!({ "answerCorrect": null }))
            .await?;
        let correct = match v {
            // No verify trigger: no answer can be right.
            None => false,
            Some(v) => v.get("answerCorrect").is_some_and(|a| a == &Value::Bool(true) || a == "true"),
        };
        flow.custom.push(CustomStep { challenge_name: "CUSTOM_CHALLENGE".into(), challenge_result: correct, challenge_metadata: flow.challenge_metadata.take() });
        flow.challenges.push(("Custom".into(), correct));
        self.custom_define(ctx, pool, client, user, flow, None).await
    }
}
