//! Security under the connection: TLS ([`tls`]) and SASL ([`sasl`]), set by
//! the Java/librdkafka keys (`security.protocol`, `ssl.*`, `sasl.*`).
//!
//! No other crate knows how a connection is secured: they carry a
//! [`SecurityConfig`] inside [`crate::connection::ConnectionConfig`] and
//! hand it any key [`SecurityConfig::set`] accepts.
//!
//! ```
//! use sluice_wire::security::{SecurityConfig, SecurityProtocol};
//!
//! let mut security = SecurityConfig::default();
//! for (key, value) in [
//!     ("security.protocol", "SASL_SSL"),
//!     ("sasl.mechanism", "SCRAM-SHA-512"),
//!     ("sasl.username", "alice"),
//!     ("sasl.password", "s3cret"),
//! ] {
//!     assert!(security.set(key, value).unwrap());
//! }
//! assert_eq!(security.protocol, SecurityProtocol::SaslSsl);
//! // Secrets never show in Debug output.
//! assert!(!format!("{security:?}").contains("s3cret"));
//! ```

pub mod sasl;
pub mod tls;

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, WireError};
use crate::key_doc::{Java, KeyDoc};
use sasl::SaslConfig;
use tls::TlsConfig;

/// A password, token or key: shown as `[redacted]` by `Debug` and
/// `Display`, so it cannot reach a log or an error message by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

/// `security.protocol`: whether connections use TLS, SASL, both or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL (the default).
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections start with a TLS handshake.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL after ApiVersions.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// The key's value, as Java spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return Err("expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".into()),
        })
    }
}

/// How connections are secured: `security.protocol` and the TLS and SASL
/// settings it uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// The `ssl.*` keys, used when the protocol is SSL or SASL_SSL.
    pub tls: TlsConfig,
    /// The `sasl.*` keys, used when the protocol is SASL_PLAINTEXT or SASL_SSL.
    pub sasl: SaslConfig,
}

/// The keys [`SecurityConfig::set`] accepts.
pub const SECURITY_KEYS: &[&str] = &[
    "security.protocol",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.aws.region",
];

/// The security keys, documented
/// (the configuration reference in docs/guide.md is generated from these).
pub const SECURITY_KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "security.protocol",
        aliases: &[],
        default: Some("PLAINTEXT"),
        java: Java::Same,
        doc: "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
    },
    KeyDoc {
        key: "ssl.ca.location",
        aliases: &[],
        default: None,
        java: Java::Named("ssl.truststore.location"),
        doc: "PEM file of the CA certificates brokers are checked against (default: the platform's roots).",
    },
    KeyDoc {
        key: "ssl.ca.pem",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "The same as PEM text.",
    },
    KeyDoc {
        key: "ssl.certificate.location",
        aliases: &[],
        default: None,
        java: Java::Named("ssl.keystore.location"),
        doc: "PEM file of this client's certificate chain (mutual TLS).",
    },
    KeyDoc {
        key: "ssl.certificate.pem",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "The same as PEM text.",
    },
    KeyDoc {
        key: "ssl.key.location",
        aliases: &[],
        default: None,
        java: Java::Named("ssl.keystore.location"),
        doc: "PEM file of this client's private key (PKCS#8, RSA or EC; encrypted PKCS#8 with `ssl.key.password`).",
    },
    KeyDoc {
        key: "ssl.key.pem",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "The same as PEM text (a secret: never printed).",
    },
    KeyDoc {
        key: "ssl.key.password",
        aliases: &[],
        default: None,
        java: Java::Same,
        doc: "The password of an encrypted private key (a secret).",
    },
    KeyDoc {
        key: "ssl.endpoint.identification.algorithm",
        aliases: &[],
        default: Some("https"),
        java: Java::Same,
        doc: "`https` checks the broker's name against its certificate; `none` does not (a warning is logged).",
    },
    KeyDoc {
        key: "sasl.mechanism",
        aliases: &["sasl.mechanisms"],
        default: Some("SCRAM-SHA-512"),
        java: Java::Same,
        doc: "`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER` or `AWS_MSK_IAM` (the Java client's default, GSSAPI, is not supported).",
    },
    KeyDoc {
        key: "sasl.username",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "The user for PLAIN and SCRAM (the Java client puts it in `sasl.jaas.config`).",
    },
    KeyDoc {
        key: "sasl.password",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "The password for PLAIN and SCRAM (a secret).",
    },
    KeyDoc {
        key: "sasl.jaas.config",
        aliases: &[],
        default: None,
        java: Java::Same,
        doc: "A Java JAAS line (`...PlainLoginModule required username=\"u\" password=\"p\";`): its username and password are used.",
    },
    KeyDoc {
        key: "sasl.oauthbearer.config",
        aliases: &[],
        default: None,
        java: Java::LibrdkafkaOnly,
        doc: "Settings of the unsecured-JWT token provider (`principal=alice scope=... lifeSeconds=3600`), for tests.",
    },
    KeyDoc {
        key: "sasl.oauthbearer.method",
        aliases: &[],
        default: Some("default"),
        java: Java::LibrdkafkaOnly,
        doc: "`default` (an application token provider, else the unsecured JWT) or `aws_msk_iam` (sets the mechanism to AWS MSK IAM, as the MSK library does).",
    },
    KeyDoc {
        key: "sasl.oauthbearer.aws.region",
        aliases: &[],
        default: None,
        java: Java::SluiceOnly,
        doc: "The AWS region MSK IAM signs for (default: `AWS_REGION`, then `AWS_DEFAULT_REGION`).",
    },
];

impl SecurityConfig {
    /// Sets one option by its Java/librdkafka key. `Ok(false)` means the
    /// key is not a security key; a bad value is a
    /// [`WireError::Config`] naming the key (never the value of a secret).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        if key == "security.protocol" {
            self.protocol = value.parse().map_err(|message| WireError::Config {
                key: key.into(),
                message: format!("bad value {value:?}: {message}"),
            })?;
            return Ok(true);
        }
        if key.starts_with("ssl.") {
            return self.tls.set(key, value);
        }
        if key.starts_with("sasl.") {
            return self.sasl.set(key, value);
        }
        Ok(false)
    }

    /// Checks the settings fit together (a SASL protocol names a mechanism
    /// and its credentials), so a mistake is an error at start, not at the
    /// first connection.
    pub fn validate(&self) -> Result<()> {
        if self.protocol.uses_sasl() {
            self.sasl.validate()?;
        }
        if self.protocol.uses_tls() {
            self.tls.validate()?;
        }
        Ok(())
    }
}

/// The error for a bad value of `key`.
pub(crate) fn bad_value(key: &str, message: impl fmt::Display) -> WireError {
    WireError::Config {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_doc::check_docs;

    #[test]
    fn every_key_is_documented_with_its_real_default() {
        for source in [
            include_str!("mod.rs"),
            include_str!("tls.rs"),
            include_str!("sasl/mod.rs"),
        ] {
            let problems = check_docs(
                SECURITY_KEY_DOCS,
                SecurityConfig::default,
                SecurityConfig::set,
                source,
            );
            assert!(problems.is_empty(), "{problems:#?}");
        }
        let mut documented: Vec<&str> = SECURITY_KEY_DOCS.iter().flat_map(|d| d.names()).collect();
        let mut listed = SECURITY_KEYS.to_vec();
        documented.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, documented);
    }
}
