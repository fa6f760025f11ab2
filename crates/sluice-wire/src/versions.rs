//! ApiVersions negotiation: per API, the highest version both sluice and
//! the broker speak. Always taking the highest common version also means no
//! request uses a version Kafka 4.0 removed (KIP-896) when the broker offers
//! a newer one.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::error::{Result, WireError};

/// The versions of `api` sluice speaks (those `kafka-protocol` encodes).
pub fn supported(api: ApiKey) -> VersionRange {
    api.valid_versions()
}

/// The API versions a broker announced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiVersionsTable {
    ranges: BTreeMap<i16, VersionRange>,
}

impl ApiVersionsTable {
    /// The table from a broker's ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|k| {
                (
                    k.api_key,
                    VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        ApiVersionsTable { ranges }
    }

    /// A table from `(api, min, max)` triples (for tests and replay brokers).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (ApiKey, i16, i16)>) -> Self {
        let ranges = ranges
            .into_iter()
            .map(|(api, min, max)| (api as i16, VersionRange { min, max }))
            .collect();
        ApiVersionsTable { ranges }
    }

    /// The versions the broker offers for `api`, if any.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The highest version both sides support, or
    /// [`WireError::UnsupportedApi`] naming the API and both ranges.
    pub fn negotiate(&self, api: ApiKey) -> Result<i16> {
        let ours = supported(api);
        let broker = self.broker_range(api);
        match broker.map(|b| b.intersect(&ours)) {
            Some(common) if !common.is_empty() => Ok(common.max),
            _ => Err(WireError::UnsupportedApi { api, ours, broker }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apache Kafka 4.0's ranges for the APIs a consumer uses (KIP-896 raised the minimums).
    fn kafka_4_0() -> ApiVersionsTable {
        ApiVersionsTable::from_ranges([
            (ApiKey::Produce, 3, 12),
            (ApiKey::Fetch, 4, 17),
            (ApiKey::ListOffsets, 1, 10),
            (ApiKey::Metadata, 0, 13),
            (ApiKey::OffsetCommit, 2, 9),
            (ApiKey::OffsetFetch, 1, 9),
            (ApiKey::FindCoordinator, 0, 6),
            (ApiKey::JoinGroup, 2, 9),
            (ApiKey::Heartbeat, 0, 4),
            (ApiKey::LeaveGroup, 0, 5),
            (ApiKey::SyncGroup, 0, 5),
            (ApiKey::ApiVersions, 0, 4),
        ])
    }

    #[test]
    fn picks_the_highest_common_version() {
        let table =
            ApiVersionsTable::from_ranges([(ApiKey::Fetch, 0, 11), (ApiKey::Metadata, 0, 99)]);
        assert_eq!(table.negotiate(ApiKey::Fetch).unwrap(), 11);
        assert_eq!(
            table.negotiate(ApiKey::Metadata).unwrap(),
            supported(ApiKey::Metadata).max
        );
    }

    #[test]
    fn a_missing_api_is_an_error_naming_it() {
        let table = ApiVersionsTable::from_ranges([(ApiKey::Fetch, 0, 11)]);
        let err = table.negotiate(ApiKey::JoinGroup).unwrap_err();
        assert!(matches!(
            err,
            WireError::UnsupportedApi {
                api: ApiKey::JoinGroup,
                broker: None,
                ..
            }
        ));
        assert!(err.to_string().contains("JoinGroup"), "{err}");
    }

    #[test]
    fn disjoint_ranges_are_an_error() {
        // A broker that only knows Fetch v0-3: we speak v4 and up.
        let table = ApiVersionsTable::from_ranges([(ApiKey::Fetch, 0, 3)]);
        let err = table.negotiate(ApiKey::Fetch).unwrap_err();
        assert!(
            matches!(
                err,
                WireError::UnsupportedApi {
                    api: ApiKey::Fetch,
                    broker: Some(_),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn against_kafka_4_nothing_below_its_minimums_is_used() {
        let table = kafka_4_0();
        for api in [
            ApiKey::Produce,
            ApiKey::Fetch,
            ApiKey::ListOffsets,
            ApiKey::Metadata,
            ApiKey::OffsetCommit,
            ApiKey::OffsetFetch,
            ApiKey::FindCoordinator,
            ApiKey::JoinGroup,
            ApiKey::Heartbeat,
            ApiKey::LeaveGroup,
            ApiKey::SyncGroup,
            ApiKey::ApiVersions,
        ] {
            let v = table.negotiate(api).unwrap();
            let broker = table.broker_range(api).unwrap();
            assert!(
                v >= broker.min,
                "{api:?} v{v} below Kafka 4.0's minimum {}",
                broker.min
            );
            assert_eq!(v, broker.max.min(supported(api).max), "{api:?}");
        }
    }
}
