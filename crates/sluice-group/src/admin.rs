//! Looking at a group from outside it (what `sluice lag` shows): its
//! coordinator, members, assignment and committed offsets, without joining.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::BrokerAddr;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::WireError;

use crate::error::GroupError;
use crate::membership::coordinator_answer;
use crate::metrics::{GroupMetrics, describe_metrics};
use crate::offsets::{OffsetAndMetadata, fetch_request, parse_fetch};

/// A group as seen from outside: its description and committed offsets.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// State, members, assignment and the members/partitions ratio
    /// (`assignment` and `lag` are empty: the viewer is not a member).
    pub metrics: GroupMetrics,
    /// Every partition the group has committed an offset for.
    pub committed: BTreeMap<TopicPartition, Option<OffsetAndMetadata>>,
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// Finds `group`'s coordinator.
pub async fn find_coordinator(pool: &BrokerPool, group: &str) -> Result<BrokerAddr, GroupError> {
    let conn = pool.least_loaded().await?;
    let version = conn.versions().negotiate(ApiKey::FindCoordinator)?;
    let mut request = FindCoordinatorRequest::default();
    if version >= 4 {
        request.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
    } else {
        request.key = StrBytes::from_string(group.to_string());
    }
    let response = conn.send_version(request, version).await?;
    let (code, id, host, port) = coordinator_answer(&response);
    if !code.is_ok() || id < 0 {
        return Err(GroupError::Coordinator {
            group: group.to_string(),
            code,
        });
    }
    Ok(BrokerAddr { id, host, port })
}

/// Describes `group` and fetches its committed offsets: for `partitions`
/// (each listed, with `None` where nothing is committed), or, with none
/// given, every partition it has committed an offset for.
///
/// A broker without DescribeGroups (librdkafka's mock cluster has none)
/// gives an empty description (state unknown, no members) rather than an
/// error: the offsets are still worth showing.
pub async fn view_group(
    pool: &BrokerPool,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<GroupView, GroupError> {
    let coordinator = find_coordinator(pool, group).await?;
    let conn = pool.get(&coordinator).await?;
    let metrics = match conn.versions().negotiate(ApiKey::DescribeGroups) {
        Ok(version) => {
            let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
            let described = conn.send_version(request, version).await?;
            describe_metrics(group, &described, Vec::new(), BTreeMap::new())?
        }
        Err(WireError::UnsupportedApi { .. }) => {
            tracing::warn!(
                group,
                broker = conn.addr(),
                "the broker has no DescribeGroups: members and owners unknown"
            );
            GroupMetrics::unknown()
        }
        Err(e) => return Err(e.into()),
    };

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
    Ok(GroupView { metrics, committed })
}
