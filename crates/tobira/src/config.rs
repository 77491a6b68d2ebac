//! All of tobira's settings, in one place: command-line flags, environment variables
//! (`TOBIRA_*`) and an optional `tobira.toml`, in that order of precedence.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::ports::triggers::FunctionsConfig;

#[derive(Debug, Parser)]
#[command(name = "tobira", version, about = "A Cognito-compatible identity server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Fire a realistic trigger event at a function and print what it returned.
    Trigger(TriggerArgs),
    /// Print the key (base64) that custom sender codes of a pool are encrypted under.
    SenderKey(SenderKeyArgs),
}

#[derive(Debug, Args)]
pub struct SenderKeyArgs {
    /// The user pool id.
    #[arg(long)]
    pub pool: String,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The function: a name (as in a Lambda ARN) or a whole ARN.
    pub function: String,
    /// The trigger source, e.g. PreSignUp_SignUp or TokenGeneration_Authentication.
    #[arg(long)]
    pub source: String,
    /// Take the pool id (and region) of the event from this pool.
    #[arg(long)]
    pub pool: Option<String>,
    /// Fill userName and userAttributes from this user of --pool (read from the data directory).
    #[arg(long)]
    pub user: Option<String>,
    /// The event's PreTokenGeneration version (V1_0, V2_0), for TokenGeneration_* sources.
    #[arg(long, default_value = "V1_0")]
    pub lambda_version: String,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TOBIRA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded database and the master key file.
    #[arg(long, env = "TOBIRA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://FILE` or `postgres://…`; default: SQLite in the data directory.
    #[arg(long, env = "TOBIRA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The URL clients reach tobira at (used for token issuers); default: from each request's Host.
    #[arg(long, env = "TOBIRA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Issuer form: `local` ({public URL}/{poolId}) or `aws` (https://cognito-idp.{region}.amazonaws.com/{poolId}).
    #[arg(long, env = "TOBIRA_ISSUER")]
    pub issuer: Option<IssuerForm>,
    /// Default region, for pools created through unsigned or region-less calls.
    #[arg(long, env = "TOBIRA_REGION")]
    pub region: Option<String>,
    /// The AWS account id used in ARNs.
    #[arg(long, env = "TOBIRA_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Access keys whose SigV4 signatures are verified, as `AKID:SECRET` (repeat or comma-separate).
    /// With none, any well-formed signature is accepted (loopback only, unless --insecure-any-signature).
    #[arg(long = "access-key", env = "TOBIRA_ACCESS_KEYS", value_delimiter = ',')]
    pub access_keys: Vec<String>,
    /// Allow listening on a non-loopback address without access keys.
    #[arg(long, env = "TOBIRA_INSECURE_ANY_SIGNATURE")]
    pub insecure_any_signature: bool,
    /// Also send e-mail through this SMTP relay (`smtp://host:port`).
    #[arg(long, env = "TOBIRA_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// From address for SMTP mail.
    #[arg(long, env = "TOBIRA_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Enable `POST /_tobira/clock` so tests can move time forward.
    #[arg(long, env = "TOBIRA_TEST_CLOCK")]
    pub test_clock: bool,
    /// Configuration file (default: ./tobira.toml if it exists).
    #[arg(long, env = "TOBIRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where trigger functions live: a folder NAME/ per function (default ./functions).
    #[arg(long, env = "TOBIRA_FUNCTIONS_DIR")]
    pub functions_dir: Option<PathBuf>,
    /// The Lambda Invoke API to send functions to that are found nowhere else.
    #[arg(long, env = "TOBIRA_LAMBDA_ENDPOINT")]
    pub lambda_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IssuerForm {
    Local,
    Aws,
}

/// `tobira.toml`: the same settings as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub issuer: Option<IssuerForm>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    #[serde(default)]
    pub access_keys: Vec<String>,
    pub insecure_any_signature: Option<bool>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub test_clock: Option<bool>,
    pub functions_dir: Option<PathBuf>,
    pub lambda_endpoint: Option<String>,
    /// `[functions.NAME]` tables: see [`FunctionsConfig::from_toml`].
    #[serde(default)]
    pub functions: Option<toml::Table>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: Option<String>,
    pub issuer: IssuerForm,
    pub region: String,
    pub account_id: String,
    pub access_keys: Vec<(String, String)>,
    pub insecure_any_signature: bool,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub test_clock: bool,
    /// How trigger functions are found and run.
    pub functions: FunctionsConfig,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9229";

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => Some(load_file(path)?),
            None => {
                let p = PathBuf::from("tobira.toml");
                if p.exists() { Some(load_file(&p)?) } else { None }
            }
        }
        .unwrap_or_default();
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(".tobira"));
        let database_url = args.database_url.or(file.database_url).unwrap_or_else(|| {
            format!("sqlite://{}", data_dir.join("tobira.db").display())
        });
        let mut keys = Vec::new();
        for k in args.access_keys.iter().chain(file.access_keys.iter()) {
            let k = k.trim();
            if k.is_empty() {
                continue;
            }
            let (id, secret) = k.split_once(':').ok_or_else(|| format!("access key {k:?} must be AKID:SECRET"))?;
            keys.push((id.to_string(), secret.to_string()));
        }
        let region = args.region.or(file.region).unwrap_or_else(|| "us-east-1".into());
        if !valid_region(&region) {
            return Err(format!("region {region:?} does not look like an AWS region (e.g. us-east-1)"));
        }
        let account_id = args.account_id.or(file.account_id).unwrap_or_else(|| "123456789012".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account id {account_id:?} must be 12 digits"));
        }
        let public_url = args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string());
        let functions = FunctionsConfig::from_toml(
            file.functions.as_ref(),
            args.functions_dir.or(file.functions_dir).unwrap_or_else(|| PathBuf::from("functions")),
            args.lambda_endpoint.or(file.lambda_endpoint),
            &region,
            &account_id,
        )?;
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address")),
            data_dir,
            database_url,
            public_url,
            issuer: args.issuer.or(file.issuer).unwrap_or(IssuerForm::Local),
            region,
            account_id,
            access_keys: keys,
            insecure_any_signature: args.insecure_any_signature || file.insecure_any_signature.unwrap_or(false),
            smtp_url: args.smtp_url.or(file.smtp_url),
            smtp_from: args.smtp_from.or(file.smtp_from).unwrap_or_else(|| "no-reply@verificationemail.com".into()),
            test_clock: args.test_clock || file.test_clock.unwrap_or(false),
            functions,
        })
    }

    /// A configuration for tests: SQLite in `data_dir`, loopback, test clock on.
    pub fn for_tests(data_dir: PathBuf, database_url: Option<String>) -> Config {
        let database_url = database_url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tobira.db").display()));
        Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir,
            database_url,
            public_url: None,
            issuer: IssuerForm::Local,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            access_keys: vec![],
            insecure_any_signature: false,
            smtp_url: None,
            smtp_from: "no-reply@verificationemail.com".into(),
            test_clock: true,
            functions: FunctionsConfig::default(),
        }
    }
}

fn load_file(path: &std::path::Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `xx-name-N` or `xx-gov-name-N` style region names.
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("tobira-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tobira.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\nregion = \"eu-west-1\"\naccess_keys = [\"AKID:SECRET\"]\nissuer = \"aws\"\n").unwrap();
        let args = ServeArgs { config: Some(file.clone()), listen: Some("127.0.0.1:7001".parse().unwrap()), ..Default::default() };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.listen.port(), 7001, "flag wins");
        assert_eq!(c.region, "eu-west-1", "file wins over default");
        assert_eq!(c.issuer, IssuerForm::Aws);
        assert_eq!(c.access_keys, vec![("AKID".to_string(), "SECRET".to_string())]);
        assert_eq!(c.account_id, "123456789012");
        assert!(c.database_url.starts_with("sqlite://"));
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(file), ..Default::default() }).is_err(), "unknown settings are refused");
        assert!(Config::resolve(ServeArgs { region: Some("mars".into()), config: Some(dir.join("missing.toml")), ..Default::default() }).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn regions() {
        assert!(valid_region("us-east-1"));
        assert!(valid_region("us-gov-west-1"));
        assert!(!valid_region("local"));
        assert!(!valid_region("us-east"));
    }
}
