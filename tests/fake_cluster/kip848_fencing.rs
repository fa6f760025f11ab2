//! KIP-848 fencing and leaving on krafka's fake coordinator, seen from the
//! rebalance listener and from the requests that reach the brokers: a fenced
//! member loses its partitions (on_partitions_lost, no commit), rejoins at
//! epoch 0 with its member id and reads on; closing sends the leave epoch
//! (-1, or -2 for a static member).

use std::sync::{Arc, Mutex};

use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control, RecordedRequest};
use sluice::{Consumer, ConsumerConfig, ListenerFuture, RebalanceListener, TopicPartition};
use sluice_group::GroupConsumer;
use sluice_integration::unique_name;
use tokio::time::Instant;

use super::harness::{Cluster, LIMIT, Reader};

/// max.poll.records: a commit follows every poll, so a fenced partition
/// replays at most this many records.
const BATCH: usize = 10;

/// What the listener heard, in order: ("assigned" | "revoked" | "lost",
/// partitions).
type Events = Arc<Mutex<Vec<(&'static str, Vec<i32>)>>>;

struct Recorder(Events);

impl Recorder {
    fn note(&self, what: &'static str, tps: &[TopicPartition]) {
        let mut partitions: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
        partitions.sort_unstable();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((what, partitions));
    }
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.note("revoked", tps);
        Box::pin(async {})
    }

    fn on_partitions_lost<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.note("lost", tps);
        Box::pin(async {})
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.note("assigned", tps);
        Box::pin(async {})
    }
}

fn config(c: &Cluster, group: &str, instance: Option<&str>) -> ConsumerConfig {
    let boot = c.bootstrap();
    let mut pairs = vec![
        ("bootstrap.servers", boot.as_str()),
        ("group.id", group),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("retry.backoff.ms", "50"),
        ("reconnect.backoff.ms", "50"),
        ("request.timeout.ms", "5000"),
        ("max.poll.records", "10"),
    ];
    if let Some(instance) = instance {
        pairs.push(("group.instance.id", instance));
    }
    ConsumerConfig::from_pairs(pairs).expect("consumer config")
}

/// A subscribed member with a recording listener, committing after each poll.
async fn member(c: &Cluster, group: &str, instance: Option<&str>) -> (Reader, Events) {
    let events = Events::default();
    let mut consumer = Consumer::new(config(c, group, instance)).expect("consumer");
    consumer.set_rebalance_listener(Recorder(events.clone()));
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    (Reader::new(consumer, true), events)
}

fn heard(events: &Events) -> Vec<(&'static str, Vec<i32>)> {
    events.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Every ConsumerGroupHeartbeat request that reached a broker, in order.
fn heartbeat_requests(c: &Cluster) -> Vec<RecordedRequest> {
    c.broker
        .requests()
        .into_iter()
        .filter(|r| r.api_key == ApiKey::ConsumerGroupHeartbeat)
        .collect()
}

/// The heartbeat answered `code` by a hook: the member drops both partitions
/// as lost (no commit reaches the broker until it has rejoined), rejoins at
/// epoch 0 with the same member id, gets them back and reads every record.
async fn fenced_by(code: ErrorCode, prefix: &str) {
    let c = Cluster::start(prefix, 2).await;
    c.produce(0, 30).await;
    let group = unique_name(prefix);
    let (mut a, events) = member(&c, &group, None).await;
    a.until_count(20).await;
    assert_eq!(heard(&events), vec![("assigned", vec![0, 1])]);

    // The hook notes which request it failed, to find it in the log.
    let fenced: Arc<Mutex<Option<(i32, i32)>>> = Arc::default();
    {
        let fenced = fenced.clone();
        c.broker
            .on_once(ApiKey::ConsumerGroupHeartbeat, move |req| {
                *fenced.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((req.node_id, req.correlation_id));
                Control::Error(code)
            });
    }
    let deadline = Instant::now() + LIMIT;
    while heard(&events).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "lost and assigned again: {:?}; poll errors {:?}",
            heard(&events),
            a.poll_errors
        );
        a.step().await;
    }
    assert_eq!(
        heard(&events),
        vec![
            ("assigned", vec![0, 1]),
            ("lost", vec![0, 1]),
            ("assigned", vec![0, 1])
        ],
        "{code:?}: lost, not revoked, then assigned again"
    );

    // Where the fence and the rejoin sit among the requests.
    let (node, correlation) = fenced
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("the hook fired");
    let requests = heartbeat_requests(&c);
    let at = requests
        .iter()
        .position(|r| r.node_id == node && r.correlation_id == correlation)
        .expect("the fenced heartbeat is in the log");
    let rejoin = requests.get(at + 1).expect("a heartbeat after the fence");
    let commits_between = c
        .broker
        .requests()
        .iter()
        .filter(|r| {
            r.api_key == ApiKey::OffsetCommit
                && r.sequence > requests[at].sequence
                && r.sequence < rejoin.sequence
        })
        .count();
    assert_eq!(
        commits_between, 0,
        "{code:?}: no commit between the fence and the rejoin"
    );

    // The coordinator's record has every heartbeat but the failed one (the
    // hook answered it before the coordinator saw it): the one after it is
    // the rejoin.
    let seen = c.broker.with_state(|s| {
        s.consumer_group_heartbeats
            .iter()
            .filter(|h| h.group_id == group)
            .cloned()
            .collect::<Vec<_>>()
    });
    let member_id = seen[0].member_id.clone();
    let rejoined = seen.get(at).expect("the rejoin was recorded");
    assert_eq!(
        (
            rejoined.member_id.as_str(),
            rejoined.member_epoch,
            rejoined.full
        ),
        (member_id.as_str(), 0, true),
        "{code:?}: the rejoin is at epoch 0, same id, with the subscription"
    );
    assert!(
        seen[..at].iter().all(|h| h.member_id == member_id),
        "one member id throughout"
    );

    // Reading goes on: what was written before and after the fence.
    c.produce(30, 10).await;
    let ends = c.ends();
    a.until_all(&ends).await;
    let dups = a.reads.assert_complete_with_rewinds(&ends, BATCH);
    eprintln!("kip848 fenced by {code:?}: duplicates {dups:?}");
    assert!(a.poll_errors.is_empty(), "{:?}", a.poll_errors);
    assert!(a.commit_errors.is_empty(), "{:?}", a.commit_errors);
    a.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_member_epoch_loses_the_partitions_and_rejoins() {
    fenced_by(ErrorCode::FencedMemberEpoch, "fk-848-fenced").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_member_id_loses_the_partitions_and_rejoins() {
    fenced_by(ErrorCode::UnknownMemberId, "fk-848-unknown").await;
}

/// Closes a member that has read something and returns the group's last
/// recorded heartbeat epoch and what the listener heard.
async fn leave(prefix: &str, instance: Option<&str>) -> (i32, Vec<(&'static str, Vec<i32>)>) {
    let c = Cluster::start(prefix, 2).await;
    c.produce(0, 5).await;
    let group = unique_name(prefix);
    let (mut a, events) = member(&c, &group, instance).await;
    a.until_all(&c.ends()).await;
    a.consumer.close().await.expect("close");
    let seen = c.broker.with_state(|s| {
        s.consumer_group_heartbeats
            .iter()
            .filter(|h| h.group_id == group)
            .cloned()
            .collect::<Vec<_>>()
    });
    let last = seen.last().expect("heartbeats");
    assert_eq!(last.member_id, seen[0].member_id, "the same member leaves");
    assert_eq!(
        seen[0].instance_id.as_deref(),
        instance,
        "the join names the instance"
    );
    assert_eq!(
        seen.iter().filter(|h| h.member_epoch < 0).count(),
        1,
        "one leave: {seen:?}"
    );
    (last.member_epoch, heard(&events))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_member_leaves_with_epoch_minus_1() {
    let (epoch, heard) = leave("fk-848-leave", None).await;
    assert_eq!(epoch, -1);
    assert_eq!(
        heard,
        vec![("assigned", vec![0, 1]), ("revoked", vec![0, 1])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_leaves_with_epoch_minus_2() {
    let instance = unique_name("pod");
    let (epoch, heard) = leave("fk-848-leave-static", Some(&instance)).await;
    assert_eq!(epoch, -2);
    assert_eq!(
        heard,
        vec![("assigned", vec![0, 1]), ("revoked", vec![0, 1])]
    );
}
