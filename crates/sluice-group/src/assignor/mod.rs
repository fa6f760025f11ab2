//! Partition assignors. The group leader runs one to split the subscribed
//! topics' partitions among the members; results are exactly the Java
//! client's (and librdkafka's) for the same input, so mixed groups agree.

mod abstract_sticky;
mod cooperative_sticky;
mod range;
mod roundrobin;
mod sticky;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_fetch::TopicPartition;

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::StickyAssignor;

/// One member's subscription, as the leader sees it in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The broker-assigned member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it says it owns (subscription v1+, or the sticky
    /// assignor's user data for members that only send v0).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them (subscription v2+ or the
    /// assignor's user data; -1 when unknown).
    pub generation: i32,
    /// The assignor's opaque user data from the subscription.
    pub user_data: Option<Bytes>,
    /// The member's rack (subscription v3+).
    pub rack_id: Option<String>,
}

impl Default for Member {
    fn default() -> Self {
        Member::new("", &[])
    }
}

impl Member {
    /// A dynamic member subscribed to `topics`.
    pub fn new(member_id: &str, topics: &[&str]) -> Self {
        Member {
            member_id: member_id.to_string(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned_partitions: Vec::new(),
            generation: -1,
            user_data: None,
            rack_id: None,
        }
    }

    fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// The order the Java client's `MemberInfo` sorts members in: static
/// members first, by instance id, then dynamic ones by member id.
fn member_order(a: &Member, b: &Member) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Member id to assigned partitions; every member appears, maybe with none.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// How members give partitions up in a rebalance (Java's
/// `ConsumerPartitionAssignor.RebalanceProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before it rejoins.
    Eager,
    /// KIP-429: members keep their partitions through the rebalance and give
    /// up only those the assignment moves, in a second round.
    Cooperative,
}

/// A partition assignment strategy.
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name members advertise (`range`, `roundrobin`,
    /// `sticky`, `cooperative-sticky`).
    fn name(&self) -> &'static str;

    /// The rebalance protocols this assignor supports. A member uses the
    /// newest protocol every one of its configured assignors supports, as
    /// the Java client does (so `[cooperative-sticky, range]` is eager).
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// The user data this member puts in its subscription for this
    /// assignor, given what it owns and the generation it owned it in.
    fn subscription_user_data(&self, _owned: &[TopicPartition], _generation: i32) -> Option<Bytes> {
        None
    }

    /// Splits the partitions of each topic (`topic -> partition count`;
    /// topics missing here are skipped) among `members`.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> Assignment;
}

/// The assignor for a `partition.assignment.strategy` entry (Java class
/// names are accepted too).
pub fn by_name(name: &str) -> Option<Box<dyn Assignor>> {
    match name.trim() {
        "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => {
            Some(Box::new(RangeAssignor))
        }
        "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => {
            Some(Box::new(RoundRobinAssignor))
        }
        "sticky" | "org.apache.kafka.clients.consumer.StickyAssignor" => {
            Some(Box::new(StickyAssignor))
        }
        "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
            Some(Box::new(CooperativeStickyAssignor))
        }
        _ => None,
    }
}

fn empty_assignment(members: &[Member]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_by_name() {
        assert_eq!(by_name("range").unwrap().name(), "range");
        assert_eq!(
            by_name("org.apache.kafka.clients.consumer.RoundRobinAssignor")
                .unwrap()
                .name(),
            "roundrobin"
        );
        assert_eq!(by_name("sticky").unwrap().name(), "sticky");
        assert_eq!(
            by_name("org.apache.kafka.clients.consumer.StickyAssignor")
                .unwrap()
                .name(),
            "sticky"
        );
        let cooperative =
            by_name("org.apache.kafka.clients.consumer.CooperativeStickyAssignor").unwrap();
        assert_eq!(cooperative.name(), "cooperative-sticky");
        assert_eq!(
            cooperative.supported_protocols(),
            &[RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
        );
        assert_eq!(
            by_name("cooperative-sticky").unwrap().name(),
            "cooperative-sticky"
        );
        assert!(by_name("sticky-ish").is_none());
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut members = [
            Member::new("a", &[]),
            Member {
                group_instance_id: Some("z".into()),
                ..Member::new("b", &[])
            },
            Member {
                group_instance_id: Some("y".into()),
                ..Member::new("c", &[])
            },
        ];
        members.sort_by(member_order);
        let ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, vec!["c", "b", "a"]);
    }
}
