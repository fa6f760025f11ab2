//! ListGroups: every group of the cluster, asking each broker (each
//! answers for the groups it coordinates), as the Java AdminClient does.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, ListGroupsRequest, MetadataRequest};
use sluice_fetch::cluster::BrokerAddr;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::KafkaCode;

use crate::error::GroupError;

/// One group as ListGroups names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// Its state (ListGroups v4+; "" from older brokers).
    pub state: String,
    /// Its protocol type ("consumer" for consumer groups; "" for a group
    /// that only has committed offsets, on Kafka).
    pub protocol_type: String,
}

/// The brokers of the cluster, from a Metadata request naming no topic.
async fn brokers(pool: &BrokerPool) -> Result<Vec<BrokerAddr>, GroupError> {
    let conn = pool.least_loaded().await?;
    let version = conn.versions().negotiate(ApiKey::Metadata)?;
    // v0 reads an empty topic list as "all topics"; from v1 it means none.
    let request = MetadataRequest::default().with_topics((version >= 1).then(Vec::new));
    let response = conn.send_version(request, version).await?;
    let brokers: Vec<BrokerAddr> = response
        .brokers
        .iter()
        .map(|b| BrokerAddr {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
        })
        .collect();
    pool.learn(brokers.iter());
    Ok(brokers)
}

/// Every group of the cluster, sorted by id: ListGroups sent to each broker
/// Metadata names, the answers merged (a group appears once).
///
/// A broker that answers with an error fails the whole listing
/// ([`GroupError::Admin`]; COORDINATOR_LOAD_IN_PROGRESS is retriable), as
/// the Java tool's does: a partial list would hide groups.
///
/// Cancel-safe: it only reads.
pub async fn list_groups(pool: &BrokerPool) -> Result<Vec<ListedGroup>, GroupError> {
    let mut groups: BTreeMap<String, ListedGroup> = BTreeMap::new();
    for broker in brokers(pool).await? {
        let conn = pool.get(&broker).await?;
        let version = conn.versions().negotiate(ApiKey::ListGroups)?;
        // No filters: every state and type.
        let response = conn
            .send_version(ListGroupsRequest::default(), version)
            .await?;
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            return Err(GroupError::Admin {
                api: "ListGroups",
                group: String::new(),
                code,
            });
        }
        for g in &response.groups {
            let id = g.group_id.0.to_string();
            groups.entry(id.clone()).or_insert(ListedGroup {
                group_id: id,
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
            });
        }
    }
    Ok(groups.into_values().collect())
}
