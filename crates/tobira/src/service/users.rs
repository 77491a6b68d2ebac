//! Users: sign-up and confirmation, admin creation, reading and updating attributes,
//! verification, enable/disable/delete, listing, and every way a password changes.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::attributes::{self as attrs, AttributeType, Attrs};
use super::codes::{render_invitation, Purpose};
use super::password::{check_policy, check_shape, PolicyWording};
use super::pools::{decode_token, encode_token};
use super::triggers::{self, pairs_to_map, Trigger};
use super::{epoch, filter, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::uuid_v4;
use crate::store::{Identifier, StoreError, UserRow};

pub const UNCONFIRMED: &str = "UNCONFIRMED";
pub const CONFIRMED: &str = "CONFIRMED";
pub const FORCE_CHANGE_PASSWORD: &str = "FORCE_CHANGE_PASSWORD";
pub const RESET_REQUIRED: &str = "RESET_REQUIRED";

// ---------------------------------------------------------------- inputs

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignUpInput {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub username: String,
    pub password: Option<String>,
    pub user_attributes: Option<Vec<AttributeType>>,
    pub validation_data: Option<Vec<AttributeType>>,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmSignUpInput {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub username: String,
    pub confirmation_code: String,
    pub force_alias_creation: Option<bool>,
    pub client_metadata: Option<HashMap<String, String>>,
    /// The Session SignUp answered with (optional).
    pub session: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientUserInput {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub username: String,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmForgotPasswordInput {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub username: String,
    pub confirmation_code: String,
    pub password: String,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminUserInput {
    pub user_pool_id: String,
    pub username: String,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminCreateUserInput {
    pub user_pool_id: String,
    pub username: String,
    pub user_attributes: Option<Vec<AttributeType>>,
    pub validation_data: Option<Vec<AttributeType>>,
    pub temporary_password: Option<String>,
    pub force_alias_creation: Option<bool>,
    pub message_action: Option<String>,
    pub desired_delivery_mediums: Option<Vec<String>>,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminUpdateUserAttributesInput {
    pub user_pool_id: String,
    pub username: String,
    pub user_attributes: Vec<AttributeType>,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserAttributesInput {
    pub access_token: String,
    pub user_attributes: Vec<AttributeType>,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminDeleteUserAttributesInput {
    pub user_pool_id: String,
    pub username: String,
    pub user_attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteUserAttributesInput {
    pub access_token: String,
    pub user_attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessTokenInput {
    pub access_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeVerificationCodeInput {
    pub access_token: String,
    pub attribute_name: String,
    pub client_metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyUserAttributeInput {
    pub access_token: String,
    pub attribute_name: String,
    pub code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersInput {
    pub user_pool_id: String,
    pub attributes_to_get: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub pagination_token: Option<String>,
    pub filter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminSetUserPasswordInput {
    pub user_pool_id: String,
    pub username: String,
    pub password: String,
    pub permanent: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangePasswordInput {
    pub previous_password: Option<String>,
    pub proposed_password: String,
    pub access_token: String,
}

// ---------------------------------------------------------------- helpers

/// The identifiers (username attributes and aliases) a user with `attrs` holds.
pub fn desired_identifiers(pool: &Pool, a: &[(String, String)]) -> Vec<Identifier> {
    let cfg = &pool.config;
    let mut out = vec![];
    let key = |v: &str| cfg.username_key(v);
    for attr in cfg.username_attributes() {
        if let Some(v) = attrs::get(a, attr) {
            out.push(Identifier { kind: attr.clone(), value_key: key(v) });
        }
    }
    for alias in cfg.alias_attributes() {
        let held = match alias.as_str() {
            "preferred_username" => attrs::get(a, alias).is_some(),
            other => attrs::get(a, other).is_some() && attrs::is_true(attrs::get(a, &format!("{other}_verified"))),
        };
        if held {
            if let Some(v) = attrs::get(a, alias) {
                out.push(Identifier { kind: alias.clone(), value_key: key(v) });
            }
        }
    }
    out
}

fn user_json(u: &UserRow, attributes_key: &str, only: Option<&[String]>) -> Value {
    let a: Attrs = match only {
        Some(names) => u.attributes.iter().filter(|(n, _)| names.iter().any(|x| x == n)).cloned().collect(),
        None => u.attributes.clone(),
    };
    let mut v = json!({
        "Username": u.username,
        attributes_key: attrs::to_json(&a),
        "UserCreateDate": epoch(u.created),
        "UserLastModifiedDate": epoch(u.modified),
        "Enabled": u.enabled,
        "UserStatus": u.status,
    });
    let extra: Value = serde_json::from_str(&u.extra).unwrap_or_default();
    if let Some(list) = extra.get("UserMFASettingList").filter(|l| l.as_array().is_some_and(|a| !a.is_empty())) {
        v["UserMFASettingList"] = list.clone();
    }
    if let Some(p) = extra.get("PreferredMfaSetting").filter(|p| p.is_string()) {
        v["PreferredMfaSetting"] = p.clone();
    }
    if let Some(o) = extra.get("MFAOptions").filter(|l| l.as_array().is_some_and(|a| !a.is_empty())) {
        v["MFAOptions"] = o.clone();
    }
    v
}

fn validate_username(pool: &Pool, username: &str) -> ApiResult<()> {
    let n = username.chars().count();
    if n == 0 || n > 128 || username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::validation(&[format!(
            "Value '{username}' at 'username' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}]+"
        )]));
    }
    let aliases = pool.config.alias_attributes();
    if aliases.iter().any(|a| a == "email") && attrs::looks_like_email(username) {
        return Err(ApiError::invalid_parameter("Username cannot be of email format, since user pool is configured for email alias."));
    }
    if aliases.iter().any(|a| a == "phone_number") && attrs::looks_like_phone(username) {
        return Err(ApiError::invalid_parameter("Username cannot be of phone number format, since user pool is configured for phone number alias."));
    }
    Ok(())
}

/// For pools whose username is an email or phone: checks the shape, and returns
/// (the attribute it fills, the generated username = sub).
fn username_attribute_for(pool: &Pool, username: &str) -> ApiResult<Option<&'static str>> {
    let ua = pool.config.username_attributes();
    if ua.is_empty() {
        return Ok(None);
    }
    let email = ua.iter().any(|a| a == "email");
    let phone = ua.iter().any(|a| a == "phone_number");
    if email && attrs::looks_like_email(username) {
        return Ok(Some("email"));
    }
    if phone && attrs::looks_like_phone(username) {
        return Ok(Some("phone_number"));
    }
    Err(ApiError::invalid_parameter(match (email, phone) {
        (true, true) => "Username should be either an email or a phone number.",
        (true, false) => "Username should be an email.",
        _ => "Username should be a phone number.",
    }))
}

fn duplicate_error(pool: &Pool, what: &str) -> ApiError {
    match what.strip_prefix("identifier:") {
        Some(kind) if pool.config.username_attributes().iter().any(|a| a == kind) => {
            ApiError::new(ErrorKind::UsernameExists, format!("An account with the given {kind} already exists."))
        }
        Some(kind) => ApiError::new(ErrorKind::AliasExists, format!("An account with the given {kind} already exists.")),
        None => ApiError::new(ErrorKind::UsernameExists, "User already exists"),
    }
}

impl Service {
    /// Finds a user by username, or by an email/phone username attribute, or by a held alias.
    pub async fn find_user(&self, pool: &Pool, name: &str) -> ApiResult<Option<UserRow>> {
        let key = pool.config.username_key(name);
        if let Some(u) = self.store.get_user(&pool.row.id, &key).await? {
            return Ok(Some(u));
        }
        let mut kinds: Vec<&str> = vec![];
        for k in pool.config.username_attributes().iter().chain(pool.config.alias_attributes()) {
            let fits = match k.as_str() {
                "email" => attrs::looks_like_email(name),
                "phone_number" => attrs::looks_like_phone(name),
                _ => true,
            };
            if fits && !kinds.contains(&k.as_str()) {
                kinds.push(k);
            }
        }
        for kind in kinds {
            if let Some(u) = self.store.get_user_by_identifier(&pool.row.id, kind, &key).await? {
                return Ok(Some(u));
            }
        }
        Ok(None)
    }

    pub async fn require_user(&self, pool: &Pool, name: &str) -> ApiResult<UserRow> {
        self.find_user(pool, name).await?.ok_or_else(ApiError::user_not_found)
    }

    /// Saves `user` and moves its identifiers from `before` to what its attributes now call for.
    pub async fn persist_user(&self, pool: &Pool, user: &mut UserRow, before: &[Identifier], force_alias: bool) -> ApiResult<()> {
        let after = desired_identifiers(pool, &user.attributes);
        let release: Vec<Identifier> = before.iter().filter(|i| !after.contains(i)).cloned().collect();
        let claim: Vec<Identifier> = after.iter().filter(|i| !before.contains(i)).cloned().collect();
        if force_alias {
            for id in &claim {
                if pool.config.alias_attributes().contains(&id.kind) {
                    if let Some(holder) = self.store.get_user_by_identifier(&pool.row.id, &id.kind, &id.value_key).await? {
                        if holder.username_key != user.username_key {
                            Box::pin(self.strip_alias(pool, holder, &id.kind)).await?;
                        }
                    }
                }
            }
        }
        let expected = user.version;
        user.version += 1;
        user.modified = self.now();
        match self.store.update_user(user, expected, &release, &claim).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(ApiError::new(ErrorKind::ConcurrentModification, "user changed concurrently")),
            Err(StoreError::Duplicate(what)) => {
                user.version -= 1;
                Err(duplicate_error(pool, &what))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// ForceAliasCreation: the previous holder of an alias loses it (its attribute becomes unverified).
    async fn strip_alias(&self, pool: &Pool, mut holder: UserRow, kind: &str) -> ApiResult<()> {
        let before = self.store.identifiers_of(&pool.row.id, &holder.username_key).await?;
        if kind == "preferred_username" {
            attrs::remove(&mut holder.attributes, kind);
        } else {
            attrs::set(&mut holder.attributes, &format!("{kind}_verified"), "false");
        }
        self.persist_user(pool, &mut holder, &before, false).await
    }

    /// Where a code for this user goes: (attribute, destination), preferring `prefer`.
    fn code_destination(user: &UserRow, candidates: &[&str], require_verified: bool) -> Option<(String, String)> {
        for attr in candidates {
            if let Some(v) = user.attr(attr) {
                if !require_verified || attrs::is_true(user.attr(&format!("{attr}_verified"))) {
                    return Some((attr.to_string(), v.to_string()));
                }
            }
        }
        None
    }

    // ------------------------------------------------------------ sign-up

    pub async fn sign_up(&self, ctx: &Ctx, input: SignUpInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.check_secret_hash(&client, &input.username, input.secret_hash.as_deref())?;
        if pool.config.admin_create_user_config.allow_admin_create_user_only == Some(true) {
            return Err(ApiError::not_authorized("SignUp is not permitted for this user pool"));
        }
        // Without a password only where the pool signs users in with one-time codes.
        let password = input.password.clone().filter(|p| !p.is_empty());
        let passwordless = Self::allowed_first_factors(&pool).iter().any(|f| f == "EMAIL_OTP" || f == "SMS_OTP");
        if password.is_none() && !passwordless {
            return Err(ApiError::invalid_parameter("Password is required."));
        }
        if let Some(password) = &password {
            check_shape(password, "password")?;
        }
        let mut given = attrs::validate(&pool.config, input.user_attributes.as_deref().unwrap_or(&[]), true)?;
        let fills = username_attribute_for(&pool, &input.username)?;
        if fills.is_none() {
            validate_username(&pool, &input.username)?;
        }
        if let Some(password) = &password {
            check_policy(&pool.config.password_policy(), password, PolicyWording::SignUp)?;
        }
        let sub = uuid_v4(self.random.as_ref());
        let username = match fills {
            Some(attr) => {
                if attrs::get(&given, attr).is_none() {
                    attrs::set(&mut given, attr, &input.username);
                }
                sub.clone()
            }
            None => input.username.clone(),
        };
        attrs::check_verified_flags(&given)?;
        attrs::require_all(&pool.config, &given)?;
        let validation = validation_map(input.validation_data.as_deref());
        let answer = self.pre_sign_up(ctx, &pool, "PreSignUp_SignUp", &username, &given, validation).await?;
        // Cognito adds the verified flags as "false" for a new e-mail or phone.
        let mut a: Attrs = vec![("sub".into(), sub.clone())];
        for (n, v) in given {
            a.push((n, v));
        }
        for attr in ["email", "phone_number"] {
            if attrs::get(&a, attr).is_some() && attrs::get(&a, &format!("{attr}_verified")).is_none() {
                attrs::set(&mut a, &format!("{attr}_verified"), "false");
            }
        }
        if answer.auto_verify_email && attrs::get(&a, "email").is_some() {
            attrs::set(&mut a, "email_verified", "true");
        }
        if answer.auto_verify_phone && attrs::get(&a, "phone_number").is_some() {
            attrs::set(&mut a, "phone_number_verified", "true");
        }
        let now = self.now();
        let status = if answer.auto_confirm { CONFIRMED } else { UNCONFIRMED };
        let mut user = new_user_row(&pool, username, sub.clone(), status, a, now);
        if let Some(password) = &password {
            self.set_password(&mut user, password);
        }
        let ids = desired_identifiers(&pool, &user.attributes);
        match self.store.insert_user(&user, &ids).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(what)) => return Err(duplicate_error(&pool, &what)),
            Err(e) => return Err(e.into()),
        }
        let mut out = json!({ "UserConfirmed": answer.auto_confirm, "UserSub": sub });
        if Self::offers_sign_up_session(&client) {
            out["Session"] = json!(self.sign_up_session(&pool, &client, &user, answer.auto_confirm).await?);
        }
        if answer.auto_confirm {
            self.notify(ctx, &pool, Trigger::PostConfirmation, "PostConfirmation_ConfirmSignUp", &user, None).await?;
            return Ok(out);
        }
        let auto: Vec<&str> = ["email", "phone_number"].into_iter().filter(|a| pool.config.auto_verified().iter().any(|x| x == a)).collect();
        if let Some((attr, dest)) = Self::code_destination(&user, &auto, false) {
            self.send_code(ctx, &pool, &user, Purpose::SignUp, &attr, &dest, None, "SignUp").await?;
            out["CodeDeliveryDetails"] = attrs::delivery_details(&attr, &dest);
        }
        Ok(out)
    }

    pub async fn confirm_sign_up(&self, ctx: &Ctx, input: ConfirmSignUpInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.check_secret_hash(&client, &input.username, input.secret_hash.as_deref())?;
        let mut user = match self.find_user(&pool, &input.username).await? {
            Some(u) => u,
            None if client.config.prevent_user_existence_errors() => {
                return Err(ApiError::new(ErrorKind::CodeMismatch, "Invalid verification code provided, please try again."))
            }
            None => return Err(ApiError::user_not_found()),
        };
        if user.status != UNCONFIRMED {
            return Err(ApiError::not_authorized(format!("User cannot be confirmed. Current status is {}", user.status)));
        }
        let (attr, _) = self.check_code(&user, Purpose::SignUp, "", &input.confirmation_code).await?;
        let before = self.store.identifiers_of(&pool.row.id, &user.username_key).await?;
        user.status = CONFIRMED.into();
        if attr == "email" || attr == "phone_number" {
            attrs::set(&mut user.attributes, &format!("{attr}_verified"), "true");
        }
        self.persist_user(&pool, &mut user, &before, input.force_alias_creation.unwrap_or(false)).await?;
        self.take_sign_up_session(&pool, &client, &user, input.session.as_deref()).await;
        self.notify(ctx, &pool, Trigger::PostConfirmation, "PostConfirmation_ConfirmSignUp", &user, None).await?;
        if Self::offers_sign_up_session(&client) {
            return Ok(json!({ "Session": self.sign_up_session(&pool, &client, &user, true).await? }));
        }
        Ok(json!({}))
    }

    pub async fn resend_confirmation_code(&self, ctx: &Ctx, input: ClientUserInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.check_secret_hash(&client, &input.username, input.secret_hash.as_deref())?;
        let user = match self.find_user(&pool, &input.username).await? {
            Some(u) => u,
            None if client.config.prevent_user_existence_errors() => {
                return Ok(json!({"CodeDeliveryDetails": {"Destination": "u***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}}))
            }
            None => return Err(ApiError::user_not_found()),
        };
        if user.status == CONFIRMED {
            return Err(ApiError::invalid_parameter("User is already confirmed."));
        }
        let (attr, dest) = Self::code_destination(&user, &["email", "phone_number"], false)
            .ok_or_else(|| ApiError::invalid_parameter("Auto verification not turned on."))?;
        self.send_code(ctx, &pool, &user, Purpose::SignUp, &attr, &dest, None, "ResendCode").await?;
        Ok(json!({ "CodeDeliveryDetails": attrs::delivery_details(&attr, &dest) }))
    }

    pub async fn admin_confirm_sign_up(&self, ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false);
        let user = self
            .with_user_retry(|| async {
                let mut user = self.require_user(&pool, &input.username).await?;
                if user.status != UNCONFIRMED {
                    return Err(ApiError::not_authorized(format!("User cannot be confirmed. Current status is {}", user.status)));
                }
                user.status = CONFIRMED.into();
                self.save_user(&mut user, true).await?;
                Ok(user)
            })
            .await?;
        self.notify(ctx, &pool, Trigger::PostConfirmation, "PostConfirmation_ConfirmSignUp", &user, None).await?;
        Ok(json!({}))
    }

    // ------------------------------------------------------------ admin creation

    pub async fn admin_create_user(&self, ctx: &Ctx, input: AdminCreateUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false);
        let action = input.message_action.as_deref();
        if let Some(a) = action {
            if a != "RESEND" && a != "SUPPRESS" {
                return Err(ApiError::validation(&[format!(
                    "Value '{a}' at 'messageAction' failed to satisfy constraint: Member must satisfy enum value set: [RESEND, SUPPRESS]"
                )]));
            }
        }
        let mediums = input.desired_delivery_mediums.clone().unwrap_or_else(|| vec!["SMS".into()]);
        for m in &mediums {
            if m != "SMS" && m != "EMAIL" {
                return Err(ApiError::validation(&[format!(
                    "Value '[{}]' at 'desiredDeliveryMediums' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [SMS, EMAIL]]",
                    mediums.join(", ")
                )]));
            }
        }
        if let Some(p) = &input.temporary_password {
            check_shape(p, "temporaryPassword")?;
            check_policy(&pool.config.password_policy(), p, PolicyWording::Admin)?;
        }
        if action == Some("RESEND") {
            let mut user = self.require_user(&pool, &input.username).await?;
            if user.status != FORCE_CHANGE_PASSWORD {
                return Err(ApiError::new(ErrorKind::UnsupportedOperation, "Resend not possible. User not in FORCE_CHANGE_PASSWORD state."));
            }
            let password = input.temporary_password.clone().unwrap_or_else(|| self.temporary_password(&pool.config.password_policy()));
            self.set_password(&mut user, &password);
            user.password_expires = Some(self.now() + temp_validity_ms(&pool));
            self.save_user(&mut user, true).await?;
            self.send_invitation(ctx, &pool, &user, &mediums, &password).await?;
            return Ok(json!({ "User": user_json(&user, "Attributes", None) }));
        }
        let mut given = attrs::validate(&pool.config, input.user_attributes.as_deref().unwrap_or(&[]), true)?;
        let fills = username_attribute_for(&pool, &input.username)?;
        if fills.is_none() {
            validate_username(&pool, &input.username)?;
        }
        let sub = uuid_v4(self.random.as_ref());
        let username = match fills {
            Some(attr) => {
                if attrs::get(&given, attr).is_none() {
                    attrs::set(&mut given, attr, &input.username);
                }
                sub.clone()
            }
            None => input.username.clone(),
        };
        attrs::check_verified_flags(&given)?;
        // Cognito ignores the answer here: an administrator's user is never auto-confirmed.
        let validation = validation_map(input.validation_data.as_deref());
        self.pre_sign_up(ctx, &pool, "PreSignUp_AdminCreateUser", &username, &given, validation).await?;
        let mut a: Attrs = vec![("sub".into(), sub.clone())];
        a.extend(given);
        let password = input.temporary_password.clone().unwrap_or_else(|| self.temporary_password(&pool.config.password_policy()));
        let now = self.now();
        let mut user = new_user_row(&pool, username, sub, FORCE_CHANGE_PASSWORD, a, now);
        user.password_expires = Some(now + temp_validity_ms(&pool));
        self.set_password(&mut user, &password);
        let mut ids = desired_identifiers(&pool, &user.attributes);
        if input.force_alias_creation == Some(true) {
            let aliases: Vec<Identifier> = ids.iter().filter(|i| pool.config.alias_attributes().contains(&i.kind)).cloned().collect();
            ids.retain(|i| !aliases.contains(i));
            match self.store.insert_user(&user, &ids).await {
                Ok(()) => {}
                Err(StoreError::Duplicate(w)) => return Err(duplicate_error(&pool, &w)),
                Err(e) => return Err(e.into()),
            }
            for id in aliases {
                if let Some(holder) = self.store.get_user_by_identifier(&pool.row.id, &id.kind, &id.value_key).await? {
                    self.strip_alias(&pool, holder, &id.kind).await?;
                }
                self.store.take_identifier(&pool.row.id, &id, &user.username_key).await?;
            }
        } else {
            match self.store.insert_user(&user, &ids).await {
                Ok(()) => {}
                Err(StoreError::Duplicate(w)) => return Err(duplicate_error(&pool, &w)),
                Err(e) => return Err(e.into()),
            }
        }
        if action != Some("SUPPRESS") {
            self.send_invitation(ctx, &pool, &user, &mediums, &password).await?;
        }
        Ok(json!({ "User": user_json(&user, "Attributes", None) }))
    }

    /// Sends the temporary password by the requested mediums; a medium whose attribute the user
    /// lacks falls back to the other one, so the invitation reaches the user if it can.
    async fn send_invitation(&self, ctx: &Ctx, pool: &Pool, user: &UserRow, mediums: &[String], password: &str) -> ApiResult<()> {
        let mut targets: Vec<&str> = vec![];
        for m in mediums {
            let (want, other) = if m == "EMAIL" { ("email", "phone_number") } else { ("phone_number", "email") };
            let pick = if user.attr(want).is_some() { want } else { other };
            if user.attr(pick).is_some() && !targets.contains(&pick) {
                targets.push(pick);
            }
        }
        for attr in targets {
            let dest = user.attr(attr).unwrap_or_default().to_string();
            let (subject, message) = render_invitation(&pool.config, attr, password, &user.username);
            self.deliver(ctx, pool, user, attr, &dest, subject, message, Some(password.to_string()), "AdminCreateUser").await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ reading

    pub async fn admin_get_user(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        Ok(user_json(&user, "UserAttributes", None))
    }

    pub async fn get_user(&self, ctx: &Ctx, input: AccessTokenInput) -> ApiResult<Value> {
        let (_, user, _) = self.verify_access_token(ctx, &input.access_token).await?;
        let u = &user;
        let mut v = json!({ "Username": u.username, "UserAttributes": attrs::to_json(&u.attributes) });
        let full = user_json(u, "UserAttributes", None);
        for k in ["MFAOptions", "UserMFASettingList", "PreferredMfaSetting"] {
            if let Some(x) = full.get(k) {
                v[k] = x.clone();
            }
        }
        Ok(v)
    }

    pub async fn list_users(&self, _ctx: &Ctx, input: ListUsersInput) -> ApiResult<Value> {
        let limit = input.limit.unwrap_or(60);
        if !(0..=60).contains(&limit) {
            return Err(ApiError::validation(&[format!(
                "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if limit < 0 { "greater than or equal to 0" } else { "less than or equal to 60" }
            )]));
        }
        let limit = if limit == 0 { 60 } else { limit };
        let pool = self.pool(&input.user_pool_id).await?;
        let parsed = filter::parse(input.filter.as_deref().unwrap_or(""))?;
        let store_filter = parsed.as_ref().map(|p| filter::to_store(p, |s| pool.config.username_key(s))).transpose()?;
        if let Some(names) = &input.attributes_to_get {
            for n in names {
                if pool.config.schema(n).is_none() {
                    return Err(ApiError::invalid_parameter(format!("One or more requested attributes do not exist: [{n}]")));
                }
            }
        }
        let after = decode_token(input.pagination_token.as_deref())?;
        let rows = self.store.list_users(&pool.row.id, store_filter.as_ref(), after.as_deref(), limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let users: Vec<Value> = rows.iter().map(|u| user_json(u, "Attributes", input.attributes_to_get.as_deref())).collect();
        let mut out = json!({ "Users": users });
        if more {
            out["PaginationToken"] = json!(encode_token(&rows.last().expect("non-empty").username_key));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ attributes

    async fn update_attributes(&self, ctx: &Ctx, pool: &Pool, user: UserRow, given: &[AttributeType], by_admin: bool) -> ApiResult<Value> {
        let changes = attrs::validate(&pool.config, given, false)?;
        let mut user = user;
        let before = self.store.identifiers_of(&pool.row.id, &user.username_key).await?;
        let require_verify = &pool.config.user_attribute_update_settings.attributes_require_verification_before_update;
        let mut to_verify: Vec<(String, String, bool)> = vec![]; // (attr, new value, pending)
        for (name, value) in &changes {
            let is_contact = name == "email" || name == "phone_number";
            if is_contact && value.is_empty() {
                attrs::remove(&mut user.attributes, name);
                attrs::remove(&mut user.attributes, &format!("{name}_verified"));
                continue;
            }
            if is_contact && user.attr(name) != Some(value.as_str()) {
                let flag = format!("{name}_verified");
                let marked_verified = changes.iter().any(|(n, v)| n == &flag && attrs::is_true(Some(v)));
                let auto = pool.config.auto_verified().iter().any(|a| a == name);
                if marked_verified {
                    attrs::set(&mut user.attributes, name, value);
                } else if auto && require_verify.iter().any(|a| a == name) && user.attr(name).is_some() {
                    // The old value stays until the new one is verified.
                    to_verify.push((name.clone(), value.clone(), true));
                } else {
                    attrs::set(&mut user.attributes, name, value);
                    attrs::set(&mut user.attributes, &flag, "false");
                    if auto {
                        to_verify.push((name.clone(), value.clone(), false));
                    }
                }
                continue;
            }
            if (name == "email_verified" || name == "phone_number_verified") && !by_admin {
                return Err(ApiError::invalid_parameter(format!("Cannot modify the non-mutable attribute {name}")));
            }
            attrs::set(&mut user.attributes, name, value);
        }
        attrs::check_verified_flags(&user.attributes)?;
        self.persist_user(pool, &mut user, &before, false).await?;
        let mut details = vec![];
        for (attr, value, pending) in to_verify {
            self.send_code(ctx, pool, &user, Purpose::Verify, &attr, &value, pending.then(|| value.clone()), "UpdateUserAttribute").await?;
            details.push(attrs::delivery_details(&attr, &value));
        }
        Ok(json!({ "CodeDeliveryDetailsList": details }))
    }

    pub async fn admin_update_user_attributes(&self, ctx: &Ctx, input: AdminUpdateUserAttributesInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false);
        self.with_user_retry(|| async {
            let user = self.require_user(&pool, &input.username).await?;
            self.update_attributes(ctx, &pool, user, &input.user_attributes, true).await
        })
        .await?;
        Ok(json!({}))
    }

    pub async fn update_user_attributes(&self, ctx: &Ctx, input: UpdateUserAttributesInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&auth.client_id);
        let client = self.client(&auth.client_id).await.ok();
        attrs::check_writable(&input.user_attributes, client.as_ref().and_then(|c| c.config.write_attributes.as_deref()))?;
        let pool = auth.pool;
        let key = auth.user.username_key.clone();
        let mut first = Some(auth.user);
        self.with_user_retry(|| {
            let cached = first.take();
            let (pool, key, given) = (&pool, &key, &input.user_attributes);
            async move {
                let user = match cached {
                    Some(u) => u,
                    None => self.store.get_user(&pool.row.id, key).await?.ok_or_else(ApiError::user_not_found)?,
                };
                self.update_attributes(ctx, pool, user, given, false).await
            }
        })
        .await
    }

    pub async fn get_user_attribute_verification_code(&self, ctx: &Ctx, input: AttributeVerificationCodeInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        let attr = input.attribute_name.as_str();
        if attr != "email" && attr != "phone_number" {
            return Err(ApiError::invalid_parameter("Invalid attribute name: only email and phone_number can be verified."));
        }
        let dest = auth
            .user
            .attr(attr)
            .ok_or_else(|| ApiError::invalid_parameter(format!("User does not have the attribute {attr}.")))?
            .to_string();
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&auth.client_id);
        self.send_code(ctx, &auth.pool, &auth.user, Purpose::Verify, attr, &dest, None, "VerifyUserAttribute").await?;
        Ok(json!({ "CodeDeliveryDetails": attrs::delivery_details(attr, &dest) }))
    }

    pub async fn verify_user_attribute(&self, ctx: &Ctx, input: VerifyUserAttributeInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        let attr = input.attribute_name.as_str();
        if attr != "email" && attr != "phone_number" {
            return Err(ApiError::invalid_parameter("Invalid attribute name: only email and phone_number can be verified."));
        }
        let (_, pending) = self.check_code(&auth.user, Purpose::Verify, attr, &input.code).await?;
        let pool = auth.pool;
        self.with_user_retry(|| async {
            let mut user = self.store.get_user(&pool.row.id, &auth.user.username_key).await?.ok_or_else(ApiError::user_not_found)?;
            let before = self.store.identifiers_of(&pool.row.id, &user.username_key).await?;
            if let Some(v) = &pending {
                attrs::set(&mut user.attributes, attr, v);
            }
            attrs::set(&mut user.attributes, &format!("{attr}_verified"), "true");
            self.persist_user(&pool, &mut user, &before, false).await
        })
        .await?;
        Ok(json!({}))
    }

    async fn delete_attributes(&self, pool: &Pool, mut user: UserRow, names: &[String]) -> ApiResult<()> {
        let before = self.store.identifiers_of(&pool.row.id, &user.username_key).await?;
        for n in names {
            let Some(schema) = pool.config.schema(n) else {
                return Err(ApiError::invalid_parameter(format!("Invalid attribute name: {n}")));
            };
            if schema.required == Some(true) || n == "sub" {
                return Err(ApiError::invalid_parameter(format!("Cannot delete the required attribute {n}")));
            }
            attrs::remove(&mut user.attributes, n);
            if n == "email" || n == "phone_number" {
                attrs::remove(&mut user.attributes, &format!("{n}_verified"));
            }
        }
        self.persist_user(pool, &mut user, &before, false).await
    }

    pub async fn admin_delete_user_attributes(&self, _ctx: &Ctx, input: AdminDeleteUserAttributesInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        self.with_user_retry(|| async {
            let user = self.require_user(&pool, &input.username).await?;
            self.delete_attributes(&pool, user, &input.user_attribute_names).await
        })
        .await?;
        Ok(json!({}))
    }

    pub async fn delete_user_attributes(&self, ctx: &Ctx, input: DeleteUserAttributesInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        let pool = auth.pool;
        let key = auth.user.username_key.clone();
        self.with_user_retry(|| async {
            let user = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
            self.delete_attributes(&pool, user, &input.user_attribute_names).await
        })
        .await?;
        Ok(json!({}))
    }

    // ------------------------------------------------------------ lifecycle

    pub async fn admin_delete_user(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        if !self.store.delete_user(&pool.row.id, &user.username_key).await? {
            return Err(ApiError::user_not_found());
        }
        Ok(json!({}))
    }

    pub async fn delete_user(&self, ctx: &Ctx, input: AccessTokenInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        self.store.delete_user(&auth.pool.row.id, &auth.user.username_key).await?;
        Ok(json!({}))
    }

    async fn set_enabled(&self, input: AdminUserInput, enabled: bool) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let key = self
            .with_user_retry(|| async {
                let mut user = self.require_user(&pool, &input.username).await?;
                user.enabled = enabled;
                self.save_user(&mut user, true).await?;
                Ok(user.username_key)
            })
            .await?;
        if !enabled {
            self.store.revoke_all_refresh(&pool.row.id, &key).await?;
        }
        Ok(json!({}))
    }

    pub async fn admin_disable_user(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        self.set_enabled(input, false).await
    }

    pub async fn admin_enable_user(&self, _ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        self.set_enabled(input, true).await
    }

    // ------------------------------------------------------------ passwords

    pub async fn admin_set_user_password(&self, _ctx: &Ctx, input: AdminSetUserPasswordInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        check_shape(&input.password, "password")?;
        check_policy(&pool.config.password_policy(), &input.password, PolicyWording::Admin)?;
        let permanent = input.permanent.unwrap_or(false);
        self.with_user_retry(|| async {
            let mut user = self.require_user(&pool, &input.username).await?;
            self.set_password(&mut user, &input.password);
            if permanent {
                user.status = CONFIRMED.into();
                user.password_expires = None;
            } else {
                user.status = FORCE_CHANGE_PASSWORD.into();
                user.password_expires = Some(self.now() + temp_validity_ms(&pool));
            }
            self.save_user(&mut user, true).await
        })
        .await?;
        Ok(json!({}))
    }

    pub async fn admin_reset_user_password(&self, ctx: &Ctx, input: AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false);
        let user = self
            .with_user_retry(|| async {
                let mut user = self.require_user(&pool, &input.username).await?;
                if user.status == UNCONFIRMED {
                    return Err(ApiError::not_authorized("User password cannot be reset in the current state."));
                }
                user.status = RESET_REQUIRED.into();
                self.save_user(&mut user, true).await?;
                Ok(user)
            })
            .await?;
        self.store.revoke_all_refresh(&pool.row.id, &user.username_key).await?;
        if let Some((attr, dest)) = Self::code_destination(&user, &["email", "phone_number"], true) {
            self.send_code(ctx, &pool, &user, Purpose::ForgotPassword, &attr, &dest, None, "ForgotPassword").await?;
        }
        Ok(json!({}))
    }

    pub async fn forgot_password(&self, ctx: &Ctx, input: ClientUserInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.check_secret_hash(&client, &input.username, input.secret_hash.as_deref())?;
        let found = match self.find_user(&pool, &input.username).await? {
            Some(u) => Some(u),
            None => self.migrate_user(ctx, &pool, &client, &input.username, None).await?,
        };
        let user = match found {
            Some(u) => u,
            None if client.config.prevent_user_existence_errors() => {
                let fake = if attrs::looks_like_phone(&input.username) {
                    attrs::delivery_details("phone_number", &input.username)
                } else {
                    attrs::delivery_details("email", if input.username.contains('@') { &input.username } else { "user@example.com" })
                };
                return Ok(json!({ "CodeDeliveryDetails": fake }));
            }
            None => return Err(ApiError::user_not_found()),
        };
        if !user.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        let (attr, dest) = Self::code_destination(&user, &["email", "phone_number"], true).ok_or_else(|| {
            ApiError::invalid_parameter("Cannot reset password for the user as there is no registered/verified email or phone_number")
        })?;
        self.send_code(ctx, &pool, &user, Purpose::ForgotPassword, &attr, &dest, None, "ForgotPassword").await?;
        Ok(json!({ "CodeDeliveryDetails": attrs::delivery_details(&attr, &dest) }))
    }

    pub async fn confirm_forgot_password(&self, ctx: &Ctx, input: ConfirmForgotPasswordInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        let ctx = &ctx.with_metadata(input.client_metadata.as_ref(), false).for_client(&client.row.id);
        self.check_secret_hash(&client, &input.username, input.secret_hash.as_deref())?;
        check_shape(&input.password, "password")?;
        let user = match self.find_user(&pool, &input.username).await? {
            Some(u) => u,
            None if client.config.prevent_user_existence_errors() => {
                return Err(ApiError::new(ErrorKind::CodeMismatch, "Invalid verification code provided, please try again."))
            }
            None => return Err(ApiError::user_not_found()),
        };
        check_policy(&pool.config.password_policy(), &input.password, PolicyWording::User)?;
        self.check_code(&user, Purpose::ForgotPassword, "", &input.confirmation_code).await?;
        let key = user.username_key.clone();
        let user = self
            .with_user_retry(|| async {
                let mut user = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
                self.set_password(&mut user, &input.password);
                user.status = CONFIRMED.into();
                user.password_expires = None;
                self.save_user(&mut user, true).await?;
                Ok(user)
            })
            .await?;
        self.notify(ctx, &pool, Trigger::PostConfirmation, "PostConfirmation_ConfirmForgotPassword", &user, None).await?;
        Ok(json!({}))
    }

    pub async fn change_password(&self, ctx: &Ctx, input: ChangePasswordInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        check_shape(&input.proposed_password, "proposedPassword")?;
        let previous = input.previous_password.clone().unwrap_or_default();
        if !self.password_matches(&auth.user, &previous)? {
            self.record_failure(&auth.user).await?;
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        check_policy(&auth.pool.config.password_policy(), &input.proposed_password, PolicyWording::User)?;
        let pool = auth.pool;
        let key = auth.user.username_key.clone();
        self.with_user_retry(|| async {
            let mut user = self.store.get_user(&pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
            self.set_password(&mut user, &input.proposed_password);
            self.save_user(&mut user, true).await
        })
        .await?;
        Ok(json!({}))
    }
}

fn temp_validity_ms(pool: &Pool) -> i64 {
    pool.config.password_policy().temporary_password_validity_days.unwrap_or(7) * 86_400_000
}

/// A user about to be created: no password yet, enabled, version 1.
pub fn new_user_row(pool: &Pool, username: String, sub: String, status: &str, attributes: Attrs, now: i64) -> UserRow {
    UserRow {
        pool_id: pool.row.id.clone(),
        username_key: pool.config.username_key(&username),
        username,
        sub,
        status: status.into(),
        enabled: true,
        created: now,
        modified: now,
        version: 1,
        attributes,
        verifier: None,
        password_expires: None,
        failed_attempts: 0,
        locked_until: 0,
        extra: "{}".into(),
    }
}

/// ValidationData as trigger events carry it: a name → value map, empty when none was sent (as in
/// events recorded from Cognito).
fn validation_map(v: Option<&[AttributeType]>) -> Value {
    match v {
        None => json!({}),
        Some(list) => pairs_to_map(&list.iter().map(|a| (a.name.clone(), a.value.clone().unwrap_or_default())).collect::<Vec<_>>()),
    }
}

/// What a PreSignUp trigger answered.
#[derive(Debug, Default)]
pub struct PreSignUpAnswer {
    pub auto_confirm: bool,
    pub auto_verify_email: bool,
    pub auto_verify_phone: bool,
}

impl Service {
    /// Fires PreSignUp (when the pool has it) for a user about to be created.
    pub async fn pre_sign_up(&self, ctx: &Ctx, pool: &Pool, source: &str, username: &str, attributes: &[(String, String)], validation: Value) -> ApiResult<PreSignUpAnswer> {
        if triggers::configured(&pool.config.lambda_config, Trigger::PreSignUp).is_none() {
            return Ok(PreSignUpAnswer::default());
        }
        let request = triggers::with_metadata(json!({ "userAttributes": pairs_to_map(attributes), "validationData": validation }), ctx);
        let response = json!({ "autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false });
        let Some(r) = self.fire(ctx, pool, Trigger::PreSignUp, source, username, request, response).await? else {
            return Ok(PreSignUpAnswer::default());
        };
        let flag = |k: &str| -> ApiResult<bool> {
            match r.get(k) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
                Some(_) => Err(triggers::unrecognizable()),
            }
        };
        let answer = PreSignUpAnswer { auto_confirm: flag("autoConfirmUser")?, auto_verify_email: flag("autoVerifyEmail")?, auto_verify_phone: flag("autoVerifyPhone")? };
        if answer.auto_verify_email && attrs::get(attributes, "email").is_none() {
            return Err(ApiError::invalid_parameter("Email is required to autoVerify email."));
        }
        if answer.auto_verify_phone && attrs::get(attributes, "phone_number").is_none() {
            return Err(ApiError::invalid_parameter("Phone number is required to autoVerify phone number."));
        }
        Ok(answer)
    }
}
