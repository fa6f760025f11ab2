//! sluice's producer and consumer with a listener's security settings.

use std::time::Duration;

use sluice::{Consumer, ConsumerConfig, OffsetSpec, TopicPartition};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use tokio::time::Instant;

use super::env::Pairs;

/// `base` pairs followed by the listener's `security` pairs, borrowed.
pub fn joined<'a>(base: &[(&'a str, &'a str)], security: &'a Pairs) -> Vec<(&'a str, &'a str)> {
    let mut all = base.to_vec();
    all.extend(security.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all
}

/// sluice's producer writes `values` to partition 0 of `topic` (acks=all)
/// and checks they land at offsets 0.. in order.
pub async fn sluice_produce(bootstrap: &str, security: &Pairs, topic: &str, values: &[String]) {
    let base = [
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "5"),
        ("acks", "all"),
    ];
    let config = ProducerConfig::default()
        .with_pairs(joined(&base, security))
        .expect("producer config with security keys");
    let producer = Producer::connect(config).await.expect("producer connects");
    let pending: Vec<_> = values
        .iter()
        .map(|v| producer.send(ProducerRecord::new(topic, v.clone()).partition(0)))
        .collect();
    let mut offsets = Vec::new();
    for delivery in pending {
        offsets.push(delivery.await.expect("delivered").offset);
    }
    assert_eq!(
        offsets,
        (0..values.len() as i64).collect::<Vec<_>>(),
        "acknowledged offsets"
    );
    producer.close().await;
}

/// A consumer config over the listener: earliest, short fetch waits,
/// `extra` pairs, then the security pairs.
pub fn consumer_config(
    bootstrap: &str,
    security: &Pairs,
    extra: &[(&str, &str)],
) -> ConsumerConfig {
    let mut base = vec![
        ("bootstrap.servers", bootstrap),
        ("client.id", "sluice-it-security"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "200"),
    ];
    base.extend_from_slice(extra);
    ConsumerConfig::from_pairs(joined(&base, security)).expect("consumer config with security keys")
}

/// Reads values from `consumer` until `count` arrived (30 s at most).
async fn poll_values(consumer: &mut Consumer, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records after 30 s",
            out.len()
        );
        for r in consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let value = r.value.expect("a value");
            out.push(String::from_utf8(value.to_vec()).expect("UTF-8 value"));
        }
    }
    out
}

/// sluice's consumer, assigned partition 0 of `topic` from the earliest
/// offset, reads `count` values.
pub async fn sluice_read(
    bootstrap: &str,
    security: &Pairs,
    topic: &str,
    count: usize,
) -> Vec<String> {
    let mut consumer = Consumer::new(consumer_config(bootstrap, security, &[])).expect("consumer");
    let tp = TopicPartition::new(topic, 0);
    consumer
        .assign(std::slice::from_ref(&tp))
        .await
        .expect("assign");
    consumer.seek_to(&tp, OffsetSpec::Earliest).expect("seek");
    let values = poll_values(&mut consumer, count).await;
    consumer.close().await.expect("close");
    values
}

/// sluice's consumer joins `group`, subscribed to `topic`, and reads `count`
/// values.
pub async fn sluice_group_read(
    bootstrap: &str,
    security: &Pairs,
    topic: &str,
    group: &str,
    count: usize,
) -> Vec<String> {
    let extra = [
        ("group.id", group),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("enable.auto.commit", "false"),
    ];
    let mut consumer =
        Consumer::new(consumer_config(bootstrap, security, &extra)).expect("group consumer");
    consumer.subscribe(&[topic]).await.expect("subscribe");
    let values = poll_values(&mut consumer, count).await;
    consumer.close().await.expect("close");
    values
}

/// `count` distinct values naming the case: `{prefix}-{i}`.
pub fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}
