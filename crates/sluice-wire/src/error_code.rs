//! The one table of Kafka error codes: for each code its name, whether it is
//! retriable, and what a client should do about it. Every sluice crate asks
//! this table instead of keeping its own list.
//!
//! Codes and retriability follow Apache Kafka's `org.apache.kafka.common.protocol.Errors`;
//! the action column follows what the Java consumer and librdkafka do.

use std::fmt;

/// What a client does when a broker answers with an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Nothing: the call succeeded.
    None,
    /// Retry the same request (after a backoff) on the same broker.
    Retry,
    /// Refresh cluster metadata (leaders moved, topic appeared), then retry.
    RefreshMetadata,
    /// Find the group coordinator again, then retry.
    FindCoordinator,
    /// Rejoin the consumer group (generation or member id is stale).
    Rejoin,
    /// The fetch position is invalid: apply `auto.offset.reset`.
    ResetOffset,
    /// Start a new fetch session (KIP-227).
    ResetFetchSession,
    /// Give up and surface the error to the application.
    Fatal,
}

/// A Kafka protocol error code, as carried in responses.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KafkaCode(pub i16);

struct Entry {
    code: i16,
    name: &'static str,
    retriable: bool,
    action: ErrorAction,
}

/// Indexed by `code + 1` (codes run from -1 without gaps).
#[rustfmt::skip]
const TABLE: &[Entry] = &[
    Entry { code: -1, name: "UNKNOWN_SERVER_ERROR", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 0, name: "NONE", retriable: false, action: ErrorAction::None },
    Entry { code: 1, name: "OFFSET_OUT_OF_RANGE", retriable: false, action: ErrorAction::ResetOffset },
    Entry { code: 2, name: "CORRUPT_MESSAGE", retriable: true, action: ErrorAction::Retry },
    Entry { code: 3, name: "UNKNOWN_TOPIC_OR_PARTITION", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 4, name: "INVALID_FETCH_SIZE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 5, name: "LEADER_NOT_AVAILABLE", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 6, name: "NOT_LEADER_OR_FOLLOWER", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 7, name: "REQUEST_TIMED_OUT", retriable: true, action: ErrorAction::Retry },
    Entry { code: 8, name: "BROKER_NOT_AVAILABLE", retriable: false, action: ErrorAction::RefreshMetadata },
    Entry { code: 9, name: "REPLICA_NOT_AVAILABLE", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 10, name: "MESSAGE_TOO_LARGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 11, name: "STALE_CONTROLLER_EPOCH", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 12, name: "OFFSET_METADATA_TOO_LARGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 13, name: "NETWORK_EXCEPTION", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 14, name: "COORDINATOR_LOAD_IN_PROGRESS", retriable: true, action: ErrorAction::Retry },
    Entry { code: 15, name: "COORDINATOR_NOT_AVAILABLE", retriable: true, action: ErrorAction::FindCoordinator },
    Entry { code: 16, name: "NOT_COORDINATOR", retriable: true, action: ErrorAction::FindCoordinator },
    Entry { code: 17, name: "INVALID_TOPIC_EXCEPTION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 18, name: "RECORD_LIST_TOO_LARGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 19, name: "NOT_ENOUGH_REPLICAS", retriable: true, action: ErrorAction::Retry },
    Entry { code: 20, name: "NOT_ENOUGH_REPLICAS_AFTER_APPEND", retriable: true, action: ErrorAction::Retry },
    Entry { code: 21, name: "INVALID_REQUIRED_ACKS", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 22, name: "ILLEGAL_GENERATION", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 23, name: "INCONSISTENT_GROUP_PROTOCOL", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 24, name: "INVALID_GROUP_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 25, name: "UNKNOWN_MEMBER_ID", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 26, name: "INVALID_SESSION_TIMEOUT", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 27, name: "REBALANCE_IN_PROGRESS", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 28, name: "INVALID_COMMIT_OFFSET_SIZE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 29, name: "TOPIC_AUTHORIZATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 30, name: "GROUP_AUTHORIZATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 31, name: "CLUSTER_AUTHORIZATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 32, name: "INVALID_TIMESTAMP", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 33, name: "UNSUPPORTED_SASL_MECHANISM", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 34, name: "ILLEGAL_SASL_STATE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 35, name: "UNSUPPORTED_VERSION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 36, name: "TOPIC_ALREADY_EXISTS", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 37, name: "INVALID_PARTITIONS", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 38, name: "INVALID_REPLICATION_FACTOR", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 39, name: "INVALID_REPLICA_ASSIGNMENT", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 40, name: "INVALID_CONFIG", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 41, name: "NOT_CONTROLLER", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 42, name: "INVALID_REQUEST", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 43, name: "UNSUPPORTED_FOR_MESSAGE_FORMAT", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 44, name: "POLICY_VIOLATION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 45, name: "OUT_OF_ORDER_SEQUENCE_NUMBER", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 46, name: "DUPLICATE_SEQUENCE_NUMBER", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 47, name: "INVALID_PRODUCER_EPOCH", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 48, name: "INVALID_TXN_STATE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 49, name: "INVALID_PRODUCER_ID_MAPPING", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 50, name: "INVALID_TRANSACTION_TIMEOUT", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 51, name: "CONCURRENT_TRANSACTIONS", retriable: true, action: ErrorAction::Retry },
    Entry { code: 52, name: "TRANSACTION_COORDINATOR_FENCED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 53, name: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 54, name: "SECURITY_DISABLED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 55, name: "OPERATION_NOT_ATTEMPTED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 56, name: "KAFKA_STORAGE_ERROR", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 57, name: "LOG_DIR_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 58, name: "SASL_AUTHENTICATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 59, name: "UNKNOWN_PRODUCER_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 60, name: "REASSIGNMENT_IN_PROGRESS", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 61, name: "DELEGATION_TOKEN_AUTH_DISABLED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 62, name: "DELEGATION_TOKEN_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 63, name: "DELEGATION_TOKEN_OWNER_MISMATCH", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 64, name: "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 65, name: "DELEGATION_TOKEN_AUTHORIZATION_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 66, name: "DELEGATION_TOKEN_EXPIRED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 67, name: "INVALID_PRINCIPAL_TYPE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 68, name: "NON_EMPTY_GROUP", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 69, name: "GROUP_ID_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 70, name: "FETCH_SESSION_ID_NOT_FOUND", retriable: true, action: ErrorAction::ResetFetchSession },
    Entry { code: 71, name: "INVALID_FETCH_SESSION_EPOCH", retriable: true, action: ErrorAction::ResetFetchSession },
    Entry { code: 72, name: "LISTENER_NOT_FOUND", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 73, name: "TOPIC_DELETION_DISABLED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 74, name: "FENCED_LEADER_EPOCH", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 75, name: "UNKNOWN_LEADER_EPOCH", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 76, name: "UNSUPPORTED_COMPRESSION_TYPE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 77, name: "STALE_BROKER_EPOCH", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 78, name: "OFFSET_NOT_AVAILABLE", retriable: true, action: ErrorAction::Retry },
    Entry { code: 79, name: "MEMBER_ID_REQUIRED", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 80, name: "PREFERRED_LEADER_NOT_AVAILABLE", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 81, name: "GROUP_MAX_SIZE_REACHED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 82, name: "FENCED_INSTANCE_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 83, name: "ELIGIBLE_LEADERS_NOT_AVAILABLE", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 84, name: "ELECTION_NOT_NEEDED", retriable: true, action: ErrorAction::Retry },
    Entry { code: 85, name: "NO_REASSIGNMENT_IN_PROGRESS", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 86, name: "GROUP_SUBSCRIBED_TO_TOPIC", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 87, name: "INVALID_RECORD", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 88, name: "UNSTABLE_OFFSET_COMMIT", retriable: true, action: ErrorAction::Retry },
    Entry { code: 89, name: "THROTTLING_QUOTA_EXCEEDED", retriable: true, action: ErrorAction::Retry },
    Entry { code: 90, name: "PRODUCER_FENCED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 91, name: "RESOURCE_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 92, name: "DUPLICATE_RESOURCE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 93, name: "UNACCEPTABLE_CREDENTIAL", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 94, name: "INCONSISTENT_VOTER_SET", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 95, name: "INVALID_UPDATE_VERSION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 96, name: "FEATURE_UPDATE_FAILED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 97, name: "PRINCIPAL_DESERIALIZATION_FAILURE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 98, name: "SNAPSHOT_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 99, name: "POSITION_OUT_OF_RANGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 100, name: "UNKNOWN_TOPIC_ID", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 101, name: "DUPLICATE_BROKER_REGISTRATION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 102, name: "BROKER_ID_NOT_REGISTERED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 103, name: "INCONSISTENT_TOPIC_ID", retriable: true, action: ErrorAction::RefreshMetadata },
    Entry { code: 104, name: "INCONSISTENT_CLUSTER_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 105, name: "TRANSACTIONAL_ID_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 106, name: "FETCH_SESSION_TOPIC_ID_ERROR", retriable: true, action: ErrorAction::ResetFetchSession },
    Entry { code: 107, name: "INELIGIBLE_REPLICA", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 108, name: "NEW_LEADER_ELECTED", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 109, name: "OFFSET_MOVED_TO_TIERED_STORAGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 110, name: "FENCED_MEMBER_EPOCH", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 111, name: "UNRELEASED_INSTANCE_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 112, name: "UNSUPPORTED_ASSIGNOR", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 113, name: "STALE_MEMBER_EPOCH", retriable: false, action: ErrorAction::Rejoin },
    Entry { code: 114, name: "MISMATCHED_ENDPOINT_TYPE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 115, name: "UNSUPPORTED_ENDPOINT_TYPE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 116, name: "UNKNOWN_CONTROLLER_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 117, name: "UNKNOWN_SUBSCRIPTION_ID", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 118, name: "TELEMETRY_TOO_LARGE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 119, name: "INVALID_REGISTRATION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 120, name: "TRANSACTION_ABORTABLE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 121, name: "INVALID_RECORD_STATE", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 122, name: "SHARE_SESSION_NOT_FOUND", retriable: true, action: ErrorAction::Retry },
    Entry { code: 123, name: "INVALID_SHARE_SESSION_EPOCH", retriable: true, action: ErrorAction::Retry },
    Entry { code: 124, name: "FENCED_STATE_EPOCH", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 125, name: "INVALID_VOTER_KEY", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 126, name: "DUPLICATE_VOTER", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 127, name: "VOTER_NOT_FOUND", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 128, name: "INVALID_REGULAR_EXPRESSION", retriable: false, action: ErrorAction::Fatal },
    Entry { code: 129, name: "REBOOTSTRAP_REQUIRED", retriable: false, action: ErrorAction::Fatal },
];

#[allow(missing_docs)]
impl KafkaCode {
    /// `UNKNOWN_SERVER_ERROR` (-1).
    pub const UNKNOWN_SERVER_ERROR: KafkaCode = KafkaCode(-1);
    /// `NONE` (0).
    pub const NONE: KafkaCode = KafkaCode(0);
    /// `OFFSET_OUT_OF_RANGE` (1).
    pub const OFFSET_OUT_OF_RANGE: KafkaCode = KafkaCode(1);
    /// `CORRUPT_MESSAGE` (2).
    pub const CORRUPT_MESSAGE: KafkaCode = KafkaCode(2);
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3).
    pub const UNKNOWN_TOPIC_OR_PARTITION: KafkaCode = KafkaCode(3);
    /// `INVALID_FETCH_SIZE` (4).
    pub const INVALID_FETCH_SIZE: KafkaCode = KafkaCode(4);
    /// `LEADER_NOT_AVAILABLE` (5).
    pub const LEADER_NOT_AVAILABLE: KafkaCode = KafkaCode(5);
    /// `NOT_LEADER_OR_FOLLOWER` (6).
    pub const NOT_LEADER_OR_FOLLOWER: KafkaCode = KafkaCode(6);
    /// `REQUEST_TIMED_OUT` (7).
    pub const REQUEST_TIMED_OUT: KafkaCode = KafkaCode(7);
    /// `BROKER_NOT_AVAILABLE` (8).
    pub const BROKER_NOT_AVAILABLE: KafkaCode = KafkaCode(8);
    /// `REPLICA_NOT_AVAILABLE` (9).
    pub const REPLICA_NOT_AVAILABLE: KafkaCode = KafkaCode(9);
    /// `MESSAGE_TOO_LARGE` (10).
    pub const MESSAGE_TOO_LARGE: KafkaCode = KafkaCode(10);
    /// `STALE_CONTROLLER_EPOCH` (11).
    pub const STALE_CONTROLLER_EPOCH: KafkaCode = KafkaCode(11);
    /// `OFFSET_METADATA_TOO_LARGE` (12).
    pub const OFFSET_METADATA_TOO_LARGE: KafkaCode = KafkaCode(12);
    /// `NETWORK_EXCEPTION` (13).
    pub const NETWORK_EXCEPTION: KafkaCode = KafkaCode(13);
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14).
    pub const COORDINATOR_LOAD_IN_PROGRESS: KafkaCode = KafkaCode(14);
    /// `COORDINATOR_NOT_AVAILABLE` (15).
    pub const COORDINATOR_NOT_AVAILABLE: KafkaCode = KafkaCode(15);
    /// `NOT_COORDINATOR` (16).
    pub const NOT_COORDINATOR: KafkaCode = KafkaCode(16);
    /// `INVALID_TOPIC_EXCEPTION` (17).
    pub const INVALID_TOPIC_EXCEPTION: KafkaCode = KafkaCode(17);
    /// `RECORD_LIST_TOO_LARGE` (18).
    pub const RECORD_LIST_TOO_LARGE: KafkaCode = KafkaCode(18);
    /// `NOT_ENOUGH_REPLICAS` (19).
    pub const NOT_ENOUGH_REPLICAS: KafkaCode = KafkaCode(19);
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20).
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: KafkaCode = KafkaCode(20);
    /// `INVALID_REQUIRED_ACKS` (21).
    pub const INVALID_REQUIRED_ACKS: KafkaCode = KafkaCode(21);
    /// `ILLEGAL_GENERATION` (22).
    pub const ILLEGAL_GENERATION: KafkaCode = KafkaCode(22);
    /// `INCONSISTENT_GROUP_PROTOCOL` (23).
    pub const INCONSISTENT_GROUP_PROTOCOL: KafkaCode = KafkaCode(23);
    /// `INVALID_GROUP_ID` (24).
    pub const INVALID_GROUP_ID: KafkaCode = KafkaCode(24);
    /// `UNKNOWN_MEMBER_ID` (25).
    pub const UNKNOWN_MEMBER_ID: KafkaCode = KafkaCode(25);
    /// `INVALID_SESSION_TIMEOUT` (26).
    pub const INVALID_SESSION_TIMEOUT: KafkaCode = KafkaCode(26);
    /// `REBALANCE_IN_PROGRESS` (27).
    pub const REBALANCE_IN_PROGRESS: KafkaCode = KafkaCode(27);
    /// `INVALID_COMMIT_OFFSET_SIZE` (28).
    pub const INVALID_COMMIT_OFFSET_SIZE: KafkaCode = KafkaCode(28);
    /// `TOPIC_AUTHORIZATION_FAILED` (29).
    pub const TOPIC_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(29);
    /// `GROUP_AUTHORIZATION_FAILED` (30).
    pub const GROUP_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(30);
    /// `CLUSTER_AUTHORIZATION_FAILED` (31).
    pub const CLUSTER_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(31);
    /// `INVALID_TIMESTAMP` (32).
    pub const INVALID_TIMESTAMP: KafkaCode = KafkaCode(32);
    /// `UNSUPPORTED_SASL_MECHANISM` (33).
    pub const UNSUPPORTED_SASL_MECHANISM: KafkaCode = KafkaCode(33);
    /// `ILLEGAL_SASL_STATE` (34).
    pub const ILLEGAL_SASL_STATE: KafkaCode = KafkaCode(34);
    /// `UNSUPPORTED_VERSION` (35).
    pub const UNSUPPORTED_VERSION: KafkaCode = KafkaCode(35);
    /// `TOPIC_ALREADY_EXISTS` (36).
    pub const TOPIC_ALREADY_EXISTS: KafkaCode = KafkaCode(36);
    /// `INVALID_PARTITIONS` (37).
    pub const INVALID_PARTITIONS: KafkaCode = KafkaCode(37);
    /// `INVALID_REPLICATION_FACTOR` (38).
    pub const INVALID_REPLICATION_FACTOR: KafkaCode = KafkaCode(38);
    /// `INVALID_REPLICA_ASSIGNMENT` (39).
    pub const INVALID_REPLICA_ASSIGNMENT: KafkaCode = KafkaCode(39);
    /// `INVALID_CONFIG` (40).
    pub const INVALID_CONFIG: KafkaCode = KafkaCode(40);
    /// `NOT_CONTROLLER` (41).
    pub const NOT_CONTROLLER: KafkaCode = KafkaCode(41);
    /// `INVALID_REQUEST` (42).
    pub const INVALID_REQUEST: KafkaCode = KafkaCode(42);
    /// `UNSUPPORTED_FOR_MESSAGE_FORMAT` (43).
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: KafkaCode = KafkaCode(43);
    /// `POLICY_VIOLATION` (44).
    pub const POLICY_VIOLATION: KafkaCode = KafkaCode(44);
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: KafkaCode = KafkaCode(45);
    /// `DUPLICATE_SEQUENCE_NUMBER` (46).
    pub const DUPLICATE_SEQUENCE_NUMBER: KafkaCode = KafkaCode(46);
    /// `INVALID_PRODUCER_EPOCH` (47).
    pub const INVALID_PRODUCER_EPOCH: KafkaCode = KafkaCode(47);
    /// `INVALID_TXN_STATE` (48).
    pub const INVALID_TXN_STATE: KafkaCode = KafkaCode(48);
    /// `INVALID_PRODUCER_ID_MAPPING` (49).
    pub const INVALID_PRODUCER_ID_MAPPING: KafkaCode = KafkaCode(49);
    /// `INVALID_TRANSACTION_TIMEOUT` (50).
    pub const INVALID_TRANSACTION_TIMEOUT: KafkaCode = KafkaCode(50);
    /// `CONCURRENT_TRANSACTIONS` (51).
    pub const CONCURRENT_TRANSACTIONS: KafkaCode = KafkaCode(51);
    /// `TRANSACTION_COORDINATOR_FENCED` (52).
    pub const TRANSACTION_COORDINATOR_FENCED: KafkaCode = KafkaCode(52);
    /// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53).
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(53);
    /// `SECURITY_DISABLED` (54).
    pub const SECURITY_DISABLED: KafkaCode = KafkaCode(54);
    /// `OPERATION_NOT_ATTEMPTED` (55).
    pub const OPERATION_NOT_ATTEMPTED: KafkaCode = KafkaCode(55);
    /// `KAFKA_STORAGE_ERROR` (56).
    pub const KAFKA_STORAGE_ERROR: KafkaCode = KafkaCode(56);
    /// `LOG_DIR_NOT_FOUND` (57).
    pub const LOG_DIR_NOT_FOUND: KafkaCode = KafkaCode(57);
    /// `SASL_AUTHENTICATION_FAILED` (58).
    pub const SASL_AUTHENTICATION_FAILED: KafkaCode = KafkaCode(58);
    /// `UNKNOWN_PRODUCER_ID` (59).
    pub const UNKNOWN_PRODUCER_ID: KafkaCode = KafkaCode(59);
    /// `REASSIGNMENT_IN_PROGRESS` (60).
    pub const REASSIGNMENT_IN_PROGRESS: KafkaCode = KafkaCode(60);
    /// `DELEGATION_TOKEN_AUTH_DISABLED` (61).
    pub const DELEGATION_TOKEN_AUTH_DISABLED: KafkaCode = KafkaCode(61);
    /// `DELEGATION_TOKEN_NOT_FOUND` (62).
    pub const DELEGATION_TOKEN_NOT_FOUND: KafkaCode = KafkaCode(62);
    /// `DELEGATION_TOKEN_OWNER_MISMATCH` (63).
    pub const DELEGATION_TOKEN_OWNER_MISMATCH: KafkaCode = KafkaCode(63);
    /// `DELEGATION_TOKEN_REQUEST_NOT_ALLOWED` (64).
    pub const DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: KafkaCode = KafkaCode(64);
    /// `DELEGATION_TOKEN_AUTHORIZATION_FAILED` (65).
    pub const DELEGATION_TOKEN_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(65);
    /// `DELEGATION_TOKEN_EXPIRED` (66).
    pub const DELEGATION_TOKEN_EXPIRED: KafkaCode = KafkaCode(66);
    /// `INVALID_PRINCIPAL_TYPE` (67).
    pub const INVALID_PRINCIPAL_TYPE: KafkaCode = KafkaCode(67);
    /// `NON_EMPTY_GROUP` (68).
    pub const NON_EMPTY_GROUP: KafkaCode = KafkaCode(68);
    /// `GROUP_ID_NOT_FOUND` (69).
    pub const GROUP_ID_NOT_FOUND: KafkaCode = KafkaCode(69);
    /// `FETCH_SESSION_ID_NOT_FOUND` (70).
    pub const FETCH_SESSION_ID_NOT_FOUND: KafkaCode = KafkaCode(70);
    /// `INVALID_FETCH_SESSION_EPOCH` (71).
    pub const INVALID_FETCH_SESSION_EPOCH: KafkaCode = KafkaCode(71);
    /// `LISTENER_NOT_FOUND` (72).
    pub const LISTENER_NOT_FOUND: KafkaCode = KafkaCode(72);
    /// `TOPIC_DELETION_DISABLED` (73).
    pub const TOPIC_DELETION_DISABLED: KafkaCode = KafkaCode(73);
    /// `FENCED_LEADER_EPOCH` (74).
    pub const FENCED_LEADER_EPOCH: KafkaCode = KafkaCode(74);
    /// `UNKNOWN_LEADER_EPOCH` (75).
    pub const UNKNOWN_LEADER_EPOCH: KafkaCode = KafkaCode(75);
    /// `UNSUPPORTED_COMPRESSION_TYPE` (76).
    pub const UNSUPPORTED_COMPRESSION_TYPE: KafkaCode = KafkaCode(76);
    /// `STALE_BROKER_EPOCH` (77).
    pub const STALE_BROKER_EPOCH: KafkaCode = KafkaCode(77);
    /// `OFFSET_NOT_AVAILABLE` (78).
    pub const OFFSET_NOT_AVAILABLE: KafkaCode = KafkaCode(78);
    /// `MEMBER_ID_REQUIRED` (79).
    pub const MEMBER_ID_REQUIRED: KafkaCode = KafkaCode(79);
    /// `PREFERRED_LEADER_NOT_AVAILABLE` (80).
    pub const PREFERRED_LEADER_NOT_AVAILABLE: KafkaCode = KafkaCode(80);
    /// `GROUP_MAX_SIZE_REACHED` (81).
    pub const GROUP_MAX_SIZE_REACHED: KafkaCode = KafkaCode(81);
    /// `FENCED_INSTANCE_ID` (82).
    pub const FENCED_INSTANCE_ID: KafkaCode = KafkaCode(82);
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE` (83).
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: KafkaCode = KafkaCode(83);
    /// `ELECTION_NOT_NEEDED` (84).
    pub const ELECTION_NOT_NEEDED: KafkaCode = KafkaCode(84);
    /// `NO_REASSIGNMENT_IN_PROGRESS` (85).
    pub const NO_REASSIGNMENT_IN_PROGRESS: KafkaCode = KafkaCode(85);
    /// `GROUP_SUBSCRIBED_TO_TOPIC` (86).
    pub const GROUP_SUBSCRIBED_TO_TOPIC: KafkaCode = KafkaCode(86);
    /// `INVALID_RECORD` (87).
    pub const INVALID_RECORD: KafkaCode = KafkaCode(87);
    /// `UNSTABLE_OFFSET_COMMIT` (88).
    pub const UNSTABLE_OFFSET_COMMIT: KafkaCode = KafkaCode(88);
    /// `THROTTLING_QUOTA_EXCEEDED` (89).
    pub const THROTTLING_QUOTA_EXCEEDED: KafkaCode = KafkaCode(89);
    /// `PRODUCER_FENCED` (90).
    pub const PRODUCER_FENCED: KafkaCode = KafkaCode(90);
    /// `RESOURCE_NOT_FOUND` (91).
    pub const RESOURCE_NOT_FOUND: KafkaCode = KafkaCode(91);
    /// `DUPLICATE_RESOURCE` (92).
    pub const DUPLICATE_RESOURCE: KafkaCode = KafkaCode(92);
    /// `UNACCEPTABLE_CREDENTIAL` (93).
    pub const UNACCEPTABLE_CREDENTIAL: KafkaCode = KafkaCode(93);
    /// `INCONSISTENT_VOTER_SET` (94).
    pub const INCONSISTENT_VOTER_SET: KafkaCode = KafkaCode(94);
    /// `INVALID_UPDATE_VERSION` (95).
    pub const INVALID_UPDATE_VERSION: KafkaCode = KafkaCode(95);
    /// `FEATURE_UPDATE_FAILED` (96).
    pub const FEATURE_UPDATE_FAILED: KafkaCode = KafkaCode(96);
    /// `PRINCIPAL_DESERIALIZATION_FAILURE` (97).
    pub const PRINCIPAL_DESERIALIZATION_FAILURE: KafkaCode = KafkaCode(97);
    /// `SNAPSHOT_NOT_FOUND` (98).
    pub const SNAPSHOT_NOT_FOUND: KafkaCode = KafkaCode(98);
    /// `POSITION_OUT_OF_RANGE` (99).
    pub const POSITION_OUT_OF_RANGE: KafkaCode = KafkaCode(99);
    /// `UNKNOWN_TOPIC_ID` (100).
    pub const UNKNOWN_TOPIC_ID: KafkaCode = KafkaCode(100);
    /// `DUPLICATE_BROKER_REGISTRATION` (101).
    pub const DUPLICATE_BROKER_REGISTRATION: KafkaCode = KafkaCode(101);
    /// `BROKER_ID_NOT_REGISTERED` (102).
    pub const BROKER_ID_NOT_REGISTERED: KafkaCode = KafkaCode(102);
    /// `INCONSISTENT_TOPIC_ID` (103).
    pub const INCONSISTENT_TOPIC_ID: KafkaCode = KafkaCode(103);
    /// `INCONSISTENT_CLUSTER_ID` (104).
    pub const INCONSISTENT_CLUSTER_ID: KafkaCode = KafkaCode(104);
    /// `TRANSACTIONAL_ID_NOT_FOUND` (105).
    pub const TRANSACTIONAL_ID_NOT_FOUND: KafkaCode = KafkaCode(105);
    /// `FETCH_SESSION_TOPIC_ID_ERROR` (106).
    pub const FETCH_SESSION_TOPIC_ID_ERROR: KafkaCode = KafkaCode(106);
    /// `INELIGIBLE_REPLICA` (107).
    pub const INELIGIBLE_REPLICA: KafkaCode = KafkaCode(107);
    /// `NEW_LEADER_ELECTED` (108).
    pub const NEW_LEADER_ELECTED: KafkaCode = KafkaCode(108);
    /// `OFFSET_MOVED_TO_TIERED_STORAGE` (109).
    pub const OFFSET_MOVED_TO_TIERED_STORAGE: KafkaCode = KafkaCode(109);
    /// `FENCED_MEMBER_EPOCH` (110).
    pub const FENCED_MEMBER_EPOCH: KafkaCode = KafkaCode(110);
    /// `UNRELEASED_INSTANCE_ID` (111).
    pub const UNRELEASED_INSTANCE_ID: KafkaCode = KafkaCode(111);
    /// `UNSUPPORTED_ASSIGNOR` (112).
    pub const UNSUPPORTED_ASSIGNOR: KafkaCode = KafkaCode(112);
    /// `STALE_MEMBER_EPOCH` (113).
    pub const STALE_MEMBER_EPOCH: KafkaCode = KafkaCode(113);
    /// `MISMATCHED_ENDPOINT_TYPE` (114).
    pub const MISMATCHED_ENDPOINT_TYPE: KafkaCode = KafkaCode(114);
    /// `UNSUPPORTED_ENDPOINT_TYPE` (115).
    pub const UNSUPPORTED_ENDPOINT_TYPE: KafkaCode = KafkaCode(115);
    /// `UNKNOWN_CONTROLLER_ID` (116).
    pub const UNKNOWN_CONTROLLER_ID: KafkaCode = KafkaCode(116);
    /// `UNKNOWN_SUBSCRIPTION_ID` (117).
    pub const UNKNOWN_SUBSCRIPTION_ID: KafkaCode = KafkaCode(117);
    /// `TELEMETRY_TOO_LARGE` (118).
    pub const TELEMETRY_TOO_LARGE: KafkaCode = KafkaCode(118);
    /// `INVALID_REGISTRATION` (119).
    pub const INVALID_REGISTRATION: KafkaCode = KafkaCode(119);
    /// `TRANSACTION_ABORTABLE` (120).
    pub const TRANSACTION_ABORTABLE: KafkaCode = KafkaCode(120);
    /// `INVALID_RECORD_STATE` (121).
    pub const INVALID_RECORD_STATE: KafkaCode = KafkaCode(121);
    /// `SHARE_SESSION_NOT_FOUND` (122).
    pub const SHARE_SESSION_NOT_FOUND: KafkaCode = KafkaCode(122);
    /// `INVALID_SHARE_SESSION_EPOCH` (123).
    pub const INVALID_SHARE_SESSION_EPOCH: KafkaCode = KafkaCode(123);
    /// `FENCED_STATE_EPOCH` (124).
    pub const FENCED_STATE_EPOCH: KafkaCode = KafkaCode(124);
    /// `INVALID_VOTER_KEY` (125).
    pub const INVALID_VOTER_KEY: KafkaCode = KafkaCode(125);
    /// `DUPLICATE_VOTER` (126).
    pub const DUPLICATE_VOTER: KafkaCode = KafkaCode(126);
    /// `VOTER_NOT_FOUND` (127).
    pub const VOTER_NOT_FOUND: KafkaCode = KafkaCode(127);
    /// `INVALID_REGULAR_EXPRESSION` (128).
    pub const INVALID_REGULAR_EXPRESSION: KafkaCode = KafkaCode(128);
    /// `REBOOTSTRAP_REQUIRED` (129).
    pub const REBOOTSTRAP_REQUIRED: KafkaCode = KafkaCode(129);
}

impl KafkaCode {
    fn entry(self) -> Option<&'static Entry> {
        let index = usize::try_from(i32::from(self.0) + 1).ok()?;
        TABLE.get(index).filter(|e| e.code == self.0)
    }

    /// The numeric code.
    pub const fn code(self) -> i16 {
        self.0
    }

    /// True for `NONE` (0).
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Kafka's name for the code (`NOT_LEADER_OR_FOLLOWER`), or `UNKNOWN_CODE` for codes newer than this table.
    pub fn name(self) -> &'static str {
        self.entry().map_or("UNKNOWN_CODE", |e| e.name)
    }

    /// Whether Kafka marks the error retriable (a `RetriableException` in the Java client).
    pub fn is_retriable(self) -> bool {
        self.entry().is_some_and(|e| e.retriable)
    }

    /// What a client should do on this error. Unknown codes are fatal.
    pub fn action(self) -> ErrorAction {
        self.entry().map_or(ErrorAction::Fatal, |e| e.action)
    }

    /// `Ok(())` for `NONE`, otherwise `Err(self)`.
    pub fn into_result(self) -> Result<(), KafkaCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

impl From<i16> for KafkaCode {
    fn from(code: i16) -> Self {
        KafkaCode(code)
    }
}

impl fmt::Debug for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_dense_and_ordered() {
        for (i, e) in TABLE.iter().enumerate() {
            assert_eq!(
                i32::from(e.code),
                i as i32 - 1,
                "entry {} out of place",
                e.name
            );
        }
    }

    #[test]
    fn known_codes() {
        assert_eq!(KafkaCode(6).name(), "NOT_LEADER_OR_FOLLOWER");
        assert!(KafkaCode::NOT_LEADER_OR_FOLLOWER.is_retriable());
        assert_eq!(
            KafkaCode::NOT_LEADER_OR_FOLLOWER.action(),
            ErrorAction::RefreshMetadata
        );
        assert_eq!(
            KafkaCode::OFFSET_OUT_OF_RANGE.action(),
            ErrorAction::ResetOffset
        );
        assert!(!KafkaCode::OFFSET_OUT_OF_RANGE.is_retriable());
        assert_eq!(
            KafkaCode::REBALANCE_IN_PROGRESS.action(),
            ErrorAction::Rejoin
        );
        assert_eq!(
            KafkaCode::NOT_COORDINATOR.action(),
            ErrorAction::FindCoordinator
        );
        assert_eq!(
            KafkaCode::FETCH_SESSION_ID_NOT_FOUND.action(),
            ErrorAction::ResetFetchSession
        );
        assert_eq!(KafkaCode::NONE.action(), ErrorAction::None);
        assert!(KafkaCode::NONE.into_result().is_ok());
    }

    #[test]
    fn unknown_codes_are_fatal_not_panics() {
        for code in [i16::MIN, -2, 5120, i16::MAX] {
            let c = KafkaCode(code);
            assert_eq!(c.name(), "UNKNOWN_CODE");
            assert!(!c.is_retriable());
            assert_eq!(c.action(), ErrorAction::Fatal);
        }
    }
}
