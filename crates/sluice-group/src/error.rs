//! The crate's one error type.

use sluice_fetch::{FetchError, TopicPartition};
use sluice_wire::{KafkaCode, WireError};

/// What consumer-group operations fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The connection or codec layer failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Metadata or fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// FindCoordinator failed for good.
    #[error("finding the coordinator of group {group}: {code}")]
    Coordinator {
        /// The group.
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// JoinGroup failed for good.
    #[error("joining group {group}: {code}")]
    Join {
        /// The group.
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// SyncGroup failed for good.
    #[error("syncing group {group}: {code}")]
    Sync {
        /// The group.
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// Heartbeat failed for good.
    #[error("heartbeat in group {group}: {code}")]
    Heartbeat {
        /// The group.
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// The group chose an assignor this member does not have.
    #[error(
        "group {group} chose assignment protocol {protocol:?}, which this member does not offer"
    )]
    UnknownProtocol {
        /// The group.
        group: String,
        /// The protocol name.
        protocol: String,
    },
    /// FENCED_INSTANCE_ID: another consumer with the same
    /// `group.instance.id` joined the group (KIP-345). Fatal: two processes
    /// share one static identity.
    #[error(
        "group {group}: another consumer joined with group.instance.id {instance_id:?}, fencing this one (FENCED_INSTANCE_ID); each process needs its own instance id"
    )]
    FencedInstanceId {
        /// The group.
        group: String,
        /// The `group.instance.id` in conflict.
        instance_id: String,
    },
    /// The leader's cooperative assignor gave partitions straight from one
    /// member to another within one round (KIP-429 forbids it: a partition
    /// is revoked in one round and assigned in the next).
    #[error(
        "group {group}: assignor {assignor} moved {} directly between members, which the cooperative protocol forbids",
        describe_tps(partitions)
    )]
    InvalidAssignment {
        /// The group.
        group: String,
        /// The assignor.
        assignor: String,
        /// The partitions it moved directly.
        partitions: Vec<TopicPartition>,
    },
    /// OffsetCommit failed for some partitions.
    #[error("committing offsets of group {group} failed for {}", describe(failed))]
    Commit {
        /// The group.
        group: String,
        /// Each failed partition with its error code.
        failed: Vec<(TopicPartition, KafkaCode)>,
    },
    /// OffsetFetch failed.
    #[error("fetching committed offsets of group {group}: {code}")]
    OffsetFetch {
        /// The group.
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// A group administration request (ListGroups, DescribeGroups,
    /// DeleteGroups...) failed with an error code.
    #[error("{api} for group {group}: {code}")]
    Admin {
        /// The API.
        api: &'static str,
        /// The group ("" for a broker-wide request such as ListGroups).
        group: String,
        /// The error code.
        code: KafkaCode,
    },
    /// A configuration key is unknown or its value is bad.
    #[error("config {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `group.protocol=consumer` and the broker does not speak KIP-848's
    /// ConsumerGroupHeartbeat (or refuses its version).
    #[error(
        "group {group}: the broker does not support the consumer group protocol (KIP-848, ConsumerGroupHeartbeat): {detail}; use group.protocol=classic with this broker"
    )]
    ProtocolUnsupported {
        /// The group.
        group: String,
        /// What the broker said or offered.
        detail: String,
    },
    /// The consumer is closed or not in a group.
    #[error("{0}")]
    State(String),
}

fn describe_tps(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(failed: &[(TopicPartition, KafkaCode)]) -> String {
    failed
        .iter()
        .map(|(tp, code)| format!("{tp}: {code}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl GroupError {
    /// Whether retrying may succeed, following Kafka's error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            GroupError::Wire(e) => e.is_retriable(),
            GroupError::Fetch(e) => e.is_retriable(),
            GroupError::Coordinator { code, .. }
            | GroupError::Join { code, .. }
            | GroupError::Sync { code, .. }
            | GroupError::Heartbeat { code, .. }
            | GroupError::OffsetFetch { code, .. }
            | GroupError::Admin { code, .. } => code.is_retriable(),
            GroupError::Commit { failed, .. } => failed.iter().all(|(_, c)| c.is_retriable()),
            _ => false,
        }
    }
}
