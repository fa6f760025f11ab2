//! AWS Signature Version 4, query-string form ("presigned URLs"): the
//! request's authentication travels in its query parameters
//! (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Security-Token`, `X-Amz-Signature`), with
//! `host` as the only signed header. MSK IAM tokens are such URLs.
//!
//! The time is an argument, so a signature is a pure function of its
//! inputs and the tests can use AWS's published vectors.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::AwsCredentials;

/// The payload hash of a request with an empty body: the hex SHA-256 of
/// nothing (what botocore and the MSK signers use for `kafka-cluster`).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The payload hash S3 presigned URLs use instead of a digest.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// One request to presign.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The `host` header (and the URL's authority).
    pub host: &'a str,
    /// The path, already URI-encoded as it appears in the URL (`/` at least).
    pub path: &'a str,
    /// The request's own query parameters, unencoded, in URL order; they
    /// come first in the URL, the authentication parameters after them.
    pub query: &'a [(&'a str, &'a str)],
    /// The signing service, e.g. `kafka-cluster` or `s3`.
    pub service: &'a str,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// `X-Amz-Expires`: how long the URL stays valid, in seconds.
    pub expires_secs: u32,
    /// The hashed payload line of the canonical request
    /// ([`EMPTY_PAYLOAD_SHA256`] or [`UNSIGNED_PAYLOAD`]).
    pub payload_hash: &'a str,
}

/// Presigns `request` with `credentials` at `now_unix_secs` and returns the
/// URL, `https://host/path?<query>&X-Amz-Algorithm=...&X-Amz-Signature=...`,
/// the parameters in the order botocore's `SigV4QueryAuth` writes them.
pub fn presign(request: &Request<'_>, credentials: &AwsCredentials, now_unix_secs: u64) -> String {
    let amz_date = amz_date(now_unix_secs);
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let credential = format!("{}/{scope}", credentials.access_key_id);
    let expires = request.expires_secs.to_string();

    let mut params: Vec<(&str, &str)> = request.query.to_vec();
    params.extend([
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    if let Some(token) = &credentials.session_token {
        params.push(("X-Amz-Security-Token", token.expose()));
    }
    let encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    let join = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut sorted = encoded.clone();
    sorted.sort();

    let canonical_request = format!(
        "{}\n{}\n{}\nhost:{}\n\nhost\n{}",
        request.method,
        request.path,
        join(&sorted),
        request.host,
        request.payload_hash
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(
        credentials.secret_access_key.expose(),
        date,
        request.region,
        request.service,
    );
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "https://{}{}?{}&X-Amz-Signature={signature}",
        request.host,
        request.path,
        join(&encoded)
    )
}

/// The SigV4 signing key: HMAC-SHA256 chained over `AWS4<secret>`, the
/// date (`YYYYMMDD`), the region, the service and `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// `X-Amz-Date` for a Unix time: `YYYYMMDDTHHMMSSZ` (UTC).
pub fn amz_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// SigV4's URI encoding: `A-Z a-z 0-9 - _ . ~` as they are, every other
/// byte of the UTF-8 as `%XX` (uppercase hex).
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Secret;

    fn example_credentials(secret: &str) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new(secret),
            session_token: None,
        }
    }

    /// AWS's signing-key derivation example ("Examples of how to derive a
    /// signing key for Signature Version 4", AWS General Reference /
    /// IAM User Guide, sigv4-calculate-signature).
    #[test]
    fn the_signing_key_matches_the_aws_derivation_example() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    /// The presigned GET of Amazon S3's "Authenticating Requests: Using
    /// Query Parameters (AWS Signature Version 4)" (S3 API reference,
    /// sigv4-query-string-auth): examplebucket, /test.txt, 20130524T000000Z,
    /// X-Amz-Expires=86400, UNSIGNED-PAYLOAD.
    #[test]
    fn the_s3_presigned_url_matches_the_published_example() {
        let request = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            service: "s3",
            region: "us-east-1",
            expires_secs: 86_400,
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let url = presign(
            &request,
            &example_credentials("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            1_369_353_600, // 2013-05-24T00:00:00Z
        );
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt\
             ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z\
             &X-Amz-Expires=86400\
             &X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn dates_and_encoding_follow_the_sigv4_rules() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z"); // leap day
        assert_eq!(amz_date(1_735_689_599), "20241231T235959Z");
        assert_eq!(amz_date(4_102_444_800), "21000101T000000Z");
        assert_eq!(uri_encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(uri_encode("a b/+=:é"), "a%20b%2F%2B%3D%3A%C3%A9");
    }
}
