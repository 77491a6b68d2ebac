//! The ListUsers filter grammar: `AttributeName Op "Value"` with `=` or `^=`, one attribute,
//! quotes inside the value escaped with a backslash. An empty filter lists everyone.

use crate::error::{ApiError, ApiResult};
use crate::store::{UserColumn, UserFilter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFilter {
    pub attribute: String,
    pub prefix: bool,
    pub value: String,
}

pub fn parse(filter: &str) -> ApiResult<Option<ParsedFilter>> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::invalid_parameter("Error while parsing filter.");
    let name_end = f.find(|c: char| c.is_whitespace() || c == '=' || c == '^').ok_or_else(bad)?;
    let mut name = &f[..name_end];
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        name = &name[1..name.len() - 1];
    }
    let rest = f[name_end..].trim_start();
    let (prefix, rest) = if let Some(r) = rest.strip_prefix("^=") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (false, r)
    } else {
        return Err(bad());
    };
    let rest = rest.trim();
    if !(rest.len() >= 2 && rest.starts_with('"') && rest.ends_with('"')) {
        return Err(bad());
    }
    let inner = &rest[1..rest.len() - 1];
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next().ok_or_else(bad)?),
            '"' => return Err(bad()),
            c => value.push(c),
        }
    }
    if name.is_empty() {
        return Err(bad());
    }
    Ok(Some(ParsedFilter { attribute: name.to_string(), prefix, value }))
}

/// Maps a parsed filter onto an indexed store filter. `username_key` turns a username into
/// its stored key (case folding in case-insensitive pools).
pub fn to_store(f: &ParsedFilter, username_key: impl Fn(&str) -> String) -> ApiResult<UserFilter> {
    let col = match f.attribute.as_str() {
        "username" => UserColumn::UsernameKey,
        "email" => UserColumn::Email,
        "phone_number" => UserColumn::PhoneNumber,
        "name" => UserColumn::Name,
        "given_name" => UserColumn::GivenName,
        "family_name" => UserColumn::FamilyName,
        "preferred_username" => UserColumn::PreferredUsername,
        "cognito:user_status" => UserColumn::Status,
        "status" => UserColumn::Enabled,
        "sub" => UserColumn::Sub,
        other => return Err(ApiError::invalid_parameter(format!("Invalid search attribute: {other}"))),
    };
    Ok(match col {
        UserColumn::Enabled => match f.value.as_str() {
            "Enabled" => UserFilter::EnabledIs(true),
            "Disabled" => UserFilter::EnabledIs(false),
            _ => UserFilter::Equals(UserColumn::Sub, String::from("\u{0}never")),
        },
        UserColumn::Status => {
            let v = f.value.to_uppercase();
            if f.prefix { UserFilter::Prefix(col, v) } else { UserFilter::Equals(col, v) }
        }
        UserColumn::UsernameKey => {
            let v = username_key(&f.value);
            if f.prefix { UserFilter::Prefix(col, v) } else { UserFilter::Equals(col, v) }
        }
        _ => {
            if f.prefix { UserFilter::Prefix(col, f.value.clone()) } else { UserFilter::Equals(col, f.value.clone()) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(parse("").unwrap(), None);
        let p = parse(r#"email = "a@b.c""#).unwrap().unwrap();
        assert_eq!((p.attribute.as_str(), p.prefix, p.value.as_str()), ("email", false, "a@b.c"));
        let p = parse(r#"email^="a""#).unwrap().unwrap();
        assert!(p.prefix);
        let p = parse(r#"name = "say \"hi\"""#).unwrap().unwrap();
        assert_eq!(p.value, r#"say "hi""#);
        let p = parse(r#""cognito:user_status" = "confirmed""#).unwrap().unwrap();
        assert_eq!(p.attribute, "cognito:user_status");
        assert!(parse("email = a").is_err());
        assert!(parse(r#"email ~ "a""#).is_err());
        assert!(parse(r#"= "a""#).is_err());
    }

    #[test]
    fn custom_attributes_are_not_searchable() {
        let p = parse(r#"custom:x = "1""#).unwrap().unwrap();
        assert!(to_store(&p, |s| s.to_string()).is_err());
    }
}
