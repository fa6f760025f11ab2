//! SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client side,
//! as Kafka runs it: no channel binding (`n,,`), no authorization id, and
//! no SASLprep beyond escaping `=` and `,` in the username.
//!
//! ```text
//! client-first  n,,n=USER,r=CNONCE
//! server-first  r=CNONCE+SNONCE,s=SALT,i=ITERATIONS
//! client-final  c=biws,r=CNONCE+SNONCE,p=PROOF
//! server-final  v=SERVER-SIGNATURE        (or e=ERROR)
//! ```
//!
//! The server's final message is always verified: a broker that does not
//! know the password cannot make the signature, and one that refuses the
//! proof with `e=...` and error code 0 (tansu does) is still a failure.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Mechanism, Step};
use crate::error::{Result, WireError};
use crate::security::Secret;

/// The fewest iterations accepted: Kafka's minimum for SCRAM-SHA-256/512.
pub const MIN_ITERATIONS: u32 = 4096;
/// The most iterations accepted, so a hostile or broken server cannot make
/// the client burn seconds of CPU per connection.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Bytes of randomness in a nonce from [`Scram::new`].
const NONCE_BYTES: usize = 24;
/// How much of a server value an error message quotes.
const QUOTE_MAX: usize = 64;

/// The hash a SCRAM mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// `HMAC(key, data)`.
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        match self {
            ScramHash::Sha256 => mac::<Hmac<Sha256>>(self, key, data),
            ScramHash::Sha512 => mac::<Hmac<Sha512>>(self, key, data),
        }
    }

    /// Whether `tag` is `HMAC(key, data)`, compared in constant time.
    fn verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool> {
        Ok(match self {
            ScramHash::Sha256 => keyed::<Hmac<Sha256>>(self, key, data)?
                .verify_slice(tag)
                .is_ok(),
            ScramHash::Sha512 => keyed::<Hmac<Sha512>>(self, key, data)?
                .verify_slice(tag)
                .is_ok(),
        })
    }

    /// `H(data)`.
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

fn keyed<M: Mac + hmac::digest::KeyInit>(hash: ScramHash, key: &[u8], data: &[u8]) -> Result<M> {
    // HMAC takes keys of any length; the error cannot happen, but it is an
    // error rather than a panic all the same.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .map_err(|_| WireError::sasl_failed(hash.mechanism(), "HMAC refused its key"))?;
    m.update(data);
    Ok(m)
}

fn mac<M: Mac + hmac::digest::KeyInit>(
    hash: ScramHash,
    key: &[u8],
    data: &[u8],
) -> Result<Vec<u8>> {
    Ok(keyed::<M>(hash, key, data)?
        .finalize()
        .into_bytes()
        .to_vec())
}

/// Where the exchange is.
enum State {
    /// Nothing sent yet.
    Start,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; the server's signature must be
    /// `HMAC(server_key, auth_message)`.
    SentFinal {
        server_key: Vec<u8>,
        auth_message: String,
    },
    /// The server's signature verified.
    Done,
    /// A step failed; the exchange cannot go on.
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "start",
            State::SentFirst => "sent client-first",
            State::SentFinal { .. } => "sent client-final",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// SCRAM's client side for one authentication.
pub struct Scram {
    hash: ScramHash,
    /// The username with `=` and `,` escaped.
    username: String,
    password: Secret,
    nonce: String,
    state: State,
}

impl fmt::Debug for Scram {
    // By hand: neither the password nor the keys derived from it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scram")
            .field("hash", &self.hash)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("state", &self.state.name())
            .finish()
    }
}

impl Scram {
    /// SCRAM for `username` with `password` and a fresh random nonce (24
    /// bytes from the OS, base64: printable and without `,`).
    pub fn new(hash: ScramHash, username: &str, password: &Secret) -> Result<Self> {
        let mut bytes = [0u8; NONCE_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| {
            WireError::sasl_failed(
                hash.mechanism(),
                format!("no randomness for the nonce: {e}"),
            )
        })?;
        Self::with_nonce(hash, username, password, &BASE64.encode(bytes))
    }

    /// SCRAM with a fixed client nonce, for tests and fuzzing. The nonce
    /// must be non-empty printable ASCII without `,` (RFC 5802's
    /// `printable`).
    pub fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &Secret,
        nonce: &str,
    ) -> Result<Self> {
        if !is_printable(nonce) {
            return Err(WireError::sasl_failed(
                hash.mechanism(),
                "the client nonce must be non-empty printable ASCII without ','",
            ));
        }
        Ok(Scram {
            hash,
            username: username.replace('=', "=3D").replace(',', "=2C"),
            password: password.clone(),
            nonce: nonce.to_string(),
            state: State::Start,
        })
    }

    fn fail(&mut self, message: impl Into<String>) -> WireError {
        self.state = State::Failed;
        WireError::sasl_failed(self.hash.mechanism(), message)
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", self.username, self.nonce)
    }

    /// Reads server-first and makes client-final.
    fn server_first(&mut self, server: &[u8]) -> Result<Step> {
        let message = std::str::from_utf8(server)
            .map_err(|_| self.fail("server-first message is not UTF-8"))?;
        let first = parse_server_first(message, &self.nonce).map_err(|m| self.fail(m))?;
        let salted = self.hash.salted_password(
            self.password.expose().as_bytes(),
            &first.salt,
            first.iterations,
        );
        let client_key = self.hash.hmac(&salted, b"Client Key")?;
        let server_key = self.hash.hmac(&salted, b"Server Key")?;
        let stored_key = self.hash.digest(&client_key);
        // "biws" is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message = format!("{},{message},{without_proof}", self.client_first_bare());
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.state = State::SentFinal {
            server_key,
            auth_message,
        };
        Ok(Step::Send(
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
        ))
    }

    /// Verifies server-final.
    fn server_final(&mut self, server: &[u8], server_key: &[u8], auth: &str) -> Result<Step> {
        let message = std::str::from_utf8(server)
            .map_err(|_| self.fail("server-final message is not UTF-8"))?;
        // server-final = (server-error / verifier) ["," extensions]
        let head = message.split(',').next().unwrap_or("");
        if let Some(error) = head.strip_prefix("e=") {
            return Err(self.fail(format!(
                "server rejected the authentication: {}",
                quote(error)
            )));
        }
        let Some(verifier) = head.strip_prefix("v=") else {
            return Err(self.fail(format!(
                "server-final message has neither v= nor e=: {}",
                quote(message)
            )));
        };
        let signature = BASE64
            .decode(verifier)
            .map_err(|_| self.fail("server signature (v=) is not base64"))?;
        if !self.hash.verify(server_key, auth.as_bytes(), &signature)? {
            return Err(self.fail("server signature does not verify"));
        }
        self.state = State::Done;
        Ok(Step::Done)
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &'static str {
        self.hash.mechanism()
    }

    fn initial(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Start) {
            let state = self.state.name();
            return Err(self.fail(format!("client-first asked for again (state: {state})")));
        }
        self.state = State::SentFirst;
        Ok(format!("n,,{}", self.client_first_bare()).into_bytes())
    }

    fn step(&mut self, server: &[u8]) -> Result<Step> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::SentFirst => self.server_first(server),
            State::SentFinal {
                server_key,
                auth_message,
            } => self.server_final(server, &server_key, &auth_message),
            State::Start => Err(self.fail("server message before the client-first message")),
            State::Done => Err(self.fail("server message after the exchange finished")),
            State::Failed => Err(self.fail("server message after the exchange failed")),
        }
    }
}

/// What server-first says.
struct ServerFirst<'a> {
    /// The client's nonce followed by the server's.
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `[m=...,]r=...,s=...,i=...[,ext...]`, checking the nonce extends
/// `client_nonce`. The error says what is wrong, in words.
fn parse_server_first<'a>(
    message: &'a str,
    client_nonce: &str,
) -> std::result::Result<ServerFirst<'a>, String> {
    let mut attributes = message.split(',');
    let mut next = |name: &str, what: &str| -> std::result::Result<&'a str, String> {
        match attributes.next() {
            Some(a) if a.starts_with("m=") => Err(format!(
                "server-first message requires an extension the client does not know: {}",
                quote(a)
            )),
            Some(a) => a.strip_prefix(name).ok_or_else(|| {
                format!(
                    "server-first message: expected the {what} ({name}...), found {}",
                    quote(a)
                )
            }),
            None => Err(format!("server-first message has no {what} ({name}...)")),
        }
    };
    let nonce = next("r=", "nonce")?;
    let salt = next("s=", "salt")?;
    let iterations = next("i=", "iteration count")?;
    // Any further attributes are extensions; none are mandatory here, so
    // they are ignored.

    if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
        return Err(format!(
            "server nonce {} does not extend the client nonce",
            quote(nonce)
        ));
    }
    if !is_printable(nonce) {
        return Err(format!(
            "server nonce {} is not printable ASCII",
            quote(nonce)
        ));
    }
    let salt = BASE64
        .decode(salt)
        .map_err(|_| format!("salt {} is not base64", quote(salt)))?;
    if salt.is_empty() {
        return Err("salt is empty".into());
    }
    let iterations = parse_iterations(iterations)?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

fn parse_iterations(value: &str) -> std::result::Result<u32, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "iteration count {} is not a positive integer",
            quote(value)
        ));
    }
    // All digits: a parse error can only be an overflow.
    let count: u64 = value.parse().unwrap_or(u64::MAX);
    if count < u64::from(MIN_ITERATIONS) {
        return Err(format!(
            "iteration count {count} is below the minimum of {MIN_ITERATIONS}"
        ));
    }
    if count > u64::from(MAX_ITERATIONS) {
        return Err(format!(
            "iteration count {} is above the limit of {MAX_ITERATIONS}",
            quote(value)
        ));
    }
    u32::try_from(count).map_err(|_| "iteration count does not fit".to_string())
}

/// RFC 5802 `printable`: non-empty, `%x21-2B / %x2D-7E` (no `,`).
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// A server value for an error message: debug-quoted, cut at
/// [`QUOTE_MAX`] characters.
fn quote(s: &str) -> String {
    if s.chars().count() <= QUOTE_MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(QUOTE_MAX).collect();
        format!("{cut:?}...")
    }
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
