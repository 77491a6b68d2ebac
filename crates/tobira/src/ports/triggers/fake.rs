//! A [`Triggers`] for tests: scripted answers per function, every call recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{parse_arn, InvokeError, Invocation, Ring, Triggers};

type Script = Arc<dyn Fn(&Value) -> Result<Value, InvokeError> + Send + Sync>;

/// One call a [`FakeTriggers`] received.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCall {
    pub arn: String,
    /// The function name from the ARN (the ARN itself when it does not parse).
    pub function: String,
    pub event: Value,
    pub source: String,
    pub pool_id: String,
    /// Made through `invoke_async`.
    pub is_async: bool,
}

/// Answers, for each function name: first any queued one-shot answers ([`FakeTriggers::push`]),
/// then its script ([`FakeTriggers::respond`]), and otherwise the event unchanged (what a
/// do-nothing Cognito trigger returns). Unparseable ARNs answer [`InvokeError::NotFound`].
#[derive(Default)]
pub struct FakeTriggers {
    scripts: Mutex<HashMap<String, Script>>,
    queued: Mutex<HashMap<String, VecDeque<Result<Value, InvokeError>>>>,
    missing: Mutex<Vec<String>>,
    calls: Mutex<Vec<FakeCall>>,
    ring: Option<Ring>,
}

impl FakeTriggers {
    pub fn new() -> Self {
        FakeTriggers { ring: Some(Ring::new(super::RING_CAPACITY)), ..Default::default() }
    }

    /// Answers every call of `function` (a name or an ARN) with `f(event)`.
    pub fn respond(&self, function: &str, f: impl Fn(&Value) -> Result<Value, InvokeError> + Send + Sync + 'static) -> &Self {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner()).insert(name_of(function), Arc::new(f));
        self
    }

    /// Answers the next call of `function` with `answer` (queued, one-shot, before any script).
    pub fn push(&self, function: &str, answer: Result<Value, InvokeError>) -> &Self {
        self.queued.lock().unwrap_or_else(|p| p.into_inner()).entry(name_of(function)).or_default().push_back(answer);
        self
    }

    /// Makes `function` answer [`InvokeError::NotFound`].
    pub fn missing(&self, function: &str) -> &Self {
        self.missing.lock().unwrap_or_else(|p| p.into_inner()).push(name_of(function));
        self
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The calls of one function (a name or an ARN).
    pub fn calls_to(&self, function: &str) -> Vec<FakeCall> {
        let name = name_of(function);
        self.calls().into_iter().filter(|c| c.function == name).collect()
    }

    fn answer(&self, arn: &str, event: Value, source: &str, pool_id: &str, is_async: bool) -> Result<Value, InvokeError> {
        let started = std::time::Instant::now();
        let started_ms = super::now_ms();
        let function = parse_arn(arn).map(|f| f.name).unwrap_or_else(|| arn.to_string());
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(FakeCall {
            arn: arn.to_string(),
            function: function.clone(),
            event: event.clone(),
            source: source.to_string(),
            pool_id: pool_id.to_string(),
            is_async,
        });
        let r = if parse_arn(arn).is_none() {
            Err(InvokeError::NotFound(format!("{arn} is not a Lambda function ARN")))
        } else if self.missing.lock().unwrap_or_else(|p| p.into_inner()).contains(&function) {
            Err(InvokeError::NotFound(format!("function {function} not found")))
        } else if let Some(a) = self.queued.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&function).and_then(VecDeque::pop_front) {
            a
        } else {
            let script = self.scripts.lock().unwrap_or_else(|p| p.into_inner()).get(&function).cloned();
            match script {
                Some(f) => f(&event),
                None => Ok(event),
            }
        };
        if let Some(ring) = &self.ring {
            let (outcome, error) = match &r {
                Ok(_) => ("ok", None),
                Err(e @ InvokeError::Handler { .. }) => ("handler_error", Some(e.to_string())),
                Err(InvokeError::Failed(m)) => ("failed", Some(m.clone())),
                Err(InvokeError::NotFound(m)) => ("not_found", Some(m.clone())),
            };
            ring.push(Invocation {
                function,
                source: source.to_string(),
                pool_id: pool_id.to_string(),
                request_id: super::new_request_id(),
                started_ms,
                duration_ms: started.elapsed().as_millis() as u64,
                outcome: outcome.to_string(),
                error,
            });
        }
        r
    }
}

fn name_of(function: &str) -> String {
    parse_arn(function).map(|f| f.name).unwrap_or_else(|| function.to_string())
}

#[async_trait::async_trait]
impl Triggers for FakeTriggers {
    async fn invoke(&self, arn: &str, event: Value, source: &str, pool_id: &str) -> Result<Value, InvokeError> {
        self.answer(arn, event, source, pool_id, false)
    }

    async fn invoke_async(&self, arn: &str, event: Value, source: &str, pool_id: &str) {
        let _ = self.answer(arn, event, source, pool_id, true);
    }

    fn invocations(&self, pool_id: Option<&str>) -> Vec<Invocation> {
        self.ring.as_ref().map(|r| r.list(pool_id)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:pre";

    #[tokio::test]
    async fn scripted_answers_and_recorded_calls() {
        let t = FakeTriggers::new();
        assert_eq!(t.invoke(ARN, json!({"a": 1}), "PreSignUp_SignUp", "p").await.unwrap(), json!({"a": 1}), "echo by default");
        t.respond("pre", |e| {
            let mut e = e.clone();
            e["response"] = json!({"autoConfirmUser": true});
            Ok(e)
        });
        t.push(ARN, Err(InvokeError::Handler { message: "nope".into(), error_type: Some("Error".into()) }));
        assert!(matches!(t.invoke(ARN, json!({}), "PreSignUp_SignUp", "p").await, Err(InvokeError::Handler { .. })));
        assert_eq!(t.invoke(ARN, json!({}), "PreSignUp_SignUp", "p").await.unwrap()["response"]["autoConfirmUser"], true);
        t.invoke_async(ARN, json!({}), "CustomMessage_SignUp", "q").await;
        t.missing("gone");
        assert!(matches!(t.invoke("arn:aws:lambda:us-east-1:123456789012:function:gone", json!({}), "s", "p").await, Err(InvokeError::NotFound(_))));
        assert!(matches!(t.invoke("bogus", json!({}), "s", "p").await, Err(InvokeError::NotFound(_))));
        assert_eq!(t.calls_to("pre").len(), 4);
        assert!(t.calls_to(ARN)[3].is_async);
        assert_eq!(t.invocations(Some("q")).len(), 1);
        assert_eq!(t.invocations(None).iter().map(|i| i.outcome.as_str()).collect::<Vec<_>>(), ["ok", "handler_error", "ok", "ok", "not_found", "not_found"]);
    }
}
