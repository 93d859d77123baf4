//! `labdeck devices`: a host's network devices, discovered in one command.

use super::PoolArgs;
use crate::devices::{self, Device};
use clap::Args;
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The machine whose devices to show.
    pub host: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: DevicesArgs) -> i32 {
    let (_pool, engine, _events) = match args.pool.start_engine() {
        Ok(started) => started,
        Err(code) => return code,
    };
    let result = devices::discover(&engine, &args.host).await;
    engine.shutdown().await;
    match result {
        Ok(found) if args.json => match serde_json::to_string_pretty(&found) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => {
                eprintln!("labdeck: {e}");
                1
            }
        },
        Ok(found) => {
            print!("{}", render(&found));
            0
        }
        Err(devices::DiscoverError::Engine(e)) => {
            super::report(e);
            2
        }
        Err(e) => {
            eprintln!("labdeck: {e}");
            1
        }
    }
}

/// The devices table.
pub fn render(devices: &[Device]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>3}  {:<15} {:<9} {:<8} {:>6}  {:<17}  {:<10} {:<8} ADDRESSES",
        "IDX", "NAME", "KIND", "STATE", "MTU", "HWADDR", "DRIVER", "MASTER"
    );
    for d in devices {
        let addrs: Vec<String> = d.addresses.iter().map(ToString::to_string).collect();
        let line = format!(
            "{:>3}  {:<15} {:<9} {:<8} {:>6}  {:<17}  {:<10} {:<8} {}",
            d.index,
            d.name,
            d.kind,
            d.state,
            d.mtu,
            d.hwaddr.as_deref().unwrap_or("-"),
            d.driver.as_deref().unwrap_or("-"),
            d.master.as_deref().unwrap_or("-"),
            addrs.join(" ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
