//! One-time codes (sign-up confirmation, password reset, attribute verification) and the
//! messages that carry them. Codes are stored only as MACs under the master key.

use serde_json::{json, Value};

use super::pools::PoolConfig;
use super::triggers::{self, Trigger};
use super::{Ctx, Pool, Service};
use crate::crypto::seal;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::numeric_code;
use crate::ports::{DeliveryChannel, OutgoingMessage};
use crate::store::{CodeRow, UserRow};

pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// What a CustomMessage trigger answered.
struct CustomText {
    sms_message: Option<String>,
    email_message: Option<String>,
    email_subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignUp,
    ForgotPassword,
    Verify,
}

impl Purpose {
    pub fn key(self, attr: &str) -> String {
        match self {
            Purpose::SignUp => "signup".into(),
            Purpose::ForgotPassword => "forgot".into(),
            Purpose::Verify => format!("verify:{attr}"),
        }
    }
    fn validity_ms(self) -> i64 {
        match self {
            Purpose::ForgotPassword => 3600 * 1000,
            _ => 24 * 3600 * 1000,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Purpose::SignUp => "SignUp",
            Purpose::ForgotPassword => "ForgotPassword",
            Purpose::Verify => "VerifyUserAttribute",
        }
    }
}

impl Service {
    fn code_mac(&self, pool_id: &str, username_key: &str, purpose: &str, code: &str) -> Vec<u8> {
        self.master.mac("code", format!("{pool_id}\n{username_key}\n{purpose}\n{code}").as_bytes()).to_vec()
    }

    /// Makes a code for `user`, stores it (replacing an earlier one) and delivers it to `attr`
    /// (`email` or `phone_number`). `payload` rides along (e.g. a pending attribute value).
    /// `message_purpose` names the message for CustomMessage (its `_Source` suffix).
    pub async fn send_code(
        &self,
        ctx: &Ctx,
        pool: &Pool,
        user: &UserRow,
        purpose: Purpose,
        attr: &str,
        destination: &str,
        payload: Option<String>,
        message_purpose: &'static str,
    ) -> ApiResult<()> {
        let code = numeric_code(self.random.as_ref(), 6);
        let key = purpose.key(attr);
        let now = self.now();
        let stored_payload = Some(serde_json::json!({"attr": attr, "value": payload}).to_string());
        self.store
            .put_code(&CodeRow {
                pool_id: user.pool_id.clone(),
                username_key: user.username_key.clone(),
                purpose: key.clone(),
                code_mac: self.code_mac(&user.pool_id, &user.username_key, &key, &code),
                payload: stored_payload,
                created: now,
                expires: now + purpose.validity_ms(),
                attempts: 0,
            })
            .await?;
        let (subject, message) = render_verification(&pool.config, attr, &code, &user.username);
        let label = if message_purpose.is_empty() { purpose.label() } else { message_purpose };
        self.deliver(ctx, pool, user, attr, destination, subject, message, Some(code), label).await
    }

    /// Sends a message carrying `code` to `destination`: through the pool's custom sender when it
    /// has one for the channel, else with the text its CustomMessage trigger gives (if any), else
    /// as rendered from the pool's templates.
    pub async fn deliver(
        &self,
        ctx: &Ctx,
        pool: &Pool,
        user: &UserRow,
        attr: &str,
        destination: &str,
        subject: Option<String>,
        message: String,
        code: Option<String>,
        purpose: &'static str,
    ) -> ApiResult<()> {
        let email = attr == "email";
        let source = match purpose {
            "SMS_MFA" | "EMAIL_OTP" | "SMS_OTP" => "Authentication",
            other => other,
        };
        if self.custom_send(ctx, pool, user, email, source, code.as_deref()).await {
            return Ok(());
        }
        let (mut subject, mut message) = (subject, message);
        if let Some(custom) = self.custom_message(ctx, pool, user, source, code.as_deref()).await? {
            if email {
                if let Some(m) = custom.email_message {
                    message = m;
                }
                if let Some(s) = custom.email_subject {
                    subject = Some(s);
                }
            } else if let Some(m) = custom.sms_message {
                message = m;
            }
        }
        let channel = if email { DeliveryChannel::Email } else { DeliveryChannel::Sms };
        self.delivery
            .deliver(
                OutgoingMessage {
                    pool_id: user.pool_id.clone(),
                    username: user.username.clone(),
                    channel,
                    destination: destination.to_string(),
                    subject: if channel == DeliveryChannel::Email { subject } else { None },
                    message,
                    code,
                    purpose,
                },
                self.now(),
            )
            .await;
        Ok(())
    }

    /// The CustomMessage trigger's texts, placeholders filled in.
    async fn custom_message(&self, ctx: &Ctx, pool: &Pool, user: &UserRow, source: &str, code: Option<&str>) -> ApiResult<Option<CustomText>> {
        if triggers::configured(&pool.config.lambda_config, Trigger::CustomMessage).is_none() {
            return Ok(None);
        }
        let invitation = source == "AdminCreateUser";
        let request = triggers::with_metadata(
            json!({
                "userAttributes": triggers::event_attributes(user),
                "codeParameter": "{####}",
                "linkParameter": "{##Click Here##}",
                "usernameParameter": if invitation { json!("{username}") } else { Value::Null },
            }),
            ctx,
        );
        let response = json!({ "smsMessage": null, "emailMessage": null, "emailSubject": null });
        let source = format!("CustomMessage_{source}");
        let Some(r) = self.fire(ctx, pool, Trigger::CustomMessage, &source, &user.username, request, response).await? else { return Ok(None) };
        let text = |k: &str| -> ApiResult<Option<String>> {
            match r.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(fill(s, code.unwrap_or_default(), &user.username).replace("{##Click Here##}", "Click Here"))),
                Some(_) => Err(triggers::unrecognizable()),
            }
        };
        let out = CustomText { sms_message: text("smsMessage")?, email_message: text("emailMessage")?, email_subject: text("emailSubject")? };
        for m in [&out.sms_message, &out.email_message].into_iter().flatten() {
            if code.is_some() && !m.contains(code.unwrap_or_default()) {
                return Err(ApiError::new(ErrorKind::InvalidLambdaResponse, "Invalid CustomMessage lambda response: the message must contain the {####} placeholder."));
            }
        }
        if out.sms_message.as_ref().is_some_and(|m| m.chars().count() > 140) || out.email_message.as_ref().is_some_and(|m| m.chars().count() > 20_000) {
            return Err(ApiError::new(ErrorKind::InvalidLambdaResponse, "Invalid CustomMessage lambda response: the message is too long."));
        }
        Ok(Some(out))
    }

    /// Checks a code; on success it is consumed and its payload `(attr, value)` returned.
    pub async fn check_code(&self, user: &UserRow, purpose: Purpose, attr: &str, given: &str) -> ApiResult<(String, Option<String>)> {
        let key = purpose.key(attr);
        let mismatch = || ApiError::new(ErrorKind::CodeMismatch, "Invalid verification code provided, please try again.");
        let Some(row) = self.store.get_code(&user.pool_id, &user.username_key, &key).await? else {
            return Err(mismatch());
        };
        if row.attempts >= MAX_CODE_ATTEMPTS {
            return Err(ApiError::new(ErrorKind::LimitExceeded, "Attempt limit exceeded, please try after some time."));
        }
        if row.expires < self.now() {
            return Err(ApiError::new(ErrorKind::ExpiredCode, "Invalid code provided, please request a code again."));
        }
        let mac = self.code_mac(&user.pool_id, &user.username_key, &key, given);
        if !seal::ct_eq(&mac, &row.code_mac) {
            let n = self.store.bump_code_attempts(&user.pool_id, &user.username_key, &key).await?;
            if n > MAX_CODE_ATTEMPTS {
                return Err(ApiError::new(ErrorKind::LimitExceeded, "Attempt limit exceeded, please try after some time."));
            }
            return Err(mismatch());
        }
        if !self.store.consume_code(&user.pool_id, &user.username_key, &key, &row.code_mac).await? {
            return Err(ApiError::new(ErrorKind::ExpiredCode, "Invalid code provided, please request a code again."));
        }
        let payload: serde_json::Value = row.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
        Ok((
            payload["attr"].as_str().unwrap_or(attr).to_string(),
            payload["value"].as_str().map(str::to_string),
        ))
    }
}

/// The pool's verification message for a code sent to `attr`.
pub fn render_verification(pool: &PoolConfig, attr: &str, code: &str, username: &str) -> (Option<String>, String) {
    let t = &pool.verification_message_template;
    if attr == "email" {
        let subject = t.email_subject.clone().or(pool.email_verification_subject.clone()).unwrap_or_else(|| "Your verification code".into());
        let body = t.email_message.clone().or(pool.email_verification_message.clone()).unwrap_or_else(|| "Your verification code is {####}. ".into());
        (Some(subject), fill(&body, code, username))
    } else {
        let body = t.sms_message.clone().or(pool.sms_verification_message.clone()).unwrap_or_else(|| "Your verification code is {####}. ".into());
        (None, fill(&body, code, username))
    }
}

/// The AdminCreateUser invitation.
pub fn render_invitation(pool: &PoolConfig, attr: &str, password: &str, username: &str) -> (Option<String>, String) {
    let t = pool.admin_create_user_config.invite_message_template.clone().unwrap_or_default();
    if attr == "email" {
        let subject = t.email_subject.unwrap_or_else(|| "Your temporary password".into());
        let body = t.email_message.unwrap_or_else(|| "Your username is {username} and temporary password is {####}. ".into());
        (Some(subject), fill(&body, password, username))
    } else {
        let body = t.sms_message.unwrap_or_else(|| "Your username is {username} and temporary password is {####}. ".into());
        (None, fill(&body, password, username))
    }
}

fn fill(template: &str, code: &str, username: &str) -> String {
    template.replace("{####}", code).replace("{username}", username)
}
