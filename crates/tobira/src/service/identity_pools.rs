//! Identity pools (cognito-identity): pools and their roles, identities keyed by the login that
//! made them, and temporary AWS credentials for a checked login (fact sheet §7). The enhanced
//! flow (GetId → GetCredentialsForIdentity) and the classic one (GetOpenIdToken → STS
//! AssumeRoleWithWebIdentity) both end in [`Service::mint_credentials`], and only for a role whose
//! trust policy admits the identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::iam::Role;
use super::sts::{trust_admits, WebIdentity, CREDENTIALS_SECONDS};
use super::{epoch, Ctx, Service};
use crate::crypto::jwt::{self, RsaSigningKey};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::uuid_v4;
use crate::store::{Record, StoreError};

pub const POOL: &str = "identity_pool";
pub const IDENTITY: &str = "identity";
pub const LOGIN: &str = "identity_login";
const KEY: &str = "identity_key";
const FEDERATED: &str = "cognito-identity.amazonaws.com";
const NO_ROLE: &str = "Invalid identity pool configuration. Check assigned IAM roles for this pool.";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityPoolInput {
    pub identity_pool_id: Option<String>,
    pub identity_pool_name: String,
    pub allow_unauthenticated_identities: bool,
    pub allow_classic_flow: Option<bool>,
    pub supported_login_providers: Option<Map<String, Value>>,
    pub developer_provider_name: Option<String>,
    #[serde(rename = "OpenIdConnectProviderARNs")]
    pub open_id_connect_provider_arns: Option<Vec<String>>,
    pub cognito_identity_providers: Option<Vec<Value>>,
    #[serde(rename = "SamlProviderARNs")]
    pub saml_provider_arns: Option<Vec<String>>,
    pub identity_pool_tags: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolIdInput {
    pub identity_pool_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPoolsInput {
    pub max_results: i64,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetRolesInput {
    pub identity_pool_id: String,
    pub roles: Map<String, Value>,
    pub role_mappings: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdInput {
    pub identity_pool_id: String,
    pub account_id: Option<String>,
    pub logins: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsInput {
    pub identity_id: String,
    pub logins: Option<BTreeMap<String, String>>,
    pub custom_role_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityIdInput {
    pub identity_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIdentitiesInput {
    pub identity_pool_id: String,
    pub max_results: i64,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeveloperTokenInput {
    pub identity_pool_id: String,
    pub identity_id: Option<String>,
    pub logins: BTreeMap<String, String>,
    pub principal_tags: Option<Map<String, Value>>,
    pub token_duration: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupDeveloperInput {
    pub identity_pool_id: String,
    pub identity_id: Option<String>,
    pub developer_user_identifier: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlinkInput {
    pub identity_id: String,
    pub logins: BTreeMap<String, String>,
    pub logins_to_remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteIdentitiesInput {
    pub identity_ids_to_delete: Vec<String>,
}

/// A login that checked out: the provider key, the token's subject and claims.
struct Login {
    provider: String,
    sub: String,
    claims: Map<String, Value>,
    client_id: String,
}

fn not_found(id: &str) -> ApiError {
    ApiError::resource_not_found(format!("IdentityPool '{id}' not found."))
}

fn bad_login(why: &str) -> ApiError {
    ApiError::not_authorized(format!("Invalid login token. {why}"))
}

impl Service {
    async fn identity_pool(&self, id: &str) -> ApiResult<(Value, i64)> {
        let r = self.store.get_record(POOL, id).await?.ok_or_else(|| not_found(id))?;
        let v: Value = serde_json::from_str(&r.body).map_err(|e| ApiError::internal(format!("corrupt identity pool: {e}")))?;
        Ok((v, r.version))
    }

    fn pool_shape(id: &str, input: &IdentityPoolInput) -> ApiResult<Value> {
        if input.identity_pool_name.is_empty() || input.identity_pool_name.len() > 128 {
            return Err(ApiError::validation(&["Value at 'identityPoolName' failed to satisfy constraint: Member must have length between 1 and 128".into()]));
        }
        let mut v = json!({
            "IdentityPoolId": id,
            "IdentityPoolName": input.identity_pool_name,
            "AllowUnauthenticatedIdentities": input.allow_unauthenticated_identities,
            "AllowClassicFlow": input.allow_classic_flow.unwrap_or(false),
        });
        let providers: Vec<Value> = input
            .cognito_identity_providers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|mut p| {
                if p.get("ServerSideTokenCheck").is_none() {
                    p["ServerSideTokenCheck"] = json!(false);
                }
                p
            })
            .collect();
        for p in &providers {
            if p.get("ProviderName").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(ApiError::invalid_parameter("CognitoIdentityProvider ProviderName is required."));
            }
        }
        if let Some(m) = &input.supported_login_providers {
            v["SupportedLoginProviders"] = json!(m);
        }
        if let Some(d) = &input.developer_provider_name {
            v["DeveloperProviderName"] = json!(d);
        }
        if let Some(a) = &input.open_id_connect_provider_arns {
            v["OpenIdConnectProviderARNs"] = json!(a);
        }
        if !providers.is_empty() {
            v["CognitoIdentityProviders"] = json!(providers);
        }
        if let Some(a) = &input.saml_provider_arns {
            v["SamlProviderARNs"] = json!(a);
        }
        v["IdentityPoolTags"] = json!(input.identity_pool_tags.clone().unwrap_or_default());
        Ok(v)
    }

    pub async fn create_identity_pool(&self, ctx: &Ctx, input: IdentityPoolInput) -> ApiResult<Value> {
        let id = format!("{}:{}", self.region(ctx), uuid_v4(self.random.as_ref()));
        let shape = Self::pool_shape(&id, &input)?;
        let body = json!({ "pool": shape, "roles": {}, "roleMappings": {} });
        // Identity pools are regional: the scope is the region, so ListIdentityPools shows only the
        // caller's region, as each Cognito regional endpoint does.
        let scope = self.region(ctx);
        self.store.insert_record(&Record { kind: POOL.into(), id: id.clone(), scope, body: body.to_string(), created: self.now(), version: 1 }).await?;
        Ok(shape)
    }

    pub async fn describe_identity_pool(&self, _ctx: &Ctx, input: PoolIdInput) -> ApiResult<Value> {
        Ok(self.identity_pool(&input.identity_pool_id).await?.0["pool"].clone())
    }

    pub async fn update_identity_pool(&self, _ctx: &Ctx, input: IdentityPoolInput) -> ApiResult<Value> {
        let id = input.identity_pool_id.clone().ok_or_else(|| ApiError::validation(&["Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null".into()]))?;
        let (mut body, v) = self.identity_pool(&id).await?;
        let shape = Self::pool_shape(&id, &input)?;
        body["pool"] = shape.clone();
        self.store.update_record(POOL, &id, &body.to_string(), v).await.map_err(conflict)?;
        Ok(shape)
    }

    pub async fn delete_identity_pool(&self, _ctx: &Ctx, input: PoolIdInput) -> ApiResult<Value> {
        if !self.store.delete_record(POOL, &input.identity_pool_id).await? {
            return Err(not_found(&input.identity_pool_id));
        }
        self.store.delete_records_in(IDENTITY, &input.identity_pool_id).await?;
        self.store.delete_records_in(LOGIN, &input.identity_pool_id).await?;
        Ok(json!({}))
    }

    pub async fn list_identity_pools(&self, ctx: &Ctx, input: ListPoolsInput) -> ApiResult<Value> {
        let limit = input.max_results.clamp(1, 60);
        let region = self.region(ctx);
        let recs = self.store.list_records(POOL, Some(&region), input.next_token.as_deref(), limit + 1).await?;
        let more = recs.len() as i64 > limit;
        let pools: Vec<Value> = recs
            .iter()
            .take(limit as usize)
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .map(|b| json!({ "IdentityPoolId": b["pool"]["IdentityPoolId"], "IdentityPoolName": b["pool"]["IdentityPoolName"] }))
            .collect();
        let mut out = json!({ "IdentityPools": pools });
        if more {
            out["NextToken"] = json!(recs[limit as usize - 1].id);
        }
        Ok(out)
    }

    pub async fn set_identity_pool_roles(&self, _ctx: &Ctx, input: SetRolesInput) -> ApiResult<Value> {
        for (k, v) in &input.roles {
            if k != "authenticated" && k != "unauthenticated" {
                return Err(ApiError::invalid_parameter(format!("Invalid role key {k}: use authenticated or unauthenticated.")));
            }
            let arn = v.as_str().unwrap_or_default();
            if !arn.starts_with("arn:aws:iam::") || !arn.contains(":role/") {
                return Err(ApiError::invalid_parameter(format!("Invalid role ARN {arn}.")));
            }
        }
        let (mut body, v) = self.identity_pool(&input.identity_pool_id).await?;
        body["roles"] = json!(input.roles);
        body["roleMappings"] = json!(input.role_mappings.unwrap_or_default());
        self.store.update_record(POOL, &input.identity_pool_id, &body.to_string(), v).await.map_err(conflict)?;
        Ok(json!({}))
    }

    pub async fn get_identity_pool_roles(&self, _ctx: &Ctx, input: PoolIdInput) -> ApiResult<Value> {
        let (body, _) = self.identity_pool(&input.identity_pool_id).await?;
        let mut out = json!({ "IdentityPoolId": input.identity_pool_id, "Roles": body["roles"] });
        if body["roleMappings"].as_object().is_some_and(|m| !m.is_empty()) {
            out["RoleMappings"] = body["roleMappings"].clone();
        }
        Ok(out)
    }

    // ------------------------------------------------------------ logins

    /// Checks every entry of a Logins map against the pool's providers.
    async fn check_logins(&self, pool: &Value, logins: &BTreeMap<String, String>) -> ApiResult<Vec<Login>> {
        if logins.len() > 10 {
            return Err(ApiError::invalid_parameter("Too many logins: at most 10."));
        }
        let mut out = vec![];
        for (key, token) in logins {
            out.push(self.check_login(pool, key, token).await?);
        }
        Ok(out)
    }

    /// A user-pool login: `cognito-idp.<region>.amazonaws.com/<poolId>` (or the token's own
    /// issuer without its scheme) with an ID token of a client the identity pool lists.
    async fn check_login(&self, pool: &Value, key: &str, token: &str) -> ApiResult<Login> {
        if key == FEDERATED {
            // A token from GetOpenIdToken / GetOpenIdTokenForDeveloperIdentity of this pool.
            let claims = self.verify_open_id_token(token).await.map_err(|_| bad_login("Invalid signature."))?;
            if claims.get("aud").and_then(Value::as_str) != pool["pool"]["IdentityPoolId"].as_str() {
                return Err(bad_login("Audience mismatch."));
            }
            let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
            return Ok(Login { provider: FEDERATED.into(), sub, claims, client_id: String::new() });
        }
        let providers = pool["pool"]["CognitoIdentityProviders"].as_array().cloned().unwrap_or_default();
        let user_pool_id = key.rsplit('/').next().unwrap_or_default();
        let configured: Vec<&Value> = providers
            .iter()
            .filter(|p| p["ProviderName"].as_str().is_some_and(|n| n == key || n.rsplit('/').next() == Some(user_pool_id)))
            .collect();
        if configured.is_empty() || !key.contains('/') {
            return Err(ApiError::not_authorized("Token is not from a supported provider of this identity pool."));
        }
        let parsed = jwt::parse(token).map_err(|_| bad_login("Token is not a valid JWT."))?;
        let iss = parsed.claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_string();
        let iss_bare = iss.split_once("://").map(|(_, r)| r).unwrap_or(&iss);
        let iss_pool = iss.rsplit('/').next().unwrap_or_default();
        if iss_pool != user_pool_id || !(key.starts_with("cognito-idp.") || key == iss_bare) {
            return Err(bad_login("Issuer doesn't match providerName"));
        }
        let keys = self.keys_for(user_pool_id).await.map_err(|_| bad_login("Issuer doesn't match providerName"))?;
        if parsed.kid.as_deref() != Some(keys.id.kid()) || !keys.id.verifying_key().verify(&parsed) {
            return Err(bad_login("Invalid signature."));
        }
        let c = parsed.claims;
        if c.get("token_use").and_then(Value::as_str) != Some("id") {
            return Err(bad_login("Token is not an ID token."));
        }
        let exp = c.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp * 1000 <= self.now() {
            return Err(bad_login(&format!("Token expired: {exp} >= {}", self.now() / 1000)));
        }
        let aud = c.get("aud").and_then(Value::as_str).unwrap_or_default().to_string();
        let provider = configured
            .iter()
            .find(|p| p["ClientId"].as_str().is_none_or(|id| id == aud))
            .ok_or_else(|| bad_login("Audience mismatch."))?;
        let sub = c.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        if provider["ServerSideTokenCheck"] == json!(true) {
            let origin = c.get("origin_jti").and_then(Value::as_str).unwrap_or_default();
            let (user, revoked) = self.store.get_user_for_token(user_pool_id, &sub, origin).await?;
            if revoked == Some(true) || user.as_ref().is_none_or(|u| !u.enabled) {
                return Err(bad_login("Token has been revoked."));
            }
        }
        let provider_name = provider["ProviderName"].as_str().unwrap_or(key).to_string();
        Ok(Login { provider: provider_name, sub, claims: c, client_id: aud })
    }

    // ------------------------------------------------------------ identities

    pub async fn get_id(&self, _ctx: &Ctx, input: GetIdInput) -> ApiResult<Value> {
        let (pool, _) = self.identity_pool(&input.identity_pool_id).await?;
        let region = input.identity_pool_id.split(':').next().unwrap_or("us-east-1").to_string();
        let logins = input.logins.unwrap_or_default();
        let _ = input.account_id;
        if logins.is_empty() {
            if pool["pool"]["AllowUnauthenticatedIdentities"] != json!(true) {
                return Err(ApiError::not_authorized("Unauthenticated access is not supported for this identity pool."));
            }
            let id = self.new_identity(&input.identity_pool_id, &region, &[]).await?;
            return Ok(json!({ "IdentityId": id }));
        }
        let checked = self.check_logins(&pool, &logins).await?;
        let first = &checked[0];
        let login_key = format!("{}|{}|{}", input.identity_pool_id, first.provider, first.sub);
        if let Some(r) = self.store.get_record(LOGIN, &login_key).await? {
            return Ok(json!({ "IdentityId": r.body }));
        }
        let providers: Vec<String> = checked.iter().map(|l| l.provider.clone()).collect();
        let id = format!("{region}:{}", uuid_v4(self.random.as_ref()));
        match self
            .store
            .insert_record(&Record { kind: LOGIN.into(), id: login_key.clone(), scope: input.identity_pool_id.clone(), body: id.clone(), created: self.now(), version: 1 })
            .await
        {
            Ok(()) => {
                self.put_identity(&input.identity_pool_id, &id, &providers).await?;
                Ok(json!({ "IdentityId": id }))
            }
            // Someone else made it first: the same login, the same identity.
            Err(StoreError::Duplicate(_)) => {
                let r = self.store.get_record(LOGIN, &login_key).await?.ok_or_else(|| ApiError::internal("identity vanished"))?;
                Ok(json!({ "IdentityId": r.body }))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn new_identity(&self, pool_id: &str, region: &str, providers: &[String]) -> ApiResult<String> {
        let id = format!("{region}:{}", uuid_v4(self.random.as_ref()));
        self.put_identity(pool_id, &id, providers).await?;
        Ok(id)
    }

    async fn put_identity(&self, pool_id: &str, id: &str, providers: &[String]) -> ApiResult<()> {
        let now = self.now();
        let body = json!({ "IdentityId": id, "IdentityPoolId": pool_id, "Logins": providers, "CreationDate": now, "LastModifiedDate": now });
        self.store.insert_record(&Record { kind: IDENTITY.into(), id: id.to_string(), scope: pool_id.to_string(), body: body.to_string(), created: now, version: 1 }).await?;
        Ok(())
    }

    async fn identity(&self, id: &str) -> ApiResult<Value> {
        let r = self.store.get_record(IDENTITY, id).await?.ok_or_else(|| ApiError::resource_not_found(format!("Identity '{id}' not found.")))?;
        serde_json::from_str(&r.body).map_err(|e| ApiError::internal(format!("corrupt identity: {e}")))
    }

    /// The identity, its pool and the checked logins (which must include one of the identity's
    /// own providers when it was made by a login).
    async fn resolve_identity(&self, identity_id: &str, logins: &BTreeMap<String, String>) -> ApiResult<(Value, Value, Vec<Login>)> {
        let identity = self.identity(identity_id).await?;
        let pool_id = identity["IdentityPoolId"].as_str().unwrap_or_default().to_string();
        let (pool, _) = self.identity_pool(&pool_id).await?;
        let own: Vec<String> = identity["Logins"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        let checked = self.check_logins(&pool, logins).await?;
        if own.is_empty() {
            if !checked.is_empty() {
                if checked.iter().any(|l| l.provider == FEDERATED) {
                    return Err(ApiError::not_authorized("Logins don't match. Please include at least one valid login for this identity or identity pool."));
                }
                let signed_in = self.link_guest(identity, &pool_id, &checked).await?;
                return Ok((signed_in, pool, checked));
            }
            if pool["pool"]["AllowUnauthenticatedIdentities"] != json!(true) {
                return Err(ApiError::not_authorized("Unauthenticated access is not supported for this identity pool."));
            }
        } else {
            let mismatch = || ApiError::not_authorized("Logins don't match. Please include at least one valid login for this identity or identity pool.");
            if !checked.iter().any(|l| l.provider == FEDERATED || own.contains(&l.provider)) {
                return Err(mismatch());
            }
            for l in &checked {
                if l.provider == FEDERATED {
                    let authenticated = l.claims.get("amr").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "authenticated"));
                    if l.sub != identity_id || !authenticated {
                        return Err(mismatch());
                    }
                    continue;
                }
                let key = format!("{pool_id}|{}|{}", l.provider, l.sub);
                match self.store.get_record(LOGIN, &key).await? {
                    Some(r) if r.body == identity_id => {}
                    _ => return Err(ApiError::not_authorized("Logins don't match. Please include at least one valid login for this identity or identity pool.")),
                }
            }
        }
        Ok((identity, pool, checked))
    }

    /// A guest signing in (Amplify keeps the guest's identity id and sends it with the new login):
    /// the login joins the guest identity, which becomes authenticated; a login already linked to
    /// another identity answers with that one instead, as Cognito does.
    async fn link_guest(&self, guest: Value, pool_id: &str, checked: &[Login]) -> ApiResult<Value> {
        let guest_id = guest["IdentityId"].as_str().unwrap_or_default().to_string();
        let first = &checked[0];
        let login_key = format!("{pool_id}|{}|{}", first.provider, first.sub);
        let record = Record { kind: LOGIN.into(), id: login_key.clone(), scope: pool_id.to_string(), body: guest_id.clone(), created: self.now(), version: 1 };
        match self.store.insert_record(&record).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => {
                let r = self.store.get_record(LOGIN, &login_key).await?.ok_or_else(|| ApiError::internal("identity vanished"))?;
                return self.identity(&r.body).await;
            }
            Err(e) => return Err(e.into()),
        }
        let r = self.store.get_record(IDENTITY, &guest_id).await?.ok_or_else(|| ApiError::resource_not_found("Identity not found."))?;
        let mut body: Value = serde_json::from_str(&r.body).map_err(|e| ApiError::internal(e.to_string()))?;
        body["Logins"] = json!(checked.iter().map(|l| l.provider.clone()).collect::<Vec<_>>());
        body["LastModifiedDate"] = json!(self.now());
        self.store.update_record(IDENTITY, &guest_id, &body.to_string(), r.version).await.map_err(conflict)?;
        Ok(body)
    }

    /// The role an identity gets: CustomRoleArn (among the token's cognito:roles), a Token role
    /// mapping's cognito:preferred_role, else the pool's authenticated / unauthenticated role.
    fn choose_role(pool: &Value, logins: &[Login], custom: Option<&str>) -> ApiResult<String> {
        let no_role = || ApiError::new(ErrorKind::InvalidIdentityPoolConfiguration, NO_ROLE);
        let Some(login) = logins.first() else {
            return pool["roles"]["unauthenticated"].as_str().map(str::to_string).ok_or_else(no_role);
        };
        let token_roles: Vec<String> = login.claims.get("cognito:roles").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        if let Some(c) = custom {
            if token_roles.iter().any(|r| r == c) {
                return Ok(c.to_string());
            }
            return Err(ApiError::not_authorized("Role ARN is not in the roles of the token."));
        }
        let mapping = &pool["roleMappings"][format!("{}:{}", login.provider, login.client_id)];
        if mapping["Type"] == "Token" {
            if let Some(p) = login.claims.get("cognito:preferred_role").and_then(Value::as_str) {
                return Ok(p.to_string());
            }
            if mapping["AmbiguousRoleResolution"] == "Deny" {
                return Err(ApiError::new(ErrorKind::InvalidIdentityPoolConfiguration, "Ambiguous role mapping: no single role applies and the resolution is Deny."));
            }
        } else if mapping["Type"] == "Rules" {
            for rule in mapping["RulesConfiguration"]["Rules"].as_array().cloned().unwrap_or_default() {
                let claim = rule["Claim"].as_str().unwrap_or_default();
                let value = rule["Value"].as_str().unwrap_or_default();
                let have: Vec<String> = match login.claims.get(claim) {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                    Some(other) => vec![other.to_string()],
                    None => vec![],
                };
                let hit = match rule["MatchType"].as_str().unwrap_or_default() {
                    "Equals" => have.iter().any(|h| h == value),
                    "Contains" => have.iter().any(|h| h.contains(value)),
                    "StartsWith" => have.iter().any(|h| h.starts_with(value)),
                    "NotEqual" => have.iter().all(|h| h != value),
                    _ => false,
                };
                if hit {
                    return rule["RoleARN"].as_str().map(str::to_string).ok_or_else(no_role);
                }
            }
            if mapping["AmbiguousRoleResolution"] == "Deny" {
                return Err(ApiError::new(ErrorKind::InvalidIdentityPoolConfiguration, "Ambiguous role mapping: no rule matched and the resolution is Deny."));
            }
        }
        pool["roles"]["authenticated"].as_str().map(str::to_string).ok_or_else(no_role)
    }

    /// The role, if tobira holds it and its trust policy admits this identity.
    async fn trusted_role(&self, role_arn: &str, pool_id: &str, identity_id: &str, logins: &[Login]) -> ApiResult<Arc<Role>> {
        let role = self.role_by_arn(role_arn).await?.ok_or_else(|| ApiError::new(ErrorKind::InvalidIdentityPoolConfiguration, NO_ROLE))?;
        let mut amr = vec![];
        if logins.is_empty() {
            amr.push("unauthenticated".to_string());
        } else {
            amr.push("authenticated".to_string());
            for l in logins {
                amr.push(l.provider.clone());
                amr.push(format!("{}:{}:{}", l.provider, l.client_id, l.sub));
            }
        }
        let who = WebIdentity { provider: FEDERATED, aud: pool_id, sub: identity_id, amr };
        if !trust_admits(&role, &who) {
            return Err(ApiError::new(ErrorKind::InvalidIdentityPoolConfiguration, NO_ROLE));
        }
        Ok(Arc::new(role))
    }

    pub async fn get_credentials_for_identity(&self, _ctx: &Ctx, input: CredentialsInput) -> ApiResult<Value> {
        let logins = input.logins.unwrap_or_default();
        let (identity, pool, checked) = self.resolve_identity(&input.identity_id, &logins).await?;
        // A guest's login may have answered with the identity it was already linked to.
        let identity_id = identity["IdentityId"].as_str().unwrap_or(&input.identity_id).to_string();
        let pool_id = pool["pool"]["IdentityPoolId"].as_str().unwrap_or_default().to_string();
        let role_arn = Self::choose_role(&pool, &checked, input.custom_role_arn.as_deref())?;
        let role = self.trusted_role(&role_arn, &pool_id, &identity_id, &checked).await?;
        let m = self.mint_credentials(&role, "CognitoIdentityCredentials", CREDENTIALS_SECONDS).await?;
        Ok(json!({
            "IdentityId": identity_id,
            "Credentials": { "AccessKeyId": m.access_key_id, "SecretKey": m.secret, "SessionToken": m.session_token, "Expiration": epoch(m.expires_ms).floor() },
        }))
    }

    pub async fn describe_identity(&self, _ctx: &Ctx, input: IdentityIdInput) -> ApiResult<Value> {
        let i = self.identity(&input.identity_id).await?;
        Ok(identity_shape(&i))
    }

    pub async fn list_identities(&self, _ctx: &Ctx, input: ListIdentitiesInput) -> ApiResult<Value> {
        self.identity_pool(&input.identity_pool_id).await?;
        let limit = input.max_results.clamp(1, 60);
        let recs = self.store.list_records(IDENTITY, Some(&input.identity_pool_id), input.next_token.as_deref(), limit + 1).await?;
        let more = recs.len() as i64 > limit;
        let list: Vec<Value> = recs.iter().take(limit as usize).filter_map(|r| serde_json::from_str::<Value>(&r.body).ok()).map(|i| identity_shape(&i)).collect();
        let mut out = json!({ "IdentityPoolId": input.identity_pool_id, "Identities": list });
        if more {
            out["NextToken"] = json!(recs[limit as usize - 1].id);
        }
        Ok(out)
    }

    pub async fn delete_identities(&self, _ctx: &Ctx, input: DeleteIdentitiesInput) -> ApiResult<Value> {
        let mut unprocessed = vec![];
        for id in &input.identity_ids_to_delete {
            if !self.store.delete_record(IDENTITY, id).await? {
                unprocessed.push(json!({ "IdentityId": id, "ErrorCode": "InternalServerError" }));
            }
        }
        Ok(json!({ "UnprocessedIdentityIds": unprocessed }))
    }

    // ------------------------------------------------------------ developer identities

    /// A developer backend (signed) gets an OpenID token for its own user id, making or reusing
    /// the identity it maps to.
    pub async fn get_open_id_token_for_developer_identity(&self, _ctx: &Ctx, input: DeveloperTokenInput) -> ApiResult<Value> {
        let (pool, _) = self.identity_pool(&input.identity_pool_id).await?;
        let dev = pool["pool"]["DeveloperProviderName"].as_str().ok_or_else(|| ApiError::invalid_parameter("This identity pool has no developer provider name."))?.to_string();
        let user_id = input
            .logins
            .get(&dev)
            .cloned()
            .ok_or_else(|| ApiError::not_authorized(format!("Logins must contain the developer provider name {dev}.")))?;
        let region = input.identity_pool_id.split(':').next().unwrap_or("us-east-1").to_string();
        let login_key = format!("{}|{dev}|{user_id}", input.identity_pool_id);
        let identity_id = match self.store.get_record(LOGIN, &login_key).await? {
            Some(r) => {
                if input.identity_id.as_ref().is_some_and(|i| *i != r.body) {
                    return Err(ApiError::new(ErrorKind::ResourceConflict, "The developer user identifier is already linked to another identity."));
                }
                r.body
            }
            None => {
                let id = match &input.identity_id {
                    Some(i) => {
                        self.identity(i).await?;
                        i.clone()
                    }
                    None => format!("{region}:{}", uuid_v4(self.random.as_ref())),
                };
                match self
                    .store
                    .insert_record(&Record { kind: LOGIN.into(), id: login_key.clone(), scope: input.identity_pool_id.clone(), body: id.clone(), created: self.now(), version: 1 })
                    .await
                {
                    Ok(()) => {
                        if input.identity_id.is_none() {
                            self.put_identity(&input.identity_pool_id, &id, std::slice::from_ref(&dev)).await?;
                        }
                        id
                    }
                    Err(StoreError::Duplicate(_)) => self.store.get_record(LOGIN, &login_key).await?.map(|r| r.body).ok_or_else(|| ApiError::internal("identity vanished"))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let seconds = input.token_duration.unwrap_or(600).clamp(1, 86_400);
        let token = self.open_id_token(&identity_id, &input.identity_pool_id, vec![json!("authenticated"), json!(dev), json!(format!("{dev}:{user_id}"))], seconds).await?;
        Ok(json!({ "IdentityId": identity_id, "Token": token }))
    }

    pub async fn lookup_developer_identity(&self, _ctx: &Ctx, input: LookupDeveloperInput) -> ApiResult<Value> {
        let (pool, _) = self.identity_pool(&input.identity_pool_id).await?;
        let dev = pool["pool"]["DeveloperProviderName"].as_str().unwrap_or_default().to_string();
        let prefix = format!("{}|{dev}|", input.identity_pool_id);
        if let Some(user) = &input.developer_user_identifier {
            let r = self.store.get_record(LOGIN, &format!("{prefix}{user}")).await?.ok_or_else(|| ApiError::resource_not_found("Identity not found for the developer user identifier."))?;
            return Ok(json!({ "IdentityId": r.body, "DeveloperUserIdentifierList": [user] }));
        }
        let id = input.identity_id.ok_or_else(|| ApiError::invalid_parameter("Either IdentityId or DeveloperUserIdentifier is required."))?;
        let all = self.store.list_records(LOGIN, Some(&input.identity_pool_id), None, 10_000).await?;
        let users: Vec<String> = all.iter().filter(|r| r.body == id && r.id.starts_with(&prefix)).map(|r| r.id[prefix.len()..].to_string()).collect();
        if users.is_empty() {
            return Err(ApiError::resource_not_found("Identity not found."));
        }
        Ok(json!({ "IdentityId": id, "DeveloperUserIdentifierList": users }))
    }

    /// Removes logins from an identity (proving one of them first).
    pub async fn unlink_identity(&self, _ctx: &Ctx, input: UnlinkInput) -> ApiResult<Value> {
        let (identity, _pool, _) = self.resolve_identity(&input.identity_id, &input.logins).await?;
        let pool_id = identity["IdentityPoolId"].as_str().unwrap_or_default().to_string();
        let checked_subs: BTreeMap<String, String> = {
            let (pool, _) = self.identity_pool(&pool_id).await?;
            let mut m = BTreeMap::new();
            for l in self.check_logins(&pool, &input.logins).await? {
                m.insert(l.provider, l.sub);
            }
            m
        };
        let r = self.store.get_record(IDENTITY, &input.identity_id).await?.ok_or_else(|| ApiError::resource_not_found("Identity not found."))?;
        let mut body: Value = serde_json::from_str(&r.body).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut logins: Vec<String> = body["Logins"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        for remove in &input.logins_to_remove {
            logins.retain(|l| l != remove);
            if let Some(sub) = checked_subs.get(remove) {
                self.store.delete_record(LOGIN, &format!("{pool_id}|{remove}|{sub}")).await?;
            }
        }
        body["Logins"] = json!(logins);
        body["LastModifiedDate"] = json!(self.now());
        self.store.update_record(IDENTITY, &input.identity_id, &body.to_string(), r.version).await.map_err(conflict)?;
        Ok(json!({}))
    }

    // ------------------------------------------------------------ classic flow

    async fn identity_key(&self) -> ApiResult<RsaSigningKey> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        // One key per master key: processes sharing a database share the master key, and a
        // database shared by unrelated deployments (or test suites) keeps them apart.
        let key_id = hex::encode(&self.master.mac("identity-key-id", b"")[..12]);
        if let Some(r) = self.store.get_record(KEY, &key_id).await? {
            let sealed = b64.decode(&r.body).map_err(|_| ApiError::internal("corrupt identity key"))?;
            let der = self.master.open(b"identity-key", &sealed).map_err(|_| ApiError::internal("cannot unseal the identity key"))?;
            return RsaSigningKey::from_pkcs8(&der).map_err(|e| ApiError::internal(e.0));
        }
        let (_, der) = RsaSigningKey::generate().map_err(|e| ApiError::internal(e.0))?;
        let body = b64.encode(self.master.seal(b"identity-key", &der));
        match self.store.insert_record(&Record { kind: KEY.into(), id: key_id, scope: String::new(), body, created: self.now(), version: 1 }).await {
            Ok(()) | Err(StoreError::Duplicate(_)) => Box::pin(self.identity_key()).await,
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_open_id_token(&self, _ctx: &Ctx, input: CredentialsInput) -> ApiResult<Value> {
        let logins = input.logins.unwrap_or_default();
        let (identity, pool, checked) = self.resolve_identity(&input.identity_id, &logins).await?;
        let identity_id = identity["IdentityId"].as_str().unwrap_or(&input.identity_id).to_string();
        if pool["pool"]["AllowClassicFlow"] != json!(true) {
            return Err(ApiError::invalid_parameter("Basic (classic) flow is not enabled, please use enhanced flow."));
        }
        let pool_id = pool["pool"]["IdentityPoolId"].as_str().unwrap_or_default();
        let mut amr = vec![json!(if checked.is_empty() { "unauthenticated" } else { "authenticated" })];
        for l in &checked {
            amr.push(json!(l.provider));
            amr.push(json!(format!("{}:{}:{}", l.provider, l.client_id, l.sub)));
        }
        let token = self.open_id_token(&identity_id, pool_id, amr, 600).await?;
        Ok(json!({ "IdentityId": identity_id, "Token": token }))
    }

    /// An OpenID token for an identity: issuer cognito-identity.amazonaws.com, aud the pool.
    async fn open_id_token(&self, identity_id: &str, pool_id: &str, amr: Vec<Value>, seconds: i64) -> ApiResult<String> {
        let now = self.now() / 1000;
        let claims: Map<String, Value> = json!({
            "sub": identity_id, "aud": pool_id, "amr": amr, "iss": format!("https://{FEDERATED}"),
            "https://cognito-identity.amazonaws.com/identity-pool-arn": format!("arn:aws:cognito-identity:{}:{}:identitypool/{pool_id}", pool_id.split(':').next().unwrap_or(""), self.config.account_id),
            "exp": now + seconds, "iat": now,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        let key = self.identity_key().await?;
        Ok(key.sign(&claims))
    }

    /// The JWKS of the OpenID tokens (AWS serves it at cognito-identity.amazonaws.com/.well-known/jwks_uri).
    pub async fn identity_jwks(&self) -> ApiResult<Value> {
        Ok(json!({ "keys": [self.identity_key().await?.jwk()] }))
    }

    /// Checks a token from GetOpenIdToken (for AssumeRoleWithWebIdentity) and returns its claims.
    pub async fn verify_open_id_token(&self, token: &str) -> ApiResult<Map<String, Value>> {
        let invalid = || ApiError::new(ErrorKind::InvalidIdentityToken, "Couldn't verify the web identity token.");
        let parsed = jwt::parse(token).map_err(|_| invalid())?;
        let key = self.identity_key().await?;
        if !key.verifying_key().verify(&parsed) {
            return Err(invalid());
        }
        let exp = parsed.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp * 1000 <= self.now() {
            return Err(ApiError::new(ErrorKind::ExpiredToken, "Token expired"));
        }
        Ok(parsed.claims)
    }
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::new(ErrorKind::ConcurrentModification, "The identity pool was changed concurrently; try again."),
        other => other.into(),
    }
}

fn identity_shape(i: &Value) -> Value {
    let ms = |k: &str| i[k].as_i64().map(epoch).unwrap_or(0.0);
    json!({
        "IdentityId": i["IdentityId"],
        "Logins": i["Logins"],
        "CreationDate": ms("CreationDate"),
        "LastModifiedDate": ms("LastModifiedDate"),
    })
}
