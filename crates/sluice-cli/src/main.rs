//! `sluice`: consume, produce and batch-process Kafka topics from the shell,
//! following kcat's conventions.
//!
//! ```text
//! sluice consume -b 127.0.0.1:9092 -t events -o earliest -e --json
//! ```

mod batch;
mod consume;
mod group;
mod lag;
mod metrics_server;
mod output;
mod produce;
mod properties;
mod topic;
mod watermarks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kafka from the shell, in pure Rust.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print records of a topic to stdout.
    Consume(consume::ConsumeArgs),
    /// Write stdin's lines to a topic.
    Produce(produce::ProduceArgs),
    /// Consume as a group, compute over batches, write a result per batch.
    Batch(batch::BatchArgs),
    /// Show a consumer group's committed offsets, lag and owners.
    Lag(lag::LagArgs),
    /// Create or delete topics.
    Topic(topic::TopicArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Consume(args) => consume::run(args).await,
            Command::Produce(args) => produce::run(args).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Lag(args) => lag::run(args).await,
            Command::Topic(args) => topic::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
