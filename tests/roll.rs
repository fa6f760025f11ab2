//! The first step of the documented two-step roll to cooperative-sticky
//! (KIP-429) over the wire, against tansu (issue 15, point 2): three sluice
//! members on `range` share six partitions while a producer writes; then,
//! one at a time, each closes and a new member on
//! `[cooperative-sticky, range]` takes its place in the same group. Every
//! record is read (re-reads allowed, no gaps), a ledger fed by every
//! member's rebalance listener checks that no partition has two owners in
//! one generation, the broker says the group's protocol is `range`
//! throughout (in the mixed stage and once all are upgraded; asked with a
//! JoinGroup it refuses, since tansu's DescribeGroups leaves the protocol
//! out, see [`group_protocol`]), and the upgraded members rebalance eagerly
//! (every revocation gives up all a member owns; their stats count eager
//! rounds, no cooperative one), as `[cooperative-sticky, range]` must while
//! range is in the list.
//!
//! Together with tests/mock_cluster/roll.rs (the second step on
//! librdkafka's mock cluster: `[cooperative-sticky, range]` members
//! restarted one at a time on `cooperative-sticky` alone, then a joiner
//! that moves only its share) this covers the roll over the wire, each step
//! against the broker that can run it: tansu fixes the group's protocol to
//! the first joiner's first protocol and refuses members not listing it
//! (tansu-broker 0.6.0 administrator.rs:1723-1751, 2292-2308), so it runs
//! step 1 but refuses step 2's first `cooperative-sticky`-only member; the
//! mock asserts every member's first protocol is the leader's and aborts on
//! step 1's mixed first protocols. What only the in-process test
//! (crates/sluice-group/src/membership/tests/roll.rs) covers is the switch
//! between the steps: a coordinator selecting protocols as Kafka does moves
//! the group from `range` to `cooperative-sticky` when the last range-only
//! member leaves, which tansu never does and the mock cannot reach.
//!
//! How tansu 0.6 rebalances shapes what is checked. An existing member
//! rejoining with other metadata starts a new generation (the Formed
//! group's join, administrator.rs:2425-2446), and every member's
//! subscription carries the generation it last joined (ConsumerProtocolSubscription v3, as the
//! Java client sends), so once members rejoin after a leave each rejoin
//! starts another generation: the group keeps rebalancing (40 to 75
//! generations in a run), and a moment where all three hold two partitions
//! each may never come. The leader's JoinGroup is answered at once with the
//! members tansu knows, not after all have rejoined, so a generation can
//! hand on a partition whose holder has not yet heard of it: the ledger
//! counts that apart (it must be given up later) and fails only on two
//! owners in the same generation. Progress is each member being handed
//! partitions in the phase and DescribeGroups showing exactly the members
//! expected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{GroupId, JoinGroupRequest};
use kafka_protocol::protocol::StrBytes;
use sluice::metrics::RebalanceStatsSnapshot;
use sluice::{Consumer, ConsumerConfig, ListenerFuture, RebalanceListener};
use sluice_fetch::{FetchConfig, TopicPartition};
use sluice_group::GroupConsumer;
use sluice_group::admin::describe_group;
use sluice_integration::{TempTopic, bootstrap, connect, unique_name};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use sluice_wire::KafkaCode;
use sluice_wire::connection::Connection;
use tokio::time::Instant;

const P: i32 = 6;
const WITHIN: Duration = Duration::from_secs(90);

/// Every member's rebalance callbacks, in the order they ran.
#[derive(Debug, Default)]
struct Ledger {
    /// The member owning each partition now, with the generation it was
    /// assigned in.
    owner: BTreeMap<i32, (String, i32)>,
    /// What went wrong, checked at the end: a partition assigned while
    /// another member owns it from the same generation, or revoked from a
    /// member that never held it.
    violations: Vec<String>,
    /// A partition assigned in one generation while a member still holds it
    /// from an older one, which the broker completed the new generation
    /// without (tansu does, see the module doc); the old holder must give
    /// it up once it hears.
    stale: Vec<String>,
    /// (partition, member) of those old holders, until they revoke.
    stale_held: BTreeSet<(i32, String)>,
    /// Assignments per phase and member.
    assigned: BTreeMap<(usize, String), usize>,
    /// Partitions revoked (or lost) per phase and member.
    revoked: BTreeMap<(usize, String), BTreeSet<i32>>,
    /// Partitions lost, per member, in order.
    lost: Vec<(String, Vec<i32>)>,
    /// Revocations that left the member owning partitions: never, when
    /// every rebalance is eager (each revokes all a member owns).
    partial: Vec<String>,
    /// The phase of the scenario (set by the test).
    phase: usize,
}

type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    fn assigned(&mut self, who: &str, generation: i32, ps: &[i32]) {
        for p in ps {
            if let Some((o, g)) = self.owner.get(p).filter(|(o, _)| o != who) {
                let v = format!(
                    "p{p} assigned to {who} in generation {generation} while {o} owns it from {g}"
                );
                if *g == generation {
                    self.violations.push(v);
                } else {
                    self.stale_held.insert((*p, o.clone()));
                    self.stale.push(v);
                }
            }
            self.owner.insert(*p, (who.to_string(), generation));
        }
        if !ps.is_empty() {
            *self
                .assigned
                .entry((self.phase, who.to_string()))
                .or_default() += 1;
        }
    }

    fn revoked(&mut self, who: &str, ps: &[i32]) {
        for p in ps {
            if self.owner.get(p).is_some_and(|(o, _)| o == who) {
                self.owner.remove(p);
            } else if !self.stale_held.remove(&(*p, who.to_string())) {
                let v = format!("p{p} revoked from {who}, which does not own it");
                self.violations.push(v);
            }
        }
        if !ps.is_empty() {
            let key = (self.phase, who.to_string());
            self.revoked.entry(key).or_default().extend(ps);
        }
        let kept: Vec<i32> = (self.owner.iter())
            .filter(|(_, (o, _))| o == who)
            .map(|(p, _)| *p)
            .collect();
        if !kept.is_empty() {
            let v = format!(
                "{who} revoked {ps:?} and kept {kept:?} (phase {})",
                self.phase
            );
            self.partial.push(v);
        }
    }

    /// Whether each of `members` was handed partitions in this phase.
    fn all_assigned(&self, members: &[&str]) -> bool {
        members
            .iter()
            .all(|m| self.assigned.contains_key(&(self.phase, m.to_string())))
    }
}

/// A member's listener: feeds the ledger.
struct Recorder {
    name: String,
    ledger: Shared,
}

fn numbers(tps: &[TopicPartition]) -> Vec<i32> {
    tps.iter().map(|tp| tp.partition).collect()
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.ledger
            .lock()
            .unwrap()
            .revoked(&self.name, &numbers(tps));
        Box::pin(async {})
    }

    fn on_partitions_lost<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.lost.push((self.name.clone(), numbers(tps)));
        ledger.revoked(&self.name, &numbers(tps));
        Box::pin(async {})
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        let generation = consumer.group_metadata().generation_id;
        self.ledger
            .lock()
            .unwrap()
            .assigned(&self.name, generation, &numbers(tps));
        Box::pin(async {})
    }
}

/// Every (partition, offset) read by any member, with its value.
type Reads = Arc<Mutex<BTreeMap<(i32, i64), Vec<u8>>>>;

/// A sluice member polling on its own task until stopped.
struct Running {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Consumer>,
}

impl Running {
    /// Starts member `name` (also its client.id) subscribed to `topic`.
    fn start(
        name: &str,
        group: &str,
        strategy: &str,
        topic: &str,
        ledger: &Shared,
        reads: &Reads,
    ) -> Running {
        let config = ConsumerConfig::from_pairs([
            ("bootstrap.servers", bootstrap().as_str()),
            ("client.id", name),
            ("group.id", group),
            ("partition.assignment.strategy", strategy),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "200"),
            ("fetch.max.wait.ms", "100"),
            // tansu's first JoinGroup waits about half of it.
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ])
        .expect("consumer config");
        let recorder = Recorder {
            name: name.to_string(),
            ledger: ledger.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, reads, topic, name) = (
            stop.clone(),
            reads.clone(),
            topic.to_string(),
            name.to_string(),
        );
        let task = tokio::spawn(async move {
            let mut consumer = Consumer::new(config).expect("consumer");
            consumer.set_rebalance_listener(recorder);
            consumer.subscribe(&[&topic]).await.expect("subscribe");
            while !stop2.load(Ordering::SeqCst) {
                let records = consumer
                    .poll(Duration::from_millis(100))
                    .await
                    .unwrap_or_else(|e| panic!("{name} polls: {e}"));
                let mut reads = reads.lock().unwrap();
                for r in records {
                    let value = r.value.as_deref().unwrap_or_default().to_vec();
                    if let Some(before) = reads.insert((r.partition, r.offset), value.clone()) {
                        assert_eq!(
                            before, value,
                            "p{} offset {} read twice, differently",
                            r.partition, r.offset
                        );
                    }
                }
            }
            consumer
        });
        Running { stop, task }
    }

    /// Stops polling and closes the member (revoke listener, commit,
    /// LeaveGroup); its rebalance counters as they were before it left.
    async fn leave(self) -> RebalanceStatsSnapshot {
        self.stop.store(true, Ordering::SeqCst);
        let consumer = self.task.await.expect("member task");
        let stats = consumer.stats().rebalance.expect("a group member's stats");
        consumer.close().await.expect("close");
        stats
    }
}

/// A producer task writing one record per partition per round (`p{p}-{n}`)
/// until stopped; it keeps every acknowledged (partition, offset, value).
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BTreeMap<(i32, i64), Vec<u8>>>,
}

impl Writer {
    fn start(topic: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, topic) = (stop.clone(), topic.to_string());
        let task = tokio::spawn(async move {
            let config = ProducerConfig::default()
                .with_pairs([
                    ("bootstrap.servers", bootstrap().as_str()),
                    ("linger.ms", "5"),
                    ("acks", "all"),
                ])
                .expect("producer config");
            let producer = Producer::connect(config).await.expect("producer");
            let mut acked = BTreeMap::new();
            let mut n = 0;
            while !stop2.load(Ordering::SeqCst) {
                let round: Vec<_> = (0..P)
                    .map(|p| {
                        let value = format!("p{p}-{n}");
                        let record = ProducerRecord::new(&topic, value.clone()).partition(p);
                        (p, value, producer.send(record))
                    })
                    .collect();
                for (p, value, delivery) in round {
                    let meta = delivery.await.expect("delivered");
                    assert_eq!(meta.partition, p);
                    acked.insert((p, meta.offset), value.into_bytes());
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await; // pacing, not synchronisation
            }
            producer.close().await;
            acked
        });
        Writer { stop, task }
    }

    async fn stop(self) -> BTreeMap<(i32, i64), Vec<u8>> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("writer")
    }
}

/// Waits until `done` holds for the ledger, or panics after `WITHIN`.
async fn wait_for(ledger: &Shared, what: &str, done: impl Fn(&Ledger) -> bool) {
    let deadline = Instant::now() + WITHIN;
    loop {
        {
            let l = ledger.lock().unwrap();
            if done(&l) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: gave up; ledger {l:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The group's protocol as the broker states it, once DescribeGroups shows
/// `group` Stable with exactly the members `names`.
///
/// tansu's DescribeGroups leaves the protocol out (protocol_data is always
/// "", client ids too: tansu-storage 0.6.0 lib.rs:1073-1110), so it is asked
/// differently: a JoinGroup listing only a protocol no member has is
/// refused with INCONSISTENT_GROUP_PROTOCOL, and the refusal names the
/// group's protocol (tansu-broker administrator.rs:1723-1747, 2292-2308).
/// The refusal comes before any member is added: the group is not touched.
/// Member ids start with the client id (`a1-<uuid>`), which names them.
async fn group_protocol(conn: &Connection, group: &str, names: &[&str]) -> String {
    let config = FetchConfig::default()
        .with_pairs([("bootstrap.servers", bootstrap().as_str())])
        .unwrap();
    let pool = sluice_fetch::pool::BrokerPool::new(
        config.bootstrap_servers.clone(),
        config.connection_config(),
    );
    let want: BTreeSet<&str> = names.iter().copied().collect();
    let deadline = Instant::now() + WITHIN;
    loop {
        let d = describe_group(&pool, group).await.expect("DescribeGroups");
        let members: BTreeSet<&str> = d
            .metrics
            .members
            .iter()
            .map(|m| m.member_id.split('-').next().unwrap_or_default())
            .collect();
        if d.metrics.state == "Stable" && members == want && d.metrics.members.len() == want.len() {
            assert_eq!(d.protocol_type, "consumer", "{d:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{group} never Stable with {names:?}: {:?}",
            d.metrics
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let probe = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_session_timeout_ms(6000)
        .with_rebalance_timeout_ms(6000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("no-member-has-this")),
        ]);
    let refused = conn.send(probe).await.expect("JoinGroup");
    assert_eq!(
        KafkaCode(refused.error_code),
        KafkaCode::INCONSISTENT_GROUP_PROTOCOL,
        "{refused:?}"
    );
    refused
        .protocol_name
        .map(|p| p.to_string())
        .expect("the refusal names the group's protocol")
}

/// Waits until every acknowledged offset was read, then checks each
/// partition was read from 0 without a gap, with the values written.
async fn wait_all_read(reads: &Reads, acked: &BTreeMap<(i32, i64), Vec<u8>>) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let missing: Vec<(i32, i64)> = {
            let r = reads.lock().unwrap();
            acked
                .keys()
                .filter(|k| !r.contains_key(k))
                .take(10)
                .copied()
                .collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records never read, e.g. {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = reads.lock().unwrap();
    for (k, v) in acked {
        assert_eq!(&r[k], v, "p{} offset {}: the value written", k.0, k.1);
    }
    for p in 0..P {
        let offsets: Vec<i64> = r.keys().filter(|(q, _)| *q == p).map(|(_, o)| *o).collect();
        let written = acked.keys().filter(|(q, _)| *q == p).count();
        assert!(written > 0, "p{p} written to");
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "p{p} read from 0 without a gap"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_group_rolls_to_cooperative_sticky_and_range_and_stays_on_range() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_test_writer()
        .try_init();
    let conn = connect("it-roll").await;
    let topic = TempTopic::create(&conn, "it-roll", P).await;
    let group = unique_name("g-roll");
    let (ledger, reads) = (Shared::default(), Reads::default());
    let writer = Writer::start(&topic.name);

    let mut names = vec!["a1", "b1", "c1"];
    let mut running = Vec::new();
    for name in &names {
        running.push(Running::start(
            name,
            &group,
            "range",
            &topic.name,
            &ledger,
            &reads,
        ));
    }
    wait_for(&ledger, "a1, b1, c1 get partitions", |l| {
        l.all_assigned(&names)
    })
    .await;
    assert_eq!(group_protocol(&conn, &group, &names).await, "range");

    // Step 1: one at a time, each range member closes and a new one on
    // [cooperative-sticky, range] takes its place in the same group.
    for (i, (old, new)) in [("a1", "a2"), ("b1", "b2"), ("c1", "c2")]
        .into_iter()
        .enumerate()
    {
        ledger.lock().unwrap().phase = i + 1;
        let at = names.iter().position(|n| *n == old).expect(old);
        names.remove(at);
        let stats = running.remove(at).leave().await;
        assert_eq!(stats.cooperative, 0, "{old}: {stats:?}");
        assert!(stats.eager >= 1, "{old} joined: {stats:?}");
        assert_eq!(stats.lost, 0, "{old}: {stats:?}");
        names.push(new);
        running.push(Running::start(
            new,
            &group,
            "cooperative-sticky,range",
            &topic.name,
            &ledger,
            &reads,
        ));
        wait_for(&ledger, &format!("{new} replaces {old}"), |l| {
            l.all_assigned(&names)
        })
        .await;
        // The broker kept range (tansu never switches; Kafka would not
        // either while a range-only member remains).
        assert_eq!(
            group_protocol(&conn, &group, &names).await,
            "range",
            "after {new} replaced {old}"
        );
    }

    let acked = writer.stop().await;
    wait_all_read(&reads, &acked).await;
    assert_eq!(group_protocol(&conn, &group, &names).await, "range");
    ledger.lock().unwrap().phase = 4; // the last members closing
    // Every upgraded member joined eagerly (and rebalanced so since, if
    // tansu asked it to rejoin when the others were replaced).
    for (name, member) in names.iter().zip(running) {
        let stats = member.leave().await;
        assert_eq!(stats.cooperative, 0, "{name}: {stats:?}");
        assert!(stats.eager >= 1, "{name} joined: {stats:?}");
        assert_eq!(stats.lost, 0, "{name}: {stats:?}");
    }
    {
        let l = ledger.lock().unwrap();
        assert!(l.violations.is_empty(), "{:?}", l.violations);
        assert!(l.lost.is_empty(), "{:?}", l.lost);
        // Eager throughout, upgraded members too: each revocation gave up
        // everything the member owned.
        assert!(l.partial.is_empty(), "{:?}", l.partial);
        assert!(l.owner.is_empty(), "all closed: {:?}", l.owner);
        assert!(l.stale_held.is_empty(), "all closed: {:?}", l.stale_held);
        eprintln!(
            "partitions handed on in a generation their holder had not left: {}",
            l.stale.len()
        );
    }
    topic.delete().await;
}
