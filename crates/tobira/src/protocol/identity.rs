//! cognito-identity over AWS JSON 1.1 (`X-Amz-Target: AWSCognitoIdentityService.<Operation>`):
//! the same wire as cognito-idp, another dispatch table.

use serde_json::Value;

use super::awsjson::decode;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::service::{Ctx, Service};

pub const PREFIX: &str = "AWSCognitoIdentityService";

/// Operations AWS serves without a signature (botocore `authtype: none`).
pub const UNSIGNED_OPERATIONS: &[&str] = &["GetId", "GetCredentialsForIdentity", "GetOpenIdToken", "UnlinkIdentity"];

macro_rules! identity_operations {
    ($($name:literal => $method:ident),* $(,)?) => {
        /// Every cognito-identity operation tobira serves.
        pub const SUPPORTED: &[&str] = &[$($name),*];

        pub async fn dispatch(svc: &Service, ctx: &Ctx, op: &str, body: &Value) -> ApiResult<Value> {
            match op {
                $($name => svc.$method(ctx, decode(body)?).await,)*
                other => Err(ApiError::new(ErrorKind::UnknownOperation, format!("Operation {other} is not supported by tobira ({PREFIX}.{other})."))),
            }
        }
    };
}

identity_operations! {
    "CreateIdentityPool" => create_identity_pool,
    "DescribeIdentityPool" => describe_identity_pool,
    "UpdateIdentityPool" => update_identity_pool,
    "DeleteIdentityPool" => delete_identity_pool,
    "ListIdentityPools" => list_identity_pools,
    "SetIdentityPoolRoles" => set_identity_pool_roles,
    "GetIdentityPoolRoles" => get_identity_pool_roles,
    "GetId" => get_id,
    "GetCredentialsForIdentity" => get_credentials_for_identity,
    "GetOpenIdToken" => get_open_id_token,
    "DescribeIdentity" => describe_identity,
    "ListIdentities" => list_identities,
    "DeleteIdentities" => delete_identities,
    "GetOpenIdTokenForDeveloperIdentity" => get_open_id_token_for_developer_identity,
    "LookupDeveloperIdentity" => lookup_developer_identity,
    "UnlinkIdentity" => unlink_identity,
}
