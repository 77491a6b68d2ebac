//! The schema, written once for both backends. `{blob}` becomes BLOB (SQLite) or BYTEA (PostgreSQL);
//! `{text_c}` is text compared byte by byte on both (SQLite's default, `COLLATE "C"` on PostgreSQL),
//! so that ordering, pagination and prefix ranges agree across backends and use the indexes.
//! Migrations are numbered; each runs once, recorded in `tobira_migrations`.

pub const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

const V1: &str = r#"
CREATE TABLE pools (
    id {text_c} PRIMARY KEY,
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    config TEXT NOT NULL,
    id_key {blob} NOT NULL,
    access_key {blob} NOT NULL
);
CREATE TABLE clients (
    id {text_c} PRIMARY KEY,
    pool_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    config TEXT NOT NULL,
    secret {blob}
);
CREATE INDEX clients_by_pool ON clients (pool_id, id);
CREATE TABLE users (
    pool_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    username TEXT NOT NULL,
    sub {text_c} NOT NULL,
    status {text_c} NOT NULL,
    enabled BIGINT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    version BIGINT NOT NULL,
    attributes TEXT NOT NULL,
    verifier {blob},
    password_expires BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    email {text_c},
    phone_number {text_c},
    name {text_c},
    given_name {text_c},
    family_name {text_c},
    preferred_username {text_c},
    PRIMARY KEY (pool_id, username_key)
);
CREATE UNIQUE INDEX users_by_sub ON users (pool_id, sub);
CREATE INDEX users_by_email ON users (pool_id, email);
CREATE INDEX users_by_phone ON users (pool_id, phone_number);
CREATE INDEX users_by_name ON users (pool_id, name);
CREATE INDEX users_by_given_name ON users (pool_id, given_name);
CREATE INDEX users_by_family_name ON users (pool_id, family_name);
CREATE INDEX users_by_preferred_username ON users (pool_id, preferred_username);
CREATE INDEX users_by_status ON users (pool_id, status);
CREATE TABLE identifiers (
    pool_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value_key {text_c} NOT NULL,
    username_key {text_c} NOT NULL,
    PRIMARY KEY (pool_id, kind, value_key)
);
CREATE INDEX identifiers_by_user ON identifiers (pool_id, username_key);
CREATE TABLE user_groups (
    pool_id TEXT NOT NULL,
    name {text_c} NOT NULL,
    description TEXT,
    role_arn TEXT,
    precedence BIGINT,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name)
);
CREATE TABLE group_members (
    pool_id TEXT NOT NULL,
    group_name {text_c} NOT NULL,
    username_key {text_c} NOT NULL,
    PRIMARY KEY (pool_id, group_name, username_key)
);
CREATE INDEX memberships_by_user ON group_members (pool_id, username_key);
CREATE TABLE codes (
    pool_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    purpose TEXT NOT NULL,
    code_mac {blob} NOT NULL,
    payload TEXT,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_id, username_key, purpose)
);
CREATE TABLE auth_sessions (
    id_mac {blob} PRIMARY KEY,
    pool_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    challenge TEXT NOT NULL,
    payload TEXT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE refresh_tokens (
    token_mac {blob} PRIMARY KEY,
    pool_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    origin_jti TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    device_key TEXT
);
CREATE UNIQUE INDEX refresh_by_origin ON refresh_tokens (origin_jti);
CREATE INDEX refresh_by_user ON refresh_tokens (pool_id, username_key);
"#;

const V2: &str = r#"
CREATE TABLE devices (
    device_key {text_c} PRIMARY KEY,
    pool_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    group_key TEXT NOT NULL,
    verifier {blob},
    name TEXT,
    remembered BIGINT NOT NULL DEFAULT 0,
    confirmed BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    last_authenticated BIGINT NOT NULL,
    last_ip TEXT
);
CREATE INDEX devices_by_user ON devices (pool_id, username_key, device_key);
CREATE TABLE auth_events (
    event_id {text_c} PRIMARY KEY,
    pool_id TEXT NOT NULL,
    username_key {text_c} NOT NULL,
    created BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX auth_events_by_user ON auth_events (pool_id, username_key, created, seq)
"#;

/// ListUsers filters on one attribute and pages by username key: an index on
/// (pool, attribute, username key) serves both, where SQLite otherwise walked the primary key.
const V3: &str = r#"
DROP INDEX users_by_email;
DROP INDEX users_by_phone;
DROP INDEX users_by_name;
DROP INDEX users_by_given_name;
DROP INDEX users_by_family_name;
DROP INDEX users_by_preferred_username;
DROP INDEX users_by_status;
CREATE INDEX users_by_email ON users (pool_id, email, username_key);
CREATE INDEX users_by_phone ON users (pool_id, phone_number, username_key);
CREATE INDEX users_by_name ON users (pool_id, name, username_key);
CREATE INDEX users_by_given_name ON users (pool_id, given_name, username_key);
CREATE INDEX users_by_family_name ON users (pool_id, family_name, username_key);
CREATE INDEX users_by_preferred_username ON users (pool_id, preferred_username, username_key);
CREATE INDEX users_by_status ON users (pool_id, status, username_key);
CREATE INDEX users_by_enabled ON users (pool_id, enabled, username_key)
"#;

/// PostgreSQL without planner statistics chose `users_by_enabled` for primary-key lookups and
/// walked the whole pool; the `status = "Enabled"` filter it served is rare enough to scan.
const V4: &str = r#"
DROP INDEX users_by_enabled
"#;

/// Identity pools, identities, IAM roles and policies, temporary credentials: JSON documents
/// by kind and id, with a scope (the identity pool of an identity) for listing.
const V5: &str = r#"
CREATE TABLE records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    body TEXT NOT NULL,
    created BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX records_by_scope ON records (kind, scope, id)
"#;
