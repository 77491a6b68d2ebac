//! Cognito's semantics, one module per area. No HTTP and no SQL here: operations take typed
//! inputs (see [`crate::shapes`]) and a [`Ctx`], talk to the [`Store`] and the ports, and
//! return typed outputs or an [`ApiError`].

// Operations pass the request context, pool, client and user along explicitly.
#![allow(clippy::too_many_arguments)]

pub mod attributes;
pub mod clients;
pub mod custom_auth;
pub mod codes;
pub mod devices;
pub mod events;
pub mod filter;
pub mod groups;
pub mod iam;
pub mod identity_pools;
pub mod mfa;
pub mod migration;
pub mod password;
pub mod pools;
pub mod signin;
pub mod srp_auth;
pub mod sts;
pub mod token_triggers;
pub mod tokens;
pub mod triggers;
pub mod user_auth;
pub mod users;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::{Config, IssuerForm};
use crate::crypto::jwt::RsaSigningKey;
use crate::crypto::seal::MasterKey;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::triggers::Triggers;
use crate::ports::{Clock, Delivery, Random};
use crate::store::{ClientRow, PoolRow, Store, StoreError, UserRow};

pub use clients::ClientConfig;
pub use pools::PoolConfig;

/// Who is calling and how the request reached us.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Region from the SigV4 credential scope, if the call was signed.
    pub signed_region: Option<String>,
    /// Base URL clients reach tobira at, e.g. `http://127.0.0.1:9229`.
    pub public_url: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
    /// The operation's ClientMetadata, for the triggers it fires.
    pub client_metadata: Option<HashMap<String, String>>,
    /// The metadata came with InitiateAuth: triggers see it as `validationData` (pre
    /// authentication, user migration) and not as `clientMetadata`.
    pub metadata_from_initiate: bool,
    /// The app client the operation came through, when it names one (triggers' callerContext).
    pub client_id: Option<String>,
    /// Who signed the request, when it was signed with temporary credentials.
    pub caller: Option<sts::Caller>,
}

impl Ctx {
    /// This context with an operation's ClientMetadata.
    pub fn with_metadata(&self, metadata: Option<&HashMap<String, String>>, from_initiate: bool) -> Ctx {
        Ctx { client_metadata: metadata.cloned(), metadata_from_initiate: from_initiate, ..self.clone() }
    }

    /// This context for an operation made through `client_id`.
    pub fn for_client(&self, client_id: &str) -> Ctx {
        Ctx { client_id: Some(client_id.to_string()), ..self.clone() }
    }
}

/// The per-pool signing keys, parsed once and kept.
pub struct PoolKeys {
    pub id: RsaSigningKey,
    pub access: RsaSigningKey,
}

pub struct Service {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub delivery: Arc<dyn Delivery>,
    pub master: Arc<MasterKey>,
    pub config: Arc<Config>,
    pub triggers: Arc<dyn Triggers>,
    keys: RwLock<HashMap<String, Arc<PoolKeys>>>,
    /// Parsed pool settings by pool id, with the text they were parsed from. The row is still
    /// read on every call (another process may have changed it); only the parsing is saved.
    pool_configs: RwLock<HashMap<String, (String, Arc<PoolConfig>)>>,
}

/// A pool with its parsed settings.
pub struct Pool {
    pub row: PoolRow,
    pub config: Arc<PoolConfig>,
}

/// A client with its parsed settings.
pub struct Client {
    pub row: ClientRow,
    pub config: ClientConfig,
}

impl Service {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        delivery: Arc<dyn Delivery>,
        master: Arc<MasterKey>,
        config: Arc<Config>,
    ) -> Self {
        Service {
            store,
            clock,
            random,
            delivery,
            master,
            config,
            triggers: Arc::new(crate::ports::triggers::FakeTriggers::new()),
            keys: RwLock::new(HashMap::new()),
            pool_configs: RwLock::new(HashMap::new()),
        }
    }

    /// The same service reaching trigger functions through `triggers`.
    pub fn with_triggers(mut self, triggers: Arc<dyn Triggers>) -> Self {
        self.triggers = triggers;
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// The region a new resource lives in: the signed scope's, else the default.
    pub fn region(&self, ctx: &Ctx) -> String {
        ctx.signed_region.clone().unwrap_or_else(|| self.config.region.clone())
    }

    pub async fn pool(&self, pool_id: &str) -> ApiResult<Pool> {
        let row = self
            .store
            .get_pool(pool_id)
            .await?
            .ok_or_else(|| ApiError::resource_not_found(format!("User pool {pool_id} does not exist.")))?;
        self.pool_from_row(row)
    }

    /// Stores a pool's changed settings (the rest of the row as it is).
    pub async fn save_pool_config(&self, pool: &Pool, config: &PoolConfig) -> ApiResult<()> {
        let text = serde_json::to_string(config).map_err(|e| ApiError::internal(e.to_string()))?;
        self.store.update_pool(&pool.row.id, &pool.row.name, &text, self.now()).await?;
        Ok(())
    }

    /// A pool row with its parsed settings, parsed once per stored text.
    fn pool_from_row(&self, row: PoolRow) -> ApiResult<Pool> {
        if let Some((text, cfg)) = self.pool_configs.read().unwrap_or_else(|p| p.into_inner()).get(&row.id) {
            if *text == row.config {
                return Ok(Pool { config: cfg.clone(), row });
            }
        }
        let config: Arc<PoolConfig> =
            Arc::new(serde_json::from_str(&row.config).map_err(|e| ApiError::internal(format!("corrupt pool config: {e}")))?);
        self.pool_configs.write().unwrap_or_else(|p| p.into_inner()).insert(row.id.clone(), (row.config.clone(), config.clone()));
        Ok(Pool { row, config })
    }

    pub async fn client(&self, client_id: &str) -> ApiResult<Client> {
        let row = self
            .store
            .get_client(client_id)
            .await?
            .ok_or_else(|| ApiError::resource_not_found(format!("User pool client {client_id} does not exist.")))?;
        Self::client_from_row(row)
    }

    fn client_from_row(row: ClientRow) -> ApiResult<Client> {
        let config: ClientConfig = serde_json::from_str(&row.config).map_err(|e| ApiError::internal(format!("corrupt client config: {e}")))?;
        Ok(Client { row, config })
    }

    /// The app client an app-facing call names, and its pool, in one store round trip.
    pub async fn client_and_pool(&self, client_id: &str) -> ApiResult<(Client, Pool)> {
        let (client, pool) = self
            .store
            .get_client_with_pool(client_id)
            .await?
            .ok_or_else(|| ApiError::resource_not_found(format!("User pool client {client_id} does not exist.")))?;
        Ok((Self::client_from_row(client)?, self.pool_from_row(pool)?))
    }

    /// A client that must belong to `pool_id` (admin calls name both).
    pub async fn client_in_pool(&self, pool_id: &str, client_id: &str) -> ApiResult<Client> {
        match self.client(client_id).await {
            Ok(c) if c.row.pool_id == pool_id => Ok(c),
            _ => Err(ApiError::resource_not_found(format!("User pool client {client_id} does not exist."))),
        }
    }

    pub fn keys(&self, pool: &PoolRow) -> ApiResult<Arc<PoolKeys>> {
        if let Some(k) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&pool.id) {
            return Ok(k.clone());
        }
        let open = |label: &str, blob: &[u8]| -> ApiResult<RsaSigningKey> {
            let der = self
                .master
                .open(format!("{label}:{}", pool.id).as_bytes(), blob)
                .map_err(|_| ApiError::internal("cannot unseal the pool's signing key: wrong master key?"))?;
            RsaSigningKey::from_pkcs8(&der).map_err(|e| ApiError::internal(format!("bad signing key: {}", e.0)))
        };
        let keys = Arc::new(PoolKeys { id: open("idkey", &pool.id_key)?, access: open("accesskey", &pool.access_key)? });
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(pool.id.clone(), keys.clone());
        Ok(keys)
    }

    /// The pool's keys from the cache, loading the pool once if needed.
    pub async fn keys_for(&self, pool_id: &str) -> ApiResult<Arc<PoolKeys>> {
        if let Some(k) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(pool_id) {
            return Ok(k.clone());
        }
        let pool = self.pool(pool_id).await?;
        self.keys(&pool.row)
    }

    pub fn forget_keys(&self, pool_id: &str) {
        self.keys.write().unwrap_or_else(|p| p.into_inner()).remove(pool_id);
        self.pool_configs.write().unwrap_or_else(|p| p.into_inner()).remove(pool_id);
    }

    /// The `iss` of a pool's tokens.
    pub fn issuer(&self, ctx: &Ctx, pool_id: &str) -> String {
        match self.config.issuer {
            IssuerForm::Aws => format!("https://cognito-idp.{}.amazonaws.com/{pool_id}", region_of_pool(pool_id)),
            IssuerForm::Local => {
                let base = self.config.public_url.clone().unwrap_or_else(|| ctx.public_url.clone());
                format!("{}/{pool_id}", base.trim_end_matches('/'))
            }
        }
    }

    pub fn seal_context(kind: &str, pool_id: &str, id: &str) -> Vec<u8> {
        format!("{kind}:{pool_id}:{id}").into_bytes()
    }

    /// Runs a read-modify-write on a user, retrying when another writer got there first.
    pub async fn with_user_retry<T, F, Fut>(&self, mut f: F) -> ApiResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ApiResult<T>>,
    {
        let mut tries = 0;
        loop {
            match f().await {
                Err(e) if e.kind == ErrorKind::ConcurrentModification && tries < 8 => tries += 1,
                other => return other,
            }
        }
    }

    /// Changes the user of an access token (read, `change`, save; retried on conflicts).
    pub async fn update_token_user(&self, ctx: &Ctx, access_token: &str, change: impl Fn(&mut UserRow) -> ApiResult<()>) -> ApiResult<()> {
        let auth = self.authenticate(ctx, access_token).await?;
        let key = auth.user.username_key.clone();
        self.with_user_retry(|| async {
            let mut u = self.store.get_user(&auth.pool.row.id, &key).await?.ok_or_else(ApiError::user_not_found)?;
            change(&mut u)?;
            self.save_user(&mut u, true).await
        })
        .await
    }

    /// Changes the user an admin call names (read, `change`, save; retried on conflicts).
    pub async fn update_named_user(&self, pool_id: &str, username: &str, change: impl Fn(&mut UserRow) -> ApiResult<()>) -> ApiResult<()> {
        let pool = self.pool(pool_id).await?;
        self.with_user_retry(|| async {
            let mut u = self.require_user(&pool, username).await?;
            change(&mut u)?;
            self.save_user(&mut u, true).await
        })
        .await
    }

    /// Saves a user read earlier, bumping its version and modification time.
    pub async fn save_user(&self, user: &mut UserRow, touch: bool) -> ApiResult<()> {
        let expected = user.version;
        user.version += 1;
        if touch {
            user.modified = self.now();
        }
        match self.store.update_user(user, expected, &[], &[]).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(ApiError::new(ErrorKind::ConcurrentModification, "user changed concurrently")),
            Err(e) => Err(e.into()),
        }
    }
}

/// `us-east-1_AbC` → `us-east-1`.
pub fn region_of_pool(pool_id: &str) -> &str {
    pool_id.split('_').next().unwrap_or("us-east-1")
}

/// Epoch milliseconds as the JSON 1.1 timestamp (epoch seconds with fraction).
pub fn epoch(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
