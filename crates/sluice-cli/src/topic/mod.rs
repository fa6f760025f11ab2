//! `sluice topic create|delete|list|describe`: the little administration
//! the demo and scripts need (CreateTopics, DeleteTopics), and what kcat's
//! `-L` and `kafka-topics.sh --list/--describe` show ([`inspect`]).

mod inspect;

use clap::{Args, Subcommand};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::pool::BrokerPool;
use sluice_fetch::{FetchClient, FetchConfig};
use sluice_wire::KafkaCode;

use crate::properties::settings;

/// Arguments of `sluice topic`.
#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create topics (an existing one is left as it is).
    Create {
        /// Bootstrap broker(s).
        #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
        brokers: Option<String>,
        /// Topic name (repeatable).
        #[arg(short = 't', long = "topic", required = true)]
        topics: Vec<String>,
        /// Partitions per topic.
        #[arg(short = 'p', long = "partitions", default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(short = 'r', long = "replication-factor", default_value_t = 1)]
        replication: i16,
        /// Connection property (security.protocol, sasl.*, ssl.*, request.timeout.ms...).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        properties: Vec<String>,
    },
    /// Delete topics.
    Delete {
        /// Bootstrap broker(s).
        #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
        brokers: Option<String>,
        /// Topic name (repeatable).
        #[arg(short = 't', long = "topic", required = true)]
        topics: Vec<String>,
        /// Connection property (security.protocol, sasl.*, ssl.*, request.timeout.ms...).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        properties: Vec<String>,
    },
    /// List the cluster's topics with their partition counts.
    #[command(after_help = "Example:\n  sluice topic list -b 127.0.0.1:9092 --json")]
    List {
        /// Bootstrap broker(s).
        #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
        brokers: Option<String>,
        /// Connection property (security.protocol, sasl.*, ssl.*, request.timeout.ms...).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        properties: Vec<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe topics: partitions, leaders, replicas, ISR and offsets.
    ///
    /// Per partition: the leader, replicas, in-sync replicas, log start
    /// offset and (exact) high watermark. An unknown topic is an error
    /// (exit 1).
    #[command(after_help = "Example:\n  sluice topic describe -b 127.0.0.1:9092 events")]
    Describe {
        /// Bootstrap broker(s).
        #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
        brokers: Option<String>,
        /// The topic(s) to describe.
        #[arg(required = true, value_name = "TOPIC")]
        topics: Vec<String>,
        /// Connection property (security.protocol, sasl.*, ssl.*, request.timeout.ms...).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        properties: Vec<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// The client configuration for `brokers` with the settings `-X` gives
/// (the fetch configuration's keys, security among them).
pub(crate) fn fetch_config(
    brokers: Option<&str>,
    properties: &[String],
) -> Result<FetchConfig, Box<dyn std::error::Error>> {
    let mut config = FetchConfig {
        client_id: "sluice-cli".into(),
        ..FetchConfig::default()
    };
    for (key, value) in settings(brokers, properties)? {
        if !config.set(key, value)? {
            return Err(sluice_fetch::config::unknown_key(key).into());
        }
    }
    config.security.validate()?;
    Ok(config)
}

/// A fetch client (metadata, ListOffsets, the pool) for `brokers` and `-X`.
pub(crate) async fn client(
    brokers: Option<&str>,
    properties: &[String],
) -> Result<FetchClient, Box<dyn std::error::Error>> {
    Ok(FetchClient::connect(fetch_config(brokers, properties)?).await?)
}

/// A pool for `brokers` with the connection settings `-X` gives.
fn pool(
    brokers: Option<&str>,
    properties: &[String],
) -> Result<std::sync::Arc<BrokerPool>, Box<dyn std::error::Error>> {
    let config = fetch_config(brokers, properties)?;
    Ok(BrokerPool::new(
        config.bootstrap_servers.clone(),
        config.connection_config(),
    ))
}

/// Runs `sluice topic`.
pub async fn run(args: TopicArgs) -> Result<(), Box<dyn std::error::Error>> {
    match args.action {
        Action::List {
            brokers,
            properties,
            json,
        } => inspect::list(client(brokers.as_deref(), &properties).await?, json).await,
        Action::Describe {
            brokers,
            topics,
            properties,
            json,
        } => {
            inspect::describe(
                client(brokers.as_deref(), &properties).await?,
                &topics,
                json,
            )
            .await
        }
        Action::Create {
            brokers,
            topics,
            partitions,
            replication,
            properties,
        } => {
            let conn = pool(brokers.as_deref(), &properties)?.bootstrap().await?;
            let request = CreateTopicsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|t| {
                            CreatableTopic::default()
                                .with_name(name(t))
                                .with_num_partitions(partitions)
                                .with_replication_factor(replication)
                        })
                        .collect(),
                )
                .with_timeout_ms(30_000);
            let response = conn.send(request).await?;
            for t in &response.topics {
                match KafkaCode(t.error_code) {
                    KafkaCode::NONE => eprintln!("created {} ({partitions} partitions)", t.name.0),
                    KafkaCode::TOPIC_ALREADY_EXISTS => eprintln!("{} already exists", t.name.0),
                    code => {
                        return Err(format!(
                            "creating {}: {code} {}",
                            t.name.0,
                            t.error_message.as_deref().unwrap_or("")
                        )
                        .into());
                    }
                }
            }
            Ok(())
        }
        Action::Delete {
            brokers,
            topics,
            properties,
        } => {
            let conn = pool(brokers.as_deref(), &properties)?.bootstrap().await?;
            let request = DeleteTopicsRequest::default()
                .with_topic_names(topics.iter().map(|t| name(t)).collect())
                .with_topics(
                    topics
                        .iter()
                        .map(|t| DeleteTopicState::default().with_name(Some(name(t))))
                        .collect(),
                )
                .with_timeout_ms(30_000);
            let response = conn.send(request).await?;
            for r in &response.responses {
                let code = KafkaCode(r.error_code);
                let topic = r.name.as_ref().map_or("?", |n| n.0.as_str());
                if !code.is_ok() && code != KafkaCode::UNKNOWN_TOPIC_OR_PARTITION {
                    return Err(format!("deleting {topic}: {code}").into());
                }
            }
            Ok(())
        }
    }
}
