//! `sluice-bench-broker`: serves pre-encoded record batches from memory for
//! throughput benchmarks (see `sluice_testkit::bench_broker`). Prints the
//! bootstrap address on stdout once it listens.
//!
//! ```text
//! sluice-bench-broker --records 1000000 --size 100 --partitions 8 --codec lz4 [--port 0]
//! ```

use clap::Parser;
use sluice_testkit::bench_broker::{BenchBroker, DataSet};
use sluice_wire::records::Compression;

/// Serve a generated topic `bench` from memory.
#[derive(Debug, Parser)]
struct Args {
    /// Records in all.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Value bytes per record.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Partitions.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Batch codec: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    codec: Compression,
    /// Bytes of values per batch (the batch's record count follows).
    #[arg(long, default_value_t = 256 * 1024)]
    batch_bytes: usize,
    /// Port on 127.0.0.1 (0: any).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let set = DataSet {
        records: args.records,
        record_size: args.size,
        partitions: args.partitions.max(1),
        compression: args.codec,
        batch_records: (args.batch_bytes / args.size.max(1)).max(1),
    };
    let broker = BenchBroker::start(set, &format!("127.0.0.1:{}", args.port)).await?;
    println!("{}", broker.addr());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
