//! Policy test cases as data: the files `gavel test` runs.
//!
//! ```toml
//! component = "transaction_limit.wasm"   # looked up in the --policies directory
//!
//! [agents.financial-advisor]             # optional registry, as in policies.toml
//! risk_tier = 4
//!
//! [configs.default]                      # named configs
//! actions = ["execute_transaction"]
//!
//! [[case]]
//! name = "amount equal to max is approved"
//! config = "default"                     # a named config, or an inline [case.config] table;
//!                                        # neither: "default" if defined, else {}
//! request = { agent_id = "financial-advisor", action = "execute_transaction", amount = 1000 }
//! expect = "approve"                     # approve | deny | escalate | config-error
//! code = "over-limit"                    # required for deny and escalate, refused for approve
//! message_contains = ["..."]             # optional, each must appear in the reasons' messages
//! message_excludes = ["..."]             # optional, none may appear anywhere in the decision
//! error_contains = "limits.default.max"  # config-error only: a fragment of the rejection
//!
//! # Optional: the history the case starts from. Each step is decided, in
//! # order, through the same policy at `ago` before the case's request (whose
//! # timestamp is the case's "now"); it must be approved or escalated, and its
//! # charges are reserved. `outcome` reports what happened to it.
//! [[case.history]]
//! request = { agent_id = "financial-advisor", action = "execute_transaction", amount = 900 }
//! ago = "10m"                            # default "1s"
//! outcome = "completed"                  # optional: "completed" | "failed"
//! ```

use crate::bounded_read::read_regular_text;
use crate::identifier::{identifier_key, validate_identifier};
use crate::manifest::{AgentEntry, toml_to_json};
use crate::request::Request;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The largest case file read, in bytes.
pub const MAX_CASE_FILE_BYTES: u64 = 4 << 20;

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// The decision approves.
    Approve,
    /// The decision denies with `code`.
    Deny,
    /// The decision escalates with `code`.
    Escalate,
    /// The policy refuses its config at load.
    ConfigError,
}

/// One checked case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique within its file.
    pub name: String,
    /// The config, as JSON text.
    pub config: String,
    /// The request (absent for `config-error` cases).
    pub request: Option<Request>,
    /// The expected outcome.
    pub expect: Expect,
    /// The expected reason code, for deny and escalate.
    pub code: Option<String>,
    /// Fragments the reasons' messages must hold.
    pub message_contains: Vec<String>,
    /// Text that must appear nowhere in the decision.
    pub message_excludes: Vec<String>,
    /// A fragment of the config rejection, for `config-error`.
    pub error_contains: Option<String>,
    /// The history the case starts from, oldest first.
    pub history: Vec<HistoryStep>,
}

/// One prior action a case starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryStep {
    /// The request, decided through the case's policy.
    pub request: Request,
    /// How long before the case's request, in milliseconds.
    pub ago_ms: i64,
    /// What happened to it, if reported.
    pub outcome: Option<crate::log::OutcomeStatus>,
}

/// A parsed case file.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFile {
    /// The file.
    pub path: PathBuf,
    /// The component's file name, looked up in the policy directory.
    pub component: PathBuf,
    /// The registry the cases run with, keyed by
    /// [`identifier_key`] (as in the manifest).
    pub agents: BTreeMap<String, AgentEntry>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// A case file that cannot be used; names the file, the case and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct CaseFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong (prefixed with the case's name when it is one case).
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    component: PathBuf,
    #[serde(default)]
    agents: BTreeMap<String, AgentEntry>,
    #[serde(default)]
    configs: BTreeMap<String, toml::Table>,
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    config: Option<toml::Value>,
    request: Option<toml::Table>,
    expect: Expect,
    code: Option<String>,
    #[serde(default)]
    message_contains: Vec<String>,
    #[serde(default)]
    message_excludes: Vec<String>,
    error_contains: Option<String>,
    #[serde(default)]
    history: Vec<RawHistory>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    request: toml::Table,
    ago: Option<String>,
    outcome: Option<crate::log::OutcomeStatus>,
}

impl CaseFile {
    /// Read and check a case file (a regular file of at most
    /// [`MAX_CASE_FILE_BYTES`]).
    pub fn load(path: &Path) -> Result<Self, CaseFileError> {
        let text = read_regular_text(path, MAX_CASE_FILE_BYTES).map_err(|e| CaseFileError {
            path: path.to_path_buf(),
            problem: format!("the case file {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse case-file text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, CaseFileError> {
        let error = |problem: String| CaseFileError {
            path: path.to_path_buf(),
            problem,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| error(e.message().trim().to_owned()))?;
        let mut configs = BTreeMap::new();
        for (name, table) in raw.configs {
            let json = toml_to_json(toml::Value::Table(table), &format!("configs.{name}"))
                .map_err(&error)?;
            configs.insert(name, json.to_string());
        }
        let mut names = BTreeSet::new();
        let mut cases = Vec::new();
        for raw_case in raw.case {
            let name = raw_case.name.clone();
            if !names.insert(name.clone()) {
                return Err(error(format!("case `{name}`: duplicate case name")));
            }
            let case =
                check_case(raw_case, &configs).map_err(|p| error(format!("case `{name}`: {p}")))?;
            cases.push(case);
        }
        if cases.is_empty() {
            return Err(error("no [[case]] entries".to_owned()));
        }
        let mut agents = BTreeMap::new();
        for (id, entry) in raw.agents {
            validate_identifier(&id)
                .map_err(|e| error(format!("agent `{}`: the id {e}", id.escape_debug())))?;
            if agents.insert(identifier_key(&id), entry).is_some() {
                return Err(error(format!(
                    "agent `{id}`: another entry is the same agent (agent ids are matched regardless of ASCII case)"
                )));
            }
        }
        Ok(CaseFile {
            path: path.to_path_buf(),
            component: raw.component,
            agents,
            cases,
        })
    }
}

fn check_case(raw: RawCase, configs: &BTreeMap<String, String>) -> Result<Case, String> {
    let config = match raw.config {
        None => configs
            .get("default")
            .cloned()
            .unwrap_or_else(|| "{}".to_owned()),
        Some(toml::Value::String(name)) => configs
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("no config named `{name}` in [configs]"))?,
        Some(toml::Value::Table(table)) => {
            toml_to_json(toml::Value::Table(table), "config")?.to_string()
        }
        Some(_) => return Err("`config` must be a config name or a table".to_owned()),
    };
    let request = match (raw.expect, raw.request) {
        (Expect::ConfigError, Some(_)) => {
            return Err("a config-error case takes no request".to_owned());
        }
        (Expect::ConfigError, None) => None,
        (_, None) => return Err("`request` is required".to_owned()),
        (_, Some(table)) => {
            let json = toml_to_json(toml::Value::Table(table), "request")?;
            Some(Request::from_value(json).map_err(|e| e.to_string())?)
        }
    };
    match (raw.expect, &raw.code) {
        (Expect::Deny | Expect::Escalate, None) => {
            return Err("`code` is required for deny and escalate".to_owned());
        }
        (Expect::Approve | Expect::ConfigError, Some(_)) => {
            return Err("`code` is only for deny and escalate".to_owned());
        }
        _ => {}
    }
    if raw.error_contains.is_some() && raw.expect != Expect::ConfigError {
        return Err("`error_contains` is only for config-error".to_owned());
    }
    if !raw.history.is_empty() && raw.expect == Expect::ConfigError {
        return Err("a config-error case takes no history".to_owned());
    }
    let history = raw
        .history
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            let at = |p: String| format!("history[{i}]: {p}");
            let json = toml_to_json(toml::Value::Table(step.request), "request").map_err(at)?;
            let request = Request::from_value(json).map_err(|e| at(e.to_string()))?;
            let ago = step.ago.as_deref().unwrap_or("1s");
            let ago_ms = crate::service::parse_duration(ago)
                .map_err(|e| at(format!("ago: {e}")))
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))?;
            Ok(HistoryStep {
                request,
                ago_ms,
                outcome: step.outcome,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Case {
        name: raw.name,
        config,
        request,
        expect: raw.expect,
        code: raw.code,
        message_contains: raw.message_contains,
        message_excludes: raw.message_excludes,
        error_contains: raw.error_contains,
        history,
    })
}

/// Every case file under `path`: the file itself (anything but a
/// directory), or each `*.toml` in a directory named `tests` below it (skipping `target` and hidden
/// directories), in sorted order.
pub fn discover(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    // Anything but a directory is taken as a case file, and its loading
    // says what is wrong with it (a FIFO, a device).
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let in_tests = dir.file_name().is_some_and(|n| n == "tests");
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(p);
                }
            } else if in_tests && name.ends_with(".toml") {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<CaseFile, CaseFileError> {
        CaseFile::parse(text, Path::new("t.toml"))
    }

    const GOOD: &str = r#"
component = "x.wasm"
[agents.a]
risk_tier = 3
[configs.default]
actions = ["pay"]
[configs.other]
actions = ["send"]

[[case]]
name = "uses default"
request = { agent_id = "a", action = "pay", amount = 5 }
expect = "deny"
code = "over-limit"
message_contains = ["5"]

[[case]]
name = "named"
config = "other"
request = { agent_id = "a", action = "send", params = { body = "hi" } }
expect = "approve"

[[case]]
name = "inline bad config"
expect = "config-error"
error_contains = "max"
[case.config]
max = -1
"#;

    #[test]
    fn parses_every_shape() {
        let f = parse(GOOD).unwrap();
        assert_eq!(f.component, Path::new("x.wasm"));
        assert_eq!(f.agents["a"].risk_tier, 3);
        assert_eq!(f.cases[0].config, r#"{"actions":["pay"]}"#);
        assert_eq!(f.cases[0].request.as_ref().unwrap().amount, Some(5.0));
        assert_eq!(f.cases[1].config, r#"{"actions":["send"]}"#);
        assert_eq!(f.cases[2].config, r#"{"max":-1}"#);
        assert_eq!(f.cases[2].expect, Expect::ConfigError);
    }

    /// Broken files and a fragment of the error each must give.
    const BROKEN: &[(&str, &str)] = &[
        (
            "[[case]]\nname = \"a\"\nexpect = \"approve\"",
            "missing field `component`",
        ),
        ("component = \"x\"", "no [[case]] entries"),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"",
            "case `a`: `request` is required",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"deny\"\nrequest = {agent_id=\"a\",action=\"b\"}",
            "`code` is required",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"\ncode = \"c\"\nrequest = {agent_id=\"a\",action=\"b\"}",
            "`code` is only for",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"allow\"\nrequest = {agent_id=\"a\",action=\"b\"}",
            "unknown variant `allow`",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"\nconfig = \"nope\"\nrequest = {agent_id=\"a\",action=\"b\"}",
            "no config named `nope`",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"\nrequest = {agent_id=\"a\"}",
            "field `action`",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"\nrequest = {agent_id=\"a\",action=\"b\"}\n[[case]]\nname = \"a\"\nexpect = \"approve\"\nrequest = {agent_id=\"a\",action=\"b\"}",
            "duplicate case name",
        ),
        (
            "component = \"x\"\n[[case]]\nname = \"a\"\nexpect = \"approve\"\nreqest = {}",
            "unknown field `reqest`",
        ),
    ];

    #[test]
    fn broken_files_name_the_problem() {
        for (text, fragment) in BROKEN {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.starts_with("t.toml: "), "{err}");
            assert!(err.contains(fragment), "{text}: {err}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }
    }
}
