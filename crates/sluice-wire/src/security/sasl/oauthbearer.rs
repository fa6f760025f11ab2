//! SASL OAUTHBEARER (RFC 7628, KIP-255) with SASL extensions (KIP-342),
//! and the unsecured-JWT token provider of `sasl.oauthbearer.config`.
//!
//! The client's first message is what Kafka's Java client and librdkafka
//! send: the GS2 header `n,,` (no authorization id), then `auth=Bearer
//! <token>` and each extension as `key=value`, each pair ended by `%x01`,
//! and a final `%x01`:
//!
//! ```text
//! n,,\x01auth=Bearer <token>\x01traceId=123\x01\x01
//! ```
//!
//! An empty answer means the broker took the token. A non-empty one is its
//! error challenge (JSON such as `{"status":"invalid_token"}`); RFC 7628
//! §3.2.3 has the client answer it with a single `%x01`, after which the
//! broker fails the exchange.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{BoxFuture, Mechanism, OAuthToken, Step, TokenProvider};
use crate::error::{Result, WireError};
use crate::security::{Secret, bad_value};

const NAME: &str = "OAUTHBEARER";
const CONFIG_KEY: &str = "sasl.oauthbearer.config";

/// Where the exchange is.
enum State {
    /// Nothing sent yet.
    Start,
    /// The first message is out; waiting for the broker's answer.
    Sent,
    /// The broker sent an error challenge (its JSON kept for the error)
    /// and we answered `%x01`.
    Challenged(String),
    /// The broker took the token.
    Done,
}

/// OAUTHBEARER's client side for one token.
pub struct OAuthBearer {
    token: OAuthToken,
    state: State,
}

impl fmt::Debug for OAuthBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearer")
            .field("principal", &self.token.principal)
            .field("token", &self.token.value)
            .finish_non_exhaustive()
    }
}

impl OAuthBearer {
    /// OAUTHBEARER presenting `token` (and its extensions).
    pub fn new(token: &OAuthToken) -> Self {
        OAuthBearer {
            token: token.clone(),
            state: State::Start,
        }
    }
}

/// Checks a SASL extension against RFC 7628 §3.1 (`key = 1*(ALPHA)`,
/// `value = *(VCHAR / SP / HTAB / CR / LF)`), `auth` being reserved. The
/// error names the key, never the value.
pub fn check_extension(key: &str, value: &str) -> std::result::Result<(), String> {
    if key == "auth" {
        return Err("the extension name `auth` is reserved for the token".into());
    }
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "extension name {key:?} must be one or more letters A-Z or a-z (RFC 7628 §3.1)"
        ));
    }
    if !is_value(value) {
        return Err(format!(
            "the value of extension {key:?} may hold only visible ASCII, space, tab, CR \
             and LF (RFC 7628 §3.1)"
        ));
    }
    Ok(())
}

/// RFC 7628's `value` grammar: `*(VCHAR / SP / HTAB / CR / LF)`.
fn is_value(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn initial(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Start) {
            return Err(WireError::sasl_failed(
                NAME,
                "the first message was already sent",
            ));
        }
        let token = self.token.value.expose();
        // The token goes after "Bearer ": RFC 6750's b64token, which Kafka's
        // broker also insists on; anything else could break the framing.
        let b64token = !token.is_empty()
            && token.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
            });
        if !b64token {
            return Err(WireError::sasl_failed(
                NAME,
                "the token is empty or has characters a bearer token may not hold",
            ));
        }
        let mut message = format!("n,,\x01auth=Bearer {token}\x01");
        for (key, value) in &self.token.extensions {
            check_extension(key, value).map_err(|m| WireError::sasl_failed(NAME, m))?;
            message.push_str(key);
            message.push('=');
            message.push_str(value);
            message.push('\x01');
        }
        message.push('\x01');
        self.state = State::Sent;
        Ok(message.into_bytes())
    }

    fn step(&mut self, server: &[u8]) -> Result<Step> {
        match &self.state {
            State::Start => Err(WireError::sasl_failed(
                NAME,
                "answer before the first message",
            )),
            State::Sent if server.is_empty() => {
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Sent => {
                self.state = State::Challenged(String::from_utf8_lossy(server).into_owned());
                Ok(Step::Send(vec![0x01]))
            }
            State::Challenged(json) => Err(WireError::sasl_failed(NAME, refusal(json))),
            State::Done => Err(WireError::sasl_failed(
                NAME,
                "answer after the exchange completed",
            )),
        }
    }
}

/// Words for the broker's error challenge: its `status` (and `scope`), or
/// the start of the text if it is not the JSON RFC 7628 §3.2.2 describes.
fn refusal(json: &str) -> String {
    match json_string_field(json, "status") {
        Some(status) => {
            let mut message = format!("the broker refused the token: status {status:?}");
            if let Some(scope) = json_string_field(json, "scope") {
                message.push_str(&format!(", required scope {scope:?}"));
            }
            message
        }
        None => {
            let start: String = json.chars().take(200).collect();
            format!("the broker refused the token with the challenge {start:?}")
        }
    }
}

/// The string value of a top-level `"field"` of a JSON object, read by
/// hand (escapes `\"` and `\\` undone); `None` if it is not there.
fn json_string_field(json: &str, field: &str) -> Option<String> {
    let needle = format!("\"{field}\"");
    let after = &json[json.find(&needle)? + needle.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let mut chars = after.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
        if out.len() > 256 {
            return Some(out);
        }
    }
}

/// Unsecured JWTs (`{"alg":"none"}`, empty signature) for development and
/// tests, made as librdkafka's default OAUTHBEARER token refresh makes them
/// from `sasl.oauthbearer.config`: space-separated `principal=NAME`
/// (required), `principalClaimName=sub`, `scopeClaimName=scope`,
/// `scope=a,b`, `lifeSeconds=3600` and `extension_NAME=VALUE`.
///
/// The claims are laid out as librdkafka writes them, times in seconds
/// with milliseconds:
/// `{"sub":"alice","iat":1700000000.000,"exp":1700003600.000,"scope":["a","b"]}`.
#[derive(Debug, Clone)]
pub struct UnsecuredJwtProvider {
    principal: String,
    principal_claim_name: String,
    scope_claim_name: String,
    scope: Vec<String>,
    life_seconds: u32,
    extensions: Vec<(String, String)>,
}

impl UnsecuredJwtProvider {
    /// Reads `principal=NAME [principalClaimName=sub] [scopeClaimName=scope]
    /// [scope=a,b] [lifeSeconds=3600] [extension_K=V]...`. An unknown or
    /// repeated key, a missing principal, or a value that would not fit the
    /// JSON or the SASL message is a [`WireError::Config`].
    pub fn from_config(config: &str) -> Result<Self> {
        let bad = |message: String| bad_value(CONFIG_KEY, message);
        let mut principal = None;
        let mut principal_claim_name = None;
        let mut scope_claim_name = None;
        let mut scope_text = None;
        let mut life_seconds = None;
        let mut extensions: Vec<(String, String)> = Vec::new();
        for item in config.split(' ').filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                bad(format!(
                    "expected key=value, got a word without '=' ({})",
                    word_hint(item)
                ))
            })?;
            if let Some(name) = key.strip_prefix("extension_") {
                check_extension(name, value).map_err(bad)?;
                if extensions.iter().any(|(k, _)| k == name) {
                    return Err(bad(format!("extension_{name} is given twice")));
                }
                extensions.push((name.to_string(), value.to_string()));
                continue;
            }
            let slot = match key {
                "principal" => &mut principal,
                "principalClaimName" => &mut principal_claim_name,
                "scopeClaimName" => &mut scope_claim_name,
                "scope" => &mut scope_text,
                "lifeSeconds" => &mut life_seconds,
                _ => {
                    return Err(bad(format!(
                        "unknown key {key:?} (expected principal, principalClaimName, \
                         scopeClaimName, scope, lifeSeconds or extension_NAME)"
                    )));
                }
            };
            if slot.is_some() {
                return Err(bad(format!("{key} is given twice")));
            }
            if value.is_empty() {
                return Err(bad(format!("{key} is empty")));
            }
            if !value
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
            {
                return Err(bad(format!(
                    "{key} may hold only visible ASCII other than '\"' and '\\'"
                )));
            }
            *slot = Some(value.to_string());
        }
        let principal =
            principal.ok_or_else(|| bad("no principal=NAME (the principal is required)".into()))?;
        let life_seconds = match life_seconds {
            None => 3600,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0 && n <= i32::MAX as u32)
                .ok_or_else(|| {
                    bad(format!(
                        "lifeSeconds must be a positive integer, got {text:?}"
                    ))
                })?,
        };
        let mut scope: Vec<String> = Vec::new();
        for s in scope_text.as_deref().unwrap_or("").split(',') {
            if !s.is_empty() && !scope.iter().any(|t| t == s) {
                scope.push(s.to_string());
            }
        }
        Ok(UnsecuredJwtProvider {
            principal,
            principal_claim_name: principal_claim_name.unwrap_or_else(|| "sub".into()),
            scope_claim_name: scope_claim_name.unwrap_or_else(|| "scope".into()),
            scope,
            life_seconds,
            extensions,
        })
    }

    /// The token issued at `now_ms` (milliseconds since the Unix epoch):
    /// what [`TokenProvider::token`] returns, with the clock explicit.
    pub fn token_at(&self, now_ms: i64) -> Result<OAuthToken> {
        let life_ms = i64::from(self.life_seconds) * 1000;
        let expires_at_ms = now_ms
            .checked_add(life_ms)
            .filter(|_| now_ms >= 0)
            .ok_or_else(|| WireError::sasl_failed(NAME, "the clock is out of range"))?;
        let mut claims = format!(
            "{{\"{}\":\"{}\",\"iat\":{},\"exp\":{}",
            self.principal_claim_name,
            self.principal,
            seconds(now_ms),
            seconds(expires_at_ms)
        );
        if !self.scope.is_empty() {
            claims.push_str(&format!(",\"{}\":[", self.scope_claim_name));
            let quoted: Vec<String> = self.scope.iter().map(|s| format!("\"{s}\"")).collect();
            claims.push_str(&quoted.join(","));
            claims.push(']');
        }
        claims.push('}');
        let jws = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims.as_bytes())
        );
        Ok(OAuthToken {
            value: Secret::new(jws),
            principal: self.principal.clone(),
            expires_at_ms,
            extensions: self.extensions.clone(),
        })
    }
}

/// A word of a bad config for an error, cut short: it may hold a secret.
fn word_hint(word: &str) -> String {
    format!("{} characters", word.chars().count())
}

/// Milliseconds as seconds with three decimals, as C's `%.3f` of
/// `ms / 1000.0` prints them (exactly, without going through a float).
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl TokenProvider for UnsecuredJwtProvider {
    fn token(&self) -> BoxFuture<'_, Result<OAuthToken>> {
        Box::pin(async move { self.token_at(super::unix_now_ms(NAME)?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str, extensions: &[(&str, &str)]) -> OAuthToken {
        OAuthToken {
            value: Secret::new(value),
            principal: "alice".into(),
            expires_at_ms: 0,
            extensions: extensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// RFC 7628 §4.1's example is
    /// `n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01`;
    /// Kafka's clients send the same structure without `a=`, `host` and
    /// `port`, extensions after `auth`.
    #[test]
    fn the_first_message_is_the_rfc_7628_client_response_as_kafka_sends_it() {
        let rfc_token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
        let mut m = OAuthBearer::new(&token(rfc_token, &[]));
        assert_eq!(m.name(), "OAUTHBEARER");
        assert_eq!(
            m.initial().unwrap(),
            b"n,,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert_eq!(m.step(b"").unwrap(), Step::Done);
        assert!(m.step(b"").is_err());

        let mut m = OAuthBearer::new(&token(
            "abc.def.",
            &[("traceId", "123"), ("logicalCluster", "lkc-1 x=y")],
        ));
        assert_eq!(
            m.initial().unwrap(),
            b"n,,\x01auth=Bearer abc.def.\x01traceId=123\x01logicalCluster=lkc-1 x=y\x01\x01"
        );
        assert!(m.initial().is_err(), "a second first message");
    }

    #[test]
    fn an_error_challenge_is_answered_with_kvsep_then_fails_naming_the_status() {
        let mut m = OAuthBearer::new(&token("abc.def.", &[]));
        assert!(m.step(b"").is_err(), "an answer before the first message");
        m.initial().unwrap();
        let challenge = br#"{"status":"invalid_token","scope":"kafka","openid-configuration":"https://idp/.well-known"}"#;
        assert_eq!(m.step(challenge).unwrap(), Step::Send(vec![0x01]));
        let err = m.step(b"").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, WireError::SaslAuthenticationFailed { .. }),
            "{text}"
        );
        assert!(
            text.contains("invalid_token") && text.contains("kafka"),
            "{text}"
        );
        assert!(!text.contains("abc.def."), "{text}");

        let mut m = OAuthBearer::new(&token("abc.def.", &[]));
        m.initial().unwrap();
        assert_eq!(m.step(b"\xff not json").unwrap(), Step::Send(vec![0x01]));
        assert!(m.step(b"").unwrap_err().to_string().contains("not json"));
    }

    #[test]
    fn bad_extensions_and_tokens_are_refused_without_showing_the_token() {
        for (key, value) in [
            ("auth", "x"),
            ("trace_id", "1"),
            ("", "1"),
            ("caf\u{e9}", "1"),
            ("traceId", "a\x01b"),
            ("traceId", "\u{e9}"),
        ] {
            let mut m = OAuthBearer::new(&token("secret-token", &[(key, value)]));
            let text = m.initial().unwrap_err().to_string();
            assert!(text.contains("extension"), "{key:?}: {text}");
            assert!(!text.contains("secret-token"), "{text}");
        }
        for bad in ["", "has space", "a\x01b"] {
            let text = OAuthBearer::new(&token(bad, &[]))
                .initial()
                .unwrap_err()
                .to_string();
            assert!(text.contains("token"), "{text}");
        }
        let m = OAuthBearer::new(&token("secret-token", &[]));
        assert!(!format!("{m:?}").contains("secret-token"));
        assert!(!format!("{:?}", token("secret-token", &[])).contains("secret-token"));
    }

    fn decode(part: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn unsecured_jwts_have_librdkafkas_header_and_claims() {
        let p = UnsecuredJwtProvider::from_config(
            "principal=alice  scope=read,write,,read lifeSeconds=600 extension_traceId=123 \
             extension_logicalCluster=lkc-1",
        )
        .unwrap();
        let t = p.token_at(1_700_000_000_123).unwrap();
        let parts: Vec<&str> = t.value.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJhbGciOiJub25lIn0");
        assert_eq!(decode(parts[0]), r#"{"alg":"none"}"#);
        assert_eq!(
            decode(parts[1]),
            r#"{"sub":"alice","iat":1700000000.123,"exp":1700000600.123,"scope":["read","write"]}"#
        );
        assert_eq!(parts[2], "", "an unsecured JWS has an empty signature");
        assert_eq!(t.principal, "alice");
        assert_eq!(t.expires_at_ms, 1_700_000_600_123);
        assert_eq!(
            t.extensions,
            vec![
                ("traceId".to_string(), "123".to_string()),
                ("logicalCluster".to_string(), "lkc-1".to_string())
            ]
        );
        assert!(!format!("{t:?}").contains(parts[1]));

        let p = UnsecuredJwtProvider::from_config(
            "principalClaimName=azp principal=admin scopeClaimName=roles scope=r1",
        )
        .unwrap();
        let t = p.token_at(5_000).unwrap();
        let claims = t.value.expose().split('.').nth(1).unwrap().to_string();
        assert_eq!(
            decode(&claims),
            r#"{"azp":"admin","iat":5.000,"exp":3605.000,"roles":["r1"]}"#
        );
        assert_eq!(t.expires_at_ms, 3_605_000);
        // The whole token goes through the mechanism unchanged.
        let mut m = OAuthBearer::new(&t);
        let first = m.initial().unwrap();
        assert!(
            first.starts_with(format!("n,,\x01auth=Bearer {}\x01", t.value.expose()).as_bytes())
        );
    }

    #[test]
    fn bad_unsecured_jwt_configs_are_config_errors_naming_what_is_wrong() {
        let cases = [
            ("scope=a lifeSeconds=60", "principal"),
            ("principal=alice colour=blue", "colour"),
            ("principal=alice lifeSeconds=0", "lifeSeconds"),
            ("principal=alice lifeSeconds=1.5", "lifeSeconds"),
            ("principal=alice principal=bob", "principal"),
            ("principal=al\"ice", "principal"),
            ("principal=alice scope=", "scope"),
            ("principal=alice extension_auth=x", "auth"),
            ("principal=alice extension_trace_id=x", "trace_id"),
            ("principal=alice justaword", "without '='"),
        ];
        for (config, needle) in cases {
            let err = UnsecuredJwtProvider::from_config(config).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(&err, WireError::Config { key, .. } if key == CONFIG_KEY),
                "{config}: {text}"
            );
            assert!(text.contains(needle), "{config}: {text}");
        }
    }

    #[tokio::test]
    async fn the_provider_issues_tokens_valid_for_life_seconds_from_now() {
        let p = UnsecuredJwtProvider::from_config("principal=alice").unwrap();
        let t = p.token().await.unwrap();
        let now_ms = crate::security::sasl::unix_now_ms("test").unwrap();
        assert!((t.expires_at_ms - now_ms - 3_600_000).abs() < 60_000);
        assert!(t.extensions.is_empty());
    }
}
