//! Helpers for the integration suite: where the broker is, unique names, and
//! topics that are created for one test and deleted after it.
//!
//! The suite needs a running broker: `scripts/test.sh` starts tansu and sets
//! `SLUICE_BOOTSTRAP`; `KAFKA_BOOTSTRAP` points it at any other broker.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;
use sluice_wire::connection::{Connection, ConnectionConfig};

/// The broker's bootstrap address (`SLUICE_BOOTSTRAP`, else `KAFKA_BOOTSTRAP`).
///
/// Panics with instructions when neither is set: the suite must not pass
/// without having talked to a broker.
pub fn bootstrap() -> String {
    std::env::var("SLUICE_BOOTSTRAP")
        .or_else(|_| std::env::var("KAFKA_BOOTSTRAP"))
        .expect("no broker: run scripts/test.sh, or set KAFKA_BOOTSTRAP=host:port")
}

/// A name no other test (or earlier run) uses: `prefix-pid-millis-n`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

/// Connects to the bootstrap broker with a client id naming the test.
pub async fn connect(client_id: &str) -> Connection {
    let config = ConnectionConfig {
        client_id: client_id.to_string(),
        ..ConnectionConfig::default()
    };
    Connection::connect(&bootstrap(), config)
        .await
        .expect("connect to the broker")
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A topic created for one test. Call [`TempTopic::delete`] at the end.
pub struct TempTopic {
    /// The topic's name.
    pub name: String,
    /// Its topic id (nil when the broker's CreateTopics version has none).
    pub id: uuid::Uuid,
    conn: Connection,
}

impl TempTopic {
    /// Creates a uniquely named topic with `partitions` partitions.
    pub async fn create(conn: &Connection, prefix: &str, partitions: i32) -> TempTopic {
        let name = unique_name(prefix);
        let topic = CreatableTopic::default()
            .with_name(topic_name(&name))
            .with_num_partitions(partitions)
            .with_replication_factor(1);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000);
        let response = conn.send(request).await.expect("CreateTopics");
        let created = response
            .topics
            .first()
            .expect("CreateTopics answers for the topic");
        assert_eq!(
            KafkaCode(created.error_code),
            KafkaCode::NONE,
            "creating {name}: {:?}",
            created.error_message
        );
        TempTopic {
            name,
            id: created.topic_id,
            conn: conn.clone(),
        }
    }

    /// The topic's name as kafka-protocol wants it.
    pub fn topic_name(&self) -> TopicName {
        topic_name(&self.name)
    }

    /// Deletes the topic and checks the broker agreed.
    pub async fn delete(self) {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name(&self.name)])
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&self.name))),
            ])
            .with_timeout_ms(10_000);
        let response = self.conn.send(request).await.expect("DeleteTopics");
        assert!(!response.responses.is_empty(), "DeleteTopics answered nothing");
        for r in &response.responses {
            assert_eq!(
                KafkaCode(r.error_code),
                KafkaCode::NONE,
                "deleting {}",
                self.name
            );
        }
    }
}
