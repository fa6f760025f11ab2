//! SASL: the mechanisms as sans-I/O state machines ([`Mechanism`]), the
//! `sasl.*` settings, and the async providers of OAUTHBEARER tokens and AWS
//! credentials.
//!
//! A connection runs the exchange after ApiVersions: SaslHandshake v1 names
//! the mechanism, then each client message goes in a SaslAuthenticate
//! request and each answer's `auth_bytes` is handed to [`Mechanism::step`].
//!
//! ```
//! use sluice_wire::security::sasl::{Mechanism, Step, plain::Plain};
//!
//! let mut plain = Plain::new("alice", &"s3cret".into());
//! assert_eq!(plain.initial().unwrap(), b"\0alice\0s3cret");
//! assert!(matches!(plain.step(b"").unwrap(), Step::Done));
//! ```

pub(crate) mod exchange;
pub mod msk_iam;
pub mod oauthbearer;
pub mod plain;
pub mod scram;
pub mod sigv4;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use super::{Secret, bad_value};
use crate::error::Result;

/// A boxed future, as the provider traits return (object-safe async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The wall clock in milliseconds since the Unix epoch, as token providers
/// read it (`mechanism` names who is asking, for the error).
pub(crate) fn unix_now_ms(mechanism: &str) -> Result<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| crate::WireError::sasl_failed(mechanism, "the clock is before 1970"))
}

/// What the client does after reading the server's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in the next SaslAuthenticate request.
    Send(Vec<u8>),
    /// The exchange is complete and verified.
    Done,
}

/// A SASL mechanism's client side, without I/O: the connection sends what
/// it returns and feeds it what the broker answers.
pub trait Mechanism: Send {
    /// The mechanism's name as SaslHandshake sends it, e.g. `SCRAM-SHA-512`.
    fn name(&self) -> &'static str;
    /// The client's first message.
    fn initial(&mut self) -> Result<Vec<u8>>;
    /// Reads the server's answer to the last message (the `auth_bytes` of a
    /// SaslAuthenticate response with error code 0) and says what comes
    /// next. An answer that does not verify is
    /// [`WireError::SaslAuthenticationFailed`].
    fn step(&mut self, server: &[u8]) -> Result<Step>;
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MechanismKind {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[default]
    ScramSha512,
    /// `OAUTHBEARER` (KIP-255, RFC 7628).
    OAuthBearer,
    /// `AWS_MSK_IAM`: OAUTHBEARER on the wire, with a SigV4-presigned token
    /// as aws-msk-iam-sasl-signer makes (the same as `OAUTHBEARER` with
    /// `sasl.oauthbearer.method=aws_msk_iam`).
    AwsMskIam,
}

impl MechanismKind {
    /// The name SaslHandshake sends.
    pub fn wire_name(self) -> &'static str {
        match self {
            MechanismKind::Plain => "PLAIN",
            MechanismKind::ScramSha256 => "SCRAM-SHA-256",
            MechanismKind::ScramSha512 => "SCRAM-SHA-512",
            MechanismKind::OAuthBearer | MechanismKind::AwsMskIam => "OAUTHBEARER",
        }
    }
}

impl FromStr for MechanismKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "PLAIN" => MechanismKind::Plain,
            "SCRAM-SHA-256" => MechanismKind::ScramSha256,
            "SCRAM-SHA-512" => MechanismKind::ScramSha512,
            "OAUTHBEARER" => MechanismKind::OAuthBearer,
            "AWS_MSK_IAM" => MechanismKind::AwsMskIam,
            _ => {
                return Err(
                    "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM"
                        .into(),
                );
            }
        })
    }
}

/// An OAuth 2 bearer token and what goes with it in the client's first
/// OAUTHBEARER message.
#[derive(Debug, Clone)]
pub struct OAuthToken {
    /// The token (a JWT, or MSK's base64url presigned URL).
    pub value: Secret,
    /// The principal it names, for logs.
    pub principal: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// SASL extensions (KIP-342), sent as `key=value` pairs in order.
    pub extensions: Vec<(String, String)>,
}

/// Where OAUTHBEARER tokens come from. Async, so a provider can call an
/// identity service or an AWS signer without blocking a runtime thread.
pub trait TokenProvider: Send + Sync {
    /// A token that is valid now (called at every authentication and
    /// re-authentication).
    fn token(&self) -> BoxFuture<'_, Result<OAuthToken>>;
}

/// AWS credentials for MSK IAM.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<Secret>,
}

/// Where AWS credentials come from (the environment by default).
pub trait AwsCredentialsProvider: Send + Sync {
    /// Credentials valid now.
    fn credentials(&self) -> BoxFuture<'_, Result<AwsCredentials>>;
}

/// The `sasl.*` settings.
#[derive(Clone, Default)]
pub struct SaslConfig {
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`).
    pub mechanism: MechanismKind,
    /// `sasl.username` (PLAIN and SCRAM).
    pub username: String,
    /// `sasl.password` (PLAIN and SCRAM).
    pub password: Secret,
    /// `sasl.oauthbearer.config`: settings of the unsecured-JWT provider
    /// (`principal=alice scope=... lifeSeconds=3600 extension_K=V`), used
    /// for OAUTHBEARER when no [`SaslConfig::token_provider`] is set.
    pub oauthbearer_config: Option<Secret>,
    /// `sasl.oauthbearer.aws.region` for MSK IAM (default: `AWS_REGION`,
    /// then `AWS_DEFAULT_REGION`).
    pub aws_region: Option<String>,
    /// Tokens for OAUTHBEARER from the application; wins over the
    /// unsecured-JWT and MSK providers.
    pub token_provider: Option<Arc<dyn TokenProvider>>,
    /// Credentials for MSK IAM (default: the environment variables).
    pub aws_credentials: Option<Arc<dyn AwsCredentialsProvider>>,
}

impl PartialEq for SaslConfig {
    /// Equal settings; providers are equal when they are the same object.
    fn eq(&self, other: &Self) -> bool {
        fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        }
        self.mechanism == other.mechanism
            && self.username == other.username
            && self.password == other.password
            && self.oauthbearer_config == other.oauthbearer_config
            && self.aws_region == other.aws_region
            && same(&self.token_provider, &other.token_provider)
            && same(&self.aws_credentials, &other.aws_credentials)
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("oauthbearer_config", &self.oauthbearer_config)
            .field("aws_region", &self.aws_region)
            .field("token_provider", &self.token_provider.is_some())
            .field("aws_credentials", &self.aws_credentials.is_some())
            .finish()
    }
}

impl SaslConfig {
    /// Sets one `sasl.*` key; `Ok(false)` if it is not one.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "sasl.mechanism" | "sasl.mechanisms" => {
                self.mechanism = value
                    .parse()
                    .map_err(|m| bad_value(key, format!("bad value {value:?}: {m}")))?
            }
            "sasl.username" => self.username = value.to_string(),
            "sasl.password" => self.password = Secret::new(value),
            "sasl.jaas.config" => {
                let (username, password) = parse_jaas(value)?;
                self.username = username;
                self.password = password;
            }
            "sasl.oauthbearer.config" => self.oauthbearer_config = Some(Secret::new(value)),
            "sasl.oauthbearer.method" => match value.to_ascii_lowercase().as_str() {
                "default" => {}
                "aws_msk_iam" => self.mechanism = MechanismKind::AwsMskIam,
                _ => {
                    return Err(bad_value(
                        key,
                        format!("bad value {value:?}: expected default or aws_msk_iam"),
                    ));
                }
            },
            "sasl.oauthbearer.aws.region" => self.aws_region = Some(value.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the mechanism has what it needs.
    pub fn validate(&self) -> Result<()> {
        match self.mechanism {
            MechanismKind::Plain | MechanismKind::ScramSha256 | MechanismKind::ScramSha512 => {
                if self.username.is_empty() {
                    return Err(bad_value(
                        "sasl.username",
                        format!("{} needs a username", self.mechanism.wire_name()),
                    ));
                }
                if self.password.is_empty() {
                    return Err(bad_value(
                        "sasl.password",
                        format!("{} needs a password", self.mechanism.wire_name()),
                    ));
                }
            }
            MechanismKind::OAuthBearer => {
                if self.token_provider.is_none() && self.oauthbearer_config.is_none() {
                    return Err(bad_value(
                        "sasl.oauthbearer.config",
                        "OAUTHBEARER needs a token provider or sasl.oauthbearer.config \
                         (principal=NAME ...) for unsecured tokens",
                    ));
                }
            }
            MechanismKind::AwsMskIam => {
                if self.token_provider.is_none() && self.region().is_none() {
                    return Err(bad_value(
                        "sasl.oauthbearer.aws.region",
                        "AWS MSK IAM needs a region (this key, AWS_REGION or AWS_DEFAULT_REGION)",
                    ));
                }
            }
        }
        Ok(())
    }

    fn region(&self) -> Option<String> {
        self.aws_region.clone().or_else(|| {
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        })
    }

    /// The mechanism's state machine for one authentication; OAUTHBEARER
    /// asks its provider for a token first.
    pub async fn mechanism(&self) -> Result<Box<dyn Mechanism>> {
        Ok(match self.mechanism {
            MechanismKind::Plain => Box::new(plain::Plain::new(&self.username, &self.password)),
            MechanismKind::ScramSha256 => Box::new(scram::Scram::new(
                scram::ScramHash::Sha256,
                &self.username,
                &self.password,
            )?),
            MechanismKind::ScramSha512 => Box::new(scram::Scram::new(
                scram::ScramHash::Sha512,
                &self.username,
                &self.password,
            )?),
            MechanismKind::OAuthBearer | MechanismKind::AwsMskIam => {
                let token = self.token().await?;
                Box::new(oauthbearer::OAuthBearer::new(&token))
            }
        })
    }

    async fn token(&self) -> Result<OAuthToken> {
        if let Some(provider) = &self.token_provider {
            return provider.token().await;
        }
        match self.mechanism {
            MechanismKind::AwsMskIam => {
                let region = self.region().ok_or_else(|| {
                    bad_value("sasl.oauthbearer.aws.region", "no AWS region is set")
                })?;
                let credentials: Arc<dyn AwsCredentialsProvider> = match &self.aws_credentials {
                    Some(c) => c.clone(),
                    None => Arc::new(msk_iam::EnvCredentials),
                };
                msk_iam::MskIamTokenProvider::new(region, credentials)
                    .token()
                    .await
            }
            _ => {
                let config = self.oauthbearer_config.as_ref().ok_or_else(|| {
                    bad_value("sasl.oauthbearer.config", "no token provider is set")
                })?;
                oauthbearer::UnsecuredJwtProvider::from_config(config.expose())?
                    .token()
                    .await
            }
        }
    }
}

/// Reads `username` and `password` out of a JAAS line such as
/// `org.apache.kafka.common.security.scram.ScramLoginModule required
/// username="alice" password="s3cret";` (PLAIN and SCRAM login modules).
fn parse_jaas(value: &str) -> Result<(String, Secret)> {
    const KEY: &str = "sasl.jaas.config";
    let mut username = None;
    let mut password = None;
    let mut rest = value;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].rsplit(char::is_whitespace).next().unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let (val, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| bad_value(KEY, format!("unterminated quote after {name}=")))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match name {
            "username" => username = Some(val.to_string()),
            "password" => password = Some(Secret::new(val)),
            _ => {}
        }
        rest = tail;
    }
    match (username, password) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err(bad_value(
            KEY,
            "expected a login module line with username=\"...\" and password=\"...\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;

    #[test]
    fn jaas_lines_give_username_and_password_and_hide_the_password() {
        let mut c = SaslConfig::default();
        c.set(
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="pa ss=word";"#,
        )
        .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "pa ss=word");
        assert!(!format!("{c:?}").contains("pa ss"));
        let err = c
            .set("sasl.jaas.config", "x required user=\"a\"")
            .unwrap_err();
        assert!(err.to_string().contains("sasl.jaas.config"), "{err}");
    }

    #[test]
    fn mechanisms_parse_and_validate_their_needs() {
        let mut c = SaslConfig::default();
        c.set("sasl.mechanism", "scram-sha-256").unwrap();
        assert_eq!(c.mechanism, MechanismKind::ScramSha256);
        assert!(c.set("sasl.mechanism", "GSSAPI").is_err());
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("sasl.username"), "{err}");
        c.set("sasl.oauthbearer.method", "aws_msk_iam").unwrap();
        assert_eq!(c.mechanism, MechanismKind::AwsMskIam);
        assert_eq!(c.mechanism.wire_name(), "OAUTHBEARER");
        assert!(!c.set("sasl.kerberos.service.name", "kafka").unwrap());
    }

    #[test]
    fn a_wrong_password_error_names_neither_the_password_nor_its_value() {
        let err = WireError::sasl_failed("PLAIN", "Authentication failed: invalid credentials")
            .at("b1:9092");
        let text = err.to_string();
        assert!(text.contains("b1:9092") && text.contains("PLAIN"), "{text}");
        assert!(err.is_security() && !err.is_retriable());
    }
}
