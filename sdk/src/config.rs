//! Typed policy config: JSON from the operator's manifest, parsed with serde.

use serde::de::DeserializeOwned;

/// Why a config was refused. The message names the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl ConfigError {
    /// A config error about `key` (a dotted path such as `limits.default.max`).
    pub fn key(key: &str, problem: impl std::fmt::Display) -> Self {
        ConfigError(format!("config key `{key}`: {problem}"))
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Parse `text` (a JSON object) into `C`.
///
/// Unknown keys are refused at any depth, whether or not `C` says
/// `#[serde(deny_unknown_fields)]`, and every error names the key at fault.
pub fn parse_config<C: DeserializeOwned>(text: &str) -> Result<C, ConfigError> {
    let mut unknown: Vec<String> = Vec::new();
    let mut json = serde_json::Deserializer::from_str(text);
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(key_path(&path));
    let tracked = serde_ignored::Deserializer::new(&mut json, &mut on_unknown);
    let parsed: Result<C, _> = serde_path_to_error::deserialize(tracked);
    let config = match parsed {
        Ok(config) => config,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(if path == "." || path.is_empty() {
                ConfigError(format!("config: {inner}"))
            } else {
                ConfigError::key(&path, inner)
            });
        }
    };
    json.end()
        .map_err(|e| ConfigError(format!("config: {e}")))?;
    match unknown.first() {
        Some(key) => Err(ConfigError(format!("unknown config key `{key}`"))),
        None => Ok(config),
    }
}

/// A path as the operator wrote it: `limits.default.max`, `allowed[2]`.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => match key_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Limits {
        max: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Config {
        #[serde(default)]
        forbidden: Vec<String>,
        limits: Option<Limits>,
    }

    #[test]
    fn accepts_known_keys() {
        let c: Config = parse_config(r#"{"forbidden":["a"],"limits":{"max":1}}"#).unwrap();
        assert_eq!(c.forbidden, vec!["a"]);
        assert_eq!(c.limits, Some(Limits { max: 1.0 }));
    }

    #[test]
    fn names_unknown_top_level_key() {
        let e = parse_config::<Config>(r#"{"forbiden":["a"]}"#).unwrap_err();
        assert!(e.0.contains("`forbiden`"), "{e}");
    }

    #[test]
    fn names_unknown_nested_key() {
        let e = parse_config::<Config>(r#"{"limits":{"max":1,"maxx":2}}"#).unwrap_err();
        assert!(e.0.contains("`limits.maxx`"), "{e}");
    }

    #[test]
    fn names_key_with_wrong_type() {
        let e = parse_config::<Config>(r#"{"limits":{"max":"lots"}}"#).unwrap_err();
        assert!(e.0.contains("`limits.max`"), "{e}");
    }

    #[test]
    fn refuses_trailing_garbage() {
        assert!(parse_config::<Config>(r#"{} x"#).is_err());
    }
}
