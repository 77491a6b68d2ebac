//! Passwords: the pool's policy, and the SRP verifier that stands in for the password
//! (no password is ever stored). Verifiers are sealed under the master key.

use super::pools::PasswordPolicy;
use super::Service;
use crate::crypto::srp;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_string;
use crate::store::UserRow;

pub const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

/// Which of Cognito's phrasings a policy failure gets (they differ by operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWording {
    /// SignUp: InvalidParameterException "Password is too short (minimum length 10)" (as recorded against AWS).
    SignUp,
    /// Admin calls: InvalidPasswordException "Password does not conform to policy: Password not long enough".
    Admin,
    /// User calls (ChangePassword, ConfirmForgotPassword, new-password challenge):
    /// InvalidPasswordException "Password did not conform with policy: Password not long enough".
    User,
}

pub fn check_shape(password: &str, field: &str) -> ApiResult<()> {
    let n = password.chars().count();
    if n == 0 || n > 256 || password.starts_with(char::is_whitespace) || password.ends_with(char::is_whitespace) {
        return Err(ApiError::validation(&[format!(
            "Value at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\S]+.*[\\S]+$"
        )]));
    }
    Ok(())
}

pub fn check_policy(policy: &PasswordPolicy, password: &str, wording: PolicyWording) -> ApiResult<()> {
    let min = policy.minimum_length.unwrap_or(8);
    let failure: Option<(&str, String)> = if (password.chars().count() as i64) < min {
        Some(("Password not long enough", format!("Password is too short (minimum length {min})")))
    } else if policy.require_lowercase == Some(true) && !password.chars().any(|c| c.is_lowercase()) {
        Some(("Password must have lowercase characters", "Password invalid (requires lowercase letters)".into()))
    } else if policy.require_uppercase == Some(true) && !password.chars().any(|c| c.is_uppercase()) {
        Some(("Password must have uppercase characters", "Password invalid (requires uppercase letters)".into()))
    } else if policy.require_numbers == Some(true) && !password.chars().any(|c| c.is_ascii_digit()) {
        Some(("Password must have numeric characters", "Password invalid (requires numbers)".into()))
    } else if policy.require_symbols == Some(true) && !password.chars().any(|c| SYMBOLS.contains(c)) {
        Some(("Password must have symbol characters", "Password invalid (requires special symbols)".into()))
    } else {
        None
    };
    match (failure, wording) {
        (None, _) => Ok(()),
        (Some((_, signup)), PolicyWording::SignUp) => Err(ApiError::new(ErrorKind::InvalidParameter, signup)),
        (Some((short, _)), PolicyWording::Admin) => Err(ApiError::new(ErrorKind::InvalidPassword, format!("Password does not conform to policy: {short}"))),
        (Some((short, _)), PolicyWording::User) => Err(ApiError::new(ErrorKind::InvalidPassword, format!("Password did not conform with policy: {short}"))),
    }
}

impl Service {
    /// Replaces the user's password: a fresh salt and verifier, sealed to this user.
    pub fn set_password(&self, user: &mut UserRow, password: &str) {
        let salt = srp::new_salt(self.random.as_ref());
        let v = srp::compute_verifier(srp::pool_name(&user.pool_id), &user.username, password, &salt);
        let mut blob = Vec::with_capacity(1 + salt.len() + v.len());
        blob.push(salt.len() as u8);
        blob.extend_from_slice(&salt);
        blob.extend_from_slice(&v);
        user.verifier = Some(self.master.seal(&Service::seal_context("verifier", &user.pool_id, &user.sub), &blob));
        user.failed_attempts = 0;
        user.locked_until = 0;
    }

    /// The user's (salt, verifier), unsealed.
    pub fn verifier(&self, user: &UserRow) -> ApiResult<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(sealed) = &user.verifier else { return Ok(None) };
        let blob = self
            .master
            .open(&Service::seal_context("verifier", &user.pool_id, &user.sub), sealed)
            .map_err(|_| ApiError::internal("cannot unseal a password verifier: wrong master key?"))?;
        let n = *blob.first().ok_or_else(|| ApiError::internal("empty verifier"))? as usize;
        if blob.len() < 1 + n {
            return Err(ApiError::internal("short verifier"));
        }
        Ok(Some((blob[1..1 + n].to_vec(), blob[1 + n..].to_vec())))
    }

    /// Recomputes the verifier from `password` and compares in constant time.
    pub fn password_matches(&self, user: &UserRow, password: &str) -> ApiResult<bool> {
        Ok(match self.verifier(user)? {
            None => false,
            Some((salt, v)) => srp::verify_password(srp::pool_name(&user.pool_id), &user.username, password, &salt, &v),
        })
    }

    /// A temporary password that satisfies the pool's policy.
    pub fn temporary_password(&self, policy: &PasswordPolicy) -> String {
        let len = policy.minimum_length.unwrap_or(8).max(12) as usize;
        let mut p = String::new();
        p.push_str(&random_string(self.random.as_ref(), b"ABCDEFGHJKLMNPQRSTUVWXYZ", 1));
        p.push_str(&random_string(self.random.as_ref(), b"abcdefghijkmnopqrstuvwxyz", 1));
        p.push_str(&random_string(self.random.as_ref(), b"23456789", 1));
        p.push_str(&random_string(self.random.as_ref(), b"!#%&*+-=?@^_", 1));
        p.push_str(&random_string(self.random.as_ref(), b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", len - 4));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_policy() -> PasswordPolicy {
        PasswordPolicy::cognito_default()
    }

    #[test]
    fn policy_wordings() {
        let p = PasswordPolicy { minimum_length: Some(10), ..default_policy() };
        let e = check_policy(&p, "Short1!", PolicyWording::SignUp).unwrap_err();
        assert_eq!(e.message, "Password is too short (minimum length 10)");
        let e = check_policy(&p, "Short1!", PolicyWording::Admin).unwrap_err();
        assert_eq!(e.message, "Password does not conform to policy: Password not long enough");
        assert_eq!(e.kind, ErrorKind::InvalidPassword);
        let e = check_policy(&p, "Longenough11", PolicyWording::SignUp).unwrap_err();
        assert_eq!(e.message, "Password invalid (requires special symbols)");
        let e = check_policy(&p, "Longenough!!", PolicyWording::SignUp).unwrap_err();
        assert_eq!(e.message, "Password invalid (requires numbers)");
        assert!(check_policy(&p, "Longenough1!", PolicyWording::User).is_ok());
        assert!(check_policy(&p, "Long enough 1", PolicyWording::User).is_ok(), "space is a symbol");
    }
}
