//! `-X key=value` configuration properties.

use sluice_fetch::FetchError;

/// Splits `-X key=value` arguments.
pub(crate) fn split_properties(props: &[String]) -> Result<Vec<(&str, &str)>, FetchError> {
    props
        .iter()
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
