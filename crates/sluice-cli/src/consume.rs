//! `sluice consume`: print a topic's records (kcat's `-C`).

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::time::Duration;

use clap::Args;
use sluice_batch::Metrics;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, FetchConfig, FetchError, PolledBatch, TopicPartition};

use crate::output::{Format, write_record_ref};
use crate::properties::settings;

/// Arguments of `sluice consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
    pub(crate) brokers: Option<String>,
    /// Topic to consume (repeatable with -G).
    #[arg(short = 't', long = "topic", required = true)]
    pub(crate) topics: Vec<String>,
    /// Join this consumer group and consume what it assigns (-o then sets
    /// auto.offset.reset: earliest or latest).
    #[arg(short = 'G', long = "group")]
    pub(crate) group: Option<String>,
    /// Only this partition (default: all of the topic's partitions).
    #[arg(short = 'p', long = "partition")]
    pub(crate) partition: Option<i32>,
    /// Where to start: earliest (beginning), latest (end), an absolute OFFSET,
    /// -N (N before the end), or ts=MILLIS (first record at or after it).
    #[arg(
        short = 'o',
        long = "offset",
        default_value = "earliest",
        allow_hyphen_values = true
    )]
    pub(crate) offset: String,
    /// Exit after COUNT records.
    #[arg(short = 'c', long = "count")]
    pub(crate) count: Option<u64>,
    /// Exit once every partition has reached the end it had at start (with
    /// -G: commit and leave the group once the assigned partitions are at
    /// their end).
    #[arg(short = 'e', long = "exit")]
    pub(crate) exit_at_end: bool,
    /// A consumer configuration property, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub(crate) properties: Vec<String>,
    /// One JSON object a line instead of raw values.
    #[arg(long)]
    pub(crate) json: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while running
    /// (`127.0.0.1:9464`; port 0 picks a free one). The bound address is
    /// printed to stderr as `sluice: metrics on http://ADDR/metrics`; the
    /// names are listed in the docs of `sluice_batch::render_prometheus`.
    #[arg(long = "metrics-addr", value_name = "ADDR")]
    pub(crate) metrics_addr: Option<String>,
}

/// The `-o` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Spec(OffsetSpec),
    Offset(i64),
    FromEnd(i64),
}

fn parse_start(s: &str) -> Result<Start, FetchError> {
    let bad = || FetchError::Config {
        key: "-o".into(),
        message: format!("bad offset {s:?}: expected earliest, latest, OFFSET, -N or ts=MILLIS"),
    };
    Ok(match s {
        "earliest" | "beginning" => Start::Spec(OffsetSpec::Earliest),
        "latest" | "end" => Start::Spec(OffsetSpec::Latest),
        _ => {
            if let Some(ts) = s.strip_prefix("ts=").or_else(|| s.strip_prefix("s@")) {
                Start::Spec(OffsetSpec::Timestamp(ts.parse().map_err(|_| bad())?))
            } else if let Some(n) = s.strip_prefix('-') {
                Start::FromEnd(n.parse().map_err(|_| bad())?)
            } else {
                Start::Offset(s.parse().map_err(|_| bad())?)
            }
        }
    })
}

/// The properties to apply: `-F`, the environment, `-X`, then `-b`.
pub(crate) fn properties(args: &ConsumeArgs) -> Result<Vec<(&str, &str)>, FetchError> {
    settings(args.brokers.as_deref(), &args.properties)
}

/// The fetch configuration from `-b` and the `-X` keys it knows; the others
/// are handed to `other` (`Ok(false)` there means unknown: an error).
pub(crate) fn config(
    args: &ConsumeArgs,
    mut other: impl FnMut(&str, &str) -> Result<bool, Box<dyn std::error::Error>>,
) -> Result<FetchConfig, Box<dyn std::error::Error>> {
    let mut config = FetchConfig {
        client_id: "sluice-cli".into(),
        ..FetchConfig::default()
    };
    for (key, value) in properties(args)? {
        if !config.set(key, value)? && !other(key, value)? {
            return Err(sluice_fetch::config::unknown_key(key).into());
        }
    }
    Ok(config)
}

/// Runs `sluice consume`.
pub async fn run(args: ConsumeArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.group.is_some() {
        return crate::group::run(args).await;
    }
    let start = parse_start(&args.offset)?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Value
    };
    let [topic] = args.topics.as_slice() else {
        return Err("consume without -G takes one topic (-t)".into());
    };
    let fetch = config(&args, |_, _| Ok(false))?;
    let mut metrics = crate::metrics_server::start(args.metrics_addr.as_deref()).await?;
    let mut client = FetchClient::connect(fetch).await?;
    let mut partitions = client.partitions_for(topic).await?;
    if let Some(p) = args.partition {
        partitions.retain(|tp| tp.partition == p);
        if partitions.is_empty() {
            return Err(FetchError::UnknownTopic(format!("{topic} partition {p}")).into());
        }
    }
    client.assign(partitions.clone());

    let ends: HashMap<TopicPartition, i64> =
        if args.exit_at_end || matches!(start, Start::FromEnd(_)) {
            client
                .list_offsets(&partitions, OffsetSpec::Latest)
                .await?
                .into_iter()
                .map(|(tp, o)| (tp, o.offset))
                .collect()
        } else {
            HashMap::new()
        };
    for tp in &partitions {
        match start {
            Start::Spec(spec) => client.seek_to(tp, spec)?,
            Start::Offset(o) => client.seek(tp, o)?,
            Start::FromEnd(n) => {
                client.seek(tp, (ends.get(tp).copied().unwrap_or(0) - n).max(0))?
            }
        }
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut printed: u64 = 0;
    // The end of each partition as seen at start: the larger of ListOffsets' answer and the
    // high watermark in the partition's first fetch response (tansu 0.6 answers ListOffsets
    // "latest" with the last batch's base offset + 1, short of the real end).
    let mut ends: HashMap<TopicPartition, (i64, bool)> = ends
        .into_iter()
        .map(|(tp, end)| (tp, (end, false)))
        .collect();
    let mut batch = PolledBatch::new();
    loop {
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
        if args.exit_at_end {
            for (tp, (end, seen)) in ends.iter_mut() {
                let hw = client.fetcher().state(tp).map_or(-1, |s| s.high_watermark);
                if !*seen && hw >= 0 {
                    *end = (*end).max(hw);
                    *seen = true;
                }
            }
            let at_end = |tp: &TopicPartition| {
                let (end, seen) = ends.get(tp).copied().unwrap_or((0, false));
                seen && client.position(tp).is_some_and(|p| p >= end)
            };
            if partitions.iter().all(at_end) {
                break;
            }
        }
        // The records as views of the fetched buffers, printed straight from
        // them; the batch is handed back each poll, so polling allocates nothing.
        client
            .poll_batch_into(Duration::from_millis(500), &mut batch)
            .await?;
        if let Some(p) = metrics.as_mut().filter(|p| p.due()) {
            p.publish(Metrics::fetch(client.stats()));
        }
        if batch.is_empty() {
            out.flush().map_err(io_error)?;
        }
        for record in &batch {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            write_record_ref(&mut out, record, format).map_err(io_error)?;
            printed += 1;
        }
    }
    out.flush().map_err(io_error)?;
    drop(out);
    client.close().await;
    Ok(())
}

pub(crate) fn io_error(e: std::io::Error) -> Box<dyn std::error::Error> {
    format!("writing to stdout: {e}").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_kcat() {
        assert_eq!(
            parse_start("earliest").unwrap(),
            Start::Spec(OffsetSpec::Earliest)
        );
        assert_eq!(
            parse_start("beginning").unwrap(),
            Start::Spec(OffsetSpec::Earliest)
        );
        assert_eq!(
            parse_start("latest").unwrap(),
            Start::Spec(OffsetSpec::Latest)
        );
        assert_eq!(parse_start("end").unwrap(), Start::Spec(OffsetSpec::Latest));
        assert_eq!(parse_start("42").unwrap(), Start::Offset(42));
        assert_eq!(parse_start("-10").unwrap(), Start::FromEnd(10));
        assert_eq!(
            parse_start("ts=1700000000000").unwrap(),
            Start::Spec(OffsetSpec::Timestamp(1_700_000_000_000))
        );
        assert!(parse_start("soon").is_err());
    }
}
