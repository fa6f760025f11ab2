//! Recorded protocol exchanges: the fixture file format (see
//! `fixtures/README.md`), with loading, saving and decoding helpers.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The format version this code writes and reads.
pub const FORMAT: u32 = 1;

/// One recorded session of a client with a broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixture {
    /// Always [`FORMAT`].
    pub format: u32,
    /// The client that made the requests (e.g. `librdkafka 2.x via confluent-kafka`).
    pub client: String,
    /// The broker that answered (e.g. `tansu 0.6.0`).
    pub broker: String,
    /// What the session does.
    pub description: String,
    /// Request/response pairs in the order the requests were sent.
    pub exchanges: Vec<Exchange>,
}

/// One request and its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The API key.
    pub api_key: i16,
    /// The API's name, for people reading the file.
    pub api_name: String,
    /// The API version.
    pub api_version: i16,
    /// The request's correlation id.
    pub correlation_id: i32,
    /// Which client connection (0, 1, ...) carried it.
    pub connection: u32,
    /// The whole request frame, size prefix included, base64.
    #[serde(with = "b64")]
    pub request: Bytes,
    /// The whole response frame, size prefix included, base64; `None` for
    /// requests without a response (Produce with acks=0).
    #[serde(with = "b64_opt")]
    pub response: Option<Bytes>,
}

impl Exchange {
    /// The request frame without its size prefix.
    pub fn request_frame(&self) -> Bytes {
        self.request.slice(4.min(self.request.len())..)
    }

    /// The response frame without its size prefix.
    pub fn response_frame(&self) -> Option<Bytes> {
        self.response.as_ref().map(|r| r.slice(4.min(r.len())..))
    }
}

/// Errors reading or writing fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a fixture.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: serde_json::Error,
    },
    /// A format version this code does not know.
    #[error("{path}: fixture format {found}, expected {FORMAT}")]
    Format {
        /// The file.
        path: String,
        /// The version found.
        found: u32,
    },
}

impl Fixture {
    /// Loads a fixture file.
    pub fn load(path: impl AsRef<Path>) -> Result<Fixture, FixtureError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: name.clone(),
            source,
        })?;
        let fixture: Fixture =
            serde_json::from_str(&text).map_err(|source| FixtureError::Json {
                path: name.clone(),
                source,
            })?;
        if fixture.format != FORMAT {
            return Err(FixtureError::Format {
                path: name,
                found: fixture.format,
            });
        }
        Ok(fixture)
    }

    /// Writes the fixture as pretty JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FixtureError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = serde_json::to_string_pretty(self).map_err(|source| FixtureError::Json {
            path: name.clone(),
            source,
        })?;
        std::fs::write(path, text + "\n").map_err(|source| FixtureError::Io { path: name, source })
    }
}

mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use super::*;

    pub fn serialize<S: serde::Serializer>(b: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            STANDARD
                .decode(s)
                .map(Bytes::from)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let f = Fixture {
            format: FORMAT,
            client: "c".into(),
            broker: "b".into(),
            description: "d".into(),
            exchanges: vec![Exchange {
                api_key: 18,
                api_name: "ApiVersions".into(),
                api_version: 3,
                correlation_id: 1,
                connection: 0,
                request: Bytes::from_static(&[0, 0, 0, 1, 9]),
                response: None,
            }],
        };
        let dir = std::env::temp_dir().join(format!("sluice-fixture-{}.json", std::process::id()));
        f.save(&dir).unwrap();
        assert_eq!(Fixture::load(&dir).unwrap(), f);
        assert_eq!(f.exchanges[0].request_frame(), Bytes::from_static(&[9]));
        std::fs::remove_file(dir).unwrap();
    }
}
