//! Device changes on a real lab host are visible on the host and fully undone, through
//! the library and through `labdeck undo`, checked from inside the host's namespace.

mod common;
use common::*;
use labdeck::devices::apply::{HostChanger, undo};
use labdeck::devices::ops::{DeviceOp, Guard, OpError, UndoLog};
use labdeck::engine::{EngineConfig, EngineHandle};
use labdeck::pool::Pool;
use labdeck::transport::Trust;
use std::process::Command;
use std::time::Duration;

fn engine_for(lab: &Lab) -> EngineHandle {
    let pool = Pool::load(&lab.dir.join("pool.toml")).expect("pool");
    EngineHandle::spawn(
        pool.clone(),
        EngineConfig {
            trust: Trust {
                labdeck_known_hosts: pool.known_hosts.clone(),
                ..Trust::default()
            },
            connect_timeout: Duration::from_secs(20),
            fast_path: true,
            output_dir: None,
        },
    )
}

/// What `ip` and sysctl say inside the namespace, without counters.
fn host_state(netns: &str) -> String {
    let sh = |cmd: &str| {
        text(
            &Command::new("ip")
                .args(["netns", "exec", netns, "sh", "-c", cmd])
                .output()
                .expect("ip netns exec")
                .stdout,
        )
    };
    let links: serde_json::Value = serde_json::from_str(&sh("ip -j addr show")).expect("json");
    let mut lines: Vec<String> = links
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            let addrs: Vec<String> = l["addr_info"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["scope"] != "link")
                .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
                .collect();
            format!(
                "{} mtu={} master={} up={} {}",
                l["ifname"].as_str().unwrap_or(""),
                l["mtu"],
                l["master"].as_str().unwrap_or("-"),
                l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP")),
                addrs.join(",")
            )
        })
        .collect();
    lines.sort();
    lines.push(format!(
        "ip_forward={}",
        sh("sysctl -n net.ipv4.ip_forward").trim()
    ));
    lines.push(format!(
        "eth1_accept_ra={}",
        sh("cat /proc/sys/net/ipv6/conf/eth1/accept_ra").trim()
    ));
    lines.join("\n")
}

fn changes() -> Vec<DeviceOp> {
    vec![
        DeviceOp::Mtu {
            dev: "eth1".into(),
            mtu: 9000,
        },
        DeviceOp::AddrAdd {
            dev: "eth1".into(),
            addr: "198.18.99.1/24".into(),
        },
        DeviceOp::CreateBridge {
            name: "ldbr0".into(),
        },
        DeviceOp::CreateVeth {
            name: "ldv0".into(),
            peer: "ldv1".into(),
        },
        DeviceOp::Enslave {
            dev: "ldv0".into(),
            master: "ldbr0".into(),
        },
        DeviceOp::Up {
            dev: "ldbr0".into(),
        },
        DeviceOp::Sysctl {
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
        },
        DeviceOp::WriteFile {
            path: "/proc/sys/net/ipv6/conf/eth1/accept_ra".into(),
            value: "0".into(),
        },
        DeviceOp::AddrFlush { dev: "eth1".into() },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_show_on_the_host_and_are_undone() {
    let lab = Lab::up(2, "line");
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .expect("netns")
        .to_owned();
    let before = host_state(&netns);
    let engine = engine_for(&lab);
    let mut log = UndoLog::default();
    let mut changer = HostChanger {
        engine: &engine,
        host: "h1".into(),
        guard: Guard::default(),
    };
    for op in changes() {
        changer
            .apply(&op, &mut log)
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
    let during = host_state(&netns);
    assert!(during.contains("eth1 mtu=9000"), "{during}");
    assert!(during.contains("ldv0 mtu=1500 master=ldbr0"), "{during}");
    assert!(during.contains("ip_forward=1"), "{during}");
    assert!(during.contains("eth1_accept_ra=0"), "{during}");
    assert!(!during.contains("198.18.1.1/24"), "flushed: {during}");
    assert_ne!(during, before);

    let steps = log.drain_newest_first().expect("drain");
    let failed = undo(&engine, &steps).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(host_state(&netns), before);

    // The guard: with a testbed that maps only eth1, loopback is never touched.
    let mut guarded = HostChanger {
        engine: &engine,
        host: "h1".into(),
        guard: Guard {
            mapped: Some(["eth1".to_owned()].into()),
            ..Guard::default()
        },
    };
    let refused = guarded
        .apply(&DeviceOp::Down { dev: "lo".into() }, &mut log)
        .await;
    assert!(matches!(
        refused,
        Err(labdeck::devices::apply::ChangeError::Refused(
            OpError::NotMapped { .. }
        ))
    ));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labdeck_undo_restores_from_a_left_behind_log() {
    let lab = Lab::up(2, "line");
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .expect("netns")
        .to_owned();
    let before = host_state(&netns);
    let log_file = lab.dir.join("undo.jsonl");
    {
        let engine = engine_for(&lab);
        let mut log = UndoLog::with_file(&log_file).expect("log");
        let mut changer = HostChanger {
            engine: &engine,
            host: "h1".into(),
            guard: Guard::default(),
        };
        for op in changes() {
            changer
                .apply(&op, &mut log)
                .await
                .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        }
        engine.shutdown().await;
        // The run "crashes" here: nothing is undone, the log stays.
    }
    assert_ne!(host_state(&netns), before);
    let out = labdeck(&[
        "undo",
        "--pool",
        &lab.pool(),
        log_file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("changes undone"));
    assert_eq!(host_state(&netns), before);
    assert!(!log_file.exists());
    let again = labdeck(&[
        "undo",
        "--pool",
        &lab.pool(),
        log_file.to_str().expect("utf-8"),
    ]);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("nothing to undo"));
}
