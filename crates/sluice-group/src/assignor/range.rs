//! The range assignor (Java's `RangeAssignor`, librdkafka's `range`): per
//! topic, the members subscribed to it, in order, each take a contiguous
//! range of partitions; the first `partitions % members` take one extra.

use std::collections::BTreeMap;

use sluice_fetch::TopicPartition;

use super::{Assignment, Assignor, Member, empty_assignment, member_order};

/// `partition.assignment.strategy=range`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> Assignment {
        let mut assignment = empty_assignment(members);
        for (topic, &count) in partitions_per_topic {
            let mut subscribed: Vec<&Member> =
                members.iter().filter(|m| m.subscribes(topic)).collect();
            if subscribed.is_empty() || count <= 0 {
                continue;
            }
            subscribed.sort_by(|a, b| member_order(a, b));
            let n = subscribed.len() as i32;
            let (per_member, extra) = (count / n, count % n);
            let topic: std::sync::Arc<str> = topic.as_str().into();
            for (i, member) in subscribed.iter().enumerate() {
                let i = i as i32;
                let start = per_member * i + i.min(extra);
                let len = per_member + i32::from(i < extra);
                let parts = assignment.entry(member.member_id.clone()).or_default();
                parts.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
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
        RangeAssignor
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

    // The cases below are the Java client's RangeAssignorTest cases, with
    // the results it asserts.

    #[test]
    fn one_consumer_no_topic() {
        assert_eq!(run(&[], &[Member::new("c", &[])]), expect(&[("c", &[])]));
    }

    #[test]
    fn one_consumer_nonexistent_topic() {
        assert_eq!(run(&[], &[Member::new("c", &["t"])]), expect(&[("c", &[])]));
    }

    #[test]
    fn one_consumer_one_topic() {
        assert_eq!(
            run(&[("t", 3)], &[Member::new("c", &["t"])]),
            expect(&[("c", &["t-0", "t-1", "t-2"])])
        );
    }

    #[test]
    fn only_assigns_partitions_from_subscribed_topics() {
        let got = run(&[("t", 3), ("other", 3)], &[Member::new("c", &["t"])]);
        assert_eq!(got, expect(&[("c", &["t-0", "t-1", "t-2"])]));
    }

    #[test]
    fn two_consumers_one_topic_one_partition() {
        let got = run(
            &[("t", 1)],
            &[Member::new("c1", &["t"]), Member::new("c2", &["t"])],
        );
        assert_eq!(got, expect(&[("c1", &["t-0"]), ("c2", &[])]));
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
    fn uneven_counts_give_the_first_members_one_extra() {
        let members = [
            Member::new("c1", &["t"]),
            Member::new("c2", &["t"]),
            Member::new("c3", &["t"]),
        ];
        let got = run(&[("t", 8)], &members);
        assert_eq!(
            got,
            expect(&[
                ("c1", &["t-0", "t-1", "t-2"]),
                ("c2", &["t-3", "t-4", "t-5"]),
                ("c3", &["t-6", "t-7"])
            ])
        );
    }

    #[test]
    fn multiple_consumers_mixed_topic_subscriptions() {
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
                ("c1", &["t1-0", "t1-1", "t2-0", "t2-1"]),
                ("c2", &["t1-2", "t2-2"])
            ])
        );
    }

    #[test]
    fn member_order_is_by_member_id_not_input_order() {
        let members = [Member::new("b", &["t"]), Member::new("a", &["t"])];
        assert_eq!(
            run(&[("t", 3)], &members),
            expect(&[("a", &["t-0", "t-1"]), ("b", &["t-2"])])
        );
    }

    #[test]
    fn static_members_sort_by_instance_id() {
        // Java's testStaticMemberRangeAssignmentPersistent idea: instance ids decide the order.
        let members = [
            Member {
                group_instance_id: Some("instance-2".into()),
                ..Member::new("a", &["t"])
            },
            Member {
                group_instance_id: Some("instance-1".into()),
                ..Member::new("b", &["t"])
            },
        ];
        assert_eq!(
            run(&[("t", 3)], &members),
            expect(&[("a", &["t-2"]), ("b", &["t-0", "t-1"])])
        );
    }
}
