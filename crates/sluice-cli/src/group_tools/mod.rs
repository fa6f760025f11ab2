//! `sluice group list|describe|reset-offsets|delete`: what operators reach
//! for in `kafka-consumer-groups.sh`, on sluice_group's admin functions.

mod datetime;
mod describe;
mod reset;

use std::io::Write;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;
use sluice_group::GroupError;
use sluice_group::admin::{GroupView, delete_groups, inactive, list_groups, view_group};
use sluice_group::metrics::GroupMetrics;
use sluice_wire::KafkaCode;

use crate::topic::client;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `sluice group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    action: Action,
}

/// Where the cluster is and how to connect.
#[derive(Debug, Args)]
struct Connect {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
    brokers: Option<String>,
    /// A client configuration property, `key=value` (repeatable):
    /// security.protocol, sasl.*, ssl.*, request.timeout.ms...
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the cluster's groups with their state and protocol type.
    ///
    /// Every broker Metadata names is asked (each answers for the groups it
    /// coordinates), and the answers merged.
    #[command(after_help = "Example:\n  sluice group list -b 127.0.0.1:9092 --json")]
    List {
        #[command(flatten)]
        connect: Connect,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe a group: state, assignor, members, offsets and lag.
    ///
    /// Shows the state, protocol type, assignor, the members (member id,
    /// client id, host, partitions), and per partition the committed offset,
    /// high watermark, lag and owner. A group with no members and no
    /// committed offsets is reported as unknown (exit 1).
    #[command(after_help = "Example:\n  sluice group describe -b 127.0.0.1:9092 my-group --json")]
    Describe {
        #[command(flatten)]
        connect: Connect,
        /// The group.
        group: String,
        /// One JSON document instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Reset an inactive group's committed offsets (kafka-consumer-groups --reset-offsets).
    ///
    /// Targets are clamped into [log start, high watermark]; the table
    /// GROUP/TOPIC/PARTITION/OLD/NEW is printed and, without --dry-run,
    /// committed. Refused (exit 1), even with --dry-run, while the group has
    /// members: stop its consumers first.
    #[command(after_help = "Examples:\n  \
        sluice group reset-offsets -b 127.0.0.1:9092 my-group -t events --to-earliest --dry-run\n  \
        sluice group reset-offsets -b 127.0.0.1:9092 my-group -t events:0,1 --shift-by -100\n  \
        sluice group reset-offsets -b 127.0.0.1:9092 my-group -t events --to-datetime 2026-12-01T10:00:00Z")]
    #[command(group(ArgGroup::new("target").required(true).args(
        ["to_earliest", "to_latest", "to_datetime", "to_offset", "shift_by"]
    )))]
    ResetOffsets {
        #[command(flatten)]
        connect: Connect,
        /// The group.
        group: String,
        /// A topic, all its partitions, or `TOPIC:P[,P...]` for some
        /// (repeatable).
        #[arg(
            short = 't',
            long = "topic",
            required = true,
            value_name = "TOPIC[:PARTITIONS]"
        )]
        topics: Vec<String>,
        /// To each partition's log start offset.
        #[arg(long)]
        to_earliest: bool,
        /// To each partition's high watermark (the end: nothing left to read).
        #[arg(long)]
        to_latest: bool,
        /// To the first offset whose record is at or after this time:
        /// `2026-12-01T10:00:00Z`, `...+02:00`, or milliseconds since the
        /// epoch (no zone: UTC). A time after the last record gives the end.
        #[arg(long, value_name = "DATETIME")]
        to_datetime: Option<String>,
        /// To this offset.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        to_offset: Option<i64>,
        /// By this many records from the committed offset (negative: back).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        shift_by: Option<i64>,
        /// Print what would be committed; commit nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete inactive groups with their committed offsets.
    ///
    /// A group with members is refused (NON_EMPTY_GROUP) and an unknown one
    /// is an error (GROUP_ID_NOT_FOUND); exit 1 if any group was not deleted.
    #[command(after_help = "Example:\n  sluice group delete -b 127.0.0.1:9092 old-group")]
    Delete {
        #[command(flatten)]
        connect: Connect,
        /// The group(s).
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
}

/// Why `what` cannot be done to `group` while it is active, naming its
/// state and member count; `None` when it is inactive.
fn active(group: &str, metrics: &GroupMetrics, what: &str) -> Option<String> {
    if inactive(metrics) {
        return None;
    }
    if metrics.state.is_empty() {
        return Some(format!(
            "cannot {what} group {group}: the broker cannot describe groups, so whether it has members is unknown"
        ));
    }
    let n = metrics.members.len();
    Some(format!(
        "cannot {what} group {group}: it is {} with {n} member{} (only an inactive group, Empty or Dead, can be); stop its consumers first",
        metrics.state,
        if n == 1 { "" } else { "s" },
    ))
}

/// Whether the group exists: Kafka describes an unknown group as Dead;
/// tansu 0.6 as Empty, so an Empty group with neither members nor
/// committed offsets counts as unknown too (there is nothing of it to show
/// or delete).
fn exists(view: &GroupView) -> bool {
    let m = &view.metrics;
    !(m.members.is_empty()
        && (m.state == "Dead" || (m.state == "Empty" && view.committed.is_empty())))
}

/// Runs `sluice group`.
pub async fn run(args: GroupArgs) -> Result<()> {
    match args.action {
        Action::List { connect, json } => list(connect, json).await,
        Action::Describe {
            connect,
            group,
            json,
        } => {
            describe::run(
                client(connect.brokers.as_deref(), &connect.properties).await?,
                &group,
                json,
            )
            .await
        }
        Action::ResetOffsets {
            connect,
            group,
            topics,
            to_earliest,
            to_latest,
            to_datetime,
            to_offset,
            shift_by,
            dry_run,
            json,
        } => {
            let target = match (to_earliest, to_latest, to_datetime, to_offset, shift_by) {
                (true, ..) => reset::Target::Earliest,
                (_, true, ..) => reset::Target::Latest,
                (_, _, Some(at), ..) => reset::Target::Datetime(datetime::parse_datetime(&at)?),
                (_, _, _, Some(n), _) => reset::Target::Offset(n),
                (.., Some(n)) => reset::Target::ShiftBy(n),
                _ => return Err("choose one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by".into()),
            };
            let client = client(connect.brokers.as_deref(), &connect.properties).await?;
            reset::run(client, &group, &topics, target, dry_run, json).await
        }
        Action::Delete { connect, groups } => delete(connect, &groups).await,
    }
}

async fn list(connect: Connect, json: bool) -> Result<()> {
    let client = client(connect.brokers.as_deref(), &connect.properties).await?;
    let groups = list_groups(client.pool()).await;
    client.close().await;
    let groups = groups?;
    let mut out = std::io::stdout().lock();
    if json {
        let doc = json!({
            "groups": groups.iter().map(|g| json!({
                "group": g.group_id, "state": g.state, "protocol_type": g.protocol_type,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    writeln!(out, "{:<48} {:<20} PROTOCOL-TYPE", "GROUP", "STATE")?;
    for g in &groups {
        writeln!(
            out,
            "{:<48} {:<20} {}",
            g.group_id,
            dash(&g.state),
            dash(&g.protocol_type)
        )?;
    }
    Ok(())
}

async fn delete(connect: Connect, groups: &[String]) -> Result<()> {
    let client = client(connect.brokers.as_deref(), &connect.properties).await?;
    let pool = client.pool().clone();
    // Kafka refuses a group with members (NON_EMPTY_GROUP) and an unknown one
    // (GROUP_ID_NOT_FOUND); tansu 0.6 deletes the first and answers NONE for
    // the second, so look first and refuse the same way.
    let mut deletable = Vec::new();
    let mut failures = Vec::new();
    for group in groups {
        let view = view_group(&pool, group, &[]).await?;
        if !exists(&view) {
            failures.push(format!(
                "cannot delete group {group}: no such group ({})",
                KafkaCode::GROUP_ID_NOT_FOUND
            ));
            continue;
        }
        match active(group, &view.metrics, "delete") {
            Some(why) => failures.push(format!("{why} ({})", KafkaCode::NON_EMPTY_GROUP)),
            None => deletable.push(group.clone()),
        }
    }
    for (group, result) in delete_groups(&pool, &deletable).await {
        match result {
            Ok(()) => eprintln!("deleted group {group}"),
            Err(GroupError::Admin { code, .. }) if code == KafkaCode::NON_EMPTY_GROUP => failures
                .push(format!(
                    "cannot delete group {group}: the broker refuses, it has members ({code}); stop its consumers first"
                )),
            Err(GroupError::Admin { code, .. }) if code == KafkaCode::GROUP_ID_NOT_FOUND => {
                failures.push(format!("cannot delete group {group}: no such group ({code})"))
            }
            Err(e) => failures.push(format!("cannot delete group {group}: {e}")),
        }
    }
    client.close().await;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}
