//! The secured brokers themselves, proven with librdkafka alone: records go
//! through every listener, and each bad setting fails the way librdkafka
//! reports it. When these fail the brokers (scripts/secure-brokers.sh) are
//! at fault, not sluice.

use sluice_integration::{run_peer, unique_name};

use super::env::{Case, Pairs, create_topic, peer_args, peer_consume, peer_produce, secure};

/// librdkafka writes 20 records over `case` and reads them back.
fn librdkafka_round_trip(case: Case) {
    let Some(s) = secure(&format!("librdkafka_round_trip({case:?})")) else {
        return;
    };
    let (bootstrap, security) = s.settings(case);
    let topic = unique_name(&format!("it-sec-rd-{}", case.name()));
    create_topic(&bootstrap, &security, &topic);
    peer_produce(&bootstrap, &security, &topic, 20);
    let expected: Vec<String> = (0..20).map(|i| format!("rd-{i}")).collect();
    assert_eq!(
        peer_consume(&bootstrap, &security, &topic, 20),
        expected,
        "{case:?}"
    );
}

#[test]
fn librdkafka_round_trips_over_every_listener() {
    for case in [
        Case::Scram256,
        Case::Scram512,
        Case::Ssl,
        Case::Mtls,
        Case::MtlsEncryptedKey,
        Case::SaslSsl512,
        Case::SaslSsl256,
    ] {
        librdkafka_round_trip(case);
    }
}

/// What librdkafka reports when it asks `bootstrap` for metadata with `security`.
fn probe(bootstrap: &str, security: &Pairs) -> String {
    let mut args = vec!["probe".to_string(), bootstrap.to_string()];
    args.extend(peer_args(security));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_peer("rdkafka_secure.py", &args)
}

fn check(bootstrap: &str, security: &Pairs, expect: &str) {
    let said = probe(bootstrap, security);
    assert!(
        said.contains(expect),
        "expected {expect:?} from librdkafka, got: {said}"
    );
    if expect != "ok" {
        assert!(!said.lines().any(|l| l == "ok"), "connected: {said}");
    }
}

#[test]
fn librdkafka_fails_each_bad_setting() {
    let Some(s) = secure("librdkafka_fails_each_bad_setting") else {
        return;
    };
    let (u512, _) = &s.scram512;
    let (u256, p256) = &s.scram256;
    let wrong = s.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-512", u512, "nope");
    check(&s.sasl, &wrong, "broker responded with invalid-proof");
    let wrong = s.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-256", u256, "nope");
    check(&s.sasl, &wrong, "broker responded with invalid-proof");
    let unknown = s.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-512", "mallory", "nope");
    check(&s.sasl, &unknown, "broker responded with unknown-user");
    let other = s.sasl_pairs("SASL_PLAINTEXT", "SCRAM-SHA-512", u256, p256);
    check(&s.sasl, &other, "broker responded with unknown-user");
    // tansu closes the connection on SaslHandshake(PLAIN) instead of listing its mechanisms.
    let plain = s.sasl_pairs("SASL_PLAINTEXT", "PLAIN", u512, "nope");
    check(&s.sasl, &plain, "SASL PLAIN mechanism handshake failed");
    let wrong = s.sasl_pairs("SASL_SSL", "SCRAM-SHA-512", u512, "nope");
    check(&s.sasl_ssl, &wrong, "broker responded with invalid-proof");
    let verify_failed = "certificate verify failed";
    check(&s.ssl, &s.tls_pairs("other-ca.pem"), verify_failed);
    check(&s.wrong_host, &s.tls_pairs("ca.pem"), verify_failed);
    check(&s.expired, &s.tls_pairs("ca.pem"), verify_failed);
    check(
        &s.mtls,
        &s.tls_pairs("ca.pem"),
        "alert certificate required",
    );
    let mut no_name_check = s.tls_pairs("ca.pem");
    no_name_check.push((
        "ssl.endpoint.identification.algorithm".into(),
        "none".into(),
    ));
    check(&s.wrong_host, &no_name_check, "ok");
}
