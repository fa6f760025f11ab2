//! TLS with rustls: the `ssl.*` settings, the client configuration they
//! make (CA roots, client certificate), and the handshake.

use std::path::PathBuf;

use super::{Secret, bad_value};
use crate::error::Result;

/// The `ssl.*` settings.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// `ssl.ca.location`: a PEM file of CA certificates (default: the
    /// platform's roots).
    pub ca_location: Option<PathBuf>,
    /// `ssl.ca.pem`: CA certificates as PEM text.
    pub ca_pem: Option<String>,
    /// `ssl.certificate.location`: the client's certificate chain (PEM),
    /// for mutual TLS.
    pub certificate_location: Option<PathBuf>,
    /// `ssl.certificate.pem`.
    pub certificate_pem: Option<String>,
    /// `ssl.key.location`: the client's private key (PEM: PKCS#8, RSA or
    /// EC; encrypted PKCS#8 with `ssl.key.password`).
    pub key_location: Option<PathBuf>,
    /// `ssl.key.pem`.
    pub key_pem: Option<Secret>,
    /// `ssl.key.password`.
    pub key_password: Option<Secret>,
    /// `ssl.endpoint.identification.algorithm`: `https` (the default)
    /// checks the certificate names the broker's host; `none` skips that.
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_location: None,
            ca_pem: None,
            certificate_location: None,
            certificate_pem: None,
            key_location: None,
            key_pem: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

impl TlsConfig {
    /// Sets one `ssl.*` key; `Ok(false)` if it is not one.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        let path = || Some(PathBuf::from(value));
        match key {
            "ssl.ca.location" => self.ca_location = path(),
            "ssl.ca.pem" => self.ca_pem = Some(value.to_string()),
            "ssl.certificate.location" => self.certificate_location = path(),
            "ssl.certificate.pem" => self.certificate_pem = Some(value.to_string()),
            "ssl.key.location" => self.key_location = path(),
            "ssl.key.pem" => self.key_pem = Some(Secret::new(value)),
            "ssl.key.password" => self.key_password = Some(Secret::new(value)),
            "ssl.endpoint.identification.algorithm" => {
                self.verify_hostname = match value.to_ascii_lowercase().as_str() {
                    "https" => true,
                    "none" | "" => false,
                    _ => {
                        return Err(bad_value(
                            key,
                            format!("bad value {value:?}: expected https or none"),
                        ));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks a client certificate comes with its key and the reverse.
    pub fn validate(&self) -> Result<()> {
        let cert = self.certificate_location.is_some() || self.certificate_pem.is_some();
        let key = self.key_location.is_some() || self.key_pem.is_some();
        if cert && !key {
            return Err(bad_value(
                "ssl.key.location",
                "a client certificate needs its private key",
            ));
        }
        if key && !cert {
            return Err(bad_value(
                "ssl.certificate.location",
                "a private key needs its client certificate",
            ));
        }
        Ok(())
    }
}
