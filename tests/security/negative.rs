//! What goes wrong, said clearly and in time: each case's first error from
//! `poll` names what failed (the texts of sluice_wire's security errors)
//! within request.timeout.ms, and no error text holds a password.

use std::time::Duration;

use sluice::{Consumer, OffsetSpec, TopicPartition};
use sluice_integration::unique_name;
use tokio::time::Instant;

use super::clients::{consumer_config, sluice_read};
use super::env::{
    Pairs, REQUEST_TIMEOUT, Secure, create_topic, peer_produce, plaintext,
    says_authentication_failed, secure,
};

const WRONG_PASSWORD: &str = "wrong-pw-Zk38vT";

/// The error a consumer assigned to a partition over `bootstrap` with
/// `security` meets first, from assign or poll, and when it came. Panics if
/// none comes within three request timeouts.
async fn first_error(bootstrap: &str, security: &Pairs) -> (String, Duration) {
    let timeout = REQUEST_TIMEOUT.as_millis().to_string();
    let extra = [
        ("request.timeout.ms", timeout.as_str()),
        ("socket.connection.setup.timeout.ms", timeout.as_str()),
    ];
    let started = Instant::now();
    let config = consumer_config(bootstrap, security, &extra);
    let mut consumer = Consumer::new(config).expect("consumer");
    let tp = TopicPartition::new(unique_name("it-sec-neg"), 0);
    if let Err(e) = consumer.assign(std::slice::from_ref(&tp)).await {
        return (e.to_string(), started.elapsed());
    }
    if let Err(e) = consumer.seek_to(&tp, OffsetSpec::Earliest) {
        return (e.to_string(), started.elapsed());
    }
    let limit = started + REQUEST_TIMEOUT * 3;
    loop {
        match consumer.poll(Duration::from_millis(200)).await {
            Err(e) => return (e.to_string(), started.elapsed()),
            Ok(records) => assert!(records.is_empty(), "records over a broken connection"),
        }
        assert!(
            Instant::now() < limit,
            "no error from poll within {:?}",
            REQUEST_TIMEOUT * 3
        );
    }
}

/// Checks the error came within request.timeout.ms (and a second of slack
/// for the last poll to return), names `bootstrap`'s port, and holds none of
/// the passwords.
fn in_time_and_clean(s: &Secure, bootstrap: &str, error: &str, elapsed: Duration) {
    assert!(
        elapsed <= REQUEST_TIMEOUT + Duration::from_secs(1),
        "took {elapsed:?} (request.timeout.ms {REQUEST_TIMEOUT:?}): {error}"
    );
    let port = bootstrap.rsplit(':').next().unwrap();
    assert!(
        error.contains(&format!(":{port}")),
        "names the broker ({bootstrap}): {error}"
    );
    for password in [WRONG_PASSWORD, &s.scram256.1, &s.scram512.1] {
        assert!(
            !error.contains(password),
            "a password in the error: {error}"
        );
    }
}

fn with_password(security: &Pairs, password: &str) -> Pairs {
    security
        .iter()
        .map(|(k, v)| {
            let v = if k == "sasl.password" { password } else { v };
            (k.clone(), v.to_string())
        })
        .collect()
}

fn with_user(security: &Pairs, user: &str) -> Pairs {
    security
        .iter()
        .map(|(k, v)| {
            let v = if k == "sasl.username" { user } else { v };
            (k.clone(), v.to_string())
        })
        .collect()
}

async fn wrong_password(mechanism: &str) {
    let Some(s) = secure(&format!("wrong_password({mechanism})")) else {
        return;
    };
    let (user, _) = if mechanism == "SCRAM-SHA-256" {
        &s.scram256
    } else {
        &s.scram512
    };
    let security = s.sasl_pairs("SASL_PLAINTEXT", mechanism, user, WRONG_PASSWORD);
    let (error, elapsed) = first_error(&s.sasl, &security).await;
    assert!(
        error.contains(&format!("SASL {mechanism} authentication failed at ")),
        "{error}"
    );
    assert!(says_authentication_failed(&error), "{error}");
    in_time_and_clean(&s, &s.sasl, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_scram_sha_256_password_fails_authentication() {
    wrong_password("SCRAM-SHA-256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_scram_sha_512_password_fails_authentication() {
    wrong_password("SCRAM-SHA-512").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_over_sasl_ssl_fails_authentication() {
    let Some(s) = secure("a_wrong_password_over_sasl_ssl_fails_authentication") else {
        return;
    };
    let (_, security) = s.settings(super::env::Case::SaslSsl512);
    let security = with_password(&security, WRONG_PASSWORD);
    let (error, elapsed) = first_error(&s.sasl_ssl, &security).await;
    assert!(
        error.contains("SASL SCRAM-SHA-512 authentication failed at "),
        "{error}"
    );
    assert!(says_authentication_failed(&error), "{error}");
    in_time_and_clean(&s, &s.sasl_ssl, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_fails_authentication() {
    let Some(s) = secure("an_unknown_user_fails_authentication") else {
        return;
    };
    // tansu answers the client-first message of a user it does not know with e=unknown-user.
    let (_, security) = s.settings(super::env::Case::Scram512);
    let security = with_user(&security, "mallory");
    let (error, elapsed) = first_error(&s.sasl, &security).await;
    assert!(
        error.contains("SASL SCRAM-SHA-512 authentication failed at "),
        "{error}"
    );
    assert!(says_authentication_failed(&error), "{error}");
    in_time_and_clean(&s, &s.sasl, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_the_other_mechanism_fails_authentication() {
    let Some(s) = secure("a_user_of_the_other_mechanism_fails_authentication") else {
        return;
    };
    // alice256 has SCRAM-SHA-256 credentials only.
    let (user, password) = &s.scram256;
    let security = s.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-512", user, password);
    let (error, elapsed) = first_error(&s.sasl, &security).await;
    assert!(
        error.contains("SASL SCRAM-SHA-512 authentication failed at "),
        "{error}"
    );
    in_time_and_clean(&s, &s.sasl, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mechanism_the_broker_does_not_enable_is_named() {
    let Some(s) = secure("a_mechanism_the_broker_does_not_enable_is_named") else {
        return;
    };
    // tansu 0.6 enables SCRAM-SHA-256 and SCRAM-SHA-512 (and OAUTHBEARER, which rejects every
    // token). Asked for PLAIN in SaslHandshake it closes the connection instead of answering
    // UNSUPPORTED_SASL_MECHANISM with its list, so the error can name PLAIN but not what it
    // enables; a broker that answers gets "it enables: SCRAM-SHA-256, SCRAM-SHA-512".
    let (user, _) = &s.scram512;
    let security = s.sasl_pairs("SASL_PLAINTEXT", "PLAIN", user, WRONG_PASSWORD);
    let (error, elapsed) = first_error(&s.sasl, &security).await;
    assert!(error.contains("PLAIN"), "names the mechanism: {error}");
    assert!(
        error.contains("SASL mechanism PLAIN is not enabled on ")
            || error.contains("SASL PLAIN authentication failed at "),
        "{error}"
    );
    if error.contains("it enables: ") && !error.contains("it enables: none") {
        assert!(error.contains("SCRAM-SHA-256, SCRAM-SHA-512"), "{error}");
    }
    in_time_and_clean(&s, &s.sasl, &error, elapsed);
}

async fn tls_failure(test: &str, pick: fn(&Secure) -> &String, security: Pairs, expect: &[&str]) {
    let Some(s) = secure(test) else {
        return;
    };
    let bootstrap = pick(&s).clone();
    let security = if security.is_empty() {
        s.tls_pairs("ca.pem")
    } else {
        security
    };
    let (error, elapsed) = first_error(&bootstrap, &security).await;
    assert!(error.contains("TLS with "), "a TLS error: {error}");
    assert!(
        expect.iter().any(|e| error.contains(e)),
        "one of {expect:?} in: {error}"
    );
    in_time_and_clean(&s, &bootstrap, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_refused() {
    let Some(s) = secure("an_unknown_ca_is_refused") else {
        return;
    };
    let security = s.tls_pairs("other-ca.pem");
    tls_failure(
        "an_unknown_ca_is_refused",
        |s| &s.ssl,
        security,
        &["invalid peer certificate: UnknownIssuer"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused() {
    // rustls 0.23 says NotValidForName, or with context "certificate not valid for name".
    tls_failure(
        "a_certificate_for_another_name_is_refused",
        |s| &s.wrong_host,
        Vec::new(),
        &["NotValidForName", "certificate not valid for name"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused() {
    // rustls 0.23 says Expired, or with context "certificate expired: verification time ...".
    tls_failure(
        "an_expired_certificate_is_refused",
        |s| &s.expired,
        Vec::new(),
        &[
            "invalid peer certificate: Expired",
            "invalid peer certificate: certificate expired",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    // The broker (stunnel, TLS 1.3) sends the alert after the client's side of the handshake
    // completed, so it arrives on the first read.
    tls_failure(
        "mutual_tls_without_a_client_certificate_is_refused",
        |s| &s.mtls,
        Vec::new(),
        &["received fatal alert: CertificateRequired"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hostname_check_connects_to_the_wrong_name() {
    let Some(s) = secure("no_hostname_check_connects_to_the_wrong_name") else {
        return;
    };
    // Records on the SSL broker, read through the listener whose certificate names wrong.example.
    let good = s.tls_pairs("ca.pem");
    let topic = unique_name("it-sec-noverify");
    create_topic(&s.ssl, &good, &topic);
    peer_produce(&s.ssl, &good, &topic, 10);
    let mut security = s.tls_pairs("ca.pem");
    security.push((
        "ssl.endpoint.identification.algorithm".into(),
        "none".into(),
    ));
    let read = sluice_read(&s.wrong_host, &security, &topic, 10).await;
    assert_eq!(read, (0..10).map(|i| format!("rd-{i}")).collect::<Vec<_>>());
}

async fn mismatch(s: &Secure, bootstrap: &str, security: &Pairs, configured: &str) {
    let (error, elapsed) = first_error(bootstrap, security).await;
    // A sure mismatch (a TLS answer to plaintext, no TLS answer at all) is its own error:
    // "check security.protocol (configured: X)". A peer that only closes the connection could
    // also be a broker going down, so that stays a retriable connection error whose text
    // suggests the setting; either way it names the one configured.
    assert!(
        error.contains(&format!(
            "check security.protocol (configured: {configured})"
        )) || (error.contains("set security.protocol=")
            && error.contains(&format!("configured: {configured}"))),
        "suggests security.protocol: {error}"
    );
    in_time_and_clean(s, bootstrap, &error, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_spoken_to_a_tls_port_suggests_security_protocol() {
    let Some(s) = secure("plaintext_spoken_to_a_tls_port") else {
        return;
    };
    // stunnel reads our ApiVersions as a bad ClientHello and resets the connection.
    mismatch(&s, &s.ssl, &Vec::new(), "PLAINTEXT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_spoken_to_the_plaintext_port_suggests_security_protocol() {
    let Some(s) = secure("tls_spoken_to_the_plaintext_port") else {
        return;
    };
    let Some(plain) = plaintext() else {
        // The rest of the suite needs the plaintext broker anyway (support::bootstrap panics).
        panic!("no plaintext broker: set SLUICE_BOOTSTRAP (scripts/test.sh does)");
    };
    // tansu reads the ClientHello's first bytes as a frame length of about 369 MB and waits for
    // the rest without a word: the handshake can only time out.
    mismatch(&s, &plain, &s.tls_pairs("ca.pem"), "SSL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_spoken_to_a_sasl_listener_suggests_security_protocol() {
    let Some(s) = secure("plaintext_spoken_to_a_sasl_listener") else {
        return;
    };
    // tansu with authentication answers ApiVersions, then closes the connection on the first
    // other request (Metadata) of a client that did not authenticate.
    mismatch(&s, &s.sasl, &Vec::new(), "PLAINTEXT").await;
}
