//! Sign-in: InitiateAuth / AdminInitiateAuth and the challenge responses, the lockout after
//! repeated failures, and challenge sessions (verified, single-use, expiring).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::attributes as attrs;
use super::triggers::Trigger;
use super::password::{check_policy, check_shape, PolicyWording};
use super::users::{CONFIRMED, FORCE_CHANGE_PASSWORD};
#[allow(unused_imports)]
use crate::store::DeviceRow;
use super::{Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_bytes;
use crate::store::{SessionRow, UserRow};

/// Where a sign-in stands between challenges; kept (as JSON) in its session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Flow {
    /// The AuthFlow that started it.
    pub flow: String,
    /// The DEVICE_KEY the client presented, if any.
    pub device_key: Option<String>,
    pub mfa_done: bool,
    pub device_done: bool,
    /// (challenge, passed) so far, for the sign-in record: "Password", "Mfa".
    pub challenges: Vec<(String, bool)>,
    /// MAC of the code sent for SMS_MFA / EMAIL_OTP.
    pub code_mac: Option<String>,
    pub mfa_type: Option<String>,
    pub attempts: i64,
    /// Sealed SRP session key (PASSWORD_VERIFIER, DEVICE_PASSWORD_VERIFIER).
    pub srp_key: Option<String>,
    pub user_id: Option<String>,
    /// A decoy challenge for a user that does not exist.
    pub decoy: bool,
    /// Sealed TOTP secret during MFA_SETUP.
    pub pending_totp: Option<String>,
    pub totp_verified: bool,
    /// When the session expires (epoch ms), kept so a retried step keeps the same deadline.
    pub expires: i64,
    /// The NEW_PASSWORD_REQUIRED challenge was answered (tokens come from TokenGeneration_NewPasswordChallenge).
    pub new_password: bool,
    /// CUSTOM_AUTH: the challenges so far, as DefineAuthChallenge sees them.
    pub custom: Vec<CustomStep>,
    /// CUSTOM_AUTH: what CreateAuthChallenge gave for the open challenge.
    pub private_params: Option<Value>,
    pub challenge_metadata: Option<String>,
}

/// One entry of a custom authentication's `session`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomStep {
    pub challenge_name: String,
    pub challenge_result: bool,
    pub challenge_metadata: Option<String>,
}

/// After this many failures in a row, each further failure locks the user for 2^(n-5) s.
pub const LOCKOUT_THRESHOLD: i64 = 5;
pub const LOCKOUT_MAX_SECS: i64 = 900;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateAuthInput {
    pub auth_flow: String,
    pub auth_parameters: Option<HashMap<String, String>>,
    pub client_metadata: Option<HashMap<String, String>>,
    pub client_id: String,
    /// USER_AUTH only: the Session from ConfirmSignUp (sign-in straight after sign-up).
    pub session: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminInitiateAuthInput {
    pub user_pool_id: String,
    pub client_id: String,
    pub auth_flow: String,
    pub auth_parameters: Option<HashMap<String, String>>,
    pub client_metadata: Option<HashMap<String, String>>,
    pub session: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RespondToAuthChallengeInput {
    pub client_id: String,
    pub challenge_name: String,
    pub session: Option<String>,
    pub challenge_responses: Option<HashMap<String, String>>,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminRespondToAuthChallengeInput {
    pub user_pool_id: String,
    pub client_id: String,
    pub challenge_name: String,
    pub session: Option<String>,
    pub challenge_responses: Option<HashMap<String, String>>,
    pub client_metadata: Option<HashMap<String, String>>,
}

const AUTH_FLOWS: &[&str] = &[
    "USER_SRP_AUTH",
    "REFRESH_TOKEN_AUTH",
    "REFRESH_TOKEN",
    "CUSTOM_AUTH",
    "ADMIN_NO_SRP_AUTH",
    "USER_PASSWORD_AUTH",
    "ADMIN_USER_PASSWORD_AUTH",
    "USER_AUTH",
];

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> ApiResult<&'a str> {
    p.get(name).map(String::as_str).ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {name}")))
}

fn incorrect() -> ApiError {
    ApiError::not_authorized("Incorrect username or password.")
}

impl Service {
    pub async fn initiate_auth(&self, ctx: &Ctx, input: InitiateAuthInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        check_flow_name(&input.auth_flow)?;
        if input.auth_flow.starts_with("ADMIN_") {
            return Err(ApiError::invalid_parameter("Initiate Auth method not supported."));
        }
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), true).for_client(&client.row.id);
        self.start(ctx, &pool, &client, &input.auth_flow, input.auth_parameters.unwrap_or_default(), input.session.as_deref()).await
    }

    pub async fn admin_initiate_auth(&self, ctx: &Ctx, input: AdminInitiateAuthInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let client = self.client_in_pool(&pool.row.id, &input.client_id).await?;
        check_flow_name(&input.auth_flow)?;
        if input.auth_flow == "USER_PASSWORD_AUTH" {
            return Err(ApiError::invalid_parameter("Initiate Auth method not supported."));
        }
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), true).for_client(&client.row.id);
        self.start(ctx, &pool, &client, &input.auth_flow, input.auth_parameters.unwrap_or_default(), input.session.as_deref()).await
    }

    async fn start(&self, ctx: &Ctx, pool: &Pool, client: &Client, flow: &str, p: HashMap<String, String>, session: Option<&str>) -> ApiResult<Value> {
        if !client.config.allows(flow) {
            return Err(ApiError::invalid_parameter(format!("{flow} flow not enabled for this client")));
        }
        match flow {
            "USER_PASSWORD_AUTH" | "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
                let username = param(&p, "USERNAME")?;
                let password = param(&p, "PASSWORD")?;
                self.check_secret_hash(client, username, p.get("SECRET_HASH").map(String::as_str))?;
                self.password_sign_in(ctx, pool, client, username, password, flow, p.get("DEVICE_KEY").map(String::as_str)).await
            }
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                let token = param(&p, "REFRESH_TOKEN")?;
                self.refresh_tokens(ctx, pool, client, token, p.get("SECRET_HASH").map(String::as_str), p.get("USERNAME").map(String::as_str))
                    .await
                    .map(|r| json!({ "ChallengeParameters": {}, "AuthenticationResult": r }))
            }
            "USER_SRP_AUTH" => self.srp_start(ctx, pool, client, &p, flow).await,
            "CUSTOM_AUTH" => self.custom_start(ctx, pool, client, &p).await,
            "USER_AUTH" => match session.filter(|s| !s.is_empty()) {
                Some(session) => self.sign_in_after_sign_up(ctx, pool, client, &p, session).await,
                None => self.user_auth_start(ctx, pool, client, &p).await,
            },
            other => Err(ApiError::invalid_parameter(format!("{other} is not supported by this server yet."))),
        }
    }

    /// Counts a failed password and, past the threshold, locks the user for a while.
    pub async fn record_failure(&self, user: &UserRow) -> ApiResult<()> {
        let key = user.username_key.clone();
        let pool_id = user.pool_id.clone();
        self.with_user_retry(|| async {
            let Some(mut u) = self.store.get_user(&pool_id, &key).await? else { return Ok(()) };
            u.failed_attempts += 1;
            if u.failed_attempts >= LOCKOUT_THRESHOLD {
                let secs = 1i64.checked_shl((u.failed_attempts - LOCKOUT_THRESHOLD) as u32).unwrap_or(i64::MAX).min(LOCKOUT_MAX_SECS);
                u.locked_until = self.now() + secs * 1000;
            }
            self.save_user(&mut u, false).await
        })
        .await
    }

    pub(super) async fn password_sign_in(&self, ctx: &Ctx, pool: &Pool, client: &Client, username: &str, password: &str, flow_name: &str, device_key: Option<&str>) -> ApiResult<Value> {
        let flow = Flow { flow: flow_name.to_string(), device_key: device_key.map(str::to_string), ..Flow::default() };
        let Some(user) = self.find_user(pool, username).await? else {
            if let Some(user) = self.migrate_user(ctx, pool, client, username, Some(password)).await? {
                return self.after_password_proof(ctx, pool, client, user, flow).await;
            }
            return Err(if client.config.prevent_user_existence_errors() { incorrect() } else { ApiError::user_not_found() });
        };
        self.pre_authentication(ctx, pool, &user).await?;
        if user.locked_until > self.now() {
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(ApiError::not_authorized("Password attempts exceeded"));
        }
        if !self.password_matches(&user, password)? {
            self.record_failure(&user).await?;
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(incorrect());
        }
        self.after_password_proof(ctx, pool, client, user, flow).await
    }

    pub(super) async fn new_password_challenge(&self, pool: &Pool, client: &Client, user: &UserRow, flow: &Flow) -> ApiResult<Value> {
        let session = self.new_session(pool, client, user, "NEW_PASSWORD_REQUIRED", flow).await?;
        let shown: serde_json::Map<String, Value> =
            user.attributes.iter().filter(|(n, _)| n != "sub").map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
        let required: Vec<String> = attrs::missing_required(&pool.config, &user.attributes).into_iter().map(|n| format!("userAttributes.{n}")).collect();
        Ok(json!({
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": session,
            "ChallengeParameters": {
                "USER_ID_FOR_SRP": user.username,
                "requiredAttributes": serde_json::to_string(&required).unwrap_or_else(|_| "[]".into()),
                "userAttributes": serde_json::to_string(&shown).unwrap_or_else(|_| "{}".into()),
            },
        }))
    }

    // ------------------------------------------------------------ sessions

    fn session_mac(&self, token: &str) -> Vec<u8> {
        self.master.mac("session", token.as_bytes()).to_vec()
    }

    /// Starts (or continues) a challenge session carrying `flow`; returns its token.
    pub async fn new_session(&self, pool: &Pool, client: &Client, user: &UserRow, challenge: &str, flow: &Flow) -> ApiResult<String> {
        use base64::Engine;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(self.random.as_ref(), 192));
        let minutes = client.config.auth_session_validity.unwrap_or(3);
        let mut flow = flow.clone();
        flow.expires = self.now() + minutes * 60_000;
        self.put_flow_session(pool, client, user, challenge, &token, &flow).await?;
        Ok(token)
    }

    async fn put_flow_session(&self, pool: &Pool, client: &Client, user: &UserRow, challenge: &str, token: &str, flow: &Flow) -> ApiResult<()> {
        self.store
            .put_session(&SessionRow {
                id_mac: self.session_mac(token),
                pool_id: pool.row.id.clone(),
                client_id: client.row.id.clone(),
                username_key: user.username_key.clone(),
                challenge: challenge.to_string(),
                payload: serde_json::to_string(flow).map_err(|e| ApiError::internal(e.to_string()))?,
                expires: flow.expires,
            })
            .await?;
        Ok(())
    }

    /// Puts a taken session back (same token, same deadline) so the user can try again.
    pub(super) async fn restore_flow_session(&self, pool: &Pool, client: &Client, user: &UserRow, challenge: &str, token: &str, flow: &Flow) -> ApiResult<()> {
        self.put_flow_session(pool, client, user, challenge, token, flow).await
    }

    /// Takes (consumes) a session for `challenge` and loads what it refers to.
    pub(super) async fn resume(&self, token: &str, challenge: &str) -> ApiResult<(Pool, Client, UserRow, Flow)> {
        let expired = || ApiError::not_authorized("Invalid session for the user, session is expired.");
        if token.is_empty() {
            return Err(ApiError::invalid_parameter("Missing required parameter Session"));
        }
        let s = self.store.take_session(&self.session_mac(token)).await?.ok_or_else(expired)?;
        if s.expires < self.now() {
            return Err(expired());
        }
        if s.challenge != challenge {
            return Err(ApiError::invalid_parameter(format!("Invalid challenge name: the session expects {}.", s.challenge)));
        }
        let flow: Flow = serde_json::from_str(&s.payload).map_err(|_| expired())?;
        let pool = self.pool(&s.pool_id).await.map_err(|_| expired())?;
        let client = self.client(&s.client_id).await.map_err(|_| expired())?;
        let user = self.store.get_user(&s.pool_id, &s.username_key).await?.ok_or_else(expired)?;
        Ok((pool, client, user, flow))
    }

    /// The steps after the password: a remembered device, MFA, then tokens.
    pub(super) async fn next_step(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: UserRow, mut flow: Flow) -> ApiResult<Value> {
        if !flow.device_done {
            if let Some(dk) = flow.device_key.clone() {
                match self.store.get_device(&dk).await? {
                    Some(d) if d.pool_id == pool.row.id && d.username_key == user.username_key && d.confirmed && d.verifier.is_some() => {
                        let skip_mfa = d.remembered;
                        if flow.mfa_done || skip_mfa || self.mfa_needed(pool, &user).is_none() {
                            flow.mfa_done = true;
                            let session = self.new_session(pool, client, &user, "DEVICE_SRP_AUTH", &flow).await?;
                            return Ok(json!({
                                "ChallengeName": "DEVICE_SRP_AUTH",
                                "Session": session,
                                "ChallengeParameters": { "USERNAME": user.username, "DEVICE_KEY": dk },
                            }));
                        }
                    }
                    _ => flow.device_key = None,
                }
            }
        }
        if !flow.mfa_done {
            if let Some(name) = self.mfa_needed(pool, &user) {
                return self.mfa_challenge(ctx, pool, client, &user, flow, &name).await;
            }
        }
        let existing = if flow.device_done { flow.device_key.clone() } else { None };
        let new_device_used = existing.is_none() && pool.config.device_configuration.is_some();
        self.notify(ctx, pool, Trigger::PostAuthentication, "PostAuthentication_Authentication", &user, Some(("newDeviceUsed", json!(new_device_used)))).await?;
        let source = if flow.device_done && existing.is_some() {
            "TokenGeneration_AuthenticateDevice"
        } else if flow.new_password {
            "TokenGeneration_NewPasswordChallenge"
        } else {
            "TokenGeneration_Authentication"
        };
        let event = self.auth_event(ctx, pool, client, &user, &flow, None, true);
        let result = self.issue_tokens(ctx, pool, client, &user, existing.as_deref(), source, event).await?;
        Ok(json!({ "ChallengeParameters": {}, "AuthenticationResult": result }))
    }

    // ------------------------------------------------------------ challenge responses

    pub async fn respond_to_auth_challenge(&self, ctx: &Ctx, input: RespondToAuthChallengeInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.respond(ctx, &pool, &client, &input.challenge_name, input.session.as_deref(), input.challenge_responses.unwrap_or_default()).await
    }

    pub async fn admin_respond_to_auth_challenge(&self, ctx: &Ctx, input: AdminRespondToAuthChallengeInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let client = self.client_in_pool(&pool.row.id, &input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.respond(ctx, &pool, &client, &input.challenge_name, input.session.as_deref(), input.challenge_responses.unwrap_or_default()).await
    }

    async fn respond(&self, ctx: &Ctx, pool: &Pool, client: &Client, challenge: &str, session: Option<&str>, r: HashMap<String, String>) -> ApiResult<Value> {
        let session = session.unwrap_or_default();
        match challenge {
            "NEW_PASSWORD_REQUIRED" => {
                let username = param(&r, "USERNAME")?.to_string();
                self.check_secret_hash(client, &username, r.get("SECRET_HASH").map(String::as_str))?;
                let (spool, sclient, user, flow) = self.resume(session, challenge).await?;
                if spool.row.id != pool.row.id || sclient.row.id != client.row.id {
                    return Err(ApiError::not_authorized("Invalid session for the user, session is expired."));
                }
                match self.complete_new_password(ctx, pool, client, &user, &flow, &username, &r).await {
                    Err(e) if matches!(e.kind, ErrorKind::InvalidPassword | ErrorKind::InvalidParameter) => {
                        self.restore_flow_session(pool, client, &user, challenge, session, &flow).await?;
                        Err(e)
                    }
                    other => other,
                }
            }
            "PASSWORD_VERIFIER" => self.srp_verify(ctx, pool, client, &r).await,
            "SOFTWARE_TOKEN_MFA" | "SMS_MFA" | "EMAIL_OTP" => {
                self.check_session_client(session, client).await?;
                self.answer_mfa(ctx, pool, client, challenge, session, &r).await
            }
            "SELECT_MFA_TYPE" => {
                self.check_session_client(session, client).await?;
                self.answer_select_mfa(ctx, pool, client, session, &r).await
            }
            "MFA_SETUP" => {
                self.check_session_client(session, client).await?;
                self.answer_mfa_setup(ctx, pool, client, session).await
            }
            "DEVICE_SRP_AUTH" => {
                self.check_session_client(session, client).await?;
                self.device_srp_start(pool, client, session, &r).await
            }
            "DEVICE_PASSWORD_VERIFIER" => {
                self.check_session_client(session, client).await?;
                self.device_srp_verify(ctx, pool, client, session, &r).await
            }
            "SMS_OTP" => {
                self.check_session_client(session, client).await?;
                self.answer_mfa(ctx, pool, client, challenge, session, &r).await
            }
            "SELECT_CHALLENGE" => {
                self.check_session_client(session, client).await?;
                self.answer_select_challenge(ctx, pool, client, session, &r).await
            }
            "CUSTOM_CHALLENGE" => {
                self.check_session_client(session, client).await?;
                self.answer_custom_challenge(ctx, pool, client, session, &r).await
            }
            "ADMIN_NO_SRP_AUTH" | "WEB_AUTHN" | "PASSWORD" | "PASSWORD_SRP" => {
                Err(ApiError::invalid_parameter(format!("{challenge} is not supported by this server yet.")))
            }
            other => Err(ApiError::validation(&[format!(
                "Value '{other}' at 'challengeName' failed to satisfy constraint: Member must satisfy enum value set: [SMS_MFA, EMAIL_OTP, SOFTWARE_TOKEN_MFA, SELECT_MFA_TYPE, MFA_SETUP, PASSWORD_VERIFIER, CUSTOM_CHALLENGE, SELECT_CHALLENGE, DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER, ADMIN_NO_SRP_AUTH, NEW_PASSWORD_REQUIRED, SMS_OTP, PASSWORD, WEB_AUTHN, PASSWORD_SRP]"
            )])),
        }
    }

    /// A session may only be answered through the client that started it.
    async fn check_session_client(&self, session: &str, client: &Client) -> ApiResult<()> {
        if session.is_empty() {
            return Err(ApiError::invalid_parameter("Missing required parameter Session"));
        }
        match self.store.peek_session(&self.session_mac(session)).await? {
            Some(s) if s.client_id == client.row.id => Ok(()),
            _ => Err(ApiError::not_authorized("Invalid session for the user, session is expired.")),
        }
    }

    async fn complete_new_password(&self, ctx: &Ctx, pool: &Pool, client: &Client, session_user: &UserRow, flow: &Flow, username: &str, r: &HashMap<String, String>) -> ApiResult<Value> {
        let user = self.find_user(pool, username).await?.ok_or_else(ApiError::user_not_found)?;
        if user.username_key != session_user.username_key {
            return Err(ApiError::not_authorized("Invalid session for the user."));
        }
        let new_password = param(r, "NEW_PASSWORD")?;
        check_shape(new_password, "NEW_PASSWORD")?;
        check_policy(&pool.config.password_policy(), new_password, PolicyWording::User)?;
        let given: Vec<attrs::AttributeType> = r
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("userAttributes.").map(|n| attrs::AttributeType { name: n.to_string(), value: Some(v.clone()) }))
            .collect();
        let changes = attrs::validate(&pool.config, &given, false)?;
        let key = user.username_key.clone();
        let user = self
            .with_user_retry(|| async {
                let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                if u.status != FORCE_CHANGE_PASSWORD {
                    return Err(ApiError::not_authorized("Invalid session for the user."));
                }
                let before = self.store.identifiers_of(&pool.row.id, &u.username_key).await?;
                for (n, v) in &changes {
                    attrs::set(&mut u.attributes, n, v);
                }
                let missing = attrs::missing_required(&pool.config, &u.attributes);
                if !missing.is_empty() {
                    return Err(ApiError::invalid_parameter(format!(
                        "Invalid attributes given, {} is missing",
                        missing.iter().map(|m| format!("userAttributes.{m}")).collect::<Vec<_>>().join(", ")
                    )));
                }
                self.set_password(&mut u, new_password);
                u.status = CONFIRMED.into();
                u.password_expires = None;
                self.persist_user(pool, &mut u, &before, false).await?;
                Ok(u)
            })
            .await?;
        let mut flow = flow.clone();
        flow.new_password = true;
        self.next_step(ctx, pool, client, user, flow).await
    }
}

fn check_flow_name(flow: &str) -> ApiResult<()> {
    if AUTH_FLOWS.contains(&flow) {
        return Ok(());
    }
    Err(ApiError::validation(&[format!(
        "Value '{flow}' at 'authFlow' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        AUTH_FLOWS.join(", ")
    )]))
}

impl Service {
    /// PreAuthentication, when the pool has it: InitiateAuth's ClientMetadata arrives as
    /// `validationData`.
    pub(super) async fn pre_authentication(&self, ctx: &Ctx, pool: &Pool, user: &UserRow) -> ApiResult<()> {
        if super::triggers::configured(&pool.config.lambda_config, Trigger::PreAuthentication).is_none() {
            return Ok(());
        }
        let request = json!({
            "userAttributes": super::triggers::event_attributes(user),
            "validationData": ctx.initiate_metadata().unwrap_or_else(|| json!({})),
        });
        self.fire(ctx, pool, Trigger::PreAuthentication, "PreAuthentication_Authentication", &user.username, request, json!({})).await.map(|_| ())
    }
}
