//! `sluice`: consume, produce and batch-process Kafka topics from the shell,
//! following kcat's conventions.
//!
//! ```text
//! sluice consume -b 127.0.0.1:9092 -t events -o earliest -e --json
//! ```

mod batch;
mod consume;
mod examples;
mod group;
mod group_tools;
mod lag;
mod metrics_server;
mod output;
mod produce;
mod properties;
mod topic;
mod watermarks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// What the exit status means (in `sluice --help`).
const EXIT_CODES: &str = "\
Configuration: `-X key=value` on any subcommand; `-F FILE` (or SLUICE_CONFIG=FILE) reads
librdkafka-style key=value lines first; SLUICE_ and a security key in capitals
(SLUICE_SASL_PASSWORD, SLUICE_SECURITY_PROTOCOL, SLUICE_SSL_CA_LOCATION...) sets it from the
environment. -X wins over the environment, which wins over -F. SLUICE_BROKERS stands for -b.

Exit status:
  0  success
  1  the command failed: the broker refused or could not be reached, bad configuration
     (an unknown key or bad value), authentication or TLS failed, a batch failed after its
     retries; the reason is on stderr, prefixed `sluice:`
  2  bad usage: an unknown flag or a missing argument (the usage is printed)
A run stopped by a signal (Ctrl-C) exits as the signal says (130 in most shells); what was
committed before it stays committed, and records after the last commit are read again.";

/// Kafka from the shell, in pure Rust.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, after_long_help = EXIT_CODES)]
struct Cli {
    /// Read configuration properties from FILE first (`key=value` lines,
    /// `#` comments; kcat's -F). Default: $SLUICE_CONFIG if set.
    #[arg(short = 'F', long = "config-file", global = true, value_name = "FILE")]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print records of a topic to stdout.
    #[command(after_help = examples::CONSUME)]
    Consume(consume::ConsumeArgs),
    /// Write stdin's lines to a topic.
    #[command(after_help = examples::PRODUCE)]
    Produce(produce::ProduceArgs),
    /// Consume as a group, compute over batches, write a result per batch.
    #[command(after_help = examples::BATCH)]
    Batch(batch::BatchArgs),
    /// Show a consumer group's committed offsets, lag and owners.
    #[command(after_help = examples::LAG)]
    Lag(lag::LagArgs),
    /// Create, delete, list or describe topics.
    #[command(after_help = examples::TOPIC)]
    Topic(topic::TopicArgs),
    /// List, describe, reset the offsets of, or delete consumer groups.
    #[command(after_help = examples::GROUP)]
    Group(group_tools::GroupArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Into memory first: clap_complete panics on a write error (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "sluice", &mut script);
        return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice: cannot write the completion script: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = properties::load(cli.config_file.as_deref()) {
        eprintln!("sluice: {e}");
        return ExitCode::FAILURE;
    }
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
            Command::Group(args) => group_tools::run(args).await,
            Command::Completions { .. } => Ok(()),
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
