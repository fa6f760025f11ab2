//! Consumer groups for sluice: the membership state machine (sans-I/O), the
//! consumer protocol's subscription and assignment encodings, and the range
//! and round-robin assignors.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Instant;
//! use sluice_group::assignor::{Assignor, Member, RangeAssignor, by_name};
//! use sluice_group::{Action, GroupConfig, Membership};
//!
//! // The Java client's range assignment for two members of a 3-partition topic.
//! let members = [Member::new("a", &["t"]), Member::new("b", &["t"])];
//! let got = RangeAssignor.assign(&BTreeMap::from([("t".to_string(), 3)]), &members);
//! assert_eq!(got["a"].len(), 2);
//! assert_eq!(got["b"].len(), 1);
//!
//! // Membership is driven by events and a clock: the first thing to do is find the coordinator.
//! let config = GroupConfig { group_id: "g".into(), ..GroupConfig::default() };
//! let now = Instant::now();
//! let mut member = Membership::new(config, vec![by_name("range").unwrap()], now);
//! member.subscribe(vec!["t".into()]);
//! assert!(matches!(member.poll_action(now), Some(Action::FindCoordinator(_))));
//! ```

pub mod admin;
pub mod assignor;
pub mod config;
pub mod consumer;
pub mod consumer_protocol;
mod coordinator;
pub mod error;
pub mod group_metadata;
pub mod membership;
pub mod metrics;
pub mod offsets;
pub mod protocol;
pub mod stats;

pub use config::{GroupConfig, GroupProtocol};
pub use consumer::{CommitHandle, GroupConsumer, ListenerFuture, RebalanceListener};
pub use coordinator::Committed;
pub use error::GroupError;
pub use group_metadata::ConsumerGroupMetadata;
pub use membership::{Action, Membership, State};
pub use metrics::{GroupMetrics, MemberInfo};
pub use offsets::{OffsetAndMetadata, Offsets};
pub use stats::{ConsumerStats, GroupStats, GroupStatsSnapshot, RebalanceStatsSnapshot};
