//! KIP-848 (`group.protocol=consumer`) on librdkafka's mock cluster, whose
//! coordinator implements ConsumerGroupHeartbeat: sluice members and
//! librdkafka members (`group.protocol=consumer`) in one group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message;
use sluice::{Consumer, ConsumerConfig};
use sluice_integration::unique_name;
use tokio::time::Instant;

use super::cluster::{Mock, Reads, produce_range};

const PARTITIONS: i32 = 6;
/// The mock coordinator's heartbeat interval is 3 s: a reassignment takes a
/// few of them.
const LIMIT: Duration = Duration::from_secs(60);

/// A sluice consumer-protocol member: no session or heartbeat keys (the
/// consumer protocol refuses them: the coordinator owns both).
fn sluice_member(mock: &Mock, group: &str) -> Consumer {
    let config = ConsumerConfig::from_pairs([
        ("bootstrap.servers", mock.bootstrap.as_str()),
        ("group.id", group),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("max.poll.records", "20"),
        ("retry.backoff.ms", "50"),
        ("reconnect.backoff.ms", "50"),
        ("request.timeout.ms", "5000"),
    ])
    .expect("config");
    Consumer::new(config).expect("consumer")
}

fn librdkafka_member(mock: &Mock, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &mock.bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("librdkafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// A librdkafka member being read from, committing after every record (so a
/// partition it gives up replays nothing).
struct Peer {
    consumer: BaseConsumer,
    reads: Reads,
}

impl Peer {
    fn step(&mut self) {
        for _ in 0..50 {
            match self.consumer.poll(Duration::from_millis(5)) {
                Some(Ok(m)) => {
                    let value = m.payload().map(<[u8]>::to_vec);
                    assert_eq!(
                        value.as_deref(),
                        Some(format!("p{}-{}", m.partition(), m.offset()).as_bytes())
                    );
                    self.reads
                        .by_partition
                        .entry(m.partition())
                        .or_default()
                        .push(m.offset());
                    self.consumer
                        .commit_message(&m, CommitMode::Sync)
                        .expect("librdkafka commit");
                }
                Some(Err(e)) => panic!("librdkafka poll: {e}"),
                None => return,
            }
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .map(|l| l.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }
}

/// A sluice member being read from, committing after every poll.
struct Member {
    consumer: Consumer,
    reads: Reads,
}

impl Member {
    async fn step(&mut self) {
        let records = self
            .consumer
            .poll(Duration::from_millis(50))
            .await
            .expect("sluice poll");
        self.reads.add(&records);
        if !records.is_empty() {
            // A commit racing an epoch bump is refused (STALE_MEMBER_EPOCH);
            // the next one carries the new epoch.
            let _ = self.consumer.commit_sync().await;
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .iter()
            .map(|tp| tp.partition)
            .collect()
    }
}

fn merged(all: &[&Reads]) -> Reads {
    let mut out = Reads::default();
    for r in all {
        for (p, offsets) in &r.by_partition {
            out.by_partition.entry(*p).or_default().extend(offsets);
        }
    }
    out
}

/// Duplicates per partition: records handed out beyond the distinct ones.
fn duplicates(reads: &Reads) -> BTreeMap<i32, usize> {
    reads
        .by_partition
        .iter()
        .map(|(p, o)| (*p, o.len() - o.iter().collect::<BTreeSet<_>>().len()))
        .collect()
}

/// Two sluice members and a librdkafka member share the partitions with no
/// partition owned twice; every record is read; when the librdkafka member
/// leaves, its partitions move to the sluice members, and when a sluice
/// member leaves, to the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_and_librdkafka_members_share_a_consumer_protocol_group() {
    let mock = Mock::start();
    let topic = mock.topic("mock-848", PARTITIONS);
    mock.produce(&topic, PARTITIONS, 30);
    let group = unique_name("mock-848");
    let mut a = Member {
        consumer: sluice_member(&mock, &group),
        reads: Reads::default(),
    };
    a.consumer
        .subscribe(&[topic.as_str()])
        .await
        .expect("subscribe");
    let mut b = Member {
        consumer: sluice_member(&mock, &group),
        reads: Reads::default(),
    };
    b.consumer
        .subscribe(&[topic.as_str()])
        .await
        .expect("subscribe");
    let mut peer = Some(Peer {
        consumer: librdkafka_member(&mock, &group, &topic),
        reads: Reads::default(),
    });

    // Everyone gets a share, nobody's overlaps another's.
    let deadline = Instant::now() + LIMIT;
    loop {
        a.step().await;
        b.step().await;
        let p = peer.as_mut().expect("peer");
        p.step();
        let (sa, sb, sp) = (a.assignment(), b.assignment(), p.assignment());
        assert!(
            sa.is_disjoint(&sb) && sa.is_disjoint(&sp) && sb.is_disjoint(&sp),
            "a partition owned twice: {sa:?} {sb:?} {sp:?}"
        );
        let all: BTreeSet<i32> = sa.iter().chain(&sb).chain(&sp).copied().collect();
        if !sa.is_empty() && !sb.is_empty() && !sp.is_empty() && all.len() == PARTITIONS as usize {
            eprintln!("kip848 mock: split a {sa:?} b {sb:?} librdkafka {sp:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no three-way split: {sa:?} {sb:?} {sp:?}"
        );
    }

    // The librdkafka member leaves; its partitions go to the sluice members.
    let left = peer.take().expect("peer");
    let peer_reads = left.reads;
    left.consumer.unsubscribe();
    drop(left.consumer);
    produce_range(&mock.bootstrap, &topic, PARTITIONS, 30..40);
    let deadline = Instant::now() + LIMIT;
    loop {
        a.step().await;
        b.step().await;
        let (sa, sb) = (a.assignment(), b.assignment());
        assert!(sa.is_disjoint(&sb), "owned twice: {sa:?} {sb:?}");
        let all = merged(&[&a.reads, &b.reads, &peer_reads]);
        if sa.len() + sb.len() == PARTITIONS as usize && all.complete(PARTITIONS, 40) {
            eprintln!("kip848 mock: after librdkafka left a {sa:?} b {sb:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leaver's partitions did not move: {sa:?} {sb:?}, read {:?}",
            all.summary()
        );
    }

    // A sluice member leaves (epoch -1): the other takes everything.
    b.consumer.close().await.expect("b leaves");
    produce_range(&mock.bootstrap, &topic, PARTITIONS, 40..50);
    let deadline = Instant::now() + LIMIT;
    loop {
        a.step().await;
        let all = merged(&[&a.reads, &b.reads, &peer_reads]);
        if a.assignment().len() == PARTITIONS as usize && all.complete(PARTITIONS, 50) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b's partitions did not move to a: {:?}, read {:?}",
            a.assignment(),
            all.summary()
        );
    }
    let all = merged(&[&a.reads, &b.reads, &peer_reads]);
    let dups = duplicates(&all);
    eprintln!("kip848 mock: duplicates {dups:?}");
    // Each member commits what it was handed before a partition moves; a
    // commit refused for a stale epoch can leave one poll's records to replay.
    assert!(dups.values().all(|d| *d <= 20), "{dups:?}");
    assert!(all.by_partition.keys().all(|p| *p < PARTITIONS));
    a.consumer.close().await.expect("close a");
}

/// A pattern subscription under both protocols: under the consumer
/// protocol the coordinator matches `SubscribedTopicRegex`; under the classic
/// one the member matches every topic's metadata each `metadata.max.age.ms`.
/// Either way the member reads every matching topic, one created later too,
/// and nothing of a topic that does not match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_reads_every_matching_topic() {
    for protocol in ["consumer", "classic"] {
        pattern_subscription(protocol).await;
    }
}

async fn pattern_subscription(protocol: &str) {
    let mock = Mock::start();
    let base = unique_name("mock848re");
    let (t1, t2, t3, other) = (
        format!("{base}-a"),
        format!("{base}-b"),
        format!("{base}-c"),
        format!("x{base}"),
    );
    let create = |t: &str| {
        mock.cluster
            .create_topic(t, 2, super::cluster::BROKERS)
            .expect("create topic");
        produce_range(&mock.bootstrap, t, 2, 0..10);
    };
    for t in [&t1, &t2, &other] {
        create(t);
    }
    let fetch = sluice_fetch::FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", mock.bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "100"),
            ("metadata.max.age.ms", "500"),
        ])
        .expect("fetch config");
    let mut group = sluice_group::GroupConfig::default();
    let mut pairs = vec![
        ("group.protocol", protocol),
        // An eager rebalance (classic) revokes everything: auto-commit
        // commits what was read before the partitions go.
        ("enable.auto.commit", "true"),
    ];
    if protocol == "classic" {
        pairs.extend([
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ]);
    }
    let id = unique_name("mock-848-re");
    pairs.push(("group.id", id.as_str()));
    for (k, v) in pairs {
        assert!(group.set(k, v).expect("group key"));
    }
    let mut c = sluice_group::GroupConsumer::new(fetch, group)
        .await
        .expect("consumer");
    assert!(
        c.subscribe_pattern("(").is_err(),
        "a bad pattern is refused"
    );
    c.subscribe_pattern(&format!("{base}-.*")).expect("pattern");
    let mut seen: BTreeSet<(String, i32, i64)> = BTreeSet::new();
    let mut read_until = async |c: &mut sluice_group::GroupConsumer, n: usize| {
        let deadline = Instant::now() + LIMIT;
        while seen.len() < n {
            assert!(
                Instant::now() < deadline,
                "{protocol}: read {} of {n}; assignment {:?}",
                seen.len(),
                c.assignment()
            );
            for r in c.poll(Duration::from_millis(100)).await.expect("poll") {
                assert!(
                    seen.insert((r.topic.to_string(), r.partition, r.offset)),
                    "{protocol}: read twice: {}-{}@{}",
                    r.topic,
                    r.partition,
                    r.offset
                );
            }
        }
    };
    read_until(&mut c, 40).await;
    // A topic created later joins the subscription.
    create(&t3);
    read_until(&mut c, 60).await;
    let topics: BTreeSet<String> = seen.iter().map(|(t, _, _)| t.clone()).collect();
    assert_eq!(topics, BTreeSet::from([t1, t2, t3]), "{protocol}");
    assert_eq!(c.assignment().len(), 6, "{protocol}");
    c.close().await.expect("close");
}
