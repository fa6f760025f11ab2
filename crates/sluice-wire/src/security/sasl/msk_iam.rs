//! AWS MSK IAM tokens (SigV4-presigned). PLACEHOLDER: being written.

use std::sync::Arc;

use super::{AwsCredentials, AwsCredentialsProvider, BoxFuture, OAuthToken, TokenProvider};
use crate::error::{Result, WireError};

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
pub struct EnvCredentials;

impl AwsCredentialsProvider for EnvCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<AwsCredentials>> {
        Box::pin(async { Err(WireError::sasl_failed("OAUTHBEARER", "not yet")) })
    }
}

/// MSK IAM tokens for one region.
pub struct MskIamTokenProvider {
    _region: String,
    _credentials: Arc<dyn AwsCredentialsProvider>,
}

impl MskIamTokenProvider {
    /// Tokens for `region` signed with `credentials`.
    pub fn new(region: String, credentials: Arc<dyn AwsCredentialsProvider>) -> Self {
        MskIamTokenProvider {
            _region: region,
            _credentials: credentials,
        }
    }
}

impl TokenProvider for MskIamTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<OAuthToken>> {
        Box::pin(async { Err(WireError::sasl_failed("OAUTHBEARER", "not yet")) })
    }
}
