//! Wiring: builds the store, ports and service from a [`Config`] and serves them.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::crypto::seal::MasterKey;
use crate::ports::delivery::{SmtpSender, StandardDelivery};
use crate::ports::triggers::StandardTriggers;
use crate::ports::{Clock, Inbox, OffsetClock, SystemClock, SystemRandom};
use crate::protocol::{self, AppState};
use crate::service::Service;
use crate::store::Store;

pub struct App {
    pub state: AppState,
    /// The trigger functions' workers, stopped when the server stops.
    pub triggers: Arc<StandardTriggers>,
}

impl App {
    pub async fn build(config: Config) -> Result<App, String> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("cannot create data directory {}: {e}", config.data_dir.display()))?;
        let master = MasterKey::load_or_create(std::env::var("TOBIRA_MASTER_KEY").ok().as_deref(), Some(&config.data_dir))?;
        let store = Store::connect(&config.database_url).await.map_err(|e| format!("cannot open the database: {e}"))?;
        let inbox = Arc::new(Inbox::new(10_000));
        let smtp = match &config.smtp_url {
            Some(url) => Some(SmtpSender::new(url, &config.smtp_from)?),
            None => None,
        };
        let test_clock = config.test_clock.then(|| Arc::new(OffsetClock::default()));
        let clock: Arc<dyn Clock> = match &test_clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let triggers = Arc::new(StandardTriggers::new(config.functions.clone()));
        let config = Arc::new(config);
        let service = Arc::new(
            Service::new(store, clock, Arc::new(SystemRandom), Arc::new(StandardDelivery { inbox: inbox.clone(), smtp }), Arc::new(master), config.clone())
                .with_triggers(triggers.clone()),
        );
        Ok(App { state: AppState { service, inbox, test_clock, config }, triggers })
    }

    /// Serves until `shutdown` resolves. Prints the listening line on stdout once bound.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), String> {
        let config = self.state.config.clone();
        if !config.listen.ip().is_loopback() && config.access_keys.is_empty() && !config.insecure_any_signature {
            return Err(format!(
                "refusing to listen on {} with no access keys: any signature would be accepted. Configure --access-key AKID:SECRET, or pass --insecure-any-signature.",
                config.listen
            ));
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let store_desc = match self.state.service.store.backend() {
            crate::store::Backend::Sqlite => format!("sqlite {}", config.database_url.trim_start_matches("sqlite://")),
            crate::store::Backend::Postgres => "postgres".to_string(),
        };
        println!("tobira listening on http://{addr} (data: {store_desc}, dir {})", config.data_dir.display());
        let own_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let key = config.access_keys.first().map(|(a, s)| (a.as_str(), s.as_str())).unwrap_or(("AKIDTOBIRALOCAL", "tobira-local-secret"));
        self.triggers.set_local_endpoint(&own_url, key);
        tracing::info!(%addr, store = %store_desc, "tobira listening");
        let service = self.state.service.clone();
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
            loop {
                tick.tick().await;
                // Keep expired refresh families a day, so access tokens minted from them still resolve.
                if let Err(e) = service.store.purge_expired(service.now() - 86_400_000).await {
                    tracing::warn!(error = %e, "purging expired rows failed");
                }
            }
        });
        let app = protocol::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string());
        purge.abort();
        self.triggers.shutdown().await;
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// `tobira trigger`: fires a realistic event at a function and returns what it answered.
pub async fn fire_trigger(args: crate::config::TriggerArgs) -> Result<String, String> {
    use crate::ports::triggers::Triggers;
    use crate::service::triggers::sample_event_parts;
    let config = Config::resolve(args.serve)?;
    let version = match args.lambda_version.as_str() {
        "V1_0" => "1",
        "V2_0" => "2",
        "V3_0" => "3",
        other => return Err(format!("--lambda-version must be V1_0, V2_0 or V3_0, not {other}")),
    };
    let arn = if args.function.starts_with("arn:") {
        args.function.clone()
    } else {
        format!("arn:aws:lambda:{}:{}:function:{}", config.region, config.account_id, args.function)
    };
    let app = App::build(config).await?;
    let service = app.state.service.clone();
    let (pool_id, user) = match &args.pool {
        Some(pool_id) => {
            let pool = service.pool(pool_id).await.map_err(|e| e.message)?;
            let user = match &args.user {
                Some(name) => Some(service.find_user(&pool, name).await.map_err(|e| e.message)?.ok_or_else(|| format!("no user {name} in {pool_id}"))?),
                None => None,
            };
            (pool_id.clone(), user)
        }
        None if args.user.is_some() => return Err("--user needs --pool".into()),
        None => (format!("{}_EXAMPLE01", service.config.region), None),
    };
    let (request, response) = sample_event_parts(&args.source, user.as_ref(), version).ok_or_else(|| format!("unknown trigger source {}", args.source))?;
    let event = serde_json::json!({
        "version": version,
        "region": crate::service::region_of_pool(&pool_id),
        "userPoolId": pool_id,
        "userName": user.as_ref().map(|u| u.username.clone()).unwrap_or_else(|| "2f8e4c6a-1b3d-4e5f-8a9b-0c1d2e3f4a5b".into()),
        "callerContext": { "awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "CLIENT_ID_NOT_APPLICABLE" },
        "triggerSource": args.source,
        "request": request,
        "response": response,
    });
    eprintln!("event: {}", serde_json::to_string_pretty(&event).unwrap_or_default());
    let result = app.triggers.invoke(&arn, event, &args.source, &pool_id).await;
    app.triggers.shutdown().await;
    match result {
        Ok(v) => Ok(serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => Err(format!("the function failed: {e}")),
    }
}

/// `tobira sender-key`: the AES-256-GCM key (base64) a pool's custom sender codes are encrypted
/// under. A code is base64 of `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.
pub async fn sender_key(args: crate::config::SenderKeyArgs) -> Result<String, String> {
    use base64::Engine;
    let config = Config::resolve(args.serve)?;
    let app = App::build(config).await?;
    let service = app.state.service.clone();
    let pool = service.pool(&args.pool).await.map_err(|e| e.message)?;
    let kms = pool.config.lambda_config.get("KMSKeyID").and_then(serde_json::Value::as_str).unwrap_or_default();
    if kms.is_empty() {
        return Err(format!("pool {} has no KMSKeyID in its LambdaConfig, so it has no custom sender", args.pool));
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(service.sender_key(&pool.row.id, kms)))
}
