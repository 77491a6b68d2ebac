//! App clients: settings, secrets, and the checks every client-facing call makes
//! (SECRET_HASH, allowed auth flows).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{epoch, pools::{decode_token, encode_token}, Client, Ctx, Service};
use crate::crypto::seal;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_string;
use crate::store::{ClientRow, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TokenValidityUnits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What Create/UpdateUserPoolClient accept; also what is stored (with defaults filled in).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_validity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_validity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_validity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_validity_units: Option<TokenValidityUnits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_auth_flows: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_identity_providers: Option<Vec<String>>,
    #[serde(rename = "CallbackURLs", skip_serializing_if = "Option::is_none")]
    pub callback_urls: Option<Vec<String>>,
    #[serde(rename = "LogoutURLs", skip_serializing_if = "Option::is_none")]
    pub logout_urls: Option<Vec<String>>,
    #[serde(rename = "DefaultRedirectURI", skip_serializing_if = "Option::is_none")]
    pub default_redirect_uri: Option<String>,
    #[serde(rename = "AllowedOAuthFlows", skip_serializing_if = "Option::is_none")]
    pub allowed_oauth_flows: Option<Vec<String>>,
    #[serde(rename = "AllowedOAuthScopes", skip_serializing_if = "Option::is_none")]
    pub allowed_oauth_scopes: Option<Vec<String>>,
    #[serde(rename = "AllowedOAuthFlowsUserPoolClient", skip_serializing_if = "Option::is_none")]
    pub allowed_oauth_flows_user_pool_client: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevent_user_existence_errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_token_revocation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_propagate_additional_user_context_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_session_validity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_rotation: Option<Value>,
}

const FLOWS: &[&str] = &[
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
];

const UNITS: &[&str] = &["seconds", "minutes", "hours", "days"];

impl ClientConfig {
    fn unit_secs(unit: Option<&str>, default: &str) -> i64 {
        match unit.unwrap_or(default) {
            "seconds" => 1,
            "minutes" => 60,
            "hours" => 3600,
            _ => 86400,
        }
    }
    pub fn access_validity_secs(&self) -> i64 {
        let u = self.token_validity_units.as_ref().and_then(|u| u.access_token.as_deref());
        self.access_token_validity.map(|v| v * Self::unit_secs(u, "hours")).unwrap_or(3600)
    }
    pub fn id_validity_secs(&self) -> i64 {
        let u = self.token_validity_units.as_ref().and_then(|u| u.id_token.as_deref());
        self.id_token_validity.map(|v| v * Self::unit_secs(u, "hours")).unwrap_or(3600)
    }
    pub fn refresh_validity_secs(&self) -> i64 {
        let u = self.token_validity_units.as_ref().and_then(|u| u.refresh_token.as_deref());
        self.refresh_token_validity.map(|v| v * Self::unit_secs(u, "days")).unwrap_or(30 * 86400)
    }
    pub fn prevent_user_existence_errors(&self) -> bool {
        self.prevent_user_existence_errors.as_deref() == Some("ENABLED")
    }
    /// Whether the flow (an AuthFlow name) is allowed by ExplicitAuthFlows.
    pub fn allows(&self, flow: &str) -> bool {
        let flows: Vec<&str> = match &self.explicit_auth_flows {
            Some(f) if !f.is_empty() => f.iter().map(String::as_str).collect(),
            _ => vec!["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH"],
        };
        let has = |x: &str| flows.contains(&x);
        match flow {
            "USER_PASSWORD_AUTH" => has("ALLOW_USER_PASSWORD_AUTH") || has("USER_PASSWORD_AUTH"),
            "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => has("ALLOW_ADMIN_USER_PASSWORD_AUTH") || has("ADMIN_NO_SRP_AUTH"),
            "USER_SRP_AUTH" => has("ALLOW_USER_SRP_AUTH") || !flows.iter().any(|f| f.starts_with("ALLOW_")),
            "CUSTOM_AUTH" => has("ALLOW_CUSTOM_AUTH") || has("CUSTOM_AUTH_FLOW_ONLY"),
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => has("ALLOW_REFRESH_TOKEN_AUTH") || !flows.iter().any(|f| f.starts_with("ALLOW_")),
            "USER_AUTH" => has("ALLOW_USER_AUTH"),
            _ => false,
        }
    }
}

fn validate(cfg: &mut ClientConfig) -> ApiResult<()> {
    if let Some(units) = &cfg.token_validity_units {
        let mut errs = vec![];
        for (field, v) in [("idToken", &units.id_token), ("accessToken", &units.access_token), ("refreshToken", &units.refresh_token)] {
            if let Some(v) = v {
                if !UNITS.contains(&v.as_str()) {
                    errs.push(format!(
                        "Value '{v}' at 'tokenValidityUnits.{field}' failed to satisfy constraint: Member must satisfy enum value set: [hours, days, minutes, seconds]"
                    ));
                }
            }
        }
        if !errs.is_empty() {
            return Err(ApiError::validation(&errs));
        }
    }
    if let Some(flows) = &cfg.explicit_auth_flows {
        for f in flows {
            if !FLOWS.contains(&f.as_str()) {
                return Err(ApiError::validation(&[format!(
                    "Value '[{}]' at 'explicitAuthFlows' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                    flows.join(", "),
                    FLOWS.join(", ")
                )]));
            }
        }
        let legacy = flows.iter().any(|f| !f.starts_with("ALLOW_"));
        let modern = flows.iter().any(|f| f.starts_with("ALLOW_"));
        if legacy && modern {
            return Err(ApiError::invalid_parameter("ExplicitAuthFlows cannot have both legacy and new values."));
        }
    }
    if let Some(p) = &cfg.prevent_user_existence_errors {
        if p != "LEGACY" && p != "ENABLED" {
            return Err(ApiError::validation(&[format!(
                "Value '{p}' at 'preventUserExistenceErrors' failed to satisfy constraint: Member must satisfy enum value set: [LEGACY, ENABLED]"
            )]));
        }
    }
    let secs = |v: Option<i64>, unit: Option<&String>, def: &str| v.map(|v| v * ClientConfig::unit_secs(unit.map(String::as_str), def));
    let units = cfg.token_validity_units.clone().unwrap_or_default();
    for (name, v, lo, hi) in [
        ("AccessTokenValidity", secs(cfg.access_token_validity, units.access_token.as_ref(), "hours"), 300, 86400),
        ("IdTokenValidity", secs(cfg.id_token_validity, units.id_token.as_ref(), "hours"), 300, 86400),
        ("RefreshTokenValidity", secs(cfg.refresh_token_validity, units.refresh_token.as_ref(), "days"), 3600, 315_360_000),
    ] {
        if let Some(v) = v {
            if v != 0 && !(lo..=hi).contains(&v) {
                return Err(ApiError::invalid_parameter(format!(
                    "{name} must be between {} and {}.",
                    human(lo),
                    human(hi)
                )));
            }
        }
    }
    let asv = cfg.auth_session_validity.unwrap_or(3);
    if !(3..=15).contains(&asv) {
        return Err(ApiError::validation(&[format!(
            "Value '{asv}' at 'authSessionValidity' failed to satisfy constraint: Member must have value {}",
            if asv < 3 { "greater than or equal to 3" } else { "less than or equal to 15" }
        )]));
    }
    cfg.auth_session_validity = Some(asv);
    if cfg.refresh_token_validity.is_none() || cfg.refresh_token_validity == Some(0) {
        cfg.refresh_token_validity = Some(30);
        if let Some(u) = cfg.token_validity_units.as_mut() {
            if u.refresh_token.as_deref().is_some_and(|x| x != "days") {
                u.refresh_token = Some("days".into());
            }
        }
    }
    cfg.enable_token_revocation.get_or_insert(true);
    cfg.enable_propagate_additional_user_context_data.get_or_insert(false);
    cfg.allowed_oauth_flows_user_pool_client.get_or_insert(false);
    if cfg.token_validity_units.is_none() {
        cfg.token_validity_units = Some(TokenValidityUnits::default());
    }
    // OAuth flow rules (observed error catalogue).
    if let Some(flows) = &cfg.allowed_oauth_flows {
        let cc = flows.iter().any(|f| f == "client_credentials");
        if cc && flows.iter().any(|f| f == "code" || f == "implicit") {
            return Err(ApiError::new(ErrorKind::InvalidOAuthFlow, "client_credentials flow can not be selected along with code flow or implicit flow."));
        }
        if flows.iter().any(|f| f == "code" || f == "implicit") && cfg.callback_urls.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ApiError::new(ErrorKind::InvalidOAuthFlow, "CallbackUrls can not be empty when code flow or implicit flow is selected"));
        }
        if cc {
            if let Some(s) = cfg.allowed_oauth_scopes.as_ref().and_then(|s| s.iter().find(|s| ["email", "openid", "phone", "profile", "aws.cognito.signin.user.admin"].contains(&s.as_str()))) {
                return Err(ApiError::new(ErrorKind::InvalidOAuthFlow, format!("{s} is not supported with client_credentials flow")));
            }
        }
    }
    if let Some(scopes) = cfg.allowed_oauth_scopes.as_mut() {
        // Cognito lists the reserved scopes in a fixed order.
        let order = ["phone", "email", "openid", "profile", "aws.cognito.signin.user.admin"];
        scopes.sort_by_key(|s| order.iter().position(|o| o == s).unwrap_or(order.len()));
    }
    Ok(())
}

fn human(secs: i64) -> String {
    match secs {
        300 => "5 minutes".into(),
        3600 => "1 hour".into(),
        86400 => "1 day".into(),
        315_360_000 => "10 years".into(),
        s => format!("{s} seconds"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserPoolClientInput {
    pub user_pool_id: String,
    pub client_name: String,
    pub generate_secret: Option<bool>,
    #[serde(flatten)]
    pub config: ClientConfig,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserPoolClientInput {
    pub user_pool_id: String,
    pub client_id: String,
    pub client_name: Option<String>,
    #[serde(flatten)]
    pub config: ClientConfig,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientIdInput {
    pub user_pool_id: String,
    pub client_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserPoolClientsInput {
    pub user_pool_id: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

fn validate_client_name(name: &str) -> ApiResult<()> {
    let n = name.chars().count();
    if n == 0 || n > 128 || !name.chars().all(|c| c.is_alphanumeric() || " +=,.@-_".contains(c)) {
        return Err(ApiError::validation(&[format!(
            "Value '{name}' at 'clientName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"
        )]));
    }
    Ok(())
}

impl Service {
    fn client_json(&self, row: &ClientRow, cfg: &ClientConfig) -> ApiResult<Value> {
        let mut v = serde_json::to_value(cfg).map_err(|e| ApiError::internal(e.to_string()))?;
        let m: &mut Map<String, Value> = v.as_object_mut().expect("object");
        m.insert("UserPoolId".into(), json!(row.pool_id));
        m.insert("ClientName".into(), json!(row.name));
        m.insert("ClientId".into(), json!(row.id));
        m.insert("CreationDate".into(), json!(epoch(row.created)));
        m.insert("LastModifiedDate".into(), json!(epoch(row.modified)));
        if let Some(secret) = self.client_secret(row)? {
            m.insert("ClientSecret".into(), json!(secret));
        }
        Ok(v)
    }

    pub fn client_secret(&self, row: &ClientRow) -> ApiResult<Option<String>> {
        match &row.secret {
            None => Ok(None),
            Some(blob) => {
                let plain = self
                    .master
                    .open(Service::seal_context("clientsecret", &row.pool_id, &row.id).as_slice(), blob)
                    .map_err(|_| ApiError::internal("cannot unseal the client secret: wrong master key?"))?;
                Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
            }
        }
    }

    /// Checks a SECRET_HASH against the client's secret (if it has one), as Cognito does.
    pub fn check_secret_hash(&self, client: &Client, username: &str, given: Option<&str>) -> ApiResult<()> {
        let Some(secret) = self.client_secret(&client.row)? else { return Ok(()) };
        let err = || ApiError::not_authorized(format!("Unable to verify secret hash for client {}", client.row.id));
        let given = given.ok_or_else(err)?;
        let expected = seal::secret_hash(&secret, username, &client.row.id);
        if seal::ct_eq(expected.as_bytes(), given.as_bytes()) { Ok(()) } else { Err(err()) }
    }

    /// SECRET_HASH in a challenge response: clients compute it over the name they typed or the
    /// canonical username, so any name of this user is accepted (the secret is what is proven).
    pub fn check_user_secret_hash(&self, client: &Client, user: &crate::store::UserRow, given_name: Option<&str>, hash: Option<&str>) -> ApiResult<()> {
        if self.client_secret(&client.row)?.is_none() {
            return Ok(());
        }
        let mut names: Vec<&str> = vec![user.username.as_str()];
        names.extend(given_name);
        names.extend(["email", "phone_number", "preferred_username"].iter().filter_map(|a| user.attr(a)));
        if names.iter().any(|n| self.check_secret_hash(client, n, hash).is_ok()) {
            Ok(())
        } else {
            Err(ApiError::not_authorized(format!("Unable to verify secret hash for client {}", client.row.id)))
        }
    }

    pub async fn create_user_pool_client(&self, _ctx: &Ctx, input: CreateUserPoolClientInput) -> ApiResult<Value> {
        validate_client_name(&input.client_name)?;
        let pool = self.pool(&input.user_pool_id).await?;
        let mut cfg = input.config;
        validate(&mut cfg)?;
        self.check_client_attributes(&pool.config, &cfg)?;
        let now = self.now();
        for _ in 0..5 {
            let id = random_string(self.random.as_ref(), b"abcdefghijklmnopqrstuvwxyz0123456789", 26);
            let secret = input.generate_secret.unwrap_or(false).then(|| {
                let s = random_string(self.random.as_ref(), b"abcdefghijklmnopqrstuvwxyz0123456789", 51);
                self.master.seal(&Service::seal_context("clientsecret", &pool.row.id, &id), s.as_bytes())
            });
            let row = ClientRow {
                id,
                pool_id: pool.row.id.clone(),
                name: input.client_name.clone(),
                created: now,
                modified: now,
                config: serde_json::to_string(&cfg).map_err(|e| ApiError::internal(e.to_string()))?,
                secret,
            };
            match self.store.insert_client(&row).await {
                Ok(()) => return Ok(json!({ "UserPoolClient": self.client_json(&row, &cfg)? })),
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal("could not allocate a client id"))
    }

    fn check_client_attributes(&self, pool: &super::PoolConfig, cfg: &ClientConfig) -> ApiResult<()> {
        for list in [&cfg.read_attributes, &cfg.write_attributes].into_iter().flatten() {
            for a in list {
                if pool.schema(a).is_none() && a != "email_verified" && a != "phone_number_verified" {
                    return Err(ApiError::invalid_parameter(format!("Invalid read attributes specified while creating a client: {a}")));
                }
            }
        }
        Ok(())
    }

    pub async fn describe_user_pool_client(&self, _ctx: &Ctx, input: ClientIdInput) -> ApiResult<Value> {
        self.pool(&input.user_pool_id).await?;
        let c = self.client_in_pool(&input.user_pool_id, &input.client_id).await?;
        Ok(json!({ "UserPoolClient": self.client_json(&c.row, &c.config)? }))
    }

    pub async fn update_user_pool_client(&self, _ctx: &Ctx, input: UpdateUserPoolClientInput) -> ApiResult<Value> {
        self.pool(&input.user_pool_id).await?;
        let c = self.client_in_pool(&input.user_pool_id, &input.client_id).await?;
        let pool = self.pool(&input.user_pool_id).await?;
        // UpdateUserPoolClient replaces the whole client: omitted settings go back to defaults.
        let mut cfg = input.config;
        validate(&mut cfg)?;
        self.check_client_attributes(&pool.config, &cfg)?;
        let name = input.client_name.unwrap_or(c.row.name.clone());
        validate_client_name(&name)?;
        let row = ClientRow {
            name,
            modified: self.now(),
            config: serde_json::to_string(&cfg).map_err(|e| ApiError::internal(e.to_string()))?,
            ..c.row
        };
        self.store.update_client(&row).await?;
        Ok(json!({ "UserPoolClient": self.client_json(&row, &cfg)? }))
    }

    pub async fn delete_user_pool_client(&self, _ctx: &Ctx, input: ClientIdInput) -> ApiResult<Value> {
        self.pool(&input.user_pool_id).await?;
        let c = self.client_in_pool(&input.user_pool_id, &input.client_id).await?;
        self.store.delete_client(&c.row.id).await?;
        Ok(json!({}))
    }

    pub async fn list_user_pool_clients(&self, _ctx: &Ctx, input: ListUserPoolClientsInput) -> ApiResult<Value> {
        let max = input.max_results.unwrap_or(60);
        if !(1..=60).contains(&max) {
            return Err(ApiError::validation(&[format!(
                "Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60"
            )]));
        }
        self.pool(&input.user_pool_id).await?;
        let after = decode_token(input.next_token.as_deref())?;
        let rows = self.store.list_clients(&input.user_pool_id, after.as_deref(), max + 1).await?;
        let more = rows.len() as i64 > max;
        let rows = &rows[..rows.len().min(max as usize)];
        let list: Vec<Value> = rows.iter().map(|r| json!({"ClientId": r.id, "UserPoolId": r.pool_id, "ClientName": r.name})).collect();
        let mut out = json!({ "UserPoolClients": list });
        if more {
            out["NextToken"] = json!(encode_token(&rows.last().expect("non-empty").id));
        }
        Ok(out)
    }
}
