//! A broker for throughput benchmarks: one topic whose partitions hold
//! record batches encoded once at start (with our encoder), served from
//! memory with as little work as possible, so the client is what is
//! measured. tansu serves about 17 MB/s; this serves what the loopback
//! allows.
//!
//! It answers ApiVersions, Metadata, FindCoordinator, ListOffsets,
//! OffsetFetch (nothing committed) and Fetch (honouring the fetch offset,
//! the partition and response byte limits, and `max_wait_ms` when there is
//! nothing to send), which is what librdkafka, rskafka and sluice need to
//! read a topic from a given offset without a group. Fetch answers are
//! written with vectored writes straight from the logs' buffers
//! ([`fetch_frame`]): no record batch is copied.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FetchRequest, FindCoordinatorResponse,
    ListOffsetsResponse, MetadataResponse, OffsetFetchResponse, ProduceResponse, RequestKind,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use sluice_wire::protocol::{
    decode_request_body, encode_response_body, encode_response_frame, parse_request_frame,
};
use sluice_wire::records::{BatchBuilder, Compression};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

mod fetch_frame;

/// The topic the benchmark broker serves.
pub const TOPIC: &str = "bench";

/// What the broker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    /// Records in all.
    pub records: u64,
    /// Value bytes per record (keys are 8-byte counters).
    pub record_size: usize,
    /// Partitions (records are split evenly).
    pub partitions: i32,
    /// Batch codec.
    pub compression: Compression,
    /// Records per batch.
    pub batch_records: usize,
}

/// One partition's log: the batches back to back, and where each starts.
#[derive(Debug)]
struct Log {
    bytes: Bytes,
    /// `(base offset, byte position)` of each batch.
    batches: Vec<(i64, usize)>,
    end: i64,
}

impl Log {
    fn build(set: &DataSet, partition: i32) -> Log {
        let per = set.records / set.partitions as u64
            + u64::from((partition as u64) < set.records % set.partitions as u64);
        let mut bytes = BytesMut::new();
        let mut batches = Vec::new();
        let mut offset = 0i64;
        // Values are not all alike, so compression has something to do.
        let filler: Vec<u8> = (0..set.record_size + 64)
            .map(|i| {
                let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 {}:,";
                alphabet[(i * 7 + i / 13) % alphabet.len()]
            })
            .collect();
        while (offset as u64) < per {
            let n = (per - offset as u64).min(set.batch_records as u64) as i64;
            let mut b = BatchBuilder::new(set.compression);
            for i in offset..offset + n {
                let key = (i as u64 ^ (u64::from(partition as u32) << 40)).to_be_bytes();
                let start = (i as usize * 31) % 64;
                let value = &filler[start..start + set.record_size];
                b.push(1_700_000_000_000 + i, Some(&key), Some(value), &[]);
            }
            batches.push((offset, bytes.len()));
            bytes.extend_from_slice(&b.build(offset).expect("our encoder encodes"));
            offset += n;
        }
        Log {
            bytes: bytes.freeze(),
            batches,
            end: offset,
        }
    }

    /// The batches from the one holding `offset`, up to `max` bytes (at
    /// least one batch).
    fn read(&self, offset: i64, max: usize) -> Bytes {
        if offset >= self.end || offset < 0 {
            return Bytes::new();
        }
        let i = self.batches.partition_point(|(base, _)| *base <= offset) - 1;
        let start = self.batches[i].1;
        let end_of = |k: usize| {
            self.batches
                .get(k + 1)
                .map_or(self.bytes.len(), |(_, pos)| *pos)
        };
        let mut end = end_of(i);
        for k in i + 1..self.batches.len() {
            if end_of(k) - start > max {
                break;
            }
            end = end_of(k);
        }
        self.bytes.slice(start..end)
    }
}

/// A running benchmark broker. Dropping it stops it.
#[derive(Debug)]
pub struct BenchBroker {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for BenchBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    logs: Vec<Log>,
    me: SocketAddr,
}

impl BenchBroker {
    /// Encodes the data set and starts serving it on `bind` (port 0 picks one).
    pub async fn start(set: DataSet, bind: &str) -> std::io::Result<BenchBroker> {
        let logs = (0..set.partitions).map(|p| Log::build(&set, p)).collect();
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { logs, me: addr });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(socket, shared).await {
                        tracing::debug!(error = %e, "bench connection ended");
                    }
                });
            }
        });
        Ok(BenchBroker { addr, task })
    }

    /// `host:port` to bootstrap from.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn versions() -> ApiVersionsResponse {
    let ranges = [
        (ApiKey::Fetch, 4, 12),
        (ApiKey::ListOffsets, 1, 7),
        (ApiKey::Metadata, 1, 12),
        (ApiKey::OffsetFetch, 1, 8),
        (ApiKey::FindCoordinator, 0, 4),
        (ApiKey::ApiVersions, 0, 3),
        // Never served (every write is refused), but librdkafka derives its
        // "MsgVer2" feature, and so its Fetch version, from Produce v3+.
        (ApiKey::Produce, 3, 9),
    ];
    ApiVersionsResponse::default().with_api_keys(
        ranges
            .iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// The answer to one request, and how long to hold it (an idle Fetch waits
/// `max_wait_ms`, as a broker would before saying there is nothing).
fn respond(shared: &Shared, request: RequestKind) -> Option<(ResponseKind, Duration)> {
    let now = Duration::ZERO;
    let host = shared.me.ip().to_string();
    let port = i32::from(shared.me.port());
    Some(match request {
        RequestKind::ApiVersions(_) => (ResponseKind::ApiVersions(versions()), now),
        RequestKind::Metadata(r) => {
            let wanted: Option<Vec<String>> = r.topics.map(|ts| {
                ts.iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                    .collect()
            });
            let ours = wanted.as_ref().is_none_or(|w| w.iter().any(|t| t == TOPIC));
            let mut topics = Vec::new();
            if ours {
                topics.push(
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(name(TOPIC))))
                        .with_partitions(
                            (0..shared.logs.len() as i32)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(BrokerId(0))
                                        .with_replica_nodes(vec![BrokerId(0)])
                                        .with_isr_nodes(vec![BrokerId(0)])
                                })
                                .collect(),
                        ),
                );
            }
            for t in wanted
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t != TOPIC)
            {
                topics.push(
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(name(&t))))
                        .with_error_code(3),
                );
            }
            let response = MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host(name(&host))
                        .with_port(port),
                ])
                .with_cluster_id(Some(name("sluice-bench")))
                .with_controller_id(BrokerId(0))
                .with_topics(topics);
            (ResponseKind::Metadata(response), now)
        }
        RequestKind::FindCoordinator(r) => {
            let response = FindCoordinatorResponse::default()
                .with_node_id(BrokerId(0))
                .with_host(name(&host))
                .with_port(port)
                .with_coordinators(
                    r.coordinator_keys
                        .iter()
                        .map(|k| {
                            Coordinator::default()
                                .with_key(k.clone())
                                .with_node_id(BrokerId(0))
                                .with_host(name(&host))
                                .with_port(port)
                        })
                        .collect(),
                );
            (ResponseKind::FindCoordinator(response), now)
        }
        RequestKind::ListOffsets(r) => {
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    ListOffsetsTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    let log = shared.logs.get(p.partition_index as usize);
                                    let end = log.map_or(0, |l| l.end);
                                    let offset = if p.timestamp == -1 { end } else { 0 };
                                    ListOffsetsPartitionResponse::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(if log.is_some() { 0 } else { 3 })
                                        .with_timestamp(-1)
                                        .with_offset(offset)
                                })
                                .collect(),
                        )
                })
                .collect();
            (
                ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(topics)),
                now,
            )
        }
        RequestKind::OffsetFetch(r) => {
            let none = |p: i32| (p, -1i64);
            let topics = r.topics.clone().unwrap_or_default();
            let response = OffsetFetchResponse::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|t| {
                            OffsetFetchResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|&p| {
                                            let (p, o) = none(p);
                                            OffsetFetchResponsePartition::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(o)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
                .with_groups(
                    r.groups
                        .iter()
                        .map(|g| {
                            OffsetFetchResponseGroup::default()
                                .with_group_id(g.group_id.clone())
                                .with_topics(
                                    g.topics
                                        .clone()
                                        .unwrap_or_default()
                                        .iter()
                                        .map(|t| {
                                            OffsetFetchResponseTopics::default()
                                                .with_name(t.name.clone())
                                                .with_partitions(
                                                    t.partition_indexes
                                                        .iter()
                                                        .map(|&p| {
                                                            OffsetFetchResponsePartitions::default()
                                                                .with_partition_index(p)
                                                                .with_committed_offset(-1)
                                                        })
                                                        .collect(),
                                                )
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            (ResponseKind::OffsetFetch(response), now)
        }
        RequestKind::Produce(r) => {
            // A read-only broker: every partition gets POLICY_VIOLATION.
            let topics = r
                .topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(44)
                                        .with_error_message(Some(name(
                                            "the benchmark broker is read-only",
                                        )))
                                })
                                .collect(),
                        )
                })
                .collect();
            (
                ResponseKind::Produce(ProduceResponse::default().with_responses(topics)),
                now,
            )
        }
        _ => return None,
    })
}

/// The answer to a Fetch: slices of the logs, never copied (see
/// [`fetch_frame`]), and how long to hold it (an idle Fetch waits
/// `max_wait_ms`, as a broker would before saying there is nothing).
fn fetch(shared: &Shared, r: &FetchRequest) -> (Vec<fetch_frame::Topic>, Duration) {
    let mut budget = usize::try_from(r.max_bytes).unwrap_or(usize::MAX).max(1);
    let mut any = false;
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let log = shared.logs.get(p.partition as usize);
                    let max = usize::try_from(p.partition_max_bytes)
                        .unwrap_or(0)
                        .min(budget);
                    let records = log.map_or_else(Bytes::new, |l| {
                        if budget == 0 {
                            Bytes::new()
                        } else {
                            l.read(p.fetch_offset, max)
                        }
                    });
                    budget = budget.saturating_sub(records.len());
                    any |= !records.is_empty();
                    fetch_frame::Partition {
                        index: p.partition,
                        error_code: if log.is_some() { 0 } else { 3 },
                        high_watermark: log.map_or(-1, |l| l.end),
                        records,
                    }
                })
                .collect();
            fetch_frame::Topic {
                name: t.topic.0.clone().into_bytes(),
                partitions,
            }
        })
        .collect();
    let wait = if any {
        Duration::ZERO
    } else {
        Duration::from_millis(u64::try_from(r.max_wait_ms).unwrap_or(0))
    };
    (topics, wait)
}

async fn serve(mut socket: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
    loop {
        while let Some(frame) = frames.decode(&mut buf).map_err(std::io::Error::other)? {
            let req = parse_request_frame(frame).map_err(std::io::Error::other)?;
            let (api, version, correlation_id) = (req.api_key, req.api_version, req.correlation_id);
            let body = if api == ApiKey::ApiVersions && version > 3 {
                // Unsupported version: answer v0 with UNSUPPORTED_VERSION, as brokers do.
                let r = ResponseKind::ApiVersions(versions().with_error_code(35));
                let body = encode_response_body(&r, api, 0).map_err(std::io::Error::other)?;
                socket
                    .write_all(&encode_response_frame(correlation_id, api, 0, &body))
                    .await?;
                continue;
            } else {
                decode_request_body(api, version, req.body).map_err(std::io::Error::other)?
            };
            if let RequestKind::Fetch(r) = &body {
                if version <= fetch_frame::MAX_VERSION {
                    let (topics, wait) = fetch(&shared, r);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let segments = fetch_frame::encode(correlation_id, version, &topics);
                    fetch_frame::write_all(&mut socket, &segments).await?;
                    continue;
                }
            }
            let Some((response, wait)) = respond(&shared, body) else {
                tracing::warn!(
                    ?api,
                    version,
                    "bench broker does not answer this API; closing"
                );
                return Ok(());
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let body =
                encode_response_body(&response, api, version).map_err(std::io::Error::other)?;
            socket
                .write_all(&encode_response_frame(correlation_id, api, version, &body))
                .await?;
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::records::{DecodeOptions, RecordDecoder};

    #[test]
    fn logs_hold_every_record_and_reads_start_at_the_batch_holding_the_offset() {
        let set = DataSet {
            records: 10_001,
            record_size: 100,
            partitions: 2,
            compression: Compression::Lz4,
            batch_records: 1000,
        };
        let logs: Vec<Log> = (0..2).map(|p| Log::build(&set, p)).collect();
        assert_eq!(logs[0].end + logs[1].end, 10_001);
        let mut decoder = RecordDecoder::new(DecodeOptions::default());
        let all = decoder.decode_batches(logs[0].read(0, usize::MAX)).unwrap();
        let n: usize = all.iter().map(|b| b.records().count()).sum();
        assert_eq!(n as i64, logs[0].end);
        let part = decoder.decode_batches(logs[0].read(2500, 1)).unwrap();
        assert_eq!(part.len(), 1, "one batch at least, even past the limit");
        assert_eq!(part[0].header.base_offset, 2000);
        assert!(logs[0].read(logs[0].end, 1 << 20).is_empty());
    }
}
