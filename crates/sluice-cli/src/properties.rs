//! Configuration properties from the three places the CLI reads them, in
//! the order they apply (a later one wins):
//!
//! 1. `-F FILE` (or `SLUICE_CONFIG=FILE`): a librdkafka-style properties
//!    file, kcat's `-F`: `key=value` lines, `#` and `!` start comments;
//! 2. the environment: `SLUICE_` and a security key in capitals with `_`
//!    for `.` (`SLUICE_SASL_PASSWORD`, `SLUICE_SECURITY_PROTOCOL`,
//!    `SLUICE_SSL_CA_LOCATION`...), so that secrets need not be on the
//!    command line; other `SLUICE_` variables are not configuration and are
//!    left alone;
//! 3. `-X key=value` on the command line.
//!
//! Every subcommand takes the keys through [`split_properties`]; a key the
//! subcommand does not know is an error, wherever it came from.

use std::path::Path;
use std::sync::OnceLock;

use sluice_fetch::FetchError;
use sluice_wire::security::SECURITY_KEYS;

/// What `-F` and the environment give, set once at start by [`load`].
static BASE: OnceLock<Vec<String>> = OnceLock::new();

/// Reads the properties file (`file`, else `SLUICE_CONFIG`) and the
/// `SLUICE_` security variables; they come before `-X` from then on.
pub fn load(file: Option<&Path>) -> Result<(), FetchError> {
    let from_env = std::env::var_os("SLUICE_CONFIG").map(std::path::PathBuf::from);
    let mut base = match file.or(from_env.as_deref()) {
        Some(path) => read_file(path)?,
        None => Vec::new(),
    };
    base.extend(from_environment(std::env::vars()));
    let _ = BASE.set(base);
    Ok(())
}

/// Reads a properties file into `key=value` strings.
fn read_file(path: &Path) -> Result<Vec<String>, FetchError> {
    let text = std::fs::read_to_string(path).map_err(|e| FetchError::Config {
        key: "-F".into(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    parse_file(&text).map_err(|(line, message)| FetchError::Config {
        key: "-F".into(),
        message: format!("{}:{line}: {message}", path.display()),
    })
}

/// Parses properties text: `key=value` lines (spaces around the key and
/// the value trimmed), blank lines and `#`/`!` comments skipped. An error
/// gives the line number.
fn parse_file(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut props = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            // The line is not echoed: it may hold a secret written another way
            // (`sasl.password: ...`).
            return Err((i + 1, "expected key=value".into()));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err((i + 1, "a line with no key before '='".into()));
        }
        props.push(format!("{key}={}", value.trim()));
    }
    Ok(props)
}

/// The security keys set in the environment as `SLUICE_KEY_IN_CAPITALS`.
fn from_environment(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let mut props: Vec<String> = vars
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("SLUICE_")?;
            let key = rest.to_ascii_lowercase().replace('_', ".");
            SECURITY_KEYS
                .contains(&key.as_str())
                .then(|| format!("{key}={value}"))
        })
        .collect();
    // The environment has no order: make one, so runs are repeatable.
    props.sort();
    props
}

/// Splits `key=value` properties: those of `-F` and the environment first,
/// then `props` (the `-X` arguments), so a later one wins when the caller
/// sets them in order.
pub(crate) fn split_properties(props: &[String]) -> Result<Vec<(&str, &str)>, FetchError> {
    let base: &'static [String] = BASE.get().map_or(&[], Vec::as_slice);
    base.iter()
        .chain(props)
        .map(|prop| {
            prop.split_once('=')
                .map(|(k, v)| (k.trim(), v))
                .ok_or_else(|| FetchError::Config {
                    key: prop.clone(),
                    message: "expected key=value".into(),
                })
        })
        .collect()
}

/// The properties a subcommand applies, in order: [`split_properties`]'s,
/// then `bootstrap.servers` from `-b` (or `SLUICE_BROKERS`), which wins
/// over a file's. An error when no broker is named anywhere.
pub(crate) fn settings<'a>(
    brokers: Option<&'a str>,
    props: &'a [String],
) -> Result<Vec<(&'a str, &'a str)>, FetchError> {
    let mut pairs = split_properties(props)?;
    match brokers {
        Some(b) => pairs.push(("bootstrap.servers", b)),
        None if pairs
            .iter()
            .any(|(k, _)| matches!(*k, "bootstrap.servers" | "metadata.broker.list")) => {}
        None => {
            return Err(FetchError::Config {
                key: "bootstrap.servers".into(),
                message: "no broker named: give -b HOST:PORT, SLUICE_BROKERS, or \
                          bootstrap.servers in -F FILE or -X"
                    .into(),
            });
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_file_gives_its_pairs_in_order() {
        let text = "# kcat -F style\n\nbootstrap.servers = a:9092,b:9092\n! also a comment\n\
                    sasl.password=p=w=d\n  client.id=x  \n";
        assert_eq!(
            parse_file(text).unwrap(),
            vec![
                "bootstrap.servers=a:9092,b:9092",
                "sasl.password=p=w=d",
                "client.id=x"
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let (line, message) = parse_file("a=1\nsasl.password: hunter2\n").unwrap_err();
        assert_eq!(line, 2);
        assert_eq!(message, "expected key=value");
        assert_eq!(parse_file("=1").unwrap_err().0, 1);
    }

    #[test]
    fn brokers_from_the_flag_win_and_one_source_is_needed() {
        let props = vec!["bootstrap.servers=file:9092".to_string()];
        assert_eq!(
            settings(Some("flag:9092"), &props).unwrap().last(),
            Some(&("bootstrap.servers", "flag:9092"))
        );
        assert_eq!(
            settings(None, &props).unwrap(),
            vec![("bootstrap.servers", "file:9092")]
        );
        let err = settings(None, &[]).unwrap_err().to_string();
        assert!(err.contains("-b HOST:PORT"), "{err}");
    }

    #[test]
    fn only_security_keys_come_from_the_environment() {
        let vars = [
            ("SLUICE_SASL_PASSWORD", "s3cret"),
            ("SLUICE_SECURITY_PROTOCOL", "SASL_SSL"),
            ("SLUICE_SSL_CA_LOCATION", "/ca.pem"),
            // Not configuration: the test suite's and scripts' own variables.
            ("SLUICE_BOOTSTRAP", "127.0.0.1:9092"),
            ("SLUICE_SASL_BOOTSTRAP", "127.0.0.1:9093"),
            ("SASL_PASSWORD", "no prefix"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            from_environment(vars.into_iter()),
            vec![
                "sasl.password=s3cret",
                "security.protocol=SASL_SSL",
                "ssl.ca.location=/ca.pem"
            ]
        );
    }
}
