//! Fetch responses as a list of segments: the small fields encoded into a
//! few buffers, and each partition's record batches as the very `Bytes` the
//! log holds. The socket writes them with one vectored write, so the broker
//! never copies a record batch: with 1 KiB records the client, not the
//! broker, is what a benchmark measures.
//!
//! Versions 4 to 12 (what [`super::versions`] advertises), byte for byte
//! what kafka-protocol's encoder writes for the same response (the tests
//! compare the two).

use std::io::IoSlice;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The newest Fetch version this encoder writes.
pub(super) const MAX_VERSION: i16 = 12;

/// One partition's answer.
#[derive(Debug, Clone)]
pub(super) struct Partition {
    /// The partition index.
    pub index: i32,
    /// 0, or UNKNOWN_TOPIC_OR_PARTITION.
    pub error_code: i16,
    /// High watermark, last stable offset alike (no transactions here).
    pub high_watermark: i64,
    /// The batches, as the log holds them.
    pub records: Bytes,
}

/// One topic's answer.
#[derive(Debug, Clone)]
pub(super) struct Topic {
    /// The topic name, as the request named it.
    pub name: Bytes,
    /// Its partitions, in request order.
    pub partitions: Vec<Partition>,
}

/// Builds the segments: the small fields go to `head`, which is cut off
/// before each record set.
struct Segments {
    done: Vec<Bytes>,
    head: BytesMut,
    flexible: bool,
}

impl Segments {
    fn array_len(&mut self, n: usize) {
        if self.flexible {
            put_varint(&mut self.head, n as u64 + 1);
        } else {
            self.head.put_i32(n as i32);
        }
    }

    fn tags(&mut self) {
        if self.flexible {
            self.head.put_u8(0);
        }
    }

    fn string(&mut self, s: &[u8]) {
        if self.flexible {
            put_varint(&mut self.head, s.len() as u64 + 1);
        } else {
            self.head.put_i16(s.len() as i16);
        }
        self.head.put_slice(s);
    }

    fn records(&mut self, records: &Bytes) {
        if self.flexible {
            put_varint(&mut self.head, records.len() as u64 + 1);
        } else {
            self.head.put_i32(records.len() as i32);
        }
        if !records.is_empty() {
            let head = self.head.split().freeze();
            self.done.push(head);
            self.done.push(records.clone());
        }
    }
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// The whole response frame (size prefix, header, body) for Fetch
/// `version` (4..=12), in segments whose concatenation is the frame.
pub(super) fn encode(correlation_id: i32, version: i16, topics: &[Topic]) -> Vec<Bytes> {
    debug_assert!((4..=MAX_VERSION).contains(&version));
    let flexible = version >= 12;
    let mut s = Segments {
        done: Vec::with_capacity(2 + 2 * topics.iter().map(|t| t.partitions.len()).sum::<usize>()),
        head: BytesMut::with_capacity(256),
        flexible,
    };
    s.head.put_i32(0); // the size, patched below
    s.head.put_i32(correlation_id);
    s.tags(); // response header v1 from Fetch v12
    s.head.put_i32(0); // throttle_time_ms
    if version >= 7 {
        s.head.put_i16(0); // error_code
        s.head.put_i32(0); // session_id: no fetch sessions here
    }
    s.array_len(topics.len());
    for t in topics {
        s.string(&t.name);
        s.array_len(t.partitions.len());
        for p in &t.partitions {
            s.head.put_i32(p.index);
            s.head.put_i16(p.error_code);
            s.head.put_i64(p.high_watermark);
            s.head.put_i64(p.high_watermark); // last_stable_offset
            if version >= 5 {
                s.head.put_i64(0); // log_start_offset
            }
            s.array_len(0); // aborted_transactions: none
            if version >= 11 {
                s.head.put_i32(-1); // preferred_read_replica
            }
            s.records(&p.records);
            s.tags();
        }
        s.tags();
    }
    s.tags();
    let tail = s.head.split().freeze();
    s.done.push(tail);
    let size: usize = s.done.iter().map(Bytes::len).sum::<usize>() - 4;
    // The first segment starts with the size prefix: rewrite it in a copy of
    // that (small) segment.
    let mut first = BytesMut::from(&s.done[0][..]);
    first[..4].copy_from_slice(&(size as i32).to_be_bytes());
    s.done[0] = first.freeze();
    s.done
}

/// Writes `segments` in as few vectored writes as the socket takes.
pub(super) async fn write_all(socket: &mut TcpStream, segments: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = segments.iter().map(|b| IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        let n = socket.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use sluice_wire::protocol::{encode_response_body, encode_response_frame};

    fn sample() -> Vec<Topic> {
        vec![
            Topic {
                name: Bytes::from_static(b"bench"),
                partitions: vec![
                    Partition {
                        index: 0,
                        error_code: 0,
                        high_watermark: 1234,
                        records: Bytes::from(vec![7u8; 300]),
                    },
                    Partition {
                        index: 1,
                        error_code: 0,
                        high_watermark: 99,
                        records: Bytes::new(),
                    },
                    Partition {
                        index: 2,
                        error_code: 0,
                        high_watermark: 5,
                        records: Bytes::from(vec![9u8; 200]),
                    },
                ],
            },
            Topic {
                name: Bytes::from_static(b"other"),
                partitions: vec![Partition {
                    index: 4,
                    error_code: 3,
                    high_watermark: -1,
                    records: Bytes::new(),
                }],
            },
        ]
    }

    /// The same response built with kafka-protocol's structs.
    fn reference(topics: &[Topic]) -> FetchResponse {
        FetchResponse::default().with_responses(
            topics
                .iter()
                .map(|t| {
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(
                            StrBytes::from_utf8(t.name.clone()).expect("utf-8"),
                        ))
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    PartitionData::default()
                                        .with_partition_index(p.index)
                                        .with_error_code(p.error_code)
                                        .with_high_watermark(p.high_watermark)
                                        .with_last_stable_offset(p.high_watermark)
                                        .with_log_start_offset(0)
                                        .with_records(Some(p.records.clone()))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    #[test]
    fn segments_are_byte_for_byte_kafka_protocols_frame_in_every_version() {
        let topics = sample();
        for version in 4..=MAX_VERSION {
            let body = encode_response_body(
                &ResponseKind::Fetch(reference(&topics)),
                ApiKey::Fetch,
                version,
            )
            .unwrap();
            let want = encode_response_frame(77, ApiKey::Fetch, version, &body);
            let segments = encode(77, version, &topics);
            let got: Vec<u8> = segments.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(got, &want[..], "Fetch v{version}");
        }
    }

    #[test]
    fn record_sets_are_the_logs_own_bytes_not_copies() {
        let topics = sample();
        let segments = encode(1, 12, &topics);
        let records = &topics[0].partitions[0].records;
        assert!(
            segments
                .iter()
                .any(|s| s.as_ptr() == records.as_ptr() && s.len() == records.len()),
            "partition 0's batches are sent from the log's buffer"
        );
        // Head, records 0, middle, records 2, tail: empty record sets add no segment.
        assert_eq!(segments.len(), 5);
    }

    #[tokio::test]
    async fn vectored_writes_deliver_every_byte_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Big segments, so the socket takes them in several partial writes.
        let segments: Vec<Bytes> = (0..40u8)
            .map(|i| Bytes::from(vec![i; 64 * 1024 + usize::from(i)]))
            .collect();
        let want: Vec<u8> = segments.iter().flat_map(|b| b.iter().copied()).collect();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut socket = TcpStream::connect(addr).await.unwrap();
        write_all(&mut socket, &segments).await.unwrap();
        drop(socket);
        assert_eq!(reader.await.unwrap(), want);
    }
}
