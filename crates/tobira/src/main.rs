use clap::Parser;
use tobira::config::{Cli, Command, Config};

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TOBIRA_LOG").unwrap_or_else(|_| "tobira=info".into()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tobira: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let config = Config::resolve(args)?;
                let app = tobira::app::App::build(config).await?;
                app.serve(tobira::app::shutdown_signal()).await
            }
            Command::SenderKey(args) => {
                println!("{}", tobira::app::sender_key(args).await?);
                Ok(())
            }
            Command::Trigger(args) => {
                let out = tobira::app::fire_trigger(args).await?;
                println!("{out}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tobira: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
