//! The store, through its public API, on both backends. Every test body runs twice: on a fresh
//! SQLite file (`<name>::sqlite`) and on the shared PostgreSQL database (`<name>::postgres`).
//! On PostgreSQL, tests isolate themselves by random pool ids (and random client ids, token
//! MACs, session ids, origin jtis: those keys are global), so they can run concurrently and
//! repeatedly against the same database.
//!
//! PostgreSQL comes from `TOBIRA_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! when it is unreachable the PostgreSQL half is skipped, saying so, unless `TOBIRA_REQUIRE_PG=1`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{rand_bytes, rand_hex, TempDir};
use tobira::store::{
    AuthEventRow, Backend, ClientRow, Record, CodeRow, GroupRow, Identifier, PoolRow, RefreshRow, SessionRow, Store, StoreError, UserColumn,
    UserFilter, UserRow,
};

/// Expiry for rows that must survive any purge (including the purge a tobira process sharing the
/// PostgreSQL database runs at start-up): far in the future.
const FAR: i64 = 4_000_000_000_000_000;

struct Fixture {
    store: Store,
    _dir: Option<TempDir>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = TempDir::new("store");
        let url = format!("sqlite://{}", dir.path().join("tobira.db").display());
        let store = Store::connect(&url).await.expect("open SQLite store");
        assert_eq!(store.backend(), Backend::Sqlite);
        Fixture { store, _dir: Some(dir) }
    }

    async fn postgres() -> Option<Fixture> {
        let url = common::pg_url_if_reachable()?;
        match tokio::time::timeout(Duration::from_secs(60), Store::connect(&url)).await {
            Ok(Ok(store)) => {
                assert_eq!(store.backend(), Backend::Postgres);
                Some(Fixture { store, _dir: None })
            }
            Ok(Err(e)) => common::pg_unavailable(&e.to_string()),
            Err(_) => common::pg_unavailable("connecting timed out after 60 s"),
        }
    }

    fn is_sqlite(&self) -> bool {
        self.store.backend() == Backend::Sqlite
    }

    /// Inserts a fresh pool with a random id and returns the id.
    async fn pool(&self) -> String {
        let id = format!("us-east-1_t{}", rand_hex());
        self.store.insert_pool(&pool_row(&id, "pool")).await.expect("insert pool");
        id
    }
}

/// Runs each named `async fn name(&Fixture)` on SQLite and on PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let f = super::Fixture::sqlite().await;
                super::$name(&f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(f) = super::Fixture::postgres().await {
                    super::$name(&f).await;
                }
            }
        }
    )* };
}

both_backends!(
    pools,
    pool_delete_cascades,
    clients,
    users_insert_and_get,
    users_update,
    users_delete_cascades,
    list_users_filters_and_pages,
    groups_and_members,
    codes,
    sessions,
    refresh_tokens,
    sign_ins,
    purge_expired,
    concurrent_insert_same_username,
    concurrent_insert_same_identifier,
    concurrent_updates_same_version,
    records,
);

/// One process with a store of each backend (a migration tool, or these tests): each must keep
/// its own SQL dialect. Built SQLite-first, so that any statement cache shared between the two
/// hands PostgreSQL SQLite's `?N` placeholders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_both_backends() {
    let lite = Fixture::sqlite().await;
    let Some(pg) = Fixture::postgres().await else { return };
    for f in [&lite, &pg, &lite] {
        let pool = f.pool().await;
        let u = with_attrs(user_row(&pool, "both"), &[("email", "both@example.com")]);
        f.store.insert_user(&u, &[ident("email", "both@example.com")]).await.unwrap();
        let backend = f.store.backend();
        let ctx = |what: &str| format!("{what} on {backend:?}");
        assert!(f.store.get_user(&pool, "both").await.expect(&ctx("get_user")).is_some());
        assert!(f.store.get_user_by_sub(&pool, &u.sub).await.expect(&ctx("get_user_by_sub")).is_some());
        assert!(f.store.get_user_by_identifier(&pool, "email", "both@example.com").await.expect(&ctx("get_user_by_identifier")).is_some());
        let all = f.store.list_users(&pool, None, None, 10).await.expect(&ctx("list_users"));
        assert_eq!(keys(&all), ["both"]);
        // Filters whose placeholders are not in order ($1 $2 $4 … $3): a dialect mix-up binds
        // them to the wrong values rather than failing.
        for filter in [
            UserFilter::Equals(UserColumn::Email, "both@example.com".into()),
            UserFilter::Prefix(UserColumn::Email, "both@".into()),
            UserFilter::EnabledIs(true),
        ] {
            let got = f.store.list_users(&pool, Some(&filter), None, 10).await.expect(&ctx("list_users filtered"));
            assert_eq!(keys(&got), ["both"], "{filter:?} on {backend:?}");
        }
        assert!(f.store.list_users(&pool, Some(&UserFilter::EnabledIs(false)), None, 10).await.unwrap().is_empty(), "on {backend:?}");
        f.store.insert_group(&group_row(&pool, "g")).await.unwrap();
        f.store.add_member(&pool, "g", "both").await.unwrap();
        assert_eq!(keys(&f.store.group_members(&pool, "g", None, 10).await.expect(&ctx("group_members"))), ["both"]);
        f.store.delete_pool(&pool).await.unwrap();
    }
}

// ---------------------------------------------------------------- row builders

fn pool_row(id: &str, name: &str) -> PoolRow {
    PoolRow {
        id: id.to_string(),
        name: name.to_string(),
        created: 1_700_000_000_000,
        modified: 1_700_000_000_001,
        config: r#"{"Policies":{"PasswordPolicy":{"MinimumLength":8}}}"#.to_string(),
        // Binary blobs with the awkward bytes.
        id_key: vec![0, 1, 2, 0xff, 0xfe, 0, 0x7f],
        access_key: vec![0xde, 0xad, 0xbe, 0xef, 0],
    }
}

fn client_row(pool: &str, id: &str, name: &str, secret: Option<Vec<u8>>) -> ClientRow {
    ClientRow {
        id: id.to_string(),
        pool_id: pool.to_string(),
        name: name.to_string(),
        created: 1_700_000_000_000,
        modified: 1_700_000_000_000,
        config: r#"{"ExplicitAuthFlows":["ALLOW_USER_SRP_AUTH"]}"#.to_string(),
        secret,
    }
}

fn user_row(pool: &str, key: &str) -> UserRow {
    UserRow {
        pool_id: pool.to_string(),
        username_key: key.to_string(),
        username: key.to_string(),
        sub: uuid::Uuid::new_v4().to_string(),
        status: "CONFIRMED".to_string(),
        enabled: true,
        created: 1_700_000_000_000,
        modified: 1_700_000_000_000,
        version: 1,
        attributes: vec![],
        verifier: None,
        password_expires: None,
        failed_attempts: 0,
        locked_until: 0,
        extra: "{}".to_string(),
    }
}

fn with_attrs(mut u: UserRow, attrs: &[(&str, &str)]) -> UserRow {
    u.attributes = attrs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    u
}

fn ident(kind: &str, value: &str) -> Identifier {
    Identifier { kind: kind.to_string(), value_key: value.to_string() }
}

fn group_row(pool: &str, name: &str) -> GroupRow {
    GroupRow {
        pool_id: pool.to_string(),
        name: name.to_string(),
        description: Some(format!("the {name} group")),
        role_arn: Some("arn:aws:iam::123456789012:role/r".to_string()),
        precedence: Some(3),
        created: 1_700_000_000_000,
        modified: 1_700_000_000_000,
    }
}

fn code_row(pool: &str, user: &str, purpose: &str, mac: &[u8], expires: i64) -> CodeRow {
    CodeRow {
        pool_id: pool.to_string(),
        username_key: user.to_string(),
        purpose: purpose.to_string(),
        code_mac: mac.to_vec(),
        payload: Some(r#"{"attr":"email"}"#.to_string()),
        created: 1_700_000_000_000,
        expires,
        attempts: 0,
    }
}

fn session_row(pool: &str, client: &str, user: &str, expires: i64) -> SessionRow {
    SessionRow {
        id_mac: rand_bytes(32),
        pool_id: pool.to_string(),
        client_id: client.to_string(),
        username_key: user.to_string(),
        challenge: "PASSWORD_VERIFIER".to_string(),
        payload: r#"{"b":"00ff"}"#.to_string(),
        expires,
    }
}

fn refresh_row(pool: &str, client: &str, user: &str, expires: i64) -> RefreshRow {
    RefreshRow {
        token_mac: rand_bytes(32),
        pool_id: pool.to_string(),
        client_id: client.to_string(),
        username_key: user.to_string(),
        origin_jti: uuid::Uuid::new_v4().to_string(),
        auth_time: 1_700_000_000,
        created: 1_700_000_000_000,
        expires,
        revoked: false,
        device_key: None,
    }
}

fn keys(users: &[UserRow]) -> Vec<String> {
    users.iter().map(|u| u.username_key.clone()).collect()
}

fn names(groups: &[GroupRow]) -> Vec<String> {
    groups.iter().map(|g| g.name.clone()).collect()
}

fn assert_user_eq(got: &UserRow, want: &UserRow) {
    assert_eq!(got.pool_id, want.pool_id);
    assert_eq!(got.username_key, want.username_key);
    assert_eq!(got.username, want.username);
    assert_eq!(got.sub, want.sub);
    assert_eq!(got.status, want.status);
    assert_eq!(got.enabled, want.enabled);
    assert_eq!(got.created, want.created);
    assert_eq!(got.modified, want.modified);
    assert_eq!(got.version, want.version);
    assert_eq!(got.attributes, want.attributes);
    assert_eq!(got.verifier, want.verifier);
    assert_eq!(got.password_expires, want.password_expires);
    assert_eq!(got.failed_attempts, want.failed_attempts);
    assert_eq!(got.locked_until, want.locked_until);
    assert_eq!(got.extra, want.extra);
}

/// Walks `list_users` page by page (`limit` per page), checking each page's size.
async fn all_pages(store: &Store, pool: &str, filter: Option<&UserFilter>, limit: i64) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let page = store.list_users(pool, filter, after.as_deref(), limit).await.expect("list users");
        assert!(page.len() as i64 <= limit, "page of {} > limit {limit}", page.len());
        out.extend(keys(&page));
        if (page.len() as i64) < limit {
            return out;
        }
        after = page.last().map(|u| u.username_key.clone());
    }
    panic!("pagination did not end");
}

// ---------------------------------------------------------------- pools

async fn pools(f: &Fixture) {
    let s = &f.store;
    let prefix = format!("us-east-1_p{}", rand_hex());
    // Inserted out of order; listed by id.
    for i in [3, 0, 4, 1, 2] {
        s.insert_pool(&pool_row(&format!("{prefix}{i}"), &format!("pool {i}"))).await.unwrap();
    }
    let dup = s.insert_pool(&pool_row(&format!("{prefix}2"), "again")).await;
    assert_eq!(dup.unwrap_err(), StoreError::Duplicate("pool".into()));

    let got = s.get_pool(&format!("{prefix}3")).await.unwrap().expect("pool 3");
    let want = pool_row(&format!("{prefix}3"), "pool 3");
    assert_eq!(got.id, want.id);
    assert_eq!(got.name, want.name);
    assert_eq!(got.created, want.created);
    assert_eq!(got.modified, want.modified);
    assert_eq!(got.config, want.config);
    assert_eq!(got.id_key, want.id_key);
    assert_eq!(got.access_key, want.access_key);
    assert!(s.get_pool(&format!("{prefix}9")).await.unwrap().is_none());

    // Pagination, two per page, starting just before our ids (other tests' pools share the
    // database on PostgreSQL; none has our random prefix).
    let mut seen = vec![];
    let mut after = prefix.clone();
    loop {
        let page = s.list_pools(Some(&after), 2).await.unwrap();
        assert!(page.len() <= 2);
        let ours: Vec<String> = page.iter().map(|p| p.id.clone()).filter(|id| id.starts_with(&prefix)).collect();
        let done = ours.len() < page.len() || page.len() < 2;
        seen.extend(ours);
        if done {
            break;
        }
        after = page.last().unwrap().id.clone();
    }
    let want: Vec<String> = (0..5).map(|i| format!("{prefix}{i}")).collect();
    assert_eq!(seen, want);
    if f.is_sqlite() {
        // Alone in the file: the unfiltered list is exactly ours.
        let all = s.list_pools(None, 100).await.unwrap();
        assert_eq!(all.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), want);
    }

    assert!(s.update_pool(&format!("{prefix}1"), "renamed", r#"{"x":1}"#, 1_800_000_000_000).await.unwrap());
    let p1 = s.get_pool(&format!("{prefix}1")).await.unwrap().unwrap();
    assert_eq!((p1.name.as_str(), p1.config.as_str(), p1.modified), ("renamed", r#"{"x":1}"#, 1_800_000_000_000));
    assert_eq!(p1.created, 1_700_000_000_000, "update leaves creation time alone");
    assert_eq!(p1.id_key, pool_row("x", "x").id_key, "update leaves keys alone");
    assert!(!s.update_pool(&format!("{prefix}9"), "nope", "{}", 1).await.unwrap());

    for i in 0..5 {
        assert!(s.delete_pool(&format!("{prefix}{i}")).await.unwrap());
    }
    assert!(!s.delete_pool(&format!("{prefix}0")).await.unwrap());
    assert!(s.get_pool(&format!("{prefix}0")).await.unwrap().is_none());
}

async fn pool_delete_cascades(f: &Fixture) {
    let s = &f.store;
    let doomed = f.pool().await;
    let kept = f.pool().await;
    // The same things in both pools; only the doomed pool's go.
    let mut tokens = vec![];
    let mut sessions = vec![];
    let mut clients = vec![];
    for pool in [&doomed, &kept] {
        let client = format!("c{}", rand_hex());
        s.insert_client(&client_row(pool, &client, "app", None)).await.unwrap();
        s.insert_user(&with_attrs(user_row(pool, "alice"), &[("email", "alice@example.com")]), &[ident("email", "alice@example.com")])
            .await
            .unwrap();
        s.insert_group(&group_row(pool, "admins")).await.unwrap();
        s.add_member(pool, "admins", "alice").await.unwrap();
        s.put_code(&code_row(pool, "alice", "signup", b"mac", FAR)).await.unwrap();
        let sess = session_row(pool, &client, "alice", FAR);
        s.put_session(&sess).await.unwrap();
        let rt = refresh_row(pool, &client, "alice", FAR);
        s.insert_refresh(&rt).await.unwrap();
        tokens.push(rt.token_mac);
        sessions.push(sess.id_mac);
        clients.push(client);
    }
    assert_eq!(s.count_users(&doomed).await.unwrap(), 1);

    assert!(s.delete_pool(&doomed).await.unwrap());

    assert!(s.get_pool(&doomed).await.unwrap().is_none());
    assert!(s.get_client(&clients[0]).await.unwrap().is_none());
    assert!(s.list_clients(&doomed, None, 10).await.unwrap().is_empty());
    assert!(s.get_user(&doomed, "alice").await.unwrap().is_none());
    assert_eq!(s.count_users(&doomed).await.unwrap(), 0);
    assert!(s.get_user_by_identifier(&doomed, "email", "alice@example.com").await.unwrap().is_none());
    assert!(s.identifiers_of(&doomed, "alice").await.unwrap().is_empty());
    assert!(s.get_group(&doomed, "admins").await.unwrap().is_none());
    assert!(s.list_groups(&doomed, None, 10).await.unwrap().is_empty());
    assert!(s.get_code(&doomed, "alice", "signup").await.unwrap().is_none());
    assert!(s.get_refresh(&tokens[0]).await.unwrap().is_none());
    assert!(s.take_session(&sessions[0]).await.unwrap().is_none());
    // A pool re-created with the same id starts empty (nothing was left behind to resurface).
    s.insert_pool(&pool_row(&doomed, "reborn")).await.unwrap();
    assert!(s.groups_of(&doomed, "alice").await.unwrap().is_empty());
    s.insert_user(&user_row(&doomed, "alice"), &[ident("email", "alice@example.com")]).await.unwrap();
    assert!(s.groups_of(&doomed, "alice").await.unwrap().is_empty(), "old memberships resurfaced");
    assert!(s.get_code(&doomed, "alice", "signup").await.unwrap().is_none());
    assert!(s.delete_pool(&doomed).await.unwrap());

    // The other pool is untouched.
    assert!(s.get_pool(&kept).await.unwrap().is_some());
    assert!(s.get_client(&clients[1]).await.unwrap().is_some());
    assert!(s.get_user(&kept, "alice").await.unwrap().is_some());
    assert_eq!(s.get_user_by_identifier(&kept, "email", "alice@example.com").await.unwrap().unwrap().username_key, "alice");
    assert_eq!(names(&s.groups_of(&kept, "alice").await.unwrap()), ["admins"]);
    assert!(s.get_code(&kept, "alice", "signup").await.unwrap().is_some());
    assert!(s.get_refresh(&tokens[1]).await.unwrap().is_some());
    assert!(s.take_session(&sessions[1]).await.unwrap().is_some());
    assert!(s.delete_pool(&kept).await.unwrap());
}

// ---------------------------------------------------------------- clients

async fn clients(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let other = f.pool().await;
    let base = format!("c{}", rand_hex());
    let ids: Vec<String> = (0..3).map(|i| format!("{base}{i}")).collect();
    s.insert_client(&client_row(&pool, &ids[2], "two", None)).await.unwrap();
    s.insert_client(&client_row(&pool, &ids[0], "zero", Some(vec![0, 9, 0xff]))).await.unwrap();
    s.insert_client(&client_row(&pool, &ids[1], "one", None)).await.unwrap();
    s.insert_client(&client_row(&other, &format!("{base}x"), "elsewhere", None)).await.unwrap();
    // Client ids are global: the same id in another pool is taken too.
    let dup = s.insert_client(&client_row(&other, &ids[0], "dup", None)).await;
    assert_eq!(dup.unwrap_err(), StoreError::Duplicate("client".into()));

    let c0 = s.get_client(&ids[0]).await.unwrap().unwrap();
    assert_eq!((c0.pool_id.as_str(), c0.name.as_str()), (pool.as_str(), "zero"));
    assert_eq!(c0.secret, Some(vec![0, 9, 0xff]));
    assert_eq!(c0.config, client_row("", "", "", None).config);
    assert_eq!(s.get_client(&ids[1]).await.unwrap().unwrap().secret, None);
    assert!(s.get_client("nope").await.unwrap().is_none());

    let page1 = s.list_clients(&pool, None, 2).await.unwrap();
    assert_eq!(page1.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), &ids[..2]);
    let page2 = s.list_clients(&pool, Some(&page1[1].id), 2).await.unwrap();
    assert_eq!(page2.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), &ids[2..]);

    let mut c1 = s.get_client(&ids[1]).await.unwrap().unwrap();
    c1.name = "renamed".into();
    c1.config = r#"{"ExplicitAuthFlows":["ALLOW_USER_PASSWORD_AUTH"]}"#.into();
    c1.modified = 1_800_000_000_000;
    assert!(s.update_client(&c1).await.unwrap());
    let got = s.get_client(&ids[1]).await.unwrap().unwrap();
    assert_eq!((got.name, got.config, got.modified, got.created), (c1.name.clone(), c1.config.clone(), c1.modified, c1.created));
    let mut ghost = c1.clone();
    ghost.id = format!("{base}ghost");
    assert!(!s.update_client(&ghost).await.unwrap());

    // Deleting a client drops its refresh tokens and sessions, not another client's.
    s.insert_user(&user_row(&pool, "u"), &[]).await.unwrap();
    let rt0 = refresh_row(&pool, &ids[0], "u", FAR);
    let rt1 = refresh_row(&pool, &ids[1], "u", FAR);
    let se0 = session_row(&pool, &ids[0], "u", FAR);
    let se1 = session_row(&pool, &ids[1], "u", FAR);
    for r in [&rt0, &rt1] {
        s.insert_refresh(r).await.unwrap();
    }
    for x in [&se0, &se1] {
        s.put_session(x).await.unwrap();
    }
    assert!(s.delete_client(&ids[0]).await.unwrap());
    assert!(!s.delete_client(&ids[0]).await.unwrap());
    assert!(s.get_client(&ids[0]).await.unwrap().is_none());
    assert!(s.get_refresh(&rt0.token_mac).await.unwrap().is_none());
    assert!(s.take_session(&se0.id_mac).await.unwrap().is_none());
    assert!(s.get_refresh(&rt1.token_mac).await.unwrap().is_some());
    assert!(s.take_session(&se1.id_mac).await.unwrap().is_some());
    assert!(s.get_user(&pool, "u").await.unwrap().is_some(), "users outlive clients");

    s.delete_pool(&pool).await.unwrap();
    s.delete_pool(&other).await.unwrap();
}

// ---------------------------------------------------------------- users

async fn users_insert_and_get(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let other = f.pool().await;

    let mut alice = with_attrs(
        user_row(&pool, "alice"),
        // Deliberately not in alphabetical order: the order of first setting is kept.
        &[("email", "alice@example.com"), ("custom:tier", "gold ☃"), ("email_verified", "true"), ("name", "Alice")],
    );
    alice.username = "Alice".into();
    alice.status = "FORCE_CHANGE_PASSWORD".into();
    alice.enabled = false;
    alice.verifier = Some(vec![0, 1, 2, 3, 0xff]);
    alice.password_expires = Some(1_700_000_604_800);
    alice.failed_attempts = 3;
    alice.locked_until = 1_700_000_100_000;
    alice.extra = r#"{"mfa":{"preferred":"SOFTWARE_TOKEN_MFA"}}"#.into();
    alice.version = 7;
    let alice_ids = [ident("email", "alice@example.com"), ident("preferred_username", "ally")];
    s.insert_user(&alice, &alice_ids).await.unwrap();

    assert_user_eq(&s.get_user(&pool, "alice").await.unwrap().expect("by key"), &alice);
    assert_user_eq(&s.get_user_by_sub(&pool, &alice.sub).await.unwrap().expect("by sub"), &alice);
    assert_user_eq(&s.get_user_by_identifier(&pool, "email", "alice@example.com").await.unwrap().expect("by email"), &alice);
    assert_user_eq(&s.get_user_by_identifier(&pool, "preferred_username", "ally").await.unwrap().expect("by alias"), &alice);
    assert!(s.get_user(&pool, "Alice").await.unwrap().is_none(), "keys are compared exactly");
    assert!(s.get_user(&other, "alice").await.unwrap().is_none());
    assert!(s.get_user_by_sub(&other, &alice.sub).await.unwrap().is_none());
    assert!(s.get_user_by_identifier(&pool, "phone_number", "alice@example.com").await.unwrap().is_none(), "kind matters");
    assert!(s.get_user_by_identifier(&other, "email", "alice@example.com").await.unwrap().is_none());
    assert_eq!(s.identifiers_of(&pool, "alice").await.unwrap(), alice_ids.to_vec(), "ordered by kind");
    assert_eq!(s.count_users(&pool).await.unwrap(), 1);

    // Same username, different sub.
    let again = user_row(&pool, "alice");
    assert_eq!(s.insert_user(&again, &[]).await.unwrap_err(), StoreError::Duplicate("username".into()));
    // Same sub, different username.
    let mut same_sub = user_row(&pool, "alice2");
    same_sub.sub = alice.sub.clone();
    assert_eq!(s.insert_user(&same_sub, &[]).await.unwrap_err(), StoreError::Duplicate("sub".into()));
    assert!(s.get_user(&pool, "alice2").await.unwrap().is_none());

    // A taken identifier: nothing of bob is written (all or nothing), not even identifiers
    // claimed before the one that collided.
    let bob = user_row(&pool, "bob");
    let err = s.insert_user(&bob, &[ident("phone_number", "+15550100"), ident("email", "alice@example.com")]).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate("identifier:email".into()));
    assert!(s.get_user(&pool, "bob").await.unwrap().is_none());
    assert!(s.get_user_by_sub(&pool, &bob.sub).await.unwrap().is_none());
    assert!(s.get_user_by_identifier(&pool, "phone_number", "+15550100").await.unwrap().is_none());
    assert!(s.identifiers_of(&pool, "bob").await.unwrap().is_empty());
    // …and bob can then be inserted with free identifiers, including the same value under another kind.
    s.insert_user(&bob, &[ident("phone_number", "+15550100"), ident("preferred_username", "alice@example.com")]).await.unwrap();
    assert_eq!(s.get_user_by_identifier(&pool, "preferred_username", "alice@example.com").await.unwrap().unwrap().username_key, "bob");
    assert_eq!(s.count_users(&pool).await.unwrap(), 2);

    // Keys, subs and identifiers are per pool.
    let mut twin = user_row(&other, "alice");
    twin.sub = alice.sub.clone();
    s.insert_user(&twin, &[ident("email", "alice@example.com")]).await.unwrap();
    assert_eq!(s.get_user_by_identifier(&other, "email", "alice@example.com").await.unwrap().unwrap().pool_id, other);
    assert_eq!(s.get_user_by_identifier(&pool, "email", "alice@example.com").await.unwrap().unwrap().pool_id, pool);

    s.delete_pool(&pool).await.unwrap();
    s.delete_pool(&other).await.unwrap();
}

async fn users_update(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let u = with_attrs(user_row(&pool, "u"), &[("email", "a@example.com")]);
    s.insert_user(&u, &[ident("email", "a@example.com")]).await.unwrap();

    // A write names the version it read.
    let mut v2 = with_attrs(u.clone(), &[("email", "b@example.com"), ("given_name", "Una")]);
    v2.version = 2;
    v2.status = "CONFIRMED".into();
    v2.modified = 1_800_000_000_000;
    v2.failed_attempts = 1;
    s.update_user(&v2, 1, &[ident("email", "a@example.com")], &[ident("email", "b@example.com")]).await.unwrap();
    assert_user_eq(&s.get_user(&pool, "u").await.unwrap().unwrap(), &v2);
    assert!(s.get_user_by_identifier(&pool, "email", "a@example.com").await.unwrap().is_none(), "released");
    assert_eq!(s.get_user_by_identifier(&pool, "email", "b@example.com").await.unwrap().unwrap().version, 2, "claimed");
    // The searchable columns follow the attributes.
    let by_email = |e: &str| UserFilter::Equals(UserColumn::Email, e.to_string());
    assert_eq!(keys(&s.list_users(&pool, Some(&by_email("b@example.com")), None, 10).await.unwrap()), ["u"]);
    assert!(s.list_users(&pool, Some(&by_email("a@example.com")), None, 10).await.unwrap().is_empty());
    assert_eq!(
        keys(&s.list_users(&pool, Some(&UserFilter::Equals(UserColumn::GivenName, "Una".into())), None, 10).await.unwrap()),
        ["u"]
    );

    // A stale write (read version 1, now 2) conflicts and changes nothing.
    let mut stale = with_attrs(u.clone(), &[("email", "c@example.com")]);
    stale.version = 2;
    let err = s.update_user(&stale, 1, &[ident("email", "b@example.com")], &[ident("email", "c@example.com")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_user_eq(&s.get_user(&pool, "u").await.unwrap().unwrap(), &v2);
    assert!(s.get_user_by_identifier(&pool, "email", "c@example.com").await.unwrap().is_none());
    assert_eq!(s.get_user_by_identifier(&pool, "email", "b@example.com").await.unwrap().unwrap().username_key, "u");
    // So does writing a user that is not there.
    let ghost = user_row(&pool, "ghost");
    assert!(matches!(s.update_user(&ghost, 1, &[], &[]).await.unwrap_err(), StoreError::Conflict(_)));
    assert!(s.get_user(&pool, "ghost").await.unwrap().is_none());

    // The released identifier is free for someone else.
    let w = user_row(&pool, "w");
    s.insert_user(&w, &[ident("email", "a@example.com")]).await.unwrap();
    assert_eq!(s.get_user_by_identifier(&pool, "email", "a@example.com").await.unwrap().unwrap().username_key, "w");

    // Claiming an identifier another user holds fails with Duplicate, and the whole update
    // (row, releases) rolls back.
    let mut v3 = with_attrs(v2.clone(), &[("email", "a@example.com")]);
    v3.version = 3;
    let err = s.update_user(&v3, 2, &[ident("email", "b@example.com")], &[ident("email", "a@example.com")]).await.unwrap_err();
    assert_eq!(err, StoreError::Duplicate("identifier:email".into()));
    assert_user_eq(&s.get_user(&pool, "u").await.unwrap().unwrap(), &v2);
    assert_eq!(s.get_user_by_identifier(&pool, "email", "b@example.com").await.unwrap().unwrap().username_key, "u");
    assert_eq!(s.get_user_by_identifier(&pool, "email", "a@example.com").await.unwrap().unwrap().username_key, "w");

    // Releasing only lets go of the user's own identifiers.
    let mut v3 = v2.clone();
    v3.version = 3;
    s.update_user(&v3, 2, &[ident("email", "a@example.com")], &[]).await.unwrap();
    assert_eq!(s.get_user_by_identifier(&pool, "email", "a@example.com").await.unwrap().unwrap().username_key, "w");
    assert_eq!(s.get_user(&pool, "u").await.unwrap().unwrap().version, 3);

    // take_identifier moves an identifier from its holder (ForceAliasCreation).
    s.take_identifier(&pool, &ident("email", "a@example.com"), "u").await.unwrap();
    assert_eq!(s.get_user_by_identifier(&pool, "email", "a@example.com").await.unwrap().unwrap().username_key, "u");
    assert!(s.identifiers_of(&pool, "w").await.unwrap().is_empty());
    let mut held = s.identifiers_of(&pool, "u").await.unwrap();
    held.sort_by(|a, b| (&a.kind, &a.value_key).cmp(&(&b.kind, &b.value_key)));
    assert_eq!(held, vec![ident("email", "a@example.com"), ident("email", "b@example.com")]);
    // …and of an identifier nobody holds, just claims it.
    s.take_identifier(&pool, &ident("phone_number", "+15550101"), "w").await.unwrap();
    assert_eq!(s.get_user_by_identifier(&pool, "phone_number", "+15550101").await.unwrap().unwrap().username_key, "w");

    s.delete_pool(&pool).await.unwrap();
}

async fn users_delete_cascades(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let client = format!("c{}", rand_hex());
    s.insert_client(&client_row(&pool, &client, "app", None)).await.unwrap();
    s.insert_group(&group_row(&pool, "g")).await.unwrap();
    let mut stuff = vec![];
    for (name, email) in [("gone", "gone@example.com"), ("kept", "kept@example.com")] {
        s.insert_user(&with_attrs(user_row(&pool, name), &[("email", email)]), &[ident("email", email), ident("preferred_username", name)])
            .await
            .unwrap();
        s.add_member(&pool, "g", name).await.unwrap();
        s.put_code(&code_row(&pool, name, "signup", b"m", FAR)).await.unwrap();
        s.put_code(&code_row(&pool, name, "forgot", b"m", FAR)).await.unwrap();
        let rt = refresh_row(&pool, &client, name, FAR);
        s.insert_refresh(&rt).await.unwrap();
        let se = session_row(&pool, &client, name, FAR);
        s.put_session(&se).await.unwrap();
        stuff.push((rt.token_mac, rt.origin_jti, se.id_mac));
    }

    assert!(s.delete_user(&pool, "gone").await.unwrap());
    assert!(!s.delete_user(&pool, "gone").await.unwrap());

    assert!(s.get_user(&pool, "gone").await.unwrap().is_none());
    assert!(s.identifiers_of(&pool, "gone").await.unwrap().is_empty());
    assert!(s.get_user_by_identifier(&pool, "email", "gone@example.com").await.unwrap().is_none());
    assert!(s.groups_of(&pool, "gone").await.unwrap().is_empty());
    assert!(s.get_code(&pool, "gone", "signup").await.unwrap().is_none());
    assert!(s.get_code(&pool, "gone", "forgot").await.unwrap().is_none());
    assert!(s.get_refresh(&stuff[0].0).await.unwrap().is_none());
    assert!(s.get_refresh_by_origin(&stuff[0].1).await.unwrap().is_none());
    assert!(s.take_session(&stuff[0].2).await.unwrap().is_none());
    // A new user of the same name starts clean, and can take the identifiers.
    s.insert_user(&user_row(&pool, "gone"), &[ident("email", "gone@example.com")]).await.unwrap();
    assert!(s.groups_of(&pool, "gone").await.unwrap().is_empty());
    assert_eq!(keys(&s.group_members(&pool, "g", None, 10).await.unwrap()), ["kept"]);

    // The other user keeps everything.
    assert!(s.get_user(&pool, "kept").await.unwrap().is_some());
    assert_eq!(s.identifiers_of(&pool, "kept").await.unwrap().len(), 2);
    assert_eq!(names(&s.groups_of(&pool, "kept").await.unwrap()), ["g"]);
    assert!(s.get_code(&pool, "kept", "signup").await.unwrap().is_some());
    assert!(s.get_refresh(&stuff[1].0).await.unwrap().is_some());
    assert!(s.take_session(&stuff[1].2).await.unwrap().is_some());

    s.delete_pool(&pool).await.unwrap();
}

async fn list_users_filters_and_pages(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let other = f.pool().await;
    // (key, email, status, enabled, phone, name, given, family, preferred)
    let rows: &[(&str, &str, &str, bool, &str, &str, &str, &str, &str)] = &[
        ("bob", "shared@example.com", "CONFIRMED", true, "+15550001", "Bob B", "Bob", "Brown", "bobby"),
        ("éclair", "e@example.com", "UNCONFIRMED", true, "+15550002", "Éclair", "Éc", "Lair", "pastry"),
        ("Zed", "zed@example.com", "CONFIRMED", false, "+15550003", "Zed Z", "Zed", "Zulu", "zz"),
        ("alice", "shared@example.com", "FORCE_CHANGE_PASSWORD", true, "+15550004", "Alice A", "Alice", "Adams", "ally"),
        ("b_x", "bx@example.com", "CONFIRMED", false, "+15550005", "B X", "Bea", "Xu", "bx"),
        ("carol", "carol@example.com", "UNCONFIRMED", true, "+15550006", "Carol C", "Carol", "Brown", "cc"),
        ("bo", "bo@example.com", "CONFIRMED", true, "+15550007", "Bo", "Bo", "Bo", "bo"),
    ];
    let mut subs = vec![];
    for (key, email, status, enabled, phone, name, given, family, preferred) in rows {
        let mut u = with_attrs(
            user_row(&pool, key),
            &[
                ("email", email),
                ("phone_number", phone),
                ("name", name),
                ("given_name", given),
                ("family_name", family),
                ("preferred_username", preferred),
            ],
        );
        u.status = status.to_string();
        u.enabled = *enabled;
        subs.push(u.sub.clone());
        s.insert_user(&u, &[]).await.unwrap();
    }
    // Someone in another pool who would match every filter below.
    s.insert_user(&with_attrs(user_row(&other, "bob"), &[("email", "shared@example.com")]), &[]).await.unwrap();

    // Byte order of the key on both backends ('Z' < 'a' < '_'-after-'b' < 'é').
    let order = ["Zed", "alice", "b_x", "bo", "bob", "carol", "éclair"];
    assert_eq!(keys(&s.list_users(&pool, None, None, 100).await.unwrap()), order);
    for limit in [1, 2, 3, 7] {
        assert_eq!(all_pages(s, &pool, None, limit).await, order, "limit {limit}");
    }
    assert_eq!(keys(&s.list_users(&pool, None, Some("b_x"), 2).await.unwrap()), ["bo", "bob"]);
    assert_eq!(keys(&s.list_users(&pool, None, Some("b"), 100).await.unwrap()), ["b_x", "bo", "bob", "carol", "éclair"]);

    let eq = |c: UserColumn, v: &str| UserFilter::Equals(c, v.to_string());
    let pre = |c: UserColumn, v: &str| UserFilter::Prefix(c, v.to_string());
    let cases: Vec<(UserFilter, Vec<&str>)> = vec![
        (eq(UserColumn::Email, "shared@example.com"), vec!["alice", "bob"]),
        (eq(UserColumn::Email, "SHARED@example.com"), vec![]),
        (eq(UserColumn::Status, "CONFIRMED"), vec!["Zed", "b_x", "bo", "bob"]),
        (eq(UserColumn::Status, "UNCONFIRMED"), vec!["carol", "éclair"]),
        (eq(UserColumn::UsernameKey, "bo"), vec!["bo"]),
        (eq(UserColumn::Sub, &subs[2]), vec!["Zed"]),
        (eq(UserColumn::PhoneNumber, "+15550005"), vec!["b_x"]),
        (eq(UserColumn::Name, "Éclair"), vec!["éclair"]),
        (eq(UserColumn::GivenName, "Alice"), vec!["alice"]),
        (eq(UserColumn::FamilyName, "Brown"), vec!["bob", "carol"]),
        (eq(UserColumn::PreferredUsername, "zz"), vec!["Zed"]),
        (pre(UserColumn::UsernameKey, "b"), vec!["b_x", "bo", "bob"]),
        (pre(UserColumn::UsernameKey, "bo"), vec!["bo", "bob"]),
        (pre(UserColumn::UsernameKey, "B"), vec![]),
        (pre(UserColumn::UsernameKey, "é"), vec!["éclair"]),
        (pre(UserColumn::UsernameKey, ""), order.to_vec()),
        (pre(UserColumn::Email, "b"), vec!["b_x", "bo"]),
        (pre(UserColumn::PhoneNumber, "+1555000"), order.to_vec()),
        (pre(UserColumn::Name, "B"), vec!["b_x", "bo", "bob"]),
        (pre(UserColumn::GivenName, "C"), vec!["carol"]),
        (pre(UserColumn::FamilyName, "B"), vec!["bo", "bob", "carol"]),
        (pre(UserColumn::PreferredUsername, "b"), vec!["b_x", "bo", "bob"]),
        (pre(UserColumn::Status, "UN"), vec!["carol", "éclair"]),
        (pre(UserColumn::Sub, &subs[4]), vec!["b_x"]),
        (UserFilter::EnabledIs(false), vec!["Zed", "b_x"]),
        (UserFilter::EnabledIs(true), vec!["alice", "bo", "bob", "carol", "éclair"]),
    ];
    for (filter, want) in &cases {
        let got = keys(&s.list_users(&pool, Some(filter), None, 100).await.unwrap());
        assert_eq!(got, *want, "{filter:?}");
        // Paging through a filtered list gives the same rows in the same order.
        assert_eq!(all_pages(s, &pool, Some(filter), 1).await, *want, "{filter:?}, one per page");
        assert_eq!(all_pages(s, &pool, Some(filter), 2).await, *want, "{filter:?}, two per page");
    }
    // The other pool sees only its own.
    assert_eq!(keys(&s.list_users(&other, Some(&eq(UserColumn::Email, "shared@example.com")), None, 100).await.unwrap()), ["bob"]);

    s.delete_pool(&pool).await.unwrap();
    s.delete_pool(&other).await.unwrap();
}

// ---------------------------------------------------------------- groups

async fn groups_and_members(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let other = f.pool().await;
    for n in ["b", "a", "c"] {
        s.insert_group(&group_row(&pool, n)).await.unwrap();
    }
    let bare = GroupRow { description: None, role_arn: None, precedence: None, ..group_row(&pool, "d") };
    s.insert_group(&bare).await.unwrap();
    assert_eq!(s.insert_group(&group_row(&pool, "a")).await.unwrap_err(), StoreError::Duplicate("group".into()));
    s.insert_group(&group_row(&other, "a")).await.unwrap();

    let a = s.get_group(&pool, "a").await.unwrap().unwrap();
    let want = group_row(&pool, "a");
    assert_eq!(
        (a.pool_id, a.name, a.description, a.role_arn, a.precedence, a.created, a.modified),
        (want.pool_id, want.name, want.description, want.role_arn, want.precedence, want.created, want.modified)
    );
    let d = s.get_group(&pool, "d").await.unwrap().unwrap();
    assert_eq!((d.description, d.role_arn, d.precedence), (None, None, None));
    assert!(s.get_group(&pool, "A").await.unwrap().is_none());

    assert_eq!(names(&s.list_groups(&pool, None, 2).await.unwrap()), ["a", "b"]);
    assert_eq!(names(&s.list_groups(&pool, Some("b"), 2).await.unwrap()), ["c", "d"]);
    assert!(s.list_groups(&pool, Some("d"), 2).await.unwrap().is_empty());

    let mut b = s.get_group(&pool, "b").await.unwrap().unwrap();
    b.description = None;
    b.precedence = Some(0);
    b.role_arn = Some("arn:aws:iam::123456789012:role/other".into());
    b.modified = 1_800_000_000_000;
    assert!(s.update_group(&b).await.unwrap());
    let got = s.get_group(&pool, "b").await.unwrap().unwrap();
    assert_eq!((got.description, got.precedence, got.role_arn, got.modified), (None, Some(0), b.role_arn.clone(), b.modified));
    assert!(!s.update_group(&group_row(&pool, "nope")).await.unwrap());

    for u in ["u2", "u1", "u3"] {
        s.insert_user(&user_row(&pool, u), &[]).await.unwrap();
    }
    s.add_member(&pool, "b", "u1").await.unwrap();
    s.add_member(&pool, "a", "u1").await.unwrap();
    s.add_member(&pool, "c", "u1").await.unwrap();
    s.add_member(&pool, "a", "u1").await.unwrap(); // again: not an error
    s.add_member(&pool, "a", "u3").await.unwrap();
    s.add_member(&pool, "a", "u2").await.unwrap();
    assert_eq!(names(&s.groups_of(&pool, "u1").await.unwrap()), ["a", "b", "c"]);
    assert_eq!(names(&s.groups_of(&pool, "u2").await.unwrap()), ["a"]);
    assert!(s.groups_of(&other, "u1").await.unwrap().is_empty());
    assert_eq!(keys(&s.group_members(&pool, "a", None, 10).await.unwrap()), ["u1", "u2", "u3"]);
    assert_eq!(keys(&s.group_members(&pool, "a", None, 2).await.unwrap()), ["u1", "u2"]);
    assert_eq!(keys(&s.group_members(&pool, "a", Some("u2"), 2).await.unwrap()), ["u3"]);
    assert!(s.group_members(&other, "a", None, 10).await.unwrap().is_empty());

    s.remove_member(&pool, "a", "u2").await.unwrap();
    s.remove_member(&pool, "a", "u2").await.unwrap(); // again: not an error
    assert_eq!(keys(&s.group_members(&pool, "a", None, 10).await.unwrap()), ["u1", "u3"]);
    assert!(s.groups_of(&pool, "u2").await.unwrap().is_empty());

    // Deleting a group drops its memberships.
    assert!(s.delete_group(&pool, "a").await.unwrap());
    assert!(!s.delete_group(&pool, "a").await.unwrap());
    assert_eq!(names(&s.groups_of(&pool, "u1").await.unwrap()), ["b", "c"]);
    s.insert_group(&group_row(&pool, "a")).await.unwrap();
    assert!(s.group_members(&pool, "a", None, 10).await.unwrap().is_empty(), "old memberships resurfaced");
    assert!(s.get_group(&other, "a").await.unwrap().is_some(), "the other pool's group is untouched");

    s.delete_pool(&pool).await.unwrap();
    s.delete_pool(&other).await.unwrap();
}

// ---------------------------------------------------------------- codes, sessions, tokens

async fn codes(f: &Fixture) {
    let s = Arc::new(f.store.clone());
    let pool = f.pool().await;
    let c = code_row(&pool, "u", "signup", b"mac-1", FAR);
    s.put_code(&c).await.unwrap();
    let got = s.get_code(&pool, "u", "signup").await.unwrap().unwrap();
    assert_eq!(
        (got.pool_id, got.username_key, got.purpose, got.code_mac, got.payload, got.created, got.expires, got.attempts),
        (c.pool_id.clone(), c.username_key.clone(), c.purpose.clone(), c.code_mac.clone(), c.payload.clone(), c.created, c.expires, 0)
    );
    assert!(s.get_code(&pool, "u", "forgot").await.unwrap().is_none());
    assert!(s.get_code(&pool, "v", "signup").await.unwrap().is_none());

    assert_eq!(s.bump_code_attempts(&pool, "u", "signup").await.unwrap(), 1);
    assert_eq!(s.bump_code_attempts(&pool, "u", "signup").await.unwrap(), 2);
    assert_eq!(s.get_code(&pool, "u", "signup").await.unwrap().unwrap().attempts, 2);
    assert_eq!(s.bump_code_attempts(&pool, "u", "forgot").await.unwrap(), 0, "no code: nothing to count");
    assert!(s.get_code(&pool, "u", "forgot").await.unwrap().is_none());

    // A new code replaces the old one (and its attempt count).
    let c2 = CodeRow { code_mac: b"mac-2".to_vec(), payload: None, ..c.clone() };
    s.put_code(&c2).await.unwrap();
    let got = s.get_code(&pool, "u", "signup").await.unwrap().unwrap();
    assert_eq!((got.code_mac, got.payload, got.attempts), (b"mac-2".to_vec(), None, 0));
    // Another purpose is a separate code.
    s.put_code(&code_row(&pool, "u", "forgot", b"mac-f", FAR)).await.unwrap();

    assert!(!s.consume_code(&pool, "u", "signup", b"mac-1").await.unwrap(), "the replaced code is dead");
    assert!(s.consume_code(&pool, "u", "signup", b"mac-2").await.unwrap());
    assert!(!s.consume_code(&pool, "u", "signup", b"mac-2").await.unwrap(), "a code is consumed once");
    assert!(s.get_code(&pool, "u", "signup").await.unwrap().is_none());
    assert!(s.get_code(&pool, "u", "forgot").await.unwrap().is_some());
    s.delete_code(&pool, "u", "forgot").await.unwrap();
    assert!(s.get_code(&pool, "u", "forgot").await.unwrap().is_none());
    s.delete_code(&pool, "u", "forgot").await.unwrap(); // again: not an error

    // Racing consumers: exactly one wins.
    s.put_code(&code_row(&pool, "u", "race", b"mac-r", FAR)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, pool) = (s.clone(), pool.clone());
            tokio::spawn(async move { s.consume_code(&pool, "u", "race", b"mac-r").await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    s.delete_pool(&pool).await.unwrap();
}

async fn sessions(f: &Fixture) {
    let s = Arc::new(f.store.clone());
    let pool = f.pool().await;
    let se = session_row(&pool, "client", "u", FAR);
    s.put_session(&se).await.unwrap();
    let got = s.take_session(&se.id_mac).await.unwrap().expect("first take");
    assert_eq!(
        (got.id_mac, got.pool_id, got.client_id, got.username_key, got.challenge, got.payload, got.expires),
        (se.id_mac.clone(), se.pool_id.clone(), se.client_id.clone(), se.username_key.clone(), se.challenge.clone(), se.payload.clone(), se.expires)
    );
    assert!(s.take_session(&se.id_mac).await.unwrap().is_none(), "a session is taken once");
    assert!(s.take_session(&rand_bytes(32)).await.unwrap().is_none());

    // Racing takers: exactly one gets it.
    let se = session_row(&pool, "client", "u", FAR);
    s.put_session(&se).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, id) = (s.clone(), se.id_mac.clone());
            tokio::spawn(async move { s.take_session(&id).await })
        })
        .collect();
    let mut got = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            got += 1;
        }
    }
    assert_eq!(got, 1);

    s.delete_pool(&pool).await.unwrap();
}

async fn refresh_tokens(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let mut r1 = refresh_row(&pool, "c1", "u", FAR);
    r1.device_key = Some("us-east-1_device".into());
    let r2 = refresh_row(&pool, "c2", "u", FAR);
    let r3 = refresh_row(&pool, "c1", "w", FAR);
    for r in [&r1, &r2, &r3] {
        s.insert_refresh(r).await.unwrap();
    }
    let got = s.get_refresh(&r1.token_mac).await.unwrap().unwrap();
    assert_eq!(
        (&got.token_mac, &got.pool_id, &got.client_id, &got.username_key, &got.origin_jti, got.auth_time, got.created, got.expires, got.revoked, &got.device_key),
        (&r1.token_mac, &r1.pool_id, &r1.client_id, &r1.username_key, &r1.origin_jti, r1.auth_time, r1.created, r1.expires, false, &r1.device_key)
    );
    assert_eq!(s.get_refresh(&r2.token_mac).await.unwrap().unwrap().device_key, None);
    assert!(s.get_refresh(&rand_bytes(32)).await.unwrap().is_none());
    assert_eq!(s.get_refresh_by_origin(&r2.origin_jti).await.unwrap().unwrap().token_mac, r2.token_mac);
    assert!(s.get_refresh_by_origin("no-such-jti").await.unwrap().is_none());

    let revoked = |mac: Vec<u8>| async move { s.get_refresh(&mac).await.unwrap().unwrap().revoked };
    s.revoke_refresh(&r1.token_mac).await.unwrap();
    assert!(revoked(r1.token_mac.clone()).await);
    assert!(!revoked(r2.token_mac.clone()).await);
    assert!(s.get_refresh_by_origin(&r1.origin_jti).await.unwrap().unwrap().revoked);
    s.revoke_refresh(&r1.token_mac).await.unwrap(); // again: not an error

    // Global sign-out: every family of the user, and nobody else's.
    s.revoke_all_refresh(&pool, "u").await.unwrap();
    assert!(revoked(r1.token_mac.clone()).await);
    assert!(revoked(r2.token_mac.clone()).await);
    assert!(!revoked(r3.token_mac.clone()).await);

    s.delete_pool(&pool).await.unwrap();
}

fn event_row(pool: &str, user: &str, created: i64, seq: i64) -> AuthEventRow {
    AuthEventRow {
        event_id: format!("ev-{}", rand_hex()),
        pool_id: pool.into(),
        username_key: user.into(),
        created,
        seq,
        detail: format!("{{\"n\":{seq}}}"),
    }
}

/// A completed sign-in writes its refresh token and its record together, or neither.
async fn sign_ins(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    let first = refresh_row(&pool, "c", "u", FAR);
    s.insert_sign_in(&first, &event_row(&pool, "u", 1_000, 1)).await.unwrap();
    s.insert_auth_event(&event_row(&pool, "u", 2_000, 2)).await.unwrap();
    assert!(s.get_refresh(&first.token_mac).await.unwrap().is_some());
    let events = s.list_auth_events(&pool, "u", None, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 1], "newest first");
    assert_eq!(events[1].detail, "{\"n\":1}");
    // A refresh token that collides makes the whole sign-in fail: no record without its token.
    let clash = event_row(&pool, "u", 3_000, 3);
    assert!(s.insert_sign_in(&first, &clash).await.is_err());
    assert_eq!(s.list_auth_events(&pool, "u", None, 10).await.unwrap().len(), 2);
    // Pages by (created, seq).
    let page = s.list_auth_events(&pool, "u", Some((2_000, 2)), 10).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
    s.delete_pool(&pool).await.unwrap();
    assert!(s.list_auth_events(&pool, "u", None, 10).await.unwrap().is_empty());
}

async fn purge_expired(f: &Fixture) {
    let s = &f.store;
    let pool = f.pool().await;
    // `now` is tiny so that on the shared database only rows made expired on purpose (here)
    // are affected; everything else uses FAR.
    let now = 1_000;
    let old_code = code_row(&pool, "u", "old", b"m", now - 1);
    let new_code = code_row(&pool, "u", "new", b"m", FAR);
    let edge_code = code_row(&pool, "u", "edge", b"m", now);
    let old_se = session_row(&pool, "c", "u", now - 1);
    let new_se = session_row(&pool, "c", "u", FAR);
    let old_rt = refresh_row(&pool, "c", "u", now - 1);
    let new_rt = refresh_row(&pool, "c", "u", FAR);
    for c in [&old_code, &new_code, &edge_code] {
        s.put_code(c).await.unwrap();
    }
    s.put_session(&old_se).await.unwrap();
    s.put_session(&new_se).await.unwrap();
    s.insert_refresh(&old_rt).await.unwrap();
    s.insert_refresh(&new_rt).await.unwrap();

    let n = s.purge_expired(now).await.unwrap();
    if f.is_sqlite() {
        assert_eq!(n, 3);
    }
    // (On the shared PostgreSQL database another process's purge may have got there first, so
    // only the state is checked.)
    assert!(s.get_code(&pool, "u", "old").await.unwrap().is_none());
    assert!(s.get_code(&pool, "u", "new").await.unwrap().is_some());
    assert!(s.get_code(&pool, "u", "edge").await.unwrap().is_some(), "expires == now is not yet expired");
    assert!(s.take_session(&old_se.id_mac).await.unwrap().is_none());
    assert!(s.take_session(&new_se.id_mac).await.unwrap().is_some());
    assert!(s.get_refresh(&old_rt.token_mac).await.unwrap().is_none());
    assert!(s.get_refresh(&new_rt.token_mac).await.unwrap().is_some());
    if f.is_sqlite() {
        assert_eq!(s.purge_expired(now).await.unwrap(), 0);
    }

    s.delete_pool(&pool).await.unwrap();
}

// ---------------------------------------------------------------- concurrency

async fn concurrent_insert_same_username(f: &Fixture) {
    let s = Arc::new(f.store.clone());
    let pool = f.pool().await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (s, pool) = (s.clone(), pool.clone());
            tokio::spawn(async move {
                // Distinct subs and identifiers: only the username collides.
                let email = format!("u{i}@example.com");
                let u = with_attrs(user_row(&pool, "same"), &[("email", email.as_str())]);
                s.insert_user(&u, &[ident("email", &email)]).await.map(|()| i)
            })
        })
        .collect();
    let (mut ok, mut dup, mut other) = (vec![], 0, vec![]);
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => ok.push(i),
            Err(StoreError::Duplicate(w)) if w == "username" => dup += 1,
            Err(e) => other.push(e),
        }
    }
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!((ok.len(), dup), (1, 49));
    assert_eq!(s.count_users(&pool).await.unwrap(), 1);
    // The losers' identifiers were rolled back with them.
    let winner = ok[0];
    let held: BTreeSet<String> = {
        let mut v = BTreeSet::new();
        for i in 0..50 {
            if let Some(u) = s.get_user_by_identifier(&pool, "email", &format!("u{i}@example.com")).await.unwrap() {
                assert_eq!(u.username_key, "same");
                v.insert(format!("u{i}@example.com"));
            }
        }
        v
    };
    assert_eq!(held, BTreeSet::from([format!("u{winner}@example.com")]));
    assert_eq!(s.get_user(&pool, "same").await.unwrap().unwrap().attr("email"), Some(format!("u{winner}@example.com").as_str()));

    s.delete_pool(&pool).await.unwrap();
}

async fn concurrent_insert_same_identifier(f: &Fixture) {
    let s = Arc::new(f.store.clone());
    let pool = f.pool().await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (s, pool) = (s.clone(), pool.clone());
            tokio::spawn(async move {
                // Distinct usernames; the e-mail identifier collides.
                let u = with_attrs(user_row(&pool, &format!("user{i:02}")), &[("email", "taken@example.com")]);
                s.insert_user(&u, &[ident("email", "taken@example.com")]).await.map(|()| i)
            })
        })
        .collect();
    let (mut ok, mut dup, mut other) = (vec![], 0, vec![]);
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => ok.push(i),
            Err(StoreError::Duplicate(w)) if w == "identifier:email" => dup += 1,
            Err(e) => other.push(e),
        }
    }
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!((ok.len(), dup), (1, 29));
    // The losers' user rows went with their identifiers.
    assert_eq!(s.count_users(&pool).await.unwrap(), 1);
    let holder = s.get_user_by_identifier(&pool, "email", "taken@example.com").await.unwrap().unwrap();
    assert_eq!(holder.username_key, format!("user{:02}", ok[0]));
    assert_eq!(keys(&s.list_users(&pool, None, None, 100).await.unwrap()), [holder.username_key.clone()]);

    s.delete_pool(&pool).await.unwrap();
}

async fn concurrent_updates_same_version(f: &Fixture) {
    let s = Arc::new(f.store.clone());
    let pool = f.pool().await;
    s.insert_user(&user_row(&pool, "u"), &[]).await.unwrap();
    let base = s.get_user(&pool, "u").await.unwrap().unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (s, mut u) = (s.clone(), base.clone());
            tokio::spawn(async move {
                u.version = 2;
                u.extra = format!(r#"{{"writer":{i}}}"#);
                s.update_user(&u, 1, &[], &[]).await.map(|()| i)
            })
        })
        .collect();
    let (mut ok, mut conflicts) = (vec![], 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => ok.push(i),
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!((ok.len(), conflicts), (1, 19));
    let now = s.get_user(&pool, "u").await.unwrap().unwrap();
    assert_eq!((now.version, now.extra), (2, format!(r#"{{"writer":{}}}"#, ok[0])));

    s.delete_pool(&pool).await.unwrap();
}

/// The documents identity pools and IAM keep: insert once, versioned updates, scoped listing.
async fn records(f: &Fixture) {
    let s = &f.store;
    let scope = format!("us-east-1:{}", rand_hex());
    let rec = |id: &str| Record { kind: "identity".into(), id: format!("{scope}/{id}"), scope: scope.clone(), body: format!("{{\"n\":\"{id}\"}}"), created: 1, version: 1 };
    for id in ["c", "a", "b"] {
        s.insert_record(&rec(id)).await.expect("insert");
    }
    assert!(matches!(s.insert_record(&rec("a")).await, Err(StoreError::Duplicate(_))), "one record per kind and id");
    let got = s.get_record("identity", &format!("{scope}/a")).await.unwrap().expect("found");
    assert_eq!(got.body, "{\"n\":\"a\"}");
    assert!(s.get_record("other-kind", &format!("{scope}/a")).await.unwrap().is_none(), "kinds are separate");
    s.update_record("identity", &got.id, "{}", 1).await.expect("update at version 1");
    assert!(matches!(s.update_record("identity", &got.id, "{\"stale\":1}", 1).await, Err(StoreError::Conflict(_))), "a stale version is refused");
    assert_eq!(s.get_record("identity", &got.id).await.unwrap().unwrap().version, 2);
    let page = s.list_records("identity", Some(&scope), None, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![format!("{scope}/a"), format!("{scope}/b")]);
    let rest = s.list_records("identity", Some(&scope), Some(&page[1].id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(s.delete_record("identity", &format!("{scope}/b")).await.unwrap());
    assert!(!s.delete_record("identity", &format!("{scope}/b")).await.unwrap());
    assert_eq!(s.delete_records_in("identity", &scope).await.unwrap(), 2);
    assert!(s.list_records("identity", Some(&scope), None, 10).await.unwrap().is_empty());
}
