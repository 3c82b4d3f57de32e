//! The PostgreSQL URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
//!
//! No TLS stack is built in, so `sslmode=require`, `verify-ca` and
//! `verify-full` are refused rather than silently downgraded; the default
//! (`prefer`) is taken as `disable`: use a private network or a tunnel.

use super::ShipError;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed database URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// The connection settings.
    pub config: tokio_postgres::Config,
    /// The URL for messages, its password masked.
    pub display: String,
}

/// Parse a `postgres://` (or `postgresql://`) URL. The error names what is
/// wrong and never shows a password.
pub fn parse_target(url: &str) -> Result<Target, ShipError> {
    let display = mask_password(url);
    let bad = |problem: String| ShipError::Url {
        url: display.clone(),
        problem,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad("expected postgres://USER@HOST:PORT/DATABASE".to_owned()));
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "sslmode" && !matches!(value, "disable" | "prefer" | "allow") {
                return Err(bad(format!(
                    "sslmode={value} needs TLS, which gavel does not build in for PostgreSQL: connect over a private network or a local tunnel (e.g. stunnel or an SSH forward) with sslmode=disable"
                )));
            }
        }
    }
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| bad(e.to_string()))?;
    if config.get_hosts().is_empty() {
        return Err(bad(
            "no host: expected postgres://USER@HOST:PORT/DATABASE".to_owned()
        ));
    }
    if config
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Tcp(name) if name.is_empty()))
    {
        return Err(bad("the host is empty".to_owned()));
    }
    if config.get_user().is_none_or(str::is_empty) {
        return Err(bad(
            "no user: expected postgres://USER@HOST:PORT/DATABASE".to_owned()
        ));
    }
    if config.get_dbname().is_none_or(str::is_empty) {
        return Err(bad(
            "no database: expected postgres://USER@HOST:PORT/DATABASE".to_owned(),
        ));
    }
    config.ssl_mode(SslMode::Disable);
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("gavel");
    Ok(Target { config, display })
}

/// The URL with any password replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_accepted_or_refused_with_the_reason() {
        // (url, Ok or a fragment of the error)
        let cases: [(&str, Result<(), &str>); 12] = [
            ("postgres://gavel@127.0.0.1:5432/logs", Ok(())),
            ("postgresql://gavel:pw@db.internal/logs", Ok(())),
            ("postgres://gavel@127.0.0.1/logs?sslmode=disable", Ok(())),
            ("postgres://gavel@127.0.0.1/logs?sslmode=prefer", Ok(())),
            (
                "postgres://gavel@127.0.0.1/logs?sslmode=require",
                Err("sslmode=require needs TLS"),
            ),
            (
                "postgres://gavel@h/logs?sslmode=verify-full",
                Err("sslmode=verify-full needs TLS"),
            ),
            (
                "postgres://gavel@h/logs?sslmode=verify-ca",
                Err("sslmode=verify-ca needs TLS"),
            ),
            ("mysql://gavel@h/logs", Err("expected postgres://")),
            ("gavel@h/logs", Err("expected postgres://")),
            ("postgres://h:5432/logs", Err("no user")),
            ("postgres://gavel@h:5432", Err("no database")),
            ("postgres://gavel@h:notaport/logs", Err("invalid")),
        ];
        for (url, expected) in cases {
            match (parse_target(url), expected) {
                (Ok(t), Ok(())) => {
                    assert_eq!(t.config.get_ssl_mode(), SslMode::Disable, "{url}");
                    assert!(!t.display.contains("pw"), "{}", t.display);
                }
                (Err(e), Err(fragment)) => {
                    let text = e.to_string();
                    assert!(text.contains(fragment), "{url}: {text}");
                }
                (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_masked() {
        for (url, shown) in [
            ("postgres://u:secret@h:1/db", "postgres://u:***@h:1/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://u:p@ss@h/db?x=1", "postgres://u:***@h/db?x=1"),
        ] {
            assert_eq!(mask_password(url), shown);
        }
    }
}
