//! The engine driven as a library against a real lab: the connection cache, the channel
//! limit, the fast path, kills, reconnects and slow consumers, checked from the server side
//! (connection logs and processes inside the host's namespace).

mod common;
use common::*;
use labdeck::engine::{
    DisconnectTarget, EngineConfig, EngineHandle, Event, JobRef, JobSpec, JobState,
};
use labdeck::pool::Pool;
use labdeck::transport::Trust;
use std::time::Duration;
use tokio::sync::mpsc;

fn engine_for(lab: &Lab, fast_path: bool, output_dir: Option<std::path::PathBuf>) -> EngineHandle {
    let pool = Pool::load(&lab.dir.join("pool.toml")).expect("lab pool loads");
    let config = EngineConfig {
        trust: Trust {
            labdeck_known_hosts: pool.known_hosts.clone(),
            user_known_hosts: false,
            accept_new_hostkeys: false,
        },
        connect_timeout: Duration::from_secs(20),
        fast_path,
        output_dir,
    };
    EngineHandle::spawn(pool, config)
}

/// Connections the host's sshd has accepted so far.
fn server_connections(lab: &Lab, host: &str) -> usize {
    std::fs::read_to_string(lab.dir.join("hosts").join(host).join("connections.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn spec(host: &str, command: &str) -> JobSpec {
    JobSpec {
        host: host.into(),
        command: command.into(),
        ..JobSpec::default()
    }
}

async fn run(engine: &EngineHandle, host: &str, command: &str) -> labdeck::engine::JobSnapshot {
    let job = engine.exec(spec(host, command)).await.expect("exec");
    engine
        .wait(job, Duration::from_secs(120))
        .await
        .expect("job ends")
}

async fn finished(events: &mut mpsc::UnboundedReceiver<Event>, job: &JobRef) -> JobState {
    while let Some(e) = events.recv().await {
        if let Event::JobFinished { job: j, state, .. } = e
            && &j == job
        {
            return state;
        }
    }
    panic!("engine stopped before {job} finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_commands_share_one_connection_on_both_paths() {
    let lab = Lab::up(1, "line");
    for fast_path in [true, false] {
        let engine = engine_for(&lab, fast_path, None);
        let before = server_connections(&lab, "h1");
        for i in 0..1000 {
            let snap = run(&engine, "h1", &format!("echo {i}")).await;
            assert_eq!(snap.state, JobState::Passed);
            assert_eq!(snap.stdout_tail, format!("{i}\n").into_bytes());
        }
        assert_eq!(
            server_connections(&lab, "h1") - before,
            1,
            "fast path {fast_path}"
        );
        let cache = engine.snapshot().await.expect("snapshot").cache;
        assert_eq!(cache.len(), 1);
        assert!(cache[0].reuse_count >= 999, "{:?}", cache[0]);
        assert_eq!(cache[0].fast_path, fast_path, "{:?}", cache[0]);
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_eight_channels_open_a_second_connection() {
    let lab = Lab::up(1, "line");
    let engine = engine_for(&lab, false, None);
    let before = server_connections(&lab, "h1");
    let mut jobs = Vec::new();
    for _ in 0..12 {
        let s = JobSpec {
            background: true,
            ..spec("h1", "sleep 2")
        };
        jobs.push(engine.exec(s).await.expect("exec"));
    }
    for job in jobs {
        let snap = engine
            .wait(job, Duration::from_secs(120))
            .await
            .expect("ends");
        assert_eq!(snap.state, JobState::Passed, "{:?}", snap.exit);
    }
    assert_eq!(server_connections(&lab, "h1") - before, 2);
    // Every channel was given back.
    let cache = engine.snapshot().await.expect("snapshot").cache;
    assert_eq!(
        (cache[0].connections, cache[0].channels_in_use),
        (2, 0),
        "{:?}",
        cache[0]
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_wait_files_and_tails() {
    let lab = Lab::up(1, "line");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_for(&lab, true, Some(out_dir.path().to_owned()));
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .expect("netns")
        .to_owned();

    // A background job, killed explicitly, leaves nothing behind.
    let bg = engine
        .exec(JobSpec {
            background: true,
            ..spec("h1", "sleep 1000 & sleep 1001; wait")
        })
        .await
        .expect("exec");
    assert!(
        wait_for(|| namespace_processes(&netns)
            .iter()
            .filter(|p| p.starts_with("sleep 100"))
            .count()
            == 2),
        "{:?} {:?}",
        namespace_processes(&netns),
        engine.snapshot().await.map(|s| s.jobs)
    );
    // wait() with a short bound does not kill it.
    assert!(
        engine
            .wait(bg.clone(), Duration::from_millis(50))
            .await
            .is_err()
    );
    engine.kill(bg.clone(), "TERM").await.expect("kill");
    let snap = engine
        .wait(bg, Duration::from_secs(60))
        .await
        .expect("ends");
    assert_eq!(snap.state, JobState::Killed);
    assert!(wait_for(|| !namespace_processes(&netns)
        .iter()
        .any(|p| p.contains("sleep 100"))));

    // A foreground timeout on the fast path kills the command (and the shell it ran in);
    // the engine opens a new shell and the next command runs normally.
    let timed = engine
        .exec(JobSpec {
            timeout: Some(Duration::from_millis(500)),
            ..spec("h1", "sleep 1002 & sleep 1003; wait")
        })
        .await
        .expect("exec");
    let snap = engine
        .wait(timed, Duration::from_secs(60))
        .await
        .expect("ends");
    assert_eq!(snap.state, JobState::TimedOut);
    assert!(wait_for(|| !namespace_processes(&netns)
        .iter()
        .any(|p| p.contains("sleep 100"))));
    let snap = run(&engine, "h1", "echo after").await;
    assert_eq!(snap.state, JobState::Passed);
    assert_eq!(snap.stdout_tail, b"after\n");
    assert!(wait_for_async_shell(&engine));

    // Full output goes to files; memory keeps a bounded tail.
    let snap = run(&engine, "h1", "seq 1 100000").await;
    let files = snap.files.clone().expect("files");
    let full = std::fs::read_to_string(&files.stdout).expect("stdout file");
    let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert_eq!(full, expected);
    assert_eq!(snap.stdout_tail.len(), labdeck::engine::TAIL_BYTES);
    assert!(expected.as_bytes().ends_with(&snap.stdout_tail));
    // Only the (re-opened) fast-path shell still holds a channel.
    assert!(wait_for_async_shell(&engine));
    let cache = engine.snapshot().await.expect("snapshot").cache;
    assert_eq!(cache[0].channels_in_use, 1, "{:?}", cache[0]);
    engine.shutdown().await;
}

/// True once the engine reports an idle fast-path shell again.
fn wait_for_async_shell(engine: &EngineHandle) -> bool {
    let engine = engine.clone();
    let handle = tokio::runtime::Handle::current();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                wait_for(|| {
                    handle
                        .block_on(engine.snapshot())
                        .map(|s| s.cache.iter().any(|c| c.fast_path))
                        .unwrap_or(false)
                })
            })
            .join()
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_flood_never_stalls_a_short_command() {
    let lab = Lab::up(1, "line");
    let engine = engine_for(&lab, false, None);
    let mut events = engine.subscribe().expect("subscribe");
    let flood = engine
        .exec(spec("h1", "head -c 52428800 /dev/zero"))
        .await
        .expect("exec");
    // Let the flood get going, then run echo beside it.
    loop {
        if let Some(Event::JobOutput { job, .. }) = events.recv().await
            && job == flood
        {
            break;
        }
    }
    let echo = engine.exec(spec("h1", "echo hi")).await.expect("exec");
    let mut order = Vec::new();
    let mut flood_bytes = 0usize;
    while order.len() < 2 {
        match events.recv().await.expect("events") {
            Event::JobFinished { job, state, .. } => {
                assert_eq!(state, JobState::Passed);
                order.push(job);
            }
            Event::JobOutput { job, data, .. } if job == flood => flood_bytes += data.len(),
            _ => {}
        }
    }
    assert_eq!(order, vec![echo, flood.clone()], "echo must finish first");
    let snap = engine
        .wait(flood, Duration::from_secs(60))
        .await
        .expect("ends");
    assert_eq!(snap.state, JobState::Passed);
    assert!(flood_bytes > 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_killed_mid_job_errors_then_reconnects_and_disconnect_all() {
    let lab = Lab::up(1, "line");
    let engine = engine_for(&lab, false, None);
    let mut events = engine.subscribe().expect("subscribe");
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .expect("netns")
        .to_owned();
    let before = server_connections(&lab, "h1");
    let long = engine.exec(spec("h1", "sleep 30")).await.expect("exec");
    assert!(wait_for(|| namespace_processes(&netns)
        .iter()
        .any(|p| p.contains("sleep 30"))));

    // Kill every sshd of the host: the job's connection dies under it.
    let pids = text(
        &std::process::Command::new("ip")
            .args(["netns", "pids", &netns])
            .output()
            .expect("ip")
            .stdout,
    );
    for pid in pids.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if text(&cmdline).contains("sshd") {
            let pid: i32 = pid.parse().expect("pid");
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    assert_eq!(finished(&mut events, &long).await, JobState::Error);
    let snap = engine
        .wait(long, Duration::from_secs(5))
        .await
        .expect("ended");
    let Some(labdeck::engine::Ending::TransportError { error, .. }) = snap.exit else {
        panic!("transport error expected, got {:?}", snap.exit)
    };
    assert!(
        error.contains("connection lost") || error.contains("SSH session"),
        "{error}"
    );

    // The engine stays responsive and the next command reconnects.
    let snap = run(&engine, "h1", "echo back").await;
    assert_eq!(snap.state, JobState::Passed, "{:?}", snap.exit);
    assert_eq!(snap.stdout_tail, b"back\n");
    assert!(server_connections(&lab, "h1") - before >= 2);

    // Disconnect all closes the connection; the next command connects again.
    let closed = engine
        .disconnect(DisconnectTarget::All)
        .await
        .expect("disconnect");
    assert_eq!(closed, 1);
    let cache = engine.snapshot().await.expect("snapshot").cache;
    assert_eq!(cache[0].connections, 0);
    let key = cache[0].key.clone();
    assert!(matches!(
        engine
            .disconnect(DisconnectTarget::Key("nobody@nowhere:1".into()))
            .await,
        Err(labdeck::engine::EngineError::UnknownKey(_))
    ));
    let snap = run(&engine, "h1", "true").await;
    assert_eq!(snap.state, JobState::Passed);
    assert_eq!(
        engine
            .disconnect(DisconnectTarget::Key(key))
            .await
            .expect("by key"),
        1
    );
    let snap = run(&engine, "h1", "true").await;
    assert_eq!(snap.state, JobState::Passed);
    assert_eq!(
        engine
            .disconnect(DisconnectTarget::Host("h1".into()))
            .await
            .expect("by host"),
        1
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_killed_then_repaired_and_commands_reconnect() {
    let lab = Lab::up(1, "line");
    let engine = engine_for(&lab, false, None);
    assert_eq!(run(&engine, "h1", "echo up").await.state, JobState::Passed);
    let long = engine.exec(spec("h1", "sleep 30")).await.expect("exec");

    // The whole server side dies: listener and every sshd it started.
    let serve_pid = lab.state()["serve_pid"].as_i64().expect("serve pid") as i32;
    assert_eq!(unsafe { libc::kill(-serve_pid, libc::SIGKILL) }, 0);
    let snap = engine
        .wait(long, Duration::from_secs(60))
        .await
        .expect("ends");
    assert_eq!(snap.state, JobState::Error, "{:?}", snap.exit);

    // While it is down, commands fail fast with the cause and a hint; the engine answers.
    let snap = run(&engine, "h1", "true").await;
    assert_eq!(snap.state, JobState::Error);
    let Some(labdeck::engine::Ending::TransportError { error, hint }) = snap.exit else {
        panic!("transport error expected")
    };
    // Refused, or reset when the connect raced the dying listener: both say "down".
    assert!(
        error.contains("refused") || error.contains("reset"),
        "{error}"
    );
    assert!(hint.contains("labdeck lab status"), "{hint}");

    // `lab up` repairs the listener on the same ports; the next command reconnects.
    let ports_before: Vec<i64> = lab.state()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["port"].as_i64().expect("port"))
        .collect();
    let out = labdeck(&["lab", "up", "--dir", lab.dir()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ports_after: Vec<i64> = lab.state()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["port"].as_i64().expect("port"))
        .collect();
    assert_eq!(ports_before, ports_after);
    let snap = run(&engine, "h1", "echo back").await;
    assert_eq!(snap.state, JobState::Passed, "{:?}", snap.exit);
    assert_eq!(snap.stdout_tail, b"back\n");
    engine.shutdown().await;
}
