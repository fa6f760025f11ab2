//! The RecordBatch v2 encoder, used by the producer, fixtures and the
//! replay and benchmark brokers.

use bytes::{BufMut, Bytes, BytesMut};

use super::Compression;
use super::compression::compress;
use super::varint::{varlong_len, write_varint, write_varlong};
use crate::error::Result;

/// Builds one RecordBatch v2.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    records: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    attributes: i16,
}

impl BatchBuilder {
    /// An empty batch compressed with `compression`.
    pub fn new(compression: Compression) -> Self {
        BatchBuilder {
            compression,
            records: Vec::new(),
            count: 0,
            base_timestamp: None,
            max_timestamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            attributes: 0,
        }
    }

    /// Marks the batch as written by an idempotent producer.
    pub fn idempotent(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> &mut Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction of `producer_id`.
    pub fn transactional(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> &mut Self {
        self.idempotent(producer_id, producer_epoch, base_sequence);
        self.attributes |= 0x10;
        self
    }

    /// Sets the partition leader epoch (brokers set it on append).
    pub fn leader_epoch(&mut self, epoch: i32) -> &mut Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// A control batch holding one transaction marker (COMMIT or ABORT), as
    /// the transaction coordinator writes it.
    pub fn control_marker(
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        timestamp: i64,
    ) -> BatchBuilder {
        let mut b = BatchBuilder::new(Compression::None);
        b.transactional(producer_id, producer_epoch, -1);
        b.attributes |= 0x20;
        let key = [0u8, 0, 0, u8::from(commit)];
        let value = [0u8, 0, 0, 0, 0, 0];
        b.push(timestamp, Some(&key), Some(&value), &[]);
        b
    }

    /// How many records were pushed.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True before the first push.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Uncompressed bytes of the records so far.
    pub fn size(&self) -> usize {
        self.records.len()
    }

    /// Appends a record with the next offset.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> &mut Self {
        let base = *self.base_timestamp.get_or_insert(timestamp);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let delta = timestamp - base;
        let offset_delta = self.count;
        let field = |b: Option<&[u8]>| b.map_or(1, |b| varlong_len(b.len() as i64) + b.len());
        let mut body = 1
            + varlong_len(delta)
            + varlong_len(i64::from(offset_delta))
            + field(key)
            + field(value);
        body += varlong_len(headers.len() as i64);
        for (k, v) in headers {
            body += varlong_len(k.len() as i64) + k.len() + field(*v);
        }
        let out = &mut self.records;
        out.reserve(body + 5);
        write_varint(out, body as i32);
        out.push(0);
        write_varlong(out, delta);
        write_varint(out, offset_delta);
        write_opt(out, key);
        write_opt(out, value);
        write_varint(out, headers.len() as i32);
        for (k, v) in headers {
            write_varint(out, k.len() as i32);
            out.extend_from_slice(k);
            write_opt(out, *v);
        }
        self.count += 1;
        self
    }

    /// The encoded batch with `base_offset`.
    pub fn build(&self, base_offset: i64) -> Result<Bytes> {
        let records = compress(self.compression, &self.records)?;
        let mut out = BytesMut::with_capacity(61 + records.len());
        out.put_i64(base_offset);
        out.put_i32((49 + records.len()) as i32);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2);
        out.put_u32(0); // CRC, filled in below
        out.put_i16(self.attributes | i16::from(self.compression.id()));
        out.put_i32((self.count - 1).max(0));
        let base = self.base_timestamp.unwrap_or(-1);
        out.put_i64(base);
        out.put_i64(if self.count == 0 {
            -1
        } else {
            self.max_timestamp
        });
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.count);
        out.put_slice(&records);
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
}

fn write_opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}
