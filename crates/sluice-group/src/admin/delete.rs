//! DeleteGroups: removing groups and their committed offsets.

use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest};
use sluice_fetch::pool::BrokerPool;
use sluice_wire::KafkaCode;

use super::{find_coordinator, group_id};
use crate::error::GroupError;

/// Deletes `group` on its coordinator.
async fn delete_one(pool: &BrokerPool, group: &str) -> Result<(), GroupError> {
    let coordinator = find_coordinator(pool, group).await?;
    let conn = pool.get(&coordinator).await?;
    let version = conn.versions().negotiate(ApiKey::DeleteGroups)?;
    let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
    let response = conn.send_version(request, version).await?;
    let code = response
        .results
        .iter()
        .find(|r| r.group_id.0.as_str() == group)
        .map_or(KafkaCode::UNKNOWN_SERVER_ERROR, |r| KafkaCode(r.error_code));
    if code.is_ok() {
        Ok(())
    } else {
        Err(GroupError::Admin {
            api: "DeleteGroups",
            group: group.to_string(),
            code,
        })
    }
}

/// Deletes each of `groups` with its committed offsets, returning each
/// group's outcome in order. Kafka refuses a group that still has members
/// with NON_EMPTY_GROUP and an unknown one with GROUP_ID_NOT_FOUND (both in
/// [`GroupError::Admin`]); a group missing from the answer counts as
/// UNKNOWN_SERVER_ERROR.
///
/// tansu 0.6 deletes a group whatever its members: callers that must not
/// delete a live group check [`super::inactive`] first, as `sluice group
/// delete` does.
///
/// Dropping it before it returns may leave some groups deleted and others
/// not: re-run it (GROUP_ID_NOT_FOUND then means the group is gone).
pub async fn delete_groups(
    pool: &BrokerPool,
    groups: &[String],
) -> Vec<(String, Result<(), GroupError>)> {
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        out.push((group.clone(), delete_one(pool, group).await));
    }
    out
}
