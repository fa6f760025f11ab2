//! Administering groups from outside them, the way the Java AdminClient and
//! `kafka-consumer-groups.sh` do: finding a group's coordinator, listing
//! groups, describing one with its committed offsets (what `sluice lag`
//! and `sluice group describe` show), changing its committed offsets and
//! deleting it. Nothing here joins the group. A KIP-848 consumer-protocol
//! group is described with ConsumerGroupDescribe where the coordinator
//! offers it.

mod alter;
mod consumer_describe;
mod delete;
mod list;
mod view;

pub use alter::alter_group_offsets;
pub use consumer_describe::{
    ConsumerGroupInfo, ConsumerMemberInfo, Decision, Fallback, decide, describe_request,
};
pub use delete::delete_groups;
pub use list::{ListedGroup, list_groups};
pub use view::{GroupDescription, GroupView, describe_group, group_protocol, inactive, view_group};

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, GroupId};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::cluster::BrokerAddr;
use sluice_fetch::pool::BrokerPool;

use crate::error::GroupError;
use crate::membership::coordinator_answer;

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// Finds `group`'s coordinator.
///
/// Cancel-safe: it only reads.
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
