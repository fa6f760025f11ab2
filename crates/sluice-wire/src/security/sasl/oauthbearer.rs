//! SASL OAUTHBEARER (RFC 7628, KIP-255, KIP-342). PLACEHOLDER: being written.

use super::{BoxFuture, Mechanism, OAuthToken, Step, TokenProvider};
use crate::error::{Result, WireError};

/// OAUTHBEARER's client side for one token.
pub struct OAuthBearer {
    _token: OAuthToken,
}

impl OAuthBearer {
    /// OAUTHBEARER presenting `token` (and its extensions).
    pub fn new(token: &OAuthToken) -> Self {
        OAuthBearer {
            _token: token.clone(),
        }
    }
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &'static str {
        "OAUTHBEARER"
    }
    fn initial(&mut self) -> Result<Vec<u8>> {
        Err(WireError::sasl_failed("OAUTHBEARER", "not yet"))
    }
    fn step(&mut self, _server: &[u8]) -> Result<Step> {
        Err(WireError::sasl_failed("OAUTHBEARER", "not yet"))
    }
}

/// Unsecured JWTs for tests, from `sasl.oauthbearer.config`.
pub struct UnsecuredJwtProvider;

impl UnsecuredJwtProvider {
    /// Reads `principal=NAME [scope=...] [lifeSeconds=N] [extension_K=V]...`.
    pub fn from_config(_config: &str) -> Result<Self> {
        Ok(UnsecuredJwtProvider)
    }
}

impl TokenProvider for UnsecuredJwtProvider {
    fn token(&self) -> BoxFuture<'_, Result<OAuthToken>> {
        Box::pin(async { Err(WireError::sasl_failed("OAUTHBEARER", "not yet")) })
    }
}
