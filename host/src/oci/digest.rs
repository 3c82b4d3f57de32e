//! A content digest as OCI writes it: `sha256:` and 64 lowercase hex
//! digits (the only algorithm Gavel accepts).

use sha2::{Digest as _, Sha256};
use std::fmt;

/// A `sha256:<hex>` digest, checked well-formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Parse `sha256:<64 lowercase hex>`; `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            return Err(format!(
                "`{text}` is not a sha256 digest (expected sha256:<64 hex digits>)"
            ));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "`{text}` is not a sha256 digest (expected sha256:<64 lowercase hex digits>)"
            ));
        }
        Ok(Digest(text.to_owned()))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        self.0.strip_prefix("sha256:").unwrap_or(&self.0)
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_sha256() {
        let good = Digest::of(b"x");
        assert_eq!(Digest::parse(good.as_str()), Ok(good.clone()));
        assert_eq!(good.hex().len(), 64);
        let rows = [
            "sha256:abc",
            "sha512:0000000000000000000000000000000000000000000000000000000000000000",
            "sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000",
            "sha256:g000000000000000000000000000000000000000000000000000000000000000",
            "",
        ];
        for row in rows {
            assert!(Digest::parse(row).is_err(), "{row}");
        }
    }
}
