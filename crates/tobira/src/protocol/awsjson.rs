//! AWS JSON 1.1: `POST /` with `X-Amz-Target: <Service>.<Operation>`. Decodes the body into the
//! operation's typed input, calls the service, and encodes the result or the error.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::service::{Ctx, Service};

pub const IDP_PREFIX: &str = "AWSCognitoIdentityProviderService";

/// cognito-idp operations that AWS serves without a SigV4 signature (botocore `authtype: none`).
pub const UNSIGNED_OPERATIONS: &[&str] = &[
    "AssociateSoftwareToken", "ChangePassword", "CompleteWebAuthnRegistration", "ConfirmDevice",
    "ConfirmForgotPassword", "ConfirmSignUp", "DeleteUser", "DeleteUserAttributes", "DeleteWebAuthnCredential",
    "ForgetDevice", "ForgotPassword", "GetDevice", "GetTokensFromRefreshToken", "GetUser",
    "GetUserAttributeVerificationCode", "GetUserAuthFactors", "GlobalSignOut", "InitiateAuth", "ListDevices",
    "ListWebAuthnCredentials", "ResendConfirmationCode", "RespondToAuthChallenge", "RevokeToken",
    "SetUserMFAPreference", "SetUserSettings", "SignUp", "StartWebAuthnRegistration", "UpdateAuthEventFeedback",
    "UpdateDeviceStatus", "UpdateUserAttributes", "VerifySoftwareToken", "VerifyUserAttribute", "ListUserSessions",
    "RevokeUserSession",
];

/// lowerCamel form of a member name, as AWS validation messages spell it.
fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Decodes an operation input. Missing or null required members give AWS's validation
/// message; members of the wrong type give SerializationException.
pub fn decode<T: DeserializeOwned>(body: &Value) -> ApiResult<T> {
    let de = body.clone();
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            if let Some(rest) = inner.strip_prefix("missing field `") {
                let field = rest.split('`').next().unwrap_or_default();
                let full = if path == "." || path.is_empty() { camel(field) } else { format!("{}.{}", camel_path(&path), camel(field)) };
                return Err(ApiError::validation(&[format!("Value null at '{full}' failed to satisfy constraint: Member must not be null")]));
            }
            if inner.starts_with("invalid type: null") {
                return Err(ApiError::validation(&[format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    camel_path(&path)
                )]));
            }
            Err(ApiError::new(ErrorKind::SerializationException, format!("Could not read '{}': {inner}", camel_path(&path))))
        }
    }
}

fn camel_path(path: &str) -> String {
    path.split('.').filter(|s| !s.is_empty()).map(camel).collect::<Vec<_>>().join(".")
}

macro_rules! operations {
    ($($name:literal => $method:ident),* $(,)?) => {
        /// Every cognito-idp operation tobira serves.
        pub const SUPPORTED: &[&str] = &[$($name),*];

        pub async fn dispatch(svc: &Service, ctx: &Ctx, op: &str, body: &Value) -> ApiResult<Value> {
            match op {
                $($name => svc.$method(ctx, decode(body)?).await,)*
                other => Err(ApiError::new(ErrorKind::UnknownOperation, format!("Operation {other} is not supported by tobira (AWSCognitoIdentityProviderService.{other})."))),
            }
        }
    };
}

operations! {
    "CreateUserPool" => create_user_pool,
    "DescribeUserPool" => describe_user_pool,
    "ListUserPools" => list_user_pools,
    "TagResource" => tag_resource,
    "UntagResource" => untag_resource,
    "ListTagsForResource" => list_tags_for_resource,
    "UpdateUserPool" => update_user_pool,
    "DeleteUserPool" => delete_user_pool,
    "AddCustomAttributes" => add_custom_attributes,
    "CreateUserPoolClient" => create_user_pool_client,
    "DescribeUserPoolClient" => describe_user_pool_client,
    "ListUserPoolClients" => list_user_pool_clients,
    "UpdateUserPoolClient" => update_user_pool_client,
    "DeleteUserPoolClient" => delete_user_pool_client,
    "SignUp" => sign_up,
    "ConfirmSignUp" => confirm_sign_up,
    "ResendConfirmationCode" => resend_confirmation_code,
    "AdminConfirmSignUp" => admin_confirm_sign_up,
    "AdminCreateUser" => admin_create_user,
    "AdminGetUser" => admin_get_user,
    "GetUser" => get_user,
    "AdminUpdateUserAttributes" => admin_update_user_attributes,
    "UpdateUserAttributes" => update_user_attributes,
    "GetUserAttributeVerificationCode" => get_user_attribute_verification_code,
    "VerifyUserAttribute" => verify_user_attribute,
    "AdminDeleteUserAttributes" => admin_delete_user_attributes,
    "DeleteUserAttributes" => delete_user_attributes,
    "AdminDeleteUser" => admin_delete_user,
    "DeleteUser" => delete_user,
    "AdminDisableUser" => admin_disable_user,
    "AdminEnableUser" => admin_enable_user,
    "ListUsers" => list_users,
    "AdminSetUserPassword" => admin_set_user_password,
    "AdminResetUserPassword" => admin_reset_user_password,
    "ForgotPassword" => forgot_password,
    "ConfirmForgotPassword" => confirm_forgot_password,
    "ChangePassword" => change_password,
    "CreateGroup" => create_group,
    "GetGroup" => get_group,
    "UpdateGroup" => update_group,
    "DeleteGroup" => delete_group,
    "ListGroups" => list_groups,
    "AdminAddUserToGroup" => admin_add_user_to_group,
    "AdminRemoveUserFromGroup" => admin_remove_user_from_group,
    "AdminListGroupsForUser" => admin_list_groups_for_user,
    "ListUsersInGroup" => list_users_in_group,
    "InitiateAuth" => initiate_auth,
    "AdminInitiateAuth" => admin_initiate_auth,
    "RespondToAuthChallenge" => respond_to_auth_challenge,
    "AdminRespondToAuthChallenge" => admin_respond_to_auth_challenge,
    "GlobalSignOut" => global_sign_out,
    "AdminUserGlobalSignOut" => admin_user_global_sign_out,
    "RevokeToken" => revoke_token,
    "GetTokensFromRefreshToken" => get_tokens_from_refresh_token,
    "SetUserPoolMfaConfig" => set_user_pool_mfa_config,
    "GetUserPoolMfaConfig" => get_user_pool_mfa_config,
    "AssociateSoftwareToken" => associate_software_token,
    "VerifySoftwareToken" => verify_software_token,
    "SetUserMFAPreference" => set_user_mfa_preference,
    "AdminSetUserMFAPreference" => admin_set_user_mfa_preference,
    "SetUserSettings" => set_user_settings,
    "AdminSetUserSettings" => admin_set_user_settings,
    "AdminDeleteSoftwareToken" => admin_delete_software_token,
    "GetUserAuthFactors" => get_user_auth_factors,
    "AdminGetUserAuthFactors" => admin_get_user_auth_factors,
    "ConfirmDevice" => confirm_device,
    "GetDevice" => get_device,
    "AdminGetDevice" => admin_get_device,
    "ListDevices" => list_devices,
    "AdminListDevices" => admin_list_devices,
    "UpdateDeviceStatus" => update_device_status,
    "AdminUpdateDeviceStatus" => admin_update_device_status,
    "ForgetDevice" => forget_device,
    "AdminForgetDevice" => admin_forget_device,
    "AdminListUserAuthEvents" => admin_list_user_auth_events,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/operations.md says "yes" exactly for the operations `dispatch` serves.
    #[test]
    fn operations_table_matches_dispatch() {
        let doc = include_str!("../../../../docs/operations.md");
        let mut yes = vec![];
        let mut rows = 0;
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() == 5 && !cells[1].is_empty() && cells[1] != "operation" && !cells[1].starts_with("---") {
                rows += 1;
                if cells[3] == "yes" {
                    yes.push(cells[1].to_string());
                }
                let unsigned = UNSIGNED_OPERATIONS.contains(&cells[1]);
                assert_eq!(cells[2] == "none", unsigned, "auth column of {}", cells[1]);
            }
        }
        assert!(rows > 100, "the table lists every operation ({rows} rows found)");
        let mut supported: Vec<String> = SUPPORTED.iter().map(|s| s.to_string()).collect();
        supported.sort();
        yes.sort();
        assert_eq!(yes, supported, "docs/operations.md is out of date");
        let count_line = format!("{} of {rows} operations supported.", SUPPORTED.len());
        assert!(doc.contains(&count_line), "docs/operations.md should say: {count_line}");
    }

    #[test]
    fn decode_reports_aws_validation_messages() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "PascalCase")]
        #[allow(dead_code)]
        struct In {
            user_pool_id: String,
            limit: Option<i64>,
        }
        let e = decode::<In>(&serde_json::json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert_eq!(e.message, "1 validation error detected: Value null at 'userPoolId' failed to satisfy constraint: Member must not be null");
        let e = decode::<In>(&serde_json::json!({"UserPoolId": "x", "Limit": "ten"})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SerializationException);
    }
}
