//! Where the secured listeners are (scripts/secure-brokers.sh exports them
//! and scripts/test.sh runs the suite with them) and the settings each
//! listener needs.

use std::path::PathBuf;
use std::time::Duration;

use sluice_integration::run_peer;

/// `request.timeout.ms` in the negative cases: each error must come before it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(5000);

/// The secured listeners and their credentials.
pub struct Secure {
    /// The certificate directory (scripts/certs.sh).
    pub certs: PathBuf,
    /// SASL_PLAINTEXT (tansu with authentication).
    pub sasl: String,
    /// SSL (stunnel in front of tansu).
    pub ssl: String,
    /// Mutual TLS: SSL that requires a client certificate from the test CA.
    pub mtls: String,
    /// SASL_SSL.
    pub sasl_ssl: String,
    /// TLS with a certificate for wrong.example (signed by the test CA).
    pub wrong_host: String,
    /// TLS with an expired certificate (signed by the test CA).
    pub expired: String,
    /// alice256 and her SCRAM-SHA-256 password.
    pub scram256: (String, String),
    /// alice512 and her SCRAM-SHA-512 password.
    pub scram512: (String, String),
}

const VARS: &[&str] = &[
    "SLUICE_CERTS",
    "SLUICE_SASL_BOOTSTRAP",
    "SLUICE_SSL_BOOTSTRAP",
    "SLUICE_MTLS_BOOTSTRAP",
    "SLUICE_SASL_SSL_BOOTSTRAP",
    "SLUICE_TLS_WRONG_HOST_BOOTSTRAP",
    "SLUICE_TLS_EXPIRED_BOOTSTRAP",
    "SLUICE_SCRAM_256_USER",
    "SLUICE_SCRAM_256_PASSWORD",
    "SLUICE_SCRAM_512_USER",
    "SLUICE_SCRAM_512_PASSWORD",
];

/// Whether a missing listener fails the test instead of skipping it
/// (`CI=true` or `SLUICE_REQUIRE_SECURE=1`: scripts/test.sh sets it).
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("SLUICE_REQUIRE_SECURE").is_ok_and(|v| v == "1")
}

/// The secured listeners, or `None` (with a line saying why) when
/// scripts/secure-brokers.sh's variables are not set; panics instead under
/// `CI=true` or `SLUICE_REQUIRE_SECURE=1`.
pub fn secure(test: &str) -> Option<Secure> {
    let missing: Vec<&str> = VARS
        .iter()
        .copied()
        .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{test}: no secured brokers ({} unset): run scripts/test.sh, or \
             `eval \"$(scripts/secure-brokers.sh start)\"` first",
            missing.join(", ")
        );
        assert!(!required(), "{why}");
        eprintln!("skipped {why}");
        return None;
    }
    let var = |name: &str| std::env::var(name).unwrap();
    Some(Secure {
        certs: PathBuf::from(var("SLUICE_CERTS")),
        sasl: var("SLUICE_SASL_BOOTSTRAP"),
        ssl: var("SLUICE_SSL_BOOTSTRAP"),
        mtls: var("SLUICE_MTLS_BOOTSTRAP"),
        sasl_ssl: var("SLUICE_SASL_SSL_BOOTSTRAP"),
        wrong_host: var("SLUICE_TLS_WRONG_HOST_BOOTSTRAP"),
        expired: var("SLUICE_TLS_EXPIRED_BOOTSTRAP"),
        scram256: (
            var("SLUICE_SCRAM_256_USER"),
            var("SLUICE_SCRAM_256_PASSWORD"),
        ),
        scram512: (
            var("SLUICE_SCRAM_512_USER"),
            var("SLUICE_SCRAM_512_PASSWORD"),
        ),
    })
}

/// The plaintext broker of the rest of the suite, if it is set.
pub fn plaintext() -> Option<String> {
    std::env::var("SLUICE_BOOTSTRAP")
        .or_else(|_| std::env::var("KAFKA_BOOTSTRAP"))
        .ok()
}

/// One way of reaching a secured broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// SASL_PLAINTEXT with SCRAM-SHA-256.
    Scram256,
    /// SASL_PLAINTEXT with SCRAM-SHA-512.
    Scram512,
    /// SSL, verifying the broker with the test CA.
    Ssl,
    /// SSL with a client certificate (mutual TLS).
    Mtls,
    /// SSL with a client certificate whose key is encrypted (ssl.key.password).
    MtlsEncryptedKey,
    /// SASL_SSL with SCRAM-SHA-512.
    SaslSsl512,
    /// SASL_SSL with SCRAM-SHA-256.
    SaslSsl256,
}

impl Case {
    /// A short name for topics and groups.
    pub fn name(self) -> &'static str {
        match self {
            Case::Scram256 => "scram256",
            Case::Scram512 => "scram512",
            Case::Ssl => "ssl",
            Case::Mtls => "mtls",
            Case::MtlsEncryptedKey => "mtls-enc",
            Case::SaslSsl512 => "sasl-ssl512",
            Case::SaslSsl256 => "sasl-ssl256",
        }
    }
}

/// Settings as (key, value) pairs: the same Java/librdkafka keys go to
/// sluice's configs, the CLI's -X and the librdkafka peer.
pub type Pairs = Vec<(String, String)>;

fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Secure {
    /// A file in the certificate directory.
    pub fn cert(&self, name: &str) -> String {
        self.certs.join(name).display().to_string()
    }

    /// SASL settings for `mechanism` with `user` and `password` over
    /// `protocol` (SASL_PLAINTEXT or SASL_SSL, which also gets ssl.ca.location).
    pub fn sasl_pairs(&self, protocol: &str, mechanism: &str, user: &str, password: &str) -> Pairs {
        let mut p = pairs(&[
            ("security.protocol", protocol),
            ("sasl.mechanism", mechanism),
            ("sasl.username", user),
            ("sasl.password", password),
        ]);
        if protocol == "SASL_SSL" {
            p.push(("ssl.ca.location".into(), self.cert("ca.pem")));
        }
        p
    }

    /// TLS settings trusting `ca` (a file in the certificate directory).
    pub fn tls_pairs(&self, ca: &str) -> Pairs {
        pairs(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &self.cert(ca)),
        ])
    }

    /// The bootstrap address and the settings of `case`.
    pub fn settings(&self, case: Case) -> (String, Pairs) {
        let (u256, p256) = &self.scram256;
        let (u512, p512) = &self.scram512;
        match case {
            Case::Scram256 => (
                self.sasl.clone(),
                self.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-256", u256, p256),
            ),
            Case::Scram512 => (
                self.sasl.clone(),
                self.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-512", u512, p512),
            ),
            Case::Ssl => (self.ssl.clone(), self.tls_pairs("ca.pem")),
            Case::Mtls => {
                let mut p = self.tls_pairs("ca.pem");
                p.push(("ssl.certificate.location".into(), self.cert("client.pem")));
                p.push(("ssl.key.location".into(), self.cert("client.key")));
                (self.mtls.clone(), p)
            }
            Case::MtlsEncryptedKey => {
                let password = std::fs::read_to_string(self.cert("client.key.password"))
                    .expect("client.key.password");
                let mut p = self.tls_pairs("ca.pem");
                p.push(("ssl.certificate.location".into(), self.cert("client.pem")));
                p.push(("ssl.key.location".into(), self.cert("client.enc.key")));
                p.push(("ssl.key.password".into(), password.trim().to_string()));
                (self.mtls.clone(), p)
            }
            Case::SaslSsl512 => (
                self.sasl_ssl.clone(),
                self.sasl_pairs("SASL_SSL", "SCRAM-SHA-512", u512, p512),
            ),
            Case::SaslSsl256 => (
                self.sasl_ssl.clone(),
                self.sasl_pairs("SASL_SSL", "SCRAM-SHA-256", u256, p256),
            ),
        }
    }
}

/// `KEY=VALUE` arguments for the librdkafka peer (tests/peers/rdkafka_secure.py).
pub fn peer_args(p: &Pairs) -> Vec<String> {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Makes `topic` (one partition) on the broker at `bootstrap` with
/// librdkafka: tansu creates no topic on demand, and the topic must exist
/// whatever sluice's side can do yet.
pub fn create_topic(bootstrap: &str, p: &Pairs, topic: &str) {
    let mut args = vec![
        "create".to_string(),
        bootstrap.to_string(),
        topic.to_string(),
    ];
    args.extend(peer_args(p));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run_peer("rdkafka_secure.py", &args).trim(), "created");
}

/// librdkafka writes `rd-0`..`rd-{count-1}` to partition 0 of `topic`.
pub fn peer_produce(bootstrap: &str, p: &Pairs, topic: &str, count: usize) {
    let count = count.to_string();
    let mut args = vec!["produce", bootstrap, topic, &count];
    let extra = peer_args(p);
    args.extend(extra.iter().map(String::as_str));
    assert_eq!(run_peer("rdkafka_secure.py", &args).trim(), count);
}

/// librdkafka reads `count` values of partition 0 of `topic` from the start.
pub fn peer_consume(bootstrap: &str, p: &Pairs, topic: &str, count: usize) -> Vec<String> {
    let n = count.to_string();
    let mut args = vec!["consume", bootstrap, topic, &n];
    let extra = peer_args(p);
    args.extend(extra.iter().map(String::as_str));
    run_peer("rdkafka_secure.py", &args)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether `text` says authentication failed (sluice: "SASL {mechanism} authentication failed
/// at {addr}: ..."; librdkafka: "SASL authentication error: ...authentication failed...").
pub fn says_authentication_failed(text: &str) -> bool {
    text.contains("authentication failed")
}
