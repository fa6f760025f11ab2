//! SCRAM against RFC 7677, Python's hashlib and hostile server messages.

use super::*;
use proptest::prelude::*;

const RFC_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc() -> Scram {
    Scram::with_nonce(ScramHash::Sha256, "user", &"pencil".into(), RFC_NONCE).unwrap()
}

/// The RFC 7677 client after client-first and server-first. The state
/// is derived once and copied, so property tests pay for one PBKDF2.
fn rfc_at_final() -> Scram {
    static FINAL: std::sync::OnceLock<(Vec<u8>, String)> = std::sync::OnceLock::new();
    let (server_key, auth_message) = FINAL.get_or_init(|| {
        let mut s = rfc();
        s.initial().unwrap();
        s.step(RFC_SERVER_FIRST.as_bytes()).unwrap();
        match s.state {
            State::SentFinal {
                server_key,
                auth_message,
            } => (server_key, auth_message),
            _ => panic!("not at client-final"),
        }
    });
    let mut s = rfc();
    s.state = State::SentFinal {
        server_key: server_key.clone(),
        auth_message: auth_message.clone(),
    };
    s
}

/// The message of a SaslAuthenticationFailed (panics otherwise).
fn failure(r: Result<impl fmt::Debug>) -> String {
    match r {
        Err(WireError::SaslAuthenticationFailed { message, .. }) => message,
        other => panic!("expected SaslAuthenticationFailed, got {other:?}"),
    }
}

fn first_failure(server_first: &str) -> String {
    let mut s = rfc();
    s.initial().unwrap();
    failure(s.step(server_first.as_bytes()))
}

#[test]
fn the_rfc_7677_sha_256_exchange_is_reproduced_exactly() {
    let mut s = rfc();
    assert_eq!(s.name(), "SCRAM-SHA-256");
    assert_eq!(s.initial().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        s.step(RFC_SERVER_FIRST.as_bytes()).unwrap(),
        Step::Send(RFC_CLIENT_FINAL.as_bytes().to_vec())
    );
    assert_eq!(s.step(RFC_SERVER_FINAL.as_bytes()).unwrap(), Step::Done);
}

/// No RFC gives a SCRAM-SHA-512 vector. These values come from Python's
/// hashlib and hmac (an independent implementation), with this script,
/// which also reproduces RFC 7677's SHA-256 vector above exactly:
///
/// ```text
/// import base64, hashlib, hmac
/// h, pw = 'sha512', b'pencil'
/// bare = 'n=user,r=fyko+d2lbbFgONRv9qkxdawL'
/// sfirst = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=8192'
/// cfwp = 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j'
/// salted = hashlib.pbkdf2_hmac(h, pw, base64.b64decode('QSXCR+Q6sek8bf92'), 8192)
/// ck = hmac.new(salted, b'Client Key', h).digest()
/// sk = hmac.new(salted, b'Server Key', h).digest()
/// am = ','.join([bare, sfirst, cfwp]).encode()
/// sig = hmac.new(hashlib.new(h, ck).digest(), am, h).digest()
/// print(cfwp + ',p=' + base64.b64encode(bytes(a ^ b for a, b in zip(ck, sig))).decode())
/// print('v=' + base64.b64encode(hmac.new(sk, am, h).digest()).decode())
/// ```
#[test]
fn sha_512_matches_python_hashlib() {
    let mut s = Scram::with_nonce(
        ScramHash::Sha512,
        "user",
        &"pencil".into(),
        "fyko+d2lbbFgONRv9qkxdawL",
    )
    .unwrap();
    assert_eq!(s.name(), "SCRAM-SHA-512");
    assert_eq!(
        s.initial().unwrap(),
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    );
    let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=8192";
    let client_final = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,\
        p=F0tV+skFPdhWSIaYuvq9itXzZXvk8pomq35eva2N4zPa2NMaA2ax7Xb/08bMwP+O1J3RxMfZUtKmaA5pQWQYmA==";
    assert_eq!(
        s.step(server_first.as_bytes()).unwrap(),
        Step::Send(client_final.as_bytes().to_vec())
    );
    let server_final = "v=m075DJ7DgFk7XpOpO8S49GTGN/Q3+jRzDQOkiSxp+Rmvatpn6bdpsQKB4L1zzT5+gyKFIbGfzBEkPjrvn6mdjA==";
    assert_eq!(s.step(server_final.as_bytes()).unwrap(), Step::Done);
}

#[test]
fn a_wrong_server_signature_fails_and_ends_the_exchange() {
    let mut s = rfc_at_final();
    // The right signature with its first byte changed.
    let wrong = "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(
        failure(s.step(wrong.as_bytes())),
        "server signature does not verify"
    );
    // Neither do a truncated one, an empty one, or one that is not base64.
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"v=6rriTRBi")),
        "server signature does not verify"
    );
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"v=6rr*")),
        "server signature (v=) is not base64"
    );
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"v=6rriTQ==")),
        "server signature does not verify"
    );
    let mut s = rfc_at_final();
    assert_eq!(failure(s.step(b"v=")), "server signature does not verify");
    // And nothing can be stepped after a failure.
    assert_eq!(
        failure(s.step(RFC_SERVER_FINAL.as_bytes())),
        "server message after the exchange failed"
    );
}

#[test]
fn a_server_error_names_its_value() {
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"e=invalid-proof")),
        "server rejected the authentication: \"invalid-proof\""
    );
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"e=unknown-user,x=ext")),
        "server rejected the authentication: \"unknown-user\""
    );
    for bad in ["", "x=1", "V=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="] {
        let mut s = rfc_at_final();
        assert_eq!(
            failure(s.step(bad.as_bytes())),
            format!("server-final message has neither v= nor e=: {bad:?}")
        );
    }
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(b"v=\xff")),
        "server-final message is not UTF-8"
    );
}

#[test]
fn a_server_nonce_must_extend_ours() {
    assert_eq!(
        first_failure("r=XOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        "server nonce \"XOprNGfwEbeRWgbNEkqO%hvY\" does not extend the client nonce"
    );
    // Ours alone, with nothing of the server's, is not enough.
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        "server nonce \"rOprNGfwEbeRWgbNEkqO\" does not extend the client nonce"
    );
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqO x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        "server nonce \"rOprNGfwEbeRWgbNEkqO x\" is not printable ASCII"
    );
}

#[test]
fn the_salt_must_be_non_empty_base64() {
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqOx,s=not*base64,i=4096"),
        "salt \"not*base64\" is not base64"
    );
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096"),
        "salt is empty"
    );
}

#[test]
fn iteration_counts_outside_kafkas_range_are_refused() {
    let with = |i: &str| first_failure(&format!("r=rOprNGfwEbeRWgbNEkqOx,s=c2FsdA==,i={i}"));
    assert_eq!(with("0"), "iteration count 0 is below the minimum of 4096");
    assert_eq!(
        with("100"),
        "iteration count 100 is below the minimum of 4096"
    );
    assert_eq!(
        with("4095"),
        "iteration count 4095 is below the minimum of 4096"
    );
    assert_eq!(
        with("1000001"),
        "iteration count \"1000001\" is above the limit of 1000000"
    );
    assert_eq!(
        with("99999999999999999999999999"),
        "iteration count \"99999999999999999999999999\" is above the limit of 1000000"
    );
    for bad in ["", "-4096", "+4096", " 4096", "4096x"] {
        assert_eq!(
            with(bad),
            format!("iteration count {bad:?} is not a positive integer")
        );
    }
}

#[test]
fn missing_or_misordered_attributes_are_named() {
    assert_eq!(
        first_failure(""),
        "server-first message: expected the nonce (r=...), found \"\""
    );
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqOx"),
        "server-first message has no salt (s=...)"
    );
    assert_eq!(
        first_failure("r=rOprNGfwEbeRWgbNEkqOx,s=c2FsdA=="),
        "server-first message has no iteration count (i=...)"
    );
    assert_eq!(
        first_failure("s=c2FsdA==,r=rOprNGfwEbeRWgbNEkqOx,i=4096"),
        "server-first message: expected the nonce (r=...), found \"s=c2FsdA==\""
    );
    assert_eq!(
        first_failure("m=must-know,r=rOprNGfwEbeRWgbNEkqOx,s=c2FsdA==,i=4096"),
        "server-first message requires an extension the client does not know: \"m=must-know\""
    );
    let mut s = rfc();
    s.initial().unwrap();
    assert_eq!(
        failure(s.step(b"r=\xc3")),
        "server-first message is not UTF-8"
    );
}

#[test]
fn unknown_extensions_after_the_iteration_count_are_ignored() {
    let mut s = rfc();
    s.initial().unwrap();
    let first = format!("{RFC_SERVER_FIRST},x=whatever,y=");
    let Step::Send(client_final) = s.step(first.as_bytes()).unwrap() else {
        panic!("expected client-final");
    };
    // The proof covers the server-first as sent, extensions included.
    assert!(
        client_final.starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=")
    );
    assert_ne!(client_final, RFC_CLIENT_FINAL.as_bytes());
    assert_eq!(
        failure(s.step(RFC_SERVER_FINAL.as_bytes())),
        "server signature does not verify"
    );
}

#[test]
fn steps_out_of_order_are_errors() {
    let mut s = rfc();
    assert_eq!(
        failure(s.step(RFC_SERVER_FIRST.as_bytes())),
        "server message before the client-first message"
    );
    let mut s = rfc();
    s.initial().unwrap();
    assert_eq!(
        failure(s.initial()),
        "client-first asked for again (state: sent client-first)"
    );
    let mut s = rfc_at_final();
    assert_eq!(s.step(RFC_SERVER_FINAL.as_bytes()).unwrap(), Step::Done);
    assert_eq!(
        failure(s.step(RFC_SERVER_FINAL.as_bytes())),
        "server message after the exchange finished"
    );
    // Server-first again where server-final is due (quoted, cut at 64
    // characters).
    let mut s = rfc_at_final();
    assert_eq!(
        failure(s.step(RFC_SERVER_FIRST.as_bytes())),
        "server-final message has neither v= nor e=: \
         \"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SN\"..."
    );
}

#[test]
fn usernames_escape_equals_and_comma() {
    let mut s = Scram::with_nonce(ScramHash::Sha512, "a=b,c", &"pw".into(), "abc").unwrap();
    assert_eq!(s.initial().unwrap(), b"n,,n=a=3Db=2Cc,r=abc");
    let mut s = Scram::with_nonce(ScramHash::Sha256, "=,=", &"pw".into(), "n").unwrap();
    assert_eq!(s.initial().unwrap(), b"n,,n==3D=2C=3D,r=n");
    for bad in ["", "a,b", "a b", "caf\u{e9}"] {
        assert_eq!(
            failure(Scram::with_nonce(ScramHash::Sha256, "u", &"pw".into(), bad)),
            "the client nonce must be non-empty printable ASCII without ','"
        );
    }
}

#[test]
fn new_nonces_are_fresh_printable_and_comma_free() {
    let password = Secret::new("pw");
    let mut a = Scram::new(ScramHash::Sha256, "u", &password).unwrap();
    let mut b = Scram::new(ScramHash::Sha256, "u", &password).unwrap();
    let (a, b) = (a.initial().unwrap(), b.initial().unwrap());
    assert_ne!(a, b);
    let nonce = std::str::from_utf8(&a)
        .unwrap()
        .strip_prefix("n,,n=u,r=")
        .unwrap();
    assert_eq!(nonce.len(), 32, "24 random bytes in base64");
    assert!(is_printable(nonce), "{nonce}");
}

#[test]
fn neither_the_password_nor_derived_keys_show_in_debug_or_errors() {
    let mut s = rfc_at_final();
    let debug = format!("{s:?}");
    assert!(!debug.contains("pencil"), "{debug}");
    assert!(
        debug.contains("sent client-final") && !debug.contains("server_key"),
        "{debug}"
    );
    let err = s.step(b"e=invalid-proof").unwrap_err().to_string();
    assert!(
        !err.contains("pencil") && err.contains("invalid-proof"),
        "{err}"
    );
    assert!(err.contains("SCRAM-SHA-256"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_server_first_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut s = rfc();
        s.initial().unwrap();
        let _ = s.step(&bytes);
        let _ = s.step(&bytes);
    }

    #[test]
    fn arbitrary_server_first_text_never_panics(
        // At most four digits: counts the parser accepts cost PBKDF2 time.
        text in "(m=|r=|s=|i=|e=|v=|,|rOprNGfwEbeRWgbNEkqO|[0-9]{1,4}|[A-Za-z0-9+/=]{0,12}){0,10}"
    ) {
        let mut s = rfc();
        s.initial().unwrap();
        let _ = s.step(text.as_bytes());
        let _ = s.step(text.as_bytes());
    }

    #[test]
    fn arbitrary_server_final_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut s = rfc_at_final();
        prop_assert!(s.step(&bytes).is_err() || bytes.starts_with(b"v="));
        let _ = s.step(&bytes);
    }

    #[test]
    fn arbitrary_server_final_text_never_panics(
        text in "(v=|e=|,|[A-Za-z0-9+/=]{0,90}){0,4}"
    ) {
        let mut s = rfc_at_final();
        let r = s.step(text.as_bytes());
        prop_assert!(r.is_err() || text.starts_with(RFC_SERVER_FINAL));
    }
}
