//! Why a policy directory could not be loaded. Every error names the file,
//! the policy (when there is one) and the problem.

use std::path::PathBuf;

/// A policy directory that cannot go live.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A problem with the manifest as a whole.
    #[error("{}: {problem}", file.display())]
    Manifest {
        /// The manifest file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A problem with one `[[policy]]` entry or its component.
    #[error("{}: policy `{policy}`: {problem}", file.display())]
    Policy {
        /// The manifest file.
        file: PathBuf,
        /// The policy's name (or its position when it has no name).
        policy: String,
        /// What is wrong.
        problem: String,
    },
}

impl LoadError {
    /// The problem, without the file and policy.
    pub fn problem(&self) -> &str {
        match self {
            LoadError::Manifest { problem, .. } | LoadError::Policy { problem, .. } => problem,
        }
    }
}
