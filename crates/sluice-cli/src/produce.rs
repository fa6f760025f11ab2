//! `sluice produce`: write stdin's lines to a topic (kcat's `-P`).

use std::collections::VecDeque;
use std::io::BufRead;

use bytes::Bytes;
use clap::Args;
use sluice_produce::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use crate::properties::settings;

/// Deliveries awaited at most this far behind the newest send.
const WINDOW: usize = 50_000;

/// Arguments of `sluice produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
    brokers: Option<String>,
    /// Topic to write to.
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Split each line at the first DELIM into key and value (`\t` for a tab).
    #[arg(short = 'K', long = "key-delimiter")]
    key_delimiter: Option<String>,
    /// Compression codec: none, gzip, snappy, lz4, zstd.
    #[arg(short = 'z', long = "compression")]
    compression: Option<String>,
    /// Write every record to this partition (default: by key, round robin without).
    #[arg(short = 'p', long = "partition")]
    partition: Option<i32>,
    /// A producer configuration property, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

/// Runs `sluice produce`.
pub async fn run(args: ProduceArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ProducerConfig {
        client_id: "sluice-cli".into(),
        ..ProducerConfig::default()
    };
    config.set("linger.ms", "20")?;
    config.set("batch.size", "262144")?;
    if let Some(z) = &args.compression {
        config.set("compression.type", z)?;
    }
    for (key, value) in settings(args.brokers.as_deref(), &args.properties)? {
        if !config.set(key, value)? {
            return Err(sluice_fetch::config::unknown_key(key).into());
        }
    }
    let delimiter = args.key_delimiter.as_deref().map(|d| {
        if d == "\\t" {
            "\t".to_string()
        } else {
            d.to_string()
        }
    });
    let producer = Producer::connect(config).await?;
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let mut record = ProducerRecord {
            topic: args.topic.clone(),
            partition: args.partition,
            ..ProducerRecord::default()
        };
        let split = delimiter.as_deref().and_then(|d| {
            let d = d.as_bytes();
            line.windows(d.len())
                .position(|w| w == d)
                .map(|i| (i, d.len()))
        });
        match split {
            Some((i, n)) => {
                record.key = Some(Bytes::copy_from_slice(&line[..i]));
                record.value = Some(Bytes::copy_from_slice(&line[i + n..]));
            }
            None => record.value = Some(Bytes::copy_from_slice(&line)),
        }
        pending.push_back(producer.send(record));
        if pending.len() >= WINDOW {
            if let Some(d) = pending.pop_front() {
                d.await?;
            }
        }
    }
    producer.flush().await;
    for d in pending {
        d.await?;
    }
    producer.close().await;
    Ok(())
}
