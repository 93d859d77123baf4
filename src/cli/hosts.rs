//! `labdeck hosts`: connect to every machine of the pool and print a table.

use super::{PoolArgs, table};
use crate::engine::{Command, HostView, HostViewState, apply_host_event};
use clap::Args;
use std::collections::HashMap;

#[derive(Debug, Args)]
pub struct HostsArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
}

pub async fn run(args: HostsArgs) -> i32 {
    let (pool, engine, mut events) = match args.pool.start_engine() {
        Ok(started) => started,
        Err(code) => return code,
    };
    if engine.send(Command::ConnectAll).is_err() {
        return 1;
    }
    let mut views: HashMap<String, HostView> = HashMap::new();
    let settled = |views: &HashMap<String, HostView>| {
        pool.machines.iter().all(|m| {
            views
                .get(&m.name)
                .is_some_and(|v| matches!(v.state, HostViewState::Up | HostViewState::Failed))
        })
    };
    while !settled(&views) {
        let Some(event) = events.recv().await else {
            break;
        };
        apply_host_event(&mut views, &event);
    }
    let snapshot = engine.snapshot().await.ok();
    engine.shutdown().await;
    print!("{}", render_table(&pool, &views));
    if let Some(snapshot) = snapshot {
        println!();
        print!("{}", render_cache(&snapshot.cache));
    }
    let failed = views
        .values()
        .filter(|v| v.state != HostViewState::Up)
        .count();
    if failed > 0 { 1 } else { 0 }
}

/// The hosts table: name, address, state, connect latency, error (and its hint).
pub fn render_table(pool: &crate::pool::Pool, views: &HashMap<String, HostView>) -> String {
    let rows: Vec<[String; 5]> = pool
        .machines
        .iter()
        .map(|m| {
            let v = views.get(&m.name).cloned().unwrap_or_default();
            let address = match &m.transport {
                crate::pool::TransportSpec::Local => "local".to_owned(),
                crate::pool::TransportSpec::Ssh(s) => s.display_address(),
            };
            let error = match (&v.error, &v.hint) {
                (Some(e), Some(h)) => format!("{e} (hint: {h})"),
                (Some(e), None) => e.clone(),
                _ => String::new(),
            };
            [
                m.name.clone(),
                address,
                v.state.label().to_owned(),
                v.latency
                    .map_or("-".into(), |l| format!("{:.1} ms", l.as_secs_f64() * 1e3)),
                error,
            ]
        })
        .collect();
    table(
        &["NAME", "ADDRESS", "STATE", "LATENCY", "ERROR"],
        rows.into_iter().map(Vec::from).collect(),
    )
}

/// The connection cache: key, state, connections, channels in use, reuse count, machines.
pub fn render_cache(cache: &[crate::engine::cache::CacheView]) -> String {
    let rows: Vec<Vec<String>> = cache
        .iter()
        .map(|c| {
            vec![
                c.key.clone(),
                c.state.to_owned(),
                c.connections.to_string(),
                c.channels_in_use.to_string(),
                c.reuse_count.to_string(),
                c.machines.join(","),
            ]
        })
        .collect();
    table(
        &[
            "CACHE KEY",
            "STATE",
            "CONNS",
            "CHANNELS",
            "REUSED",
            "MACHINES",
        ],
        rows,
    )
}
