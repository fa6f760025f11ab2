//! Consumer groups for sluice: the membership state machine (sans-I/O), the
//! consumer protocol's subscription and assignment encodings, and the range
//! and round-robin assignors.

pub mod assignor;
pub mod config;
pub mod error;
pub mod membership;
pub mod protocol;

pub use config::GroupConfig;
pub use error::GroupError;
pub use membership::{Action, Membership, State};
