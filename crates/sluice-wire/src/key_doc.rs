//! The documentation of configuration keys: each configuration lists its
//! keys as [`KeyDoc`]s next to the code that parses them, and the
//! configuration reference in `docs/guide.md` is generated from those lists
//! (a test fails when the two differ), so the reference cannot drift from
//! the code.
//!
//! ```
//! use sluice_wire::key_doc::{markdown_table, Java, KeyDoc};
//!
//! const KEYS: &[KeyDoc] = &[KeyDoc {
//!     key: "client.id",
//!     aliases: &[],
//!     default: Some("sluice"),
//!     java: Java::Same,
//!     doc: "The name the broker logs for this client.",
//! }];
//! let table = markdown_table(KEYS);
//! assert!(table.contains("| `client.id` | `sluice` | same |  | The name the broker logs for this client. |"));
//! ```

use std::fmt::Write as _;

/// How the Java client names a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Java {
    /// The Java client has the same key.
    Same,
    /// The Java client's key for the same setting has another name.
    Named(&'static str),
    /// The Java client has no such key; librdkafka does (same name).
    LibrdkafkaOnly,
    /// Neither the Java client nor librdkafka has it: sluice's own.
    SluiceOnly,
}

/// One configuration key, documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key.
    pub key: &'static str,
    /// Other names accepted for it (librdkafka's, mostly).
    pub aliases: &'static [&'static str],
    /// The default as a value the key accepts (setting it changes nothing:
    /// the drift tests check that), or `None` when unset by default.
    pub default: Option<&'static str>,
    /// The Java client's name for it.
    pub java: Java,
    /// What it does, in one or two sentences.
    pub doc: &'static str,
}

impl KeyDoc {
    /// The key and its aliases.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.key).chain(self.aliases.iter().copied())
    }
}

/// A Markdown table of `keys`: key, default, the Java client's key, the
/// other accepted names, and what it does.
pub fn markdown_table(keys: &[KeyDoc]) -> String {
    let mut out = String::from(
        "| Key | Default | Java client | Also accepted | Meaning |\n|---|---|---|---|---|\n",
    );
    for k in keys {
        let default = k.default.map_or("(unset)".to_string(), |d| {
            if d.is_empty() {
                "(empty)".to_string()
            } else {
                format!("`{d}`")
            }
        });
        let java = match k.java {
            Java::Same => "same".to_string(),
            Java::Named(name) => format!("`{name}`"),
            Java::LibrdkafkaOnly => "— (librdkafka's)".to_string(),
            Java::SluiceOnly => "— (sluice's)".to_string(),
        };
        let aliases: Vec<String> = k.aliases.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(
            out,
            "| `{}` | {default} | {java} | {} | {} |",
            k.key,
            aliases.join(", "),
            k.doc.replace('|', "\\|"),
        );
    }
    out
}

/// The quoted strings before `=>` on the match arms of `source` (a
/// configuration's `set`): every key the code matches on, and values
/// matched in nested arms too. The drift tests keep those the
/// configuration accepts as keys and check each one is documented.
pub fn match_arm_strings(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for line in source.lines() {
        let line = line.trim_start();
        if !line.starts_with('"') {
            continue;
        }
        let Some((pattern, _)) = line.split_once("=>") else {
            continue;
        };
        for alternative in pattern.split('|') {
            let alternative = alternative.trim();
            if let Some(s) = alternative
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
            {
                found.push(s);
            }
        }
    }
    found
}

/// Checks `docs` against the configuration they document and returns what
/// is wrong (empty when all is well), for the drift tests of each
/// configuration:
/// - every documented default, set on a default configuration, is accepted
///   and changes nothing;
/// - every key and alias is accepted as a key (`set` does not answer
///   `Ok(false)`);
/// - every string `source` (the file with `set`) matches on that `set`
///   takes for a key is documented.
pub fn check_docs<C, E>(
    docs: &[KeyDoc],
    default: impl Fn() -> C,
    set: impl Fn(&mut C, &str, &str) -> Result<bool, E>,
    source: &str,
) -> Vec<String>
where
    C: PartialEq + std::fmt::Debug,
    E: std::fmt::Display,
{
    let mut problems = Vec::new();
    for doc in docs {
        for name in doc.names() {
            let value = doc.default.unwrap_or("x");
            let mut c = default();
            match set(&mut c, name, value) {
                Ok(false) => problems.push(format!("{name}: documented but not a key")),
                Ok(true) if doc.default.is_some() && c != default() => problems.push(format!(
                    "{name}: setting the documented default {value:?} changes the configuration"
                )),
                Err(e) if doc.default.is_some() => problems.push(format!(
                    "{name}: the documented default {value:?} is refused: {e}"
                )),
                _ => {}
            }
        }
    }
    for s in match_arm_strings(source) {
        let documented = docs.iter().any(|d| d.names().any(|n| n == s));
        if !documented && !matches!(set(&mut default(), s, ""), Ok(false)) {
            problems.push(format!("{s}: a key the code accepts has no KeyDoc"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_arms_give_their_strings() {
        let src = r#"
        match key {
            "a.b" | "c.d" => x = 1,
            "e" => {
                match value { "all" | "-1" => 2, _ => 3 }
            }
            _ => return Ok(false),
        }
        let s = "not.an.arm";
        "#;
        assert_eq!(match_arm_strings(src), vec!["a.b", "c.d", "e"]);
    }

    #[test]
    fn the_table_escapes_pipes_and_shows_unset_and_empty() {
        let keys = [
            KeyDoc {
                key: "a",
                aliases: &["b"],
                default: None,
                java: Java::Named("x"),
                doc: "one | two",
            },
            KeyDoc {
                key: "c",
                aliases: &[],
                default: Some(""),
                java: Java::SluiceOnly,
                doc: "d",
            },
        ];
        let table = markdown_table(&keys);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[2], "| `a` | (unset) | `x` | `b` | one \\| two |");
        assert_eq!(lines[3], "| `c` | (empty) | — (sluice's) |  | d |");
    }
}
