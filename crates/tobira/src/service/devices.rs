//! Remembered devices: NewDeviceMetadata after sign-in, ConfirmDevice with the client's SRP
//! verifier, DEVICE_SRP_AUTH / DEVICE_PASSWORD_VERIFIER (fact sheet §2.3), and the device
//! operations. A device's verifier is sealed like a password verifier.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::pools::{decode_token, encode_token};
use super::srp_auth::{parse_timestamp, TIMESTAMP_SKEW_SECS};
use super::{epoch, Client, Ctx, Pool, Service};
use crate::crypto::srp;
use crate::error::{ApiError, ApiResult};
use crate::ports::random::{random_string, uuid_v4};
use crate::store::{DeviceRow, UserRow};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifierConfig {
    pub password_verifier: Option<String>,
    pub salt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmDeviceInput {
    pub access_token: String,
    pub device_key: String,
    pub device_secret_verifier_config: Option<VerifierConfig>,
    pub device_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceTokenInput {
    pub access_token: String,
    pub device_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForgetDeviceInput {
    pub access_token: Option<String>,
    pub device_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDeviceInput {
    pub access_token: Option<String>,
    pub device_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDevicesInput {
    pub access_token: String,
    pub limit: Option<i64>,
    pub pagination_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminDeviceInput {
    pub user_pool_id: String,
    pub username: String,
    pub device_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminListDevicesInput {
    pub user_pool_id: String,
    pub username: String,
    pub limit: Option<i64>,
    pub pagination_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDeviceStatusInput {
    pub access_token: String,
    pub device_key: String,
    pub device_remembered_status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminUpdateDeviceStatusInput {
    pub user_pool_id: String,
    pub username: String,
    pub device_key: String,
    pub device_remembered_status: Option<String>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn device_json(d: &DeviceRow) -> Value {
    let mut attrs = vec![
        json!({"Name": "device_status", "Value": "valid"}),
        json!({"Name": "dev:device_remembered_status", "Value": if d.remembered { "remembered" } else { "not_remembered" }}),
    ];
    if let Some(n) = &d.name {
        attrs.push(json!({"Name": "device_name", "Value": n}));
    }
    if let Some(ip) = &d.last_ip {
        attrs.push(json!({"Name": "last_ip_used", "Value": ip}));
    }
    json!({
        "DeviceKey": d.device_key,
        "DeviceAttributes": attrs,
        "DeviceCreateDate": epoch(d.created),
        "DeviceLastModifiedDate": epoch(d.modified),
        "DeviceLastAuthenticatedDate": epoch(d.last_authenticated),
    })
}

fn device_config_flag(pool: &Pool, name: &str) -> bool {
    pool.config.device_configuration.as_ref().and_then(|c| c.get(name)).and_then(Value::as_bool).unwrap_or(false)
}

impl Service {
    /// After a sign-in on a pool that tracks devices: a new, unconfirmed device.
    pub(super) async fn new_device(&self, ctx: &Ctx, pool: &Pool, user: &UserRow) -> ApiResult<Option<(String, String)>> {
        if pool.config.device_configuration.is_none() {
            return Ok(None);
        }
        let key = format!("{}_{}", super::region_of_pool(&pool.row.id), uuid_v4(self.random.as_ref()));
        let group = format!("-{}", random_string(self.random.as_ref(), b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 9));
        let now = self.now();
        self.store
            .insert_device(&DeviceRow {
                device_key: key.clone(),
                pool_id: pool.row.id.clone(),
                username_key: user.username_key.clone(),
                group_key: group.clone(),
                verifier: None,
                name: None,
                remembered: false,
                confirmed: false,
                created: now,
                modified: now,
                last_authenticated: now,
                last_ip: ctx.source_ip.clone(),
            })
            .await?;
        Ok(Some((key, group)))
    }

    async fn user_device(&self, pool_id: &str, user: &UserRow, key: &str) -> ApiResult<DeviceRow> {
        match self.store.get_device(key).await? {
            Some(d) if d.pool_id == pool_id && d.username_key == user.username_key => Ok(d),
            _ => Err(ApiError::resource_not_found("Device does not exist.")),
        }
    }

    pub async fn confirm_device(&self, ctx: &Ctx, input: ConfirmDeviceInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        let mut d = self.user_device(&auth.pool.row.id, &auth.user, &input.device_key).await?;
        let cfg = input.device_secret_verifier_config.ok_or_else(|| ApiError::invalid_parameter("DeviceSecretVerifierConfig is required."))?;
        let decode = |v: Option<String>, what: &str| {
            use base64::Engine;
            v.and_then(|s| b64().decode(s).ok()).ok_or_else(|| ApiError::invalid_parameter(format!("Invalid {what} in DeviceSecretVerifierConfig.")))
        };
        let verifier = decode(cfg.password_verifier, "PasswordVerifier")?;
        let salt = decode(cfg.salt, "Salt")?;
        if !srp::is_valid_verifier(&verifier) || salt.is_empty() || salt.len() > 255 {
            return Err(ApiError::invalid_parameter("Invalid DeviceSecretVerifierConfig."));
        }
        let mut blob = vec![salt.len() as u8];
        blob.extend_from_slice(&salt);
        blob.extend_from_slice(&verifier);
        d.verifier = Some(self.master.seal(&Service::seal_context("device", &d.pool_id, &d.device_key), &blob));
        d.name = input.device_name.or(d.name);
        d.confirmed = true;
        let prompt = device_config_flag(&auth.pool, "DeviceOnlyRememberedOnUserPrompt");
        d.remembered = !prompt;
        d.modified = self.now();
        self.store.update_device(&d).await?;
        Ok(json!({ "UserConfirmationNecessary": prompt }))
    }

    fn device_verifier(&self, d: &DeviceRow) -> ApiResult<(Vec<u8>, Vec<u8>)> {
        let sealed = d.verifier.as_ref().ok_or_else(|| ApiError::resource_not_found("Device does not exist."))?;
        let blob = self
            .master
            .open(&Service::seal_context("device", &d.pool_id, &d.device_key), sealed)
            .map_err(|_| ApiError::internal("cannot unseal a device verifier: wrong master key?"))?;
        let n = *blob.first().ok_or_else(|| ApiError::internal("empty device verifier"))? as usize;
        if blob.len() < 1 + n {
            return Err(ApiError::internal("short device verifier"));
        }
        Ok((blob[1..1 + n].to_vec(), blob[1 + n..].to_vec()))
    }

    /// DEVICE_SRP_AUTH: the client's A for the device; answers DEVICE_PASSWORD_VERIFIER.
    pub(super) async fn device_srp_start(&self, pool: &Pool, client: &Client, session: &str, r: &HashMap<String, String>) -> ApiResult<Value> {
        use base64::Engine;
        let (_, _, user, mut flow) = self.resume(session, "DEVICE_SRP_AUTH").await?;
        self.check_user_secret_hash(client, &user, r.get("USERNAME").map(String::as_str), r.get("SECRET_HASH").map(String::as_str))?;
        let dk = r.get("DEVICE_KEY").cloned().or(flow.device_key.clone()).ok_or_else(|| ApiError::invalid_parameter("Missing required parameter DEVICE_KEY"))?;
        if flow.device_key.as_deref() != Some(dk.as_str()) {
            return Err(ApiError::not_authorized("Invalid device key given."));
        }
        let a_hex = r.get("SRP_A").ok_or_else(|| ApiError::invalid_parameter("Missing required parameter SRP_A"))?;
        let big_a = srp::from_hex(a_hex).ok_or_else(|| ApiError::invalid_parameter("SRP_A is not valid hex."))?;
        let d = self.user_device(&pool.row.id, &user, &dk).await?;
        let (salt, v) = self.device_verifier(&d)?;
        let eph = srp::server_ephemeral(self.random.as_ref(), &v);
        let key = srp::server_session_key_for(&big_a, &eph, &v).map_err(|_| ApiError::not_authorized("Incorrect username or password."))?;
        let block = crate::ports::random::random_bytes(self.random.as_ref(), 64);
        flow.srp_key = Some(b64().encode(self.master.seal(b"srp-session-key", &key)));
        flow.code_mac = Some(b64().encode(self.master.mac("srp-block", &block)));
        let next = self.new_session(pool, client, &user, "DEVICE_PASSWORD_VERIFIER", &flow).await?;
        Ok(json!({
            "ChallengeName": "DEVICE_PASSWORD_VERIFIER",
            "Session": next,
            "ChallengeParameters": {
                "SALT": srp::to_hex(&salt),
                "SECRET_BLOCK": b64().encode(&block),
                "SRP_B": srp::to_hex(&eph.big_b),
                "USERNAME": user.username,
                "DEVICE_KEY": dk,
            },
        }))
    }

    /// DEVICE_PASSWORD_VERIFIER: the device's proof; on success the sign-in completes.
    pub(super) async fn device_srp_verify(&self, ctx: &Ctx, pool: &Pool, client: &Client, session: &str, r: &HashMap<String, String>) -> ApiResult<Value> {
        use base64::Engine;
        let (_, _, user, mut flow) = self.resume(session, "DEVICE_PASSWORD_VERIFIER").await?;
        let get = |n: &str| r.get(n).map(String::as_str).ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {n}")));
        let block = b64().decode(get("PASSWORD_CLAIM_SECRET_BLOCK")?).map_err(|_| ApiError::not_authorized("Incorrect username or password."))?;
        let timestamp = get("TIMESTAMP")?;
        let signature = get("PASSWORD_CLAIM_SIGNATURE")?;
        let dk = flow.device_key.clone().ok_or_else(|| ApiError::not_authorized("Invalid device key given."))?;
        let expected_block = flow.code_mac.take().unwrap_or_default();
        if !crate::crypto::seal::ct_eq(expected_block.as_bytes(), b64().encode(self.master.mac("srp-block", &block)).as_bytes()) {
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        let ts = parse_timestamp(timestamp).ok_or_else(|| ApiError::invalid_parameter("TIMESTAMP is not in the format 'ddd MMM d HH:mm:ss UTC yyyy'."))?;
        if (ts - self.now() / 1000).abs() > TIMESTAMP_SKEW_SECS {
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        let mut d = self.user_device(&pool.row.id, &user, &dk).await?;
        let sealed = b64().decode(flow.srp_key.take().unwrap_or_default()).map_err(|_| ApiError::internal("corrupt session"))?;
        let key: [u8; 16] = self.master.open(b"srp-session-key", &sealed).ok().and_then(|k| k.try_into().ok()).ok_or_else(|| ApiError::internal("corrupt session key"))?;
        let expected = srp::claim_signature(&key, &d.group_key, &d.device_key, &block, timestamp);
        if !srp::verify_claim_signature(&expected, signature) {
            self.record_auth_event(ctx, pool, client, &user, &flow, Some("Password"), false).await;
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        d.last_authenticated = self.now();
        d.last_ip = ctx.source_ip.clone().or(d.last_ip);
        self.store.update_device(&d).await?;
        flow.device_done = true;
        self.next_step(ctx, pool, client, user, flow).await
    }

    // ------------------------------------------------------------ operations

    pub async fn get_device(&self, ctx: &Ctx, input: GetDeviceInput) -> ApiResult<Value> {
        let token = input.access_token.ok_or_else(|| ApiError::invalid_parameter("AccessToken is required."))?;
        let auth = self.authenticate(ctx, &token).await?;
        let d = self.user_device(&auth.pool.row.id, &auth.user, &input.device_key).await?;
        Ok(json!({ "Device": device_json(&d) }))
    }

    pub async fn admin_get_device(&self, _ctx: &Ctx, input: AdminDeviceInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        let d = self.user_device(&pool.row.id, &user, &input.device_key).await?;
        Ok(json!({ "Device": device_json(&d) }))
    }

    async fn list_devices_of(&self, pool: &Pool, user: &UserRow, limit: Option<i64>, token: Option<String>) -> ApiResult<Value> {
        let limit = limit.unwrap_or(60).clamp(0, 60);
        let limit = if limit == 0 { 60 } else { limit };
        let after = decode_token(token.as_deref())?;
        let rows = self.store.list_devices(&pool.row.id, &user.username_key, after.as_deref(), limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let mut out = json!({ "Devices": rows.iter().map(device_json).collect::<Vec<_>>() });
        if more {
            out["PaginationToken"] = json!(encode_token(&rows.last().expect("non-empty").device_key));
        }
        Ok(out)
    }

    pub async fn list_devices(&self, ctx: &Ctx, input: ListDevicesInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        self.list_devices_of(&auth.pool, &auth.user, input.limit, input.pagination_token).await
    }

    pub async fn admin_list_devices(&self, _ctx: &Ctx, input: AdminListDevicesInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        self.list_devices_of(&pool, &user, input.limit, input.pagination_token).await
    }

    async fn set_device_status(&self, pool: &Pool, user: &UserRow, key: &str, status: Option<String>) -> ApiResult<Value> {
        let mut d = self.user_device(&pool.row.id, user, key).await?;
        d.remembered = match status.as_deref() {
            Some("remembered") => true,
            Some("not_remembered") | None => false,
            Some(other) => {
                return Err(ApiError::validation(&[format!(
                    "Value '{other}' at 'deviceRememberedStatus' failed to satisfy constraint: Member must satisfy enum value set: [remembered, not_remembered]"
                )]))
            }
        };
        d.modified = self.now();
        self.store.update_device(&d).await?;
        Ok(json!({}))
    }

    pub async fn update_device_status(&self, ctx: &Ctx, input: UpdateDeviceStatusInput) -> ApiResult<Value> {
        let auth = self.authenticate(ctx, &input.access_token).await?;
        self.set_device_status(&auth.pool, &auth.user, &input.device_key, input.device_remembered_status).await
    }

    pub async fn admin_update_device_status(&self, _ctx: &Ctx, input: AdminUpdateDeviceStatusInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        self.set_device_status(&pool, &user, &input.device_key, input.device_remembered_status).await
    }

    pub async fn forget_device(&self, ctx: &Ctx, input: ForgetDeviceInput) -> ApiResult<Value> {
        let token = input.access_token.ok_or_else(|| ApiError::invalid_parameter("AccessToken is required."))?;
        let auth = self.authenticate(ctx, &token).await?;
        let d = self.user_device(&auth.pool.row.id, &auth.user, &input.device_key).await?;
        self.store.delete_device(&d.device_key).await?;
        Ok(json!({}))
    }

    pub async fn admin_forget_device(&self, _ctx: &Ctx, input: AdminDeviceInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        let d = self.user_device(&pool.row.id, &user, &input.device_key).await?;
        self.store.delete_device(&d.device_key).await?;
        Ok(json!({}))
    }
}
