//! Describing a group (ConsumerGroupDescribe for a KIP-848 consumer-protocol
//! group, DescribeGroups otherwise) and reading its committed offsets
//! (OffsetFetch) from outside it.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, OffsetFetchRequest};
use sluice_fetch::TopicPartition;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::WireError;
use sluice_wire::connection::Connection;

use super::consumer_describe::{ConsumerGroupInfo, Decision, describe_consumer};
use super::{find_coordinator, group_id};
use crate::error::GroupError;
use crate::metrics::{GroupMetrics, describe_metrics};
use crate::offsets::{OffsetAndMetadata, fetch_request, parse_fetch};

/// A group as its coordinator describes it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// State, assignor (`protocol`), members with their assignment and the
    /// members/partitions ratio (`assignment` and `lag` are empty: the
    /// viewer is not a member).
    pub metrics: GroupMetrics,
    /// The protocol type ("consumer" for consumer groups, "" when the
    /// group is empty or unknown).
    pub protocol_type: String,
    /// The KIP-848 details (epochs, server-side assignor, member epochs and
    /// instance ids) of a consumer-protocol group; `None` for a classic
    /// group or where the coordinator cannot tell (no ConsumerGroupDescribe).
    pub consumer: Option<ConsumerGroupInfo>,
}

impl GroupDescription {
    /// The group protocol: `consumer` (KIP-848) or `classic`.
    pub fn group_protocol(&self) -> &'static str {
        group_protocol(self.consumer.as_ref())
    }
}

/// A group as seen from outside: its description and committed offsets.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// State, members, assignment and the members/partitions ratio
    /// (`assignment` and `lag` are empty: the viewer is not a member).
    pub metrics: GroupMetrics,
    /// The protocol type ("consumer" for consumer groups).
    pub protocol_type: String,
    /// The KIP-848 details of a consumer-protocol group (see
    /// [`GroupDescription::consumer`]).
    pub consumer: Option<ConsumerGroupInfo>,
    /// Every partition the group has committed an offset for.
    pub committed: BTreeMap<TopicPartition, Option<OffsetAndMetadata>>,
}

impl GroupView {
    /// The group protocol: `consumer` (KIP-848) or `classic`.
    pub fn group_protocol(&self) -> &'static str {
        group_protocol(self.consumer.as_ref())
    }
}

/// `consumer` for a group described by ConsumerGroupDescribe, `classic`
/// otherwise.
pub fn group_protocol(consumer: Option<&ConsumerGroupInfo>) -> &'static str {
    if consumer.is_some() {
        "consumer"
    } else {
        "classic"
    }
}

/// Whether the group has no live members, so that its offsets may be
/// changed or the group deleted: no members and state Empty or Dead (Kafka
/// answers Dead for a group it does not know). A group whose state is
/// unknown (a broker without DescribeGroups) is not known to be inactive.
pub fn inactive(metrics: &GroupMetrics) -> bool {
    // ConsumerGroupDescribe's states are spelled in lower case by some
    // Kafka versions ("empty"), DescribeGroups' in title case.
    metrics.members.is_empty()
        && ["Empty", "Dead"]
            .iter()
            .any(|s| metrics.state.eq_ignore_ascii_case(s))
}

/// Describes `group` on its coordinator `conn`: ConsumerGroupDescribe where
/// offered and the group is a consumer-protocol group, DescribeGroups
/// otherwise.
async fn describe_on(conn: &Connection, group: &str) -> Result<GroupDescription, GroupError> {
    if let Decision::Consumer(metrics, info) = describe_consumer(conn, group).await? {
        return Ok(GroupDescription {
            metrics,
            protocol_type: crate::membership::PROTOCOL_TYPE.to_string(),
            consumer: Some(info),
        });
    }
    classic_describe_on(conn, group).await
}

/// DescribeGroups for `group` on its coordinator `conn`.
async fn classic_describe_on(
    conn: &Connection,
    group: &str,
) -> Result<GroupDescription, GroupError> {
    match conn.versions().negotiate(ApiKey::DescribeGroups) {
        Ok(version) => {
            let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
            let described = conn.send_version(request, version).await?;
            let metrics = describe_metrics(group, &described, Vec::new(), BTreeMap::new())?;
            let protocol_type = described
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == group)
                .map(|g| g.protocol_type.to_string())
                .unwrap_or_default();
            Ok(GroupDescription {
                metrics,
                protocol_type,
                consumer: None,
            })
        }
        Err(WireError::UnsupportedApi { .. }) => {
            tracing::warn!(
                group,
                broker = conn.addr(),
                "the broker has no DescribeGroups: members and owners unknown"
            );
            Ok(GroupDescription {
                metrics: GroupMetrics::unknown(),
                protocol_type: String::new(),
                consumer: None,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Describes `group`: state, protocol type, assignor and members with their
/// partitions, and for a KIP-848 consumer-protocol group its epochs and its
/// members' epochs and instance ids (ConsumerGroupDescribe, asked first
/// where the coordinator offers it). A group the broker does not know is described as Dead (Kafka)
/// or Empty (tansu) with no members, not as an error.
///
/// A broker without DescribeGroups (librdkafka's mock cluster has none)
/// gives an empty description (state unknown, no members).
///
/// Cancel-safe: it only reads.
pub async fn describe_group(
    pool: &BrokerPool,
    group: &str,
) -> Result<GroupDescription, GroupError> {
    let coordinator = find_coordinator(pool, group).await?;
    let conn = pool.get(&coordinator).await?;
    describe_on(&conn, group).await
}

/// Describes `group` (see [`describe_group`]) and fetches its committed
/// offsets: for `partitions` (each listed, with `None` where nothing is
/// committed), or, with none given, every partition it has committed an
/// offset for.
///
/// Cancel-safe: it only reads.
pub async fn view_group(
    pool: &BrokerPool,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<GroupView, GroupError> {
    let coordinator = find_coordinator(pool, group).await?;
    let conn = pool.get(&coordinator).await?;
    let GroupDescription {
        metrics,
        protocol_type,
        consumer,
    } = describe_on(&conn, group).await?;

    let version = conn.versions().negotiate(ApiKey::OffsetFetch)?;
    let request = if !partitions.is_empty() {
        fetch_request(group, partitions, false, version)
    } else if version < 2 {
        return Err(GroupError::State(format!(
            "the broker's OffsetFetch v{version} cannot list all of a group's offsets (v2+ can); name the topics"
        )));
    } else if version >= 8 {
        // Topics absent (null): every partition the group has an offset for.
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(None),
        ])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(None)
    };
    let response = conn.send_version(request, version).await?;
    let committed = parse_fetch(group, &response).map_err(|code| GroupError::OffsetFetch {
        group: group.to_string(),
        code,
    })?;
    Ok(GroupView {
        metrics,
        protocol_type,
        consumer,
        committed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_needs_no_members_and_a_settled_state() {
        let mut m = GroupMetrics::unknown();
        assert!(!inactive(&m), "unknown state is not known to be inactive");
        m.state = "Empty".into();
        assert!(inactive(&m));
        m.state = "Dead".into();
        assert!(inactive(&m));
        m.state = "Stable".into();
        assert!(!inactive(&m));
        m.state = "Empty".into();
        m.members.push(crate::metrics::MemberInfo {
            member_id: "m".into(),
            client_id: String::new(),
            client_host: String::new(),
            partitions: Vec::new(),
        });
        assert!(!inactive(&m), "a member makes it active whatever the state");
    }
}
