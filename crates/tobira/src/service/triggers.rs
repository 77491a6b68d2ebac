//! Lambda triggers: the events Cognito sends to a pool's `LambdaConfig` functions and what
//! their answers change (fact sheet §5, recordings in cognito-observed §1).
//!
//! The functions themselves are reached through the [`Triggers`](crate::ports::triggers::Triggers)
//! port; this module builds the events, maps failures to Cognito's errors and reads the answers.
//! The flows that fire triggers (sign-up, sign-in, messages, tokens) call in here.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{region_of_pool, Ctx, Pool, Service};
use crate::crypto::seal;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::triggers::{parse_arn, InvokeError};
use crate::store::UserRow;

/// The triggers a pool can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    PreSignUp,
    PostConfirmation,
    PreAuthentication,
    PostAuthentication,
    PreTokenGeneration,
    UserMigration,
    CustomMessage,
    DefineAuthChallenge,
    CreateAuthChallenge,
    VerifyAuthChallengeResponse,
    CustomEmailSender,
    CustomSmsSender,
}

impl Trigger {
    /// The name Cognito uses in error messages, and the LambdaConfig key.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::PreSignUp => "PreSignUp",
            Trigger::PostConfirmation => "PostConfirmation",
            Trigger::PreAuthentication => "PreAuthentication",
            Trigger::PostAuthentication => "PostAuthentication",
            Trigger::PreTokenGeneration => "PreTokenGeneration",
            Trigger::UserMigration => "UserMigration",
            Trigger::CustomMessage => "CustomMessage",
            Trigger::DefineAuthChallenge => "DefineAuthChallenge",
            Trigger::CreateAuthChallenge => "CreateAuthChallenge",
            Trigger::VerifyAuthChallengeResponse => "VerifyAuthChallengeResponse",
            Trigger::CustomEmailSender => "CustomEmailSender",
            Trigger::CustomSmsSender => "CustomSMSSender",
        }
    }

    /// The trigger a `triggerSource` belongs to (`TokenGeneration_*` is PreTokenGeneration).
    pub fn of_source(source: &str) -> Option<Trigger> {
        let prefix = source.split('_').next().unwrap_or_default();
        Some(match prefix {
            "PreSignUp" => Trigger::PreSignUp,
            "PostConfirmation" => Trigger::PostConfirmation,
            "PreAuthentication" => Trigger::PreAuthentication,
            "PostAuthentication" => Trigger::PostAuthentication,
            "TokenGeneration" => Trigger::PreTokenGeneration,
            "UserMigration" => Trigger::UserMigration,
            "CustomMessage" => Trigger::CustomMessage,
            "DefineAuthChallenge" => Trigger::DefineAuthChallenge,
            "CreateAuthChallenge" => Trigger::CreateAuthChallenge,
            "VerifyAuthChallengeResponse" => Trigger::VerifyAuthChallengeResponse,
            "CustomEmailSender" => Trigger::CustomEmailSender,
            "CustomSMSSender" => Trigger::CustomSmsSender,
            _ => return None,
        })
    }
}

/// The function a pool names for `trigger`, with the event version it expects.
pub fn configured(lambda_config: &Map<String, Value>, trigger: Trigger) -> Option<(String, &'static str)> {
    let arn_in = |key: &str| -> Option<String> {
        match lambda_config.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(o) => o.get("LambdaArn").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
            _ => None,
        }
    };
    match trigger {
        Trigger::PreTokenGeneration => {
            if let Some(arn) = arn_in("PreTokenGenerationConfig") {
                let version = match lambda_config.get("PreTokenGenerationConfig").and_then(|c| c.get("LambdaVersion")).and_then(Value::as_str) {
                    Some("V2_0") => "2",
                    Some("V3_0") => "3",
                    _ => "1",
                };
                return Some((arn, version));
            }
            arn_in("PreTokenGeneration").map(|a| (a, "1"))
        }
        t => arn_in(t.name()).map(|a| (a, "1")),
    }
}

/// Checks and completes a LambdaConfig as CreateUserPool / UpdateUserPool store it: every ARN a
/// Lambda function ARN, the legacy `PreTokenGeneration` and `PreTokenGenerationConfig` kept in
/// step, custom senders only with a KMS key.
pub fn normalize_lambda_config(mut c: Map<String, Value>) -> ApiResult<Map<String, Value>> {
    const PLAIN: &[&str] = &[
        "PreSignUp",
        "CustomMessage",
        "PostConfirmation",
        "PreAuthentication",
        "PostAuthentication",
        "DefineAuthChallenge",
        "CreateAuthChallenge",
        "VerifyAuthChallengeResponse",
        "PreTokenGeneration",
        "UserMigration",
    ];
    let bad_arn = |field: &str, v: &str| {
        ApiError::validation(&[format!(
            "Value '{v}' at 'lambdaConfig.{}' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:[\\w+=/,.@-]+:[\\w+=/,.@-]+:([\\w+=/,.@-]*)?:[0-9]+:[\\w+=/,.@-]+(:[\\w+=/,.@-]+)?(:[\\w+=/,.@-]+)?",
            lower_first(field)
        )])
    };
    for key in PLAIN {
        if let Some(v) = c.get(*key) {
            let s = v.as_str().ok_or_else(|| ApiError::invalid_parameter(format!("LambdaConfig.{key} must be a string.")))?;
            if parse_arn(s).is_none() {
                return Err(bad_arn(key, s));
            }
        }
    }
    for key in ["PreTokenGenerationConfig", "CustomSMSSender", "CustomEmailSender"] {
        if let Some(v) = c.get(key) {
            let arn = v.get("LambdaArn").and_then(Value::as_str).unwrap_or_default();
            if parse_arn(arn).is_none() {
                return Err(bad_arn(&format!("{key}.lambdaArn"), arn));
            }
            let version = v.get("LambdaVersion").and_then(Value::as_str).unwrap_or_default();
            let allowed: &[&str] = if key == "PreTokenGenerationConfig" { &["V1_0", "V2_0", "V3_0"] } else { &["V1_0"] };
            if !allowed.contains(&version) {
                return Err(ApiError::validation(&[format!(
                    "Value '{version}' at 'lambdaConfig.{}.lambdaVersion' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    lower_first(key),
                    allowed.join(", ")
                )]));
            }
        }
    }
    if (c.contains_key("CustomSMSSender") || c.contains_key("CustomEmailSender")) && c.get("KMSKeyID").is_none_or(|k| k.as_str().is_none_or(|s| s.is_empty())) {
        return Err(ApiError::invalid_parameter("KMSKeyID must be provided when using custom sender lambda triggers."));
    }
    match (c.get("PreTokenGeneration").cloned(), c.get("PreTokenGenerationConfig").cloned()) {
        (Some(Value::String(arn)), None) => {
            c.insert("PreTokenGenerationConfig".into(), json!({ "LambdaVersion": "V1_0", "LambdaArn": arn }));
        }
        (None, Some(cfg)) => {
            if let Some(arn) = cfg.get("LambdaArn") {
                c.insert("PreTokenGeneration".into(), arn.clone());
            }
        }
        (Some(Value::String(a)), Some(cfg)) if cfg.get("LambdaArn").and_then(Value::as_str) != Some(a.as_str()) => {
            return Err(ApiError::invalid_parameter("The PreTokenGeneration ARN and PreTokenGenerationConfig.LambdaArn must be the same."));
        }
        _ => {}
    }
    Ok(c)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A user's attributes as trigger events carry them: `sub` and `cognito:user_status` first,
/// every value a string.
pub fn event_attributes(user: &UserRow) -> Value {
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.sub));
    m.insert("cognito:user_status".into(), json!(user.status));
    for (n, v) in &user.attributes {
        if n != "sub" {
            m.insert(n.clone(), json!(v));
        }
    }
    Value::Object(m)
}

/// `[{Name, Value}]` lists as a name → value map (ValidationData, attribute lists).
pub fn pairs_to_map(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect())
}

fn metadata_value(m: &HashMap<String, String>) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(keys.into_iter().map(|k| (k.clone(), Value::String(m[k].clone()))).collect())
}

impl Ctx {
    /// The `clientMetadata` a trigger fired by this request gets, when it gets one.
    pub fn trigger_metadata(&self) -> Option<Value> {
        if self.metadata_from_initiate {
            return None;
        }
        // amazon-cognito-identity-js sends `ClientMetadata: {}` on every call; an empty map is
        // treated as none sent.
        self.client_metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_value)
    }

    /// InitiateAuth's ClientMetadata, which pre authentication and user migration see as
    /// `validationData`.
    pub fn initiate_metadata(&self) -> Option<Value> {
        if !self.metadata_from_initiate {
            return None;
        }
        self.client_metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_value)
    }
}

/// Adds `clientMetadata` to a request object when the caller sent some.
pub fn with_metadata(mut request: Value, ctx: &Ctx) -> Value {
    if let (Some(m), Value::Object(r)) = (ctx.trigger_metadata(), &mut request) {
        r.insert("clientMetadata".into(), m);
    }
    request
}

/// Turns a port failure into the error Cognito gives the API caller.
pub fn invoke_error(trigger: Trigger, e: InvokeError) -> ApiError {
    match e {
        InvokeError::Handler { message, .. } => {
            ApiError::new(ErrorKind::UserLambdaValidation, format!("{} failed with error {}.", trigger.name(), message.trim_end_matches('.')))
        }
        InvokeError::Failed(m) => {
            tracing::warn!(trigger = trigger.name(), error = %m, "trigger invocation failed");
            let cause = if m.contains("timed out") || m.contains("within") { "Socket timeout while invoking Lambda function" } else { "Lambda function failed to run" };
            ApiError::new(ErrorKind::UnexpectedLambda, format!("{} invocation failed due to error {cause}.", trigger.name()))
        }
        InvokeError::NotFound(m) => {
            tracing::warn!(trigger = trigger.name(), error = %m, "trigger function not found");
            ApiError::new(ErrorKind::UnexpectedLambda, format!("{} invocation failed due to error ResourceNotFoundException.", trigger.name()))
        }
    }
}

pub fn unrecognizable() -> ApiError {
    ApiError::new(ErrorKind::InvalidLambdaResponse, "Unrecognizable lambda output")
}

impl Service {
    /// The event envelope, keys in the order Cognito sends them.
    pub fn trigger_event(&self, ctx: &Ctx, pool: &Pool, version: &str, source: &str, user_name: &str, request: Value, response: Value) -> Value {
        json!({
            "version": version,
            "region": region_of_pool(&pool.row.id),
            "userPoolId": pool.row.id,
            "userName": user_name,
            "callerContext": {
                "awsSdkVersion": "aws-sdk-unknown-unknown",
                "clientId": ctx.client_id.as_deref().unwrap_or("CLIENT_ID_NOT_APPLICABLE"),
            },
            "triggerSource": source,
            "request": request,
            "response": response,
        })
    }

    /// Fires `trigger` synchronously when the pool has it. Returns the handler's `response`
    /// object (`None` when the pool has no such trigger).
    pub async fn fire(
        &self,
        ctx: &Ctx,
        pool: &Pool,
        trigger: Trigger,
        source: &str,
        user_name: &str,
        request: Value,
        response: Value,
    ) -> ApiResult<Option<Value>> {
        let Some((arn, version)) = configured(&pool.config.lambda_config, trigger) else { return Ok(None) };
        let event = self.trigger_event(ctx, pool, version, source, user_name, request, response);
        let out = self.triggers.invoke(&arn, event, source, &pool.row.id).await.map_err(|e| invoke_error(trigger, e))?;
        match out {
            Value::Object(mut m) => match m.remove("response") {
                Some(r @ Value::Object(_)) => Ok(Some(r)),
                Some(Value::Null) => Ok(Some(json!({}))),
                _ => Err(unrecognizable()),
            },
            _ => Err(unrecognizable()),
        }
    }

    /// Fires a trigger whose answer carries nothing (post confirmation, post authentication).
    pub async fn notify(&self, ctx: &Ctx, pool: &Pool, trigger: Trigger, source: &str, user: &UserRow, extra: Option<(&str, Value)>) -> ApiResult<()> {
        if configured(&pool.config.lambda_config, trigger).is_none() {
            return Ok(());
        }
        let mut request = json!({ "userAttributes": event_attributes(user) });
        if let Some((k, v)) = extra {
            request[k] = v;
        }
        let request = with_metadata(request, ctx);
        self.fire(ctx, pool, trigger, source, &user.username, request, json!({})).await.map(|_| ())
    }

    // ------------------------------------------------------------ custom senders

    /// The key custom sender codes are encrypted under, for a pool's KMSKeyID: derived from the
    /// master key, printed by `tobira sender-key`.
    pub fn sender_key(&self, pool_id: &str, kms_key_id: &str) -> [u8; 32] {
        let mac = self.master.mac("custom-sender-key", format!("{pool_id}\n{kms_key_id}").as_bytes());
        let mut k = [0u8; 32];
        k.copy_from_slice(&mac[..32]);
        k
    }

    /// Hands a message to the pool's custom sender, when it has one for the channel. Returns
    /// whether it did (then tobira itself sends nothing).
    pub async fn custom_send(&self, ctx: &Ctx, pool: &Pool, user: &UserRow, email: bool, source_suffix: &str, code: Option<&str>) -> bool {
        let trigger = if email { Trigger::CustomEmailSender } else { Trigger::CustomSmsSender };
        let Some((arn, _)) = configured(&pool.config.lambda_config, trigger) else { return false };
        let kms = pool.config.lambda_config.get("KMSKeyID").and_then(Value::as_str).unwrap_or_default();
        let key = self.sender_key(&pool.row.id, kms);
        let code = code.map(|c| {
            use base64::Engine;
            let nonce = crate::ports::random::random_bytes(self.random.as_ref(), 12);
            base64::engine::general_purpose::STANDARD.encode(seal::encrypt_with_key(&key, &nonce, c.as_bytes()))
        });
        let source = format!("{}_{source_suffix}", trigger.name());
        let request = json!({
            "type": if email { "customEmailSenderRequestV1" } else { "customSMSSenderRequestV1" },
            "code": code,
            "clientMetadata": ctx.trigger_metadata(),
            "userAttributes": event_attributes(user),
        });
        let event = self.trigger_event(ctx, pool, "1", &source, &user.username, request, json!({}));
        self.triggers.invoke_async(&arn, event, &source, &pool.row.id).await;
        true
    }
}

/// A realistic request and pre-filled response for `source`, as `tobira trigger` sends them:
/// the user's attributes when there is a user, else a made-up one.
pub fn sample_event_parts(source: &str, user: Option<&UserRow>, version: &str) -> Option<(Value, Value)> {
    let attributes = match user {
        Some(u) => event_attributes(u),
        None => json!({
            "sub": "2f8e4c6a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "cognito:user_status": "CONFIRMED",
            "email_verified": "true",
            "email": "jane@example.com",
        }),
    };
    let plain = || {
        let mut a = attributes.clone();
        if let Value::Object(m) = &mut a {
            m.remove("sub");
            m.remove("cognito:user_status");
            m.remove("email_verified");
            m.remove("phone_number_verified");
        }
        a
    };
    let trigger = Trigger::of_source(source)?;
    Some(match trigger {
        Trigger::PreSignUp => (
            json!({ "userAttributes": plain(), "validationData": {} }),
            json!({ "autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false }),
        ),
        Trigger::PostConfirmation => (json!({ "userAttributes": attributes }), json!({})),
        Trigger::PreAuthentication => (json!({ "userAttributes": attributes, "validationData": {} }), json!({})),
        Trigger::PostAuthentication => (json!({ "userAttributes": attributes, "newDeviceUsed": false }), json!({})),
        Trigger::PreTokenGeneration => {
            let mut request = json!({
                "userAttributes": attributes,
                "groupConfiguration": { "groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": null },
            });
            if version == "1" {
                (request, json!({ "claimsOverrideDetails": null }))
            } else {
                request["scopes"] = json!(["aws.cognito.signin.user.admin"]);
                (request, json!({ "claimsAndScopeOverrideDetails": null }))
            }
        }
        Trigger::UserMigration => {
            let mut request = json!({ "validationData": {}, "userAttributes": null });
            if source.ends_with("_Authentication") {
                request["password"] = json!("Passw0rd!");
            }
            (
                request,
                json!({ "userAttributes": null, "forceAliasCreation": null, "enableSMSMFA": null, "finalUserStatus": null, "messageAction": null, "desiredDeliveryMediums": null }),
            )
        }
        Trigger::CustomMessage => (
            json!({
                "userAttributes": attributes,
                "codeParameter": "{####}",
                "linkParameter": "{##Click Here##}",
                "usernameParameter": if source.ends_with("_AdminCreateUser") { json!("{username}") } else { Value::Null },
            }),
            json!({ "smsMessage": null, "emailMessage": null, "emailSubject": null }),
        ),
        Trigger::DefineAuthChallenge => (
            json!({ "userAttributes": attributes, "session": [] }),
            json!({ "challengeName": null, "issueTokens": null, "failAuthentication": null }),
        ),
        Trigger::CreateAuthChallenge => (
            json!({ "userAttributes": attributes, "challengeName": "CUSTOM_CHALLENGE", "session": [] }),
            json!({ "publicChallengeParameters": null, "privateChallengeParameters": null, "challengeMetadata": null }),
        ),
        Trigger::VerifyAuthChallengeResponse => (
            json!({ "userAttributes": attributes, "privateChallengeParameters": { "answer": "123456" }, "challengeAnswer": "123456" }),
            json!({ "answerCorrect": null }),
        ),
        Trigger::CustomEmailSender | Trigger::CustomSmsSender => (
            json!({
                "type": if trigger == Trigger::CustomEmailSender { "customEmailSenderRequestV1" } else { "customSMSSenderRequestV1" },
                "code": null,
                "clientMetadata": null,
                "userAttributes": attributes,
            }),
            json!({}),
        ),
    })
}
