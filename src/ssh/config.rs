//! OpenSSH client configuration, resolved by OpenSSH itself: `ssh -G HOST` prints the
//! settings `ssh` would use for HOST (every `Host`/`Match` block, `Include`, defaults
//! applied), and this module reads the few labdeck needs: `hostname`, `port`, `user`,
//! `identityfile` and `proxyjump`.
//!
//! Invariants: `ssh` is run without a shell, with the host after `--` (so an address can
//! never be taken for an option) and stdin closed; the pool's explicit port and user are
//! passed as `-p`/`-l` so they win over the config; parsing ([`parse_ssh_g`],
//! [`parse_jumps`], [`expand_identity`]) is pure and never touches the file system except
//! where a function says so. A `ProxyCommand` is refused, never ignored: connecting
//! directly would bypass the route the user configured.

use super::SshError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What `ssh -G` says about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// `identityfile` values in order, as printed (`~` and `%` tokens not yet expanded).
    pub identity_files: Vec<String>,
    /// The `proxyjump` chain, outermost hop first; empty when there is none.
    pub proxy_jump: Vec<JumpHop>,
    /// `proxycommand`, when set (labdeck cannot honour it).
    pub proxy_command: Option<String>,
}

/// One hop of a `ProxyJump` list: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parses the output of `ssh -G`. Fails when a required key is missing or malformed.
pub fn parse_ssh_g(text: &str) -> Result<Resolved, String> {
    let (mut hostname, mut port, mut user) = (None, None, None);
    let mut identity_files = Vec::new();
    let mut proxy_jump = Vec::new();
    let mut proxy_command = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once(' ') else {
            continue;
        };
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "hostname" => hostname = Some(value.to_owned()),
            "port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("`port {value}` is not a port"))?,
                )
            }
            "user" => user = Some(value.to_owned()),
            "identityfile" => identity_files.push(value.to_owned()),
            "proxyjump" if !value.eq_ignore_ascii_case("none") => {
                proxy_jump = parse_jumps(value)?;
            }
            "proxycommand" if !value.eq_ignore_ascii_case("none") => {
                proxy_command = Some(value.to_owned())
            }
            _ => {}
        }
    }
    Ok(Resolved {
        hostname: hostname.ok_or("no `hostname` in the output of ssh -G")?,
        port: port.ok_or("no `port` in the output of ssh -G")?,
        user: user.ok_or("no `user` in the output of ssh -G")?,
        identity_files,
        proxy_jump,
        proxy_command,
    })
}

/// Parses a comma-separated `ProxyJump` list, outermost hop first.
pub fn parse_jumps(list: &str) -> Result<Vec<JumpHop>, String> {
    list.split(',').map(|s| parse_jump(s.trim())).collect()
}

fn parse_jump(spec: &str) -> Result<JumpHop, String> {
    let bad = |why: &str| format!("bad ProxyJump `{spec}`: {why}");
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_owned()), h),
        Some(_) => return Err(bad("empty user")),
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        // [v6-address] or [host]:port
        let (host, after) = inner.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("junk after `]`"))?,
                ),
            ),
        }
    } else if hostport.matches(':').count() == 1 {
        let (h, p) = hostport.split_once(':').unwrap_or((hostport, ""));
        (h, Some(p))
    } else {
        // No colon, or a bare IPv6 address.
        (hostport, None)
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    if host.starts_with('-') {
        return Err(bad("a host cannot start with `-`"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number in 1..=65535"))?,
        ),
    };
    Ok(JumpHop {
        user,
        host: host.to_owned(),
        port,
    })
}

/// What `%` tokens and `~` in an `IdentityFile` stand for.
#[derive(Debug, Clone, Default)]
pub struct TokenContext {
    /// The local home directory (`~`, `%d`).
    pub home: Option<PathBuf>,
    /// The local user name (`%u`) and id (`%i`).
    pub local_user: Option<String>,
    pub local_uid: Option<u32>,
    /// The host as given on the command line (`%n`), the resolved hostname (`%h`), the
    /// remote port (`%p`) and user (`%r`).
    pub original_host: String,
    pub hostname: String,
    pub port: u16,
    pub remote_user: String,
}

/// Expands `~` and the `%` tokens `ssh` accepts in `IdentityFile`. `None` when the value
/// uses a token labdeck does not know (such a file is then skipped).
pub fn expand_identity(raw: &str, ctx: &TokenContext) -> Option<PathBuf> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let home = || ctx.home.as_ref().map(|h| h.display().to_string());
        match chars.next()? {
            '%' => out.push('%'),
            'd' => out.push_str(&home()?),
            'h' => out.push_str(&ctx.hostname),
            'n' => out.push_str(&ctx.original_host),
            'p' => out.push_str(&ctx.port.to_string()),
            'r' => out.push_str(&ctx.remote_user),
            'u' => out.push_str(ctx.local_user.as_deref()?),
            'i' => out.push_str(&ctx.local_uid?.to_string()),
            _ => return None,
        }
    }
    if out == "~" {
        return ctx.home.clone();
    }
    match out.strip_prefix("~/") {
        Some(rest) => Some(ctx.home.as_ref()?.join(rest)),
        None if out.starts_with('~') => None, // ~otheruser: not supported
        None => Some(PathBuf::from(out)),
    }
}

/// The first `identityfile` that expands and exists.
pub fn first_existing_identity(resolved: &Resolved, ctx: &TokenContext) -> Option<PathBuf> {
    resolved
        .identity_files
        .iter()
        .filter_map(|raw| expand_identity(raw, ctx))
        .find(|p| p.is_file())
}

/// The token context of this process for a resolved host.
pub fn local_context(original_host: &str, resolved: &Resolved) -> TokenContext {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    TokenContext {
        home: std::env::var_os("HOME").map(PathBuf::from),
        local_user: std::env::var("USER")
            .ok()
            .or_else(|| std::env::var("LOGNAME").ok()),
        local_uid: Some(uid),
        original_host: original_host.to_owned(),
        hostname: resolved.hostname.clone(),
        port: resolved.port,
        remote_user: resolved.user.clone(),
    }
}

/// The `ssh` client on `PATH`, if any.
pub fn ssh_client() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("ssh"))
        .find(|p| p.is_file())
}

/// The arguments of `ssh -G` for `host`: config file, then the pool's explicit port and user.
pub fn ssh_g_args(
    file: Option<&Path>,
    port: Option<u16>,
    user: Option<&str>,
    host: &str,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["-G".into()];
    if let Some(f) = file {
        args.push("-F".into());
        args.push(f.into());
    }
    if let Some(p) = port {
        args.push("-p".into());
        args.push(p.to_string().into());
    }
    if let Some(u) = user {
        args.push("-l".into());
        args.push(u.into());
    }
    args.push("--".into());
    args.push(host.into());
    args
}

/// Runs `ssh -G` (at `ssh`) for `host` within `limit` and parses its output.
pub async fn resolve(
    ssh: &Path,
    file: Option<&Path>,
    port: Option<u16>,
    user: Option<&str>,
    host: &str,
    limit: Duration,
) -> Result<Resolved, SshError> {
    let fail = |cause: String| SshError::SshConfig {
        host: host.to_owned(),
        cause,
    };
    if host.starts_with('-') {
        return Err(fail("a host cannot start with `-`".into()));
    }
    let run = tokio::process::Command::new(ssh)
        .args(ssh_g_args(file, port, user, host))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, run)
        .await
        .map_err(|_| {
            fail(format!(
                "`ssh -G` did not finish within {:.1} s",
                limit.as_secs_f64()
            ))
        })?
        .map_err(|e| fail(format!("cannot run {}: {e}", ssh.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(fail(format!("`ssh -G` failed ({}): {first}", out.status)));
    }
    let resolved = parse_ssh_g(&String::from_utf8_lossy(&out.stdout)).map_err(fail)?;
    if let Some(cmd) = &resolved.proxy_command {
        return Err(fail(format!(
            "the config sets ProxyCommand `{cmd}`, which labdeck does not run"
        )));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from OpenSSH 9.2p1 (`ssh -F cfg -G alias`, trimmed of unrelated keys).
    const SAMPLE: &str = "host alias
user bob
hostname 10.1.2.3
port 2222
addressfamily any
batchmode no
identityfile ~/.ssh/id_test
identityfile /keys/%h_%r_%p
proxyjump jumper@bastion:2200,root@second
serveraliveinterval 5
userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2
";

    /// Captured from OpenSSH 9.2p1 with an empty config (`ssh -F /dev/null -G plain`).
    const PLAIN: &str = "host plain
user root
hostname plain
port 22
identityfile ~/.ssh/id_rsa
identityfile ~/.ssh/id_ecdsa
identityfile ~/.ssh/id_ecdsa_sk
identityfile ~/.ssh/id_ed25519
identityfile ~/.ssh/id_ed25519_sk
identityfile ~/.ssh/id_xmss
identityfile ~/.ssh/id_dsa
canonicaldomains
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2
proxyusefdpass no
";

    #[test]
    fn parses_resolved_settings() {
        let r = parse_ssh_g(SAMPLE).expect("parses");
        assert_eq!(r.hostname, "10.1.2.3");
        assert_eq!(r.port, 2222);
        assert_eq!(r.user, "bob");
        assert_eq!(r.identity_files, ["~/.ssh/id_test", "/keys/%h_%r_%p"]);
        assert_eq!(
            r.proxy_jump,
            [
                JumpHop {
                    user: Some("jumper".into()),
                    host: "bastion".into(),
                    port: Some(2200)
                },
                JumpHop {
                    user: Some("root".into()),
                    host: "second".into(),
                    port: None
                },
            ]
        );
        assert_eq!(r.proxy_command, None);

        let p = parse_ssh_g(PLAIN).expect("parses");
        assert_eq!(
            (p.hostname.as_str(), p.port, p.user.as_str()),
            ("plain", 22, "root")
        );
        assert_eq!(p.identity_files.len(), 7);
        assert!(p.proxy_jump.is_empty());
    }

    #[test]
    fn proxy_command_and_none_values() {
        let r = parse_ssh_g("hostname h\nport 22\nuser u\nproxycommand nc %h %p\nproxyjump none\n")
            .expect("parses");
        assert_eq!(r.proxy_command.as_deref(), Some("nc %h %p"));
        assert!(r.proxy_jump.is_empty());
    }

    #[test]
    fn missing_or_bad_keys_are_errors() {
        assert!(parse_ssh_g("user u\nport 22\n").is_err());
        assert!(parse_ssh_g("hostname h\nport x\nuser u\n").is_err());
        assert!(parse_ssh_g("hostname h\nport 0\nuser u\n").is_err());
        assert!(parse_ssh_g("hostname h\nport 22\nuser u\nproxyjump a:99999\n").is_err());
    }

    #[test]
    fn jump_forms() {
        let hop = |u: Option<&str>, h: &str, p: Option<u16>| JumpHop {
            user: u.map(str::to_owned),
            host: h.to_owned(),
            port: p,
        };
        let cases = [
            ("host", hop(None, "host", None)),
            ("u@host", hop(Some("u"), "host", None)),
            ("u@host:2200", hop(Some("u"), "host", Some(2200))),
            ("ssh://u@host:2200", hop(Some("u"), "host", Some(2200))),
            ("ssh://host/", hop(None, "host", None)),
            ("[fe80::1]:22", hop(None, "fe80::1", Some(22))),
            ("[fe80::1]", hop(None, "fe80::1", None)),
            ("fe80::1", hop(None, "fe80::1", None)),
            ("a@b@host", hop(Some("a@b"), "host", None)),
            ("198.18.1.2", hop(None, "198.18.1.2", None)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_jumps(text).expect(text), [expected], "{text}");
        }
        assert_eq!(parse_jumps("a, b:3").expect("list").len(), 2);
        for bad in [
            "",
            "@h",
            "h:",
            "h:0",
            "[h",
            "[h]x",
            "-oProxyCommand=x",
            "u@",
        ] {
            assert!(parse_jumps(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn identity_tokens_expand() {
        let ctx = TokenContext {
            home: Some(PathBuf::from("/home/me")),
            local_user: Some("me".into()),
            local_uid: Some(1000),
            original_host: "alias".into(),
            hostname: "10.1.2.3".into(),
            port: 2222,
            remote_user: "bob".into(),
        };
        let e = |s: &str| expand_identity(s, &ctx);
        assert_eq!(
            e("~/.ssh/id_test"),
            Some(PathBuf::from("/home/me/.ssh/id_test"))
        );
        assert_eq!(
            e("/keys/%h_%r_%p_%n"),
            Some(PathBuf::from("/keys/10.1.2.3_bob_2222_alias"))
        );
        assert_eq!(
            e("%d/k_%u_%i_100%%"),
            Some(PathBuf::from("/home/me/k_me_1000_100%"))
        );
        assert_eq!(e("/k/%C"), None, "unknown token");
        assert_eq!(e("/k/%"), None, "dangling %");
        assert_eq!(e("~other/k"), None);
        assert_eq!(e("rel/key"), Some(PathBuf::from("rel/key")));
    }

    #[test]
    fn first_existing_identity_skips_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let present = dir.path().join("id_present");
        std::fs::write(&present, "key").expect("write");
        let resolved = Resolved {
            hostname: "h".into(),
            port: 22,
            user: "u".into(),
            identity_files: vec![
                dir.path().join("id_missing").display().to_string(),
                "/x/%C".into(),
                present.display().to_string(),
            ],
            proxy_jump: vec![],
            proxy_command: None,
        };
        let ctx = local_context("h", &resolved);
        assert_eq!(first_existing_identity(&resolved, &ctx), Some(present));
    }

    #[test]
    fn pool_values_go_before_the_host_and_the_host_after_double_dash() {
        let args = ssh_g_args(Some(Path::new("/c")), Some(2201), Some("root"), "h1");
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            ["-G", "-F", "/c", "-p", "2201", "-l", "root", "--", "h1"]
        );
        let args = ssh_g_args(None, None, None, "h1");
        assert_eq!(args.len(), 3);
    }

    #[tokio::test]
    async fn real_ssh_resolves_a_config_file() {
        let ssh = ssh_client().expect("the tests need OpenSSH's ssh client (openssh-client)");
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host alias\n  HostName 10.9.8.7\n  Port 2022\n  User carol\n  ProxyJump j@jump:2200\n\
             Host -*\n  ProxyCommand evil\n",
        )
        .expect("write");
        let limit = Duration::from_secs(30);
        let r = resolve(&ssh, Some(&cfg), None, None, "alias", limit)
            .await
            .expect("resolves");
        assert_eq!(
            (r.hostname.as_str(), r.port, r.user.as_str()),
            ("10.9.8.7", 2022, "carol")
        );
        assert_eq!(r.proxy_jump.len(), 1);
        // Pool values win.
        let r = resolve(&ssh, Some(&cfg), Some(7), Some("dave"), "alias", limit)
            .await
            .expect("resolves");
        assert_eq!((r.port, r.user.as_str()), (7, "dave"));
        // A host that looks like an option is refused before ssh runs.
        let err = resolve(&ssh, Some(&cfg), None, None, "-oProxyCommand=x", limit)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("cannot start with `-`"), "{err}");
    }
}
