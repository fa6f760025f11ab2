//! AWS MSK IAM tokens, as aws-msk-iam-sasl-signer (Python, Go, JS) makes
//! them: a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/
//! ?Action=kafka-cluster%3AConnect` (service `kafka-cluster`, valid 900 s),
//! with `User-Agent=<client>/<version>` appended after signing, the whole
//! URL base64url-encoded without padding. The broker takes it as an
//! OAUTHBEARER token.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::sigv4::{self, EMPTY_PAYLOAD_SHA256};
use super::{AwsCredentials, AwsCredentialsProvider, BoxFuture, OAuthToken, TokenProvider};
use crate::error::{Result, WireError};
use crate::security::{Secret, bad_value};

/// How long a token's signature stays valid (`X-Amz-Expires`), as the
/// signers set it.
pub const TOKEN_EXPIRY_SECS: u32 = 900;

/// The `User-Agent` query parameter: this client and its version.
pub const USER_AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// (optional) `AWS_SESSION_TOKEN`, read at each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvCredentials;

impl EnvCredentials {
    fn read() -> Result<AwsCredentials> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let missing = |name: &str| {
            bad_value(
                name,
                "not set (AWS MSK IAM takes its credentials from the environment \
                 unless the application gives a credentials provider)",
            )
        };
        let access_key_id = var("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let secret =
            var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
        Ok(AwsCredentials {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
        })
    }
}

impl AwsCredentialsProvider for EnvCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<AwsCredentials>> {
        Box::pin(async { EnvCredentials::read() })
    }
}

/// MSK IAM tokens for one region, signed with credentials from a provider
/// at each authentication.
pub struct MskIamTokenProvider {
    region: String,
    credentials: Arc<dyn AwsCredentialsProvider>,
}

impl fmt::Debug for MskIamTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MskIamTokenProvider")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl MskIamTokenProvider {
    /// Tokens for `region` signed with `credentials`.
    pub fn new(region: String, credentials: Arc<dyn AwsCredentialsProvider>) -> Self {
        MskIamTokenProvider {
            region,
            credentials,
        }
    }

    /// The token for `credentials` signed at `now_unix_secs`: what
    /// [`TokenProvider::token`] returns, with the clock explicit. It expires
    /// at the signing time plus [`TOKEN_EXPIRY_SECS`] (the signers report
    /// `X-Amz-Date + X-Amz-Expires`); its principal is the access key id.
    pub fn token_at(&self, credentials: &AwsCredentials, now_unix_secs: u64) -> Result<OAuthToken> {
        let url = self.signed_url(credentials, now_unix_secs)?;
        Ok(OAuthToken {
            value: Secret::new(URL_SAFE_NO_PAD.encode(url.expose())),
            principal: credentials.access_key_id.clone(),
            expires_at_ms: i64::try_from(now_unix_secs)
                .ok()
                .and_then(|s| s.checked_add(i64::from(TOKEN_EXPIRY_SECS)))
                .and_then(|s| s.checked_mul(1000))
                .ok_or_else(|| {
                    WireError::sasl_failed("OAUTHBEARER", "the clock is out of range")
                })?,
            extensions: Vec::new(),
        })
    }

    /// The presigned URL before base64 (a secret: it carries the session
    /// token and a usable signature).
    fn signed_url(&self, credentials: &AwsCredentials, now_unix_secs: u64) -> Result<Secret> {
        let region = &self.region;
        let valid_region = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            return Err(bad_value(
                "sasl.oauthbearer.aws.region",
                format!("bad region {region:?}: expected lowercase letters, digits and '-'"),
            ));
        }
        if credentials.access_key_id.is_empty() {
            return Err(bad_value("AWS_ACCESS_KEY_ID", "the access key id is empty"));
        }
        if credentials.secret_access_key.is_empty() {
            return Err(bad_value(
                "AWS_SECRET_ACCESS_KEY",
                "the secret access key is empty",
            ));
        }
        let host = format!("kafka.{region}.amazonaws.com");
        let request = sigv4::Request {
            method: "GET",
            host: &host,
            path: "/",
            query: &[("Action", "kafka-cluster:Connect")],
            service: "kafka-cluster",
            region,
            expires_secs: TOKEN_EXPIRY_SECS,
            payload_hash: EMPTY_PAYLOAD_SHA256,
        };
        let mut url = sigv4::presign(&request, credentials, now_unix_secs);
        // The signers add User-Agent after signing, as the last parameter.
        url.push_str("&User-Agent=");
        url.push_str(&sigv4::uri_encode(USER_AGENT));
        Ok(Secret::new(url))
    }
}

impl TokenProvider for MskIamTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<OAuthToken>> {
        Box::pin(async move {
            let credentials = self.credentials.credentials().await?;
            let now = super::unix_now_ms("OAUTHBEARER")? / 1000;
            self.token_at(&credentials, now as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2023-11-14T22:13:20Z
    const NOW: u64 = 1_700_000_000;
    const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE+/token==";

    fn credentials(session_token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: session_token.map(Secret::new),
        }
    }

    struct Fixed(AwsCredentials);

    impl AwsCredentialsProvider for Fixed {
        fn credentials(&self) -> BoxFuture<'_, Result<AwsCredentials>> {
            Box::pin(async { Ok(self.0.clone()) })
        }
    }

    fn provider(session_token: Option<&str>) -> MskIamTokenProvider {
        MskIamTokenProvider::new(
            "us-east-1".into(),
            Arc::new(Fixed(credentials(session_token))),
        )
    }

    fn decoded_url(token: &OAuthToken) -> String {
        let bytes = URL_SAFE_NO_PAD.decode(token.value.expose()).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    // The signatures below were computed independently with Python's
    // standard library (no botocore), following SigV4 by hand:
    //
    //   import hashlib, hmac, urllib.parse
    //   def h(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()
    //   def sig(token):
    //       ak, sk = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    //       region, date, t = "us-east-1", "20231114", "20231114T221320Z"
    //       q = {"Action": "kafka-cluster:Connect", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    //            "X-Amz-Credential": f"{ak}/{date}/{region}/kafka-cluster/aws4_request",
    //            "X-Amz-Date": t, "X-Amz-Expires": "900", "X-Amz-SignedHeaders": "host"}
    //       if token: q["X-Amz-Security-Token"] = token
    //       enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    //       cq = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(q.items()))
    //       creq = (f"GET\n/\n{cq}\nhost:kafka.{region}.amazonaws.com\n\nhost\n"
    //               + hashlib.sha256(b"").hexdigest())
    //       sts = (f"AWS4-HMAC-SHA256\n{t}\n{date}/{region}/kafka-cluster/aws4_request\n"
    //              + hashlib.sha256(creq.encode()).hexdigest())
    //       key = h(h(h(h(("AWS4" + sk).encode(), date), region), "kafka-cluster"), "aws4_request")
    //       return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    //   print(sig(None))                                # d262e412...
    //   print(sig("IQoJb3JpZ2luX2VjEXAMPLE+/token=="))  # cd4af33b...

    #[test]
    fn the_token_is_the_signers_presigned_url_without_a_session_token() {
        let token = provider(None).token_at(&credentials(None), NOW).unwrap();
        assert_eq!(
            decoded_url(&token),
            format!(
                "https://kafka.us-east-1.amazonaws.com/\
                 ?Action=kafka-cluster%3AConnect\
                 &X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request\
                 &X-Amz-Date=20231114T221320Z\
                 &X-Amz-Expires=900\
                 &X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=d262e412740e6ea91fab693abb6048536c9343bbbcee5904f17e45b5cfeba8b1\
                 &User-Agent=sluice%2F{}",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(token.principal, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(token.expires_at_ms, (1_700_000_000 + 900) * 1000);
        assert!(token.extensions.is_empty());
        // base64url without padding: no '=', '+' or '/'.
        assert!(!token.value.expose().contains(['=', '+', '/']));
    }

    #[test]
    fn a_session_token_is_signed_as_x_amz_security_token() {
        let token = provider(None)
            .token_at(&credentials(Some(SESSION_TOKEN)), NOW)
            .unwrap();
        assert_eq!(
            decoded_url(&token),
            format!(
                "https://kafka.us-east-1.amazonaws.com/\
                 ?Action=kafka-cluster%3AConnect\
                 &X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request\
                 &X-Amz-Date=20231114T221320Z\
                 &X-Amz-Expires=900\
                 &X-Amz-SignedHeaders=host\
                 &X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2Ftoken%3D%3D\
                 &X-Amz-Signature=cd4af33b55310e7127322e825a6aa45c9d47132f692689bd154b169ec01fad37\
                 &User-Agent=sluice%2F{}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[tokio::test]
    async fn the_provider_signs_with_its_credentials_now_and_debug_hides_secrets() {
        let p = provider(Some(SESSION_TOKEN));
        let token = p.token().await.unwrap();
        let url = decoded_url(&token);
        assert!(url.contains("X-Amz-Security-Token=IQoJ"), "{url}");
        let now_ms = crate::security::sasl::unix_now_ms("test").unwrap();
        assert!((token.expires_at_ms - now_ms - 900_000).abs() < 60_000);
        for debug in [
            format!("{token:?}"),
            format!("{p:?}"),
            format!("{:?}", credentials(Some(SESSION_TOKEN))),
        ] {
            assert!(!debug.contains(token.value.expose()), "{debug}");
            assert!(!debug.contains("EXAMPLEKEY"), "{debug}");
            assert!(!debug.contains("IQoJ"), "{debug}");
        }
    }

    #[test]
    fn bad_regions_and_empty_credentials_are_config_errors_naming_the_key() {
        let bad = MskIamTokenProvider::new(
            "us-east-1.evil.example/".into(),
            Arc::new(Fixed(credentials(None))),
        );
        let err = bad.token_at(&credentials(None), NOW).unwrap_err();
        assert!(
            matches!(&err, WireError::Config { key, .. } if key == "sasl.oauthbearer.aws.region"),
            "{err}"
        );
        let mut empty = credentials(None);
        empty.secret_access_key = Secret::default();
        let err = provider(None).token_at(&empty, NOW).unwrap_err();
        assert!(
            matches!(&err, WireError::Config { key, .. } if key == "AWS_SECRET_ACCESS_KEY"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn env_credentials_name_the_missing_variable() {
        // The only test in this crate that touches these variables: it
        // checks the outcome for whatever the environment holds.
        let result = EnvCredentials.credentials().await;
        let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
        match result {
            Ok(c) => {
                assert!(set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"));
                assert!(format!("{c:?}").contains("secret_access_key: [redacted]"));
            }
            Err(WireError::Config { key, message }) => {
                let expected = if set("AWS_ACCESS_KEY_ID") {
                    "AWS_SECRET_ACCESS_KEY"
                } else {
                    "AWS_ACCESS_KEY_ID"
                };
                assert_eq!(key, expected, "{message}");
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}
