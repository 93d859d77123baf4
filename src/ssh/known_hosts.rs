//! Host-key trust: OpenSSH known_hosts files read the way `ssh` reads them.
//!
//! Supports plain and hashed (`|1|salt|hmac`) host fields, comma lists, `*`/`?` globs,
//! `!negation`, `[host]:port` for non-22 ports, and the `@revoked` marker
//! (`@cert-authority` lines are ignored: certificates are not accepted).
//! Invariants: a key is `Known` only if some non-revoked line names the host with exactly
//! that key; `Changed` names the first file and line that has another key of the same
//! algorithm for the host; unreadable lines are skipped, never trusted.

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::PublicKey;
use sha1::Sha1;
use std::path::{Path, PathBuf};

/// What the known_hosts files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    Known,
    Unknown,
    Changed { file: PathBuf, line: usize },
    Revoked { file: PathBuf, line: usize },
}

/// Checks `key` for `host:port` against `files`, in order.
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    let host_port = if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    };
    let mut changed = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let Some(entry) = parse_line(raw) else {
                continue;
            };
            if entry.marker == Some("@cert-authority") || !host_matches(&host_port, entry.hosts) {
                continue;
            }
            let Ok(recorded) = russh::keys::parse_public_key_base64(entry.key_base64) else {
                continue;
            };
            let same_key = recorded.key_data() == key.key_data();
            if entry.marker == Some("@revoked") {
                if same_key {
                    return HostKeyStatus::Revoked {
                        file: file.clone(),
                        line: line_no,
                    };
                }
                continue;
            }
            if same_key {
                return HostKeyStatus::Known;
            }
            if changed.is_none() && recorded.algorithm() == key.algorithm() {
                changed = Some(HostKeyStatus::Changed {
                    file: file.clone(),
                    line: line_no,
                });
            }
        }
    }
    changed.unwrap_or(HostKeyStatus::Unknown)
}

/// Appends `host:port key` to `file` (creating it), as `ssh` does with
/// `StrictHostKeyChecking=accept-new`.
pub fn record(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let encoded = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let host_field = if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    writeln!(f, "{host_field} {encoded}")
}

struct Entry<'a> {
    marker: Option<&'a str>,
    hosts: &'a str,
    key_base64: &'a str,
}

fn parse_line(raw: &str) -> Option<Entry<'_>> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut marker = None;
    if first.starts_with('@') {
        marker = Some(first);
        first = fields.next()?;
    }
    let _key_type = fields.next()?;
    let key_base64 = fields.next()?;
    Some(Entry {
        marker,
        hosts: first,
        key_base64,
    })
}

/// OpenSSH host-field matching: any positive pattern matches and no negated one does.
fn host_matches(host_port: &str, field: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_matches(host_port, hashed);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, host_port) {
                return false;
            }
        } else if glob(pattern, host_port) {
            matched = true;
        }
    }
    matched
}

fn hashed_matches(host_port: &str, salt_and_hash: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(host_port.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// `*` and `?` globbing, case-insensitive like OpenSSH host patterns.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHBwNb3yhxnh1S1ggc8E4G5e2eGnXbfVSl6yKwtu5Z5h";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("test key parses")
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn known_unknown_and_changed_with_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write(
            dir.path(),
            "kh",
            &format!(
                "# comment\n\n[10.0.0.1]:2222 ssh-ed25519 {KEY_A}\nbad line\nh2 ssh-ed25519 {KEY_A}\n"
            ),
        );
        let files = [f.clone()];
        assert_eq!(
            check(&files, "10.0.0.1", 2222, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "10.0.0.1", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "h2", 22, &key(KEY_B)),
            HostKeyStatus::Changed { file: f, line: 5 }
        );
    }

    #[test]
    fn hashed_glob_negation_and_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        // `ssh-keygen -H` form of "lab1" with salt 16 zero bytes, computed independently below.
        let salt = [0u8; 20];
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).expect("hmac");
        mac.update(b"lab1");
        let hash = mac.finalize().into_bytes();
        let hashed = format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(&hash));
        let f = write(
            dir.path(),
            "kh",
            &format!(
                "{hashed} ssh-ed25519 {KEY_A}\n*.lab,!bad.lab ssh-ed25519 {KEY_A}\n@revoked evil ssh-ed25519 {KEY_B}\n"
            ),
        );
        let files = [f.clone()];
        assert_eq!(check(&files, "lab1", 22, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(
            check(&files, "LAB2", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "x.lab", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "bad.lab", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "evil", 22, &key(KEY_B)),
            HostKeyStatus::Revoked { file: f, line: 3 }
        );
    }

    #[test]
    fn record_then_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub/known_hosts");
        record(&f, "127.0.0.1", 2201, &key(KEY_B)).expect("record");
        assert_eq!(
            check(&[f], "127.0.0.1", 2201, &key(KEY_B)),
            HostKeyStatus::Known
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_files_never_panic_and_never_trust(text in "\\PC{0,300}", host in "[a-z0-9.*?!\\[\\]:|]{0,20}") {
            let dir = tempfile::tempdir().expect("tempdir");
            let f = write(dir.path(), "kh", &text);
            // Random text cannot contain this key, so it can never be Known.
            let status = check(&[f], &host, 2222, &key(KEY_B));
            proptest::prop_assert_ne!(status, HostKeyStatus::Known);
        }
    }

    #[test]
    fn glob_semantics() {
        assert!(glob("*", "anything"));
        assert!(glob("h?", "h1"));
        assert!(!glob("h?", "h10"));
        assert!(glob("[*]:22*", "[x]:2201"));
    }
}
