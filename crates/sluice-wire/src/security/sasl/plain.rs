//! SASL `PLAIN` (RFC 4616): one message, `authzid NUL authcid NUL passwd`,
//! with an empty authorization id (the broker uses the username).

use super::{Mechanism, Step};
use crate::error::{Result, WireError};
use crate::security::Secret;

/// The PLAIN mechanism's client side.
pub struct Plain {
    username: String,
    password: Secret,
    sent: bool,
}

impl Plain {
    /// PLAIN for `username` with `password`.
    pub fn new(username: &str, password: &Secret) -> Self {
        Plain {
            username: username.to_string(),
            password: password.clone(),
            sent: false,
        }
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &'static str {
        "PLAIN"
    }

    fn initial(&mut self) -> Result<Vec<u8>> {
        if self.username.contains('\0') || self.password.expose().contains('\0') {
            return Err(WireError::sasl_failed(
                "PLAIN",
                "the username or password contains a NUL byte",
            ));
        }
        self.sent = true;
        let mut message =
            Vec::with_capacity(2 + self.username.len() + self.password.expose().len());
        message.push(0);
        message.extend_from_slice(self.username.as_bytes());
        message.push(0);
        message.extend_from_slice(self.password.expose().as_bytes());
        Ok(message)
    }

    fn step(&mut self, server: &[u8]) -> Result<Step> {
        if !self.sent {
            return Err(WireError::sasl_failed(
                "PLAIN",
                "answer before the first message",
            ));
        }
        if !server.is_empty() {
            return Err(WireError::sasl_failed(
                "PLAIN",
                format!("unexpected {}-byte server message", server.len()),
            ));
        }
        Ok(Step::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_rfc_4616_with_an_empty_authzid() {
        let mut p = Plain::new("tim", &"tanstaaftanstaaf".into());
        assert_eq!(p.initial().unwrap(), b"\0tim\0tanstaaftanstaaf");
        assert_eq!(p.step(b"").unwrap(), Step::Done);
        assert!(p.step(b"more").is_err());
        assert!(Plain::new("a\0b", &"x".into()).initial().is_err());
    }
}
