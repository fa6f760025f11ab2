//! TLS and SASL against real brokers (issue 14): scripts/secure-brokers.sh
//! starts tansu with SCRAM authentication, stunnel in front of tansu for TLS,
//! mutual TLS and SASL_SSL, and TLS listeners with a certificate for another
//! name and an expired one; scripts/test.sh exports where they are.
//!
//! Without those variables each test says so and returns, so
//! `cargo test -p sluice-integration` works without them; under `CI=true`
//! or `SLUICE_REQUIRE_SECURE=1` a missing listener fails the test instead.
//!
//! The modules: `brokers` (the brokers proven with librdkafka alone), `env` (the listeners and their settings, the librdkafka
//! peer), `clients` (sluice's producer and consumers with those settings),
//! `roundtrip` (records through each listener, groups, `sluice batch`,
//! librdkafka interop), `cli` (the acceptance line) and `negative`
//! (each failure's error text and timing, and no password in any of them).

#[path = "security/brokers.rs"]
mod brokers;
#[path = "security/cli.rs"]
mod cli;
#[path = "security/clients.rs"]
mod clients;
#[path = "security/env.rs"]
mod env;
#[path = "security/negative.rs"]
mod negative;
#[path = "security/roundtrip.rs"]
mod roundtrip;
