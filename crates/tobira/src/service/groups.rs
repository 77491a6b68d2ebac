//! Groups and membership.

use serde::Deserialize;
use serde_json::{json, Value};

use super::pools::{decode_token, encode_token};
use super::{epoch, Ctx, Service};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::store::{GroupRow, StoreError};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupInput {
    pub user_pool_id: String,
    pub group_name: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub precedence: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupNameInput {
    pub user_pool_id: String,
    pub group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGroupsInput {
    pub user_pool_id: String,
    pub limit: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MembershipInput {
    pub user_pool_id: String,
    pub username: String,
    pub group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserGroupsInput {
    pub user_pool_id: String,
    pub username: String,
    pub limit: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupMembersInput {
    pub user_pool_id: String,
    pub group_name: String,
    pub limit: Option<i64>,
    pub next_token: Option<String>,
}

pub fn group_json(g: &GroupRow) -> Value {
    let mut v = json!({ "GroupName": g.name, "UserPoolId": g.pool_id });
    if let Some(d) = &g.description {
        v["Description"] = json!(d);
    }
    if let Some(r) = &g.role_arn {
        v["RoleArn"] = json!(r);
    }
    if let Some(p) = g.precedence {
        v["Precedence"] = json!(p);
    }
    v["LastModifiedDate"] = json!(epoch(g.modified));
    v["CreationDate"] = json!(epoch(g.created));
    v
}

fn validate_group(input: &GroupInput) -> ApiResult<()> {
    let n = input.group_name.chars().count();
    if n == 0 || n > 128 || input.group_name.chars().any(|c| c.is_control()) {
        return Err(ApiError::validation(&[format!(
            "Value '{}' at 'groupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}]+",
            input.group_name
        )]));
    }
    if let Some(p) = input.precedence {
        if p < 0 {
            return Err(ApiError::validation(&[format!("Value '{p}' at 'precedence' failed to satisfy constraint: Member must have value greater than or equal to 0")]));
        }
    }
    if input.description.as_ref().is_some_and(|d| d.chars().count() > 2048) {
        return Err(ApiError::validation(&["Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048".into()]));
    }
    Ok(())
}

fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    let l = limit.unwrap_or(60);
    if !(0..=60).contains(&l) {
        return Err(ApiError::validation(&[format!("Value '{l}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60")]));
    }
    Ok(if l == 0 { 60 } else { l })
}

impl Service {
    async fn require_group(&self, pool_id: &str, name: &str) -> ApiResult<GroupRow> {
        self.store.get_group(pool_id, name).await?.ok_or_else(|| ApiError::resource_not_found("Group not found."))
    }

    pub async fn create_group(&self, _ctx: &Ctx, input: GroupInput) -> ApiResult<Value> {
        validate_group(&input)?;
        let pool = self.pool(&input.user_pool_id).await?;
        let now = self.now();
        let g = GroupRow {
            pool_id: pool.row.id.clone(),
            name: input.group_name.clone(),
            description: input.description,
            role_arn: input.role_arn,
            precedence: input.precedence,
            created: now,
            modified: now,
        };
        match self.store.insert_group(&g).await {
            Ok(()) => Ok(json!({ "Group": group_json(&g) })),
            Err(StoreError::Duplicate(_)) => Err(ApiError::new(ErrorKind::GroupExists, "A group with the name already exists.")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_group(&self, _ctx: &Ctx, input: GroupNameInput) -> ApiResult<Value> {
        self.pool(&input.user_pool_id).await?;
        let g = self.require_group(&input.user_pool_id, &input.group_name).await?;
        Ok(json!({ "Group": group_json(&g) }))
    }

    pub async fn update_group(&self, _ctx: &Ctx, input: GroupInput) -> ApiResult<Value> {
        validate_group(&input)?;
        self.pool(&input.user_pool_id).await?;
        let mut g = self.require_group(&input.user_pool_id, &input.group_name).await?;
        if input.description.is_some() {
            g.description = input.description;
        }
        if input.role_arn.is_some() {
            g.role_arn = input.role_arn;
        }
        if input.precedence.is_some() {
            g.precedence = input.precedence;
        }
        g.modified = self.now();
        self.store.update_group(&g).await?;
        Ok(json!({ "Group": group_json(&g) }))
    }

    pub async fn delete_group(&self, _ctx: &Ctx, input: GroupNameInput) -> ApiResult<Value> {
        self.pool(&input.user_pool_id).await?;
        if !self.store.delete_group(&input.user_pool_id, &input.group_name).await? {
            return Err(ApiError::resource_not_found("Group not found."));
        }
        Ok(json!({}))
    }

    pub async fn list_groups(&self, _ctx: &Ctx, input: ListGroupsInput) -> ApiResult<Value> {
        let limit = page_limit(input.limit)?;
        self.pool(&input.user_pool_id).await?;
        let after = decode_token(input.next_token.as_deref())?;
        let rows = self.store.list_groups(&input.user_pool_id, after.as_deref(), limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let mut out = json!({ "Groups": rows.iter().map(group_json).collect::<Vec<_>>() });
        if more {
            out["NextToken"] = json!(encode_token(&rows.last().expect("non-empty").name));
        }
        Ok(out)
    }

    pub async fn admin_add_user_to_group(&self, _ctx: &Ctx, input: MembershipInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        self.require_group(&pool.row.id, &input.group_name).await?;
        self.store.add_member(&pool.row.id, &input.group_name, &user.username_key).await?;
        Ok(json!({}))
    }

    pub async fn admin_remove_user_from_group(&self, _ctx: &Ctx, input: MembershipInput) -> ApiResult<Value> {
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        self.require_group(&pool.row.id, &input.group_name).await?;
        self.store.remove_member(&pool.row.id, &input.group_name, &user.username_key).await?;
        Ok(json!({}))
    }

    pub async fn admin_list_groups_for_user(&self, _ctx: &Ctx, input: UserGroupsInput) -> ApiResult<Value> {
        let limit = page_limit(input.limit)?;
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        let after = decode_token(input.next_token.as_deref())?.unwrap_or_default();
        let all = self.store.groups_of(&pool.row.id, &user.username_key).await?;
        let rest: Vec<&GroupRow> = all.iter().filter(|g| g.name > after).collect();
        let page = &rest[..rest.len().min(limit as usize)];
        let mut out = json!({ "Groups": page.iter().map(|g| group_json(g)).collect::<Vec<_>>() });
        if rest.len() > page.len() {
            out["NextToken"] = json!(encode_token(&page.last().expect("non-empty").name));
        }
        Ok(out)
    }

    pub async fn list_users_in_group(&self, _ctx: &Ctx, input: GroupMembersInput) -> ApiResult<Value> {
        let limit = page_limit(input.limit)?;
        let pool = self.pool(&input.user_pool_id).await?;
        self.require_group(&pool.row.id, &input.group_name).await?;
        let after = decode_token(input.next_token.as_deref())?;
        let rows = self.store.group_members(&pool.row.id, &input.group_name, after.as_deref(), limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let users: Vec<Value> = rows
            .iter()
            .map(|u| {
                json!({
                    "Username": u.username,
                    "Attributes": super::attributes::to_json(&u.attributes),
                    "UserCreateDate": epoch(u.created),
                    "UserLastModifiedDate": epoch(u.modified),
                    "Enabled": u.enabled,
                    "UserStatus": u.status,
                })
            })
            .collect();
        let mut out = json!({ "Users": users });
        if more {
            out["NextToken"] = json!(encode_token(&rows.last().expect("non-empty").username_key));
        }
        Ok(out)
    }
}
