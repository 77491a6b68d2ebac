//! The two SQL backends behind one small query interface: a statement, its arguments, and
//! rows read by column index. [`Store`](super::Store) writes its SQL once and runs it here.
//!
//! * **SQLite** runs in the calling task, on the thread that is already running it: a statement
//!   takes microseconds, and handing it to another thread (as sqlx's SQLite driver does, one
//!   thread per connection) cost more than running it, two context switches per statement.
//!   Readers take a connection from a small pool; the one writer connection sits behind an async
//!   mutex, so writers queue fairly instead of spinning in SQLite's busy handler. WAL
//!   checkpoints (which fsync) run on a background thread, off the request path.
//! * **PostgreSQL** goes through sqlx's native driver and its connection pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::types::Value as LiteValue;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};

use super::{Backend, StoreError, StoreResult};

/// Idle SQLite reader connections kept open.
const IDLE_READERS: usize = 8;
/// How long a statement waits for another process's lock on the SQLite file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- errors

/// A database failure; unique-key violations are told apart so callers can name the key.
#[derive(Debug)]
pub(super) enum DbError {
    /// A unique or primary key was taken; the message names the index or columns.
    Unique(String),
    Other(String),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique(m) | DbError::Other(m) => StoreError::Db(m),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            let code = f.extended_code;
            if code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY {
                return DbError::Unique(msg.clone().unwrap_or_else(|| e.to_string()));
            }
        }
        DbError::Other(e.to_string())
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return DbError::Unique(db.message().to_string());
            }
        }
        DbError::Other(e.to_string())
    }
}

pub(super) type DbResult<T> = Result<T, DbError>;

// ---------------------------------------------------------------- arguments

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Int,
    Text,
    Blob,
}

/// One bound argument. NULLs carry their type: PostgreSQL checks it against the column.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Null(Kind),
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

pub(super) trait IntoArg {
    fn into_arg(self) -> Arg;
}

/// Types an `Option` of which binds as a typed NULL.
pub(super) trait Typed: IntoArg {
    const KIND: Kind;
}

impl IntoArg for i64 {
    fn into_arg(self) -> Arg {
        Arg::Int(self)
    }
}
impl Typed for i64 {
    const KIND: Kind = Kind::Int;
}
impl IntoArg for bool {
    fn into_arg(self) -> Arg {
        Arg::Int(self as i64)
    }
}
impl IntoArg for String {
    fn into_arg(self) -> Arg {
        Arg::Text(self)
    }
}
impl Typed for String {
    const KIND: Kind = Kind::Text;
}
impl IntoArg for &str {
    fn into_arg(self) -> Arg {
        Arg::Text(self.to_string())
    }
}
impl IntoArg for &String {
    fn into_arg(self) -> Arg {
        Arg::Text(self.clone())
    }
}
impl IntoArg for Vec<u8> {
    fn into_arg(self) -> Arg {
        Arg::Blob(self)
    }
}
impl Typed for Vec<u8> {
    const KIND: Kind = Kind::Blob;
}
impl IntoArg for &[u8] {
    fn into_arg(self) -> Arg {
        Arg::Blob(self.to_vec())
    }
}
impl IntoArg for &Vec<u8> {
    fn into_arg(self) -> Arg {
        Arg::Blob(self.clone())
    }
}
impl<T: Typed> IntoArg for Option<T> {
    fn into_arg(self) -> Arg {
        match self {
            Some(v) => v.into_arg(),
            None => Arg::Null(T::KIND),
        }
    }
}
impl<T: Typed + Clone> IntoArg for &Option<T> {
    fn into_arg(self) -> Arg {
        self.clone().into_arg()
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Null(_) => ValueRef::Null,
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn bind_pg<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for a in args {
        q = match a {
            Arg::Null(Kind::Int) => q.bind(None::<i64>),
            Arg::Null(Kind::Text) => q.bind(None::<String>),
            Arg::Null(Kind::Blob) => q.bind(None::<Vec<u8>>),
            Arg::Int(i) => q.bind(i),
            Arg::Text(s) => q.bind(s),
            Arg::Blob(b) => q.bind(b),
        };
    }
    q
}

// ---------------------------------------------------------------- rows

/// One result row, read by column index.
pub(super) enum Row {
    Lite(Vec<LiteValue>),
    Pg(PgRow),
}

/// What a column can be read as.
pub(super) trait FromCol: Sized {
    fn from_lite(v: &LiteValue) -> Option<Self>;
    fn from_pg(r: &PgRow, i: usize) -> Result<Self, sqlx::Error>;
}

macro_rules! from_col {
    ($t:ty, $pat:pat => $e:expr) => {
        impl FromCol for $t {
            fn from_lite(v: &LiteValue) -> Option<Self> {
                match v {
                    $pat => Some($e),
                    _ => None,
                }
            }
            fn from_pg(r: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(r, i)
            }
        }
        impl FromCol for Option<$t> {
            fn from_lite(v: &LiteValue) -> Option<Self> {
                match v {
                    LiteValue::Null => Some(None),
                    other => <$t as FromCol>::from_lite(other).map(Some),
                }
            }
            fn from_pg(r: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(r, i)
            }
        }
    };
}

from_col!(i64, LiteValue::Integer(i) => *i);
from_col!(String, LiteValue::Text(s) => s.clone());
from_col!(Vec<u8>, LiteValue::Blob(b) => b.clone());

impl Row {
    pub(super) fn get<T: FromCol>(&self, i: usize) -> StoreResult<T> {
        match self {
            Row::Lite(vals) => vals
                .get(i)
                .and_then(T::from_lite)
                .ok_or_else(|| StoreError::Db(format!("column {i}: missing or of an unexpected type ({:?})", vals.get(i)))),
            Row::Pg(r) => T::from_pg(r, i).map_err(|e| StoreError::Db(e.to_string())),
        }
    }
}

// ---------------------------------------------------------------- SQLite

struct Lite {
    path: String,
    writer: Arc<tokio::sync::Mutex<rusqlite::Connection>>,
    readers: Mutex<Vec<rusqlite::Connection>>,
    /// Commits since the last checkpoint (the checkpointer thread's cue).
    commits: AtomicU64,
}

impl Lite {
    fn open_conn(path: &str, writer: bool) -> DbResult<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")?;
        if writer {
            // Checkpoints run on the checkpointer thread, not in a request's commit.
            conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        }
        Ok(conn)
    }

    fn reader(&self) -> DbResult<rusqlite::Connection> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => Lite::open_conn(&self.path, false),
        }
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// Checkpoints the WAL when there were commits, until the store is dropped.
fn spawn_checkpointer(lite: Weak<Lite>, path: String) {
    let spawned = std::thread::Builder::new().name("tobira-checkpoint".into()).spawn(move || {
        let conn = match Lite::open_conn(&path, false) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = ?e, "SQLite checkpointer could not open the database; the WAL will grow");
                return;
            }
        };
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let Some(lite) = lite.upgrade() else { return };
            if lite.commits.swap(0, Ordering::Relaxed) == 0 {
                continue;
            }
            drop(lite);
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the SQLite checkpointer");
    }
}

fn lite_rows(conn: &rusqlite::Connection, sql: &str, args: &[Arg]) -> DbResult<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let n = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(r.get::<_, LiteValue>(i)?);
        }
        out.push(Row::Lite(vals));
    }
    Ok(out)
}

fn lite_execute(conn: &rusqlite::Connection, sql: &str, args: &[Arg]) -> DbResult<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))? as u64)
}

fn lite_run(conn: &rusqlite::Connection, sql: &str, args: &[Arg], rows: bool) -> DbResult<(Vec<Row>, u64)> {
    if rows {
        Ok((lite_rows(conn, sql, args)?, 0))
    } else {
        Ok((Vec::new(), lite_execute(conn, sql, args)?))
    }
}

// ---------------------------------------------------------------- the database

#[derive(Clone)]
pub(super) struct Db {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Lite(Arc<Lite>),
    Pg(PgPool),
}

impl Db {
    /// Opens `url` (`sqlite://PATH[?…]` or `postgres://…`).
    pub(super) async fn connect(url: &str) -> StoreResult<Db> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path).to_string();
            if path.is_empty() {
                return Err(StoreError::Db(format!("no SQLite file in {url:?}")));
            }
            let writer = Lite::open_conn(&path, true)?;
            let lite = Arc::new(Lite {
                path: path.clone(),
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers: Mutex::new(Vec::new()),
                commits: AtomicU64::new(0),
            });
            spawn_checkpointer(Arc::downgrade(&lite), path);
            Ok(Db { inner: Inner::Lite(lite) })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // A connection is checked when it is made; checking it again on every acquire
            // costs a round trip per query.
            let pool = PgPoolOptions::new()
                .test_before_acquire(false)
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .map_err(DbError::from)?;
            Ok(Db { inner: Inner::Pg(pool) })
        } else {
            Err(StoreError::Db(format!("unsupported database URL {url:?}: use sqlite:// or postgres://")))
        }
    }

    pub(super) fn backend(&self) -> Backend {
        match self.inner {
            Inner::Lite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// A statement that reads (any reader connection).
    pub(super) fn read(&self, sql: &'static str) -> Q<'_> {
        Q { sql, args: Vec::new(), on: On::Read(self) }
    }

    /// A statement that writes, in a transaction of its own.
    pub(super) fn write(&self, sql: &'static str) -> Q<'_> {
        Q { sql, args: Vec::new(), on: On::Write(self) }
    }

    /// A transaction: statements on `tx.q(…)`, then `commit`; dropped uncommitted, it rolls back.
    pub(super) async fn begin(&self) -> StoreResult<Tx> {
        match &self.inner {
            Inner::Lite(l) => {
                let conn = l.writer.clone().lock_owned().await;
                conn.execute_batch("BEGIN IMMEDIATE").map_err(DbError::from)?;
                Ok(Tx { inner: TxInner::Lite { conn, lite: l.clone(), open: true } })
            }
            Inner::Pg(p) => Ok(Tx { inner: TxInner::Pg(Some(p.begin().await.map_err(DbError::from)?)) }),
        }
    }
}

pub(super) struct Tx {
    inner: TxInner,
}

enum TxInner {
    Lite { conn: tokio::sync::OwnedMutexGuard<rusqlite::Connection>, lite: Arc<Lite>, open: bool },
    Pg(Option<sqlx::Transaction<'static, sqlx::Postgres>>),
}

impl Tx {
    pub(super) fn q(&mut self, sql: &'static str) -> Q<'_> {
        Q { sql, args: Vec::new(), on: On::Tx(self) }
    }

    pub(super) async fn commit(mut self) -> StoreResult<()> {
        match &mut self.inner {
            TxInner::Lite { conn, lite, open } => {
                conn.execute_batch("COMMIT").map_err(DbError::from)?;
                *open = false;
                lite.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            TxInner::Pg(tx) => match tx.take() {
                Some(tx) => Ok(tx.commit().await.map_err(DbError::from)?),
                None => Ok(()),
            },
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let TxInner::Lite { conn, open: true, .. } = &mut self.inner {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "SQLite rollback failed");
            }
        }
        // A PostgreSQL transaction rolls back when sqlx's Transaction is dropped.
    }
}

enum On<'a> {
    Read(&'a Db),
    Write(&'a Db),
    Tx(&'a mut Tx),
}

/// A statement with its arguments, run by one of its `fetch_*`/`execute` methods.
pub(super) struct Q<'a> {
    sql: &'static str,
    args: Vec<Arg>,
    on: On<'a>,
}

impl Q<'_> {
    pub(super) fn bind(mut self, v: impl IntoArg) -> Self {
        self.args.push(v.into_arg());
        self
    }

    async fn run(self, rows: bool) -> DbResult<(Vec<Row>, u64)> {
        let Q { sql, args, on } = self;
        let (db, write) = match on {
            On::Read(db) => (db, false),
            On::Write(db) => (db, true),
            On::Tx(tx) => {
                return match &mut tx.inner {
                    TxInner::Lite { conn, .. } => lite_run(conn, sql, &args, rows),
                    TxInner::Pg(Some(t)) => pg_run(bind_pg(sqlx::query(sql), args), &mut **t, rows).await,
                    TxInner::Pg(None) => Err(DbError::Other("transaction already finished".into())),
                }
            }
        };
        match &db.inner {
            Inner::Pg(pool) => pg_run(bind_pg(sqlx::query(sql), args), pool, rows).await,
            Inner::Lite(l) if write => {
                let conn = l.writer.lock().await;
                let out = lite_run(&conn, sql, &args, rows);
                drop(conn);
                l.commits.fetch_add(1, Ordering::Relaxed);
                out
            }
            Inner::Lite(l) => {
                let conn = l.reader()?;
                let out = lite_run(&conn, sql, &args, rows);
                l.give_back(conn);
                out
            }
        }
    }

    pub(super) async fn execute(self) -> DbResult<u64> {
        Ok(self.run(false).await?.1)
    }

    pub(super) async fn fetch_all(self) -> DbResult<Vec<Row>> {
        Ok(self.run(true).await?.0)
    }

    pub(super) async fn fetch_optional(self) -> DbResult<Option<Row>> {
        Ok(self.run(true).await?.0.into_iter().next())
    }

    pub(super) async fn fetch_one(self) -> DbResult<Row> {
        self.fetch_optional().await?.ok_or_else(|| DbError::Other("no row returned".into()))
    }
}

async fn pg_run<'e, E>(q: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>, ex: E, rows: bool) -> DbResult<(Vec<Row>, u64)>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    if rows {
        Ok((q.fetch_all(ex).await?.into_iter().map(Row::Pg).collect(), 0))
    } else {
        Ok((Vec::new(), q.execute(ex).await?.rows_affected()))
    }
}
