//! The trigger semantics, driven through the service with a scripted trigger port
//! (`FakeTriggers`): which events fire, with what, and what the answers change. The same flows
//! run against real Node.js and Python handlers in tests/clients/js/test/triggers-*.test.mjs.

mod common;

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use tobira::config::Config;
use tobira::crypto::seal::MasterKey;
use tobira::error::ErrorKind;
use tobira::ports::delivery::StandardDelivery;
use tobira::ports::triggers::{FakeTriggers, InvokeError};
use tobira::ports::{Inbox, SystemClock, SystemRandom};
use tobira::protocol::awsjson::dispatch;
use tobira::service::{Ctx, Service};
use tobira::store::Store;

struct Env {
    svc: Service,
    fake: Arc<FakeTriggers>,
    inbox: Arc<Inbox>,
    _dir: common::TempDir,
}

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

async fn env() -> Env {
    let dir = common::TempDir::new("triggers");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.expect("store");
    let inbox = Arc::new(Inbox::new(100));
    let fake = Arc::new(FakeTriggers::new());
    let svc = Service::new(
        store,
        Arc::new(SystemClock),
        Arc::new(SystemRandom),
        Arc::new(StandardDelivery { inbox: inbox.clone(), smtp: None }),
        Arc::new(MasterKey::from_bytes([7u8; 32])),
        Arc::new(Config::for_tests(dir.path().to_path_buf(), Some(url))),
    )
    .with_triggers(fake.clone());
    Env { svc, fake, inbox, _dir: dir }
}

impl Env {
    async fn call(&self, op: &str, body: Value) -> Result<Value, tobira::error::ApiError> {
        dispatch(&self.svc, &Ctx { public_url: "http://127.0.0.1:1".into(), ..Ctx::default() }, op, &body).await
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        self.call(op, body).await.unwrap_or_else(|e| panic!("{op}: {} {}", e.type_name(), e.message))
    }

    /// A pool with `lambda` as its LambdaConfig and a client allowing password and custom sign-in.
    async fn pool(&self, lambda: Value) -> (String, String) {
        let pool = self.ok("CreateUserPool", json!({ "PoolName": "p", "LambdaConfig": lambda, "AutoVerifiedAttributes": ["email"] })).await;
        let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_string();
        let client = self
            .ok(
                "CreateUserPoolClient",
                json!({ "UserPoolId": pool_id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"] }),
            )
            .await;
        (pool_id, client["UserPoolClient"]["ClientId"].as_str().unwrap().to_string())
    }

    fn sources(&self) -> Vec<String> {
        self.fake.calls().into_iter().map(|c| c.source).collect()
    }
}

fn claims(token: &Value) -> Value {
    let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn with_response(event: &Value, response: Value) -> Value {
    let mut e = event.clone();
    e["response"] = response;
    e
}

#[tokio::test]
async fn a_rejected_pre_sign_up_creates_no_user_and_auto_confirm_fires_post_confirmation() {
    let env = env().await;
    let (pool, client) = env.pool(json!({ "PreSignUp": format!("{ARN}pre"), "PostConfirmation": format!("{ARN}post") })).await;
    env.fake.respond("pre", |e| {
        if e["request"]["userAttributes"]["email"].as_str().unwrap_or_default().ends_with("@bad.com") {
            return Err(InvokeError::Handler { message: "Invalid email domain".into(), error_type: Some("Error".into()) });
        }
        Ok(with_response(e, json!({ "autoConfirmUser": true, "autoVerifyEmail": true, "autoVerifyPhone": false })))
    });
    let err = env
        .call("SignUp", json!({ "ClientId": client, "Username": "bob", "Password": "Passw0rd!x", "UserAttributes": [{ "Name": "email", "Value": "b@bad.com" }] }))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UserLambdaValidation);
    assert_eq!(err.message, "PreSignUp failed with error Invalid email domain.");
    assert_eq!(env.call("AdminGetUser", json!({ "UserPoolId": pool, "Username": "bob" })).await.unwrap_err().kind, ErrorKind::UserNotFound);

    let out = env
        .ok(
            "SignUp",
            json!({ "ClientId": client, "Username": "jane", "Password": "Passw0rd!x", "UserAttributes": [{ "Name": "email", "Value": "j@ok.com" }], "ValidationData": [{ "Name": "k", "Value": "v" }], "ClientMetadata": { "m": "1" } }),
        )
        .await;
    assert_eq!(out["UserConfirmed"], json!(true));
    assert!(out.get("CodeDeliveryDetails").is_none(), "no code for an auto-confirmed user");
    assert!(env.inbox.list(Some(&pool), None).is_empty());
    let user = env.ok("AdminGetUser", json!({ "UserPoolId": pool, "Username": "jane" })).await;
    assert_eq!(user["UserStatus"], "CONFIRMED");
    assert!(user["UserAttributes"].as_array().unwrap().contains(&json!({ "Name": "email_verified", "Value": "true" })));

    let calls = env.fake.calls();
    let pre = &calls[1].event;
    assert_eq!(pre["triggerSource"], "PreSignUp_SignUp");
    assert_eq!(pre["userName"], "jane");
    assert_eq!(pre["callerContext"], json!({ "awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client }));
    assert_eq!(pre["request"], json!({ "userAttributes": { "email": "j@ok.com" }, "validationData": { "k": "v" }, "clientMetadata": { "m": "1" } }));
    assert_eq!(pre["response"], json!({ "autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false }));
    let post = &calls[2].event;
    assert_eq!(post["triggerSource"], "PostConfirmation_ConfirmSignUp");
    let attrs = post["request"]["userAttributes"].as_object().unwrap();
    assert_eq!(attrs.keys().take(2).collect::<Vec<_>>(), ["sub", "cognito:user_status"]);
    assert_eq!(attrs["cognito:user_status"], "CONFIRMED");
    assert_eq!(post["request"]["clientMetadata"], json!({ "m": "1" }));
}

#[tokio::test]
async fn a_failing_post_confirmation_leaves_the_user_confirmed() {
    let env = env().await;
    let (pool, client) = env.pool(json!({ "PostConfirmation": format!("{ARN}post") })).await;
    env.fake.respond("post", |_| Err(InvokeError::Handler { message: "db down".into(), error_type: None }));
    env.ok("SignUp", json!({ "ClientId": client, "Username": "jane", "Password": "Passw0rd!x", "UserAttributes": [{ "Name": "email", "Value": "j@ok.com" }] })).await;
    let err = env.call("AdminConfirmSignUp", json!({ "UserPoolId": pool, "Username": "jane" })).await.unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::UserLambdaValidation, "PostConfirmation failed with error db down."));
    let user = env.ok("AdminGetUser", json!({ "UserPoolId": pool, "Username": "jane" })).await;
    assert_eq!(user["UserStatus"], "CONFIRMED");
    assert_eq!(env.call("AdminConfirmSignUp", json!({ "UserPoolId": pool, "Username": "jane" })).await.unwrap_err().kind, ErrorKind::NotAuthorized);
    assert_eq!(env.fake.calls_to("post").len(), 1, "a failed confirmation fires nothing");
}

#[tokio::test]
async fn bad_output_missing_functions_and_crashes_map_to_cognitos_errors() {
    let env = env().await;
    let (_, client) = env.pool(json!({ "PreSignUp": format!("{ARN}pre") })).await;
    let sign_up = |n: &str| json!({ "ClientId": client, "Username": n, "Password": "Passw0rd!x" });
    env.fake.push("pre", Ok(json!("garbage")));
    assert_eq!(env.call("SignUp", sign_up("a")).await.unwrap_err().kind, ErrorKind::InvalidLambdaResponse);
    env.fake.push("pre", Ok(json!({ "response": { "autoConfirmUser": "maybe" } })));
    assert_eq!(env.call("SignUp", sign_up("b")).await.unwrap_err().kind, ErrorKind::InvalidLambdaResponse);
    env.fake.push("pre", Err(InvokeError::Failed("did not answer within 5.00 seconds".into())));
    let e = env.call("SignUp", sign_up("c")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnexpectedLambda);
    assert!(e.message.starts_with("PreSignUp invocation failed due to error"), "{}", e.message);
    env.fake.missing("pre");
    assert_eq!(env.call("SignUp", sign_up("d")).await.unwrap_err().kind, ErrorKind::UnexpectedLambda);
}

#[tokio::test]
async fn pre_token_generation_v1_and_v2_change_the_tokens() {
    let env = env().await;
    let (pool, client) = env.pool(json!({ "PreTokenGeneration": format!("{ARN}v1") })).await;
    env.ok("AdminCreateUser", json!({ "UserPoolId": pool, "Username": "jane", "MessageAction": "SUPPRESS" })).await;
    env.ok("AdminSetUserPassword", json!({ "UserPoolId": pool, "Username": "jane", "Password": "Passw0rd!x", "Permanent": true })).await;
    env.ok("CreateGroup", json!({ "UserPoolId": pool, "GroupName": "g3" })).await;
    env.ok("AdminAddUserToGroup", json!({ "UserPoolId": pool, "Username": "jane", "GroupName": "g3" })).await;
    env.fake.respond("v1", |e| {
        Ok(with_response(
            e,
            json!({ "claimsOverrideDetails": { "claimsToAddOrOverride": { "plan": "pro", "sub": "forged" }, "claimsToSuppress": ["cognito:username", "email_verified"], "groupOverrideDetails": { "groupsToOverride": ["g1", "g2"] } } }),
        ))
    });
    let auth = env.ok("InitiateAuth", json!({ "ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": { "USERNAME": "jane", "PASSWORD": "Passw0rd!x" } })).await;
    let id = claims(&auth["AuthenticationResult"]["IdToken"]);
    let access = claims(&auth["AuthenticationResult"]["AccessToken"]);
    assert_eq!(id["plan"], "pro");
    assert_ne!(id["sub"], "forged", "sub is reserved");
    assert_eq!(id["cognito:username"], "jane", "cognito:username is reserved");
    assert_eq!(id["cognito:groups"], json!(["g1", "g2"]));
    assert_eq!(access["cognito:groups"], json!(["g1", "g2"]));
    assert!(access.get("plan").is_none(), "V1 changes only the ID token");
    let event = &env.fake.calls_to("v1")[0].event;
    assert_eq!(event["triggerSource"], "TokenGeneration_Authentication");
    assert_eq!(event["request"]["groupConfiguration"], json!({ "groupsToOverride": ["g3"], "iamRolesToOverride": [], "preferredRole": null }));
    assert_eq!(event["response"], json!({ "claimsOverrideDetails": null }));
    assert!(event["request"].get("clientMetadata").is_none());

    let refresh = auth["AuthenticationResult"]["RefreshToken"].as_str().unwrap();
    env.ok("InitiateAuth", json!({ "ClientId": client, "AuthFlow": "REFRESH_TOKEN_AUTH", "AuthParameters": { "REFRESH_TOKEN": refresh } })).await;
    assert_eq!(env.fake.calls_to("v1")[1].source, "TokenGeneration_RefreshTokens");

    env.ok(
        "UpdateUserPool",
        json!({ "UserPoolId": pool, "LambdaConfig": { "PreTokenGenerationConfig": { "LambdaVersion": "V2_0", "LambdaArn": format!("{ARN}v2") } } }),
    )
    .await;
    env.fake.respond("v2", |e| {
        Ok(with_response(
            e,
            json!({ "claimsAndScopeOverrideDetails": { "idTokenGeneration": { "claimsToAddOrOverride": { "website": "x" } }, "accessTokenGeneration": { "claimsToAddOrOverride": { "tier": { "n": 1 } }, "scopesToAdd": ["openid"], "scopesToSuppress": [] } } }),
        ))
    });
    let auth = env.ok("InitiateAuth", json!({ "ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": { "USERNAME": "jane", "PASSWORD": "Passw0rd!x" } })).await;
    let id = claims(&auth["AuthenticationResult"]["IdToken"]);
    let access = claims(&auth["AuthenticationResult"]["AccessToken"]);
    assert_eq!(id["website"], "x");
    assert_eq!(access["tier"], json!({ "n": 1 }));
    assert_eq!(access["scope"], "aws.cognito.signin.user.admin openid");
    let event = &env.fake.calls_to("v2")[0].event;
    assert_eq!(event["request"]["scopes"], json!(["aws.cognito.signin.user.admin"]));
    let described = env.ok("DescribeUserPool", json!({ "UserPoolId": pool })).await;
    assert_eq!(described["UserPool"]["LambdaConfig"]["PreTokenGeneration"], json!(format!("{ARN}v2")));
}

#[tokio::test]
async fn custom_auth_runs_define_create_verify_until_define_decides() {
    let env = env().await;
    let (pool, client) = env
        .pool(json!({ "DefineAuthChallenge": format!("{ARN}define"), "CreateAuthChallenge": format!("{ARN}create"), "VerifyAuthChallengeResponse": format!("{ARN}verify") }))
        .await;
    env.ok("AdminCreateUser", json!({ "UserPoolId": pool, "Username": "jane", "MessageAction": "SUPPRESS" })).await;
    env.ok("AdminSetUserPassword", json!({ "UserPoolId": pool, "Username": "jane", "Password": "Passw0rd!x", "Permanent": true })).await;
    env.fake.respond("define", |e| {
        let s = e["request"]["session"].as_array().unwrap();
        let last_ok = s.last().is_some_and(|x| x["challengeResult"] == json!(true));
        let fails = s.iter().filter(|x| x["challengeResult"] == json!(false)).count();
        Ok(with_response(
            e,
            if last_ok {
                json!({ "issueTokens": true, "failAuthentication": false })
            } else if fails >= 2 {
                json!({ "issueTokens": false, "failAuthentication": true })
            } else {
                json!({ "challengeName": "CUSTOM_CHALLENGE", "issueTokens": false, "failAuthentication": false })
            },
        ))
    });
    env.fake.respond("create", |e| {
        Ok(with_response(e, json!({ "publicChallengeParameters": { "q": "2+2" }, "privateChallengeParameters": { "a": "4" }, "challengeMetadata": "MATH" })))
    });
    env.fake.respond("verify", |e| {
        let ok = e["request"]["privateChallengeParameters"]["a"] == e["request"]["challengeAnswer"];
        Ok(with_response(e, json!({ "answerCorrect": ok })))
    });
    let start = env.ok("InitiateAuth", json!({ "ClientId": client, "AuthFlow": "CUSTOM_AUTH", "AuthParameters": { "USERNAME": "jane" } })).await;
    assert_eq!(start["ChallengeName"], "CUSTOM_CHALLENGE");
    assert_eq!(start["ChallengeParameters"], json!({ "q": "2+2", "USERNAME": "jane" }));
    let wrong = env
        .ok("RespondToAuthChallenge", json!({ "ClientId": client, "ChallengeName": "CUSTOM_CHALLENGE", "Session": start["Session"], "ChallengeResponses": { "USERNAME": "jane", "ANSWER": "5" } }))
        .await;
    assert_eq!(wrong["ChallengeName"], "CUSTOM_CHALLENGE");
    let done = env
        .ok("RespondToAuthChallenge", json!({ "ClientId": client, "ChallengeName": "CUSTOM_CHALLENGE", "Session": wrong["Session"], "ChallengeResponses": { "USERNAME": "jane", "ANSWER": "4" } }))
        .await;
    assert!(done["AuthenticationResult"]["IdToken"].is_string());
    assert_eq!(
        env.sources(),
        [
            "DefineAuthChallenge_Authentication",
            "CreateAuthChallenge_Authentication",
            "VerifyAuthChallengeResponse_Authentication",
            "DefineAuthChallenge_Authentication",
            "CreateAuthChallenge_Authentication",
            "VerifyAuthChallengeResponse_Authentication",
            "DefineAuthChallenge_Authentication",
        ]
    );
    let last_define = &env.fake.calls_to("define")[2].event;
    assert_eq!(
        last_define["request"]["session"],
        json!([
            { "challengeName": "CUSTOM_CHALLENGE", "challengeResult": false, "challengeMetadata": "MATH" },
            { "challengeName": "CUSTOM_CHALLENGE", "challengeResult": true, "challengeMetadata": "MATH" },
        ])
    );
    let verify = &env.fake.calls_to("verify")[0].event;
    assert_eq!(verify["request"], json!({ "userAttributes": verify["request"]["userAttributes"], "privateChallengeParameters": { "a": "4" }, "challengeAnswer": "5" }));

    // Two wrong answers: Define fails the sign-in.
    let s = env.ok("InitiateAuth", json!({ "ClientId": client, "AuthFlow": "CUSTOM_AUTH", "AuthParameters": { "USERNAME": "jane" } })).await;
    let s = env
        .ok("RespondToAuthChallenge", json!({ "ClientId": client, "ChallengeName": "CUSTOM_CHALLENGE", "Session": s["Session"], "ChallengeResponses": { "USERNAME": "jane", "ANSWER": "1" } }))
        .await;
    let e = env
        .call("RespondToAuthChallenge", json!({ "ClientId": client, "ChallengeName": "CUSTOM_CHALLENGE", "Session": s["Session"], "ChallengeResponses": { "USERNAME": "jane", "ANSWER": "1" } }))
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotAuthorized, "Incorrect username or password."));
}

#[tokio::test]
async fn user_migration_creates_the_user_once() {
    let env = env().await;
    let (pool, client) = env.pool(json!({ "UserMigration": format!("{ARN}migrate") })).await;
    env.fake.respond("migrate", |e| {
        if e["request"]["password"] == "OldPassw0rd!" {
            Ok(with_response(e, json!({ "userAttributes": { "email": "old@example.com", "email_verified": "true" }, "finalUserStatus": "CONFIRMED", "messageAction": "SUPPRESS" })))
        } else {
            Err(InvokeError::Handler { message: "Bad password".into(), error_type: None })
        }
    });
    let sign_in = |p: &str| json!({ "ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": { "USERNAME": "olduser", "PASSWORD": p }, "ClientMetadata": { "src": "legacy" } });
    let e = env.call("InitiateAuth", sign_in("wrong")).await.unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::UserNotFound, "UserMigration failed with error Bad password."));
    let first = env.ok("InitiateAuth", sign_in("OldPassw0rd!")).await;
    let sub = claims(&first["AuthenticationResult"]["IdToken"])["sub"].clone();
    let second = env.ok("InitiateAuth", sign_in("OldPassw0rd!")).await;
    assert_eq!(claims(&second["AuthenticationResult"]["IdToken"])["sub"], sub);
    let calls = env.fake.calls_to("migrate");
    assert_eq!(calls.len(), 2, "asked for the unknown user only, not once it exists");
    assert_eq!(calls[1].event["userName"], "olduser");
    assert_eq!(calls[1].event["request"], json!({ "password": "OldPassw0rd!", "validationData": { "src": "legacy" }, "userAttributes": null }));
    let user = env.ok("AdminGetUser", json!({ "UserPoolId": pool, "Username": "olduser" })).await;
    assert_eq!(user["UserStatus"], "CONFIRMED");
}

#[tokio::test]
async fn custom_message_rewrites_the_text_and_custom_senders_replace_delivery() {
    let env = env().await;
    let (pool, client) = env.pool(json!({ "CustomMessage": format!("{ARN}msg") })).await;
    env.fake.respond("msg", |e| {
        Ok(with_response(e, json!({ "emailSubject": "Welcome", "emailMessage": format!("Hi {}, your code is {}", e["userName"].as_str().unwrap(), e["request"]["codeParameter"].as_str().unwrap()), "smsMessage": null })))
    });
    env.ok("SignUp", json!({ "ClientId": client, "Username": "jane", "Password": "Passw0rd!x", "UserAttributes": [{ "Name": "email", "Value": "j@ok.com" }] })).await;
    let msgs = env.inbox.list(Some(&pool), None);
    assert_eq!(msgs.len(), 1);
    let code = msgs[0].code.clone().unwrap();
    assert_eq!(msgs[0].subject.as_deref(), Some("Welcome"));
    assert_eq!(msgs[0].message, format!("Hi jane, your code is {code}"));
    assert_eq!(env.fake.calls_to("msg")[0].event["request"]["usernameParameter"], Value::Null);

    env.ok(
        "UpdateUserPool",
        json!({ "UserPoolId": pool, "AutoVerifiedAttributes": ["email"], "LambdaConfig": { "CustomEmailSender": { "LambdaVersion": "V1_0", "LambdaArn": format!("{ARN}sender") }, "KMSKeyID": "arn:aws:kms:us-east-1:123456789012:key/k" } }),
    )
    .await;
    env.ok("ResendConfirmationCode", json!({ "ClientId": client, "Username": "jane" })).await;
    let call = tobira_poll(|| env.fake.calls_to("sender").into_iter().next()).await;
    assert!(call.is_async);
    assert_eq!(call.source, "CustomEmailSender_ResendCode");
    assert_eq!(call.event["request"]["type"], "customEmailSenderRequestV1");
    assert_eq!(env.inbox.list(Some(&pool), None).len(), 1, "the custom sender sends, tobira does not");
    let key = env.svc.sender_key(&pool, "arn:aws:kms:us-east-1:123456789012:key/k");
    let sealed = base64::engine::general_purpose::STANDARD.decode(call.event["request"]["code"].as_str().unwrap()).unwrap();
    let plain = String::from_utf8(tobira::crypto::seal::decrypt_with_key(&key, &sealed).unwrap()).unwrap();
    assert_eq!(plain.len(), 6);
    env.ok("ConfirmSignUp", json!({ "ClientId": client, "Username": "jane", "ConfirmationCode": plain })).await;
}

/// Waits (bounded) for an asynchronous invocation to be recorded.
async fn tobira_poll<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(v) = f() {
            return v;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("the asynchronous invocation never arrived");
}
