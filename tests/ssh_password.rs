//! Password authentication against a real OpenSSH sshd. The lab's own sshd refuses
//! passwords (and root has no password), so this test starts a second sshd inside host
//! h1's namespace, in a private mount namespace whose `/etc/shadow` is a copy with a known
//! password for root: the real system files are never changed. labdeck reaches it through
//! h1 (a jump to 127.0.0.1:2222 inside h1's namespace), reading the password from the
//! environment variable the pool names, with tracing at `trace`: the password must not
//! appear anywhere in labdeck's output. Needs root, `unshare` (util-linux) and sshd.

mod ssh_common;

use ssh_common::{Lab, run, text};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "lab-pw-Zq81x";
/// `openssl passwd -6 -salt labdecktestsalt lab-pw-Zq81x`
const PASSWORD_HASH: &str = "$6$labdecktestsalt$.VqsIHVuORdP0laiDWzlV88sUmVabEbgki6V3AY5bm46FsynnyOnmNYTwhPKMJYEsrGX/2sus.GtZJRJgIjNf0";
const WRONG: &str = "not-the-pw-Hy27";

/// The password sshd's process group, killed when dropped.
struct PasswordSshd(Child);

impl Drop for PasswordSshd {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signalling the process group this test created.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
        let _ = self.0.wait();
    }
}

#[test]
fn password_from_a_named_variable_logs_in_to_openssh_and_never_leaks() {
    let lab = Lab::up(2, "line");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();

    let host_key = dir.join("host_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let shadow: String = std::fs::read_to_string("/etc/shadow")
        .expect("/etc/shadow")
        .lines()
        .filter(|l| !l.starts_with("root:"))
        .map(|l| format!("{l}\n"))
        .chain([format!("root:{PASSWORD_HASH}:20000:0:99999:7:::\n")])
        .collect();
    let fake_shadow = dir.join("shadow");
    std::fs::write(&fake_shadow, shadow).expect("write shadow");
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:2222\nHostKey {}\nPidFile none\nPermitRootLogin yes\n\
             PasswordAuthentication yes\nPubkeyAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nAuthorizedKeysFile none\nUseDNS no\nLogLevel INFO\n",
            host_key.display()
        ),
    )
    .expect("write sshd_config");
    std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
    let log = dir.join("sshd.log");
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/shadow && exec ip netns exec "$1" /usr/sbin/sshd -D -e -f "$2""#)
        .arg(&fake_shadow)
        .arg(lab.netns("h1"))
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .process_group(0)
        .spawn()
        .expect("unshare (util-linux) runs");
    let _sshd = PasswordSshd(child);
    let mut listening = false;
    for _ in 0..400 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Server listening on 127.0.0.1 port 2222") {
            listening = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        listening,
        "sshd did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("pub");
    let mut fields = host_pub.split_whitespace();
    let (kind, b64) = (fields.next().expect("kind"), fields.next().expect("key"));
    let known_hosts = dir.join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!(
            "{}[127.0.0.1]:2222 {kind} {b64}\n",
            std::fs::read_to_string(lab.known_hosts()).expect("known_hosts")
        ),
    )
    .expect("write known_hosts");
    let pool = lab.pool(
        "password.toml",
        &format!(
            r#"known_hosts = "{}"

[machines.h1]
address = "127.0.0.1"
port = {}
identity = "{}"

[machines.pw]
address = "127.0.0.1"
port = 2222
user = "root"
password_env = "LABDECK_TEST_PW"
proxy_jump = "h1"
"#,
            known_hosts.display(),
            lab.port("h1"),
            lab.key()
        ),
    );
    let h1_mac = lab.hwaddrs("h1").remove(0);

    let attempt = |password: Option<&str>| {
        let mut cmd = lab.exec(&pool, "pw", &["ip", "-br", "link"]);
        cmd.env("RUST_LOG", "trace");
        if let Some(p) = password {
            cmd.env("LABDECK_TEST_PW", p);
        }
        let out = run(cmd);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        // The leak check means something only if tracing really ran at trace level,
        // including russh's own authentication traces.
        assert!(all.contains("TRACE"), "no trace output");
        assert!(all.contains("russh::"), "no russh traces");
        for secret in [PASSWORD, WRONG] {
            assert!(
                !all.contains(secret),
                "a password leaked into labdeck's output"
            );
        }
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    // The right password: in, inside h1's namespace.
    let (code, stdout, stderr) = attempt(Some(PASSWORD));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&h1_mac), "{stdout}");

    // A wrong one: refused, naming the variable, not its value.
    let (code, _, stderr) = attempt(Some(WRONG));
    assert_eq!(code, Some(255));
    assert!(
        stderr
            .contains("root@[127.0.0.1]:2222 refused us; tried: the password in $LABDECK_TEST_PW"),
        "{}",
        stderr
            .lines()
            .filter(|l| !l.contains("TRACE") && !l.contains("DEBUG"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Unset: said so before anything is sent.
    let (code, _, stderr) = attempt(None);
    assert_eq!(code, Some(255));
    assert!(
        stderr.contains("the password variable $LABDECK_TEST_PW is not set"),
        "{}",
        stderr
            .lines()
            .filter(|l| !l.contains("TRACE") && !l.contains("DEBUG"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(stderr.contains("export LABDECK_TEST_PW"));
}
