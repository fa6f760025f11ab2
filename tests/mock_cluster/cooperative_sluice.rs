//! Sluice-only cooperative-sticky groups on librdkafka's mock cluster: a
//! member joins and one leaves; a fenced member loses its partitions and
//! gets them back.
//!
//! The two-step roll (`range` -> `[cooperative-sticky, range]` ->
//! `cooperative-sticky`) runs here only from its second step (roll.rs,
//! which says why, with the lines of the mock, krafka and tansu that stop
//! the first); the whole roll runs against an in-process coordinator that
//! selects protocols as Kafka does (sluice-group's `membership::tests::roll`).

use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice_integration::unique_name;

use super::cluster::Mock;
use super::cooperative::{
    ReadSet, Shared, Writer, sluice_config, sluice_member, wait_all_read, wait_for,
};

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sluice_cooperative_group_revokes_only_what_moves() {
    const P: i32 = 8;
    let mock = Mock::start();
    let topic = mock.topic("coop-sluice", P);
    let group = unique_name("coop-sluice");
    let (ledger, reads) = (Shared::default(), ReadSet::default());
    let writer = Writer::start(&mock, &topic, P);
    let config = sluice_config(&mock, &group, "cooperative-sticky");
    let a = sluice_member("A", config.clone(), &topic, &ledger, &reads);
    let b = sluice_member("B", config.clone(), &topic, &ledger, &reads);
    let c = sluice_member("C", config.clone(), &topic, &ledger, &reads);
    wait_for(&ledger, WITHIN, "A, B, C settle", |l| {
        l.settled(&["A", "B", "C"], P)
    })
    .await;
    ledger.lock().unwrap().phase = 1;
    let d = sluice_member("D", config.clone(), &topic, &ledger, &reads);
    wait_for(&ledger, WITHIN, "D joins", |l| {
        l.settled(&["A", "B", "C", "D"], P)
    })
    .await;
    {
        let l = ledger.lock().unwrap();
        let taken = l.owned_by()["D"].len();
        let revoked: Vec<(&str, &[i32])> = ["A", "B", "C"]
            .iter()
            .map(|m| (*m, l.revoked_in(1, m)))
            .collect();
        assert_eq!(
            revoked.iter().map(|(_, r)| r.len()).sum::<usize>(),
            taken,
            "only what D took was revoked: {revoked:?}"
        );
    }
    ledger.lock().unwrap().phase = 2;
    b.leave().await;
    wait_for(&ledger, WITHIN, "B leaves", |l| {
        l.settled(&["A", "C", "D"], P)
    })
    .await;
    let rounds = writer.stop().await;
    wait_all_read(&reads, P, rounds, WITHIN).await;
    {
        let l = ledger.lock().unwrap();
        for m in ["A", "C", "D"] {
            assert_eq!(
                l.revoked_in(2, m),
                &[] as &[i32],
                "{m} untouched when B left"
            );
        }
    }
    ledger.lock().unwrap().phase = 3;
    let mut stats = Vec::new();
    for m in [a, c, d] {
        stats.push(m.leave().await.expect("a sluice member's stats"));
    }
    let l = ledger.lock().unwrap();
    assert!(l.violations.is_empty() && l.lost.is_empty(), "{l:?}");
    // Records never stopped for A or C: whatever D and B's leaving moved,
    // they kept fetching the rest (each such rebalance counts a pause of 0).
    for (name, s) in ["A", "C"].iter().zip(&stats) {
        assert_eq!(s.eager, 0, "{name}: {s:?}");
        assert!(s.cooperative >= 2, "{name}: joined, then rounds: {s:?}");
        assert!(s.pauses >= 1, "{name} gained B's partitions: {s:?}");
        assert_eq!(s.pause_total, Duration::ZERO, "{name}: {s:?}");
        assert_eq!(s.last_pause, Some(Duration::ZERO), "{name}: {s:?}");
    }
}

/// A heartbeat answered ILLEGAL_GENERATION: that member's partitions are
/// lost (the listener hears `on_partitions_lost`), it rejoins and the group
/// hands it partitions again; no record goes unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_cooperative_member_loses_its_partitions_and_rejoins() {
    const P: i32 = 4;
    let mock = Mock::start();
    let topic = mock.topic("coop-lost", P);
    let group = unique_name("coop-lost");
    let (ledger, reads) = (Shared::default(), ReadSet::default());
    let writer = Writer::start(&mock, &topic, P);
    let config = sluice_config(&mock, &group, "cooperative-sticky");
    let a = sluice_member("A", config.clone(), &topic, &ledger, &reads);
    let b = sluice_member("B", config.clone(), &topic, &ledger, &reads);
    wait_for(&ledger, WITHIN, "A and B settle", |l| {
        l.settled(&["A", "B"], P)
    })
    .await;
    mock.cluster.request_errors(
        RDKafkaApiKey::Heartbeat,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    wait_for(&ledger, WITHIN, "a member loses its partitions", |l| {
        !l.lost.is_empty()
    })
    .await;
    wait_for(&ledger, WITHIN, "the group settles again", |l| {
        l.settled(&["A", "B"], P)
    })
    .await;
    let rounds = writer.stop().await;
    wait_all_read(&reads, P, rounds, WITHIN).await;
    for m in [a, b] {
        m.leave().await;
    }
    let l = ledger.lock().unwrap();
    assert_eq!(l.lost.len(), 1, "{:?}", l.lost);
    assert_eq!(l.lost[0].1.len(), 2, "it lost both of its partitions");
    assert!(l.violations.is_empty(), "{:?}", l.violations);
}
