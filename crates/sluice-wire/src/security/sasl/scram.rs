//! SASL SCRAM-SHA-256/512 (RFC 5802, RFC 7677). PLACEHOLDER: being written.

use super::{Mechanism, Step};
use crate::error::{Result, WireError};
use crate::security::Secret;

/// The hash a SCRAM mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

/// SCRAM's client side.
pub struct Scram {
    hash: ScramHash,
}

impl Scram {
    /// SCRAM for `username` with `password` and a fresh random nonce.
    pub fn new(hash: ScramHash, _username: &str, _password: &Secret) -> Result<Self> {
        Ok(Scram { hash })
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &'static str {
        match self.hash {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }
    fn initial(&mut self) -> Result<Vec<u8>> {
        Err(WireError::sasl_failed(self.name(), "not yet"))
    }
    fn step(&mut self, _server: &[u8]) -> Result<Step> {
        Err(WireError::sasl_failed(self.name(), "not yet"))
    }
}
