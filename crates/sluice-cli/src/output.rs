//! How records are printed: raw values one a line, or one JSON object a line.

use std::io::{self, Write};

use base64::Engine;
use sluice_fetch::record::ConsumerRecordRef;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The value's bytes and a newline (nothing for a null value).
    Value,
    /// `{"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..,"value":..,"headers":[[k,v],..]}`
    Json,
}

/// Writes one record given as a view (a [`sluice_fetch::PolledBatch`]'s).
pub fn write_record_ref(
    out: &mut impl Write,
    record: ConsumerRecordRef<'_>,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Value => {
            if let Some(v) = record.value {
                out.write_all(v)?;
            }
            out.write_all(b"\n")
        }
        Format::Json => {
            out.write_all(b"{\"topic\":")?;
            json_str(out, record.topic)?;
            write!(
                out,
                ",\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":",
                record.partition, record.offset, record.timestamp
            )?;
            json_bytes(out, record.key)?;
            out.write_all(b",\"value\":")?;
            json_bytes(out, record.value)?;
            out.write_all(b",\"headers\":[")?;
            for (i, h) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"[")?;
                json_bytes(out, Some(h.key))?;
                out.write_all(b",")?;
                json_bytes(out, h.value)?;
                out.write_all(b"]")?;
            }
            out.write_all(b"]}\n")
        }
    }
}

fn json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

/// `null`, a JSON string when the bytes are UTF-8, else `{"base64":"..."}`.
fn json_bytes(out: &mut impl Write, b: Option<&[u8]>) -> io::Result<()> {
    match b {
        None => out.write_all(b"null"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => json_str(out, s),
            Err(_) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                write!(out, "{{\"base64\":\"{encoded}\"}}")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use sluice_fetch::record::ConsumerRecord;

    use super::*;
    use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, RecordDecoder};

    fn record(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> ConsumerRecord {
        let mut b = BatchBuilder::new(Compression::None);
        b.push(1234, key, value, headers);
        let batch = RecordDecoder::new(DecodeOptions::default())
            .decode_batches(b.build(7).unwrap())
            .unwrap()
            .remove(0);
        let r = batch.records().next().unwrap().unwrap();
        ConsumerRecord::new("t\"x".into(), 2, r)
    }

    fn render(r: &ConsumerRecord, f: Format) -> String {
        let mut out = Vec::new();
        write_record_ref(&mut out, r.view(), f).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_escape_and_mark_binary() {
        let r = record(
            Some(b"k\n"),
            Some("d\u{e9}j\u{e0}".as_bytes()),
            &[
                (b"h", Some(b"v")),
                (b"h", None),
                (b"bin", Some(&[0xff, 0x00])),
            ],
        );
        let line = render(&r, Format::Json);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"topic": "t\"x", "partition": 2, "offset": 7, "timestamp": 1234, "key": "k\n", "value": "d\u{e9}j\u{e0}",
                "headers": [["h", "v"], ["h", null], ["bin", {"base64": "/wA="}]]})
        );
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn json_nulls_and_empty_headers() {
        let r = record(None, None, &[]);
        let v: serde_json::Value =
            serde_json::from_str(render(&r, Format::Json).trim_end()).unwrap();
        assert_eq!(v["key"], serde_json::Value::Null);
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["headers"], serde_json::json!([]));
    }

    #[test]
    fn plain_output_is_the_value_and_a_newline() {
        assert_eq!(
            render(&record(None, Some(b"hello"), &[]), Format::Value),
            "hello\n"
        );
        assert_eq!(render(&record(None, None, &[]), Format::Value), "\n");
    }
}
