//! VPP API client figures against `tests/vpp/peer.py` (a Python VPP stand-in), with the
//! vpp_papi baseline (`benchmarks/python/vpp_papi_ping.py`) measured in the same run:
//! control_ping synchronous and pipelined, and connect + handshake + sockclnt_delete locally
//! and through a cached SSH connection (`direct-streamlocal` channel per client).
//!
//! `cargo run --release --example bench_vpp -- [-n N] [--pool POOL --host HOST]`
//! The peer listens on a socket under /tmp; with a pool, HOST must see the same /tmp (a lab
//! host does: lab sessions share the machine's filesystem except /root).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use labdeck::pool::Pool;
use labdeck::transport::{Connection, Trust};
use labdeck::vpp::{ApiDefinitions, ClientCache, ClientConfig, ClientKey, VppClient};
use serde_json::Value;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn config() -> ClientConfig {
    ClientConfig {
        client_name: "labdeck-bench".into(),
        request_timeout: Duration::from_secs(60),
        disconnect_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

async fn ping_rates(client: &VppClient, n: usize) -> Res<(f64, f64)> {
    let start = Instant::now();
    for _ in 0..n {
        client.ping().await?;
    }
    let sync = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut pending = Vec::with_capacity(n);
    for _ in 0..n {
        pending.push(client.send("control_ping", &Value::Null).await?);
    }
    for p in pending {
        p.wait().await?;
    }
    let pipelined = n as f64 / start.elapsed().as_secs_f64();
    Ok((sync, pipelined))
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = get("-n").map_or(Ok(5000), |v| v.parse())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let api_dir = root.join("tests/data/vpp-api/core");
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("api.sock");
    let socket_str = socket.display().to_string();

    let mut peer = Command::new("python3")
        .arg(root.join("tests/vpp/peer.py"))
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = peer.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    if line.trim() != "ready" {
        return Err("peer.py did not start (python3 with vpp_papi 2.4.2?)".into());
    }

    let defs = Arc::new(ApiDefinitions::load_dir(&api_dir)?);
    let stream = tokio::net::UnixStream::connect(&socket).await?;
    let (client, _events) = VppClient::connect(stream, Arc::clone(&defs), config()).await?;
    let (sync, pipelined) = ping_rates(&client, n).await?;
    client.disconnect().await?;

    let rounds = 100;
    let start = Instant::now();
    for _ in 0..rounds {
        let stream = tokio::net::UnixStream::connect(&socket).await?;
        let (c, _e) = VppClient::connect(stream, Arc::clone(&defs), config()).await?;
        c.disconnect().await?;
    }
    let local_cycle = start.elapsed() / rounds;

    let mut ssh = None;
    if let (Some(pool), Some(host)) = (get("--pool"), get("--host")) {
        let pool = Pool::load(&PathBuf::from(pool))?;
        let machine = pool.machine(&host).ok_or("no such machine")?;
        let trust = Trust {
            labdeck_known_hosts: pool.known_hosts.clone(),
            user_known_hosts: true,
            accept_new_hostkeys: false,
        };
        let connection = Connection::open(machine, &trust, Duration::from_secs(10)).await?;
        let cache = ClientCache::with_definitions(config(), Arc::clone(&defs));
        let key = ClientKey::for_machine(machine, &socket_str);
        let start = Instant::now();
        for _ in 0..rounds {
            cache.connect(&key, &connection).await?;
            cache.disconnect(&key).await;
        }
        let cycle = start.elapsed() / rounds;
        let client = cache.connect(&key, &connection).await?;
        let (ssh_sync, ssh_pipelined) = ping_rates(&client, n).await?;
        drop(client);
        cache.disconnect_all().await;
        connection.close().await;
        ssh = Some((cycle, ssh_sync, ssh_pipelined));
    }

    let papi = Command::new("python3")
        .arg(root.join("benchmarks/python/vpp_papi_ping.py"))
        .arg(&socket)
        .arg(&api_dir)
        .arg(n.to_string())
        .output()?;
    let papi: Value = serde_json::from_slice(&papi.stdout)?;
    drop(peer.stdin.take());
    let _ = peer.kill();
    let _ = peer.wait();

    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!("| what ({n} pings; against peer.py) | labdeck | vpp_papi 2.4.2 |");
    println!("|---|---:|---:|");
    println!(
        "| control_ping synchronous, unix socket | {sync:.0} msg/s | {:.0} msg/s |",
        f(&papi["sync_per_s"])
    );
    println!(
        "| control_ping pipelined, unix socket | {pipelined:.0} msg/s | {:.0} msg/s |",
        f(&papi["pipelined_per_s"])
    );
    println!(
        "| connect + handshake + delete, unix socket | {:.2} ms | {:.1} ms |",
        local_cycle.as_secs_f64() * 1000.0,
        f(&papi["connect_disconnect_ms"])
    );
    println!(
        "| client construction (parse definitions) | - | {:.0} ms |",
        f(&papi["construct_ms"])
    );
    if let Some((cycle, s, p)) = ssh {
        println!(
            "| connect + handshake + delete, cached SSH session | {:.2} ms | - |",
            cycle.as_secs_f64() * 1000.0
        );
        println!("| control_ping synchronous, SSH streamlocal | {s:.0} msg/s | - |");
        println!("| control_ping pipelined, SSH streamlocal | {p:.0} msg/s | - |");
    }
    Ok(())
}
