//! `group.protocol=consumer` against a broker without KIP-848 (tansu 0.6 has
//! no ConsumerGroupHeartbeat in its ApiVersions): the consumer fails at
//! its first heartbeat, and the error says to use `group.protocol=classic`.

use std::time::Duration;

use sluice::{Consumer, ConsumerConfig};
use sluice_integration::{TempTopic, bootstrap, connect, unique_name};
use tokio::time::Instant;

fn config(group: &str, protocol: &str) -> ConsumerConfig {
    ConsumerConfig::from_pairs([
        ("bootstrap.servers", bootstrap().as_str()),
        ("group.id", group),
        ("group.protocol", protocol),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])
    .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_protocol_on_a_broker_without_it_says_to_use_classic() {
    let conn = connect("kip848-tansu").await;
    let topic = TempTopic::create(&conn, "kip848-tansu", 1).await;
    let name = topic.name.clone();
    let mut consumer =
        Consumer::new(config(&unique_name("kip848-tansu"), "consumer")).expect("consumer");
    consumer
        .subscribe(&[name.as_str()])
        .await
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        assert!(Instant::now() < deadline, "no error within 30 s");
        match consumer.poll(Duration::from_millis(200)).await {
            Ok(records) => assert!(records.is_empty(), "records without a group"),
            Err(e) => break e.to_string(),
        }
    };
    eprintln!("kip848 on tansu: {error}");
    assert!(error.contains("group.protocol=classic"), "{error}");
    assert!(error.contains("ConsumerGroupHeartbeat"), "{error}");
    // Every later call says the same.
    let again = consumer
        .poll(Duration::from_millis(10))
        .await
        .expect_err("still failed");
    assert!(
        again.to_string().contains("group.protocol=classic"),
        "{again}"
    );
    let _ = consumer.close().await;
    topic.delete().await;
}
