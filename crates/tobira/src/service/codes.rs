//! One-time codes (sign-up confirmation, password reset, attribute verification) and the
//! messages that carry them. Codes are stored only as MACs under the master key.

use super::pools::PoolConfig;
use super::Service;
use crate::crypto::seal;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::numeric_code;
use crate::ports::{DeliveryChannel, OutgoingMessage};
use crate::store::{CodeRow, UserRow};

pub const MAX_CODE_ATTEMPTS: i64 = 5;

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
    pub async fn send_code(
        &self,
        pool: &PoolConfig,
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
        let (subject, message) = render_verification(pool, attr, &code, &user.username);
        self.deliver(user, attr, destination, subject, message, Some(code), if message_purpose.is_empty() { purpose.label() } else { message_purpose }).await;
        Ok(())
    }

    pub async fn deliver(
        &self,
        user: &UserRow,
        attr: &str,
        destination: &str,
        subject: Option<String>,
        message: String,
        code: Option<String>,
        purpose: &'static str,
    ) {
        let channel = if attr == "email" { DeliveryChannel::Email } else { DeliveryChannel::Sms };
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
