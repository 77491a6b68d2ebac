//! User pools: create, describe, list, update (Cognito resets omitted settings), delete, and
//! the attribute schema.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{epoch, Ctx, Pool, Service};
use crate::crypto::jwt::RsaSigningKey;
use crate::error::{ApiError, ApiResult};
use crate::ports::random::random_string;
use crate::store::{PoolRow, StoreError};

// ---------------------------------------------------------------- settings

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_length: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_uppercase: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_lowercase: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_numbers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_symbols: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_history_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password_validity_days: Option<i64>,
}

impl PasswordPolicy {
    /// What CreateUserPool sets when no policy is given.
    pub fn cognito_default() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: Some(8),
            require_uppercase: Some(true),
            require_lowercase: Some(true),
            require_numbers: Some(true),
            require_symbols: Some(true),
            password_history_size: None,
            temporary_password_validity_days: Some(7),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policies {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_policy: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageTemplate {
    #[serde(rename = "SMSMessage", skip_serializing_if = "Option::is_none")]
    pub sms_message: Option<String>,
    #[serde(rename = "EmailMessage", skip_serializing_if = "Option::is_none")]
    pub email_message: Option<String>,
    #[serde(rename = "EmailSubject", skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminCreateUserConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_admin_create_user_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused_account_validity_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_message_template: Option<MessageTemplate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerificationMessageTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_message_by_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_subject_by_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_email_option: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsernameConfiguration {
    pub case_sensitive: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserAttributeUpdateSettings {
    #[serde(default)]
    pub attributes_require_verification_before_update: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StringConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NumberConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaAttribute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_data_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_only_attribute: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_attribute_constraints: Option<NumberConstraints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_attribute_constraints: Option<StringConstraints>,
}

/// What CreateUserPool and UpdateUserPool accept (UpdateUserPool ignores the create-only ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolSettings {
    pub policies: Option<Policies>,
    pub deletion_protection: Option<String>,
    pub lambda_config: Option<Map<String, Value>>,
    pub auto_verified_attributes: Option<Vec<String>>,
    pub alias_attributes: Option<Vec<String>>,
    pub username_attributes: Option<Vec<String>>,
    pub sms_verification_message: Option<String>,
    pub email_verification_message: Option<String>,
    pub email_verification_subject: Option<String>,
    pub verification_message_template: Option<VerificationMessageTemplate>,
    pub sms_authentication_message: Option<String>,
    pub mfa_configuration: Option<String>,
    pub user_attribute_update_settings: Option<UserAttributeUpdateSettings>,
    pub device_configuration: Option<Value>,
    pub email_configuration: Option<Map<String, Value>>,
    pub sms_configuration: Option<Value>,
    pub user_pool_tags: Option<Map<String, Value>>,
    pub admin_create_user_config: Option<AdminCreateUserConfig>,
    pub schema: Option<Vec<SchemaAttribute>>,
    pub user_pool_add_ons: Option<Value>,
    pub username_configuration: Option<UsernameConfiguration>,
    pub account_recovery_setting: Option<Value>,
    pub user_pool_tier: Option<String>,
}

/// A pool's stored settings; serialized, it is the body of DescribeUserPool's `UserPool`
/// (less the identity fields added on the way out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolConfig {
    pub policies: Policies,
    pub deletion_protection: String,
    pub lambda_config: Map<String, Value>,
    pub schema_attributes: Vec<SchemaAttribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_verified_attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_verification_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verification_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verification_subject: Option<String>,
    pub verification_message_template: VerificationMessageTemplate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_authentication_message: Option<String>,
    pub user_attribute_update_settings: UserAttributeUpdateSettings,
    pub mfa_configuration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_configuration: Option<Value>,
    pub email_configuration: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_tags: Option<Map<String, Value>>,
    pub admin_create_user_config: AdminCreateUserConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_add_ons: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_configuration: Option<UsernameConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_recovery_setting: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_tier: Option<String>,
    /// Set by SetUserPoolMfaConfig (not part of DescribeUserPool's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_token_mfa_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_mfa_configuration: Option<Value>,
}

impl PoolConfig {
    pub fn case_sensitive(&self) -> bool {
        self.username_configuration.as_ref().and_then(|u| u.case_sensitive).unwrap_or(true)
    }
    pub fn username_attributes(&self) -> &[String] {
        self.username_attributes.as_deref().unwrap_or(&[])
    }
    pub fn alias_attributes(&self) -> &[String] {
        self.alias_attributes.as_deref().unwrap_or(&[])
    }
    pub fn auto_verified(&self) -> &[String] {
        self.auto_verified_attributes.as_deref().unwrap_or(&[])
    }
    pub fn password_policy(&self) -> PasswordPolicy {
        self.policies.password_policy.clone().unwrap_or_default()
    }
    pub fn schema(&self, name: &str) -> Option<&SchemaAttribute> {
        self.schema_attributes.iter().find(|a| a.name.as_deref() == Some(name))
    }
    /// The key a username is stored and compared under.
    pub fn username_key(&self, username: &str) -> String {
        if self.case_sensitive() { username.to_string() } else { username.to_lowercase() }
    }
}

pub const STANDARD_ATTRIBUTES: &[(&str, &str)] = &[
    ("sub", "String"),
    ("name", "String"),
    ("given_name", "String"),
    ("family_name", "String"),
    ("middle_name", "String"),
    ("nickname", "String"),
    ("preferred_username", "String"),
    ("profile", "String"),
    ("picture", "String"),
    ("website", "String"),
    ("email", "String"),
    ("email_verified", "Boolean"),
    ("gender", "String"),
    ("birthdate", "String"),
    ("zoneinfo", "String"),
    ("locale", "String"),
    ("phone_number", "String"),
    ("phone_number_verified", "Boolean"),
    ("address", "String"),
    ("updated_at", "Number"),
];

fn standard_schema() -> Vec<SchemaAttribute> {
    STANDARD_ATTRIBUTES
        .iter()
        .map(|(name, ty)| {
            let sub = *name == "sub";
            SchemaAttribute {
                name: Some(name.to_string()),
                attribute_data_type: Some(ty.to_string()),
                developer_only_attribute: Some(false),
                mutable: Some(!sub),
                required: Some(sub),
                number_attribute_constraints: (*ty == "Number").then(|| NumberConstraints { min_value: Some("0".into()), max_value: None }),
                string_attribute_constraints: (*ty == "String").then(|| match *name {
                    "sub" => StringConstraints { min_length: Some("1".into()), max_length: Some("2048".into()) },
                    "birthdate" => StringConstraints { min_length: Some("10".into()), max_length: Some("10".into()) },
                    _ => StringConstraints { min_length: Some("0".into()), max_length: Some("2048".into()) },
                }),
            }
        })
        .collect()
}

const DATA_TYPES: &[&str] = &["String", "Number", "DateTime", "Boolean"];

/// Applies a Schema list (CreateUserPool or AddCustomAttributes) to `schema`.
fn apply_schema(schema: &mut Vec<SchemaAttribute>, given: &[SchemaAttribute], adding_only_custom: bool) -> ApiResult<()> {
    let custom_count = schema.iter().filter(|a| a.name.as_deref().is_some_and(|n| n.starts_with("custom:"))).count();
    let mut added = 0;
    for a in given {
        let name = a.name.clone().ok_or_else(|| ApiError::invalid_parameter("Attribute name is required."))?;
        if name.is_empty() || name.chars().count() > 20 {
            return Err(ApiError::validation(&[format!(
                "Value '{name}' at 'schema.1.member.name' failed to satisfy constraint: Member must have length less than or equal to 20"
            )]));
        }
        let ty = a.attribute_data_type.clone().unwrap_or_else(|| "String".into());
        if !DATA_TYPES.contains(&ty.as_str()) {
            return Err(ApiError::validation(&[format!(
                "Value '{ty}' at 'schema.1.member.attributeDataType' failed to satisfy constraint: Member must satisfy enum value set: [Number, String, DateTime, Boolean]"
            )]));
        }
        let standard = STANDARD_ATTRIBUTES.iter().any(|(n, _)| *n == name);
        if standard && !adding_only_custom {
            let existing = schema.iter_mut().find(|s| s.name.as_deref() == Some(name.as_str())).expect("standard attribute present");
            if name == "sub" {
                continue;
            }
            if let Some(r) = a.required {
                existing.required = Some(r);
            }
            if let Some(m) = a.mutable {
                existing.mutable = Some(m);
            }
            if let Some(c) = &a.string_attribute_constraints {
                existing.string_attribute_constraints = Some(c.clone());
            }
            if let Some(c) = &a.number_attribute_constraints {
                existing.number_attribute_constraints = Some(c.clone());
            }
            continue;
        }
        if a.required == Some(true) {
            return Err(ApiError::invalid_parameter("Required custom attributes are not supported currently."));
        }
        let full = format!("custom:{name}");
        if schema.iter().any(|s| s.name.as_deref() == Some(full.as_str())) {
            return Err(ApiError::invalid_parameter(format!("Existing attribute already has name {full}.")));
        }
        added += 1;
        if custom_count + added > 50 {
            return Err(ApiError::invalid_parameter("Too many custom attributes: a user pool can have at most 50."));
        }
        schema.push(SchemaAttribute {
            name: Some(full),
            attribute_data_type: Some(ty.clone()),
            developer_only_attribute: Some(a.developer_only_attribute.unwrap_or(false)),
            mutable: Some(a.mutable.unwrap_or(true)),
            required: Some(false),
            number_attribute_constraints: if ty == "Number" { Some(a.number_attribute_constraints.clone().unwrap_or_default()) } else { None },
            string_attribute_constraints: if ty == "String" { Some(a.string_attribute_constraints.clone().unwrap_or_default()) } else { None },
        });
    }
    Ok(())
}

fn check_subset(field: &str, given: &Option<Vec<String>>, allowed: &[&str]) -> ApiResult<()> {
    if let Some(v) = given {
        for x in v {
            if !allowed.contains(&x.as_str()) {
                return Err(ApiError::validation(&[format!(
                    "Value '[{}]' at '{field}' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                    v.join(", "),
                    allowed.join(", ")
                )]));
            }
        }
    }
    Ok(())
}

/// Builds the settings Cognito keeps from a request, with every omitted setting at its default.
fn settings_to_config(s: &PoolSettings, schema: Vec<SchemaAttribute>, prev: Option<&PoolConfig>) -> ApiResult<PoolConfig> {
    check_subset("autoVerifiedAttributes", &s.auto_verified_attributes, &["phone_number", "email"])?;
    let mut pp = s.policies.as_ref().and_then(|p| p.password_policy.clone()).unwrap_or_else(PasswordPolicy::cognito_default);
    let min = pp.minimum_length.unwrap_or(8);
    if !(6..=99).contains(&min) {
        return Err(ApiError::validation(&[format!(
            "Value '{min}' at 'policies.passwordPolicy.minimumLength' failed to satisfy constraint: Member must have value {}",
            if min < 6 { "greater than or equal to 6" } else { "less than or equal to 99" }
        )]));
    }
    pp.minimum_length = Some(min);
    for b in [&mut pp.require_uppercase, &mut pp.require_lowercase, &mut pp.require_numbers, &mut pp.require_symbols] {
        b.get_or_insert(false);
    }
    let days = pp.temporary_password_validity_days.unwrap_or(7);
    if !(0..=365).contains(&days) {
        return Err(ApiError::validation(&[format!(
            "Value '{days}' at 'policies.passwordPolicy.temporaryPasswordValidityDays' failed to satisfy constraint: Member must have value less than or equal to 365"
        )]));
    }
    pp.temporary_password_validity_days = Some(days);
    let mfa = s.mfa_configuration.clone().unwrap_or_else(|| "OFF".into());
    if !["OFF", "ON", "OPTIONAL"].contains(&mfa.as_str()) {
        return Err(ApiError::validation(&[format!(
            "Value '{mfa}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
        )]));
    }
    let dp = s.deletion_protection.clone().unwrap_or_else(|| "INACTIVE".into());
    if !["ACTIVE", "INACTIVE"].contains(&dp.as_str()) {
        return Err(ApiError::validation(&[format!(
            "Value '{dp}' at 'deletionProtection' failed to satisfy constraint: Member must satisfy enum value set: [ACTIVE, INACTIVE]"
        )]));
    }
    let mut vmt = s.verification_message_template.clone().unwrap_or_default();
    if vmt.default_email_option.is_none() {
        vmt.default_email_option = Some("CONFIRM_WITH_CODE".into());
    }
    if let Some(opt) = &vmt.default_email_option {
        if !["CONFIRM_WITH_LINK", "CONFIRM_WITH_CODE"].contains(&opt.as_str()) {
            return Err(ApiError::validation(&[format!(
                "Value '{opt}' at 'verificationMessageTemplate.defaultEmailOption' failed to satisfy constraint: Member must satisfy enum value set: [CONFIRM_WITH_LINK, CONFIRM_WITH_CODE]"
            )]));
        }
    }
    for (field, msg) in [("emailVerificationMessage", &s.email_verification_message), ("verificationMessageTemplate.emailMessage", &vmt.email_message), ("smsVerificationMessage", &s.sms_verification_message), ("verificationMessageTemplate.smsMessage", &vmt.sms_message)] {
        if let Some(m) = msg {
            if !m.contains("{####}") {
                return Err(ApiError::validation(&[format!(
                    "Value '{m}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}\\s*]*\\{{####\\}}[\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}\\s*]*"
                )]));
            }
        }
    }
    let mut acuc = s.admin_create_user_config.clone().unwrap_or_default();
    acuc.allow_admin_create_user_only.get_or_insert(false);
    // Cognito reports UnusedAccountValidityDays mirrored from the password policy's TemporaryPasswordValidityDays.
    acuc.unused_account_validity_days = Some(days);
    let mut email_conf = s.email_configuration.clone().unwrap_or_default();
    email_conf.entry("EmailSendingAccount").or_insert_with(|| json!("COGNITO_DEFAULT"));
    let lambda = super::triggers::normalize_lambda_config(s.lambda_config.clone().unwrap_or_default())?;
    let prev_uc = prev.and_then(|p| p.username_configuration.clone());
    Ok(PoolConfig {
        policies: Policies { password_policy: Some(pp), sign_in_policy: s.policies.as_ref().and_then(|p| p.sign_in_policy.clone()) },
        deletion_protection: dp,
        lambda_config: lambda,
        schema_attributes: schema,
        auto_verified_attributes: s.auto_verified_attributes.clone().filter(|v| !v.is_empty()),
        alias_attributes: prev.map(|p| p.alias_attributes.clone()).unwrap_or_else(|| s.alias_attributes.clone().filter(|v| !v.is_empty())),
        username_attributes: prev.map(|p| p.username_attributes.clone()).unwrap_or_else(|| s.username_attributes.clone().filter(|v| !v.is_empty())),
        sms_verification_message: s.sms_verification_message.clone(),
        email_verification_message: s.email_verification_message.clone(),
        email_verification_subject: s.email_verification_subject.clone(),
        verification_message_template: vmt,
        sms_authentication_message: s.sms_authentication_message.clone(),
        user_attribute_update_settings: s.user_attribute_update_settings.clone().unwrap_or_default(),
        mfa_configuration: mfa,
        device_configuration: s.device_configuration.clone(),
        email_configuration: email_conf,
        sms_configuration: s.sms_configuration.clone(),
        user_pool_tags: s.user_pool_tags.clone(),
        admin_create_user_config: acuc,
        user_pool_add_ons: s.user_pool_add_ons.clone(),
        username_configuration: if prev.is_some() { prev_uc } else { s.username_configuration.clone() },
        account_recovery_setting: s.account_recovery_setting.clone(),
        user_pool_tier: s.user_pool_tier.clone(),
        software_token_mfa_configuration: prev.and_then(|p| p.software_token_mfa_configuration.clone()),
        email_mfa_configuration: prev.and_then(|p| p.email_mfa_configuration.clone()),
    })
}

// ---------------------------------------------------------------- operations

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserPoolInput {
    pub pool_name: String,
    #[serde(flatten)]
    pub settings: PoolSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserPoolInput {
    pub user_pool_id: String,
    pub pool_name: Option<String>,
    #[serde(flatten)]
    pub settings: PoolSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolIdInput {
    pub user_pool_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserPoolsInput {
    pub max_results: i64,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddCustomAttributesInput {
    pub user_pool_id: String,
    pub custom_attributes: Vec<SchemaAttribute>,
}

pub fn validate_pool_name(name: &str) -> ApiResult<()> {
    let n = name.chars().count();
    if n == 0 || n > 128 || !name.chars().all(|c| c.is_alphanumeric() || " +=,.@-_".contains(c)) {
        return Err(ApiError::validation(&[format!(
            "Value '{name}' at 'poolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"
        )]));
    }
    Ok(())
}

impl Service {
    pub fn pool_json(&self, ctx: &Ctx, row: &PoolRow, config: &PoolConfig, users: i64) -> Value {
        let _ = ctx;
        let mut v = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
        let m = v.as_object_mut().expect("object");
        m.remove("SoftwareTokenMfaConfiguration");
        m.remove("EmailMfaConfiguration");
        m.insert("Id".into(), json!(row.id));
        m.insert("Name".into(), json!(row.name));
        m.insert("Arn".into(), json!(format!("arn:aws:cognito-idp:{}:{}:userpool/{}", super::region_of_pool(&row.id), self.config.account_id, row.id)));
        m.insert("CreationDate".into(), json!(epoch(row.created)));
        m.insert("LastModifiedDate".into(), json!(epoch(row.modified)));
        m.insert("EstimatedNumberOfUsers".into(), json!(users));
        v
    }

    pub async fn create_user_pool(&self, ctx: &Ctx, input: CreateUserPoolInput) -> ApiResult<Value> {
        validate_pool_name(&input.pool_name)?;
        let s = &input.settings;
        check_subset("usernameAttributes", &s.username_attributes, &["phone_number", "email"])?;
        check_subset("aliasAttributes", &s.alias_attributes, &["phone_number", "email", "preferred_username"])?;
        if s.username_attributes.as_ref().is_some_and(|v| !v.is_empty()) && s.alias_attributes.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::invalid_parameter("Only one of the aliasAttributes or usernameAttributes can be set in a User Pool."));
        }
        let mut schema = standard_schema();
        apply_schema(&mut schema, s.schema.as_deref().unwrap_or(&[]), false)?;
        let config = settings_to_config(s, schema, None)?;
        let region = self.region(ctx);
        let now = self.now();
        let (id_key, id_der) = RsaSigningKey::generate().map_err(|e| ApiError::internal(e.0))?;
        let (access_key, access_der) = RsaSigningKey::generate().map_err(|e| ApiError::internal(e.0))?;
        for _ in 0..5 {
            let id = format!("{region}_{}", random_string(self.random.as_ref(), b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 9));
            let row = PoolRow {
                id: id.clone(),
                name: input.pool_name.clone(),
                created: now,
                modified: now,
                config: serde_json::to_string(&config).map_err(|e| ApiError::internal(e.to_string()))?,
                id_key: self.master.seal(format!("idkey:{id}").as_bytes(), &id_der),
                access_key: self.master.seal(format!("accesskey:{id}").as_bytes(), &access_der),
            };
            match self.store.insert_pool(&row).await {
                Ok(()) => {
                    let keys = std::sync::Arc::new(super::PoolKeys { id: id_key, access: access_key });
                    self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(id, keys);
                    return Ok(json!({ "UserPool": self.pool_json(ctx, &row, &config, 0) }));
                }
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal("could not allocate a pool id"))
    }

    pub async fn describe_user_pool(&self, ctx: &Ctx, input: PoolIdInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let users = self.store.count_users(&pool.row.id).await?;
        Ok(json!({ "UserPool": self.pool_json(ctx, &pool.row, &pool.config, users) }))
    }

    pub async fn list_user_pools(&self, _ctx: &Ctx, input: ListUserPoolsInput) -> ApiResult<Value> {
        if !(1..=60).contains(&input.max_results) {
            return Err(ApiError::validation(&[format!(
                "Value '{}' at 'maxResults' failed to satisfy constraint: Member must have value {}",
                input.max_results,
                if input.max_results < 1 { "greater than or equal to 1" } else { "less than or equal to 60" }
            )]));
        }
        let after = decode_token(input.next_token.as_deref())?;
        let rows = self.store.list_pools(after.as_deref(), input.max_results + 1).await?;
        let more = rows.len() as i64 > input.max_results;
        let rows = &rows[..rows.len().min(input.max_results as usize)];
        let pools: Vec<Value> = rows
            .iter()
            .map(|r| {
                let cfg: PoolConfig = serde_json::from_str(&r.config).unwrap_or_default();
                json!({
                    "Id": r.id, "Name": r.name, "LambdaConfig": cfg.lambda_config,
                    "CreationDate": epoch(r.created), "LastModifiedDate": epoch(r.modified),
                })
            })
            .collect();
        let mut out = json!({ "UserPools": pools });
        if more {
            out["NextToken"] = json!(encode_token(&rows.last().expect("non-empty").id));
        }
        Ok(out)
    }

    pub async fn update_user_pool(&self, _ctx: &Ctx, input: UpdateUserPoolInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let mut settings = input.settings;
        // Omitted settings go back to their defaults, except the tier, which Cognito keeps.
        if settings.user_pool_tier.is_none() {
            settings.user_pool_tier = pool.config.user_pool_tier.clone();
        }
        let config = settings_to_config(&settings, pool.config.schema_attributes.clone(), Some(&pool.config))?;
        let name = input.pool_name.unwrap_or(pool.row.name.clone());
        validate_pool_name(&name)?;
        let text = serde_json::to_string(&config).map_err(|e| ApiError::internal(e.to_string()))?;
        if !self.store.update_pool(&pool.row.id, &name, &text, self.now()).await? {
            return Err(ApiError::resource_not_found(format!("User pool {} does not exist.", pool.row.id)));
        }
        Ok(json!({}))
    }

    pub async fn delete_user_pool(&self, _ctx: &Ctx, input: PoolIdInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        if pool.config.deletion_protection == "ACTIVE" {
            return Err(ApiError::invalid_parameter(
                "The user pool cannot be deleted because deletion protection is activated. Deletion protection must be inactivated first.",
            ));
        }
        self.store.delete_pool(&pool.row.id).await?;
        self.forget_keys(&pool.row.id);
        Ok(json!({}))
    }

    pub async fn add_custom_attributes(&self, _ctx: &Ctx, input: AddCustomAttributesInput) -> ApiResult<Value> {
        if input.custom_attributes.is_empty() {
            return Err(ApiError::validation(&["Value '[]' at 'customAttributes' failed to satisfy constraint: Member must have length greater than or equal to 1".into()]));
        }
        let pool = self.pool(&input.user_pool_id).await?;
        let mut config = (*pool.config).clone();
        apply_schema(&mut config.schema_attributes, &input.custom_attributes, true)?;
        self.save_pool_config(&pool, &config).await?;
        Ok(json!({}))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceArnInput {
    pub resource_arn: String,
}

impl Service {
    /// The pool an ARN names (`arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID`): tags are kept on pools.
    async fn tagged_pool(&self, arn: &str) -> ApiResult<Pool> {
        let id = arn
            .strip_prefix("arn:aws:cognito-idp:")
            .and_then(|rest| rest.split_once(":userpool/"))
            .map(|(_, id)| id)
            .ok_or_else(|| ApiError::invalid_parameter(format!("Invalid ARN: {arn}")))?;
        self.pool(id).await
    }

    async fn save_tags(&self, pool: &Pool, tags: Map<String, Value>) -> ApiResult<()> {
        let mut config = (*pool.config).clone();
        config.user_pool_tags = Some(tags);
        self.save_pool_config(pool, &config).await
    }

    pub async fn tag_resource(&self, _ctx: &Ctx, input: TagResourceInput) -> ApiResult<Value> {
        let pool = self.tagged_pool(&input.resource_arn).await?;
        let mut tags = pool.config.user_pool_tags.clone().unwrap_or_default();
        for (k, v) in input.tags {
            if k.is_empty() || k.chars().count() > 128 || v.as_str().is_none_or(|v| v.chars().count() > 256) {
                return Err(ApiError::invalid_parameter(format!("Invalid tag {k}: keys are 1 to 128 characters, values a string of up to 256.")));
            }
            tags.insert(k, v);
        }
        if tags.len() > 50 {
            return Err(ApiError::invalid_parameter("A user pool can have at most 50 tags."));
        }
        self.save_tags(&pool, tags).await?;
        Ok(json!({}))
    }

    pub async fn untag_resource(&self, _ctx: &Ctx, input: UntagResourceInput) -> ApiResult<Value> {
        let pool = self.tagged_pool(&input.resource_arn).await?;
        let mut tags = pool.config.user_pool_tags.clone().unwrap_or_default();
        for k in &input.tag_keys {
            tags.remove(k);
        }
        self.save_tags(&pool, tags).await?;
        Ok(json!({}))
    }

    pub async fn list_tags_for_resource(&self, _ctx: &Ctx, input: ResourceArnInput) -> ApiResult<Value> {
        let pool = self.tagged_pool(&input.resource_arn).await?;
        Ok(json!({ "Tags": pool.config.user_pool_tags.clone().unwrap_or_default() }))
    }
}

/// Pagination tokens are opaque to clients: base64 of the last key returned.
pub fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

pub fn decode_token(token: Option<&str>) -> ApiResult<Option<String>> {
    use base64::Engine;
    match token {
        None | Some("") => Ok(None),
        Some(t) => base64::engine::general_purpose::STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid_parameter("Invalid pagination token.")),
    }
}
