//! SASL PLAIN against krafka's fake cluster, whose brokers act as a
//! SASL_PLAINTEXT listener once `require_sasl_plain` is set (tansu 0.6 has
//! only SCRAM): a group member and a producer authenticate and work, wrong
//! credentials end with the broker's refusal, and a client without SASL is
//! told to check security.protocol.

use std::time::Duration;

use sluice::Consumer;
use sluice_integration::{produce_to_with, unique_name};
use tokio::time::Instant;

use super::harness::{Cluster, Reader};

const USER: &str = "alice";
const PASSWORD: &str = "plain-pw-5c1e";

fn plain(password: &str) -> [(&'static str, String); 4] {
    [
        ("security.protocol", "SASL_PLAINTEXT".to_string()),
        ("sasl.mechanism", "PLAIN".to_string()),
        ("sasl.username", USER.to_string()),
        ("sasl.password", password.to_string()),
    ]
}

fn member(c: &Cluster, group: &str, password: Option<&str>) -> Consumer {
    let mut config = c.consumer_config(group, 100);
    if let Some(password) = password {
        for (k, v) in plain(password) {
            config.set(k, &v).expect("security key");
        }
    }
    Consumer::new(config).expect("consumer")
}

/// The first error a subscribed member meets, and how long it took.
async fn first_error(mut consumer: Consumer, topic: &str) -> (String, Duration) {
    let started = Instant::now();
    if let Err(e) = consumer.subscribe(&[topic]).await {
        return (e.to_string(), started.elapsed());
    }
    loop {
        match consumer.poll(Duration::from_millis(200)).await {
            Err(e) => return (e.to_string(), started.elapsed()),
            Ok(_) if started.elapsed() > Duration::from_secs(30) => {
                panic!("no error within 30 s")
            }
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_and_a_producer_authenticate_with_plain() {
    let c = Cluster::start("fk-sasl", 3).await;
    c.produce(0, 20).await;
    c.broker.require_sasl_plain(USER, PASSWORD);

    // The producer writes 3 more records per partition over SASL, at offsets 20, 21, 22
    // (produce_to checks each partition's acknowledged offsets are consecutive).
    let pairs = plain(PASSWORD);
    let settings: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    produce_to_with(&c.bootstrap(), &settings, &c.topic, &[0, 1, 2], 20, 3).await;
    let ends = c.ends();
    assert_eq!(ends.values().copied().collect::<Vec<_>>(), [23, 23, 23]);

    let group = unique_name("fk-sasl");
    let mut consumer = member(&c, &group, Some(PASSWORD));
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    let mut r = Reader::new(consumer, false);
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_ends_with_the_brokers_refusal_and_no_secret() {
    let c = Cluster::start("fk-sasl-bad", 1).await;
    c.broker.require_sasl_plain(USER, PASSWORD);
    let consumer = member(&c, &unique_name("fk-sasl-bad"), Some("wrong-pw-81f0"));
    let (error, elapsed) = first_error(consumer, &c.topic).await;
    assert!(
        error.contains("SASL PLAIN authentication failed at"),
        "{error}"
    );
    assert!(
        !error.contains("wrong-pw-81f0") && !error.contains(PASSWORD),
        "{error}"
    );
    // request.timeout.ms is 5 s in these tests: no retrying forever.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_sasl_is_told_to_check_security_protocol() {
    let c = Cluster::start("fk-sasl-none", 1).await;
    c.broker.require_sasl_plain(USER, PASSWORD);
    let consumer = member(&c, &unique_name("fk-sasl-none"), None);
    let (error, elapsed) = first_error(consumer, &c.topic).await;
    assert!(
        error.contains("security.protocol=SASL_PLAINTEXT or SASL_SSL"),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(7), "{elapsed:?}");
}
