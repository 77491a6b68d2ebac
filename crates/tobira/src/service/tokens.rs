//! Tokens: minting ID and access tokens with Cognito's claims, refresh tokens stored only as
//! MACs, verification of access tokens for the token-authenticated operations, sign-out and
//! revocation, and the JWKS / discovery documents.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::attributes as attrs;
use super::{Client, Ctx, Pool, Service};
use crate::crypto::jwt;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::{random_bytes, uuid_v4};
use crate::store::{AuthEventRow, GroupRow, RefreshRow, UserRow};

/// A caller proven by an access token.
pub struct Authenticated {
    pub pool: Pool,
    pub user: UserRow,
    pub client_id: String,
    pub claims: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTokensFromRefreshTokenInput {
    pub refresh_token: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub device_key: Option<String>,
    pub client_metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeTokenInput {
    pub token: String,
    pub client_id: String,
    pub client_secret: Option<String>,
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `cognito:roles` and `cognito:preferred_role` from the user's groups.
fn role_claims(groups: &[GroupRow]) -> (Vec<String>, Option<String>) {
    let mut with_role: Vec<&GroupRow> = groups.iter().filter(|g| g.role_arn.is_some()).collect();
    let roles: Vec<String> = with_role.iter().filter_map(|g| g.role_arn.clone()).collect();
    with_role.sort_by_key(|g| g.precedence.unwrap_or(i64::MAX));
    let preferred = match with_role.as_slice() {
        [] => None,
        [only] => only.role_arn.clone(),
        [a, b, ..] if a.precedence.unwrap_or(i64::MAX) < b.precedence.unwrap_or(i64::MAX) => a.role_arn.clone(),
        _ => None,
    };
    (roles, preferred)
}

/// An attribute value as an ID-token claim: verified flags as booleans, `updated_at` as a number,
/// `address` as an object, everything else (custom attributes included) as a string.
fn claim_value(name: &str, value: &str) -> Value {
    match name {
        "email_verified" | "phone_number_verified" => Value::Bool(value.eq_ignore_ascii_case("true")),
        "updated_at" => value.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(value.into())),
        "address" => match serde_json::from_str::<Value>(value) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "formatted": value }),
        },
        _ => Value::String(value.to_string()),
    }
}

pub struct Minted {
    pub access: String,
    pub id: String,
    pub expires_in: i64,
}

impl Service {
    /// Signs a fresh pair of ID and access tokens for one token family.
    pub async fn mint(
        &self,
        ctx: &Ctx,
        pool: &Pool,
        client: &Client,
        user: &UserRow,
        auth_time: i64,
        origin_jti: &str,
        device_key: Option<&str>,
        source: &str,
    ) -> ApiResult<Minted> {
        let keys = self.keys(&pool.row)?;
        let groups = self.store.groups_of(&pool.row.id, &user.username_key).await?;
        let mut sorted = groups.clone();
        sorted.sort_by(|a, b| a.precedence.unwrap_or(i64::MAX).cmp(&b.precedence.unwrap_or(i64::MAX)).then(a.name.cmp(&b.name)));
        let group_names: Vec<String> = sorted.iter().map(|g| g.name.clone()).collect();
        let (roles, preferred) = role_claims(&sorted);
        let overrides = self.pre_token_generation(ctx, pool, user, &group_names, &roles, preferred.as_deref(), source).await?;
        let now = self.now() / 1000;
        let iss = self.issuer(ctx, &pool.row.id);
        let event_id = uuid_v4(self.random.as_ref());
        let access_exp = now + client.config.access_validity_secs();
        let id_exp = now + client.config.id_validity_secs();

        let mut a = Map::new();
        a.insert("sub".into(), json!(user.sub));
        if !group_names.is_empty() {
            a.insert("cognito:groups".into(), json!(group_names));
        }
        if let Some(d) = device_key {
            a.insert("device_key".into(), json!(d));
        }
        a.insert("iss".into(), json!(iss));
        a.insert("client_id".into(), json!(client.row.id));
        a.insert("origin_jti".into(), json!(origin_jti));
        a.insert("event_id".into(), json!(event_id));
        a.insert("token_use".into(), json!("access"));
        a.insert("scope".into(), json!("aws.cognito.signin.user.admin"));
        a.insert("auth_time".into(), json!(auth_time));
        a.insert("exp".into(), json!(access_exp));
        a.insert("iat".into(), json!(now));
        a.insert("jti".into(), json!(uuid_v4(self.random.as_ref())));
        a.insert("username".into(), json!(user.username));

        let mut i = Map::new();
        i.insert("sub".into(), json!(user.sub));
        if !group_names.is_empty() {
            i.insert("cognito:groups".into(), json!(group_names));
        }
        if !roles.is_empty() {
            i.insert("cognito:roles".into(), json!(roles));
        }
        if let Some(p) = preferred {
            i.insert("cognito:preferred_role".into(), json!(p));
        }
        let readable = attrs::readable(&user.attributes, client.config.read_attributes.as_deref());
        if let Some(v) = attrs::get(&readable, "email_verified") {
            i.insert("email_verified".into(), claim_value("email_verified", v));
        }
        i.insert("iss".into(), json!(iss));
        i.insert("cognito:username".into(), json!(user.username));
        i.insert("origin_jti".into(), json!(origin_jti));
        i.insert("aud".into(), json!(client.row.id));
        i.insert("event_id".into(), json!(event_id));
        i.insert("token_use".into(), json!("id"));
        i.insert("auth_time".into(), json!(auth_time));
        for (name, value) in &readable {
            if name == "sub" || name == "email_verified" {
                continue;
            }
            i.insert(name.clone(), claim_value(name, value));
        }
        i.insert("exp".into(), json!(id_exp));
        i.insert("iat".into(), json!(now));
        i.insert("jti".into(), json!(uuid_v4(self.random.as_ref())));

        if let Some(o) = overrides {
            o.apply(&mut i, &mut a);
        }
        Ok(Minted { access: keys.access.sign(&a), id: keys.id.sign(&i), expires_in: client.config.access_validity_secs() })
    }

    /// A new sign-in: a new token family with its refresh token, stored with the sign-in's record.
    /// `device_key`: the remembered device this sign-in proved; without one, a pool that
    /// tracks devices gets a new device and the result carries NewDeviceMetadata.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_tokens(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: &UserRow, device_key: Option<&str>, source: &str, event: AuthEventRow) -> ApiResult<Value> {
        let new_device = match device_key {
            Some(_) => None,
            None => self.new_device(ctx, pool, user).await?,
        };
        let device_key: Option<&str> = device_key.or(new_device.as_ref().map(|(k, _)| k.as_str()));
        let origin_jti = uuid_v4(self.random.as_ref());
        let now = self.now();
        let auth_time = now / 1000;
        let refresh = self.new_refresh_token();
        let m = self.mint(ctx, pool, client, user, auth_time, &origin_jti, device_key, source).await?;
        let row = RefreshRow {
            token_mac: self.master.mac("refresh", refresh.as_bytes()).to_vec(),
            pool_id: pool.row.id.clone(),
            client_id: client.row.id.clone(),
            username_key: user.username_key.clone(),
            origin_jti: origin_jti.clone(),
            auth_time,
            created: now,
            expires: now + client.config.refresh_validity_secs() * 1000,
            revoked: false,
            device_key: device_key.map(str::to_string),
        };
        self.store.insert_sign_in(&row, &event).await?;
        let mut out = json!({
            "AccessToken": m.access,
            "ExpiresIn": m.expires_in,
            "TokenType": "Bearer",
            "RefreshToken": refresh,
            "IdToken": m.id,
        });
        if let Some((key, group)) = new_device {
            out["NewDeviceMetadata"] = json!({ "DeviceKey": key, "DeviceGroupKey": group });
        }
        Ok(out)
    }

    /// Refresh tokens look like Cognito's (a five-part JWE); only their MAC is stored.
    fn new_refresh_token(&self) -> String {
        let header = b64url(br#"{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}"#);
        let r = |n| b64url(&random_bytes(self.random.as_ref(), n));
        format!("{header}.{}.{}.{}.{}", r(256), r(12), r(48), r(16))
    }

    /// REFRESH_TOKEN_AUTH: new ID and access tokens, no new refresh token.
    pub async fn refresh_tokens(&self, ctx: &Ctx, pool: &Pool, client: &Client, token: &str, secret_hash: Option<&str>, username: Option<&str>) -> ApiResult<Value> {
        self.refresh_with(ctx, pool, client, token, Some((secret_hash, username))).await
    }

    /// `hash`: the SECRET_HASH (and USERNAME) to check for clients with a secret, or None when
    /// the caller already proved the secret.
    async fn refresh_with(&self, ctx: &Ctx, pool: &Pool, client: &Client, token: &str, hash: Option<(Option<&str>, Option<&str>)>) -> ApiResult<Value> {
        let invalid = || ApiError::not_authorized("Invalid Refresh Token");
        let row = self.store.get_refresh(&self.master.mac("refresh", token.as_bytes())).await?.ok_or_else(invalid)?;
        if row.client_id != client.row.id || row.pool_id != pool.row.id || row.expires < self.now() {
            return Err(invalid());
        }
        if row.revoked {
            return Err(ApiError::not_authorized("Refresh Token has been revoked"));
        }
        let user = self.store.get_user(&pool.row.id, &row.username_key).await?.ok_or_else(invalid)?;
        if let Some((secret_hash, username)) = hash {
            self.check_user_secret_hash(client, &user, username, secret_hash)?;
        }
        if !user.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        let m = self.mint(ctx, pool, client, &user, row.auth_time, &row.origin_jti, row.device_key.as_deref(), "TokenGeneration_RefreshTokens").await?;
        Ok(json!({ "AccessToken": m.access, "ExpiresIn": m.expires_in, "TokenType": "Bearer", "IdToken": m.id }))
    }

    /// GetTokensFromRefreshToken: the refresh flow as its own operation (Amplify v6 uses it),
    /// authenticated by the client secret itself rather than a SECRET_HASH.
    pub async fn get_tokens_from_refresh_token(&self, ctx: &Ctx, input: GetTokensFromRefreshTokenInput) -> ApiResult<Value> {
        let (client, pool) = self.client_and_pool(&input.client_id).await?;
        if let Some(secret) = self.client_secret(&client.row)? {
            let ok = input.client_secret.as_deref().is_some_and(|s| crate::crypto::seal::ct_eq(s.as_bytes(), secret.as_bytes()));
            if !ok {
                return Err(ApiError::not_authorized(format!("Unable to verify secret hash for client {}", client.row.id)));
            }
        }
        if !client.config.allows("REFRESH_TOKEN_AUTH") {
            return Err(ApiError::invalid_parameter("REFRESH_TOKEN_AUTH flow not enabled for this client"));
        }
        let result = self.refresh_with(ctx, &pool, &client, &input.refresh_token, None).await?;
        Ok(json!({ "AuthenticationResult": result }))
    }

    /// Checks an access token and loads its pool: see [`Service::verify_access_token`].
    pub async fn authenticate(&self, ctx: &Ctx, token: &str) -> ApiResult<Authenticated> {
        let (pool_id, user, claims) = self.verify_access_token(ctx, token).await?;
        let pool = self.pool(&pool_id).await.map_err(|_| ApiError::not_authorized("Invalid Access Token"))?;
        let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(Authenticated { pool, user, client_id, claims })
    }

    /// Checks an access token: signature by the pool's access key (parsed once and cached),
    /// expiry, token_use, scope, revocation of its token family, and that its user still exists
    /// and is enabled. One database query (user and family together) once the keys are cached.
    pub async fn verify_access_token(&self, _ctx: &Ctx, token: &str) -> ApiResult<(String, UserRow, Map<String, Value>)> {
        let invalid = || ApiError::not_authorized("Invalid Access Token");
        let parsed = jwt::parse(token).map_err(|_| invalid())?;
        if parsed.alg != "RS256" {
            return Err(invalid());
        }
        let iss = parsed.claims.get("iss").and_then(Value::as_str).ok_or_else(invalid)?;
        let pool_id = iss.rsplit('/').next().ok_or_else(invalid)?.to_string();
        let keys = match self.keys_for(&pool_id).await {
            Ok(k) => k,
            Err(e) if e.kind == ErrorKind::ResourceNotFound => return Err(invalid()),
            Err(e) => return Err(e),
        };
        if parsed.kid.as_deref() != Some(keys.access.kid()) || !keys.access.verifying_key().verify(&parsed) {
            return Err(invalid());
        }
        let c = parsed.claims;
        if c.get("token_use").and_then(Value::as_str) != Some("access") {
            return Err(invalid());
        }
        let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(invalid)?;
        if exp * 1000 <= self.now() {
            return Err(ApiError::not_authorized("Access Token has expired"));
        }
        let scope = c.get("scope").and_then(Value::as_str).unwrap_or("");
        if !scope.split(' ').any(|s| s == "aws.cognito.signin.user.admin") {
            return Err(ApiError::not_authorized("Access Token does not have required scopes"));
        }
        let sub = c.get("sub").and_then(Value::as_str).ok_or_else(invalid)?;
        let origin = c.get("origin_jti").and_then(Value::as_str).unwrap_or("");
        let (user, revoked) = self.store.get_user_for_token(&pool_id, sub, origin).await?;
        if revoked == Some(true) {
            return Err(ApiError::not_authorized("Access Token has been revoked"));
        }
        let user = user.ok_or_else(|| ApiError::not_authorized("User does not exist."))?;
        if c.get("username").and_then(Value::as_str) != Some(user.username.as_str()) {
            return Err(invalid());
        }
        if !user.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        Ok((pool_id, user, c))
    }

    pub async fn global_sign_out(&self, ctx: &Ctx, input: super::users::AccessTokenInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        self.store.revoke_all_refresh(&auth.pool.row.id, &auth.user.username_key).await?;
        Ok(json!({}))
    }

    pub async fn admin_user_global_sign_out(&self, _ctx: &Ctx, input: super::users::AdminUserInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        self.store.revoke_all_refresh(&pool.row.id, &user.username_key).await?;
        Ok(json!({}))
    }

    pub async fn revoke_token(&self, _ctx: &Ctx, input: RevokeTokenInput) -> ApiResult<Value> {
        let client = self.client(&input.client_id).await.map_err(|_| ApiError::not_authorized("Invalid client id."))?;
        if let Some(secret) = self.client_secret(&client.row)? {
            let ok = input.client_secret.as_deref().is_some_and(|s| crate::crypto::seal::ct_eq(s.as_bytes(), secret.as_bytes()));
            if !ok {
                return Err(ApiError::not_authorized("Client secret is incorrect."));
            }
        }
        if client.config.enable_token_revocation == Some(false) {
            return Err(ApiError::new(ErrorKind::UnsupportedOperation, "Token revocation is not enabled for this client"));
        }
        if input.token.split('.').count() == 3 {
            return Err(ApiError::new(ErrorKind::UnsupportedTokenType, "Unsupported token type. Only refresh tokens can be revoked."));
        }
        let mac = self.master.mac("refresh", input.token.as_bytes());
        if let Some(row) = self.store.get_refresh(&mac).await? {
            if row.client_id != client.row.id {
                return Err(ApiError::not_authorized("Invalid token for the client."));
            }
            self.store.revoke_refresh(&mac).await?;
        }
        Ok(json!({}))
    }

    pub async fn jwks(&self, pool_id: &str) -> ApiResult<Value> {
        let pool = self.pool(pool_id).await?;
        let keys = self.keys(&pool.row)?;
        Ok(json!({ "keys": [keys.id.jwk(), keys.access.jwk()] }))
    }

    pub async fn openid_configuration(&self, ctx: &Ctx, pool_id: &str) -> ApiResult<Value> {
        self.pool(pool_id).await?;
        let iss = self.issuer(ctx, pool_id);
        let base = self.config.public_url.clone().unwrap_or_else(|| ctx.public_url.clone());
        Ok(json!({
            "authorization_endpoint": iss,
            "id_token_signing_alg_values_supported": ["RS256"],
            "issuer": iss,
            "jwks_uri": format!("{}/{pool_id}/.well-known/jwks.json", base.trim_end_matches('/')),
            "response_types_supported": ["code", "id_token", "token id_token", "none"],
            "subject_types_supported": ["public"],
        }))
    }
}
