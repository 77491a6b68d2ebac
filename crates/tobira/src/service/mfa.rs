//! Multi-factor authentication: the pool's MFA settings, TOTP software tokens, the user's
//! MFA preferences, and the MFA challenges of a sign-in (SOFTWARE_TOKEN_MFA, SMS_MFA,
//! EMAIL_OTP, SELECT_MFA_TYPE, MFA_SETUP).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::attributes as attrs;
use super::signin::Flow;
use super::users::{AccessTokenInput, AdminUserInput};
use super::{Client, Ctx, Pool, Service};
use crate::crypto::totp;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::{numeric_code, random_bytes};
use crate::store::UserRow;

pub const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";
pub const SMS_MFA: &str = "SMS_MFA";
pub const EMAIL_OTP: &str = "EMAIL_OTP";

/// Per-user state kept in the user's `extra` JSON. The two upper-case keys are what
/// AdminGetUser shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserExtra {
    #[serde(rename = "UserMFASettingList", default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_list: Vec<String>,
    #[serde(rename = "PreferredMfaSetting", default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<String>,
    /// The legacy SMS MFA setting (SetUserSettings), shown as `MFAOptions` by GetUser and AdminGetUser.
    #[serde(rename = "MFAOptions", default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_options: Vec<Value>,
    /// Sealed TOTP secret, once verified.
    #[serde(rename = "totpSecret", default, skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    /// Sealed TOTP secret handed out by AssociateSoftwareToken, not yet verified.
    #[serde(rename = "totpPending", default, skip_serializing_if = "Option::is_none")]
    pub totp_pending: Option<String>,
    /// The last TOTP step accepted: a code is good once.
    #[serde(rename = "totpLastStep", default, skip_serializing_if = "Option::is_none")]
    pub totp_last_step: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl UserExtra {
    pub fn of(user: &UserRow) -> UserExtra {
        serde_json::from_str(&user.extra).unwrap_or_default()
    }
    pub fn store(&self, user: &mut UserRow) {
        user.extra = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
    }
    fn set_enabled(&mut self, method: &str, enabled: bool) {
        self.mfa_list.retain(|m| m != method);
        if enabled {
            self.mfa_list.push(method.to_string());
        } else if self.preferred.as_deref() == Some(method) {
            self.preferred = None;
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetUserPoolMfaConfigInput {
    pub user_pool_id: String,
    pub sms_mfa_configuration: Option<Value>,
    pub software_token_mfa_configuration: Option<Value>,
    pub email_mfa_configuration: Option<Value>,
    pub mfa_configuration: Option<String>,
    pub web_authn_configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolIdOnly {
    pub user_pool_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateSoftwareTokenInput {
    pub access_token: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifySoftwareTokenInput {
    pub access_token: Option<String>,
    pub session: Option<String>,
    pub user_code: String,
    pub friendly_device_name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MfaSettings {
    pub enabled: Option<bool>,
    pub preferred_mfa: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct SetUserMfaPreferenceInput {
    #[serde(rename = "SMSMfaSettings")]
    pub sms: Option<MfaSettings>,
    #[serde(rename = "SoftwareTokenMfaSettings")]
    pub software_token: Option<MfaSettings>,
    #[serde(rename = "EmailMfaSettings")]
    pub email: Option<MfaSettings>,
    #[serde(rename = "AccessToken")]
    pub access_token: String,
}

#[derive(Debug, Deserialize)]
pub struct AdminSetUserMfaPreferenceInput {
    #[serde(rename = "SMSMfaSettings")]
    pub sms: Option<MfaSettings>,
    #[serde(rename = "SoftwareTokenMfaSettings")]
    pub software_token: Option<MfaSettings>,
    #[serde(rename = "EmailMfaSettings")]
    pub email: Option<MfaSettings>,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "UserPoolId")]
    pub user_pool_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MfaOption {
    pub delivery_medium: Option<String>,
    pub attribute_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SetUserSettingsInput {
    #[serde(rename = "AccessToken")]
    pub access_token: String,
    #[serde(rename = "MFAOptions")]
    pub mfa_options: Vec<MfaOption>,
}

#[derive(Debug, Deserialize)]
pub struct AdminSetUserSettingsInput {
    #[serde(rename = "UserPoolId")]
    pub user_pool_id: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "MFAOptions")]
    pub mfa_options: Vec<MfaOption>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Service {
    // ------------------------------------------------------------ pool settings

    pub async fn set_user_pool_mfa_config(&self, _ctx: &Ctx, input: SetUserPoolMfaConfigInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let mut cfg = (*pool.config).clone();
        if let Some(m) = &input.mfa_configuration {
            if !["OFF", "ON", "OPTIONAL"].contains(&m.as_str()) {
                return Err(ApiError::validation(&[format!(
                    "Value '{m}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
                )]));
            }
            cfg.mfa_configuration = m.clone();
        }
        if let Some(sms) = &input.sms_mfa_configuration {
            if let Some(msg) = sms.get("SmsAuthenticationMessage").and_then(Value::as_str) {
                cfg.sms_authentication_message = Some(msg.to_string());
            }
            if let Some(c) = sms.get("SmsConfiguration") {
                cfg.sms_configuration = Some(c.clone());
            }
        }
        if let Some(t) = &input.software_token_mfa_configuration {
            cfg.software_token_mfa_configuration = Some(t.clone());
        }
        if let Some(e) = &input.email_mfa_configuration {
            cfg.email_mfa_configuration = Some(e.clone());
        }
        self.save_pool_config(&pool, &cfg).await?;
        Ok(mfa_config_json(&cfg))
    }

    pub async fn get_user_pool_mfa_config(&self, _ctx: &Ctx, input: PoolIdOnly) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        Ok(mfa_config_json(&pool.config))
    }

    // ------------------------------------------------------------ software tokens

    pub async fn associate_software_token(&self, ctx: &Ctx, input: AssociateSoftwareTokenInput) -> ApiResult<Value> {
        let secret = random_bytes(self.random.as_ref(), 20);
        let code = totp::base32_encode(&secret);
        let no_totp = || ApiError::new(ErrorKind::SoftwareTokenMfaNotFound, "Software Token MFA has not been enabled by the userPool.");
        match (&input.access_token, &input.session) {
            (Some(token), _) => {
                let auth = self.authenticate(ctx, token).await?;
                if !software_token_enabled(&auth.pool) {
                    return Err(no_totp());
                }
                let key = auth.user.username_key.clone();
                let pool = auth.pool;
                self.with_user_retry(|| async {
                    let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                    let mut extra = UserExtra::of(&u);
                    extra.totp_pending = Some(self.seal_totp(&u, &secret));
                    extra.store(&mut u);
                    self.save_user(&mut u, true).await
                })
                .await?;
                Ok(json!({ "SecretCode": code }))
            }
            (None, Some(session)) => {
                let (pool, client, user, mut flow) = self.resume(session, "MFA_SETUP").await?;
                if !software_token_enabled(&pool) {
                    return Err(no_totp());
                }
                flow.pending_totp = Some(self.seal_totp(&user, &secret));
                let next = self.new_session(&pool, &client, &user, "MFA_SETUP", &flow).await?;
                Ok(json!({ "SecretCode": code, "Session": next }))
            }
            (None, None) => Err(ApiError::invalid_parameter("Either AccessToken or Session must be provided.")),
        }
    }

    pub async fn verify_software_token(&self, ctx: &Ctx, input: VerifySoftwareTokenInput) -> ApiResult<Value> {
        let mismatch = || ApiError::new(ErrorKind::EnableSoftwareTokenMfa, "Code mismatch and fail enable Software Token MFA");
        match (&input.access_token, &input.session) {
            (Some(token), _) => {
                let auth = self.authenticate(ctx, token).await?;
                let key = auth.user.username_key.clone();
                let pool = auth.pool;
                self.with_user_retry(|| async {
                    let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                    let mut extra = UserExtra::of(&u);
                    let sealed = extra.totp_pending.clone().ok_or_else(|| {
                        ApiError::invalid_parameter("User has not associated a software token: call AssociateSoftwareToken first.")
                    })?;
                    let secret = self.open_totp(&u, &sealed)?;
                    let step = totp::verify(&secret, &input.user_code, self.now() / 1000, None).ok_or_else(mismatch)?;
                    extra.totp_secret = Some(sealed);
                    extra.totp_pending = None;
                    extra.totp_last_step = Some(step);
                    extra.set_enabled(SOFTWARE_TOKEN_MFA, true);
                    extra.store(&mut u);
                    self.save_user(&mut u, true).await
                })
                .await?;
                Ok(json!({ "Status": "SUCCESS" }))
            }
            (None, Some(session)) => {
                let (pool, client, user, mut flow) = self.resume(session, "MFA_SETUP").await?;
                let sealed = flow.pending_totp.clone().ok_or_else(|| ApiError::invalid_parameter("Call AssociateSoftwareToken with this session first."))?;
                let secret = self.open_totp(&user, &sealed)?;
                let Some(step) = totp::verify(&secret, &input.user_code, self.now() / 1000, None) else {
                    // The same session stays usable for another try.
                    self.restore_flow_session(&pool, &client, &user, "MFA_SETUP", session, &flow).await?;
                    return Err(mismatch());
                };
                let key = user.username_key.clone();
                self.with_user_retry(|| async {
                    let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                    let mut extra = UserExtra::of(&u);
                    extra.totp_secret = Some(sealed.clone());
                    extra.totp_pending = None;
                    extra.totp_last_step = Some(step);
                    extra.set_enabled(SOFTWARE_TOKEN_MFA, true);
                    extra.store(&mut u);
                    self.save_user(&mut u, true).await
                })
                .await?;
                flow.pending_totp = None;
                flow.totp_verified = true;
                let next = self.new_session(&pool, &client, &user, "MFA_SETUP", &flow).await?;
                Ok(json!({ "Status": "SUCCESS", "Session": next }))
            }
            (None, None) => Err(ApiError::invalid_parameter("Either AccessToken or Session must be provided.")),
        }
    }

    fn seal_totp(&self, user: &UserRow, secret: &[u8]) -> String {
        use base64::Engine;
        b64().encode(self.master.seal(&Service::seal_context("totp", &user.pool_id, &user.sub), secret))
    }

    fn open_totp(&self, user: &UserRow, sealed: &str) -> ApiResult<Vec<u8>> {
        use base64::Engine;
        let blob = b64().decode(sealed).map_err(|_| ApiError::internal("corrupt TOTP secret"))?;
        self.master
            .open(&Service::seal_context("totp", &user.pool_id, &user.sub), &blob)
            .map_err(|_| ApiError::internal("cannot unseal a TOTP secret: wrong master key?"))
    }

    // ------------------------------------------------------------ preferences

    fn apply_preferences(user: &mut UserRow, sms: Option<&MfaSettings>, soft: Option<&MfaSettings>, email: Option<&MfaSettings>) -> ApiResult<()> {
        let mut extra = UserExtra::of(user);
        for (method, s) in [(SMS_MFA, sms), (SOFTWARE_TOKEN_MFA, soft), (EMAIL_OTP, email)] {
            let Some(s) = s else { continue };
            if method == SOFTWARE_TOKEN_MFA && s.enabled == Some(true) && extra.totp_secret.is_none() {
                return Err(ApiError::invalid_parameter("User has not verified software token mfa"));
            }
            if method == SMS_MFA && s.enabled == Some(true) && user.attr("phone_number").is_none() {
                return Err(ApiError::invalid_parameter("User does not have a phone number to use SMS MFA."));
            }
            if method == EMAIL_OTP && s.enabled == Some(true) && user.attr("email").is_none() {
                return Err(ApiError::invalid_parameter("User does not have an email to use EMAIL OTP MFA."));
            }
            if let Some(e) = s.enabled {
                extra.set_enabled(method, e);
            }
            match s.preferred_mfa {
                Some(true) => {
                    if !extra.mfa_list.iter().any(|m| m == method) {
                        extra.set_enabled(method, true);
                    }
                    extra.preferred = Some(method.to_string());
                }
                Some(false) if extra.preferred.as_deref() == Some(method) => extra.preferred = None,
                _ => {}
            }
        }
        extra.store(user);
        Ok(())
    }

    pub async fn set_user_mfa_preference(&self, ctx: &Ctx, input: SetUserMfaPreferenceInput) -> ApiResult<Value> {
        self.update_token_user(ctx, &input.access_token, |u| {
            Self::apply_preferences(u, input.sms.as_ref(), input.software_token.as_ref(), input.email.as_ref())
        })
        .await?;
        Ok(json!({}))
    }

    pub async fn admin_set_user_mfa_preference(&self, _ctx: &Ctx, input: AdminSetUserMfaPreferenceInput) -> ApiResult<Value> {
        self.update_named_user(&input.user_pool_id, &input.username, |u| {
            Self::apply_preferences(u, input.sms.as_ref(), input.software_token.as_ref(), input.email.as_ref())
        })
        .await?;
        Ok(json!({}))
    }

    /// The legacy MFA setting: only SMS to the phone number; an empty list turns SMS MFA off.
    fn apply_settings(user: &mut UserRow, options: &[MfaOption]) -> ApiResult<()> {
        let mut extra = UserExtra::of(user);
        let mut kept = vec![];
        for o in options {
            match (o.delivery_medium.as_deref(), o.attribute_name.as_deref()) {
                (Some("SMS"), Some("phone_number")) => {
                    if user.attr("phone_number").is_none() {
                        return Err(ApiError::invalid_parameter("User does not have a phone number to use SMS MFA."));
                    }
                    kept = vec![json!({ "DeliveryMedium": "SMS", "AttributeName": "phone_number" })];
                }
                (Some("SMS") | Some("EMAIL"), _) => {
                    return Err(ApiError::invalid_parameter("Only SMS MFA to the phone_number attribute can be set with MFAOptions."))
                }
                (m, _) => {
                    return Err(ApiError::validation(&[format!(
                        "Value '{}' at 'mFAOptions.1.member.deliveryMedium' failed to satisfy constraint: Member must satisfy enum value set: [SMS, EMAIL]",
                        m.unwrap_or("null")
                    )]))
                }
            }
        }
        extra.set_enabled(SMS_MFA, !kept.is_empty());
        extra.mfa_options = kept;
        extra.store(user);
        Ok(())
    }

    pub async fn set_user_settings(&self, ctx: &Ctx, input: SetUserSettingsInput) -> ApiResult<Value> {
        self.update_token_user(ctx, &input.access_token, |u| Self::apply_settings(u, &input.mfa_options)).await?;
        Ok(json!({}))
    }

    pub async fn admin_set_user_settings(&self, _ctx: &Ctx, input: AdminSetUserSettingsInput) -> ApiResult<Value> {
        self.update_named_user(&input.user_pool_id, &input.username, |u| Self::apply_settings(u, &input.mfa_options)).await?;
        Ok(json!({}))
    }

    /// AdminDeleteSoftwareToken: the user's TOTP factor goes; they can associate a new one.
    pub async fn admin_delete_software_token(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        self.update_named_user(&input.user_pool_id, &input.username, |u| {
            let mut extra = UserExtra::of(u);
            extra.totp_secret = None;
            extra.totp_pending = None;
            extra.totp_last_step = None;
            extra.set_enabled(SOFTWARE_TOKEN_MFA, false);
            extra.store(u);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    /// What GetUserAuthFactors and AdminGetUserAuthFactors answer.
    fn auth_factors(pool: &Pool, user: &UserRow) -> Value {
        let extra = UserExtra::of(user);
        let mut out = json!({ "Username": user.username });
        if !extra.mfa_list.is_empty() {
            out["UserMFASettingList"] = json!(extra.mfa_list);
        }
        if let Some(p) = &extra.preferred {
            out["PreferredMfaSetting"] = json!(p);
        }
        let factors: Vec<String> = Self::available_challenges(pool, user).into_iter().filter(|c| c != "PASSWORD_SRP").collect();
        out["ConfiguredUserAuthFactors"] = json!(factors);
        out
    }

    pub async fn get_user_auth_factors(&self, ctx: &Ctx, input: AccessTokenInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        Ok(Self::auth_factors(&auth.pool, &auth.user))
    }

    pub async fn admin_get_user_auth_factors(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        Ok(Self::auth_factors(&pool, &user))
    }

    // ------------------------------------------------------------ sign-in challenges

    /// The MFA challenge this sign-in needs, if any.
    pub(super) fn mfa_needed(&self, pool: &Pool, user: &UserRow) -> Option<String> {
        let mode = pool.config.mfa_configuration.as_str();
        if mode == "OFF" {
            return None;
        }
        let soft_on = software_token_enabled(pool);
        let email_on = pool.config.email_mfa_configuration.is_some();
        let extra = UserExtra::of(user);
        let usable: Vec<String> = extra
            .mfa_list
            .iter()
            .filter(|m| match m.as_str() {
                SOFTWARE_TOKEN_MFA => soft_on && extra.totp_secret.is_some(),
                SMS_MFA => user.attr("phone_number").is_some(),
                EMAIL_OTP => email_on && user.attr("email").is_some(),
                _ => false,
            })
            .cloned()
            .collect();
        if usable.is_empty() {
            if mode == "ON" {
                if user.attr("phone_number").is_some() && attrs::is_true(user.attr("phone_number_verified")) && !soft_on {
                    return Some(SMS_MFA.into());
                }
                return Some("MFA_SETUP".into());
            }
            return None;
        }
        if let Some(p) = extra.preferred.filter(|p| usable.contains(p)) {
            return Some(p);
        }
        if usable.len() == 1 {
            return Some(usable[0].clone());
        }
        Some("SELECT_MFA_TYPE".into())
    }

    /// Issues an MFA challenge (sending the code for SMS and e-mail).
    pub(super) async fn mfa_challenge(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: &UserRow, mut flow: Flow, name: &str) -> ApiResult<Value> {
        let mut params = Map::new();
        match name {
            SMS_MFA | EMAIL_OTP | "SMS_OTP" => {
                let sms = name != EMAIL_OTP;
                let attr = if sms { "phone_number" } else { "email" };
                let dest = user.attr(attr).unwrap_or_default().to_string();
                let code = numeric_code(self.random.as_ref(), if name == EMAIL_OTP { 8 } else { 6 });
                flow.code_mac = Some(self.flow_code_mac(user, &code));
                let (subject, message) = if sms {
                    let t = pool.config.sms_authentication_message.clone().unwrap_or_else(|| "Your authentication code is {####}. ".into());
                    (None, t.replace("{####}", &code))
                } else {
                    let c = pool.config.email_mfa_configuration.clone().unwrap_or_default();
                    let subject = c.get("Subject").and_then(Value::as_str).unwrap_or("Your sign-in code").to_string();
                    let t = c.get("Message").and_then(Value::as_str).unwrap_or("Your sign-in code is {####}.").to_string();
                    (Some(subject), t.replace("{####}", &code))
                };
                let purpose = match name {
                    SMS_MFA => "SMS_MFA",
                    "SMS_OTP" => "SMS_OTP",
                    _ => "EMAIL_OTP",
                };
                self.deliver(ctx, pool, user, attr, &dest, subject, message, Some(code), purpose).await?;
                params.insert("CODE_DELIVERY_DELIVERY_MEDIUM".into(), json!(if sms { "SMS" } else { "EMAIL" }));
                params.insert("CODE_DELIVERY_DESTINATION".into(), json!(attrs::mask(attr, &dest)));
            }
            "SELECT_MFA_TYPE" => {
                let extra = UserExtra::of(user);
                params.insert("MFAS_CAN_CHOOSE".into(), json!(serde_json::to_string(&extra.mfa_list).unwrap_or_default()));
            }
            "MFA_SETUP" => {
                params.insert("MFAS_CAN_SETUP".into(), json!("[\"SOFTWARE_TOKEN_MFA\"]"));
            }
            _ => {}
        }
        params.insert("USERNAME".into(), json!(user.username));
        flow.mfa_type = Some(name.to_string());
        flow.attempts = 0;
        let session = self.new_session(pool, client, user, name, &flow).await?;
        Ok(json!({ "ChallengeName": name, "Session": session, "ChallengeParameters": params }))
    }

    fn flow_code_mac(&self, user: &UserRow, code: &str) -> String {
        use base64::Engine;
        b64().encode(self.master.mac("mfa-code", format!("{}\n{}\n{code}", user.pool_id, user.username_key).as_bytes()))
    }

    /// Checks an MFA answer; on success the flow moves on.
    pub(super) async fn answer_mfa(&self, ctx: &Ctx, pool: &Pool, client: &Client, name: &str, session: &str, r: &std::collections::HashMap<String, String>) -> ApiResult<Value> {
        let (_, _, user, mut flow) = self.resume(session, name).await?;
        self.check_user_secret_hash(client, &user, r.get("USERNAME").map(String::as_str), r.get("SECRET_HASH").map(String::as_str))?;
        let field = match name {
            SOFTWARE_TOKEN_MFA => "SOFTWARE_TOKEN_MFA_CODE",
            SMS_MFA => "SMS_MFA_CODE",
            "SMS_OTP" => "SMS_OTP_CODE",
            _ => "EMAIL_OTP_CODE",
        };
        let code = r.get(field).ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {field}")))?;
        let ok = match name {
            SOFTWARE_TOKEN_MFA => {
                let extra = UserExtra::of(&user);
                let secret = match &extra.totp_secret {
                    Some(s) => self.open_totp(&user, s)?,
                    None => return Err(ApiError::new(ErrorKind::SoftwareTokenMfaNotFound, "Software Token MFA has not been enabled by the user.")),
                };
                match totp::verify(&secret, code, self.now() / 1000, extra.totp_last_step) {
                    Some(step) => {
                        let key = user.username_key.clone();
                        self.with_user_retry(|| async {
                            let mut u = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                            let mut e = UserExtra::of(&u);
                            if e.totp_last_step.is_some_and(|l| l >= step) {
                                return Ok(false);
                            }
                            e.totp_last_step = Some(step);
                            e.store(&mut u);
                            self.save_user(&mut u, false).await?;
                            Ok(true)
                        })
                        .await?
                    }
                    None => false,
                }
            }
            _ => flow.code_mac.as_deref().is_some_and(|m| crate::crypto::seal::ct_eq(m.as_bytes(), self.flow_code_mac(&user, code).as_bytes())),
        };
        if !ok {
            flow.attempts += 1;
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Mfa"), false).await;
            if flow.attempts < 3 {
                // Same session token stays valid for another try.
                self.restore_flow_session(pool, client, &user, name, session, &flow).await?;
            }
            return Err(ApiError::new(ErrorKind::CodeMismatch, "Invalid code received for user"));
        }
        flow.mfa_done = true;
        flow.challenges.push(("Mfa".into(), true));
        self.next_step(ctx, pool, client, user, flow).await
    }

    pub(super) async fn answer_select_mfa(&self, ctx: &Ctx, pool: &Pool, client: &Client, session: &str, r: &std::collections::HashMap<String, String>) -> ApiResult<Value> {
        let (_, _, user, flow) = self.resume(session, "SELECT_MFA_TYPE").await?;
        self.check_user_secret_hash(client, &user, r.get("USERNAME").map(String::as_str), r.get("SECRET_HASH").map(String::as_str))?;
        let answer = r.get("ANSWER").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter ANSWER"))?;
        let extra = UserExtra::of(&user);
        if !extra.mfa_list.iter().any(|m| m == answer) {
            return Err(ApiError::invalid_parameter(format!("Invalid MFA type {answer}.")));
        }
        self.mfa_challenge(ctx, pool, client, &user, flow, answer).await
    }

    pub(super) async fn answer_mfa_setup(&self, ctx: &Ctx, pool: &Pool, client: &Client, session: &str) -> ApiResult<Value> {
        let (_, _, user, mut flow) = self.resume(session, "MFA_SETUP").await?;
        if !flow.totp_verified {
            return Err(ApiError::invalid_parameter("Software token MFA has not been set up: call AssociateSoftwareToken and VerifySoftwareToken with this session."));
        }
        flow.mfa_done = true;
        flow.challenges.push(("Mfa".into(), true));
        self.next_step(ctx, pool, client, user, flow).await
    }
}

fn software_token_enabled(pool: &Pool) -> bool {
    pool.config.software_token_mfa_configuration.as_ref().and_then(|c| c.get("Enabled")).and_then(Value::as_bool).unwrap_or(false)
}

fn mfa_config_json(cfg: &super::PoolConfig) -> Value {
    let mut v = json!({ "MfaConfiguration": cfg.mfa_configuration });
    if cfg.mfa_configuration == "OFF" {
        return v;
    }
    if cfg.sms_authentication_message.is_some() || cfg.sms_configuration.is_some() {
        let mut sms = Map::new();
        if let Some(m) = &cfg.sms_authentication_message {
            sms.insert("SmsAuthenticationMessage".into(), json!(m));
        }
        if let Some(c) = &cfg.sms_configuration {
            sms.insert("SmsConfiguration".into(), c.clone());
        }
        v["SmsMfaConfiguration"] = Value::Object(sms);
    }
    if let Some(t) = &cfg.software_token_mfa_configuration {
        v["SoftwareTokenMfaConfiguration"] = t.clone();
    }
    if let Some(e) = &cfg.email_mfa_configuration {
        v["EmailMfaConfiguration"] = e.clone();
    }
    v
}
