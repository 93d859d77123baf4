//! The engine on the local transport: a foreground job in the long-lived shell (fast path)
//! is killed by its process group, like over SSH, and the next job gets a new shell.

use labdeck::engine::{EngineConfig, EngineHandle, JobSpec, JobState};
use labdeck::pool::Pool;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_path_job_is_killed_and_the_shell_comes_back() {
    let pool = Pool::parse(
        Path::new("local.toml"),
        "[machines.here]\ntransport = \"local\"\n",
    )
    .expect("pool");
    let engine = EngineHandle::spawn(
        pool,
        EngineConfig {
            fast_path: true,
            ..EngineConfig::default()
        },
    );
    let spec = |command: &str| JobSpec {
        host: "here".into(),
        command: command.into(),
        ..JobSpec::default()
    };
    // The first job opens the long-lived shell; the second runs in it.
    let first = engine.exec(spec("true")).await.expect("exec");
    let done = engine
        .wait(first, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(done.state, JobState::Passed);
    let job = engine
        .exec(spec("echo started; sleep 300"))
        .await
        .expect("exec");
    let mut started = false;
    for _ in 0..600 {
        let snapshot = engine.snapshot().await.expect("snapshot");
        let seen = snapshot
            .jobs
            .iter()
            .find(|j| j.job == job)
            .is_some_and(|j| String::from_utf8_lossy(&j.stdout_tail).contains("started"));
        if seen {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the job started");
    engine.kill(job.clone(), "TERM").await.expect("kill");
    // The bound only keeps a broken kill from hanging the suite (sleep 300 would end it).
    let ended = engine
        .wait(job, Duration::from_secs(120))
        .await
        .expect("the job ends");
    assert_eq!(ended.state, JobState::Killed, "{ended:?}");
    let next = engine.exec(spec("echo again")).await.expect("exec");
    let done = engine
        .wait(next, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(done.state, JobState::Passed);
    assert_eq!(String::from_utf8_lossy(&done.stdout_tail).trim(), "again");
    engine.shutdown().await;
}
