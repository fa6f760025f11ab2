//! SCRAM's parsers of the server's messages on arbitrary bytes: never a
//! panic, and never `Done` without a `v=` the client verified.
//!
//! The input is split at its first 0xff byte (never part of UTF-8 text)
//! into server-first and server-final for a SCRAM-SHA-256 client with RFC
//! 7677's nonce and password, so a seed of RFC 7677's two server messages
//! reaches the signature check; the whole input is also tried as
//! server-first for SCRAM-SHA-512.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::security::Secret;
use sluice_wire::security::sasl::scram::{Scram, ScramHash};
use sluice_wire::security::sasl::{Mechanism, Step};

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

/// Whether the message names an iteration count the client accepts but that
/// costs more PBKDF2 time than the fuzzer should spend (the minimum is
/// 4096; counts above 1,000,000 are refused before any hashing).
fn too_slow(server_first: &[u8]) -> bool {
    server_first.split(|&b| b == b',').any(|attribute| {
        attribute.strip_prefix(b"i=").is_some_and(|digits| {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                .is_some_and(|count| (10_000..=1_000_000).contains(&count))
        })
    })
}

fn client(hash: ScramHash) -> Scram {
    let mut scram = Scram::with_nonce(hash, "user", &Secret::new("pencil"), NONCE).expect("fixed nonce is valid");
    assert_eq!(scram.initial().expect("client-first"), format!("n,,n=user,r={NONCE}").as_bytes());
    scram
}

fuzz_target!(|data: &[u8]| {
    let (first, last) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], data.get(at + 1..)),
        None => (data, None),
    };
    if too_slow(first) {
        return;
    }

    let mut scram = client(ScramHash::Sha256);
    if let Ok(step) = scram.step(first) {
        let Step::Send(client_final) = step else { panic!("Done after server-first") };
        assert!(client_final.starts_with(format!("c=biws,r={NONCE}").as_bytes()));
        if let Some(last) = last {
            if let Ok(Step::Done) = scram.step(last) {
                assert!(last.starts_with(b"v="), "Done without a verifier");
                assert!(scram.step(b"").is_err(), "a step after Done");
            }
        }
    }
    // Whatever happened, one more step is refused, not a panic.
    assert!(scram.step(last.unwrap_or(b"")).is_err(), "a step after the exchange");

    if last.is_none() {
        let mut scram = client(ScramHash::Sha512);
        let _ = scram.step(data);
        let _ = scram.step(data);
    }
});
