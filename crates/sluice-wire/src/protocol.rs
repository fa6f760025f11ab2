//! Requests and responses on the wire: headers with the right version for
//! each API version (flexible versions use header v2/v1; ApiVersions
//! responses always use v0), bodies from the `kafka-protocol` crate, and
//! generic decoding of any message for brokers, proxies and tests.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::{Result, WireError};

/// The request header version for `api` at `version`.
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    api.request_header_version(version)
}

/// The response header version for `api` at `version`. ApiVersions
/// responses always use v0, so a client can read one whatever it asked.
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ApiVersions {
        0
    } else {
        api.response_header_version(version)
    }
}

/// The API key of a request type.
pub fn api_key_of<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|()| WireError::UnknownApiKey(R::KEY))
}

/// Encodes a whole request frame (size prefix, header, body).
pub fn encode_request<R: Request>(
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &R,
) -> Result<BytesMut> {
    let api = api_key_of::<R>()?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_string())));
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    header
        .encode(&mut buf, <R as HeaderVersion>::header_version(version))
        .map_err(|e| encode_error(api, version, e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(api, version, e))?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

/// Decodes a response frame (without its size prefix) to `R`'s response at
/// `version`; returns its correlation id too.
pub fn decode_response<R: Request>(frame: Bytes, version: i16) -> Result<(i32, R::Response)> {
    let api = api_key_of::<R>()?;
    let (header, mut body) = parse_response_frame(frame, api, version)?;
    let response = R::Response::decode(&mut body, version)
        .map_err(|e| decode_error(api, version, "response", e))?;
    Ok((header.correlation_id, response))
}

/// The correlation id at the front of a response frame.
pub fn response_correlation_id(frame: &[u8]) -> Result<i32> {
    if frame.len() < 4 {
        return Err(WireError::Truncated {
            what: "response header",
            needed: 4,
            available: frame.len(),
        });
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

/// A request frame split into its header and body.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFrame {
    /// The API.
    pub api_key: ApiKey,
    /// The API version.
    pub api_version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The whole header.
    pub header: RequestHeader,
    /// The body bytes.
    pub body: Bytes,
}

/// Splits a request frame (without its size prefix) into header and body.
pub fn parse_request_frame(frame: Bytes) -> Result<RequestFrame> {
    if frame.len() < 8 {
        return Err(WireError::Truncated {
            what: "request header",
            needed: 8,
            available: frame.len(),
        });
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(key).map_err(|()| WireError::UnknownApiKey(key))?;
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, request_header_version(api_key, api_version))
        .map_err(|e| decode_error(api_key, api_version, "request header", e))?;
    Ok(RequestFrame {
        api_key,
        api_version,
        correlation_id: header.correlation_id,
        header,
        body,
    })
}

/// Splits a response frame (without its size prefix) for `api` at `version`
/// into header and body.
pub fn parse_response_frame(
    frame: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, Bytes)> {
    let mut body = frame;
    let header = ResponseHeader::decode(&mut body, response_header_version(api, version))
        .map_err(|e| decode_error(api, version, "response header", e))?;
    Ok((header, body))
}

/// Decodes any request body.
pub fn decode_request_body(api: ApiKey, version: i16, body: Bytes) -> Result<RequestKind> {
    let mut body = body;
    let request = RequestKind::decode(api, &mut body, version)
        .map_err(|e| decode_error(api, version, "request", e))?;
    expect_consumed(api, version, "request", &body)?;
    Ok(request)
}

/// Encodes any request body.
pub fn encode_request_body(request: &RequestKind, version: i16) -> Result<BytesMut> {
    let mut buf = BytesMut::new();
    request
        .encode(&mut buf, version)
        .map_err(|e| WireError::Encode {
            api: kind_api(request),
            version,
            message: e.to_string(),
        })?;
    Ok(buf)
}

/// Decodes any response body.
pub fn decode_response_body(api: ApiKey, version: i16, body: Bytes) -> Result<ResponseKind> {
    let mut body = body;
    let response = ResponseKind::decode(api, &mut body, version)
        .map_err(|e| decode_error(api, version, "response", e))?;
    expect_consumed(api, version, "response", &body)?;
    Ok(response)
}

/// Encodes any response body.
pub fn encode_response_body(
    response: &ResponseKind,
    api: ApiKey,
    version: i16,
) -> Result<BytesMut> {
    let mut buf = BytesMut::new();
    response
        .encode(&mut buf, version)
        .map_err(|e| WireError::Encode {
            api,
            version,
            message: e.to_string(),
        })?;
    Ok(buf)
}

/// Encodes a whole response frame (size prefix, header, body).
pub fn encode_response_frame(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    body: &[u8],
) -> BytesMut {
    let mut buf = BytesMut::with_capacity(body.len() + 9);
    buf.put_i32(0);
    buf.put_i32(correlation_id);
    if response_header_version(api, version) >= 1 {
        buf.put_u8(0); // no tagged fields
    }
    buf.put_slice(body);
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf
}

fn expect_consumed(api: ApiKey, version: i16, what: &str, rest: &Bytes) -> Result<()> {
    if rest.has_remaining() {
        return Err(WireError::Decode {
            what: format!("{api:?} v{version} {what}"),
            message: format!("{} bytes left over after the body", rest.remaining()),
        });
    }
    Ok(())
}

fn decode_error(api: ApiKey, version: i16, what: &str, e: impl std::fmt::Display) -> WireError {
    WireError::Decode {
        what: format!("{api:?} v{version} {what}"),
        message: e.to_string(),
    }
}

/// The API of a request enum value.
pub fn kind_api(request: &RequestKind) -> ApiKey {
    macro_rules! keys {
        ($($v:ident),*) => { match request { $(RequestKind::$v(_) => ApiKey::$v,)* _ => ApiKey::ApiVersions } };
    }
    keys!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        InitProducerId
    )
}

fn encode_error(api: ApiKey, version: i16, e: impl std::fmt::Display) -> WireError {
    WireError::Encode {
        api,
        version,
        message: e.to_string(),
    }
}
