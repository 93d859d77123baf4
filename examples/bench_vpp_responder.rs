//! VPP API client figures against the fast Rust responder (`labdeck::vpp::responder`), so the
//! client is measured and not the server: labdeck's client and vpp_papi's
//! (`benchmarks/python/vpp_papi_ping.py`) against the SAME responder in the same run —
//! control_ping synchronous and pipelined, connect + handshake + sockclnt_delete locally, and
//! through a cached SSH connection (`direct-streamlocal`, definitions kept by the cache).
//!
//! `cargo run --release --example bench_vpp_responder -- [-n N] [--pool POOL --host HOST]`
//! The responder runs on its own thread (its own runtime) and listens under /tmp; with a pool,
//! HOST must see the same /tmp (a lab host does).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labdeck::engine::vpp::{DefinitionsSource, VppSettings};
use labdeck::engine::{DisconnectTarget, EngineConfig, EngineHandle};
use labdeck::pool::Pool;
use labdeck::transport::{Connection, Trust};
use labdeck::vpp::responder::Responder;
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

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = get("-n").map_or(Ok(20000), |v| v.parse())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let api_dir = root.join("tests/data/vpp-api/core");
    let defs = Arc::new(ApiDefinitions::load_dir(&api_dir)?);
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("api.sock");
    let socket_str = socket.display().to_string();

    // The responder on its own thread and runtime.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let responder_defs = Arc::clone(&defs);
    let responder_socket = socket.clone();
    let responder_thread = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            match Responder::bind(&responder_defs, &responder_socket) {
                Ok(responder) => {
                    let _ = ready_tx.send(Ok(()));
                    let _ = stop_rx.await;
                    drop(responder);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            }
        });
    });
    ready_rx.recv()??;

    let stream = tokio::net::UnixStream::connect(&socket).await?;
    let (client, _events) = VppClient::connect(stream, Arc::clone(&defs), config()).await?;
    // warm up
    ping_rates(&client, n / 10).await?;
    let (sync, pipelined) = ping_rates(&client, n).await?;
    client.disconnect().await?;

    let rounds = 200;
    let mut local = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let stream = tokio::net::UnixStream::connect(&socket).await?;
        let (c, _e) = VppClient::connect(stream, Arc::clone(&defs), config()).await?;
        c.disconnect().await?;
        local.push(start.elapsed());
    }
    let local_cycle = median(local);

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
        // the first connect loads the definitions; later ones reuse them
        cache.connect(&key, &connection).await?;
        cache.disconnect(&key).await;
        let mut cycles = Vec::with_capacity(rounds);
        let mut connects = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            cache.connect(&key, &connection).await?;
            connects.push(start.elapsed());
            cache.disconnect(&key).await;
            cycles.push(start.elapsed());
        }
        let client = cache.connect(&key, &connection).await?;
        let (ssh_sync, ssh_pipelined) = ping_rates(&client, n).await?;
        drop(client);
        cache.disconnect_all().await;
        connection.close().await;

        // The same through the engine: a call right after the client was disconnected
        // reconnects it (channel open + handshake) and pings.
        let mut pool = pool.clone();
        for m in &mut pool.machines {
            m.vpp.api_sockets = vec![socket_str.clone()];
        }
        let engine = EngineHandle::spawn(
            pool,
            EngineConfig {
                trust,
                ..EngineConfig::default()
            },
        );
        engine.vpp_configure(VppSettings {
            definitions: DefinitionsSource::Dir(api_dir.clone()),
            client: config(),
            ping_every: None,
            ..VppSettings::default()
        })?;
        engine.vpp_call(&host, "control_ping", Value::Null).await?;
        let mut reconnects = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            engine.vpp_disconnect(DisconnectTarget::All).await?;
            let start = Instant::now();
            engine.vpp_call(&host, "control_ping", Value::Null).await?;
            reconnects.push(start.elapsed());
        }
        engine.shutdown().await;
        ssh = Some((
            median(connects),
            median(cycles),
            ssh_sync,
            ssh_pipelined,
            median(reconnects),
        ));
    }

    let papi = Command::new("python3")
        .arg(root.join("benchmarks/python/vpp_papi_ping.py"))
        .arg(&socket)
        .arg(&api_dir)
        .arg(n.to_string())
        .output()?;
    if !papi.status.success() {
        return Err(format!(
            "vpp_papi baseline failed: {}",
            String::from_utf8_lossy(&papi.stderr)
        )
        .into());
    }
    let papi: Value = serde_json::from_slice(&papi.stdout)?;
    let _ = stop_tx.send(());
    let _ = responder_thread.join();

    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let (papi_sync, papi_pipelined, papi_cycle) = (
        f(&papi["sync_per_s"]),
        f(&papi["pipelined_per_s"]),
        f(&papi["connect_disconnect_ms"]),
    );
    println!("| what ({n} pings; against the Rust responder) | labdeck | vpp_papi 2.4.2 | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| control_ping synchronous, unix socket | {sync:.0} msg/s | {papi_sync:.0} msg/s | {:.1}x |",
        sync / papi_sync
    );
    println!(
        "| control_ping pipelined, unix socket | {pipelined:.0} msg/s | {papi_pipelined:.0} msg/s | {:.1}x |",
        pipelined / papi_pipelined
    );
    let local_ms = local_cycle.as_secs_f64() * 1000.0;
    println!(
        "| connect + handshake + delete, unix socket (median) | {local_ms:.2} ms | {papi_cycle:.1} ms | {:.1}x |",
        papi_cycle / local_ms
    );
    println!(
        "| client construction (parse definitions) | - | {:.0} ms | |",
        f(&papi["construct_ms"])
    );
    if let Some((connect, cycle, s, p, engine_reconnect)) = ssh {
        println!(
            "| engine: control_ping right after a disconnect (reconnect + handshake + ping), SSH (median) | {:.2} ms | - | |",
            engine_reconnect.as_secs_f64() * 1000.0
        );
        println!(
            "| connect + handshake, cached SSH session (median) | {:.2} ms | - | |",
            connect.as_secs_f64() * 1000.0
        );
        println!(
            "| connect + handshake + delete, cached SSH session (median) | {:.2} ms | - | |",
            cycle.as_secs_f64() * 1000.0
        );
        println!("| control_ping synchronous, SSH streamlocal | {s:.0} msg/s | - | |");
        println!("| control_ping pipelined, SSH streamlocal | {p:.0} msg/s | - | |");
    }
    Ok(())
}
