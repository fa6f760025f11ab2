//! Reading a few fields of a JSON document in one pass, without building
//! the document: the fields asked for are captured (strings borrowed from
//! the record's bytes when they hold no escapes), everything else is only
//! checked and skipped. The built-in computations read one or two fields
//! of every record; building a `serde_json::Value` for each (a map and a
//! string per field) cost more than the rest of the batch job together.
//!
//! What a path finds is exactly what `serde_json::Value` and
//! [`super::field`] find: a dotted path walks objects only, a key that
//! appears twice in an object counts its last value (as `Value`'s map
//! does), and bytes that are not one JSON document find nothing.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// A field's value, as the computations read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// `null`.
    Null,
    /// A number, as `serde_json` holds it (so it prints the same).
    Number(Number),
    /// A string, borrowed from the document when it has no escapes.
    Str(Cow<'a, str>),
    /// `true`/`false`, an array or an object.
    Other(Value),
}

impl Field<'_> {
    /// The field as a number: JSON numbers, and strings holding one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Field::Number(n) => n.as_f64(),
            Field::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The field as a grouping key: strings as they are, `null` as none,
    /// other values as their JSON text.
    pub fn key(&self) -> Option<String> {
        match self {
            Field::Null => None,
            Field::Number(n) => Some(n.to_string()),
            Field::Str(s) => Some(s.to_string()),
            Field::Other(v) => Some(v.to_string()),
        }
    }

    fn from_value(v: &Value) -> Field<'static> {
        match v {
            Value::Null => Field::Null,
            Value::Number(n) => Field::Number(n.clone()),
            Value::String(s) => Field::Str(Cow::Owned(s.clone())),
            other => Field::Other(other.clone()),
        }
    }
}

/// Paths split at their dots, ready for [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths(Vec<Vec<String>>);

impl Paths {
    /// The dotted `paths`, in the order [`extract`] answers them.
    pub fn new<S: AsRef<str>>(paths: &[S]) -> Self {
        Paths(
            paths
                .iter()
                .map(|p| p.as_ref().split('.').map(str::to_string).collect())
                .collect(),
        )
    }

    /// How many paths.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The value at each of `paths` in the JSON document `doc` (`None` where
/// the path finds nothing), or `None` when `doc` is not one JSON document.
pub fn extract<'a>(doc: &'a [u8], paths: &Paths) -> Option<Vec<Option<Field<'a>>>> {
    let mut out = vec![None; paths.len()];
    if paths.len() > 64 {
        // More paths than the walk's bit set holds: build the document.
        let v: Value = serde_json::from_slice(doc).ok()?;
        for (slot, path) in out.iter_mut().zip(&paths.0) {
            *slot = at(&v, path).map(Field::from_value);
        }
        return Some(out);
    }
    let mut de = serde_json::Deserializer::from_slice(doc);
    let all = if paths.is_empty() {
        0
    } else {
        u64::MAX >> (64 - paths.len())
    };
    Walk {
        paths: &paths.0,
        depth: 0,
        active: all,
        out: &mut out,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some(out)
}

fn at<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, part| v.get(part.as_str()))
}

/// Walks one value at `depth`, looking for the `active` paths below it.
struct Walk<'p, 'o, 'a> {
    paths: &'p [Vec<String>],
    depth: usize,
    active: u64,
    out: &'o mut [Option<Field<'a>>],
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let mut hits = 0u64;
            let mut leaf = 0u64;
            for (i, path) in self.paths.iter().enumerate() {
                if self.active & (1 << i) != 0 && path[self.depth] == *key {
                    hits |= 1 << i;
                    if path.len() == self.depth + 1 {
                        leaf |= 1 << i;
                    }
                }
            }
            if hits == 0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // A repeated key: its last value is the one that counts.
            for (i, slot) in self.out.iter_mut().enumerate() {
                if hits & (1 << i) != 0 {
                    *slot = None;
                }
            }
            let deeper = hits & !leaf;
            if deeper == 0 {
                let field = map.next_value_seed(FieldSeed)?;
                for (i, slot) in self.out.iter_mut().enumerate() {
                    if leaf & (1 << i) != 0 {
                        *slot = Some(field.clone());
                    }
                }
            } else if leaf == 0 {
                map.next_value_seed(Walk {
                    paths: self.paths,
                    depth: self.depth + 1,
                    active: deeper,
                    out: &mut *self.out,
                })?;
            } else {
                // One path ends here and another goes on below: rare, so the
                // value is built and both are read from it.
                let v: Value = map.next_value()?;
                for (i, slot) in self.out.iter_mut().enumerate() {
                    if leaf & (1 << i) != 0 {
                        *slot = Some(Field::from_value(&v));
                    } else if deeper & (1 << i) != 0 {
                        *slot = at(&v, &self.paths[i][self.depth + 1..]).map(Field::from_value);
                    }
                }
            }
        }
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}

/// A wanted field's value.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Field<'de>, E> {
        Ok(Field::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Field<'de>, E> {
        Ok(Field::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Field<'de>, E> {
        Number::from_f64(n)
            .map(Field::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(s.to_string())))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Field<'de>, S::Error> {
        let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Field::Other(v))
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Field<'de>, M::Error> {
        let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Field::Other(v))
    }
}

#[cfg(test)]
mod tests;
