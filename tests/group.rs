//! Consumer groups against a real broker: sluice members sharing a topic,
//! rebalances without loss, mixed groups with librdkafka under both
//! assignors, committed-offset interop, and a member killed with SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_fetch::{FetchConfig, TopicPartition};
use sluice_group::{GroupConfig, GroupConsumer, OffsetAndMetadata, Offsets};
use sluice_integration::{
    TempTopic, bootstrap, connect, member_configs, run_peer, sluice_bin, unique_name,
};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// What every member reports: records seen and its latest assignment.
#[derive(Default)]
struct Seen {
    records: Vec<(i32, i64)>,
    assignments: BTreeMap<String, Vec<i32>>,
    /// Records printed by each `sluice consume -G` process.
    printed: BTreeMap<String, usize>,
    /// Assignments each `sluice consume -G` process logged.
    assigned: BTreeMap<String, usize>,
}

type Shared = Arc<(Mutex<Seen>, Notify)>;

fn produce(topic: &str, partitions: i32, count: usize) {
    let acked = run_peer(
        "rdkafka_produce.py",
        &[
            &bootstrap(),
            topic,
            &partitions.to_string(),
            &count.to_string(),
            "none,lz4",
        ],
    );
    assert_eq!(acked.trim(), count.to_string());
}

fn configs(group: &str, strategy: &str) -> (FetchConfig, GroupConfig) {
    member_configs(&bootstrap(), group, strategy)
}

/// A sluice member polling in a task: records go to `seen`, its assignment
/// after every poll, and it commits synchronously after each non-empty poll.
/// Closing it (commit, LeaveGroup) happens when `stop` turns true.
async fn member(
    name: &str,
    group: &str,
    topic: &str,
    strategy: &str,
    seen: Shared,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (fetch, g) = configs(group, strategy);
    let mut consumer = GroupConsumer::new(fetch, g).await.expect("consumer");
    consumer.subscribe([topic]);
    let name = name.to_string();
    tokio::spawn(async move {
        while !*stop.borrow() {
            let records = tokio::select! {
                r = consumer.poll(Duration::from_millis(200)) => r.expect("poll"),
                _ = stop.changed() => break,
            };
            if !records.is_empty() {
                consumer.commit_sync().await.expect("commit");
            }
            let assigned: Vec<i32> = consumer
                .assignment()
                .iter()
                .map(|tp| tp.partition)
                .collect();
            let (lock, notify) = &*seen;
            let mut s = lock.lock().unwrap();
            s.records
                .extend(records.iter().map(|r| (r.partition, r.offset)));
            s.assignments.insert(name.clone(), assigned);
            drop(s);
            notify.notify_waiters();
        }
        consumer.close().await.expect("close");
        let (lock, notify) = &*seen;
        lock.lock().unwrap().assignments.remove(&name);
        notify.notify_waiters();
    })
}

/// Waits (up to `limit`) for `cond` over what members reported.
async fn wait_for(seen: &Shared, limit: Duration, what: &str, cond: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + limit;
    let (lock, notify) = &**seen;
    loop {
        let notified = notify.notified();
        if cond(&lock.lock().unwrap()) {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            let s = lock.lock().unwrap();
            panic!(
                "timed out waiting for {what}: {} records, assignments {:?}",
                s.records.len(),
                s.assignments
            );
        }
    }
}

/// Every partition owned by exactly one of `members` reporting members.
fn balanced(s: &Seen, members: usize, partitions: i32) -> bool {
    let owned: Vec<i32> = s.assignments.values().flatten().copied().collect();
    let unique: BTreeSet<i32> = owned.iter().copied().collect();
    s.assignments.len() == members
        && s.assignments.values().all(|a| !a.is_empty())
        && owned.len() == partitions as usize
        && unique == (0..partitions).collect()
}

fn distinct(s: &Seen) -> usize {
    s.records.iter().collect::<BTreeSet<_>>().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_six_partitions_and_rebalance_without_loss() {
    let conn = connect("it-group-three").await;
    let topic = TempTopic::create(&conn, "it-group-three", 6).await;
    let group = unique_name("g-three");
    let seen: Shared = Arc::default();
    let (stop_tx, stop) = watch::channel(false);
    let (stop_c_tx, stop_c) = watch::channel(false);
    let limit = Duration::from_secs(60);

    let a = member(
        "a",
        &group,
        &topic.name,
        "range",
        seen.clone(),
        stop.clone(),
    )
    .await;
    let b = member(
        "b",
        &group,
        &topic.name,
        "range",
        seen.clone(),
        stop.clone(),
    )
    .await;
    let c = member("c", &group, &topic.name, "range", seen.clone(), stop_c).await;
    wait_for(&seen, limit, "three members to share six partitions", |s| {
        balanced(s, 3, 6)
    })
    .await;
    {
        let s = seen.0.lock().unwrap();
        for owned in s.assignments.values() {
            assert_eq!(
                owned.len(),
                2,
                "range gives each of 3 members 2 of 6: {:?}",
                s.assignments
            );
        }
    }
    produce(&topic.name, 6, 600);
    wait_for(&seen, limit, "600 records", |s| distinct(s) == 600).await;

    // One member leaves: the other two take its partitions and go on.
    stop_c_tx.send(true).unwrap();
    c.await.unwrap();
    wait_for(&seen, limit, "two members to share six partitions", |s| {
        balanced(s, 2, 6)
    })
    .await;
    produce(&topic.name, 6, 600);
    wait_for(&seen, limit, "1200 records", |s| distinct(s) == 1200).await;

    // A member joins: three again, and consumption goes on.
    let (stop_d_tx, stop_d) = watch::channel(false);
    let d = member("d", &group, &topic.name, "range", seen.clone(), stop_d).await;
    wait_for(&seen, limit, "a joining member to get partitions", |s| {
        balanced(s, 3, 6)
    })
    .await;
    produce(&topic.name, 6, 600);
    wait_for(&seen, limit, "1800 records", |s| distinct(s) == 1800).await;

    stop_tx.send(true).unwrap();
    stop_d_tx.send(true).unwrap();
    for h in [a, b, d] {
        h.await.unwrap();
    }
    {
        let s = seen.0.lock().unwrap();
        let per_partition: BTreeMap<i32, BTreeSet<i64>> =
            s.records.iter().fold(BTreeMap::new(), |mut m, (p, o)| {
                m.entry(*p).or_default().insert(*o);
                m
            });
        for (p, offsets) in &per_partition {
            let expected: BTreeSet<i64> = (0..300).collect();
            assert_eq!(
                offsets, &expected,
                "partition {p}: every offset, none missing"
            );
        }
        assert_eq!(
            s.records.len(),
            1800,
            "graceful rebalances with synchronous commits re-deliver nothing"
        );
    }
    topic.delete().await;
}

/// A librdkafka member in a child process; `lines` gets what it prints.
struct Peer {
    child: Child,
}

impl Peer {
    fn start(group: &str, topic: &str, strategy: &str, name: &str, seen: Shared) -> Peer {
        let mut child = Command::new("python3")
            .arg(sluice_integration::repo_root().join("tests/peers/rdkafka_group_member.py"))
            .args([&bootstrap(), group, topic, strategy])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let name = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (lock, notify) = &*seen;
                let mut s = lock.lock().unwrap();
                if let Some(parts) = line.strip_prefix("assigned ") {
                    let parts = parts.split(',').filter_map(|p| p.parse().ok()).collect();
                    s.assignments.insert(name.clone(), parts);
                } else if line.starts_with("revoked") {
                    s.assignments.insert(name.clone(), Vec::new());
                } else if let Some(rec) = line.strip_prefix("record ") {
                    let (p, o) = rec.split_once(' ').unwrap();
                    s.records.push((p.parse().unwrap(), o.parse().unwrap()));
                }
                drop(s);
                notify.notify_waiters();
            }
        });
        Peer { child }
    }

    /// Closes its stdin (it commits, leaves and exits) and waits.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "librdkafka member failed: {status}");
    }
}

async fn mixed_group(strategy: &str) {
    let conn = connect("it-group-mixed").await;
    let topic = TempTopic::create(&conn, "it-group-mixed", 4).await;
    let group = unique_name(&format!("g-mixed-{strategy}"));
    let seen: Shared = Arc::default();
    let (stop_tx, stop) = watch::channel(false);
    let limit = Duration::from_secs(60);

    let ours = member("sluice", &group, &topic.name, strategy, seen.clone(), stop).await;
    let peer = Peer::start(&group, &topic.name, strategy, "rdkafka", seen.clone());
    wait_for(
        &seen,
        limit,
        "sluice and librdkafka to share 4 partitions",
        |s| balanced(s, 2, 4),
    )
    .await;
    {
        let s = seen.0.lock().unwrap();
        let expected: BTreeSet<Vec<i32>> = if strategy == "range" {
            [vec![0, 1], vec![2, 3]].into()
        } else {
            [vec![0, 2], vec![1, 3]].into()
        };
        let got: BTreeSet<Vec<i32>> = s.assignments.values().cloned().collect();
        assert_eq!(
            got, expected,
            "{strategy} splits 4 partitions between 2 members"
        );
    }
    produce(&topic.name, 4, 800);
    wait_for(&seen, limit, "800 records", |s| distinct(s) == 800).await;
    {
        let s = seen.0.lock().unwrap();
        assert_eq!(
            s.records.len(),
            800,
            "in the steady state every record is read once"
        );
    }
    stop_tx.send(true).unwrap();
    ours.await.unwrap();
    peer.stop();
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_librdkafka_range() {
    mixed_group("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_librdkafka_roundrobin() {
    mixed_group("roundrobin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_shared_with_librdkafka_both_ways() {
    let conn = connect("it-group-commit").await;
    let topic = TempTopic::create(&conn, "it-group-commit", 3).await;
    let group = unique_name("g-commit");
    let (fetch, g) = configs(&group, "range");
    let mut consumer = GroupConsumer::new(fetch, g).await.unwrap();
    let tps: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.name.as_str(), p))
        .collect();

    // sluice commits (as a member of the group, with metadata) and librdkafka reads them.
    consumer.subscribe([topic.name.as_str()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().len() < 3 {
        assert!(Instant::now() < deadline, "sluice joined the group");
        consumer.poll(Duration::from_millis(200)).await.unwrap();
    }
    let ours: Offsets = [
        (tps[0].clone(), OffsetAndMetadata::new(5)),
        (
            tps[1].clone(),
            OffsetAndMetadata {
                offset: 17,
                leader_epoch: None,
                metadata: Some("from-sluice".into()),
            },
        ),
    ]
    .into();
    consumer.commit_offsets_sync(ours).await.unwrap();
    consumer.close().await.unwrap();
    let read = run_peer(
        "rdkafka_committed.py",
        &[&bootstrap(), &group, &topic.name, "3"],
    );
    let read: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(read["0"][0], 5);
    assert_eq!(read["1"][0], 17);
    assert_eq!(read["2"][0], -1001, "nothing committed for partition 2");
    // tansu 0.6 does not store commit metadata (OffsetFetch answers ""); a broker that
    // does must give librdkafka what sluice wrote.
    let kept = read["1"][1].as_str();
    assert!(
        kept.is_none() || kept == Some("from-sluice"),
        "metadata {kept:?}"
    );

    // librdkafka commits and sluice reads them.
    run_peer(
        "rdkafka_committed.py",
        &[
            &bootstrap(),
            &group,
            &topic.name,
            "3",
            "0=42",
            "2=7:from-rdkafka",
        ],
    );
    let (fetch, g) = configs(&group, "range");
    let mut consumer = GroupConsumer::new(fetch, g).await.unwrap();
    let committed = consumer.committed(&tps).await.unwrap();
    assert_eq!(committed[&tps[0]].as_ref().map(|o| o.offset), Some(42));
    assert_eq!(committed[&tps[1]].as_ref().map(|o| o.offset), Some(17));
    let two = committed[&tps[2]].clone().expect("partition 2 committed");
    assert_eq!(two.offset, 7);
    assert!(
        two.metadata.is_none() || two.metadata.as_deref() == Some("from-rdkafka"),
        "metadata {:?}",
        two.metadata
    );
    consumer.close().await.unwrap();
    topic.delete().await;
}

/// A `sluice consume -G` process; its stdout lines and stderr "assigned"
/// logs reach `seen`.
fn cli_member(group: &str, topic: &str, name: &str, seen: Shared) -> Child {
    let mut child = Command::new(sluice_bin())
        .args([
            "consume",
            "-b",
            &bootstrap(),
            "-t",
            topic,
            "-G",
            group,
            "--json",
        ])
        .args([
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=1000",
        ])
        .args([
            "-X",
            "auto.commit.interval.ms=100",
            "-X",
            "max.poll.records=20",
        ])
        .env("RUST_LOG", "sluice_group=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice runs");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_seen = seen.clone();
    let out_name = name.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let row: serde_json::Value = serde_json::from_str(&line).unwrap();
            let (lock, notify) = &*out_seen;
            let mut s = lock.lock().unwrap();
            s.records.push((
                row["partition"].as_i64().unwrap() as i32,
                row["offset"].as_i64().unwrap(),
            ));
            *s.printed.entry(out_name.clone()).or_default() += 1;
            drop(s);
            notify.notify_waiters();
        }
    });
    let name = name.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("partitions assigned") {
                let (lock, notify) = &*seen;
                *lock
                    .lock()
                    .unwrap()
                    .assigned
                    .entry(name.clone())
                    .or_default() += 1;
                notify.notify_waiters();
            }
        }
    });
    child
}

/// A member killed with SIGKILL mid-stream loses nothing: once its session
/// expires, its partitions resume from its last commit on another member.
///
/// On tansu 0.6 the rebalance that expires a dead member keeps the
/// generation and hands every member its old assignment again, so the dead
/// member's partitions stay orphaned until the next real rebalance (librdkafka
/// members stall the same way; Apache Kafka gives them to the survivor at
/// once). The test therefore waits for the expiry rebalance, then adds a
/// member, and checks that every record is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_with_sigkill_loses_nothing() {
    let conn = connect("it-group-kill").await;
    let topic = TempTopic::create(&conn, "it-group-kill", 4).await;
    let group = unique_name("g-kill");
    let seen: Shared = Arc::default();
    let limit = Duration::from_secs(90);
    let assigned = |s: &Seen, m: &str| s.assigned.get(m).copied().unwrap_or(0);

    produce(&topic.name, 4, 400);
    let a = cli_member(&group, &topic.name, "a", seen.clone());
    wait_for(&seen, limit, "the first member to read everything", |s| {
        distinct(s) >= 400
    })
    .await;
    let mut b = cli_member(&group, &topic.name, "b", seen.clone());
    wait_for(&seen, limit, "the second member to be assigned", |s| {
        assigned(s, "b") > 0
    })
    .await;
    // More records while both own partitions; `b` dies without leaving once it has read some.
    produce(&topic.name, 4, 400);
    wait_for(&seen, limit, "the second member to read", |s| {
        s.printed.get("b").is_some_and(|&n| n > 0)
    })
    .await;
    let before = assigned(&seen.0.lock().unwrap(), "a");
    b.kill().unwrap(); // SIGKILL
    b.wait().unwrap();
    produce(&topic.name, 4, 400);
    wait_for(&seen, limit, "the group to expire the killed member", |s| {
        assigned(s, "a") > before
    })
    .await;
    let c = cli_member(&group, &topic.name, "c", seen.clone());
    wait_for(&seen, limit, "all 1200 records", |s| distinct(s) == 1200).await;
    for mut child in [a, c] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    {
        let s = seen.0.lock().unwrap();
        let all: BTreeSet<(i32, i64)> = s.records.iter().copied().collect();
        let expected: BTreeSet<(i32, i64)> =
            (0..4).flat_map(|p| (0..300).map(move |o| (p, o))).collect();
        assert_eq!(all, expected, "every record was read by some member");
        eprintln!(
            "sigkill: {} deliveries for 1200 records ({} re-delivered after the kill)",
            s.records.len(),
            s.records.len() - 1200
        );
    }
    topic.delete().await;
}

/// A static member (KIP-345) polls until it owns `partitions` and returns
/// it with the generation it joined; `others` are polled meanwhile.
async fn static_member(
    group: &str,
    topic: &str,
    instance: &str,
    partitions: usize,
    others: &mut [&mut GroupConsumer],
) -> (GroupConsumer, i32) {
    let (fetch, mut config) = configs(group, "range");
    assert!(config.set("group.instance.id", instance).unwrap());
    assert!(config.set("session.timeout.ms", "30000").unwrap());
    let mut consumer = GroupConsumer::new(fetch, config).await.unwrap();
    consumer.subscribe([topic]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumer.assignment().len() < partitions {
        assert!(
            Instant::now() < deadline,
            "{instance} never got its partitions"
        );
        consumer.poll(Duration::from_millis(100)).await.unwrap();
        for other in others.iter_mut() {
            other.poll(Duration::from_millis(100)).await.unwrap();
        }
    }
    let generation = consumer.stats().rebalance.generation.expect("joined");
    (consumer, generation)
}

/// KIP-345: a static member that closes (no LeaveGroup) and restarts within
/// session.timeout.ms comes back to its partitions in the same generation:
/// the group does not rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_the_session_timeout_gets_its_partitions_back() {
    let conn = connect("it-group-static").await;
    let topic = TempTopic::create(&conn, "it-group-static", 3).await;
    let group = unique_name("g-static");
    let (first, generation) = static_member(&group, &topic.name, "static-a", 3, &mut []).await;
    let before = first.assignment();
    first.close().await.unwrap();
    let (second, again) = static_member(&group, &topic.name, "static-a", 3, &mut []).await;
    assert_eq!(second.assignment(), before, "the same partitions");
    assert_eq!(
        again, generation,
        "no rebalance: the generation is unchanged"
    );
    assert_eq!(
        second.stats().rebalance.eager,
        1,
        "one join, no second round"
    );
    second.close().await.unwrap();
}

/// The same with a second static member: its generation and partitions
/// stay as they were while the first restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_restart_leaves_the_other_static_member_alone() {
    let conn = connect("it-group-static2").await;
    let topic = TempTopic::create(&conn, "it-group-static2", 4).await;
    let group = unique_name("g-static2");
    let (mut b, _) = static_member(&group, &topic.name, "static-b", 4, &mut []).await;
    let (first, generation) =
        static_member(&group, &topic.name, "static-a", 2, &mut [&mut b]).await;
    // b gives two up in the rebalance a's first join caused.
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.assignment().len() != 2 || b.stats().rebalance.generation != Some(generation) {
        assert!(Instant::now() < deadline, "b settles");
        b.poll(Duration::from_millis(200)).await.unwrap();
    }
    let (before_a, before_b) = (first.assignment(), b.assignment());
    let rebalances_b = b.stats().group.rebalances;
    first.close().await.unwrap();
    let (second, again) = static_member(&group, &topic.name, "static-a", 2, &mut [&mut b]).await;
    for _ in 0..10 {
        b.poll(Duration::from_millis(200)).await.unwrap();
    }
    assert_eq!(second.assignment(), before_a);
    assert_eq!(again, generation, "no rebalance");
    assert_eq!(b.assignment(), before_b);
    assert_eq!(
        b.stats().group.rebalances,
        rebalances_b,
        "b was not rebalanced"
    );
    second.close().await.unwrap();
    b.close().await.unwrap();
}
