//! TLS with rustls: the `ssl.*` settings, the client configuration they
//! make (CA roots, client certificate), and the handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Secret, SecurityProtocol, bad_value};
use crate::error::{Result, WireError};

/// The `ssl.*` settings.
#[derive(Clone)]
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
    /// The rustls configuration these settings make, built at the first
    /// connection and shared by every clone.
    built: Arc<Mutex<Option<Arc<ClientConfig>>>>,
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.ca_location == other.ca_location
            && self.ca_pem == other.ca_pem
            && self.certificate_location == other.certificate_location
            && self.certificate_pem == other.certificate_pem
            && self.key_location == other.key_location
            && self.key_pem == other.key_pem
            && self.key_password == other.key_password
            && self.verify_hostname == other.verify_hostname
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_location", &self.ca_location)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("certificate_location", &self.certificate_location)
            .field("certificate_pem", &self.certificate_pem.is_some())
            .field("key_location", &self.key_location)
            .field("key_pem", &self.key_pem)
            .field("key_password", &self.key_password)
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
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
            built: Arc::default(),
        }
    }
}

impl TlsConfig {
    /// Sets one `ssl.*` key; `Ok(false)` if it is not one.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        // A changed setting makes a new rustls configuration.
        self.built = Arc::default();
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

impl TlsConfig {
    /// The rustls client configuration: the CA roots (`ssl.ca.*`, else the
    /// platform's), the client certificate if set, hostname checks unless
    /// `ssl.endpoint.identification.algorithm=none`. Built once, then shared.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = built.as_ref() {
            return Ok(config.clone());
        }
        let config = Arc::new(self.build()?);
        *built = Some(config.clone());
        Ok(config)
    }

    fn build(&self) -> Result<ClientConfig> {
        self.validate()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.roots()?);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad_value("ssl", e))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            tracing::warn!(
                "ssl.endpoint.identification.algorithm=none: broker certificates are not \
                 checked against the broker's host name"
            );
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| bad_value("ssl.ca.location", e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName { inner }))
        };
        match self.client_identity()? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad_value("ssl.key.location", format!("{e}"))),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = if let Some(pem) = &self.ca_pem {
            read_certs("ssl.ca.pem", pem.as_bytes())?
        } else if let Some(path) = &self.ca_location {
            read_certs("ssl.ca.location", &read_file("ssl.ca.location", path)?)?
        } else {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(bad_value(
                    "ssl.ca.location",
                    format!(
                        "no platform CA certificates found ({} errors); set ssl.ca.location",
                        found.errors.len()
                    ),
                ));
            }
            found.certs
        };
        let key = if self.ca_pem.is_some() {
            "ssl.ca.pem"
        } else {
            "ssl.ca.location"
        };
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bad_value(key, "holds no usable CA certificate"));
        }
        Ok(roots)
    }

    fn client_identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
        let chain = match (&self.certificate_pem, &self.certificate_location) {
            (Some(pem), _) => read_certs("ssl.certificate.pem", pem.as_bytes())?,
            (None, Some(path)) => read_certs(
                "ssl.certificate.location",
                &read_file("ssl.certificate.location", path)?,
            )?,
            (None, None) => return Ok(None),
        };
        let (key_name, pem) = match (&self.key_pem, &self.key_location) {
            (Some(pem), _) => ("ssl.key.pem", pem.expose().as_bytes().to_vec()),
            (None, Some(path)) => ("ssl.key.location", read_file("ssl.key.location", path)?),
            (None, None) => return Ok(None),
        };
        let key = read_key(key_name, &pem, self.key_password.as_ref())?;
        Ok(Some((chain, key)))
    }
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| bad_value(key, format!("cannot read {}: {e}", path.display())))
}

fn read_certs(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad_value(key, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad_value(key, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// A PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or an encrypted
/// PKCS#8 key opened with `ssl.key.password`. Nothing of the key or the
/// password goes into an error.
fn read_key(key: &str, pem: &[u8], password: Option<&Secret>) -> Result<PrivateKeyDer<'static>> {
    let text = std::str::from_utf8(pem).map_err(|_| bad_value(key, "is not PEM text"))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let password = password.ok_or_else(|| {
            bad_value(
                "ssl.key.password",
                "the private key is encrypted: set ssl.key.password",
            )
        })?;
        let (_, document) = pkcs8::Document::from_pem(text)
            .map_err(|e| bad_value(key, format!("bad encrypted key PEM: {e}")))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
            .map_err(|e| bad_value(key, format!("bad encrypted PKCS#8 key: {e}")))?;
        let plain = encrypted.decrypt(password.expose()).map_err(|_| {
            bad_value(
                "ssl.key.password",
                "cannot decrypt the private key (wrong password or unsupported cipher)",
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("-----BEGIN RSA PRIVATE KEY-----") && text.contains("ENCRYPTED") {
        return Err(bad_value(
            key,
            "legacy encrypted PEM (Proc-Type: ENCRYPTED) is not supported: convert it with \
             `openssl pkcs8 -topk8` to encrypted PKCS#8",
        ));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| bad_value(key, format!("no PKCS#8, RSA or EC private key found: {e}")))
}

/// Checks everything about a server certificate but the name it is for
/// (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct AnyName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The host part of `host:port` (`[v6]:port` too): what SNI and the
/// hostname check use, as the broker advertised it.
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Runs the TLS handshake on `stream` within `timeout`. A peer that does
/// not speak TLS (a plaintext listener) is told apart from a TLS failure.
pub(crate) async fn handshake(
    stream: TcpStream,
    addr: &str,
    config: &TlsConfig,
    configured: SecurityProtocol,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>> {
    let client = config.client_config()?;
    let name = ServerName::try_from(host_of(addr).to_string()).map_err(|e| {
        bad_value(
            "bootstrap.servers",
            format!("{addr}: not a TLS server name: {e}"),
        )
    })?;
    let connecting = TlsConnector::from(client).connect(name, stream);
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(io_error(addr, &e, configured)),
        Err(_) => Err(WireError::SecurityProtocolMismatch {
            addr: addr.to_string(),
            configured: configured.to_string(),
            message: format!(
                "no TLS answer within {} ms: is it a plaintext listener?",
                timeout.as_millis()
            ),
        }),
    }
}

/// The error for an I/O failure on a TLS connection: rustls' own error in
/// words with a hint, or a peer that is not speaking TLS.
fn io_error(addr: &str, e: &std::io::Error, configured: SecurityProtocol) -> WireError {
    if let Some(tls) = rustls_error(e) {
        if let rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } = tls {
            return WireError::SecurityProtocolMismatch {
                addr: addr.to_string(),
                configured: configured.to_string(),
                message: format!(
                    "the broker does not answer with TLS ({tls}): is it a plaintext listener?"
                ),
            };
        }
        return WireError::Tls {
            addr: addr.to_string(),
            message: describe(tls),
        };
    }
    if matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
    ) {
        return WireError::SecurityProtocolMismatch {
            addr: addr.to_string(),
            configured: configured.to_string(),
            message: format!(
                "the broker closed the connection during the TLS handshake ({e}): is it a \
                 plaintext listener?"
            ),
        };
    }
    WireError::Tls {
        addr: addr.to_string(),
        message: e.to_string(),
    }
}

/// rustls' own error inside an I/O error, if that is what it is.
fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// What a TLS failure on an established connection (an alert such as
/// CertificateRequired, which TLS 1.3 sends after the handshake) says, in
/// words with what to check; `None` when `e` is not one.
pub(crate) fn failure(e: &std::io::Error) -> Option<String> {
    match rustls_error(e)? {
        // Corrupt records mid-stream are a broken connection, retried.
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => None,
        other => Some(describe(other)),
    }
}

/// rustls' error with what to check.
fn describe(e: &rustls::Error) -> String {
    let hint = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "; the broker's certificate is not signed by a CA in ssl.ca.location \
                 (or the platform's roots)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "; the certificate does not name the broker's host (check the advertised \
                 host, or set ssl.endpoint.identification.algorithm=none)"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "; the broker's certificate has expired"
            }
            _ => "",
        },
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
        | rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)
        | rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate) => {
            "; the broker may require a client certificate (ssl.certificate.location and \
             ssl.key.location) or refused the one sent"
        }
        _ => "",
    };
    format!("{e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_from_addresses() {
        assert_eq!(host_of("localhost:9093"), "localhost");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("b-1.msk.example.com:9098"), "b-1.msk.example.com");
    }

    #[test]
    fn bad_settings_are_errors_naming_the_key_and_no_secret() {
        let mut c = TlsConfig::default();
        c.set(
            "ssl.key.pem",
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        c.set("ssl.key.password", "hunter2").unwrap();
        let err = c.client_config().unwrap_err().to_string();
        assert!(err.contains("ssl.certificate.location"), "{err}");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("c2VjcmV0"),
            "{debug}"
        );
        assert!(
            c.set("ssl.endpoint.identification.algorithm", "dns")
                .is_err()
        );
        let mut c = TlsConfig::default();
        c.set("ssl.ca.location", "/nonexistent/ca.pem").unwrap();
        let err = c.client_config().unwrap_err().to_string();
        assert!(
            err.contains("ssl.ca.location") && err.contains("/nonexistent"),
            "{err}"
        );
        let mut c = TlsConfig::default();
        c.set("ssl.ca.pem", "not pem").unwrap();
        assert!(c.client_config().is_err());
    }
}
