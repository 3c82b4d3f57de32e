//! A throwaway OCI registry (Debian's `docker-registry`, distribution
//! 2.8) on a free loopback port, with its own config file and filesystem
//! storage in a temporary directory (so it can be killed and started
//! again on the same port with the same content), killed when dropped.
//!
//! Its binary: `$GAVEL_REGISTRY_BIN`, else `docker-registry` on PATH, else
//! `/opt/docker-registry/usr/bin/docker-registry` (what `apt-get download
//! docker-registry && dpkg -x docker-registry_*.deb /opt/docker-registry`
//! gives, without starting the packaged service). If it is missing, the
//! test fails naming the package, unless `GAVEL_SKIP_SERVICES=1` (then
//! [`RegistryServer::start`] returns `None`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

/// Where `dpkg -x` of the package puts the binary, looked at last.
pub const EXTRACTED: &str = "/opt/docker-registry/usr/bin/docker-registry";

/// A running `docker-registry`.
pub struct RegistryServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1 (0 until the first start has listened).
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("GAVEL_REGISTRY_BIN") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("docker-registry"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from(EXTRACTED)).filter(|p| p.is_file()))
}

impl RegistryServer {
    /// Start one on a port the kernel picks.
    pub fn start() -> Option<RegistryServer> {
        let Some(bin) = binary() else {
            if std::env::var("GAVEL_SKIP_SERVICES").as_deref() == Ok("1") {
                eprintln!("skipped: docker-registry is not installed (GAVEL_SKIP_SERVICES=1)");
                return None;
            }
            panic!(
                "docker-registry is not installed: apt-get install docker-registry, or `apt-get download docker-registry && dpkg -x docker-registry_*.deb /opt/docker-registry` (or set GAVEL_REGISTRY_BIN; GAVEL_SKIP_SERVICES=1 skips)"
            );
        };
        let mut server = RegistryServer {
            child: None,
            port: 0,
            dir: tempfile::tempdir().expect("temp dir"),
            bin,
        };
        server.restart();
        Some(server)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Start it again (on the same port and storage, after [`Self::kill`]).
    pub fn restart(&mut self) {
        let config = self.dir.path().join("config.yml");
        let store = self.dir.path().join("store");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{}\n  secret: gavel-test-secret\n",
                store.display(),
                self.port
            ),
        )
        .expect("write the registry config");
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker-registry");
        let stderr = child.stderr.take().expect("stderr");
        let (send, receive) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on ") {
                    let rest = &line[at + "listening on ".len()..];
                    let port = rest
                        .split(|c: char| !c.is_ascii_digit() && c != '.' && c != ':')
                        .next()
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    let _ = send.send(port);
                }
                if line.contains("level=fatal") || line.contains("level=panic") {
                    eprintln!("docker-registry: {line}");
                }
            }
        });
        let port = receive
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("docker-registry did not listen: {:?}", child.try_wait()));
        self.port = port;
        self.child = Some(child);
    }

    /// Kill it (SIGKILL) and wait.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.kill();
    }
}
