//! PreTokenGeneration: the event (V1 or V2 by `PreTokenGenerationConfig.LambdaVersion`) and the
//! claim, group and scope changes its answer makes (fact sheet §4.6, §5.3; cognito-observed
//! §1.5, §1.6).

use serde_json::{json, Map, Value};

use super::triggers::{self, event_attributes, Trigger};
use super::{Ctx, Pool, Service};
use crate::error::ApiResult;
use crate::store::UserRow;

/// Claims no trigger may add, change or remove.
const RESERVED: &[&str] = &[
    "acr", "amr", "aud", "at_hash", "auth_time", "azp", "cognito:username", "exp", "iat", "identities", "iss", "jti", "nbf", "nonce",
    "origin_jti", "sub", "token_use",
];
/// Access-token claims that only their own settings change.
const ACCESS_FIXED: &[&str] = &["client_id", "scope", "username", "cognito:groups", "device_key", "event_id", "version"];

/// What a PreTokenGeneration answer changes.
#[derive(Debug, Default)]
pub struct TokenOverrides {
    id_add: Map<String, Value>,
    id_suppress: Vec<String>,
    access_add: Map<String, Value>,
    access_suppress: Vec<String>,
    scopes_add: Vec<String>,
    scopes_suppress: Vec<String>,
    /// Replaces `cognito:groups` in both tokens; empty removes it.
    groups: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    preferred_role: Option<Option<String>>,
}

impl TokenOverrides {
    /// Applies the changes to the ID token `i` and the access token `a`. Suppression wins over
    /// an override of the same claim.
    pub fn apply(self, i: &mut Map<String, Value>, a: &mut Map<String, Value>) {
        if let Some(groups) = self.groups {
            for t in [&mut *i, &mut *a] {
                if groups.is_empty() {
                    t.remove("cognito:groups");
                } else {
                    t.insert("cognito:groups".into(), json!(groups));
                }
            }
        }
        if let Some(roles) = self.roles {
            if roles.is_empty() {
                i.remove("cognito:roles");
            } else {
                i.insert("cognito:roles".into(), json!(roles));
            }
        }
        match self.preferred_role {
            Some(Some(r)) => {
                i.insert("cognito:preferred_role".into(), json!(r));
            }
            Some(None) => {
                i.remove("cognito:preferred_role");
            }
            None => {}
        }
        for (k, v) in self.id_add {
            if !RESERVED.contains(&k.as_str()) {
                i.insert(k, v);
            }
        }
        for k in self.id_suppress {
            if !RESERVED.contains(&k.as_str()) {
                i.remove(&k);
            }
        }
        for (k, v) in self.access_add {
            if !RESERVED.contains(&k.as_str()) && !ACCESS_FIXED.contains(&k.as_str()) {
                a.insert(k, v);
            }
        }
        for k in self.access_suppress {
            if !RESERVED.contains(&k.as_str()) && !ACCESS_FIXED.contains(&k.as_str()) {
                a.remove(&k);
            }
        }
        if !self.scopes_add.is_empty() || !self.scopes_suppress.is_empty() {
            let mut scopes: Vec<String> = a.get("scope").and_then(Value::as_str).unwrap_or_default().split_whitespace().map(str::to_string).collect();
            for s in self.scopes_add {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            scopes.retain(|s| !self.scopes_suppress.contains(s));
            if scopes.is_empty() {
                a.remove("scope");
            } else {
                a.insert("scope".into(), json!(scopes.join(" ")));
            }
        }
    }
}

fn string_list(v: Option<&Value>) -> ApiResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(triggers::unrecognizable)).collect(),
        Some(_) => Err(triggers::unrecognizable()),
    }
}

fn claim_map(v: Option<&Value>, strings_only: bool) -> ApiResult<Map<String, Value>> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => {
            if strings_only && m.values().any(|x| !x.is_string()) {
                return Err(triggers::unrecognizable());
            }
            Ok(m.clone())
        }
        Some(_) => Err(triggers::unrecognizable()),
    }
}

fn group_override(o: &mut TokenOverrides, g: Option<&Value>) -> ApiResult<()> {
    match g {
        None => {}
        // An explicit null suppresses the groups.
        Some(Value::Null) => o.groups = Some(vec![]),
        Some(Value::Object(g)) => {
            if g.contains_key("groupsToOverride") {
                o.groups = Some(string_list(g.get("groupsToOverride"))?);
            }
            if g.contains_key("iamRolesToOverride") {
                o.roles = Some(string_list(g.get("iamRolesToOverride"))?);
            }
            if let Some(p) = g.get("preferredRole") {
                o.preferred_role = Some(p.as_str().map(str::to_string));
            }
        }
        Some(_) => return Err(triggers::unrecognizable()),
    }
    Ok(())
}

impl Service {
    /// Fires PreTokenGeneration when the pool has it and reads the answer.
    pub async fn pre_token_generation(
        &self,
        ctx: &Ctx,
        pool: &Pool,
        user: &UserRow,
        groups: &[String],
        roles: &[String],
        preferred: Option<&str>,
        source: &str,
    ) -> ApiResult<Option<TokenOverrides>> {
        let Some((_, version)) = triggers::configured(&pool.config.lambda_config, Trigger::PreTokenGeneration) else { return Ok(None) };
        let v1 = version == "1";
        let mut request = json!({
            "userAttributes": event_attributes(user),
            "groupConfiguration": { "groupsToOverride": groups, "iamRolesToOverride": roles, "preferredRole": preferred },
        });
        if !v1 {
            request["scopes"] = json!(["aws.cognito.signin.user.admin"]);
        }
        let request = triggers::with_metadata(request, ctx);
        let response = if v1 { json!({ "claimsOverrideDetails": null }) } else { json!({ "claimsAndScopeOverrideDetails": null }) };
        let Some(r) = self.fire(ctx, pool, Trigger::PreTokenGeneration, source, &user.username, request, response).await? else { return Ok(None) };
        let mut o = TokenOverrides::default();
        if v1 {
            let Some(d) = r.get("claimsOverrideDetails").filter(|d| !d.is_null()) else { return Ok(Some(o)) };
            o.id_add = claim_map(d.get("claimsToAddOrOverride"), true)?;
            o.id_suppress = string_list(d.get("claimsToSuppress"))?;
            group_override(&mut o, d.get("groupOverrideDetails"))?;
        } else {
            let Some(d) = r.get("claimsAndScopeOverrideDetails").filter(|d| !d.is_null()) else { return Ok(Some(o)) };
            if let Some(idt) = d.get("idTokenGeneration").filter(|x| !x.is_null()) {
                o.id_add = claim_map(idt.get("claimsToAddOrOverride"), false)?;
                o.id_suppress = string_list(idt.get("claimsToSuppress"))?;
            }
            if let Some(at) = d.get("accessTokenGeneration").filter(|x| !x.is_null()) {
                o.access_add = claim_map(at.get("claimsToAddOrOverride"), false)?;
                o.access_suppress = string_list(at.get("claimsToSuppress"))?;
                o.scopes_add = string_list(at.get("scopesToAdd"))?;
                o.scopes_suppress = string_list(at.get("scopesToSuppress"))?;
            }
            group_override(&mut o, d.get("groupOverrideDetails"))?;
        }
        Ok(Some(o))
    }
}
