//! The member's identity for exactly-once processing (KIP-447): a
//! transactional producer sends it with the consumed offsets
//! (TxnOffsetCommit), and the group coordinator refuses the commit of a
//! member that is no longer in the generation, so a zombie cannot commit.
//! The coordinator task records the generation with each assignment;
//! [`GroupConsumer::group_metadata`](crate::GroupConsumer::group_metadata)
//! reads it.

use std::sync::Mutex;

use crate::membership::Generation;

/// What the group knows this member as (Java's `ConsumerGroupMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation of the current assignment (-1 before the first).
    pub generation_id: i32,
    /// The member id the coordinator gave ("" before the first join).
    pub member_id: String,
    /// `group.instance.id` (static membership), if set.
    pub group_instance_id: Option<String>,
}

/// The generation and member id of the last assignment, shared by the
/// coordinator task (writer) and the consumer (reader).
#[derive(Debug)]
pub(crate) struct GenerationSlot(Mutex<(i32, String)>);

impl Default for GenerationSlot {
    fn default() -> Self {
        GenerationSlot(Mutex::new((-1, String::new())))
    }
}

impl GenerationSlot {
    /// Records the generation an assignment was made in.
    pub(crate) fn set(&self, generation: &Generation) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *slot = (generation.generation_id, generation.member_id.clone());
    }

    /// The generation id and member id last recorded.
    pub(crate) fn get(&self) -> (i32, String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_starts_without_a_generation_and_keeps_the_last_set() {
        let slot = GenerationSlot::default();
        assert_eq!(slot.get(), (-1, String::new()));
        slot.set(&Generation {
            generation_id: 7,
            member_id: "m-1".into(),
            protocol: None,
        });
        assert_eq!(slot.get(), (7, "m-1".to_string()));
    }
}
