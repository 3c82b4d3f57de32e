//! `oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]`: where a policy set lives.

use super::digest::Digest;
use super::error::OciError;
use std::fmt;

/// The scheme prefix that marks a policy source as a registry.
pub const SCHEME: &str = "oci://";

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path, e.g. `gavel/policies`.
    pub repository: String,
    /// The tag, if one is named.
    pub tag: Option<String>,
    /// The manifest digest, if one is pinned.
    pub digest: Option<Digest>,
}

impl OciReference {
    /// Parse a reference, with or without the `oci://` prefix.
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let bad = |problem: &str| OciError::BadReference {
            reference: text.to_owned(),
            problem: problem.to_owned(),
        };
        let rest = text.strip_prefix(SCHEME).unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|e| bad(&format!("has a bad digest: {e}")))?),
            ),
            None => (rest, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(bad(
                "has no repository (expected HOST[:PORT]/REPO[:TAG][@sha256:...])",
            ));
        };
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(bad("has no valid registry host (expected HOST[:PORT]/...)"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (path, None),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad(
                "has an invalid repository (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)",
            ));
        }
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                && tag.bytes().next().is_some_and(|b| b != b'.' && b != b'-');
            if !ok {
                return Err(bad(
                    "has an invalid tag (up to 128 letters, digits, `.`, `_`, `-`)",
                ));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("names neither a tag nor a digest"));
        }
        Ok(OciReference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Whether `text` is a registry reference rather than a directory.
    pub fn is_oci(text: &str) -> bool {
        text.starts_with(SCHEME)
    }

    /// The same repository at `tag` (no digest).
    pub fn at_tag(&self, tag: &str) -> Self {
        OciReference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository at `digest` (no tag).
    pub fn at_digest(&self, digest: &Digest) -> Self {
        OciReference {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// `host[:port]/repo`, as a signature's payload names it.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The registry host without the port.
    pub fn host(&self) -> &str {
        if let Some(rest) = self.registry.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        self.registry.split(':').next().unwrap_or(&self.registry)
    }

    /// Whether the registry is on this machine (127.0.0.0/8, localhost,
    /// ::1): those are spoken to over plain HTTP, every other over HTTPS.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost"
            || host == "::1"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The client library's reference.
    pub fn to_client(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.as_str().to_owned(),
            ),
            (Some(t), None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone(),
            ),
            (None, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                "latest".to_owned(),
            ),
        }
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    /// Rows: text, Ok((registry, repository, tag, digest?)) or the error fragment.
    #[test]
    fn parses_references() {
        type Row = (
            &'static str,
            Result<(&'static str, &'static str, Option<&'static str>, bool), &'static str>,
        );
        let with_digest = format!("oci://127.0.0.1:5000/gavel/p@{D}");
        let tag_and_digest = format!("localhost/p:v1@{D}");
        let rows: Vec<(String, Row)> = vec![
            (
                "oci://127.0.0.1:5000/gavel/p:v1".into(),
                ("", Ok(("127.0.0.1:5000", "gavel/p", Some("v1"), false))),
            ),
            (
                with_digest,
                ("", Ok(("127.0.0.1:5000", "gavel/p", None, true))),
            ),
            (
                tag_and_digest,
                ("", Ok(("localhost", "p", Some("v1"), true))),
            ),
            (
                "registry.example/p".into(),
                ("", Err("neither a tag nor a digest")),
            ),
            ("oci://p:v1".into(), ("", Err("no repository"))),
            ("oci://h/Upper:v1".into(), ("", Err("invalid repository"))),
            ("oci://h/p:.bad".into(), ("", Err("invalid tag"))),
            ("oci://h/p@sha256:abc".into(), ("", Err("bad digest"))),
            ("oci:///p:v1".into(), ("", Err("no valid registry host"))),
        ];
        for (text, (_, want)) in rows {
            let got = OciReference::parse(&text);
            match (want, got) {
                (Ok((registry, repository, tag, digest)), Ok(r)) => {
                    assert_eq!(r.registry, registry, "{text}");
                    assert_eq!(r.repository, repository, "{text}");
                    assert_eq!(r.tag.as_deref(), tag, "{text}");
                    assert_eq!(r.digest.is_some(), digest, "{text}");
                }
                (Err(fragment), Err(e)) => {
                    assert!(e.to_string().contains(fragment), "{text}: {e}")
                }
                (want, got) => panic!("{text}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn only_loopback_registries_are_plain_http() {
        let rows = [
            ("127.0.0.1:5000/p:v", true),
            ("localhost:5000/p:v", true),
            ("[::1]:5000/p:v", true),
            ("127.9.9.9/p:v", true),
            ("10.0.0.1:5000/p:v", false),
            ("registry.example/p:v", false),
            ("localhost.example/p:v", false),
        ];
        for (text, loopback) in rows {
            assert_eq!(
                OciReference::parse(text).unwrap().is_loopback(),
                loopback,
                "{text}"
            );
        }
    }
}
