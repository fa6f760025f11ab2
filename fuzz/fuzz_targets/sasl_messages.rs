//! The other SASL parsers on arbitrary bytes: the broker's SaslHandshake
//! and SaslAuthenticate responses (every version we speak), OAUTHBEARER's
//! answers (an error challenge, then anything), PLAIN's answer, and the
//! unsecured-JWT settings. Never a panic; a refused exchange stays refused.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_wire::kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use sluice_wire::protocol::decode_response;
use sluice_wire::security::Secret;
use sluice_wire::security::sasl::oauthbearer::{OAuthBearer, UnsecuredJwtProvider};
use sluice_wire::security::sasl::plain::Plain;
use sluice_wire::security::sasl::{Mechanism, OAuthToken, Step};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    for version in 0..=1 {
        let _ = decode_response::<SaslHandshakeRequest>(frame.clone(), version);
    }
    for version in 0..=2 {
        let _ = decode_response::<SaslAuthenticateRequest>(frame.clone(), version);
    }

    let (first, second) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let token = OAuthToken {
        value: Secret::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."),
        principal: "alice".into(),
        expires_at_ms: i64::MAX,
        extensions: vec![("traceId".into(), "abc".into())],
    };
    let mut oauth = OAuthBearer::new(&token);
    if oauth.initial().is_ok() {
        if let Ok(Step::Send(reply)) = oauth.step(first) {
            assert_eq!(reply, vec![0x01], "an error challenge is answered with %x01");
            assert!(oauth.step(second).is_err(), "a refused exchange stays refused");
        }
    }

    let mut plain = Plain::new("alice", &Secret::new("pw"));
    if plain.initial().is_ok() {
        let done = plain.step(first);
        assert_eq!(done.is_ok(), first.is_empty());
    }

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(provider) = UnsecuredJwtProvider::from_config(text) {
            let _ = provider.token_at(1_700_000_000_000);
        }
    }
});
