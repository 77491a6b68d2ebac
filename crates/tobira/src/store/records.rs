//! Documents by kind and id: identity pools, identities, IAM roles and policies, temporary
//! credentials. Each write is one statement, so every change is visible to the next request of
//! any tobira process; `version` guards read-modify-write.

use super::db::Row;
use super::{map_unique, Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: String,
    pub id: String,
    /// What the record belongs to (e.g. the identity pool of an identity), for listing.
    pub scope: String,
    pub body: String,
    pub created: i64,
    pub version: i64,
}

fn record(r: &Row) -> StoreResult<Record> {
    Ok(Record {
        kind: r.get(0)?,
        id: r.get(1)?,
        scope: r.get(2)?,
        body: r.get(3)?,
        created: r.get(4)?,
        version: r.get(5)?,
    })
}

impl Store {
    /// Inserts a new record; `StoreError::Duplicate` if (kind, id) exists.
    pub async fn insert_record(&self, r: &Record) -> StoreResult<()> {
        let res = self.db.write(self.sql("INSERT INTO records (kind, id, scope, body, created, version) VALUES ($1,$2,$3,$4,$5,$6)"))
            .bind(&r.kind).bind(&r.id).bind(&r.scope).bind(&r.body).bind(r.created).bind(r.version)
            .execute()
            .await;
        map_unique(res, "record").map(|_| ())
    }

    pub async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Record>> {
        let row = self.db.read(self.sql("SELECT kind, id, scope, body, created, version FROM records WHERE kind = $1 AND id = $2"))
            .bind(kind)
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// Replaces the body if the record still has `expected` as its version (then bumped).
    pub async fn update_record(&self, kind: &str, id: &str, body: &str, expected: i64) -> StoreResult<()> {
        let r = self.db.write(self.sql("UPDATE records SET body = $3, version = version + 1 WHERE kind = $1 AND id = $2 AND version = $4"))
            .bind(kind).bind(id).bind(body).bind(expected)
            .execute()
            .await?;
        if r == 1 { Ok(()) } else { Err(StoreError::Conflict(format!("{kind} {id} changed concurrently"))) }
    }

    pub async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let r = self.db.write(self.sql("DELETE FROM records WHERE kind = $1 AND id = $2")).bind(kind).bind(id).execute().await?;
        Ok(r == 1)
    }

    /// Deletes every record of `kind` in `scope`.
    pub async fn delete_records_in(&self, kind: &str, scope: &str) -> StoreResult<u64> {
        let r = self.db.write(self.sql("DELETE FROM records WHERE kind = $1 AND scope = $2")).bind(kind).bind(scope).execute().await?;
        Ok(r)
    }

    /// Records of `kind` (in `scope`, when given) ordered by id, after `after` (exclusive).
    pub async fn list_records(&self, kind: &str, scope: Option<&str>, after: Option<&str>, limit: i64) -> StoreResult<Vec<Record>> {
        let rows = match scope {
            Some(scope) => {
                self.db.read(self.sql("SELECT kind, id, scope, body, created, version FROM records WHERE kind = $1 AND scope = $2 AND id > $3 ORDER BY id LIMIT $4"))
                    .bind(kind).bind(scope).bind(after.unwrap_or("")).bind(limit)
                    .fetch_all()
                    .await?
            }
            None => {
                self.db.read(self.sql("SELECT kind, id, scope, body, created, version FROM records WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(kind).bind(after.unwrap_or("")).bind(limit)
                    .fetch_all()
                    .await?
            }
        };
        rows.iter().map(record).collect()
    }
}
