//! Benchmark of walk plans and trace lookups.
//!
//! Run: `cargo run --release --example bench_walk [TRACE_WALKS]` (default 1,000,000).
//! Prints: 10^7-walk full-plan generation time and peak RSS (VmHWM), covering-array sizes
//! and times, trace generation / index rebuild / lookup-by-id times, and the fsynced writer's
//! throughput. The trace is written to a temporary directory (set `TMPDIR` to choose the disk)
//! and removed afterwards.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use labdeck::walk::plan::splitmix64;
use labdeck::walk::{
    ActionDimension, Header, Outcome, Plan, Step, Strategy, TraceIndex, TraceReader, TraceRecord,
    TraceWriter, WalkEnd,
};
use serde_json::json;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let trace_walks: u64 = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    println!("# labdeck walk benchmark");
    full_plan()?;
    covering_plans()?;
    trace_lookup(trace_walks)?;
    writer_throughput(10_000)?;
    Ok(())
}

/// Peak resident set size of this process, in KiB (VmHWM from /proc/self/status).
fn peak_rss_kib() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmHWM")?
        .parse()?)
}

fn full_plan() -> BenchResult<()> {
    let dimensions: Vec<ActionDimension> = (0..7)
        .map(|position| ActionDimension::new(format!("a{position}"), 10))
        .collect();
    let plan = Plan::new(dimensions, Strategy::Full)?;
    let before = peak_rss_kib()?;
    let started = Instant::now();
    let mut checksum = 0u64;
    let mut count = 0u64;
    for walk in plan.walks() {
        checksum = checksum.wrapping_add(walk.id ^ walk.options[6] as u64);
        count += 1;
    }
    let walks_time = started.elapsed();
    let started = Instant::now();
    let id_sum = plan.walk_ids().fold(0u64, u64::wrapping_add);
    let ids_time = started.elapsed();
    let started = Instant::now();
    let mut round_trips = 0u64;
    for id in (0..plan.space_size()).step_by(10) {
        if plan.id(&plan.walk(id)?)? == id {
            round_trips += 1;
        }
    }
    let decode_time = started.elapsed();
    let after = peak_rss_kib()?;
    println!("\n## Full plan, 10^7 walks (7 actions x 10 options)");
    println!(
        "walks() {count} walks in {:.3} s ({:.1} M walks/s), checksum {checksum:x}",
        walks_time.as_secs_f64(),
        count as f64 / walks_time.as_secs_f64() / 1e6
    );
    println!(
        "walk_ids() {} ids in {:.3} s (sum {id_sum:x})",
        plan.walk_count(),
        ids_time.as_secs_f64()
    );
    println!(
        "walk(id) + id(walk) round trips: {round_trips} in {:.3} s ({:.0} ns each)",
        decode_time.as_secs_f64(),
        decode_time.as_nanos() as f64 / round_trips as f64
    );
    println!(
        "peak RSS (VmHWM): {:.1} MiB before, {:.1} MiB after generating",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

fn covering_plans() -> BenchResult<()> {
    println!("\n## Covering arrays (IPOG)");
    println!("| space | strength | walks | full product | build | coverage check |");
    println!("|---|---|---|---|---|---|");
    for (label, values, actions, strength) in [
        ("3^10", 3, 10, 2),
        ("3^10", 3, 10, 3),
        ("2^20", 2, 20, 2),
        ("2^20", 2, 20, 3),
        ("4^15", 4, 15, 2),
        ("5^8", 5, 8, 3),
    ] {
        let dimensions: Vec<ActionDimension> = (0..actions)
            .map(|position| ActionDimension::new(format!("a{position}"), values))
            .collect();
        let started = Instant::now();
        let plan = Plan::new(dimensions, Strategy::TWise(strength))?;
        let build = started.elapsed();
        let started = Instant::now();
        plan.coverage_check(strength)?;
        let check = started.elapsed();
        println!(
            "| {label} | {strength} | {} | {} | {} | {} |",
            plan.walk_count(),
            plan.space_size(),
            millis(build),
            millis(check)
        );
    }
    Ok(())
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn bench_header() -> Header {
    let mut header = Header::new("bench", "actions: [mtu, ring, ping]\n", "full");
    header.testbeds = vec![
        [("dut".to_string(), "m1".to_string())]
            .into_iter()
            .collect(),
    ];
    header
}

fn bench_step(walk_id: u64, action: &str) -> Step {
    Step {
        walk_id,
        testbed: 0,
        action: action.to_string(),
        option: json!(walk_id % 7),
        command: Some(format!("ip link set dev eth0 {action} {}", walk_id % 7)),
        started_at: 1_763_900_000_000 + walk_id,
        duration_ms: 2,
        exit_status: Some(0),
        outcome: Outcome::Pass,
        output_excerpt: String::new(),
        output_file: None,
    }
}

/// Writes `walks` walks of 3 steps + walk_end, 8 walks in flight at a time (records
/// interleaved), rebuilds the index, and times lookups by id.
fn trace_lookup(walks: u64) -> BenchResult<()> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("trace.jsonl");
    let started = Instant::now();
    {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        out.write_all(&TraceRecord::Header(bench_header()).to_line()?)?;
        const LANES: u64 = 8;
        for batch in (0..walks).step_by(LANES as usize) {
            let lanes = batch..(batch + LANES).min(walks);
            for action in ["mtu", "ring", "ping"] {
                for walk_id in lanes.clone() {
                    out.write_all(&TraceRecord::Step(bench_step(walk_id, action)).to_line()?)?;
                }
            }
            for walk_id in lanes {
                let end = WalkEnd {
                    walk_id,
                    testbed: 0,
                    outcome: Outcome::Pass,
                    duration_ms: 6,
                    failed_action: None,
                };
                out.write_all(&TraceRecord::WalkEnd(end).to_line()?)?;
            }
        }
        out.flush()?;
    }
    let generate = started.elapsed();
    let size = std::fs::metadata(&path)?.len();

    let started = Instant::now();
    let (index, status) = TraceIndex::open(&path)?;
    let rebuild = started.elapsed();

    let mut state = 42u64;
    let mut latencies = Vec::new();
    let mut found_records = 0usize;
    for _ in 0..1000 {
        let walk_id = splitmix64(&mut state) % walks;
        let started = Instant::now();
        let records = index.walk_records(walk_id)?;
        latencies.push(started.elapsed());
        if records.len() != 4 {
            return Err(format!("walk {walk_id}: {} records, expected 4", records.len()).into());
        }
        found_records += records.len();
    }
    drop(index);
    latencies.sort();

    // Open (fresh index) + one lookup, as a `labdeck replay --walk ID` would do.
    let mut open_latencies = Vec::new();
    for _ in 0..100 {
        let walk_id = splitmix64(&mut state) % walks;
        let started = Instant::now();
        let (index, fresh) = TraceIndex::open(&path)?;
        let records = index.walk_records(walk_id)?;
        open_latencies.push(started.elapsed());
        if records.len() != 4 || fresh != labdeck::walk::IndexStatus::Fresh {
            return Err("open + lookup returned wrong records or rebuilt".into());
        }
    }
    open_latencies.sort();

    // Linear scan for one walk, for comparison.
    let target = walks / 2;
    let started = Instant::now();
    let mut scanned = 0usize;
    for entry in TraceReader::open(&path)? {
        if entry?.record.walk_id() == Some(target) {
            scanned += 1;
        }
    }
    let scan = started.elapsed();

    println!(
        "\n## Trace lookup by walk id, {walks} walks (3 steps + walk_end each, 8 interleaved)"
    );
    println!(
        "trace: {:.1} MiB, generated in {:.2} s; index {status:?} in {:.2} s",
        size as f64 / (1 << 20) as f64,
        generate.as_secs_f64(),
        rebuild.as_secs_f64()
    );
    println!(
        "lookup (open index, 1000 random ids, {found_records} records): median {} p99 {} max {}",
        micros(latencies[latencies.len() / 2]),
        micros(latencies[latencies.len() * 99 / 100]),
        micros(latencies[latencies.len() - 1]),
    );
    println!(
        "open + lookup (100 random ids): median {} max {}",
        micros(open_latencies[open_latencies.len() / 2]),
        micros(open_latencies[open_latencies.len() - 1]),
    );
    println!(
        "linear scan with full parsing for one walk: {:.2} s ({scanned} records)",
        scan.as_secs_f64()
    );
    println!(
        "peak RSS (VmHWM) so far: {:.1} MiB",
        peak_rss_kib()? as f64 / 1024.0
    );
    Ok(())
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// The real writer: fsync at every walk_end, index written at finish.
fn writer_throughput(walks: u64) -> BenchResult<()> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("trace.jsonl");
    let started = Instant::now();
    let mut writer = TraceWriter::create(&path, &bench_header())?;
    for walk_id in 0..walks {
        for action in ["mtu", "ring", "ping"] {
            writer.write_step(&bench_step(walk_id, action))?;
        }
        writer.write_walk_end(&WalkEnd {
            walk_id,
            testbed: 0,
            outcome: Outcome::Pass,
            duration_ms: 6,
            failed_action: None,
        })?;
    }
    let footer = writer.finish(walks, 0)?;
    let elapsed = started.elapsed();
    println!("\n## TraceWriter (fsync per walk_end), {walks} walks x 4 records");
    println!(
        "{} walks in {:.2} s: {:.0} walks/s, {:.0} µs per fsynced walk",
        footer.walk_count,
        elapsed.as_secs_f64(),
        walks as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / walks as f64
    );
    Ok(())
}
