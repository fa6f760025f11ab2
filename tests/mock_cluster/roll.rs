//! The second step of the documented two-step roll to cooperative-sticky
//! (KIP-429) over the wire, on librdkafka's mock cluster: three sluice
//! members on `[cooperative-sticky, range]` (eager, since range is in the
//! list), restarted one at a time on `cooperative-sticky` alone while a
//! producer writes; then a fourth member joins the fully cooperative group.
//!
//! Why not the whole roll here, nor on krafka's fake (read in librdkafka
//! 2.12.1, rdkafka-sys 4.10.0, and krafka 0.28.1):
//!
//! - librdkafka's mock picks the leader's first protocol
//!   (rdkafka_mock_cgrp.c:331-335, "FIXME: For now we'll blindly use the
//!   first protocol of the leader") and, writing the leader's member list,
//!   asserts every member's first protocol is that one
//!   (rdkafka_mock_cgrp.c:371-374, `rd_assert` is `assert`, rdposix.h:159,
//!   and rdkafka-sys builds without NDEBUG). Step 1 always has a `range`
//!   member next to a `[cooperative-sticky, range]` one: the assert aborts
//!   the test process, whichever member leads (tried: three `range`
//!   members settle, the first `[cooperative-sticky, range]` one joining
//!   ends the run with SIGABRT, "rdkafka_mock_cgrp.c:372: ... Assertion
//!   '!rd_kafkap_str_cmp_str( member2->protos[0].name,
//!   mcgrp->protocol_name)' failed"). Step 2 never does: every
//!   member lists cooperative-sticky first, which is also what Kafka picks
//!   (the only protocol all support).
//! - krafka's fake keeps one member per classic group: each JoinGroup
//!   replaces the membership with the joiner, who leads, on its first
//!   protocol (krafka src/testing/handlers.rs:2042, 2053-2064), so three
//!   members never form a group.
//! - tansu fixes the protocol when the group first forms (the first
//!   joiner's first protocol, tansu-broker src/coordinator/group/
//!   administrator.rs:1751) and refuses, INCONSISTENT_GROUP_PROTOCOL, any
//!   member not listing it (administrator.rs:1723-1747, 2292-2308): step 1
//!   runs there, but the group never moves off `range`, so step 2's first
//!   `cooperative-sticky` member is refused.
//!
//! The in-process coordinator of sluice-group's `membership::tests::roll`
//! selects protocols as Kafka does and runs both steps.
//!
//! Together with tests/roll.rs (step 1 against tansu: three `range`
//! members replaced one at a time by `[cooperative-sticky, range]` ones,
//! the group staying on `range`, eager throughout) this covers the roll
//! over the wire, each step on the broker that can run it. What only the
//! in-process test (crates/sluice-group/src/membership/tests/roll.rs)
//! covers is the switch between the steps: the group moving from `range`
//! to `cooperative-sticky` when the last range-only member leaves, which
//! tansu never does (it keeps the protocol the group formed with) and the
//! mock cannot reach (it aborts on step 1's mixed first protocols, so no
//! group here ever had `range`).

use std::time::Duration;

use sluice_integration::unique_name;

use super::cluster::Mock;
use super::cooperative::{
    ReadSet, Shared, Writer, sluice_config, sluice_member, wait_all_read, wait_for,
};

const P: i32 = 6;
const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rolls_from_cooperative_sticky_and_range_to_cooperative_sticky() {
    let mock = Mock::start();
    let topic = mock.topic("roll", P);
    let group = unique_name("roll");
    let (ledger, reads) = (Shared::default(), ReadSet::default());
    let writer = Writer::start(&mock, &topic, P);
    let both = sluice_config(&mock, &group, "cooperative-sticky,range");
    let coop = sluice_config(&mock, &group, "cooperative-sticky");

    let mut names = vec!["a1", "b1", "c1"];
    let mut running = Vec::new();
    for name in &names {
        running.push(sluice_member(name, both.clone(), &topic, &ledger, &reads));
    }
    wait_for(&ledger, WITHIN, "a1, b1, c1 settle", |l| {
        l.settled(&names, P)
    })
    .await;

    // Step 2: one at a time, each member closes and a new one on
    // cooperative-sticky alone takes its place in the same group.
    for (i, (old, new)) in [("a1", "a2"), ("b1", "b2"), ("c1", "c2")]
        .into_iter()
        .enumerate()
    {
        ledger.lock().unwrap().phase = i + 1;
        let at = names.iter().position(|n| *n == old).expect(old);
        names.remove(at);
        let stats = running.remove(at).leave().await.expect("sluice stats");
        // `[cooperative-sticky, range]` is eager whatever the group picks.
        assert_eq!(stats.cooperative, 0, "{old}: {stats:?}");
        assert!(stats.eager >= 1, "{old} joined: {stats:?}");
        names.push(new);
        running.push(sluice_member(new, coop.clone(), &topic, &ledger, &reads));
        wait_for(&ledger, WITHIN, &format!("{new} replaces {old}"), |l| {
            l.settled(&names, P)
        })
        .await;
    }

    // Fully cooperative: a member joining takes its share and only that is
    // revoked, from members that keep fetching the rest.
    ledger.lock().unwrap().phase = 4;
    names.push("d2");
    running.push(sluice_member("d2", coop.clone(), &topic, &ledger, &reads));
    wait_for(&ledger, WITHIN, "d2 joins", |l| l.settled(&names, P)).await;
    {
        let l = ledger.lock().unwrap();
        let taken = l.owned_by().get("d2").map_or(0, Vec::len);
        assert!(taken >= 1, "d2 owns {:?}", l.owned_by());
        let mut revoked = Vec::new();
        for m in ["a2", "b2", "c2"] {
            for p in l.revoked_in(4, m) {
                assert_eq!(l.owner.get(p).map(String::as_str), Some("d2"), "{m} p{p}");
                revoked.push(*p);
            }
        }
        assert_eq!(revoked.len(), taken, "only what d2 took: {:?}", l.revoked);
    }

    let rounds = writer.stop().await;
    assert!(rounds > 0, "the writer wrote");
    wait_all_read(&reads, P, rounds, WITHIN).await;
    ledger.lock().unwrap().phase = 5; // the last members closing
    for (name, member) in names.iter().zip(running) {
        let stats = member.leave().await.expect("sluice stats");
        assert_eq!(stats.eager, 0, "{name}: {stats:?}");
        assert!(stats.cooperative >= 1, "{name} joined: {stats:?}");
        assert_eq!(stats.lost, 0, "{name}: {stats:?}");
    }
    let l = ledger.lock().unwrap();
    assert!(l.violations.is_empty(), "{:?}", l.violations);
    assert!(l.lost.is_empty(), "{:?}", l.lost);
    assert!(l.owner.is_empty(), "all closed: {:?}", l.owner);
}
