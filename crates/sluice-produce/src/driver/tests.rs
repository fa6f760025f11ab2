//! The driver against a scripted in-process broker: retries, timeouts,
//! typed errors, topic ids and acks=0, without a real Kafka.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, ProduceRequest, ProduceResponse,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use sluice_wire::protocol::{
    decode_request_body, encode_response_body, encode_response_frame, parse_request_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{Acks, ProduceError, Producer, ProducerConfig, ProducerRecord};

const TOPIC: &str = "t";
const TOPIC_ID: Uuid = Uuid::from_u128(0x5eed);

/// What the broker answers a Produce request with: error code and base offset.
type Script = Box<dyn FnMut(&ProduceRequest) -> (i16, i64) + Send>;

/// A broker on 127.0.0.1 with one topic `t` of one partition that it leads;
/// Produce requests are answered by the script and recorded.
struct FakeBroker {
    addr: String,
    produced: Arc<Mutex<Vec<(i16, ProduceRequest)>>>,
    metadata_requests: Arc<Mutex<usize>>,
    produce_count: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBroker {
    async fn start(produce_max: i16, script: Script) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = i32::from(listener.local_addr().unwrap().port());
        let produced = Arc::new(Mutex::new(Vec::new()));
        let metadata_requests = Arc::new(Mutex::new(0));
        let script = Arc::new(Mutex::new(script));
        let (count_tx, produce_count) = tokio::sync::watch::channel(0);
        let count_tx = Arc::new(count_tx);
        let (p, m) = (produced.clone(), metadata_requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (p, m, script) = (p.clone(), m.clone(), script.clone());
                let count_tx = count_tx.clone();
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
                    loop {
                        while let Some(frame) = frames.decode(&mut buf).unwrap() {
                            let req = parse_request_frame(frame).unwrap();
                            let (api, version) = (req.api_key, req.api_version);
                            let response = match api {
                                ApiKey::ApiVersions => api_versions(produce_max),
                                ApiKey::Metadata => {
                                    *m.lock().unwrap() += 1;
                                    metadata(port)
                                }
                                ApiKey::Produce => {
                                    let RequestKind::Produce(r) =
                                        decode_request_body(api, version, req.body).unwrap()
                                    else {
                                        unreachable!()
                                    };
                                    let (code, base) = (script.lock().unwrap())(&r);
                                    let acks = r.acks;
                                    p.lock().unwrap().push((version, r));
                                    count_tx.send_modify(|c| *c += 1);
                                    if acks == 0 {
                                        continue;
                                    }
                                    produce_answer(version, code, base)
                                }
                                other => panic!("unexpected {other:?}"),
                            };
                            let body = encode_response_body(&response, api, version).unwrap();
                            let out =
                                encode_response_frame(req.correlation_id, api, version, &body);
                            socket.write_all(&out).await.unwrap();
                        }
                        if socket.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                });
            }
        });
        FakeBroker {
            addr: format!("127.0.0.1:{port}"),
            produced,
            metadata_requests,
            produce_count,
            task,
        }
    }

    fn produced(&self) -> Vec<(i16, ProduceRequest)> {
        self.produced.lock().unwrap().clone()
    }

    /// Waits until the broker has taken `n` Produce requests.
    async fn wait_produced(&self, n: usize) {
        let mut rx = self.produce_count.clone();
        rx.wait_for(|c| *c >= n).await.unwrap();
    }

    fn metadata_requests(&self) -> usize {
        *self.metadata_requests.lock().unwrap()
    }

    fn config(&self) -> ProducerConfig {
        ProducerConfig::default()
            .bootstrap_servers([self.addr.as_str()])
            .linger(Duration::from_millis(1))
            .retry_backoff(Duration::from_millis(10))
    }
}

fn api_versions(produce_max: i16) -> ResponseKind {
    let key = |api: ApiKey, min, max| {
        ApiVersion::default()
            .with_api_key(api as i16)
            .with_min_version(min)
            .with_max_version(max)
    };
    ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(vec![
        key(ApiKey::ApiVersions, 0, 3),
        key(ApiKey::Metadata, 1, 12),
        key(ApiKey::Produce, 3, produce_max),
    ]))
}

fn metadata(port: i32) -> ResponseKind {
    ResponseKind::Metadata(
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(port),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                    .with_topic_id(TOPIC_ID)
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(1))
                            .with_leader_epoch(0),
                    ]),
            ]),
    )
}

fn produce_answer(version: i16, code: i16, base_offset: i64) -> ResponseKind {
    let mut topic = TopicProduceResponse::default().with_partition_responses(vec![
        PartitionProduceResponse::default()
            .with_index(0)
            .with_error_code(code)
            .with_base_offset(base_offset)
            .with_log_append_time_ms(-1)
            .with_error_message((code != 0).then(|| StrBytes::from_static_str("scripted"))),
    ]);
    if version >= 13 {
        topic = topic.with_topic_id(TOPIC_ID);
    } else {
        topic = topic.with_name(TopicName(StrBytes::from_static_str(TOPIC)));
    }
    ResponseKind::Produce(ProduceResponse::default().with_responses(vec![topic]))
}

fn records_of(r: &ProduceRequest) -> bytes::Bytes {
    r.topic_data[0].partition_data[0].records.clone().unwrap()
}

#[tokio::test]
async fn not_leader_refreshes_metadata_and_the_same_batch_is_retried() {
    let mut calls = 0;
    let broker = FakeBroker::start(
        12,
        Box::new(move |_| {
            calls += 1;
            if calls == 1 { (6, -1) } else { (0, 100) } // NOT_LEADER_OR_FOLLOWER, then written
        }),
    )
    .await;
    let p = Producer::connect(broker.config()).await.unwrap();
    let sends: Vec<_> = (0..3)
        .map(|i| p.send(ProducerRecord::new(TOPIC, format!("v{i}"))))
        .collect();
    p.flush().await;
    let mut offsets = Vec::new();
    for s in sends {
        offsets.push(s.await.unwrap().offset);
    }
    assert_eq!(offsets, vec![100, 101, 102]);
    let produced = broker.produced();
    assert_eq!(produced.len(), 2);
    assert_eq!(records_of(&produced[0].1), records_of(&produced[1].1));
    assert_eq!(produced[0].0, 12, "the highest version both speak");
    assert!(
        broker.metadata_requests() >= 2,
        "refreshed after NOT_LEADER"
    );
}

#[tokio::test]
async fn non_retriable_errors_fail_at_once_with_the_code() {
    let broker = FakeBroker::start(12, Box::new(|_| (87, -1))).await; // INVALID_RECORD
    let p = Producer::connect(broker.config()).await.unwrap();
    let err = p.send(ProducerRecord::new(TOPIC, "x")).await.unwrap_err();
    match &err {
        ProduceError::Partition { tp, code, message } => {
            assert_eq!((&*tp.topic, tp.partition), (TOPIC, 0));
            assert_eq!(*code, KafkaCode(87));
            assert_eq!(message.as_deref(), Some("scripted"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("INVALID_RECORD"), "{err}");
    assert!(!err.is_retriable());
    assert_eq!(broker.produced().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_configured_count() {
    // NOT_ENOUGH_REPLICAS (19) every time.
    let broker = FakeBroker::start(12, Box::new(|_| (19, -1))).await;
    let p = Producer::connect(broker.config().retries(2)).await.unwrap();
    let err = p.send(ProducerRecord::new(TOPIC, "x")).await.unwrap_err();
    assert!(
        matches!(err, ProduceError::Partition { code, .. } if code == KafkaCode::NOT_ENOUGH_REPLICAS),
        "{err:?}"
    );
    assert_eq!(
        broker.produced().len(),
        3,
        "the first attempt and 2 retries"
    );
}

#[tokio::test]
async fn retries_stop_at_the_delivery_timeout() {
    let broker = FakeBroker::start(12, Box::new(|_| (19, -1))).await;
    let config = broker.config().delivery_timeout(Duration::from_millis(200));
    let p = Producer::connect(config).await.unwrap();
    match p.send(ProducerRecord::new(TOPIC, "x")).await {
        Err(ProduceError::Timeout {
            timeout_ms: 200,
            last,
            ..
        }) => {
            assert!(last.contains("NOT_ENOUGH_REPLICAS"), "{last}")
        }
        other => panic!("{other:?}"),
    }
    assert!(broker.produced().len() >= 2, "retried until the timeout");
}

#[tokio::test]
async fn v13_names_the_topic_by_id() {
    let broker = FakeBroker::start(13, Box::new(|_| (0, 7))).await;
    let p = Producer::connect(broker.config()).await.unwrap();
    let m = p.send(ProducerRecord::new(TOPIC, "x")).await.unwrap();
    assert_eq!((m.topic.as_str(), m.partition, m.offset), (TOPIC, 0, 7));
    let produced = broker.produced();
    assert_eq!(produced[0].0, 13);
    assert_eq!(produced[0].1.topic_data[0].topic_id, TOPIC_ID);
}

#[tokio::test]
async fn acks_0_resolves_without_an_answer() {
    let broker = FakeBroker::start(12, Box::new(|_| (0, 0))).await;
    let p = Producer::connect(broker.config().acks(Acks::None))
        .await
        .unwrap();
    let m = p.send(ProducerRecord::new(TOPIC, "x")).await.unwrap();
    assert_eq!(m.offset, -1);
    p.close().await;
    broker.wait_produced(1).await;
    let produced = broker.produced();
    assert_eq!(produced.len(), 1);
    assert_eq!(produced[0].1.acks, 0);
}
