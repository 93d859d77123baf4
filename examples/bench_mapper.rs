//! Mapper benchmark: time to first match and to K disjoint testbeds on generated pools of 100
//! and 1000 machines (4 interfaces each, 3 networks), against a Python re-implementation of
//! LNST's MachineMapper on the same pools (`benchmarks/python/lnst_mapper.py`).
//!
//! Run: `cargo run --release --example bench_mapper` (needs `python3` on PATH for the
//! baseline; without it the baseline columns say so). Pools are generated deterministically
//! (SplitMix64, fixed seed) and handed to Python as JSON in the system temp directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use labdeck::mapper::{
    HostReq, Interface, InterfaceReq, Machine, Mapper, Matcher, PoolView, PropertyReq, Requirements,
};
use serde_json::{Value, json};

/// Python baseline runs longer than this are stopped and reported as a timeout.
const BASELINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Deterministic SplitMix64.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

const NETWORKS: [&str; 3] = ["A", "B", "C"];

/// `count` machines `m0001…`: 70 % x86_64, one 4-port NIC each (ixgbe 50 %, mlx5_core 30 %,
/// ice 20 %), ports on random networks. The last machine is the single `model=special` box,
/// all ports on network C.
fn generate_pool(count: usize, seed: u64) -> PoolView {
    let mut rng = SplitMix64(seed);
    let machines = (0..count)
        .map(|index| {
            let arch = if rng.below(10) < 7 {
                "x86_64"
            } else {
                "aarch64"
            };
            let driver = match rng.below(10) {
                0..=4 => "ixgbe",
                5..=7 => "mlx5_core",
                _ => "ice",
            };
            let special = index + 1 == count;
            let mut properties = BTreeMap::from([("arch".to_string(), arch.to_string())]);
            if special {
                properties.insert("model".into(), "special".into());
            }
            let interfaces = (0..4)
                .map(|port| Interface {
                    name: format!("eth{port}"),
                    network: Some(
                        if special {
                            "C"
                        } else {
                            NETWORKS[rng.below(3) as usize]
                        }
                        .to_string(),
                    ),
                    driver: Some(if special { "ice" } else { driver }.to_string()),
                    hwaddr: Some(format!(
                        "52:54:00:{:02x}:{:02x}:{port:02x}",
                        index / 256,
                        index % 256
                    )),
                    properties: BTreeMap::new(),
                })
                .collect();
            Machine {
                name: format!("m{:04}", index + 1),
                properties,
                interfaces,
            }
        })
        .collect();
    PoolView { machines }
}

fn iface(role: &str, label: &str, driver: Option<&str>) -> InterfaceReq {
    InterfaceReq {
        role: role.into(),
        network: label.into(),
        driver: driver.map(|driver| Matcher::Equals(driver.into())),
        properties: Vec::new(),
    }
}

fn role(name: &str, properties: Vec<PropertyReq>, interfaces: Vec<InterfaceReq>) -> HostReq {
    HostReq {
        role: name.into(),
        properties,
        interfaces,
    }
}

/// A typical 4-role recipe: a DUT and a traffic generator on two networks, a monitor and a
/// controller.
fn typical_recipe() -> Requirements {
    let x86 = || vec![PropertyReq::equals("arch", "x86_64")];
    Requirements {
        hosts: vec![
            role("ctl", vec![], vec![iface("mgmt", "net3", None)]),
            role(
                "dut",
                x86(),
                vec![
                    iface("p0", "net1", Some("ice")),
                    iface("p1", "net2", Some("ice")),
                ],
            ),
            role("mon", vec![], vec![iface("tap", "net1", None)]),
            role(
                "tgen",
                x86(),
                vec![
                    iface("p0", "net1", Some("mlx5_core")),
                    iface("p1", "net2", Some("mlx5_core")),
                ],
            ),
        ],
    }
}

/// The typical recipe with the monitor replaced by a role only the single `model=special`
/// machine (ports on C only) can take: net1 must be C. Roles in name order do not see this
/// until the last role.
fn tight_recipe() -> Requirements {
    let mut recipe = typical_recipe();
    recipe.hosts[2] = role(
        "zz_special",
        vec![PropertyReq::equals("model", "special")],
        vec![iface("tap", "net1", Some("ice"))],
    );
    recipe
}

/// LNST's input format: string parameters (driver and hwaddr are interface parameters).
fn lnst_input(pool: &PoolView, recipe: &Requirements) -> Value {
    let pool_json: serde_json::Map<String, Value> = pool
        .machines
        .iter()
        .map(|machine| {
            let mut params = machine.properties.clone();
            params.insert("hostname".into(), machine.name.clone());
            let interfaces: serde_json::Map<String, Value> = machine
                .interfaces
                .iter()
                .map(|interface| {
                    (
                        interface.name.clone(),
                        json!({
                            "network": interface.network,
                            "params": {"driver": interface.driver, "hwaddr": interface.hwaddr},
                        }),
                    )
                })
                .collect();
            (
                machine.name.clone(),
                json!({"params": params, "interfaces": interfaces}),
            )
        })
        .collect();
    let equals = |matcher: &Matcher| match matcher {
        Matcher::Equals(value) => value.clone(),
        _ => String::new(),
    };
    let mreqs: serde_json::Map<String, Value> = recipe
        .hosts
        .iter()
        .map(|host| {
            let params: BTreeMap<&str, String> = host
                .properties
                .iter()
                .map(|property| (property.key.as_str(), equals(&property.matcher)))
                .collect();
            let interfaces: serde_json::Map<String, Value> = host
                .interfaces
                .iter()
                .map(|interface| {
                    let mut params = BTreeMap::new();
                    if let Some(driver) = &interface.driver {
                        params.insert("driver", equals(driver));
                    }
                    (
                        interface.role.clone(),
                        json!({"network": interface.network, "params": params}),
                    )
                })
                .collect();
            (
                host.role.clone(),
                json!({"params": params, "interfaces": interfaces}),
            )
        })
        .collect();
    json!({"pool": pool_json, "mreqs": mreqs})
}

/// Outcome of one baseline run.
enum Baseline {
    Seconds { seconds: f64, matched: bool },
    TimedOut,
    Unavailable(String),
}

fn run_baseline(script: &Path, input: &Path) -> Baseline {
    let child = Command::new("python3")
        .arg(script)
        .arg(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return Baseline::Unavailable(format!("python3: {error}")),
    };
    let deadline = Instant::now() + BASELINE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Baseline::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => return Baseline::Unavailable(error.to_string()),
        }
    }
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(error) => return Baseline::Unavailable(error.to_string()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(value) => Baseline::Seconds {
            seconds: value["seconds"].as_f64().unwrap_or(f64::NAN),
            matched: !value["mapping"].is_null(),
        },
        Err(_) => Baseline::Unavailable(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// Median wall time of `runs` calls of `f` (at least one), each on a fresh untimed `setup()`.
fn median_time_with<S, T>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut f: impl FnMut(S) -> T,
) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let input = setup();
        let start = Instant::now();
        let value = f(input);
        times.push(start.elapsed());
        last = Some(value);
    }
    times.sort();
    let value = last.unwrap_or_else(|| f(setup()));
    (
        times.get(times.len() / 2).copied().unwrap_or_default(),
        value,
    )
}

/// Median wall time of `runs` calls.
fn median_time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    median_time_with(runs, || (), |()| f())
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

fn main() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benchmarks/python/lnst_mapper.py");
    let temp = std::env::temp_dir().join(format!("labdeck-bench-mapper-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&temp) {
        eprintln!("cannot create {}: {error}", temp.display());
        std::process::exit(1);
    }

    println!("labdeck mapper benchmark (pool: 4 interfaces/machine, 3 networks, 4-role recipes)");
    println!(
        "{:<8} {:>5} | {:>12} {:>12} {:>12} | {:>14} {:>14} | {:>16} {:>9}",
        "recipe",
        "pool",
        "build",
        "first match",
        "build+first",
        "disjoint K=10",
        "disjoint max",
        "LNST (Python)",
        "ratio"
    );
    for (recipe_name, recipe) in [("typical", typical_recipe()), ("tight", tight_recipe())] {
        for machines in [100usize, 1000] {
            let pool = generate_pool(machines, 0x1abd_ec00 + machines as u64);

            let inputs = || (pool.clone(), recipe.clone());
            let (build, mapper) =
                median_time_with(21, inputs, |(pool, recipe)| Mapper::new(pool, recipe));
            let mapper = match mapper {
                Ok(mapper) => mapper,
                Err(error) => {
                    eprintln!("invalid benchmark input: {error}");
                    std::process::exit(1);
                }
            };
            let (first, testbed) = median_time(21, || mapper.first_match());
            let (both, _) = median_time_with(21, inputs, |(pool, recipe)| {
                Mapper::new(pool, recipe)
                    .ok()
                    .and_then(|mapper| mapper.first_match())
            });
            let (k10, ten) = median_time(5, || mapper.disjoint(10));
            let (kmax, all) = median_time(3, || mapper.disjoint(machines / 4));

            let input = temp.join(format!("{recipe_name}-{machines}.json"));
            let baseline = match serde_json::to_vec(&lnst_input(&pool, &recipe)) {
                Ok(bytes) => match std::fs::write(&input, bytes) {
                    Ok(()) => run_baseline(&script, &input),
                    Err(error) => Baseline::Unavailable(error.to_string()),
                },
                Err(error) => Baseline::Unavailable(error.to_string()),
            };
            let (baseline_text, ratio_text) = match &baseline {
                Baseline::Seconds { seconds, matched } => {
                    if *matched != testbed.is_some() {
                        eprintln!(
                            "warning: baseline and mapper disagree on whether a match exists"
                        );
                    }
                    let ratio = seconds / both.as_secs_f64();
                    (format!("{:.3} ms", seconds * 1e3), format!("{ratio:.0}x"))
                }
                Baseline::TimedOut => (
                    format!("> {} s (timeout)", BASELINE_TIMEOUT.as_secs()),
                    format!(
                        "> {:.0}x",
                        BASELINE_TIMEOUT.as_secs_f64() / both.as_secs_f64()
                    ),
                ),
                Baseline::Unavailable(reason) => {
                    eprintln!("baseline unavailable: {reason}");
                    ("n/a".to_string(), "n/a".to_string())
                }
            };
            println!(
                "{:<8} {:>5} | {:>12} {:>12} {:>12} | {:>14} {:>14} | {:>16} {:>9}",
                recipe_name,
                machines,
                ms(build),
                ms(first),
                ms(both),
                format!("{} ({})", ms(k10), ten.testbeds.len()),
                format!("{} ({})", ms(kmax), all.testbeds.len()),
                baseline_text,
                ratio_text,
            );
            if testbed.is_none() {
                println!("  (no match: {})", mapper.explain().to_string().trim());
            }
            if !all.exhaustive && !all.is_complete() {
                println!("  (disjoint max: search budget exhausted before proving the maximum)");
            }
        }
    }
    println!();
    println!(
        "build = Mapper::new (validate, compile, candidates, symmetry; input clone untimed); \
         ratio = LNST / (build+first)."
    );
    println!("disjoint max requests machines/4 testbeds; (n) = testbeds found.");
    let _ = std::fs::remove_dir_all(&temp);
}
