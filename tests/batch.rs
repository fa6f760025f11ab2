//! The batch pipeline against a real broker: `sluice batch` over JSON events
//! written by librdkafka gives the true counts and sums; a batch process
//! killed with SIGKILL and restarted counts every record at least once and
//! at most one batch twice; a failing batch function is retried, then stops
//! the run with nothing committed past it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use sluice_batch::{Batch, BatchConfig, BatchError, Output, Pipeline, sync_fn};
use sluice_fetch::{FetchConfig, TopicPartition};
use sluice_group::{GroupConfig, GroupConsumer};
use sluice_integration::{
    Killed, TempTopic, batch_command, bootstrap, connect, orders, records_in, results_until,
    unique_name,
};
use sluice_produce::{Producer, ProducerConfig};

const BATCH: usize = 100;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_gives_the_true_counts_and_sums() {
    let conn = connect("sluice-it-batch").await;
    let input = TempTopic::create(&conn, "it-batch-in", 4).await;
    let output = TempTopic::create(&conn, "it-batch-out", 1).await;
    let truth = orders(&input.name, 5000, 0, false);

    let status = batch_command(
        &bootstrap(),
        BATCH,
        &input.name,
        &unique_name("it-batch"),
        &output.name,
        true,
    )
    .status()
    .expect("sluice batch runs");
    assert!(status.success(), "sluice batch -e: {status}");

    let results = results_until(&output.name, |r| records_in(r) >= 5000).await;
    assert_eq!(
        records_in(&results),
        5000,
        "every record in exactly one batch"
    );
    assert!(
        results
            .iter()
            .all(|r| r["records"].as_u64().unwrap() <= BATCH as u64)
    );
    let count: u64 = results
        .iter()
        .map(|r| r["stats:amount"]["count"].as_u64().unwrap())
        .sum();
    let sum: f64 = results
        .iter()
        .map(|r| r["stats:amount"]["sum"].as_f64().unwrap())
        .sum();
    assert_eq!(count, truth["count"].as_u64().unwrap());
    assert!(
        close(sum, truth["sum"].as_f64().unwrap()),
        "{sum} vs {}",
        truth["sum"]
    );
    let mut by_user: BTreeMap<String, f64> = BTreeMap::new();
    for r in &results {
        for (user, s) in r["sum-by:user:amount"]["sums"].as_object().unwrap() {
            *by_user.entry(user.clone()).or_default() += s.as_f64().unwrap();
        }
    }
    let expected = truth["by_user"].as_object().unwrap();
    assert_eq!(by_user.len(), expected.len());
    for (user, s) in expected {
        assert!(
            close(by_user[user], s.as_f64().unwrap()),
            "{user}: {} vs {s}",
            by_user[user]
        );
    }
    input.delete().await;
    output.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_process_killed_mid_run_counts_everything_at_least_once() {
    let conn = connect("sluice-it-batch-kill").await;
    let input = TempTopic::create(&conn, "it-batch-kill-in", 2).await;
    let output = TempTopic::create(&conn, "it-batch-kill-out", 1).await;
    let group = unique_name("it-batch-kill");
    let n = 6000;
    // One record per stored batch: the restart resumes from a commit in the middle of the
    // producer's batches, which tansu 0.6 cannot serve (see rdkafka_orders.py).
    orders(&input.name, n / 2, 0, true);

    let child = batch_command(
        &bootstrap(),
        BATCH,
        &input.name,
        &group,
        &output.name,
        false,
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("sluice batch starts");
    let mut child = Killed(child);
    // Some results are out (so it is mid-run), then SIGKILL: no LeaveGroup, no last commit.
    let before = results_until(&output.name, |r| r.len() >= 5).await.len();
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    // The rest of the input arrives while it is down.
    orders(&input.name, n / 2, n / 2, true);

    let status = batch_command(&bootstrap(), BATCH, &input.name, &group, &output.name, true)
        .status()
        .expect("sluice batch runs again");
    assert!(status.success(), "restarted sluice batch -e: {status}");

    let results = results_until(&output.name, |r| records_in(r) >= n as u64).await;
    assert!(
        results.len() > before,
        "the restarted process wrote results too"
    );
    // Every offset of every partition is covered by some result...
    let mut covered: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for r in &results {
        for range in r["ranges"].as_array().unwrap() {
            let p = range["partition"].as_i64().unwrap();
            let (first, last) = (
                range["first"].as_i64().unwrap(),
                range["last"].as_i64().unwrap(),
            );
            covered.entry(p).or_default().extend(first..=last);
        }
    }
    let total: usize = covered.values().map(BTreeSet::len).sum();
    assert_eq!(total, n, "every record counted at least once");
    for offsets in covered.values() {
        let (lo, hi) = (*offsets.first().unwrap(), *offsets.last().unwrap());
        assert_eq!((lo, offsets.len() as i64), (0, hi + 1), "no gap");
    }
    // ...and at most one batch (the one in flight at the kill) twice.
    let twice = records_in(&results) - n as u64;
    assert!(
        twice <= BATCH as u64,
        "{twice} records counted twice: more than one batch"
    );
    input.delete().await;
    output.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_is_retried_then_stops_the_run_without_a_commit_past_it() {
    let conn = connect("sluice-it-batch-fail").await;
    let input = TempTopic::create(&conn, "it-batch-fail-in", 1).await;
    let output = TempTopic::create(&conn, "it-batch-fail-out", 1).await;
    let group = unique_name("it-batch-fail");
    // 1000 events on one partition; order 537 is poison.
    orders(&input.name, 1000, 0, false);

    let fetch = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap().as_str()),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap();
    let group_config = GroupConfig {
        group_id: group.clone(),
        enable_auto_commit: false,
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(500),
        ..GroupConfig::default()
    };
    let mut consumer = GroupConsumer::new(fetch.clone(), group_config.clone())
        .await
        .unwrap();
    consumer.subscribe([input.name.clone()]);
    let producer = Producer::connect(
        ProducerConfig::default()
            .with_pairs([("bootstrap.servers", bootstrap().as_str())])
            .unwrap(),
    )
    .await
    .unwrap();
    let config = BatchConfig {
        max_records: BATCH,
        linger: Duration::from_secs(600),
        max_retries: 2,
        retry_backoff: Duration::from_millis(10),
        ..BatchConfig::default()
    };
    let mut pipeline =
        Pipeline::new(consumer, Some((producer, output.name.clone())), config).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let mut f = sync_fn(move |batch: &Batch| {
        let poison = batch
            .iter()
            .any(|r| serde_json::from_slice::<Value>(r.value.unwrap()).unwrap()["order_id"] == 537);
        if poison {
            seen.fetch_add(1, Ordering::SeqCst);
            return Err("order 537 cannot be processed".into());
        }
        Ok(vec![Output::json(
            &serde_json::json!({ "records": batch.len() }),
        )])
    });
    let outcome = pipeline.run(&mut f, true, &mut |_, _| {}).await;
    match outcome {
        Err(BatchError::Failed {
            attempts,
            records,
            ranges,
            source,
        }) => {
            assert_eq!((attempts, records), (3, BATCH));
            assert!(ranges.contains("500..=599"), "{ranges}");
            assert!(source.to_string().contains("537"));
        }
        other => panic!("expected the run to stop on the poison batch: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3, "first try and two retries");
    // Issue 13, defect 11: running again must not go on past the failed batch.
    let again = pipeline.run(&mut f, true, &mut |_, _| {}).await;
    assert!(
        matches!(&again, Err(BatchError::Stopped { ranges }) if ranges.contains("500..=599")),
        "a failed pipeline refuses to run again, naming the failed batch: {again:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the function was not called again"
    );
    pipeline.close().await.unwrap();

    // The group's offset stops at the failed batch's first record.
    let mut checker = GroupConsumer::new(fetch, group_config).await.unwrap();
    let tp = TopicPartition::new(input.name.as_str(), 0);
    let committed = checker.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(500));
    checker.close().await.unwrap();
    let results = results_until(&output.name, |r| r.len() >= 5).await;
    assert_eq!(results.len(), 5, "the five good batches wrote results");
    input.delete().await;
    output.delete().await;
}
