//! The batch layer's errors.

use sluice_group::GroupError;
use sluice_produce::ProduceError;

/// An error the application's batch function returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop a batch pipeline.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The consumer group failed.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// Writing results failed.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// A batch kept failing: nothing at or after its records was committed.
    #[error("batch of {records} records ({ranges}) failed {attempts} times, stopping: {source}")]
    Failed {
        /// How many times it was tried.
        attempts: u32,
        /// Its records.
        records: usize,
        /// The partitions and offsets it covers.
        ranges: String,
        /// The last failure.
        source: BoxError,
    },
    /// [`crate::Pipeline::run`] was called again after a batch failed for
    /// good: running on would go past the failed batch, which is never
    /// committed. Make a new pipeline (it starts at the group's committed
    /// offset, the failed batch's first record).
    #[error(
        "the pipeline stopped on a failed batch ({ranges}); it does not run again: start a new one, which resumes at the failed batch"
    )]
    Stopped {
        /// The partitions and offsets of the failed batch.
        ranges: String,
    },
    /// A `--compute` spec that does not parse.
    #[error("bad computation {spec:?}: {message}")]
    Spec {
        /// The spec.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// A bad configuration value.
    #[error("config {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl BatchError {
    /// Whether trying again may succeed (following Kafka's error codes for
    /// group and produce errors).
    pub fn is_retriable(&self) -> bool {
        match self {
            BatchError::Group(e) => e.is_retriable(),
            BatchError::Produce(e) => e.is_retriable(),
            _ => false,
        }
    }
}
