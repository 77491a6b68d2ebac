//! Storage: one interface ([`Store`]) over SQLite (the embedded default) and PostgreSQL
//! (several tobira processes sharing one database).
//!
//! Both backends run the same SQL through [`db`] (SQLite in-process with rusqlite, PostgreSQL
//! with sqlx); the few differences (DDL types, placeholder syntax, migration locking, SQLite's
//! single writer) live there and in [`Backend`].
//! Each public method is one transaction. Rows are plain data: the store knows nothing of
//! Cognito's rules, it keeps what the service layer hands it, with the indexes that make
//! look-ups cheap. Conflicts come back as [`StoreError::Duplicate`] (a unique key was taken)
//! or [`StoreError::Conflict`] (a row changed since it was read: optimistic concurrency).

mod db;
mod records;
mod schema;

pub use records::Record;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use db::{Db, DbError, Row, Tx, Q};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A unique key is taken: "username", "sub", "identifier:<kind>", "group", "client", "pool", "member".
    Duplicate(String),
    /// The row changed since it was read.
    Conflict(String),
    Db(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Duplicate(w) => write!(f, "duplicate {w}"),
            StoreError::Conflict(w) => write!(f, "conflict: {w}"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}


pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

// ---------------------------------------------------------------- rows

#[derive(Debug, Clone)]
pub struct PoolRow {
    pub id: String,
    pub name: String,
    pub created: i64,
    pub modified: i64,
    /// The pool's settings as JSON (owned by the service layer).
    pub config: String,
    /// Sealed PKCS#8 of the ID-token and access-token signing keys.
    pub id_key: Vec<u8>,
    pub access_key: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    pub created: i64,
    pub modified: i64,
    pub config: String,
    /// Sealed client secret.
    pub secret: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub pool_id: String,
    /// The unique key: the username, lower-cased in case-insensitive pools.
    pub username_key: String,
    pub username: String,
    pub sub: String,
    pub status: String,
    pub enabled: bool,
    pub created: i64,
    pub modified: i64,
    /// Bumped by every update; updates name the version they read.
    pub version: i64,
    /// Attributes in their order of first setting.
    pub attributes: Vec<(String, String)>,
    /// Sealed SRP salt and verifier.
    pub verifier: Option<Vec<u8>>,
    /// When a temporary password stops working (epoch ms).
    pub password_expires: Option<i64>,
    pub failed_attempts: i64,
    pub locked_until: i64,
    /// Further per-user state as JSON (MFA settings and the like), owned by the service layer.
    pub extra: String,
}

impl UserRow {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A unique identifier other than the username: an alias or a username attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub kind: String,
    pub value_key: String,
}

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub pool_id: String,
    pub name: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub precedence: Option<i64>,
    pub created: i64,
    pub modified: i64,
}

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub pool_id: String,
    pub username_key: String,
    pub purpose: String,
    pub code_mac: Vec<u8>,
    pub payload: Option<String>,
    pub created: i64,
    pub expires: i64,
    pub attempts: i64,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id_mac: Vec<u8>,
    pub pool_id: String,
    pub client_id: String,
    pub username_key: String,
    pub challenge: String,
    pub payload: String,
    pub expires: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub token_mac: Vec<u8>,
    pub pool_id: String,
    pub client_id: String,
    pub username_key: String,
    pub origin_jti: String,
    pub auth_time: i64,
    pub created: i64,
    pub expires: i64,
    pub revoked: bool,
    pub device_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub device_key: String,
    pub pool_id: String,
    pub username_key: String,
    pub group_key: String,
    /// Sealed salt and verifier the client registered (ConfirmDevice).
    pub verifier: Option<Vec<u8>>,
    pub name: Option<String>,
    pub remembered: bool,
    pub confirmed: bool,
    pub created: i64,
    pub modified: i64,
    pub last_authenticated: i64,
    pub last_ip: Option<String>,
}

/// One recorded sign-in attempt; `detail` is JSON owned by the service layer.
#[derive(Debug, Clone)]
pub struct AuthEventRow {
    pub event_id: String,
    pub pool_id: String,
    pub username_key: String,
    pub created: i64,
    pub seq: i64,
    pub detail: String,
}

/// Searchable user columns for ListUsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserColumn {
    UsernameKey,
    Sub,
    Status,
    Enabled,
    Email,
    PhoneNumber,
    Name,
    GivenName,
    FamilyName,
    PreferredUsername,
}

impl UserColumn {
    fn sql(self) -> &'static str {
        match self {
            UserColumn::UsernameKey => "username_key",
            UserColumn::Sub => "sub",
            UserColumn::Status => "status",
            UserColumn::Enabled => "enabled",
            UserColumn::Email => "email",
            UserColumn::PhoneNumber => "phone_number",
            UserColumn::Name => "name",
            UserColumn::GivenName => "given_name",
            UserColumn::FamilyName => "family_name",
            UserColumn::PreferredUsername => "preferred_username",
        }
    }
}

#[derive(Debug, Clone)]
pub enum UserFilter {
    Equals(UserColumn, String),
    Prefix(UserColumn, String),
    EnabledIs(bool),
}

// ---------------------------------------------------------------- the store

#[derive(Clone)]
pub struct Store {
    db: Db,
}

const USER_COLUMNS: &str = "pool_id, username_key, username, sub, status, enabled, created, modified, version, attributes, verifier, password_expires, failed_attempts, locked_until, extra";

impl Store {
    /// Connect to `url` (`sqlite://path` or `postgres://…`) and run the migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let db = Db::connect(url).await?;
        let store = Store { db };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        if self.backend() == Backend::Postgres {
            // Several processes may start at once: one migrates, the others wait.
            tx.q("SELECT pg_advisory_xact_lock(74190001)").fetch_all().await?;
        }
        tx.q("CREATE TABLE IF NOT EXISTS tobira_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)").execute().await?;
        let done: Vec<i64> = tx
            .q("SELECT version FROM tobira_migrations")
            .fetch_all()
            .await?
            .iter()
            .map(|r| r.get::<i64>(0))
            .collect::<Result<_, _>>()?;
        for (version, ddl) in schema::MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            let ddl = match self.backend() {
                Backend::Sqlite => ddl.replace("{blob}", "BLOB").replace("{text_c}", "TEXT"),
                Backend::Postgres => ddl.replace("{blob}", "BYTEA").replace("{text_c}", "TEXT COLLATE \"C\""),
            };
            for stmt in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                tx.q(self.sql_owned(stmt.to_string())).execute().await?;
            }
            tx.q(self.sql("INSERT INTO tobira_migrations (version, applied) VALUES ($1, $2)")).bind(*version).bind(0i64).execute().await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// SQL is written with PostgreSQL's `$N` placeholders; SQLite gets `?N` (its numbered form).
    /// Converted once per statement and kept, so prepared-statement caches see stable strings.
    fn sql(&self, pg: &'static str) -> &'static str {
        if self.backend() == Backend::Postgres {
            return pg;
        }
        static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut g = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = g.get(pg) {
            return s;
        }
        let converted: &'static str = Box::leak(pg.replace('$', "?").into_boxed_str());
        g.insert(pg, converted);
        converted
    }

    /// Like [`Store::sql`] for statements built at run time (a fixed set, so leaking is bounded).
    fn sql_owned(&self, pg: String) -> &'static str {
        static CACHE: OnceLock<Mutex<HashMap<(Backend, String), &'static str>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut g = cache.lock().unwrap_or_else(|p| p.into_inner());
        let key = (self.backend(), pg);
        if let Some(s) = g.get(&key) {
            return s;
        }
        let converted: &'static str =
            Box::leak(if self.backend() == Backend::Sqlite { key.1.replace('$', "?") } else { key.1.clone() }.into_boxed_str());
        g.insert(key, converted);
        converted
    }

    // ------------------------------------------------------------ pools

    pub async fn insert_pool(&self, p: &PoolRow) -> StoreResult<()> {
        let r = self.db.write(self.sql("INSERT INTO pools (id, name, created, modified, config, id_key, access_key) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
            .bind(&p.id).bind(&p.name).bind(p.created).bind(p.modified).bind(&p.config).bind(&p.id_key).bind(&p.access_key)
            .execute()
            .await;
        map_unique(r, "pool").map(|_| ())
    }

    pub async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRow>> {
        let row = self.db.read(self.sql("SELECT id, name, created, modified, config, id_key, access_key FROM pools WHERE id = $1"))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| pool_row(&r)).transpose()
    }

    /// Pools ordered by id, after `after` (exclusive).
    pub async fn list_pools(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<PoolRow>> {
        let rows = self.db.read(self.sql("SELECT id, name, created, modified, config, id_key, access_key FROM pools WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all()
            .await?;
        rows.iter().map(pool_row).collect()
    }

    pub async fn update_pool(&self, id: &str, name: &str, config: &str, modified: i64) -> StoreResult<bool> {
        let r = self.db.write(self.sql("UPDATE pools SET name = $2, config = $3, modified = $4 WHERE id = $1"))
            .bind(id).bind(name).bind(config).bind(modified)
            .execute()
            .await?;
        Ok(r == 1)
    }

    /// Deletes the pool and everything in it.
    pub async fn delete_pool(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        for stmt in [
            "DELETE FROM clients WHERE pool_id = $1",
            "DELETE FROM users WHERE pool_id = $1",
            "DELETE FROM identifiers WHERE pool_id = $1",
            "DELETE FROM user_groups WHERE pool_id = $1",
            "DELETE FROM group_members WHERE pool_id = $1",
            "DELETE FROM codes WHERE pool_id = $1",
            "DELETE FROM auth_sessions WHERE pool_id = $1",
            "DELETE FROM refresh_tokens WHERE pool_id = $1",
            "DELETE FROM devices WHERE pool_id = $1",
            "DELETE FROM auth_events WHERE pool_id = $1",
        ] {
            tx.q(self.sql(stmt)).bind(id).execute().await?;
        }
        let r = tx.q(self.sql("DELETE FROM pools WHERE id = $1")).bind(id).execute().await?;
        tx.commit().await?;
        Ok(r == 1)
    }

    pub async fn count_users(&self, pool_id: &str) -> StoreResult<i64> {
        let row = self.db.read(self.sql("SELECT COUNT(*) FROM users WHERE pool_id = $1")).bind(pool_id).fetch_one().await?;
        row.get::<i64>(0)
    }

    // ------------------------------------------------------------ clients

    pub async fn insert_client(&self, c: &ClientRow) -> StoreResult<()> {
        let r = self.db.write(self.sql("INSERT INTO clients (id, pool_id, name, created, modified, config, secret) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
            .bind(&c.id).bind(&c.pool_id).bind(&c.name).bind(c.created).bind(c.modified).bind(&c.config).bind(c.secret.clone())
            .execute()
            .await;
        map_unique(r, "client").map(|_| ())
    }

    pub async fn get_client(&self, id: &str) -> StoreResult<Option<ClientRow>> {
        let row = self.db.read(self.sql("SELECT id, pool_id, name, created, modified, config, secret FROM clients WHERE id = $1"))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| client_row(&r)).transpose()
    }

    /// A client and its pool in one query (every app-facing call needs both).
    pub async fn get_client_with_pool(&self, id: &str) -> StoreResult<Option<(ClientRow, PoolRow)>> {
        let row = self
            .db
            .read(self.sql(
                "SELECT c.id, c.pool_id, c.name, c.created, c.modified, c.config, c.secret, p.id, p.name, p.created, p.modified, p.config, p.id_key, p.access_key \
                 FROM clients c JOIN pools p ON p.id = c.pool_id WHERE c.id = $1",
            ))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| Ok((client_row(&r)?, pool_row_at(&r, 7)?))).transpose()
    }

    pub async fn list_clients(&self, pool_id: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<ClientRow>> {
        let rows = self.db.read(self.sql("SELECT id, pool_id, name, created, modified, config, secret FROM clients WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
            .bind(pool_id).bind(after.unwrap_or("")).bind(limit)
            .fetch_all()
            .await?;
        rows.iter().map(client_row).collect()
    }

    pub async fn update_client(&self, c: &ClientRow) -> StoreResult<bool> {
        let r = self.db.write(self.sql("UPDATE clients SET name = $2, modified = $3, config = $4 WHERE id = $1"))
            .bind(&c.id).bind(&c.name).bind(c.modified).bind(&c.config)
            .execute()
            .await?;
        Ok(r == 1)
    }

    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        tx.q(self.sql("DELETE FROM refresh_tokens WHERE client_id = $1")).bind(id).execute().await?;
        tx.q(self.sql("DELETE FROM auth_sessions WHERE client_id = $1")).bind(id).execute().await?;
        let r = tx.q(self.sql("DELETE FROM clients WHERE id = $1")).bind(id).execute().await?;
        tx.commit().await?;
        Ok(r == 1)
    }

    // ------------------------------------------------------------ users

    /// Inserts a user and claims its identifiers, all or nothing.
    pub async fn insert_user(&self, u: &UserRow, ids: &[Identifier]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let r = bind_user(tx.q(self.sql(
            "INSERT INTO users (pool_id, username_key, username, sub, status, enabled, created, modified, version, attributes, verifier, password_expires, failed_attempts, locked_until, extra, email, phone_number, name, given_name, family_name, preferred_username) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)",
        )), u)
        .execute()
        .await;
        if let Err(e) = r {
            return Err(unique_or_db(e, "username"));
        }
        for id in ids {
            self.claim_identifier(&mut tx, &u.pool_id, id, &u.username_key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_identifier(
        &self,
        tx: &mut Tx,
        pool_id: &str,
        id: &Identifier,
        username_key: &str,
    ) -> StoreResult<()> {
        let r = tx.q(self.sql("INSERT INTO identifiers (pool_id, kind, value_key, username_key) VALUES ($1,$2,$3,$4)"))
            .bind(pool_id).bind(&id.kind).bind(&id.value_key).bind(username_key)
            .execute()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(unique_or_db(e, &format!("identifier:{}", id.kind))),
        }
    }

    pub async fn get_user(&self, pool_id: &str, username_key: &str) -> StoreResult<Option<UserRow>> {
        let row = self.db.read(self.sql_owned(format!("SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND username_key = $2")))
            .bind(pool_id).bind(username_key)
            .fetch_optional()
            .await?;
        row.map(|r| user_row(&r)).transpose()
    }

    pub async fn get_user_by_sub(&self, pool_id: &str, sub: &str) -> StoreResult<Option<UserRow>> {
        let row = self.db.read(self.sql_owned(format!("SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND sub = $2")))
            .bind(pool_id).bind(sub)
            .fetch_optional()
            .await?;
        row.map(|r| user_row(&r)).transpose()
    }

    /// The user with this `sub`, and whether the token family `origin_jti` was revoked
    /// (None when there is no such family): what an access-token check needs, in one query.
    pub async fn get_user_for_token(&self, pool_id: &str, sub: &str, origin_jti: &str) -> StoreResult<(Option<UserRow>, Option<bool>)> {
        let row = self.db.read(self.sql_owned(format!(
            "SELECT {USER_COLUMNS}, (SELECT revoked FROM refresh_tokens WHERE origin_jti = $3) FROM users WHERE pool_id = $1 AND sub = $2"
        )))
        .bind(pool_id).bind(sub).bind(origin_jti)
        .fetch_optional()
        .await?;
        match row {
            None => {
                let fam = self.get_refresh_by_origin(origin_jti).await?;
                Ok((None, fam.map(|f| f.revoked)))
            }
            Some(r) => {
                let revoked: Option<i64> = r.get(15)?;
                Ok((Some(user_row(&r)?), revoked.map(|v| v != 0)))
            }
        }
    }

    /// The user holding identifier `kind`=`value_key`, if any.
    pub async fn get_user_by_identifier(&self, pool_id: &str, kind: &str, value_key: &str) -> StoreResult<Option<UserRow>> {
        let row = self.db.read(self.sql_owned(format!(
            "SELECT {} FROM users u JOIN identifiers i ON i.pool_id = u.pool_id AND i.username_key = u.username_key \
             WHERE i.pool_id = $1 AND i.kind = $2 AND i.value_key = $3",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        )))
        .bind(pool_id).bind(kind).bind(value_key)
        .fetch_optional()
        .await?;
        row.map(|r| user_row(&r)).transpose()
    }

    pub async fn identifiers_of(&self, pool_id: &str, username_key: &str) -> StoreResult<Vec<Identifier>> {
        let rows = self.db.read(self.sql("SELECT kind, value_key FROM identifiers WHERE pool_id = $1 AND username_key = $2 ORDER BY kind"))
            .bind(pool_id).bind(username_key)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| Ok(Identifier { kind: r.get(0)?, value_key: r.get(1)? }))
            .collect()
    }

    /// Writes `u` if its stored version is still `u.version - 1`... precisely: if the stored
    /// version equals `expected_version`; the row is written with `u.version`. Identifiers are
    /// released and claimed in the same transaction.
    pub async fn update_user(
        &self,
        u: &UserRow,
        expected_version: i64,
        release: &[Identifier],
        claim: &[Identifier],
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let r = tx.q(self.sql(
            "UPDATE users SET username = $3, sub = $4, status = $5, enabled = $6, created = $7, modified = $8, version = $9, attributes = $10, verifier = $11, password_expires = $12, failed_attempts = $13, locked_until = $14, extra = $15, email = $16, phone_number = $17, name = $18, given_name = $19, family_name = $20, preferred_username = $21 \
             WHERE pool_id = $1 AND username_key = $2 AND version = $22",
        ));
        let r = bind_user(r, u).bind(expected_version).execute().await?;
        if r != 1 {
            return Err(StoreError::Conflict("user changed concurrently".into()));
        }
        for id in release {
            tx.q(self.sql("DELETE FROM identifiers WHERE pool_id = $1 AND kind = $2 AND value_key = $3 AND username_key = $4"))
                .bind(&u.pool_id).bind(&id.kind).bind(&id.value_key).bind(&u.username_key)
                .execute()
                .await?;
        }
        for id in claim {
            self.claim_identifier(&mut tx, &u.pool_id, id, &u.username_key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves an identifier from whoever holds it to `username_key` (Cognito's ForceAliasCreation).
    pub async fn take_identifier(&self, pool_id: &str, id: &Identifier, username_key: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.q(self.sql("DELETE FROM identifiers WHERE pool_id = $1 AND kind = $2 AND value_key = $3"))
            .bind(pool_id).bind(&id.kind).bind(&id.value_key)
            .execute()
            .await?;
        self.claim_identifier(&mut tx, pool_id, id, username_key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a user with everything that hangs off it.
    pub async fn delete_user(&self, pool_id: &str, username_key: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        for stmt in [
            "DELETE FROM identifiers WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM group_members WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM codes WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM auth_sessions WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM refresh_tokens WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM devices WHERE pool_id = $1 AND username_key = $2",
            "DELETE FROM auth_events WHERE pool_id = $1 AND username_key = $2",
        ] {
            tx.q(self.sql(stmt)).bind(pool_id).bind(username_key).execute().await?;
        }
        let r = tx.q(self.sql("DELETE FROM users WHERE pool_id = $1 AND username_key = $2"))
            .bind(pool_id).bind(username_key)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(r == 1)
    }

    /// Users ordered by username key, after `after` (exclusive), optionally filtered.
    pub async fn list_users(&self, pool_id: &str, filter: Option<&UserFilter>, after: Option<&str>, limit: i64) -> StoreResult<Vec<UserRow>> {
        let after = after.unwrap_or("");
        let q = match filter {
            None => self.db.read(self.sql_owned(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND username_key > $2 ORDER BY username_key LIMIT $3"
            )))
            .bind(pool_id).bind(after).bind(limit),
            Some(UserFilter::EnabledIs(on)) => self.db.read(self.sql_owned(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND username_key > $2 AND enabled = $4 ORDER BY username_key LIMIT $3"
            )))
            .bind(pool_id).bind(after).bind(limit).bind(*on as i64),
            Some(UserFilter::Equals(col, v)) => self.db.read(self.sql_owned(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND {} = $4 AND username_key > $2 ORDER BY username_key LIMIT $3",
                col.sql()
            )))
            .bind(pool_id).bind(after).bind(limit).bind(v.clone()),
            Some(UserFilter::Prefix(col, v)) => {
                let mut upper = v.clone();
                upper.push(char::MAX);
                self.db.read(self.sql_owned(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE pool_id = $1 AND {c} >= $4 AND {c} < $5 AND username_key > $2 ORDER BY username_key LIMIT $3",
                    c = col.sql()
                )))
                .bind(pool_id).bind(after).bind(limit).bind(v.clone()).bind(upper)
            }
        };
        let rows = q.fetch_all().await?;
        rows.iter().map(user_row).collect()
    }

    // ------------------------------------------------------------ groups

    pub async fn insert_group(&self, g: &GroupRow) -> StoreResult<()> {
        let r = self.db.write(self.sql("INSERT INTO user_groups (pool_id, name, description, role_arn, precedence, created, modified) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
            .bind(&g.pool_id).bind(&g.name).bind(g.description.clone()).bind(g.role_arn.clone()).bind(g.precedence).bind(g.created).bind(g.modified)
            .execute()
            .await;
        map_unique(r, "group").map(|_| ())
    }

    pub async fn get_group(&self, pool_id: &str, name: &str) -> StoreResult<Option<GroupRow>> {
        let row = self.db.read(self.sql("SELECT pool_id, name, description, role_arn, precedence, created, modified FROM user_groups WHERE pool_id = $1 AND name = $2"))
            .bind(pool_id).bind(name)
            .fetch_optional()
            .await?;
        row.map(|r| group_row(&r)).transpose()
    }

    pub async fn list_groups(&self, pool_id: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<GroupRow>> {
        let rows = self.db.read(self.sql("SELECT pool_id, name, description, role_arn, precedence, created, modified FROM user_groups WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3"))
            .bind(pool_id).bind(after.unwrap_or("")).bind(limit)
            .fetch_all()
            .await?;
        rows.iter().map(group_row).collect()
    }

    pub async fn update_group(&self, g: &GroupRow) -> StoreResult<bool> {
        let r = self.db.write(self.sql("UPDATE user_groups SET description = $3, role_arn = $4, precedence = $5, modified = $6 WHERE pool_id = $1 AND name = $2"))
            .bind(&g.pool_id).bind(&g.name).bind(g.description.clone()).bind(g.role_arn.clone()).bind(g.precedence).bind(g.modified)
            .execute()
            .await?;
        Ok(r == 1)
    }

    pub async fn delete_group(&self, pool_id: &str, name: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        tx.q(self.sql("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2")).bind(pool_id).bind(name).execute().await?;
        let r = tx.q(self.sql("DELETE FROM user_groups WHERE pool_id = $1 AND name = $2")).bind(pool_id).bind(name).execute().await?;
        tx.commit().await?;
        Ok(r == 1)
    }

    /// Adds a member; adding one already there is not an error (as in Cognito).
    pub async fn add_member(&self, pool_id: &str, group: &str, username_key: &str) -> StoreResult<()> {
        self.db.write(self.sql("INSERT INTO group_members (pool_id, group_name, username_key) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING"))
            .bind(pool_id).bind(group).bind(username_key)
            .execute()
            .await?;
        Ok(())
    }

    pub async fn remove_member(&self, pool_id: &str, group: &str, username_key: &str) -> StoreResult<()> {
        self.db.write(self.sql("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND username_key = $3"))
            .bind(pool_id).bind(group).bind(username_key)
            .execute()
            .await?;
        Ok(())
    }

    /// The user's groups, by name.
    pub async fn groups_of(&self, pool_id: &str, username_key: &str) -> StoreResult<Vec<GroupRow>> {
        let rows = self.db.read(self.sql(
            "SELECT g.pool_id, g.name, g.description, g.role_arn, g.precedence, g.created, g.modified FROM group_members m \
             JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name WHERE m.pool_id = $1 AND m.username_key = $2 ORDER BY g.name",
        ))
        .bind(pool_id).bind(username_key)
        .fetch_all()
        .await?;
        rows.iter().map(group_row).collect()
    }

    pub async fn group_members(&self, pool_id: &str, group: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<UserRow>> {
        let rows = self.db.read(self.sql_owned(format!(
            "SELECT {} FROM group_members m JOIN users u ON u.pool_id = m.pool_id AND u.username_key = m.username_key \
             WHERE m.pool_id = $1 AND m.group_name = $2 AND m.username_key > $3 ORDER BY m.username_key LIMIT $4",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        )))
        .bind(pool_id).bind(group).bind(after.unwrap_or("")).bind(limit)
        .fetch_all()
        .await?;
        rows.iter().map(user_row).collect()
    }

    // ------------------------------------------------------------ codes

    /// Stores a code, replacing any earlier one for the same user and purpose.
    pub async fn put_code(&self, c: &CodeRow) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.q(self.sql("DELETE FROM codes WHERE pool_id = $1 AND username_key = $2 AND purpose = $3"))
            .bind(&c.pool_id).bind(&c.username_key).bind(&c.purpose)
            .execute()
            .await?;
        tx.q(self.sql("INSERT INTO codes (pool_id, username_key, purpose, code_mac, payload, created, expires, attempts) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"))
            .bind(&c.pool_id).bind(&c.username_key).bind(&c.purpose).bind(&c.code_mac).bind(c.payload.clone()).bind(c.created).bind(c.expires).bind(c.attempts)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_code(&self, pool_id: &str, username_key: &str, purpose: &str) -> StoreResult<Option<CodeRow>> {
        let row = self.db.read(self.sql("SELECT pool_id, username_key, purpose, code_mac, payload, created, expires, attempts FROM codes WHERE pool_id = $1 AND username_key = $2 AND purpose = $3"))
            .bind(pool_id).bind(username_key).bind(purpose)
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(CodeRow {
                pool_id: r.get(0)?,
                username_key: r.get(1)?,
                purpose: r.get(2)?,
                code_mac: r.get(3)?,
                payload: r.get(4)?,
                created: r.get(5)?,
                expires: r.get(6)?,
                attempts: r.get(7)?,
            })
        })
        .transpose()
    }

    /// Counts a failed attempt against the code; returns the new count.
    pub async fn bump_code_attempts(&self, pool_id: &str, username_key: &str, purpose: &str) -> StoreResult<i64> {
        let row = self.db.write(self.sql("UPDATE codes SET attempts = attempts + 1 WHERE pool_id = $1 AND username_key = $2 AND purpose = $3 RETURNING attempts"))
            .bind(pool_id).bind(username_key).bind(purpose)
            .fetch_optional()
            .await?;
        Ok(match row {
            Some(r) => r.get(0)?,
            None => 0,
        })
    }

    /// Deletes the code if it is still the one with `code_mac`; true when this call consumed it.
    pub async fn consume_code(&self, pool_id: &str, username_key: &str, purpose: &str, code_mac: &[u8]) -> StoreResult<bool> {
        let r = self.db.write(self.sql("DELETE FROM codes WHERE pool_id = $1 AND username_key = $2 AND purpose = $3 AND code_mac = $4"))
            .bind(pool_id).bind(username_key).bind(purpose).bind(code_mac.to_vec())
            .execute()
            .await?;
        Ok(r == 1)
    }

    pub async fn delete_code(&self, pool_id: &str, username_key: &str, purpose: &str) -> StoreResult<()> {
        self.db.write(self.sql("DELETE FROM codes WHERE pool_id = $1 AND username_key = $2 AND purpose = $3"))
            .bind(pool_id).bind(username_key).bind(purpose)
            .execute()
            .await?;
        Ok(())
    }

    // ------------------------------------------------------------ challenge sessions

    pub async fn put_session(&self, s: &SessionRow) -> StoreResult<()> {
        self.db.write(self.sql("INSERT INTO auth_sessions (id_mac, pool_id, client_id, username_key, challenge, payload, expires) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
            .bind(&s.id_mac).bind(&s.pool_id).bind(&s.client_id).bind(&s.username_key).bind(&s.challenge).bind(&s.payload).bind(s.expires)
            .execute()
            .await?;
        Ok(())
    }

    /// Removes and returns the session: a session can be used once.
    pub async fn take_session(&self, id_mac: &[u8]) -> StoreResult<Option<SessionRow>> {
        let row = self.db.write(self.sql("DELETE FROM auth_sessions WHERE id_mac = $1 RETURNING id_mac, pool_id, client_id, username_key, challenge, payload, expires"))
            .bind(id_mac.to_vec())
            .fetch_optional()
            .await?;
        row.map(|r| session_row(&r)).transpose()
    }

    /// Reads a session without consuming it.
    pub async fn peek_session(&self, id_mac: &[u8]) -> StoreResult<Option<SessionRow>> {
        let row = self.db.read(self.sql("SELECT id_mac, pool_id, client_id, username_key, challenge, payload, expires FROM auth_sessions WHERE id_mac = $1"))
            .bind(id_mac.to_vec())
            .fetch_optional()
            .await?;
        row.map(|r| session_row(&r)).transpose()
    }

    /// Drops expired sessions and codes; returns how many rows went.
    pub async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let a = self.db.write(self.sql("DELETE FROM auth_sessions WHERE expires < $1")).bind(now).execute().await?;
        let b = self.db.write(self.sql("DELETE FROM codes WHERE expires < $1")).bind(now).execute().await?;
        let c = self.db.write(self.sql("DELETE FROM refresh_tokens WHERE expires < $1")).bind(now).execute().await?;
        Ok(a + b + c)
    }

    // ------------------------------------------------------------ refresh tokens

    pub async fn insert_refresh(&self, t: &RefreshRow) -> StoreResult<()> {
        bind_refresh(self.db.write(self.sql(INSERT_REFRESH)), t).execute().await?;
        Ok(())
    }

    /// A completed sign-in: its refresh token and its sign-in record, together. One transaction on
    /// SQLite; one statement on PostgreSQL (a data-modifying WITH), which saves the round trips
    /// of BEGIN and COMMIT.
    pub async fn insert_sign_in(&self, t: &RefreshRow, e: &AuthEventRow) -> StoreResult<()> {
        match self.backend() {
            Backend::Sqlite => {
                let mut tx = self.db.begin().await?;
                bind_refresh(tx.q(self.sql(INSERT_REFRESH)), t).execute().await?;
                bind_event(tx.q(self.sql(INSERT_EVENT)), e).execute().await?;
                tx.commit().await
            }
            Backend::Postgres => {
                let q = self.db.write(
                    "WITH refresh AS (INSERT INTO refresh_tokens (token_mac, pool_id, client_id, username_key, origin_jti, auth_time, created, expires, revoked, device_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)) \
                     INSERT INTO auth_events (event_id, pool_id, username_key, created, seq, detail) VALUES ($11,$12,$13,$14,$15,$16)",
                );
                bind_event(bind_refresh(q, t), e).execute().await?;
                Ok(())
            }
        }
    }

    pub async fn get_refresh(&self, token_mac: &[u8]) -> StoreResult<Option<RefreshRow>> {
        let row = self.db.read(self.sql("SELECT token_mac, pool_id, client_id, username_key, origin_jti, auth_time, created, expires, revoked, device_key FROM refresh_tokens WHERE token_mac = $1"))
            .bind(token_mac.to_vec())
            .fetch_optional()
            .await?;
        row.map(|r| refresh_row(&r)).transpose()
    }

    pub async fn get_refresh_by_origin(&self, origin_jti: &str) -> StoreResult<Option<RefreshRow>> {
        let row = self.db.read(self.sql("SELECT token_mac, pool_id, client_id, username_key, origin_jti, auth_time, created, expires, revoked, device_key FROM refresh_tokens WHERE origin_jti = $1"))
            .bind(origin_jti)
            .fetch_optional()
            .await?;
        row.map(|r| refresh_row(&r)).transpose()
    }

    pub async fn revoke_refresh(&self, token_mac: &[u8]) -> StoreResult<()> {
        self.db.write(self.sql("UPDATE refresh_tokens SET revoked = 1 WHERE token_mac = $1"))
            .bind(token_mac.to_vec())
            .execute()
            .await?;
        Ok(())
    }

    /// Global sign-out: every token family of the user.
    pub async fn revoke_all_refresh(&self, pool_id: &str, username_key: &str) -> StoreResult<()> {
        self.db.write(self.sql("UPDATE refresh_tokens SET revoked = 1 WHERE pool_id = $1 AND username_key = $2"))
            .bind(pool_id).bind(username_key)
            .execute()
            .await?;
        Ok(())
    }

    // ------------------------------------------------------------ devices

    pub async fn insert_device(&self, d: &DeviceRow) -> StoreResult<()> {
        let r = self.db.write(self.sql("INSERT INTO devices (device_key, pool_id, username_key, group_key, verifier, name, remembered, confirmed, created, modified, last_authenticated, last_ip) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"))
            .bind(&d.device_key).bind(&d.pool_id).bind(&d.username_key).bind(&d.group_key).bind(d.verifier.clone()).bind(d.name.clone())
            .bind(d.remembered as i64).bind(d.confirmed as i64).bind(d.created).bind(d.modified).bind(d.last_authenticated).bind(d.last_ip.clone())
            .execute()
            .await;
        map_unique(r, "device").map(|_| ())
    }

    pub async fn get_device(&self, device_key: &str) -> StoreResult<Option<DeviceRow>> {
        let row = self.db.read(self.sql("SELECT device_key, pool_id, username_key, group_key, verifier, name, remembered, confirmed, created, modified, last_authenticated, last_ip FROM devices WHERE device_key = $1"))
            .bind(device_key)
            .fetch_optional()
            .await?;
        row.map(|r| device_row(&r)).transpose()
    }

    pub async fn list_devices(&self, pool_id: &str, username_key: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<DeviceRow>> {
        let rows = self.db.read(self.sql("SELECT device_key, pool_id, username_key, group_key, verifier, name, remembered, confirmed, created, modified, last_authenticated, last_ip FROM devices WHERE pool_id = $1 AND username_key = $2 AND device_key > $3 AND confirmed = 1 ORDER BY device_key LIMIT $4"))
            .bind(pool_id).bind(username_key).bind(after.unwrap_or("")).bind(limit)
            .fetch_all()
            .await?;
        rows.iter().map(device_row).collect()
    }

    pub async fn update_device(&self, d: &DeviceRow) -> StoreResult<bool> {
        let r = self.db.write(self.sql("UPDATE devices SET verifier = $2, name = $3, remembered = $4, confirmed = $5, modified = $6, last_authenticated = $7, last_ip = $8 WHERE device_key = $1"))
            .bind(&d.device_key).bind(d.verifier.clone()).bind(d.name.clone()).bind(d.remembered as i64).bind(d.confirmed as i64).bind(d.modified).bind(d.last_authenticated).bind(d.last_ip.clone())
            .execute()
            .await?;
        Ok(r == 1)
    }

    pub async fn delete_device(&self, device_key: &str) -> StoreResult<bool> {
        let r = self.db.write(self.sql("DELETE FROM devices WHERE device_key = $1")).bind(device_key).execute().await?;
        Ok(r == 1)
    }

    // ------------------------------------------------------------ sign-in events

    pub async fn insert_auth_event(&self, e: &AuthEventRow) -> StoreResult<()> {
        bind_event(self.db.write(self.sql(INSERT_EVENT)), e).execute().await?;
        Ok(())
    }

    /// Newest first; `before` is the (created, seq) of the last event of the previous page.
    pub async fn list_auth_events(&self, pool_id: &str, username_key: &str, before: Option<(i64, i64)>, limit: i64) -> StoreResult<Vec<AuthEventRow>> {
        let (c, q) = before.unwrap_or((i64::MAX, i64::MAX));
        let rows = self.db.read(self.sql("SELECT event_id, pool_id, username_key, created, seq, detail FROM auth_events WHERE pool_id = $1 AND username_key = $2 AND (created < $3 OR (created = $3 AND seq < $4)) ORDER BY created DESC, seq DESC LIMIT $5"))
            .bind(pool_id).bind(username_key).bind(c).bind(q).bind(limit)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| Ok(AuthEventRow { event_id: r.get(0)?, pool_id: r.get(1)?, username_key: r.get(2)?, created: r.get(3)?, seq: r.get(4)?, detail: r.get(5)? }))
            .collect()
    }
}

// ---------------------------------------------------------------- row mapping

fn map_unique<T>(r: Result<T, DbError>, what: &str) -> StoreResult<T> {
    r.map_err(|e| unique_or_db(e, what))
}

fn unique_or_db(e: DbError, what: &str) -> StoreError {
    match e {
        // Tell the username apart from the sub when a users row collides.
        DbError::Unique(msg) if what == "username" && msg.contains("sub") => StoreError::Duplicate("sub".into()),
        DbError::Unique(_) => StoreError::Duplicate(what.into()),
        other => other.into(),
    }
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_mac, pool_id, client_id, username_key, origin_jti, auth_time, created, expires, revoked, device_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)";
const INSERT_EVENT: &str = "INSERT INTO auth_events (event_id, pool_id, username_key, created, seq, detail) VALUES ($1,$2,$3,$4,$5,$6)";

fn bind_event<'a>(q: Q<'a>, e: &AuthEventRow) -> Q<'a> {
    q.bind(&e.event_id).bind(&e.pool_id).bind(&e.username_key).bind(e.created).bind(e.seq).bind(&e.detail)
}

fn bind_refresh<'a>(q: Q<'a>, t: &RefreshRow) -> Q<'a> {
    q.bind(&t.token_mac).bind(&t.pool_id).bind(&t.client_id).bind(&t.username_key).bind(&t.origin_jti).bind(t.auth_time).bind(t.created).bind(t.expires).bind(t.revoked).bind(&t.device_key)
}

fn bind_user<'a>(q: Q<'a>, u: &UserRow) -> Q<'a> {
    let attrs = serde_json::to_string(&u.attributes).unwrap_or_else(|_| "[]".into());
    let a = |n: &str| u.attr(n).map(str::to_string);
    q.bind(&u.pool_id)
        .bind(&u.username_key)
        .bind(&u.username)
        .bind(&u.sub)
        .bind(&u.status)
        .bind(u.enabled)
        .bind(u.created)
        .bind(u.modified)
        .bind(u.version)
        .bind(attrs)
        .bind(&u.verifier)
        .bind(u.password_expires)
        .bind(u.failed_attempts)
        .bind(u.locked_until)
        .bind(&u.extra)
        .bind(a("email"))
        .bind(a("phone_number"))
        .bind(a("name"))
        .bind(a("given_name"))
        .bind(a("family_name"))
        .bind(a("preferred_username"))
}

fn pool_row(r: &Row) -> StoreResult<PoolRow> {
    pool_row_at(r, 0)
}

/// A pool's columns starting at column `at` (joined queries put them after others).
fn pool_row_at(r: &Row, at: usize) -> StoreResult<PoolRow> {
    Ok(PoolRow {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        created: r.get(at + 2)?,
        modified: r.get(at + 3)?,
        config: r.get(at + 4)?,
        id_key: r.get(at + 5)?,
        access_key: r.get(at + 6)?,
    })
}

fn client_row(r: &Row) -> StoreResult<ClientRow> {
    Ok(ClientRow {
        id: r.get(0)?,
        pool_id: r.get(1)?,
        name: r.get(2)?,
        created: r.get(3)?,
        modified: r.get(4)?,
        config: r.get(5)?,
        secret: r.get(6)?,
    })
}

fn user_row(r: &Row) -> StoreResult<UserRow> {
    let attrs: String = r.get(9)?;
    Ok(UserRow {
        pool_id: r.get(0)?,
        username_key: r.get(1)?,
        username: r.get(2)?,
        sub: r.get(3)?,
        status: r.get(4)?,
        enabled: r.get::<i64>(5)? != 0,
        created: r.get(6)?,
        modified: r.get(7)?,
        version: r.get(8)?,
        attributes: serde_json::from_str(&attrs).map_err(|e| StoreError::Db(format!("bad attributes JSON: {e}")))?,
        verifier: r.get(10)?,
        password_expires: r.get(11)?,
        failed_attempts: r.get(12)?,
        locked_until: r.get(13)?,
        extra: r.get(14)?,
    })
}

fn group_row(r: &Row) -> StoreResult<GroupRow> {
    Ok(GroupRow {
        pool_id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        role_arn: r.get(3)?,
        precedence: r.get(4)?,
        created: r.get(5)?,
        modified: r.get(6)?,
    })
}

fn refresh_row(r: &Row) -> StoreResult<RefreshRow> {
    Ok(RefreshRow {
        token_mac: r.get(0)?,
        pool_id: r.get(1)?,
        client_id: r.get(2)?,
        username_key: r.get(3)?,
        origin_jti: r.get(4)?,
        auth_time: r.get(5)?,
        created: r.get(6)?,
        expires: r.get(7)?,
        revoked: r.get::<i64>(8)? != 0,
        device_key: r.get(9)?,
    })
}

fn device_row(r: &Row) -> StoreResult<DeviceRow> {
    Ok(DeviceRow {
        device_key: r.get(0)?,
        pool_id: r.get(1)?,
        username_key: r.get(2)?,
        group_key: r.get(3)?,
        verifier: r.get(4)?,
        name: r.get(5)?,
        remembered: r.get::<i64>(6)? != 0,
        confirmed: r.get::<i64>(7)? != 0,
        created: r.get(8)?,
        modified: r.get(9)?,
        last_authenticated: r.get(10)?,
        last_ip: r.get(11)?,
    })
}

fn session_row(r: &Row) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id_mac: r.get(0)?,
        pool_id: r.get(1)?,
        client_id: r.get(2)?,
        username_key: r.get(3)?,
        challenge: r.get(4)?,
        payload: r.get(5)?,
        expires: r.get(6)?,
    })
}
