//! `labdeck bench ssh`: commands per second on one host, labdeck against OpenSSH, measured
//! in the same run, with ratios.
//!
//! Measured: connect + auth (labdeck) against one plain `ssh HOST true`; N sequential and
//! N spread over 8 concurrent workers for labdeck with a channel per command, labdeck with
//! the long-lived shell (sequential), OpenSSH with a ControlMaster, and plain `ssh` per
//! command (fewer iterations: it is ~100× slower). Invariant: every command's exit status
//! is checked; a failed command fails the benchmark instead of inflating its rate.

use crate::engine::{EngineConfig, EngineHandle, JobSpec, JobState};
use crate::pool::{Machine, Pool, TransportSpec};
use crate::transport::{Connection, Trust};
use std::path::PathBuf;
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// One measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub name: String,
    pub commands: usize,
    pub seconds: f64,
}

impl Figure {
    pub fn rate(&self) -> f64 {
        self.commands as f64 / self.seconds.max(1e-9)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("a benchmark command failed: {0}")]
    Command(String),
}

/// Options of `labdeck bench ssh`.
#[derive(Debug, Clone)]
pub struct SshBench {
    pub pool: Pool,
    pub host: String,
    pub commands: usize,
    pub plain_ssh_commands: usize,
    pub concurrency: usize,
}

fn engine(pool: &Pool, fast_path: bool) -> EngineHandle {
    EngineHandle::spawn(
        pool.clone(),
        EngineConfig {
            trust: Trust {
                labdeck_known_hosts: pool.known_hosts.clone(),
                user_known_hosts: true,
                accept_new_hostkeys: false,
            },
            connect_timeout: Duration::from_secs(20),
            fast_path,
            output_dir: None,
        },
    )
}

async fn labdeck_run(
    engine: &EngineHandle,
    host: &str,
    total: usize,
    concurrency: usize,
) -> Result<f64, BenchError> {
    // Warm up: connect (and open the shell) outside the timed part.
    one(engine, host).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    one(engine, host).await?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let engine = engine.clone();
        let host = host.to_owned();
        let share = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            for _ in 0..share {
                one(&engine, &host).await?;
            }
            Ok::<(), BenchError>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| BenchError::Command(e.to_string()))??;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn one(engine: &EngineHandle, host: &str) -> Result<(), BenchError> {
    let job = engine
        .exec(JobSpec {
            host: host.to_owned(),
            command: "true".into(),
            ..JobSpec::default()
        })
        .await
        .map_err(|e| BenchError::Command(e.to_string()))?;
    let snap = engine
        .wait(job, Duration::from_secs(60))
        .await
        .map_err(|e| BenchError::Command(e.to_string()))?;
    if snap.state != JobState::Passed {
        return Err(BenchError::Command(format!(
            "{:?}: {:?}",
            snap.state, snap.exit
        )));
    }
    Ok(())
}

/// OpenSSH client arguments that reach `machine` with the pool's key and known_hosts.
fn ssh_args(pool: &Pool, machine: &Machine) -> Result<Vec<String>, BenchError> {
    let TransportSpec::Ssh(spec) = &machine.transport else {
        return Err(BenchError::Setup(format!(
            "{} is not an SSH machine",
            machine.name
        )));
    };
    let mut args = vec![
        "-p".to_owned(),
        spec.port.to_string(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ];
    if let Some(kh) = &pool.known_hosts {
        args.extend(["-o".into(), format!("UserKnownHostsFile={}", kh.display())]);
    }
    if let Some(id) = &spec.identity {
        args.extend([
            "-i".into(),
            id.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    args.push(format!("{}@{}", spec.user, spec.host));
    Ok(args)
}

fn ssh_run(args: &[String], extra: &[&str]) -> Result<(), BenchError> {
    let status = Process::new("ssh")
        .args(extra)
        .args(args)
        .arg("true")
        .status()
        .map_err(|e| BenchError::Setup(format!("cannot run ssh: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Command(format!("ssh exited with {status}")))
    }
}

fn ssh_rate(
    args: &[String],
    extra: &[String],
    total: usize,
    concurrency: usize,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let share = total / concurrency + usize::from(w < total % concurrency);
                scope.spawn(move || {
                    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                    (0..share).try_for_each(|_| ssh_run(args, &extra))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| BenchError::Command("worker panicked".into()))?
        })
    })?;
    Ok(started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs every measurement and returns the figures in a fixed order.
pub async fn run_ssh(b: &SshBench) -> Result<Vec<Figure>, BenchError> {
    let machine = b
        .pool
        .machine(&b.host)
        .ok_or_else(|| BenchError::Setup(format!("no machine `{}` in the pool", b.host)))?
        .clone();
    let args = ssh_args(&b.pool, &machine)?;
    let n = b.commands;
    let c = b.concurrency.max(1);
    let mut figures = Vec::new();

    // Connect + auth.
    let trust = Trust {
        labdeck_known_hosts: b.pool.known_hosts.clone(),
        user_known_hosts: true,
        accept_new_hostkeys: false,
    };
    let mut connects = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let conn = Connection::open(&machine, &trust, Duration::from_secs(20))
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        connects.push(t.elapsed().as_secs_f64());
        conn.close().await;
    }
    figures.push(Figure {
        name: "labdeck connect+auth".into(),
        commands: 1,
        seconds: median(connects),
    });
    let mut plain = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        ssh_run(&args, &[])?;
        plain.push(t.elapsed().as_secs_f64());
    }
    figures.push(Figure {
        name: "plain ssh, one command".into(),
        commands: 1,
        seconds: median(plain),
    });

    let channel = engine(&b.pool, false);
    figures.push(Figure {
        name: "labdeck channel/command, sequential".into(),
        commands: n,
        seconds: labdeck_run(&channel, &b.host, n, 1).await?,
    });
    figures.push(Figure {
        name: format!("labdeck channel/command, {c} concurrent"),
        commands: n,
        seconds: labdeck_run(&channel, &b.host, n, c).await?,
    });
    channel.shutdown().await;
    let shell = engine(&b.pool, true);
    figures.push(Figure {
        name: "labdeck long-lived shell, sequential".into(),
        commands: n,
        seconds: labdeck_run(&shell, &b.host, n, 1).await?,
    });
    figures.push(Figure {
        name: format!("labdeck shell + channels, {c} concurrent"),
        commands: n,
        seconds: labdeck_run(&shell, &b.host, n, c).await?,
    });
    shell.shutdown().await;

    // OpenSSH ControlMaster.
    let dir = tempfile_dir()?;
    let socket = dir.join("cm.sock");
    let master = Process::new("ssh")
        .args(["-M", "-N", "-f", "-o", "ControlPersist=120", "-S"])
        .arg(&socket)
        .args(&args)
        .status()
        .map_err(|e| BenchError::Setup(format!("cannot start ssh ControlMaster: {e}")))?;
    if !master.success() {
        return Err(BenchError::Setup("ssh ControlMaster did not start".into()));
    }
    let cm = vec!["-S".to_owned(), socket.display().to_string()];
    let seq = ssh_rate(&args, &cm, n, 1);
    let conc = ssh_rate(&args, &cm, n, c);
    let _ = Process::new("ssh")
        .args(["-S"])
        .arg(&socket)
        .args(["-O", "exit"])
        .args(&args)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    figures.push(Figure {
        name: "OpenSSH ControlMaster, sequential".into(),
        commands: n,
        seconds: seq?,
    });
    figures.push(Figure {
        name: format!("OpenSSH ControlMaster, {c} concurrent"),
        commands: n,
        seconds: conc?,
    });

    let p = b.plain_ssh_commands.max(c);
    figures.push(Figure {
        name: "plain ssh per command, sequential".into(),
        commands: p,
        seconds: ssh_rate(&args, &[], p, 1)?,
    });
    figures.push(Figure {
        name: format!("plain ssh per command, {c} concurrent"),
        commands: p,
        seconds: ssh_rate(&args, &[], p, c)?,
    });
    Ok(figures)
}

fn tempfile_dir() -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("labdeck-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok(dir)
}

/// The figures as a table with ratios against OpenSSH.
pub fn render(figures: &[Figure]) -> String {
    use std::fmt::Write as _;
    let find = |prefix: &str| figures.iter().find(|f| f.name.starts_with(prefix));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<44} {:>10} {:>12}",
        "measurement", "commands", "result"
    );
    for f in figures {
        let result = if f.commands == 1 {
            format!("{:.1} ms", f.seconds * 1e3)
        } else {
            format!("{:.0} cmd/s", f.rate())
        };
        let _ = writeln!(s, "{:<44} {:>10} {:>12}", f.name, f.commands, result);
    }
    let ratio = |a: Option<&Figure>, b: Option<&Figure>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}×", a.rate() / b.rate().max(1e-9)),
        _ => "-".into(),
    };
    let _ = writeln!(s, "\nratios");
    let _ = writeln!(
        s,
        "  channel/command vs ControlMaster, sequential: {}",
        ratio(
            find("labdeck channel/command, seq"),
            find("OpenSSH ControlMaster, seq")
        )
    );
    let _ = writeln!(
        s,
        "  long-lived shell vs ControlMaster, sequential: {}",
        ratio(
            find("labdeck long-lived shell"),
            find("OpenSSH ControlMaster, seq")
        )
    );
    let _ = writeln!(
        s,
        "  channel/command vs ControlMaster, concurrent: {}",
        ratio(
            figures
                .iter()
                .find(|f| f.name.starts_with("labdeck channel/command")
                    && f.name.contains("concurrent")),
            figures
                .iter()
                .find(|f| f.name.starts_with("OpenSSH ControlMaster")
                    && f.name.contains("concurrent"))
        )
    );
    if let (Some(conn), Some(plain)) =
        (find("labdeck connect+auth"), find("plain ssh, one command"))
    {
        let _ = writeln!(
            s,
            "  connect+auth / plain ssh command: 1/{:.1}",
            plain.seconds / conn.seconds.max(1e-9)
        );
    }
    s
}
