//! UserMigration: a user unknown to the pool is looked up by the pool's migration function at
//! sign-in (with the password typed) or at ForgotPassword, and created from its answer
//! (cognito-observed §1.8). The function is asked once per user: afterwards the user exists.

use serde_json::{json, Value};

use super::attributes::{self as attrs, AttributeType};
use super::triggers::{self, Trigger};
use super::users::{desired_identifiers, new_user_row, CONFIRMED, RESET_REQUIRED};
use super::{Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::uuid_v4;
use crate::store::{StoreError, UserRow};

impl Service {
    /// Asks the migration function about `typed` (the name the user signed in with). Returns the
    /// new user, or `None` when the pool has no migration function or it knows no such user.
    /// `password` is given at sign-in and becomes the user's password.
    pub async fn migrate_user(&self, ctx: &Ctx, pool: &Pool, client: &Client, typed: &str, password: Option<&str>) -> ApiResult<Option<UserRow>> {
        if triggers::configured(&pool.config.lambda_config, Trigger::UserMigration).is_none() {
            return Ok(None);
        }
        let source = if password.is_some() { "UserMigration_Authentication" } else { "UserMigration_ForgotPassword" };
        let mut request = serde_json::Map::new();
        if let Some(p) = password {
            request.insert("password".into(), json!(p));
        }
        let validation = ctx.initiate_metadata().or_else(|| ctx.trigger_metadata()).unwrap_or_else(|| json!({}));
        request.insert("validationData".into(), validation);
        request.insert("userAttributes".into(), Value::Null);
        let response = json!({
            "userAttributes": null,
            "forceAliasCreation": null,
            "enableSMSMFA": null,
            "finalUserStatus": null,
            "messageAction": null,
            "desiredDeliveryMediums": null,
        });
        let r = match self.fire(ctx, pool, Trigger::UserMigration, source, typed, Value::Object(request), response).await {
            Ok(r) => r.unwrap_or_default(),
            Err(e) if e.kind == ErrorKind::UserLambdaValidation => return Err(ApiError::new(ErrorKind::UserNotFound, e.message)),
            Err(e) => return Err(e),
        };
        let Some(given) = r.get("userAttributes").and_then(Value::as_object) else { return Ok(None) };
        let migration_error = || {
            ApiError::new(
                ErrorKind::UserNotFound,
                format!("Exception migrating user in app client {}: Invalid username or missing email / phone_number / preferred_username attributes", client.row.id),
            )
        };
        let mut list: Vec<AttributeType> = vec![];
        let mut renamed: Option<String> = None;
        for (name, value) in given {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            match name.as_str() {
                "username" => renamed = Some(value),
                "sub" | "cognito:user_status" => {}
                _ => list.push(AttributeType { name: name.clone(), value: Some(value) }),
            }
        }
        let mut a = attrs::validate(&pool.config, &list, true).map_err(|e| ApiError::new(ErrorKind::UserNotFound, format!("UserMigration failed with error {}.", e.message)))?;
        let sub = uuid_v4(self.random.as_ref());
        let username = if let Some(attr) = pool.config.username_attributes().iter().find(|k| match k.as_str() {
            "email" => attrs::looks_like_email(typed),
            "phone_number" => attrs::looks_like_phone(typed),
            _ => false,
        }) {
            // Email or phone is the username: the typed one fills the attribute.
            if attrs::get(&a, attr).is_none() {
                attrs::set(&mut a, attr, typed);
            }
            sub.clone()
        } else if let Some(new_name) = renamed {
            // A new username: the typed identifier must live on as an alias.
            let aliases = pool.config.alias_attributes();
            if aliases.is_empty() {
                return Err(migration_error());
            }
            let alias = if attrs::looks_like_email(typed) && aliases.iter().any(|x| x == "email") {
                "email"
            } else if attrs::looks_like_phone(typed) && aliases.iter().any(|x| x == "phone_number") {
                "phone_number"
            } else if aliases.iter().any(|x| x == "preferred_username") {
                "preferred_username"
            } else {
                return Err(migration_error());
            };
            if attrs::get(&a, alias).is_none() {
                attrs::set(&mut a, alias, typed);
            }
            new_name
        } else if pool.config.username_attributes().is_empty() {
            typed.to_string()
        } else {
            return Err(migration_error());
        };
        let status = match r.get("finalUserStatus").and_then(Value::as_str) {
            Some("RESET_REQUIRED") => RESET_REQUIRED,
            Some("CONFIRMED") | None => {
                if password.is_some() {
                    CONFIRMED
                } else {
                    RESET_REQUIRED
                }
            }
            Some(_) => return Err(triggers::unrecognizable()),
        };
        let mut attributes = vec![("sub".to_string(), sub.clone())];
        attributes.extend(a);
        let now = self.now();
        let mut user = new_user_row(pool, username, sub, status, attributes, now);
        if let Some(p) = password {
            self.set_password(&mut user, p);
        }
        let ids = desired_identifiers(pool, &user.attributes);
        match self.store.insert_user(&user, &ids).await {
            Ok(()) => Ok(Some(user)),
            // Someone else migrated (or created) the same user meanwhile: use theirs.
            Err(StoreError::Duplicate(_)) => self.find_user(pool, typed).await,
            Err(e) => Err(e.into()),
        }
    }
}
