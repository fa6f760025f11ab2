//! Transaction markers under a group member: commits store the position,
//! which is past the markers, so a member that read everything has lag 0.

use std::time::Duration;

use sluice::TopicPartition;
use sluice_integration::unique_name;
use tokio::time::Instant;

use super::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_store_the_position_past_transaction_markers() {
    let c = Cluster::start("fk-txn-markers", 1).await;
    let producer = krafka::Kafka::builder(c.broker.bootstrap_servers())
        .connect()
        .await
        .expect("krafka connects")
        .producer()
        .build_transactional(&unique_name("fk-txn"))
        .await
        .expect("transactional producer");
    for round in 0..2 {
        producer.begin().expect("begin");
        for i in 0..5 {
            let _ = producer
                .send(krafka::Record::new(c.topic.as_str(), format!("r{round}-{i}")).partition(0))
                .await
                .expect("send");
        }
        producer.commit().await.expect("commit");
    }
    // Five records and a commit marker, twice: the log ends at 12.
    let end = c.ends()[&0];
    assert_eq!(
        end, 12,
        "two transactions of five records and their markers"
    );

    let group = unique_name("fk-txn-markers");
    let mut config = c.consumer_config(&group, 100);
    config
        .fetch
        .set("isolation.level", "read_committed")
        .unwrap();
    let mut consumer = sluice::Consumer::new(config).unwrap();
    consumer.subscribe(&[c.topic.as_str()]).await.unwrap();
    let tp = TopicPartition::new(c.topic.as_str(), 0);
    let mut offsets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while offsets.len() < 10 || consumer.position(&tp) != Some(end) {
        assert!(
            Instant::now() < deadline,
            "read {offsets:?}, position {:?}",
            consumer.position(&tp)
        );
        let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
        offsets.extend(records.iter().map(|r| r.offset));
    }
    assert_eq!(
        offsets,
        vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 10],
        "the markers are never records"
    );
    consumer.commit_sync().await.unwrap();
    // Not 11 (the last record + 1): the position, past the last marker.
    assert_eq!(c.broker.committed_offset(&group, &c.topic, 0), Some(end));
    assert_eq!(
        consumer.lag().values().flatten().sum::<i64>(),
        0,
        "lag reaches 0"
    );
    consumer.close().await.unwrap();
    producer.close().await.expect("close");
}
