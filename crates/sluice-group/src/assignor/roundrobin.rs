//! The round-robin assignor (Java's `RoundRobinAssignor`, librdkafka's
//! `roundrobin`): every subscribed partition, sorted by topic then
//! partition, goes to the next member in a circle that subscribes to its
//! topic.

use std::collections::{BTreeMap, BTreeSet};

use sluice_fetch::TopicPartition;

use super::{Assignment, Assignor, Member, empty_assignment, member_order};

/// `partition.assignment.strategy=roundrobin`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> Assignment {
        let mut assignment = empty_assignment(members);
        let mut sorted: Vec<&Member> = members.iter().collect();
        sorted.sort_by(|a, b| member_order(a, b));
        if sorted.is_empty() {
            return assignment;
        }
        let topics: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        let mut next = 0usize;
        for topic in topics {
            let Some(&count) = partitions_per_topic.get(topic) else {
                continue;
            };
            let topic_arc: std::sync::Arc<str> = topic.into();
            for partition in 0..count.max(0) {
                // Someone subscribes to every topic in `topics`, so this ends.
                while !sorted[next % sorted.len()].subscribes(topic) {
                    next += 1;
                }
                let member = sorted[next % sorted.len()];
                next += 1;
                assignment
                    .entry(member.member_id.clone())
                    .or_default()
                    .push(TopicPartition::new(topic_arc.clone(), partition));
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(topics: &[(&str, i32)], members: &[Member]) -> BTreeMap<String, Vec<String>> {
        let topics = topics.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        RoundRobinAssignor
            .assign(&topics, members)
            .into_iter()
            .map(|(m, ps)| (m, ps.iter().map(|tp| tp.to_string()).collect()))
            .collect()
    }

    fn expect(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(m, ps)| (m.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    // The Java client's RoundRobinAssignorTest cases, with its results.

    #[test]
    fn one_consumer_one_topic() {
        assert_eq!(
            run(&[("t", 3)], &[Member::new("c", &["t"])]),
            expect(&[("c", &["t-0", "t-1", "t-2"])])
        );
    }

    #[test]
    fn one_consumer_nonexistent_topic() {
        assert_eq!(run(&[], &[Member::new("c", &["t"])]), expect(&[("c", &[])]));
    }

    #[test]
    fn two_consumers_one_topic_two_partitions() {
        let got = run(
            &[("t", 2)],
            &[Member::new("c1", &["t"]), Member::new("c2", &["t"])],
        );
        assert_eq!(got, expect(&[("c1", &["t-0"]), ("c2", &["t-1"])]));
    }

    #[test]
    fn multiple_consumers_mixed_topics() {
        let members = [
            Member::new("c1", &["t1"]),
            Member::new("c2", &["t1", "t2"]),
            Member::new("c3", &["t1"]),
        ];
        let got = run(&[("t1", 3), ("t2", 2)], &members);
        assert_eq!(
            got,
            expect(&[
                ("c1", &["t1-0"]),
                ("c2", &["t1-1", "t2-0", "t2-1"]),
                ("c3", &["t1-2"])
            ])
        );
    }

    #[test]
    fn two_consumers_two_topics_six_partitions() {
        let members = [
            Member::new("c1", &["t1", "t2"]),
            Member::new("c2", &["t1", "t2"]),
        ];
        let got = run(&[("t1", 3), ("t2", 3)], &members);
        assert_eq!(
            got,
            expect(&[
                ("c1", &["t1-0", "t1-2", "t2-1"]),
                ("c2", &["t1-1", "t2-0", "t2-2"])
            ])
        );
    }

    #[test]
    fn uneven_counts_interleave() {
        let members = [
            Member::new("c1", &["t"]),
            Member::new("c2", &["t"]),
            Member::new("c3", &["t"]),
        ];
        let got = run(&[("t", 8)], &members);
        assert_eq!(
            got,
            expect(&[
                ("c1", &["t-0", "t-3", "t-6"]),
                ("c2", &["t-1", "t-4", "t-7"]),
                ("c3", &["t-2", "t-5"])
            ])
        );
    }

    #[test]
    fn static_members_sort_by_instance_id() {
        let members = [
            Member {
                group_instance_id: Some("i2".into()),
                ..Member::new("a", &["t"])
            },
            Member {
                group_instance_id: Some("i1".into()),
                ..Member::new("b", &["t"])
            },
        ];
        assert_eq!(
            run(&[("t", 3)], &members),
            expect(&[("a", &["t-1"]), ("b", &["t-0", "t-2"])])
        );
    }
}
