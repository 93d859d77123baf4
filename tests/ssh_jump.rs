//! ProxyJump on a real lab: hosts reached at their test-link addresses (port 22 inside
//! their namespaces) through other hosts, by pool `proxy_jump` chains and by OpenSSH
//! config `ProxyJump` resolved with `ssh -G`; host keys of jump targets checked against
//! known_hosts for the target's own address. Needs root.

mod ssh_common;

use ssh_common::{Lab, ok, run, text};

/// A pool with h1 at its loopback port and h2, h3 reached through h1 by their link
/// addresses on a line lab (h1 198.18.1.1 — 198.18.1.2 h2 198.18.2.2 — 198.18.2.3 h3).
fn jump_pool(lab: &Lab, known_hosts: &str) -> String {
    lab.pool(
        "jump.toml",
        &format!(
            r#"known_hosts = "{known_hosts}"
[defaults]
user = "root"
identity = "{key}"

[machines.h1]
address = "127.0.0.1"
port = {h1}

[machines.h2via1]
address = "198.18.1.2"
port = 22
proxy_jump = "h1"

[machines.h3via2]
address = "198.18.2.3"
proxy_jump = "h2via1"

[machines.nowhere]
address = "198.18.99.9"
proxy_jump = "h1"
"#,
            key = lab.key(),
            h1 = lab.port("h1"),
        ),
    )
}

#[test]
fn proxy_jump_chains_reach_hosts_at_their_link_addresses() {
    let lab = Lab::up(3, "line");
    let pool = jump_pool(&lab, &lab.known_hosts());

    // One hop: h2's own devices, and h2's sshd saw a connection from h1's link address.
    let links = ok(run(lab.exec(&pool, "h2via1", &["ip", "-br", "link"])));
    for mac in lab.hwaddrs("h2") {
        assert!(links.contains(&mac), "{mac} of h2 missing from\n{links}");
    }
    for mac in lab.hwaddrs("h1").iter().chain(&lab.hwaddrs("h3")) {
        assert!(!links.contains(mac.as_str()), "{mac} is not h2's\n{links}");
    }
    let log = lab.connections("h2");
    assert!(
        log.lines()
            .any(|l| l.contains(" 198.18.1.1:") && l.ends_with(" netns")),
        "h2 saw no connection from h1 over net1:\n{log}"
    );

    // Two hops: h1 → h2 (198.18.1.2) → h3 (198.18.2.3).
    let links = ok(run(lab.exec(&pool, "h3via2", &["ip", "-br", "link"])));
    let h3 = lab.hwaddrs("h3");
    assert_eq!(h3.len(), 1);
    assert!(links.contains(&h3[0]), "{links}");
    assert!(
        lab.connections("h3")
            .lines()
            .any(|l| l.contains(" 198.18.2.2:") && l.ends_with(" netns")),
        "h3 saw no connection from h2 over net2:\n{}",
        lab.connections("h3")
    );

    // Output and exit status come back through the chain.
    let out = run(lab.exec(&pool, "h3via2", &["sh", "-c", "echo via; exit 5"]));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(text(&out.stdout), "via\n");

    // A target the jump host cannot reach: refused by the jump host, named as such.
    let out = run(lab.exec(&pool, "nowhere", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "jump host 127.0.0.1:{} cannot open a connection to 198.18.99.9:22",
            lab.port("h1")
        )),
        "{err}"
    );
    assert!(err.contains("allows TCP forwarding"), "{err}");
}

#[test]
fn jump_targets_are_checked_against_known_hosts_for_their_own_address() {
    let lab = Lab::up(2, "line");
    let full = std::fs::read_to_string(lab.known_hosts()).expect("known_hosts");
    assert!(
        full.lines()
            .any(|l| l.starts_with("198.18.1.2 ssh-ed25519 ")),
        "{full}"
    );

    // Without h2's link-address line: the jump host h1 is trusted, the target is not.
    let partial = lab
        .dir
        .parent()
        .expect("parent")
        .join("known_hosts.partial");
    let without: String = full
        .lines()
        .filter(|l| !l.starts_with("198.18.1.2 "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&partial, &without).expect("write");
    let pool = jump_pool(&lab, &partial.display().to_string());
    ok(run(lab.exec(&pool, "h1", &["true"])));
    let out = run(lab.exec(&pool, "h2via1", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains("host key of 198.18.1.2 is unknown (SHA256:"),
        "{err}"
    );
    assert!(err.contains("--accept-new-hostkeys"), "{err}");
    assert!(err.contains(&partial.display().to_string()), "{err}");

    // Accepting records the target's key under its own address, port 22.
    ok(run(ssh_common::labdeck_cmd(
        &lab.home,
        &[
            "exec",
            "--pool",
            &pool,
            "--accept-new-hostkeys",
            "h2via1",
            "--",
            "true",
        ],
    )));
    let recorded = std::fs::read_to_string(&partial).expect("known_hosts");
    let new_line = recorded
        .lines()
        .find(|l| l.starts_with("198.18.1.2 "))
        .unwrap_or_else(|| panic!("no line for 198.18.1.2 in\n{recorded}"));
    let h2_key = full
        .lines()
        .find(|l| l.starts_with("198.18.1.2 "))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("h2 key");
    assert!(new_line.contains(h2_key), "{new_line}");
    ok(run(lab.exec(&pool, "h2via1", &["true"])));

    // A different key for the target's address: always refused, naming file and line.
    let h1_key = full
        .lines()
        .find(|l| l.starts_with("198.18.1.1 "))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("h1 key");
    let swapped: String = full
        .lines()
        .map(|l| {
            if l.starts_with("198.18.1.2 ") {
                format!("198.18.1.2 ssh-ed25519 {h1_key}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&partial, &swapped).expect("write");
    let line = swapped
        .lines()
        .position(|l| l.starts_with("198.18.1.2 "))
        .expect("line")
        + 1;
    let out = run(lab.exec(&pool, "h2via1", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "host key of 198.18.1.2 has CHANGED: it differs from {}:{line}",
            partial.display()
        )),
        "{err}"
    );
}

#[test]
fn openssh_config_aliases_and_proxyjump_are_resolved_with_ssh_g() {
    let lab = Lab::up(2, "line");
    let config = lab.dir.parent().expect("parent").join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host lab-h2\n  HostName 198.18.1.2\n  User root\n  IdentityFile {key}\n  ProxyJump root@127.0.0.1:{h1}\n\
             Host 127.0.0.1\n  IdentityFile {key}\n",
            key = lab.key(),
            h1 = lab.port("h1"),
        ),
    )
    .expect("write ssh config");
    // The pool names only the alias: address, port, user, identity and the jump all come
    // from the OpenSSH config.
    let pool = lab.pool(
        "config.toml",
        &format!(
            "known_hosts = \"{}\"\nssh_config = \"ssh_config\"\n\n[machines.aliased]\naddress = \"lab-h2\"\n",
            lab.known_hosts()
        ),
    );
    let links = ok(run(lab.exec(&pool, "aliased", &["ip", "-br", "link"])));
    for mac in lab.hwaddrs("h2") {
        assert!(links.contains(&mac), "{mac} of h2 missing from\n{links}");
    }
    assert!(
        lab.connections("h2")
            .lines()
            .any(|l| l.contains(" 198.18.1.1:") && l.ends_with(" netns")),
        "{}",
        lab.connections("h2")
    );

    // Pool values win: an explicit port goes to `ssh -G -p`, so nothing listens there.
    let pool = lab.pool(
        "config-port.toml",
        &format!(
            "known_hosts = \"{}\"\nssh_config = \"ssh_config\"\n\n[machines.aliased]\naddress = \"lab-h2\"\nport = 2999\n",
            lab.known_hosts()
        ),
    );
    let out = run(lab.exec(&pool, "aliased", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(err.contains("198.18.1.2:2999"), "{err}");

    // Without ssh_config, the alias is just an unresolvable name.
    let pool = lab.pool(
        "no-config.toml",
        &format!(
            "known_hosts = \"{}\"\n\n[machines.aliased]\naddress = \"lab-h2\"\nidentity = \"{}\"\n",
            lab.known_hosts(),
            lab.key()
        ),
    );
    let out = run(lab.exec(&pool, "aliased", &["true"]));
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
}
