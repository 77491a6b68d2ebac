//! The AWS query protocol (IAM and STS): a form-encoded `POST /` with `Action` and `Version`,
//! answered in XML. Which service a request is for comes from its `Version`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::service::iam::Params;
use crate::service::{Ctx, Service};

pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_VERSION: &str = "2011-06-15";
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    fn namespace(self) -> &'static str {
        match self {
            QueryService::Iam => IAM_NS,
            QueryService::Sts => STS_NS,
        }
    }
}

/// A decoded query request.
pub struct QueryRequest {
    pub service: QueryService,
    pub action: String,
    pub params: Params,
}

/// Operations AWS serves without a signature.
pub fn unsigned(action: &str) -> bool {
    action == "AssumeRoleWithWebIdentity" || action == "AssumeRoleWithSAML"
}

pub fn parse(body: &[u8], signed_service: Option<&str>) -> ApiResult<QueryRequest> {
    let mut params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.remove("Action").ok_or_else(|| ApiError::new(ErrorKind::InvalidParameter, "Missing Action."))?;
    let version = params.remove("Version");
    let service = match (version.as_deref(), signed_service) {
        (Some(IAM_VERSION), _) | (None, Some("iam")) => QueryService::Iam,
        (Some(STS_VERSION), _) | (None, Some("sts")) => QueryService::Sts,
        _ => return Err(ApiError::new(ErrorKind::InvalidParameter, format!("Unsupported Version {:?}: tobira serves IAM ({IAM_VERSION}) and STS ({STS_VERSION}).", version.unwrap_or_default()))),
    };
    Ok(QueryRequest { service, action, params: Params(params) })
}

pub async fn dispatch(svc: &Service, ctx: &Ctx, q: &QueryRequest) -> ApiResult<Value> {
    let p = &q.params;
    match (q.service, q.action.as_str()) {
        (QueryService::Iam, "CreateRole") => svc.iam_create_role(p).await,
        (QueryService::Iam, "GetRole") => svc.iam_get_role_op(p).await,
        (QueryService::Iam, "ListRoles") => svc.iam_list_roles(p).await,
        (QueryService::Iam, "DeleteRole") => svc.iam_delete_role(p).await,
        (QueryService::Iam, "UpdateAssumeRolePolicy") => svc.iam_update_assume_role_policy(p).await,
        (QueryService::Iam, "CreatePolicy") => svc.iam_create_policy(p).await,
        (QueryService::Iam, "GetPolicy") => svc.iam_get_policy(p).await,
        (QueryService::Iam, "GetPolicyVersion") => svc.iam_get_policy_version(p).await,
        (QueryService::Iam, "ListPolicies") => svc.iam_list_policies(p).await,
        (QueryService::Iam, "DeletePolicy") => svc.iam_delete_policy(p).await,
        (QueryService::Iam, "AttachRolePolicy") => svc.iam_attach_role_policy(p).await,
        (QueryService::Iam, "DetachRolePolicy") => svc.iam_detach_role_policy(p).await,
        (QueryService::Iam, "ListAttachedRolePolicies") => svc.iam_list_attached_role_policies(p).await,
        (QueryService::Iam, "PutRolePolicy") => svc.iam_put_role_policy(p).await,
        (QueryService::Iam, "GetRolePolicy") => svc.iam_get_role_policy(p).await,
        (QueryService::Iam, "DeleteRolePolicy") => svc.iam_delete_role_policy(p).await,
        (QueryService::Sts, "GetCallerIdentity") => svc.sts_get_caller_identity(ctx, p).await,
        (QueryService::Sts, "AssumeRoleWithWebIdentity") => svc.sts_assume_role_with_web_identity(ctx, p).await,
        (QueryService::Sts, "AssumeRole") => svc.sts_assume_role(ctx, p).await,
        (_, other) => Err(ApiError::new(ErrorKind::InvalidAction, format!("Could not find operation {other} for version {}", match q.service {
            QueryService::Iam => IAM_VERSION,
            QueryService::Sts => STS_VERSION,
        }))),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if v.is_null() {
                    continue;
                }
                out.push_str(&format!("<{k}>"));
                write_value(out, v);
                out.push_str(&format!("</{k}>"));
            }
        }
        Value::Array(a) => {
            for item in a {
                out.push_str("<member>");
                write_value(out, item);
                out.push_str("</member>");
            }
        }
        Value::String(s) => out.push_str(&escape(s)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Null => {}
    }
}

/// `<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>…` (no Result element
/// for operations without output).
pub fn success_xml(service: QueryService, action: &str, v: &Value, request_id: &str) -> String {
    let mut out = format!("<{action}Response xmlns=\"{}\">", service.namespace());
    if v.as_object().is_some_and(|m| !m.is_empty()) {
        out.push_str(&format!("<{action}Result>"));
        write_value(&mut out, v);
        out.push_str(&format!("</{action}Result>"));
    }
    out.push_str(&format!("<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>", escape(request_id)));
    out
}

/// The query-protocol code of an error.
pub fn error_code(e: &ApiError) -> &'static str {
    match e.kind {
        ErrorKind::UnrecognizedClient => "InvalidClientTokenId",
        ErrorKind::InvalidSignature => "SignatureDoesNotMatch",
        ErrorKind::ExpiredToken => "ExpiredToken",
        ErrorKind::MissingAuthenticationToken => "MissingAuthenticationToken",
        ErrorKind::AccessDenied => "AccessDenied",
        ErrorKind::InvalidParameter => "ValidationError",
        ErrorKind::ConcurrentModification => "ConcurrentModification",
        ErrorKind::InternalError => "ServiceFailure",
        ErrorKind::InvalidAction => "InvalidAction",
        other => other.type_name(),
    }
}

pub fn error_xml(service: Option<QueryService>, e: &ApiError, request_id: &str) -> String {
    let kind = if e.kind.status() >= 500 { "Receiver" } else { "Sender" };
    let ns = service.map(|s| format!(" xmlns=\"{}\"", s.namespace())).unwrap_or_default();
    format!(
        "<ErrorResponse{ns}><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        error_code(e),
        escape(&e.message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_shapes() {
        let xml = success_xml(QueryService::Sts, "GetCallerIdentity", &json!({ "UserId": "u", "Account": "1", "Arn": "a<b" }), "rid");
        assert_eq!(
            xml,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><UserId>u</UserId><Account>1</Account><Arn>a&lt;b</Arn></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        );
        let empty = success_xml(QueryService::Iam, "AttachRolePolicy", &json!({}), "r");
        assert!(!empty.contains("AttachRolePolicyResult"));
        let list = success_xml(QueryService::Iam, "ListRoles", &json!({ "Roles": [{ "RoleName": "x" }] }), "r");
        assert!(list.contains("<Roles><member><RoleName>x</RoleName></member></Roles>"));
        let err = error_xml(Some(QueryService::Iam), &ApiError::new(ErrorKind::NoSuchEntity, "gone"), "r");
        assert!(err.contains("<Code>NoSuchEntity</Code><Message>gone</Message>"));
    }

    #[test]
    fn parse_picks_the_service_by_version() {
        let q = parse(b"Action=GetCallerIdentity&Version=2011-06-15", None).unwrap();
        assert_eq!((q.service, q.action.as_str()), (QueryService::Sts, "GetCallerIdentity"));
        let q = parse(b"Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%7D", None).unwrap();
        assert_eq!(q.params.get("AssumeRolePolicyDocument"), Some("{}"));
        assert!(parse(b"Version=2010-05-08", None).is_err());
    }
}
