//! User attributes: schema checks, the verified flags, what a client may read or write,
//! and how destinations are masked in CodeDeliveryDetails.

use serde::Deserialize;
use serde_json::{json, Value};

use super::pools::PoolConfig;
use crate::error::{ApiError, ApiResult, ErrorKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeType {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

pub type Attrs = Vec<(String, String)>;

pub fn to_json(attrs: &[(String, String)]) -> Value {
    Value::Array(attrs.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect())
}

pub fn get<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

pub fn set(attrs: &mut Attrs, name: &str, value: &str) {
    if let Some(slot) = attrs.iter_mut().find(|(n, _)| n == name) {
        slot.1 = value.to_string();
    } else {
        attrs.push((name.to_string(), value.to_string()));
    }
}

pub fn remove(attrs: &mut Attrs, name: &str) {
    attrs.retain(|(n, _)| n != name);
}

pub fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !s.chars().any(char::is_whitespace) && s.len() <= 2048
}

/// E.164: `+` and 1–15 digits... Cognito accepts up to 17 characters in practice.
pub fn looks_like_phone(s: &str) -> bool {
    s.len() >= 2 && s.len() <= 17 && s.starts_with('+') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn schema_error(details: &[String]) -> ApiError {
    let mut msg = String::from("Attributes did not conform to the schema: ");
    for d in details {
        msg.push_str(d);
        msg.push('\n');
    }
    ApiError::invalid_parameter(msg)
}

/// Checks names, values and mutability of attributes a caller wants to set.
/// `creating`: the user is being created (immutable attributes may be set then).
pub fn validate(pool: &PoolConfig, given: &[AttributeType], creating: bool) -> ApiResult<Attrs> {
    let mut out: Attrs = Vec::new();
    let mut errs = vec![];
    for a in given {
        let value = a.value.clone().unwrap_or_default();
        let Some(schema) = pool.schema(&a.name) else {
            errs.push(format!("{}: Attribute does not exist in the schema.", a.name));
            continue;
        };
        if a.name == "sub" {
            return Err(ApiError::invalid_parameter("Cannot modify the non-mutable attribute sub"));
        }
        if !creating && schema.mutable == Some(false) {
            return Err(ApiError::invalid_parameter(format!("Cannot modify the non-mutable attribute {}", a.name)));
        }
        if value.chars().count() > 2048 {
            errs.push(format!("{}: String must be no longer than 2048 characters", a.name));
            continue;
        }
        if let Some(c) = &schema.string_attribute_constraints {
            let len = value.chars().count() as i64;
            if let Some(max) = c.max_length.as_deref().and_then(|m| m.parse::<i64>().ok()) {
                if len > max {
                    errs.push(format!("{}: String must be no longer than {max} characters", a.name));
                    continue;
                }
            }
            if let Some(min) = c.min_length.as_deref().and_then(|m| m.parse::<i64>().ok()) {
                if len < min && !value.is_empty() {
                    errs.push(format!("{}: String must be no shorter than {min} characters", a.name));
                    continue;
                }
            }
        }
        match schema.attribute_data_type.as_deref() {
            Some("Number") if !value.is_empty() && value.parse::<f64>().is_err() => {
                errs.push(format!("{}: Number must be a valid number", a.name));
                continue;
            }
            Some("Boolean") if a.name.starts_with("custom:") && !["true", "false", "1", "0"].contains(&value.to_lowercase().as_str()) => {
                errs.push(format!("{}: Boolean must be true or false", a.name));
                continue;
            }
            _ => {}
        }
        if a.name == "email" && !looks_like_email(&value) {
            return Err(ApiError::invalid_parameter("Invalid email address format."));
        }
        if a.name == "phone_number" && !looks_like_phone(&value) {
            return Err(ApiError::invalid_parameter("Invalid phone number format."));
        }
        set(&mut out, &a.name, &value);
    }
    if !errs.is_empty() {
        return Err(schema_error(&errs));
    }
    Ok(out)
}

/// Required attributes missing from `attrs`.
pub fn missing_required(pool: &PoolConfig, attrs: &[(String, String)]) -> Vec<String> {
    pool.schema_attributes
        .iter()
        .filter(|s| s.required == Some(true))
        .filter_map(|s| s.name.clone())
        .filter(|n| n != "sub" && get(attrs, n).is_none_or(str::is_empty))
        .collect()
}

pub fn require_all(pool: &PoolConfig, attrs: &[(String, String)]) -> ApiResult<()> {
    let missing = missing_required(pool, attrs);
    if missing.is_empty() {
        return Ok(());
    }
    Err(schema_error(&missing.iter().map(|n| format!("{n}: The attribute {n} is required")).collect::<Vec<_>>()))
}

/// `email_verified: "true"` with no email (or phone) is refused.
pub fn check_verified_flags(attrs: &[(String, String)]) -> ApiResult<()> {
    if is_true(get(attrs, "email_verified")) && get(attrs, "email").is_none() {
        return Err(ApiError::invalid_parameter("No email provided but email_verified was true"));
    }
    if is_true(get(attrs, "phone_number_verified")) && get(attrs, "phone_number").is_none() {
        return Err(ApiError::invalid_parameter("No phone_number provided but phone_number_verified was true"));
    }
    Ok(())
}

/// Attributes a client may read (None = all).
pub fn readable(attrs: &[(String, String)], read: Option<&[String]>) -> Attrs {
    match read {
        None | Some([]) => attrs.to_vec(),
        Some(list) => attrs.iter().filter(|(n, _)| n == "sub" || list.iter().any(|r| r == n)).cloned().collect(),
    }
}

/// Refuses writes of attributes outside the client's WriteAttributes.
pub fn check_writable(given: &[AttributeType], write: Option<&[String]>) -> ApiResult<()> {
    if let Some(list) = write.filter(|l| !l.is_empty()) {
        for a in given {
            if !list.iter().any(|w| w == &a.name) {
                return Err(ApiError::new(ErrorKind::NotAuthorized, "A client attempted to write unauthorized attribute"));
            }
        }
    }
    Ok(())
}

/// `jane@example.com` → `j***@e***`; `+14325551212` → `+*******1212`.
pub fn mask(attr: &str, value: &str) -> String {
    if attr == "email" {
        let (local, domain) = value.split_once('@').unwrap_or((value, ""));
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***", first(local), first(domain))
    } else {
        let n = value.chars().count();
        let keep = 4.min(n.saturating_sub(1));
        let tail: String = value.chars().skip(n - keep).collect();
        format!("+{}{}", "*".repeat(n.saturating_sub(keep + 1)), tail)
    }
}

pub fn delivery_details(attr: &str, value: &str) -> Value {
    json!({
        "Destination": mask(attr, value),
        "DeliveryMedium": if attr == "email" { "EMAIL" } else { "SMS" },
        "AttributeName": attr,
    })
}
