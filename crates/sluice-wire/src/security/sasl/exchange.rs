//! The SASL exchange on a connection: SaslHandshake v1 names the
//! mechanism, then SaslAuthenticate carries each message of the mechanism
//! until it is done (never the v0 raw framing). The same exchange
//! re-authenticates a live connection before its session expires (KIP-368).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{Mechanism, Step};
use crate::KafkaCode;
use crate::connection::Connection;
use crate::error::{Result, WireError};

/// At most this many SaslAuthenticate round trips (SCRAM needs two,
/// OAUTHBEARER's error path two): a broker asking for more is broken.
const MAX_ROUNDS: usize = 8;

/// What a successful authentication tells the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authenticated {
    /// The broker's `session_lifetime_ms` (SaslAuthenticate v1+), if it set
    /// one: the connection must re-authenticate before it runs out.
    pub session_lifetime: Option<Duration>,
}

/// Authenticates `conn` with `mechanism` (made by
/// [`SaslConfig::mechanism`](super::SaslConfig::mechanism), so a token is
/// fetched before any request waits). Errors name the broker; none carries
/// a secret.
pub(crate) async fn authenticate(
    conn: &Connection,
    mechanism: Box<dyn Mechanism>,
) -> Result<Authenticated> {
    run(conn, mechanism).await.map_err(|e| e.at(conn.addr()))
}

async fn run(conn: &Connection, mut mechanism: Box<dyn Mechanism>) -> Result<Authenticated> {
    let versions = conn.versions();
    let handshake_version = versions.negotiate(ApiKey::SaslHandshake)?;
    if handshake_version < 1 {
        return Err(WireError::SecurityProtocolMismatch {
            addr: String::new(),
            configured: "SASL".into(),
            message: "the broker only speaks SaslHandshake v0 (raw SASL framing, Kafka < 1.0), \
                      which sluice does not"
                .into(),
        });
    }
    let auth_version = versions.negotiate(ApiKey::SaslAuthenticate)?;
    let name = mechanism.name();
    let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name));
    let answer = match conn.send_unguarded(request, handshake_version).await {
        Ok(answer) => answer,
        // tansu 0.6 closes the connection at a mechanism it does not enable.
        Err(WireError::Poisoned { .. } | WireError::ConnectionClosed { .. }) => {
            return Err(WireError::SaslMechanismNotEnabled {
                addr: String::new(),
                mechanism: name.to_string(),
                enabled: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    let code = KafkaCode(answer.error_code);
    let enabled: Vec<String> = answer.mechanisms.iter().map(|m| m.to_string()).collect();
    if code == KafkaCode::UNSUPPORTED_SASL_MECHANISM
        || (code.is_ok() && !enabled.is_empty() && !enabled.iter().any(|m| m == name))
    {
        return Err(WireError::SaslMechanismNotEnabled {
            addr: String::new(),
            mechanism: name.to_string(),
            enabled,
        });
    }
    if code == KafkaCode::ILLEGAL_SASL_STATE {
        return Err(WireError::SecurityProtocolMismatch {
            addr: String::new(),
            configured: "SASL".into(),
            message: "the broker refuses SaslHandshake here (ILLEGAL_SASL_STATE): is the \
                      listener without SASL?"
                .into(),
        });
    }
    if !code.is_ok() {
        return Err(WireError::Kafka {
            code,
            context: format!("SaslHandshake for {name}"),
        });
    }
    let mut message = mechanism.initial()?;
    for _ in 0..MAX_ROUNDS {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let answer = conn.send_unguarded(request, auth_version).await?;
        check_answer(name, &answer)?;
        match mechanism.step(&answer.auth_bytes)? {
            Step::Send(next) => message = next,
            Step::Done => {
                let session_lifetime = (auth_version >= 1 && answer.session_lifetime_ms > 0)
                    .then(|| Duration::from_millis(answer.session_lifetime_ms as u64));
                return Ok(Authenticated { session_lifetime });
            }
        }
    }
    Err(WireError::sasl_failed(
        name,
        format!("the broker asked for more than {MAX_ROUNDS} rounds"),
    ))
}

/// The broker's verdict on one SaslAuthenticate request.
fn check_answer(mechanism: &str, answer: &SaslAuthenticateResponse) -> Result<()> {
    let code = KafkaCode(answer.error_code);
    if code.is_ok() {
        return Ok(());
    }
    let said = answer
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .filter(|m| !m.is_empty());
    let message = match said {
        Some(said) => format!("{said} ({code})"),
        None => code.to_string(),
    };
    Err(WireError::sasl_failed(mechanism, message))
}

/// When to re-authenticate a session of `lifetime`: at 85-95% of it, spread
/// so the connections of many clients do not all come back at once (the
/// Java client's window), and not sooner than a second (or half the session, if shorter).
pub(crate) fn reauthenticate_after(lifetime: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let spread = if getrandom::fill(&mut byte).is_ok() {
        f64::from(byte[0]) / 255.0
    } else {
        0.5
    };
    lifetime
        .mul_f64(0.85 + 0.10 * spread)
        .max(Duration::from_secs(1).min(lifetime / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauthentication_comes_at_85_to_95_percent_of_the_session() {
        for _ in 0..50 {
            let after = reauthenticate_after(Duration::from_secs(100));
            assert!(
                after >= Duration::from_secs(85) && after <= Duration::from_secs(95),
                "{after:?}"
            );
        }
        let short = reauthenticate_after(Duration::from_millis(500));
        assert!(
            short >= Duration::from_millis(425) && short <= Duration::from_millis(475),
            "{short:?}"
        );
    }

    #[test]
    fn a_refusal_carries_the_brokers_message_and_code() {
        let answer = SaslAuthenticateResponse::default()
            .with_error_code(KafkaCode::SASL_AUTHENTICATION_FAILED.0)
            .with_error_message(Some(StrBytes::from_static_str(
                "Authentication failed during authentication due to invalid credentials",
            )));
        let err = check_answer("SCRAM-SHA-512", &answer)
            .unwrap_err()
            .at("b:9092");
        let text = err.to_string();
        assert!(
            text.contains("invalid credentials") && text.contains("b:9092"),
            "{text}"
        );
        assert!(check_answer("PLAIN", &SaslAuthenticateResponse::default()).is_ok());
    }
}
