//! Integration tests against a real lab: OpenSSH `sshd` serving hosts in network
//! namespaces, brought up and torn down by the `labdeck` binary itself. Needs root,
//! `ip` and `sshd` (`.ci/run` installs them); a test fails, never skips, without them.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

#[test]
fn ring_lab_hosts_exec_and_clean_teardown() {
    let lab = Lab::up(4, "ring");
    let state = lab.state();
    let tag = state["tag"].as_str().expect("tag").to_owned();
    assert_eq!(state["hosts"].as_array().expect("hosts").len(), 4);

    let status = labdeck(&["lab", "status", "--dir", lab.dir()]);
    assert!(status.status.success(), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains("listener running"));

    // `hosts` shows all four up.
    let hosts = labdeck(&["hosts", "--pool", &lab.pool()]);
    let table = text(&hosts.stdout);
    assert!(hosts.status.success(), "{table}{}", text(&hosts.stderr));
    for h in ["h1", "h2", "h3", "h4"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{h} ")))
            .unwrap_or_else(|| panic!("{h} missing from\n{table}"));
        assert!(line.contains(" up "), "{line}");
        assert!(line.contains(" ms"), "{line}");
    }

    // Each host sees exactly its own veths (by the hwaddrs the lab gave them) and loopback.
    let all_macs: Vec<String> = state["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .flat_map(|h| h["interfaces"].as_array().cloned().unwrap_or_default())
        .map(|i| i["hwaddr"].as_str().expect("hwaddr").to_owned())
        .collect();
    assert_eq!(all_macs.len(), 8, "a 4-ring has 4 links, 8 ends");
    for host in state["hosts"].as_array().expect("hosts") {
        let name = host["name"].as_str().expect("name");
        let out = lab.exec(name, &["ip", "-j", "link", "show"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j");
        let mut seen: Vec<(String, String)> = links
            .as_array()
            .expect("links")
            .iter()
            .map(|l| {
                (
                    l["ifname"].as_str().unwrap_or("").to_owned(),
                    l["address"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        seen.sort();
        let mut expected: Vec<(String, String)> = host["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap_or("").to_owned(),
                    i["hwaddr"].as_str().unwrap_or("").to_owned(),
                )
            })
            .chain([("lo".to_owned(), "00:00:00:00:00:00".to_owned())])
            .collect();
        expected.sort();
        assert_eq!(seen, expected, "devices of {name}");
    }

    // The test links carry traffic: h1 reaches h2 over net1.
    let ping = lab.exec("h1", &["ping", "-c", "1", "-W", "5", "198.18.1.2"]);
    assert!(
        ping.status.success(),
        "{}{}",
        text(&ping.stdout),
        text(&ping.stderr)
    );

    // Exit status, stdout and stderr come back; arguments arrive literally.
    let out = labdeck(&[
        "exec",
        "--pool",
        &lab.pool(),
        "h2",
        "--sh",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let tricky = [
        "a b",
        "$HOME",
        "x;touch /tmp/labdeck-pwned",
        "`id`",
        "it's",
        "\"q\"",
    ];
    let mut argv = vec!["printf", "%s|"];
    argv.extend_from_slice(&tricky);
    let out = lab.exec("h3", &argv);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), format!("{}|", tricky.join("|")));
    assert!(!Path::new("/tmp/labdeck-pwned").exists());

    // A second `lab up` in the same directory is refused with exit code 2.
    let again = labdeck(&["lab", "up", "--dir", lab.dir()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("a lab already runs in"));

    // Down removes every namespace and process; a second down is harmless.
    let down = labdeck(&["lab", "down", "--dir", lab.dir()]);
    assert!(down.status.success());
    assert!(
        text(&down.stdout).contains("removed 4 namespaces"),
        "{}",
        text(&down.stdout)
    );
    assert!(
        !netns_list().contains(&format!("ld{tag}-")),
        "{}",
        netns_list()
    );
    assert_eq!(processes_mentioning(lab.dir()), Vec::<String>::new());
    assert!(!lab.dir.join("lab.json").exists());
    let twice = labdeck(&["lab", "down", "--dir", lab.dir()]);
    assert!(twice.status.success());
    assert!(text(&twice.stdout).contains("no lab in"));
}

#[test]
fn unknown_and_changed_host_keys_are_refused() {
    let lab = Lab::up(2, "line");
    let known_hosts = lab.dir.join("known_hosts");
    let original = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert!(lab.exec("h1", &["true"]).status.success());

    // Unknown: h2's line is gone. Refused, with a hint that names the way to accept it.
    let without_h2: String = original.lines().take(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&known_hosts, &without_h2).expect("write");
    let out = lab.exec("h2", &["true"]);
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(err.contains("is unknown (SHA256:"), "{err}");
    assert!(err.contains("--accept-new-hostkeys"), "{err}");

    // Accepting records the key in labdeck's known_hosts, and it is trusted afterwards.
    let pool = lab.pool();
    let out = labdeck(&[
        "exec",
        "--pool",
        &pool,
        "--accept-new-hostkeys",
        "h2",
        "--",
        "true",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert_eq!(recorded.lines().count(), 2);
    assert!(lab.exec("h2", &["true"]).status.success());

    // Changed: h1 is re-keyed. Always refused, naming the file and line, even when
    // accepting new keys.
    let key = lab.dir.join("hosts/h1/ssh_host_ed25519_key");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub"));
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let out = labdeck(&[
        "exec",
        "--pool",
        &pool,
        "--accept-new-hostkeys",
        "h1",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "has CHANGED: it differs from {}:1",
            known_hosts.display()
        )),
        "{err}"
    );
    let hosts = labdeck(&["hosts", "--pool", &pool]);
    assert_eq!(hosts.status.code(), Some(1));
    assert!(text(&hosts.stdout).contains("FAILED"));
}

#[test]
fn usage_and_config_errors_exit_with_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("pool.toml");
    std::fs::write(&broken, "[machines.h1]\nadress = \"x\"\n").expect("write");
    let out = labdeck(&["hosts", "--pool", broken.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("pool.toml:2:1"), "{err}");
    assert!(err.contains("did you mean `address`?"), "{err}");

    let missing = labdeck(&["hosts", "--pool", "/nonexistent/pool.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read pool file"));

    let local = tmp.path().join("local.toml");
    std::fs::write(&local, "[machines.here]\ntransport = \"local\"\n").expect("write");
    let unknown = labdeck(&[
        "exec",
        "--pool",
        local.to_str().expect("utf-8"),
        "hree",
        "--",
        "true",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("did you mean `here`?"));

    assert_eq!(
        labdeck(&[
            "lab",
            "up",
            "--hosts",
            "0",
            "--dir",
            tmp.path().join("x").to_str().expect("utf-8")
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(labdeck(&["frobnicate"]).status.code(), Some(2));

    // Not root: refused before anything is created. The binary is copied to a directory
    // that user `nobody` can enter, wherever the checkout lives.
    let shared = PathBuf::from(format!("/tmp/labdeck-nonroot-{}", std::process::id()));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let exe = shared.join("labdeck");
    std::fs::copy(LABDECK, &exe).expect("copy binary");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["lab", "up", "--dir", "/tmp/labdeck-never"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("needs root"));
    assert!(!Path::new("/tmp/labdeck-never").exists());
    let _ = std::fs::remove_dir_all(&shared);
}

#[test]
fn local_machines_need_no_lab() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pool = tmp.path().join("pool.toml");
    std::fs::write(&pool, "[machines.here]\ntransport = \"local\"\n").expect("write");
    let pool = pool.to_str().expect("utf-8");
    let out = labdeck(&[
        "exec",
        "--pool",
        pool,
        "here",
        "--",
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "hi\n");
    // Reports: JSON with the command and exit code, JUnit with a failure.
    let report = tmp.path().join("r.json");
    let junit = tmp.path().join("r.xml");
    let out = labdeck(&[
        "exec",
        "--pool",
        pool,
        "--report",
        report.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
        "here",
        "--",
        "sh",
        "-c",
        "exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(json["result"], "fail");
    assert_eq!(json["jobs"][0]["exit_code"], 5);
    assert_eq!(json["jobs"][0]["command"], "sh -c 'exit 5'");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("<failure message=\"failed, exit 5\"/>"),
        "{xml}"
    );
    let hosts = labdeck(&["hosts", "--pool", pool]);
    assert!(hosts.status.success());
    assert!(text(&hosts.stdout).contains("here  local"));
}

#[test]
fn timeouts_and_exit_kill_whole_process_groups_on_the_host() {
    let lab = Lab::up(1, "line");
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .expect("netns")
        .to_owned();
    let pool = lab.pool();

    // Foreground timeout: a compound command with a background child; the whole group dies.
    let out = labdeck(&[
        "exec",
        "--pool",
        &pool,
        "--timeout",
        "1",
        "h1",
        "--sh",
        "echo begun; sleep 1001 & sleep 1002; wait",
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "begun\n");
    assert!(
        text(&out.stderr).contains("FAIL: timed out after"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        wait_for(|| !namespace_processes(&netns)
            .iter()
            .any(|p| p.contains("sleep 100"))),
        "left behind: {:?}",
        namespace_processes(&netns)
    );

    // A background job is killed (by process group, over a second channel) when labdeck
    // gets SIGTERM.
    let child = Command::new(LABDECK)
        .args([
            "exec",
            "--pool",
            &pool,
            "--bg",
            "h1",
            "--sh",
            "sleep 1003 & sleep 1004",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn labdeck");
    assert!(
        wait_for(|| namespace_processes(&netns)
            .iter()
            .filter(|p| p.starts_with("sleep 100"))
            .count()
            == 2),
        "never started: {:?}",
        namespace_processes(&netns)
    );
    let pid = i32::try_from(child.id()).expect("pid");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("labdeck ends");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(
        wait_for(|| !namespace_processes(&netns)
            .iter()
            .any(|p| p.contains("sleep 100"))),
        "left behind: {:?}",
        namespace_processes(&netns)
    );

    // Expect-fail and JSON over SSH.
    let out = labdeck(&[
        "exec",
        "--pool",
        &pool,
        "--expect-fail",
        "h1",
        "--",
        "false",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = labdeck(&["exec", "--pool", &pool, "--expect-fail", "h1", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let out = labdeck(&[
        "exec", "--pool", &pool, "--json", "h1", "--", "ip", "-j", "link",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = labdeck(&[
        "exec", "--pool", &pool, "--json", "h1", "--", "echo", "{broken",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("stdout is not JSON"));
}

#[test]
fn devices_equal_what_ip_reports_on_the_host() {
    let lab = Lab::up(3, "star");
    let state = lab.state();
    for host in state["hosts"].as_array().expect("hosts") {
        let name = host["name"].as_str().expect("name");
        let netns = host["netns"].as_str().expect("netns");
        let out = labdeck(&["devices", "--pool", &lab.pool(), name, "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ours: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let ip = Command::new("ip")
            .args(["netns", "exec", netns, "ip", "-j", "addr", "show"])
            .output()
            .expect("ip");
        let theirs: serde_json::Value = serde_json::from_slice(&ip.stdout).expect("ip json");
        // "name mtu mac ipv4/prefix,…" for each device, read with the given JSON keys.
        let summaries = |list: &serde_json::Value, keys: [&str; 5]| -> Vec<String> {
            let [name, mac, addrs, local, prefix] = keys;
            list.as_array()
                .expect("device list")
                .iter()
                .map(|d| {
                    let v4: Vec<String> = d[addrs]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|a| a["family"] == "inet")
                        .map(|a| format!("{}/{}", a[local].as_str().unwrap_or(""), a[prefix]))
                        .collect();
                    format!(
                        "{} {} {} {}",
                        d[name].as_str().unwrap_or(""),
                        d["mtu"].as_u64().unwrap_or(0),
                        d[mac].as_str().unwrap_or(""),
                        v4.join(",")
                    )
                })
                .collect()
        };
        let mut ours = summaries(
            &ours,
            ["name", "hwaddr", "addresses", "local", "prefix_len"],
        );
        let mut theirs = summaries(
            &theirs,
            ["ifname", "address", "addr_info", "local", "prefixlen"],
        );
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "devices of {name}");
        // Every test link is a veth with its driver found.
        let veths = ours.iter().filter(|s| s.starts_with("eth")).count();
        assert_eq!(veths, host["interfaces"].as_array().map_or(0, Vec::len));
    }
    let out = labdeck(&["devices", "--pool", &lab.pool(), "h1"]);
    let table = text(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains(" eth1 ") && l.contains(" veth ") && l.contains("198.18.1.1/24")),
        "{table}"
    );
}
