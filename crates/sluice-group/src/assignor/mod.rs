//! Partition assignors. The group leader runs one to split the subscribed
//! topics' partitions among the members; results are exactly the Java
//! client's (and librdkafka's) for the same input, so mixed groups agree.

mod range;
mod roundrobin;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sluice_fetch::TopicPartition;

pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;

/// One member's subscription, as the leader sees it in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    /// The broker-assigned member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
}

impl Member {
    /// A dynamic member subscribed to `topics`.
    pub fn new(member_id: &str, topics: &[&str]) -> Self {
        Member {
            member_id: member_id.to_string(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
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

/// A partition assignment strategy.
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name members advertise (`range`, `roundrobin`).
    fn name(&self) -> &'static str;

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
        assert!(by_name("sticky").is_none());
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
