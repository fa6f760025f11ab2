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
mod tests {
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
            client_final
                .starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=")
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
}
