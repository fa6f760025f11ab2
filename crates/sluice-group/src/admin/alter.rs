//! Changing a group's committed offsets from outside it.

use kafka_protocol::messages::ApiKey;
use sluice_fetch::pool::BrokerPool;

use super::find_coordinator;
use crate::error::GroupError;
use crate::membership::Generation;
use crate::offsets::{Offsets, commit_failures, commit_request};

/// Commits `offsets` for `group` as an administrator: OffsetCommit with
/// generation -1 and an empty member id, as the Java AdminClient's
/// `alterConsumerGroupOffsets` does. Kafka accepts this only while the
/// group is empty (a group with members answers UNKNOWN_MEMBER_ID or
/// ILLEGAL_GENERATION); tansu 0.6 accepts it whatever the group's members,
/// so callers check [`super::inactive`] first, as `sluice group
/// reset-offsets` does. Rejected partitions are [`GroupError::Commit`].
///
/// Dropping it before it returns may leave the commit done or not: re-run it.
pub async fn alter_group_offsets(
    pool: &BrokerPool,
    group: &str,
    offsets: &Offsets,
) -> Result<(), GroupError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let coordinator = find_coordinator(pool, group).await?;
    let conn = pool.get(&coordinator).await?;
    let version = conn.versions().negotiate(ApiKey::OffsetCommit)?;
    let admin = Generation {
        generation_id: -1,
        member_id: String::new(),
        protocol: None,
    };
    let request = commit_request(group, &admin, None, offsets);
    let response = conn.send_version(request, version).await?;
    let failed = commit_failures(offsets, &response);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(GroupError::Commit {
            group: group.to_string(),
            failed,
        })
    }
}
