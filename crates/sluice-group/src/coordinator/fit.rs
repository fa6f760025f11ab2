//! Requests the state machine builds with every version's fields, cut down
//! to what the negotiated version has (the codec rejects a field set at a
//! version that lacks it).

use kafka_protocol::messages::{
    FindCoordinatorRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    SyncGroupRequest,
};

/// A static member's instance id goes on OffsetCommit from v7 (KIP-345);
/// older versions cannot carry it.
pub fn commit(mut r: OffsetCommitRequest, version: i16) -> OffsetCommitRequest {
    if version < 7 {
        r.group_instance_id = None;
    }
    r
}

/// v0-3 name one key; v4+ (KIP-699) a list.
pub fn find_coordinator(mut r: FindCoordinatorRequest, version: i16) -> FindCoordinatorRequest {
    if version >= 4 {
        r.key = Default::default();
    } else {
        r.coordinator_keys.clear();
    }
    if version < 1 {
        r.key_type = 0;
    }
    r
}

/// Static membership (group.instance.id) needs v5+; the reason v8+.
pub fn join(mut r: JoinGroupRequest, version: i16) -> JoinGroupRequest {
    if version < 5 {
        r.group_instance_id = None;
    }
    if version < 8 {
        r.reason = None;
    }
    r
}

/// Protocol type and name are sent from v5.
pub fn sync(mut r: SyncGroupRequest, version: i16) -> SyncGroupRequest {
    if version < 5 {
        r.protocol_type = None;
        r.protocol_name = None;
    }
    if version < 3 {
        r.group_instance_id = None;
    }
    r
}

/// v0-2 name one member; v3+ (KIP-345) a list, with reasons from v5.
pub fn leave(mut r: LeaveGroupRequest, version: i16) -> LeaveGroupRequest {
    if version >= 3 {
        r.member_id = Default::default();
        if version < 5 {
            for m in &mut r.members {
                m.reason = None;
            }
        }
    } else {
        r.members.clear();
    }
    r
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::{
        FindCoordinatorRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encodes<T: Encodable>(r: &T, version: i16) -> bool {
        r.encode(&mut bytes::BytesMut::new(), version).is_ok()
    }

    /// The requests the state machine builds carry every version's fields;
    /// cut down, each encodes at every version Kafka 2.x to 4.x may pick.
    #[test]
    fn every_group_request_fits_every_version() {
        let key = StrBytes::from_static_str("g");
        let find = FindCoordinatorRequest::default()
            .with_key(key.clone())
            .with_coordinator_keys(vec![key.clone()]);
        assert!(!encodes(&find, 6), "both layouts at once do not encode");
        for v in 0..=6 {
            assert!(
                encodes(&super::find_coordinator(find.clone(), v), v),
                "FindCoordinator v{v}"
            );
        }
        let join = JoinGroupRequest::default()
            .with_group_instance_id(Some(key.clone()))
            .with_reason(Some(key.clone()));
        for v in 0..=9 {
            assert!(encodes(&super::join(join.clone(), v), v), "JoinGroup v{v}");
        }
        let sync = SyncGroupRequest::default()
            .with_group_instance_id(Some(key.clone()))
            .with_protocol_type(Some(key.clone()))
            .with_protocol_name(Some(key.clone()));
        for v in 0..=5 {
            assert!(encodes(&super::sync(sync.clone(), v), v), "SyncGroup v{v}");
        }
        let leave = LeaveGroupRequest::default()
            .with_member_id(key.clone())
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(key.clone())
                    .with_reason(Some(key)),
            ]);
        for v in 0..=5 {
            assert!(
                encodes(&super::leave(leave.clone(), v), v),
                "LeaveGroup v{v}"
            );
        }
    }

    /// A static member's commit encodes at every version, with its instance
    /// id where the version has one.
    #[test]
    fn a_static_members_commit_fits_every_version() {
        use kafka_protocol::messages::OffsetCommitRequest;
        let commit = OffsetCommitRequest::default()
            .with_group_instance_id(Some(StrBytes::from_static_str("instance-1")));
        assert!(!encodes(&commit, 6), "v6 has no instance id");
        // From v2 (Kafka 0.10.1): v0/v1 are for ZooKeeper-era brokers.
        for v in 2..=9 {
            let fitted = super::commit(commit.clone(), v);
            assert!(encodes(&fitted, v), "OffsetCommit v{v}");
            assert_eq!(fitted.group_instance_id.is_some(), v >= 7, "v{v}");
        }
    }
}
