//! Sign-in records: every attempt (time, client, flow, challenges passed or failed, source IP,
//! user agent, new device or not), served as AdminListUserAuthEvents.

use serde::Deserialize;
use serde_json::{json, Value};

use super::signin::Flow;
use super::{epoch, Client, Ctx, Pool, Service};
use crate::error::{ApiError, ApiResult};
use crate::ports::random::uuid_v4;
use crate::store::{AuthEventRow, UserRow};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminListUserAuthEventsInput {
    pub user_pool_id: String,
    pub username: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// Orders events recorded in the same millisecond.
static EVENT_SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

impl Service {
    /// Records one failed sign-in attempt. `failed` names the challenge that failed ("Password",
    /// "Mfa"). Recording never fails the sign-in itself.
    pub(super) async fn record_auth_event(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: &UserRow, flow: &Flow, failed: Option<&str>, success: bool) {
        let row = self.auth_event(ctx, pool, client, user, flow, failed, success);
        if let Err(e) = self.store.insert_auth_event(&row).await {
            tracing::warn!(error = %e, "could not record a sign-in event");
        }
    }

    /// The record of one sign-in attempt (and its log line); [`Service::issue_tokens`] stores a
    /// successful one together with the new refresh token.
    pub(super) fn auth_event(&self, ctx: &Ctx, pool: &Pool, client: &Client, user: &UserRow, flow: &Flow, failed: Option<&str>, success: bool) -> AuthEventRow {
        let mut challenges: Vec<Value> = flow
            .challenges
            .iter()
            .map(|(n, ok)| json!({ "ChallengeName": n, "ChallengeResponse": if *ok { "Success" } else { "Failure" } }))
            .collect();
        if let Some(f) = failed {
            challenges.push(json!({ "ChallengeName": f, "ChallengeResponse": "Failure" }));
        }
        let now = self.now();
        let detail = json!({
            "EventType": "SignIn",
            "EventResponse": if success { "Pass" } else { "Fail" },
            "ChallengeResponses": challenges,
            "EventContextData": {
                "IpAddress": ctx.source_ip.clone().unwrap_or_default(),
                "DeviceName": ctx.user_agent.clone().unwrap_or_default(),
            },
            "EventRisk": { "RiskDecision": "NoRisk", "CompromisedCredentialsDetected": false },
            "Tobira": {
                "clientId": client.row.id,
                "authFlow": flow.flow,
                "userAgent": ctx.user_agent,
                "deviceKey": flow.device_key,
                "newDevice": !flow.device_done,
            },
        });
        let row = AuthEventRow {
            event_id: uuid_v4(self.random.as_ref()),
            pool_id: pool.row.id.clone(),
            username_key: user.username_key.clone(),
            created: now,
            seq: EVENT_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            detail: detail.to_string(),
        };
        tracing::info!(pool = %pool.row.id, user = %user.username, client = %client.row.id, flow = %flow.flow, success, failed = ?failed, "sign-in attempt");
        row
    }

    pub async fn admin_list_user_auth_events(&self, _ctx: &Ctx, input: AdminListUserAuthEventsInput) -> ApiResult<Value> {
        let max = input.max_results.unwrap_or(60);
        if !(0..=60).contains(&max) {
            return Err(ApiError::validation(&[format!("Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60")]));
        }
        let max = if max == 0 { 60 } else { max };
        let pool = self.pool(&input.user_pool_id).await?;
        let user = self.require_user(&pool, &input.username).await?;
        let before = match input.next_token.as_deref() {
            None | Some("") => None,
            Some(t) => {
                let (c, s) = t.split_once('.').ok_or_else(|| ApiError::invalid_parameter("Invalid pagination token."))?;
                Some((c.parse().map_err(|_| ApiError::invalid_parameter("Invalid pagination token."))?, s.parse().map_err(|_| ApiError::invalid_parameter("Invalid pagination token."))?))
            }
        };
        let rows = self.store.list_auth_events(&pool.row.id, &user.username_key, before, max + 1).await?;
        let more = rows.len() as i64 > max;
        let rows = &rows[..rows.len().min(max as usize)];
        let events: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut d: Value = serde_json::from_str(&r.detail).unwrap_or_default();
                if let Some(m) = d.as_object_mut() {
                    m.remove("Tobira");
                    m.insert("EventId".into(), json!(r.event_id));
                    m.insert("CreationDate".into(), json!(epoch(r.created)));
                }
                d
            })
            .collect();
        let mut out = json!({ "AuthEvents": events });
        if more {
            let last = rows.last().expect("non-empty");
            out["NextToken"] = json!(format!("{}.{}", last.created, last.seq));
        }
        Ok(out)
    }
}
