//! IAM, as far as identity pools need it: roles with trust policies, managed policies and their
//! attachments, inline role policies. Documents are kept as given (URL-encoded on the way out,
//! as IAM returns them) and validated as JSON policies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Service;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ports::random::random_bytes;
use crate::store::{Record, StoreError};

pub const ROLE: &str = "iam_role";
pub const POLICY: &str = "iam_policy";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub path: String,
    pub assume_role_policy_document: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub create_date: i64,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub policy_name: String,
    pub policy_id: String,
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub document: String,
    pub create_date: i64,
}

/// `AROA…` / `ANPA…` style unique ids.
fn entity_id(svc: &Service, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = random_bytes(svc.random.as_ref(), 17);
    prefix.chars().chain(bytes.iter().map(|b| ALPHABET[(*b as usize) % 32] as char)).collect()
}

fn no_role(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NoSuchEntity, format!("The role with name {name} cannot be found."))
}

fn no_policy(arn: &str) -> ApiError {
    ApiError::new(ErrorKind::NoSuchEntity, format!("Policy {arn} does not exist or is not attachable."))
}

fn check_path(path: &str) -> ApiResult<()> {
    if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
        return Err(ApiError::validation(&[format!(
            "Value '{path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )]));
    }
    Ok(())
}

fn check_name(name: &str, what: &str, max: usize) -> ApiResult<()> {
    let ok = !name.is_empty() && name.len() <= max && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !ok {
        return Err(ApiError::validation(&[format!(
            "Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )]));
    }
    Ok(())
}

/// A JSON policy document: an object with a Version (optional) and one or more statements,
/// each with an Effect of Allow or Deny.
pub fn validate_policy(doc: &str) -> ApiResult<Value> {
    let malformed = |m: &str| ApiError::new(ErrorKind::MalformedPolicyDocument, m.to_string());
    let v: Value = serde_json::from_str(doc).map_err(|_| malformed("This policy contains invalid Json"))?;
    let obj = v.as_object().ok_or_else(|| malformed("This policy contains invalid Json"))?;
    if let Some(ver) = obj.get("Version") {
        if ver != "2012-10-17" && ver != "2008-10-17" {
            return Err(malformed("The policy failed legacy parsing"));
        }
    }
    let statements: Vec<&Value> = match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err(malformed("Syntax errors in policy.")),
    };
    for s in statements {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") | Some("Deny") => {}
            _ => return Err(malformed("Syntax errors in policy.")),
        }
        if s.get("Action").is_none() && s.get("NotAction").is_none() {
            return Err(malformed("Policy statement must contain actions."));
        }
    }
    Ok(v)
}

impl Service {
    fn account(&self) -> &str {
        &self.config.account_id
    }

    pub async fn iam_get_role(&self, name: &str) -> ApiResult<(Role, i64)> {
        let r = self.store.get_record(ROLE, &name.to_ascii_lowercase()).await?.ok_or_else(|| no_role(name))?;
        let role: Role = serde_json::from_str(&r.body).map_err(|e| ApiError::internal(format!("corrupt role: {e}")))?;
        Ok((role, r.version))
    }

    /// The role of this name, if tobira has it.
    pub async fn role_by_name(&self, name: &str) -> ApiResult<Option<Role>> {
        match self.iam_get_role(name).await {
            Ok((r, _)) => Ok(Some(r)),
            Err(e) if e.kind == ErrorKind::NoSuchEntity => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The role an ARN names, if tobira has it.
    pub async fn role_by_arn(&self, arn: &str) -> ApiResult<Option<Role>> {
        let Some(name) = arn.strip_prefix("arn:aws:iam::").and_then(|rest| rest.split_once(":role/")).map(|(_, p)| p.rsplit('/').next().unwrap_or(p)) else {
            return Ok(None);
        };
        match self.iam_get_role(name).await {
            Ok((role, _)) if role.arn == arn => Ok(Some(role)),
            Ok(_) => Ok(None),
            Err(e) if e.kind == ErrorKind::NoSuchEntity => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn save_role(&self, role: &Role, version: i64) -> ApiResult<()> {
        let body = serde_json::to_string(role).map_err(|e| ApiError::internal(e.to_string()))?;
        self.store.update_record(ROLE, &role.role_name.to_ascii_lowercase(), &body, version).await.map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(ErrorKind::ConcurrentModification, "The role was changed concurrently."),
            other => other.into(),
        })
    }

    pub async fn iam_create_role(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("RoleName")?;
        check_name(name, "roleName", 64)?;
        let doc = p.req("AssumeRolePolicyDocument")?;
        validate_policy(doc)?;
        let path = p.get("Path").unwrap_or("/");
        check_path(path)?;
        let max = p.get("MaxSessionDuration").map(|m| m.parse::<i64>().map_err(|_| ApiError::new(ErrorKind::InvalidInput, "MaxSessionDuration must be a number."))).transpose()?.unwrap_or(3600);
        let role = Role {
            role_name: name.to_string(),
            role_id: entity_id(self, "AROA"),
            arn: format!("arn:aws:iam::{}:role{path}{name}", self.account()),
            path: path.to_string(),
            assume_role_policy_document: doc.to_string(),
            description: p.get("Description").map(str::to_string),
            max_session_duration: max,
            create_date: self.now(),
            attached: vec![],
            inline: BTreeMap::new(),
        };
        let body = serde_json::to_string(&role).map_err(|e| ApiError::internal(e.to_string()))?;
        let rec = Record { kind: ROLE.into(), id: name.to_ascii_lowercase(), scope: String::new(), body, created: role.create_date, version: 1 };
        match self.store.insert_record(&rec).await {
            Ok(()) => Ok(json!({ "Role": role_xml(&role) })),
            Err(StoreError::Duplicate(_)) => Err(ApiError::new(ErrorKind::EntityAlreadyExists, format!("Role with name {name} already exists."))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn iam_get_role_op(&self, p: &Params) -> ApiResult<Value> {
        let (role, _) = self.iam_get_role(p.req("RoleName")?).await?;
        Ok(json!({ "Role": role_xml(&role) }))
    }

    pub async fn iam_delete_role(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("RoleName")?;
        let (role, _) = self.iam_get_role(name).await?;
        if !role.attached.is_empty() || !role.inline.is_empty() {
            return Err(ApiError::new(ErrorKind::DeleteConflict, "Cannot delete entity, must detach all policies first."));
        }
        self.store.delete_record(ROLE, &name.to_ascii_lowercase()).await?;
        Ok(json!({}))
    }

    pub async fn iam_list_roles(&self, _p: &Params) -> ApiResult<Value> {
        let recs = self.store.list_records(ROLE, None, None, 1000).await?;
        let roles: Vec<Value> = recs.iter().filter_map(|r| serde_json::from_str::<Role>(&r.body).ok()).map(|r| role_xml(&r)).collect();
        Ok(json!({ "Roles": roles, "IsTruncated": false }))
    }

    pub async fn iam_update_assume_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let doc = p.req("PolicyDocument")?;
        validate_policy(doc)?;
        let (mut role, v) = self.iam_get_role(p.req("RoleName")?).await?;
        role.assume_role_policy_document = doc.to_string();
        self.save_role(&role, v).await?;
        Ok(json!({}))
    }

    pub async fn iam_create_policy(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("PolicyName")?;
        check_name(name, "policyName", 128)?;
        let doc = p.req("PolicyDocument")?;
        validate_policy(doc)?;
        let path = p.get("Path").unwrap_or("/");
        check_path(path)?;
        let policy = Policy {
            policy_name: name.to_string(),
            policy_id: entity_id(self, "ANPA"),
            arn: format!("arn:aws:iam::{}:policy{path}{name}", self.account()),
            path: path.to_string(),
            description: p.get("Description").map(str::to_string),
            document: doc.to_string(),
            create_date: self.now(),
        };
        let body = serde_json::to_string(&policy).map_err(|e| ApiError::internal(e.to_string()))?;
        let rec = Record { kind: POLICY.into(), id: policy.arn.clone(), scope: String::new(), body, created: policy.create_date, version: 1 };
        match self.store.insert_record(&rec).await {
            Ok(()) => Ok(json!({ "Policy": policy_xml(&policy, 0) })),
            Err(StoreError::Duplicate(_)) => Err(ApiError::new(ErrorKind::EntityAlreadyExists, format!("A policy called {name} already exists. Duplicate names are not allowed."))),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_policy(&self, arn: &str) -> ApiResult<Policy> {
        let r = self.store.get_record(POLICY, arn).await?.ok_or_else(|| no_policy(arn))?;
        serde_json::from_str(&r.body).map_err(|e| ApiError::internal(format!("corrupt policy: {e}")))
    }

    async fn attachment_count(&self, arn: &str) -> ApiResult<usize> {
        let roles = self.store.list_records(ROLE, None, None, 10_000).await?;
        Ok(roles.iter().filter_map(|r| serde_json::from_str::<Role>(&r.body).ok()).filter(|r| r.attached.iter().any(|a| a == arn)).count())
    }

    pub async fn iam_get_policy(&self, p: &Params) -> ApiResult<Value> {
        let policy = self.get_policy(p.req("PolicyArn")?).await?;
        let n = self.attachment_count(&policy.arn).await?;
        Ok(json!({ "Policy": policy_xml(&policy, n) }))
    }

    pub async fn iam_get_policy_version(&self, p: &Params) -> ApiResult<Value> {
        let policy = self.get_policy(p.req("PolicyArn")?).await?;
        let v = p.req("VersionId")?;
        if v != "v1" {
            return Err(ApiError::new(ErrorKind::NoSuchEntity, format!("Policy {} version {v} does not exist or is not attachable.", policy.arn)));
        }
        Ok(json!({ "PolicyVersion": {
            "Document": urlencode(&policy.document), "VersionId": "v1", "IsDefaultVersion": true, "CreateDate": iso(policy.create_date),
        } }))
    }

    pub async fn iam_list_policies(&self, _p: &Params) -> ApiResult<Value> {
        let recs = self.store.list_records(POLICY, None, None, 1000).await?;
        let mut out = vec![];
        for r in recs {
            if let Ok(pol) = serde_json::from_str::<Policy>(&r.body) {
                let n = self.attachment_count(&pol.arn).await?;
                out.push(policy_xml(&pol, n));
            }
        }
        Ok(json!({ "Policies": out, "IsTruncated": false }))
    }

    pub async fn iam_delete_policy(&self, p: &Params) -> ApiResult<Value> {
        let arn = p.req("PolicyArn")?;
        self.get_policy(arn).await?;
        if self.attachment_count(arn).await? > 0 {
            return Err(ApiError::new(ErrorKind::DeleteConflict, "Cannot delete a policy attached to entities."));
        }
        self.store.delete_record(POLICY, arn).await?;
        Ok(json!({}))
    }

    pub async fn iam_attach_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let arn = p.req("PolicyArn")?;
        if !arn.starts_with("arn:aws:iam::aws:policy/") {
            self.get_policy(arn).await?;
        }
        let (mut role, v) = self.iam_get_role(p.req("RoleName")?).await?;
        if !role.attached.iter().any(|a| a == arn) {
            role.attached.push(arn.to_string());
            self.save_role(&role, v).await?;
        }
        Ok(json!({}))
    }

    pub async fn iam_detach_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let arn = p.req("PolicyArn")?;
        let (mut role, v) = self.iam_get_role(p.req("RoleName")?).await?;
        let before = role.attached.len();
        role.attached.retain(|a| a != arn);
        if role.attached.len() == before {
            return Err(ApiError::new(ErrorKind::NoSuchEntity, format!("Policy {arn} was not found.")));
        }
        self.save_role(&role, v).await?;
        Ok(json!({}))
    }

    pub async fn iam_list_attached_role_policies(&self, p: &Params) -> ApiResult<Value> {
        let (role, _) = self.iam_get_role(p.req("RoleName")?).await?;
        let list: Vec<Value> = role
            .attached
            .iter()
            .map(|a| json!({ "PolicyName": a.rsplit('/').next().unwrap_or(a), "PolicyArn": a }))
            .collect();
        Ok(json!({ "AttachedPolicies": list, "IsTruncated": false }))
    }

    pub async fn iam_put_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("PolicyName")?;
        check_name(name, "policyName", 128)?;
        let doc = p.req("PolicyDocument")?;
        validate_policy(doc)?;
        let (mut role, v) = self.iam_get_role(p.req("RoleName")?).await?;
        role.inline.insert(name.to_string(), doc.to_string());
        self.save_role(&role, v).await?;
        Ok(json!({}))
    }

    pub async fn iam_get_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("PolicyName")?;
        let (role, _) = self.iam_get_role(p.req("RoleName")?).await?;
        let doc = role.inline.get(name).ok_or_else(|| ApiError::new(ErrorKind::NoSuchEntity, format!("The role policy with name {name} cannot be found.")))?;
        Ok(json!({ "RoleName": role.role_name, "PolicyName": name, "PolicyDocument": urlencode(doc) }))
    }

    pub async fn iam_delete_role_policy(&self, p: &Params) -> ApiResult<Value> {
        let name = p.req("PolicyName")?;
        let (mut role, v) = self.iam_get_role(p.req("RoleName")?).await?;
        if role.inline.remove(name).is_none() {
            return Err(ApiError::new(ErrorKind::NoSuchEntity, format!("The role policy with name {name} cannot be found.")));
        }
        self.save_role(&role, v).await?;
        Ok(json!({}))
    }
}

/// Query-protocol parameters: the flattened form fields of one request.
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    pub fn req(&self, k: &str) -> ApiResult<&str> {
        self.get(k).ok_or_else(|| {
            let mut c = k.chars();
            let lower: String = c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default();
            ApiError::validation(&[format!("Value null at '{lower}' failed to satisfy constraint: Member must not be null")])
        })
    }
}

/// ISO 8601 in UTC, as IAM writes dates.
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn role_xml(r: &Role) -> Value {
    let mut v = json!({
        "Path": r.path, "RoleName": r.role_name, "RoleId": r.role_id, "Arn": r.arn, "CreateDate": iso(r.create_date),
        "AssumeRolePolicyDocument": urlencode(&r.assume_role_policy_document), "MaxSessionDuration": r.max_session_duration,
    });
    if let Some(d) = &r.description {
        v["Description"] = json!(d);
    }
    v
}

fn policy_xml(p: &Policy, attachments: usize) -> Value {
    let mut v = json!({
        "PolicyName": p.policy_name, "PolicyId": p.policy_id, "Arn": p.arn, "Path": p.path, "DefaultVersionId": "v1",
        "AttachmentCount": attachments, "PermissionsBoundaryUsageCount": 0, "IsAttachable": true,
        "CreateDate": iso(p.create_date), "UpdateDate": iso(p.create_date),
    });
    if let Some(d) = &p.description {
        v["Description"] = json!(d);
    }
    v
}
