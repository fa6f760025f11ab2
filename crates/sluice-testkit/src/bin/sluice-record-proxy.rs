//! `sluice-record-proxy`: records a real client's session with a real broker
//! as a fixture (see fixtures/README.md). Stops on SIGINT or SIGTERM and
//! writes the file.
//!
//! ```text
//! sluice-record-proxy --listen 127.0.0.1:19092 --upstream 127.0.0.1:9092 \
//!     --out fixtures/x.json --client "librdkafka 2.x" --broker "tansu 0.6.0" --description "..."
//! ```

use std::process::ExitCode;

use clap::Parser;
use sluice_testkit::proxy::{Recorder, serve};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// Records Kafka exchanges between a client and a broker.
#[derive(Debug, Parser)]
struct Args {
    /// Where clients connect.
    #[arg(long)]
    listen: String,
    /// The real broker.
    #[arg(long)]
    upstream: String,
    /// The fixture file to write.
    #[arg(long)]
    out: String,
    /// The client, for the fixture's header.
    #[arg(long)]
    client: String,
    /// The broker, for the fixture's header.
    #[arg(long)]
    broker: String,
    /// What the session does.
    #[arg(long, default_value = "")]
    description: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice-record-proxy: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let recorder = Recorder::new();
    let proxy = tokio::spawn(serve(listener, args.upstream.clone(), recorder.clone()));
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("sluice-record-proxy: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    eprintln!("sluice-record-proxy: {} -> {}", args.listen, args.upstream);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    proxy.abort();
    let fixture = recorder.fixture(&args.client, &args.broker, &args.description);
    if let Err(e) = fixture.save(&args.out) {
        eprintln!("sluice-record-proxy: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "sluice-record-proxy: wrote {} exchanges to {}",
        fixture.exchanges.len(),
        args.out
    );
    ExitCode::SUCCESS
}
