//! Built-in batch computations for cleaning, analysing and aggregating JSON
//! events: `count`, `stats:FIELD`, `sum-by:KEYFIELD:FIELD`, `dedupe:FIELD`
//! and `filter`. Each is a plain function over records that an application
//! can call itself; [`Computation`] parses the CLI's `--compute` spec and
//! gives a batch's result as a JSON object.
//!
//! Fields are top-level keys of a record's JSON value, or dotted paths
//! (`order.amount`). Records whose value is not JSON, or lacks the field,
//! are counted as `skipped`, never silently folded in.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use serde_json::{Map, Value, json};
use sluice_fetch::record::ConsumerRecordRef;

use crate::error::BatchError;

mod fields;

pub use fields::{Field, Paths, extract};

/// A computation a batch can run, parsed from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computation {
    /// `count`: records per key (a null key counts under `null`).
    Count,
    /// `stats:FIELD`: count, sum, min, max and mean of a numeric field.
    Stats(String),
    /// `sum-by:KEYFIELD:FIELD`: the sum of FIELD per value of KEYFIELD.
    SumBy(String, String),
    /// `dedupe:FIELD`: records with a FIELD value seen earlier in the batch
    /// are duplicates.
    Dedupe(String),
    /// `filter`: records whose value is not a JSON object are rejected.
    Filter,
}

impl FromStr for Computation {
    type Err = BatchError;

    fn from_str(spec: &str) -> Result<Self, BatchError> {
        let bad = |message: &str| BatchError::Spec {
            spec: spec.to_string(),
            message: message.to_string(),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let field = |s: &str| {
            if s.is_empty() {
                Err(bad("empty field name"))
            } else {
                Ok(s.to_string())
            }
        };
        match parts.as_slice() {
            ["count"] => Ok(Computation::Count),
            ["filter"] => Ok(Computation::Filter),
            ["stats", f] => Ok(Computation::Stats(field(f)?)),
            ["dedupe", f] => Ok(Computation::Dedupe(field(f)?)),
            ["sum-by", k, f] => Ok(Computation::SumBy(field(k)?, field(f)?)),
            _ => Err(bad(
                "expected count, stats:FIELD, sum-by:KEYFIELD:FIELD, dedupe:FIELD or filter",
            )),
        }
    }
}

impl std::fmt::Display for Computation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Computation::Count => write!(f, "count"),
            Computation::Stats(x) => write!(f, "stats:{x}"),
            Computation::SumBy(k, x) => write!(f, "sum-by:{k}:{x}"),
            Computation::Dedupe(x) => write!(f, "dedupe:{x}"),
            Computation::Filter => write!(f, "filter"),
        }
    }
}

impl Computation {
    /// The computation's result over `records` (a [`Batch`](crate::Batch)'s
    /// `iter()`, or `records.iter().map(ConsumerRecord::view)` for owned
    /// records), as a JSON object.
    ///
    /// [`ConsumerRecord::view`]: sluice_fetch::record::ConsumerRecord::view
    pub fn run<'r>(
        &self,
        records: impl IntoIterator<Item = ConsumerRecordRef<'r>>,
    ) -> Map<String, Value> {
        let object = match self {
            Computation::Count => json!({ "counts": count(records) }),
            Computation::Stats(field) => {
                serde_json::to_value(stats(records, field)).unwrap_or_default()
            }
            Computation::SumBy(key, field) => {
                let (sums, skipped) = sum_by(records, key, field);
                json!({ "sums": sums, "skipped": skipped })
            }
            Computation::Dedupe(field) => {
                let (mut unique, mut all) = (0, 0);
                for _ in dedupe_iter(records, field, &mut all) {
                    unique += 1;
                }
                json!({ "unique": unique, "duplicates": all - unique })
            }
            Computation::Filter => {
                let (valid, invalid) = filter(records);
                json!({ "valid": valid.len(), "invalid": invalid.len() })
            }
        };
        match object {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// A record's value parsed as JSON, if it is.
pub fn json_value(record: &ConsumerRecordRef<'_>) -> Option<Value> {
    serde_json::from_slice(record.value?).ok()
}

/// The value at a dotted `path` of `value`.
pub fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| v.get(part))
}

/// Records per key; keys that are not UTF-8 are shown lossily, a null key
/// counts under `"null"`.
pub fn count<'r>(
    records: impl IntoIterator<Item = ConsumerRecordRef<'r>>,
) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in records {
        let key = r.key.map_or_else(
            || "null".to_string(),
            |k| String::from_utf8_lossy(k).into_owned(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Summary statistics of a numeric field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Records that had the field.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest value (`None` when count is 0).
    pub min: Option<f64>,
    /// The largest value.
    pub max: Option<f64>,
    /// sum / count.
    pub mean: Option<f64>,
    /// Records without a numeric value at the field (or not JSON).
    pub skipped: u64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            count: 0,
            sum: 0.0,
            min: None,
            max: None,
            mean: None,
            skipped: 0,
        }
    }

    fn add(&mut self, x: Option<f64>) {
        match x {
            Some(x) => {
                self.count += 1;
                self.sum += x;
                self.min = Some(self.min.map_or(x, |m| m.min(x)));
                self.max = Some(self.max.map_or(x, |m| m.max(x)));
            }
            None => self.skipped += 1,
        }
    }

    fn finish(mut self) -> Self {
        self.mean = (self.count > 0).then(|| self.sum / self.count as f64);
        self
    }
}

/// The fields at `paths` of a record's value, if it is JSON.
fn fields_of<'r>(record: &ConsumerRecordRef<'r>, paths: &Paths) -> Option<Vec<Option<Field<'r>>>> {
    extract(record.value?, paths)
}

/// Count, sum, min, max and mean of `field` over the records.
pub fn stats<'r>(records: impl IntoIterator<Item = ConsumerRecordRef<'r>>, path: &str) -> Stats {
    let paths = Paths::new(&[path]);
    let mut s = Stats::new();
    for r in records {
        s.add(fields_of(&r, &paths).and_then(|f| f[0].as_ref()?.number()));
    }
    s.finish()
}

/// The sum of `path` per value of `key_path`, and how many records lacked
/// either.
pub fn sum_by<'r>(
    records: impl IntoIterator<Item = ConsumerRecordRef<'r>>,
    key_path: &str,
    path: &str,
) -> (BTreeMap<String, f64>, u64) {
    let paths = Paths::new(&[key_path, path]);
    let mut sums = SumBy::default();
    for r in records {
        let fields = fields_of(&r, &paths);
        let f = |i: usize| fields.as_ref().and_then(|f| f[i].as_ref());
        sums.add(f(0), f(1));
    }
    (sums.sums, sums.skipped)
}

/// `sum-by` being folded.
#[derive(Default)]
struct SumBy {
    sums: BTreeMap<String, f64>,
    skipped: u64,
}

impl SumBy {
    /// One record's key and value fields (`None`: not there, or not JSON).
    fn add(&mut self, key: Option<&Field<'_>>, value: Option<&Field<'_>>) {
        match key.and_then(Field::key).zip(value.and_then(Field::number)) {
            Some((k, x)) => *self.sums.entry(k).or_insert(0.0) += x,
            None => self.skipped += 1,
        }
    }
}

/// The results of several computations over the same records, in order,
/// each exactly what [`Computation::run`] gives. Every record's value is
/// read once for all the `stats` and `sum-by` fields together (see
/// [`fold_values`]).
pub fn run_all<'r, I>(computations: &[Computation], records: I) -> Vec<Map<String, Value>>
where
    I: IntoIterator<Item = ConsumerRecordRef<'r>> + Clone,
{
    let values = records.clone().into_iter().map(|r| r.value);
    fold_values(computations, values)
        .into_iter()
        .zip(computations)
        .map(|(folded, c)| folded.unwrap_or_else(|| c.run(records.clone())))
        .collect()
}

/// The `stats` and `sum-by` computations among `computations`, over record
/// values (JSON documents; `None` is a tombstone), in one pass that reads
/// each value once for all their fields; `None` in place of the others
/// (`count`, `dedupe` and `filter` need whole records). For applications
/// (and benchmarks) that hold values rather than records.
pub fn fold_values<'v, 'c>(
    computations: &'c [Computation],
    values: impl IntoIterator<Item = Option<&'v [u8]>>,
) -> Vec<Option<Map<String, Value>>> {
    let mut wanted: Vec<&str> = Vec::new();
    let mut slot = |p: &'c str| match wanted.iter().position(|w| *w == p) {
        Some(i) => i,
        None => {
            wanted.push(p);
            wanted.len() - 1
        }
    };
    enum Fold {
        Stats(usize, Stats),
        SumBy(usize, usize, SumBy),
        Records,
    }
    let mut folds: Vec<Fold> = computations
        .iter()
        .map(|c| match c {
            Computation::Stats(p) => Fold::Stats(slot(p), Stats::new()),
            Computation::SumBy(k, p) => {
                let (k, p) = (slot(k), slot(p));
                Fold::SumBy(k, p, SumBy::default())
            }
            _ => Fold::Records,
        })
        .collect();
    if !wanted.is_empty() {
        let paths = Paths::new(&wanted);
        for value in values {
            let fields = value.and_then(|v| extract(v, &paths));
            let f = |i: usize| fields.as_ref().and_then(|f| f[i].as_ref());
            for fold in &mut folds {
                match fold {
                    Fold::Stats(i, s) => s.add(f(*i).and_then(Field::number)),
                    Fold::SumBy(k, p, s) => s.add(f(*k), f(*p)),
                    Fold::Records => {}
                }
            }
        }
    }
    folds
        .into_iter()
        .map(|fold| match fold {
            Fold::Stats(_, s) => Some(object(serde_json::to_value(s.finish()).unwrap_or_default())),
            Fold::SumBy(_, _, s) => Some(object(json!({ "sums": s.sums, "skipped": s.skipped }))),
            Fold::Records => None,
        })
        .collect()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The records whose `path` value was not seen earlier among `records`, in
/// order (records without the field are kept: nothing to compare).
pub fn dedupe<'r>(
    records: impl IntoIterator<Item = ConsumerRecordRef<'r>>,
    path: &str,
) -> Vec<ConsumerRecordRef<'r>> {
    dedupe_iter(records, path, &mut 0).collect()
}

/// [`dedupe`] as it goes, counting every record seen into `all`.
fn dedupe_iter<'r, 'a>(
    records: impl IntoIterator<Item = ConsumerRecordRef<'r>> + 'a,
    path: &'a str,
    all: &'a mut usize,
) -> impl Iterator<Item = ConsumerRecordRef<'r>> + 'a {
    let mut seen = HashSet::new();
    records.into_iter().filter(move |r| {
        *all += 1;
        match json_value(r).and_then(|v| field(&v, path).cloned()) {
            Some(v) => seen.insert(v.to_string()),
            None => true,
        }
    })
}

/// Splits records into those whose value is a JSON object and the rest.
pub fn filter<'r>(
    records: impl IntoIterator<Item = ConsumerRecordRef<'r>>,
) -> (Vec<ConsumerRecordRef<'r>>, Vec<ConsumerRecordRef<'r>>) {
    records
        .into_iter()
        .partition(|r| matches!(json_value(r), Some(Value::Object(_))))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sluice_wire::records::{Headers, TimestampType};

    use sluice_fetch::record::ConsumerRecord;

    use super::*;

    fn v(records: &[ConsumerRecord]) -> impl Iterator<Item = ConsumerRecordRef<'_>> + Clone {
        records.iter().map(ConsumerRecord::view)
    }

    fn rec(offset: i64, key: Option<&str>, value: &str) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Headers::default(),
        }
    }

    fn sample() -> Vec<ConsumerRecord> {
        vec![
            rec(0, Some("u1"), r#"{"id":1,"user":"u1","amount":10.5}"#),
            rec(1, Some("u2"), r#"{"id":2,"user":"u2","amount":"4"}"#),
            rec(2, Some("u1"), r#"{"id":1,"user":"u1","amount":-2}"#),
            rec(3, None, "not json"),
            rec(
                4,
                Some("u3"),
                r#"{"id":3,"user":"u3","order":{"amount":7}}"#,
            ),
        ]
    }

    #[test]
    fn specs_parse_and_print_back() {
        for spec in [
            "count",
            "stats:amount",
            "sum-by:user:amount",
            "dedupe:id",
            "filter",
        ] {
            assert_eq!(spec.parse::<Computation>().unwrap().to_string(), spec);
        }
        for bad in ["", "stats", "stats:", "sum-by:user", "avg:x", "count:x"] {
            assert!(
                matches!(bad.parse::<Computation>(), Err(BatchError::Spec { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn count_counts_keys_with_null_apart() {
        let c = count(v(&sample()));
        assert_eq!(
            c,
            BTreeMap::from([
                ("u1".into(), 2),
                ("u2".into(), 1),
                ("u3".into(), 1),
                ("null".into(), 1)
            ])
        );
    }

    #[test]
    fn stats_of_a_field_skip_what_lacks_it() {
        let s = stats(v(&sample()), "amount");
        assert_eq!(
            (s.count, s.sum, s.min, s.max, s.skipped),
            (3, 12.5, Some(-2.0), Some(10.5), 2)
        );
        assert_eq!(s.mean, Some(12.5 / 3.0));
        let nested = stats(v(&sample()), "order.amount");
        assert_eq!((nested.count, nested.sum), (1, 7.0));
        let none = stats(v(&[]), "amount");
        assert_eq!((none.count, none.mean, none.min), (0, None, None));
    }

    #[test]
    fn sum_by_groups_and_dedupe_and_filter_clean() {
        let (sums, skipped) = sum_by(v(&sample()), "user", "amount");
        assert_eq!(
            sums,
            BTreeMap::from([("u1".into(), 8.5), ("u2".into(), 4.0)])
        );
        assert_eq!(skipped, 2);
        let records = sample();
        let kept: Vec<i64> = dedupe(v(&records), "id").iter().map(|r| r.offset).collect();
        assert_eq!(kept, vec![0, 1, 3, 4]);
        let (valid, invalid) = filter(v(&records));
        assert_eq!((valid.len(), invalid[0].offset), (4, 3));
    }

    #[test]
    fn run_all_reads_each_record_once_and_gives_what_run_gives() {
        let computations: Vec<Computation> = [
            "stats:amount",
            "sum-by:user:amount",
            "count",
            "stats:order.amount",
            "sum-by:id:amount",
            "dedupe:id",
            "filter",
            "stats:amount",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut records = sample();
        records.push(rec(5, None, r#"{"id":4,"user":null,"amount":1e3}"#));
        records.push(rec(6, None, r#"{"id":5,"user":"u1","amount":"x"}"#));
        let all = run_all(&computations, v(&records));
        let one_by_one: Vec<_> = computations.iter().map(|c| c.run(v(&records))).collect();
        assert_eq!(all, one_by_one);
        assert_eq!(all[0]["count"], json!(4));
        assert_eq!(all[1]["sums"], json!({"u1": 8.5, "u2": 4.0}));
        assert_eq!(all[4]["sums"], json!({"1": 8.5, "2": 4.0, "4": 1000.0}));
    }

    #[test]
    fn run_gives_the_fields_the_cli_prints() {
        let out = Computation::Stats("amount".into()).run(v(&sample()));
        for k in ["count", "sum", "min", "max", "mean", "skipped"] {
            assert!(out.contains_key(k), "{k}");
        }
        assert_eq!(out["count"], json!(3));
        let out = Computation::Dedupe("id".into()).run(v(&sample()));
        assert_eq!(
            (out["unique"].clone(), out["duplicates"].clone()),
            (json!(4), json!(1))
        );
    }
}
