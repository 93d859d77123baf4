//! Benchmark of the walk executor's own overhead: walks of no-op local actions (`sleep 0`:
//! no process, no network), through the real engine, events and (optionally) the fsynced
//! trace, against py-combtest's execution model in Python doing the same walks
//! (`benchmarks/python/combtest_model.py`, run in the same process tree, same walk count).
//!
//! Run: `cargo run --release --example bench_run [WALKS]` (default 100,000 walks of 3 steps).

use labdeck::engine::{EngineConfig, EngineHandle};
use labdeck::pool::Pool;
use labdeck::run::RunMode;
use labdeck::run::exec::{self, RunControl, RunSettings};
use labdeck::run::prepare::{Prepared, TestbedChoice};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const POOL: &str = "[machines.here]\ntransport = \"local\"\n";

fn recipe(options: usize) -> String {
    let zeros = vec!["0"; options].join(", ");
    let mut text = String::from("name = \"noop\"\n[hosts.box]\n");
    for a in ["a", "b", "c"] {
        text.push_str(&format!(
            "[[actions]]\nname = \"{a}\"\nkind = \"sleep\"\noptions = [{zeros}]\n"
        ));
    }
    text
}

async fn run_once(walks: u64, trace_dir: Option<&Path>) -> BenchResult<(f64, u64)> {
    let options = (walks as f64).cbrt().round().max(1.0) as usize;
    let pool_path = Path::new("bench-pool.toml");
    let pool = Pool::parse(pool_path, POOL)?;
    let prepared = Prepared::new(
        Path::new("noop.toml"),
        recipe(options),
        &[],
        None,
        pool.clone(),
        POOL,
        &TestbedChoice::default(),
    )?;
    let walk_count = prepared.plan.walk_count();
    let engine = EngineHandle::spawn(pool, EngineConfig::default());
    let settings = RunSettings::new(
        RunMode::Run,
        trace_dir.map(Path::to_path_buf),
        Duration::from_secs(60),
    );
    let started = Instant::now();
    let summary =
        exec::execute(&engine, Arc::new(prepared), settings, RunControl::default()).await?;
    let elapsed = started.elapsed().as_secs_f64();
    engine.shutdown().await;
    if summary.footer.passed != walk_count {
        return Err(format!("{} of {walk_count} walks passed", summary.footer.passed).into());
    }
    Ok((elapsed, walk_count))
}

fn python_baseline(walks: u64) -> Option<(f64, f64)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benchmarks/python/combtest_model.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, &walks.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let figure = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((
        figure("steps_per_second ")?,
        figure("steps_per_second_nofsync ")?,
    ))
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let walks: u64 = match std::env::args().nth(1) {
        Some(t) => t.parse()?,
        None => 100_000,
    };
    println!("# labdeck walk executor overhead (3 no-op steps per walk)");
    let (t, n) = run_once(walks, None).await?;
    let rust_no_trace = (n * 3) as f64 / t;
    println!("labdeck, no trace:   {n} walks in {t:.3} s = {rust_no_trace:.0} steps/s");
    let dir = tempfile::tempdir()?;
    let (t, n) = run_once(walks, Some(dir.path())).await?;
    let rust_trace = (n * 3) as f64 / t;
    println!(
        "labdeck, with trace: {n} walks in {t:.3} s = {rust_trace:.0} steps/s (fsync per walk)"
    );
    if let Some((fsynced, buffered)) = python_baseline(n) {
        println!(
            "ratio vs py-combtest model: {:.1}x with traces fsynced per walk, {:.1}x without fsync (labdeck no trace vs Python buffered trace)",
            rust_trace / fsynced,
            rust_no_trace / buffered
        );
    }
    Ok(())
}
