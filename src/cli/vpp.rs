//! `labdeck vpp`: VPP binary-API calls on a pool machine, through its SSH connection
//! (`direct-streamlocal` to the machine's `vpp_api_sockets`), and the client cache.
//!
//! Invariants: output is JSON on stdout, errors with a hint on stderr; usage and config errors
//! (pool, unknown machine or message, bad JSON, no definitions, no socket) exit with 2, VPP
//! and connection failures with 1. A one-shot command has its own cache: every client it
//! connected is disconnected (`sockclnt_delete`) before it exits, so it leaks none. Everything
//! goes through the engine (its VPP client cache on the machine's cached connection); the
//! engine uses each machine's first API socket (`--socket` replaces the machine's list).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use super::{PoolArgs, report};
use crate::engine::vpp::{DefinitionsSource, VppEngineError, VppSettings};
use crate::engine::{DisconnectTarget, EngineHandle, Event};
use crate::pool::{Machine, Pool};
use crate::vpp::event::{VppClientEvent, VppClientEventKind};
use crate::vpp::{
    ApiDefinitions, CacheError, ClientConfig, ClientKey, CrcCollections, load_api_tree,
    nearest_name,
};

/// `labdeck vpp` options.
#[derive(Debug, Args)]
pub struct VppArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// VPP's `.api.json` files (this directory and its subdirectories).
    #[arg(long, default_value = "/usr/share/vpp/api", value_name = "DIR")]
    pub api_dir: PathBuf,
    /// Copy the `.api.json` files from this directory on each machine instead (they match
    /// the VPP installed there); usually /usr/share/vpp/api.
    #[arg(long, value_name = "REMOTE_DIR", conflicts_with = "api_dir")]
    pub host_api_dir: Option<String>,
    /// Ask each VPP for its definitions (`get_api_json`, VPP >= 24.02) instead.
    #[arg(long, conflicts_with_all = ["api_dir", "host_api_dir"])]
    pub api_json: bool,
    /// Which API socket of the machine (default: the first of its `vpp_api_sockets`).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<String>,
    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub timeout: f64,
    #[command(subcommand)]
    pub command: VppCommand,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum VppCommand {
    /// Connect every VPP socket of the pool (or of HOSTs), ping each, print the client cache.
    Clients {
        /// Machines (default: every machine with vpp_api_sockets).
        hosts: Vec<String>,
    },
    /// Connect, then disconnect (sockclnt_delete) all clients or those of KEY.
    Disconnect {
        /// Every client.
        #[arg(long, conflicts_with = "key")]
        all: bool,
        /// HOST:PORT:SOCKET as `clients` shows it, or a machine name.
        key: Option<String>,
    },
    /// HOST call MSG '{json}' | HOST dump MSG '{json}' | HOST cli "show interface" |
    /// HOST ping | HOST restart | HOST crc FILE
    #[command(external_subcommand)]
    Host(Vec<String>),
}

#[derive(Debug, Parser)]
#[command(name = "labdeck vpp [OPTIONS] HOST")]
struct HostCli {
    #[command(subcommand)]
    action: HostAction,
}

#[derive(Debug, Subcommand)]
enum HostAction {
    /// Send a request, print its reply.
    Call {
        message: String,
        #[arg(default_value = "{}")]
        args: String,
    },
    /// Old-style dump: print every details message.
    Dump {
        message: String,
        #[arg(default_value = "{}")]
        args: String,
    },
    /// Run a VPP CLI command (cli_inband), print its output.
    Cli { command: String },
    /// control_ping: print the round trip.
    Ping,
    /// Disconnect the machine's clients, run its vpp_restart_command, wait for the API.
    Restart {
        /// Seconds to wait for the API after the command.
        #[arg(long, default_value_t = 60.0)]
        deadline: f64,
    },
    /// Check the VPP's message CRCs against a CSIT supported_crcs.yaml-shaped file.
    Crc { file: PathBuf },
}

fn usage(message: &str, hint: &str) -> i32 {
    eprintln!("error: {message}\n  hint: {hint}");
    2
}

fn print(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Runs `labdeck vpp ...`; returns the exit code.
pub async fn run(args: VppArgs) -> i32 {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return usage(
            &format!("--timeout {} is not a positive number", args.timeout),
            "seconds, e.g. --timeout 5",
        );
    }
    let mut pool = match args.pool.load() {
        Ok(pool) => pool,
        Err(e) => {
            report(e);
            return 2;
        }
    };
    if let Some(socket) = &args.socket {
        for machine in &mut pool.machines {
            machine.vpp.api_sockets = vec![socket.clone()];
        }
    }
    let engine = EngineHandle::spawn(pool.clone(), args.pool.engine_config(&pool));
    let Ok(events) = engine.subscribe() else {
        return 1;
    };
    // Local definitions are loaded here too, to check message names before connecting.
    let defs = match (&args.host_api_dir, args.api_json) {
        (Some(_), _) | (None, true) => None,
        (None, false) => match load_api_tree(&args.api_dir) {
            Ok(defs) => Some(defs),
            Err(e) => {
                engine.shutdown().await;
                return usage(
                    &format!("cannot load VPP API definitions: {e}"),
                    "point --api-dir at VPP's .api.json files (installed in /usr/share/vpp/api), or use --host-api-dir",
                );
            }
        },
    };
    let definitions = definitions_source(&args);
    let settings = VppSettings {
        definitions,
        client: ClientConfig {
            client_name: "labdeck".into(),
            request_timeout: Duration::from_secs_f64(args.timeout.min(3600.0)),
            ..ClientConfig::default()
        },
        ping_every: None,
        ..VppSettings::default()
    };
    let printer = tokio::spawn(print_progress(events));
    let code = match engine.vpp_configure(settings) {
        Ok(()) => {
            let runner = Runner {
                pool,
                args: &args,
                engine: engine.clone(),
                defs,
            };
            runner.run().await
        }
        Err(e) => failed(&e),
    };
    // Disconnects every VPP client (sockclnt_delete) before closing the connections.
    engine.shutdown().await;
    printer.abort();
    code
}

fn definitions_source(args: &VppArgs) -> DefinitionsSource {
    match (&args.host_api_dir, args.api_json) {
        (Some(dir), _) => DefinitionsSource::Host(dir.clone()),
        (None, true) => DefinitionsSource::ApiJson,
        (None, false) => DefinitionsSource::Dir(args.api_dir.clone()),
    }
}

async fn print_progress(mut events: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        if let Event::Vpp(event) = event
            && let Some(line) = progress_line(&event)
        {
            eprintln!("vpp: {line}");
        }
    }
}

fn progress_line(event: &VppClientEvent) -> Option<String> {
    use VppClientEventKind as K;
    let secs = event.latency.map_or(0.0, |l| l.as_secs_f64());
    let key = &event.key;
    Some(match event.kind {
        K::RestartStarted => format!("restarting VPP on {key}: {}", event.detail),
        K::RestartWaiting if event.detail == "restart command done" => {
            format!("restart command done in {secs:.2} s")
        }
        K::RestartWaiting => format!("waiting for the API ({secs:.2} s): {}", event.detail),
        K::RestartReady => format!("{key} answers after {secs:.2} s"),
        K::Dead => format!("{key} died: {}", event.detail),
        K::Reconnecting => format!("{key}: reconnecting once"),
        _ => return None,
    })
}

fn failed(error: &VppEngineError) -> i32 {
    eprintln!("error: {error}\n  hint: {}", error.hint());
    match error {
        VppEngineError::UnknownHost { .. } | VppEngineError::NoSocket { .. } => 2,
        _ => 1,
    }
}

struct Runner<'a> {
    pool: Pool,
    args: &'a VppArgs,
    engine: EngineHandle,
    defs: Option<ApiDefinitions>,
}

impl Runner<'_> {
    async fn run(&self) -> i32 {
        match &self.args.command {
            VppCommand::Host(words) => self.host(words.clone()).await,
            VppCommand::Clients { hosts } => self.clients(hosts.clone()).await,
            VppCommand::Disconnect { all, key } => self.disconnect(*all, key.clone()).await,
        }
    }

    fn machine(&self, name: &str) -> Result<Machine, i32> {
        self.pool.machine(name).cloned().ok_or_else(|| {
            let hint = match nearest_name(name, self.pool.machine_names()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "`labdeck hosts --pool P` lists the machines".into(),
            };
            usage(&format!("no machine `{name}` in the pool"), &hint)
        })
    }

    fn check_sockets(&self, machine: &Machine) -> Result<(), i32> {
        if machine.vpp.api_sockets.is_empty() {
            return Err(usage(
                &format!("machine `{}` has no vpp_api_sockets", machine.name),
                "add `vpp_api_sockets = [\"/run/vpp/api.sock\"]` to it in the pool, or pass --socket PATH",
            ));
        }
        Ok(())
    }

    /// Connects the machine's client (a control_ping through the engine).
    async fn connect(&self, machine: &Machine) -> Result<Duration, VppEngineError> {
        let started = Instant::now();
        self.engine
            .vpp_call(&machine.name, "control_ping", json!({}))
            .await?;
        Ok(started.elapsed())
    }

    async fn host(&self, words: Vec<String>) -> i32 {
        let Some((name, rest)) = words.split_first() else {
            return usage(
                "no machine named",
                "labdeck vpp --pool P HOST call MSG '{json}'",
            );
        };
        let mut argv = vec!["labdeck vpp HOST".to_string()];
        argv.extend(rest.iter().cloned());
        let action = match HostCli::try_parse_from(argv) {
            Ok(cli) => cli.action,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() { 2 } else { 0 };
            }
        };
        let machine = match self.machine(name) {
            Ok(m) => m,
            Err(code) => return code,
        };
        if let Err(code) = self.check_sockets(&machine) {
            return code;
        }
        // Arguments are checked before anything is connected.
        let parsed = match &action {
            HostAction::Call { message, args } | HostAction::Dump { message, args } => {
                if let Some(defs) = &self.defs
                    && defs.message(message).is_none()
                {
                    let hint = match nearest_name(message, defs.message_names()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "check --api-dir".into(),
                    };
                    return usage(&format!("no message `{message}` in the definitions"), &hint);
                }
                match serde_json::from_str::<Value>(args) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(other) => {
                        return usage(
                            &format!("arguments must be a JSON object, not {other}"),
                            "e.g. '{\"sw_if_index\": 1}'",
                        );
                    }
                    Err(e) => {
                        return usage(
                            &format!("arguments are not JSON: {e}"),
                            "quote them for the shell: '{\"sw_if_index\": 1}'",
                        );
                    }
                }
            }
            _ => Value::Null,
        };
        let name = machine.name.as_str();
        match action {
            HostAction::Call { message, .. } => {
                match self.engine.vpp_call(name, &message, parsed).await {
                    Ok(reply) => {
                        let code = i32::from(
                            reply
                                .get("retval")
                                .and_then(Value::as_i64)
                                .is_some_and(|r| r != 0),
                        );
                        let reply_name = self.reply_name(&message);
                        print(&json!({"name": reply_name, "reply": reply}));
                        code
                    }
                    Err(e) => failed(&e),
                }
            }
            HostAction::Dump { message, .. } => {
                match self.engine.vpp_dump(name, &message, parsed).await {
                    Ok(details) => {
                        print(&Value::Array(details));
                        0
                    }
                    Err(e) => failed(&e),
                }
            }
            HostAction::Cli { command } => {
                match self
                    .engine
                    .vpp_call(name, "cli_inband", json!({"cmd": command}))
                    .await
                {
                    Ok(reply) => {
                        let retval = reply.get("retval").and_then(Value::as_i64).unwrap_or(0);
                        print(&json!({
                            "command": command,
                            "retval": retval,
                            "reply": reply.get("reply").cloned().unwrap_or(Value::Null),
                        }));
                        i32::from(retval != 0)
                    }
                    Err(e) => failed(&e),
                }
            }
            HostAction::Ping => {
                // The first ping connects; the second measures the round trip.
                let measured = async {
                    self.connect(&machine).await?;
                    self.connect(&machine).await
                }
                .await;
                match measured {
                    Ok(rtt) => {
                        let key = ClientKey::for_machine(&machine, &machine.vpp.api_sockets[0]);
                        print(&json!({"key": key.to_string(), "rtt_us": rtt.as_micros()}));
                        0
                    }
                    Err(e) => failed(&e),
                }
            }
            HostAction::Crc { file } => {
                let expected = match CrcCollections::load(&file) {
                    Ok(c) => c,
                    Err(e) => return usage(&e.to_string(), &e.hint()),
                };
                match self.engine.vpp_check_crcs(name, expected).await {
                    Ok(report) => {
                        print(&json!(report));
                        0
                    }
                    Err(VppEngineError::Vpp(error)) => match *error {
                        CacheError::CrcMismatch { report, .. } => {
                            print(&json!(report));
                            eprintln!("error: {report}");
                            1
                        }
                        other => failed(&VppEngineError::from(other)),
                    },
                    Err(e) => failed(&e),
                }
            }
            HostAction::Restart { deadline } => self.restart(&machine, deadline).await,
        }
    }

    /// The reply message's name, as the definitions' service says (`<msg>_reply` otherwise).
    fn reply_name(&self, message: &str) -> String {
        self.defs
            .as_ref()
            .and_then(|d| d.service(message))
            .and_then(|s| s.reply.clone())
            .unwrap_or_else(|| format!("{message}_reply"))
    }

    async fn restart(&self, machine: &Machine, deadline: f64) -> i32 {
        if !(deadline.is_finite() && deadline > 0.0) {
            return usage(
                &format!("--deadline {deadline} is not a positive number"),
                "seconds, e.g. --deadline 60",
            );
        }
        // The deadline is a setting of the engine's VPP part.
        let settings = VppSettings {
            restart_deadline: Duration::from_secs_f64(deadline.min(3600.0)),
            ..self.settings()
        };
        if let Err(e) = self.engine.vpp_configure(settings) {
            return failed(&e);
        }
        // Connect the machine's client first, so the restart has a client to restore.
        if let Err(e) = self.connect(machine).await {
            eprintln!("vpp: before the restart: {e}");
        }
        match self.engine.vpp_restart(&machine.name).await {
            Ok(report) => {
                let clients = self.engine.vpp_clients().await.unwrap_or_default();
                print(&json!({"restart": report, "clients": clients}));
                0
            }
            Err(e) => failed(&e),
        }
    }

    fn settings(&self) -> VppSettings {
        VppSettings {
            definitions: definitions_source(self.args),
            client: ClientConfig {
                client_name: "labdeck".into(),
                request_timeout: Duration::from_secs_f64(self.args.timeout.min(3600.0)),
                ..ClientConfig::default()
            },
            ping_every: None,
            ..VppSettings::default()
        }
    }

    fn targets(&self, hosts: &[String]) -> Result<Vec<Machine>, i32> {
        let mut out = Vec::new();
        if hosts.is_empty() {
            out.extend(
                self.pool
                    .machines
                    .iter()
                    .filter(|m| !m.vpp.api_sockets.is_empty())
                    .cloned(),
            );
            if out.is_empty() {
                return Err(usage(
                    "no machine of the pool has vpp_api_sockets",
                    "add `vpp_api_sockets = [\"/run/vpp/api.sock\"]` to the machines running VPP",
                ));
            }
        } else {
            for name in hosts {
                let machine = self.machine(name)?;
                self.check_sockets(&machine)?;
                out.push(machine);
            }
        }
        Ok(out)
    }

    async fn connect_all(&self, targets: &[Machine]) -> Vec<String> {
        let mut errors = Vec::new();
        for machine in targets {
            if let Err(e) = self.connect(machine).await {
                errors.push(format!("{}: {e}\n  hint: {}", machine.name, e.hint()));
            }
        }
        errors
    }

    async fn clients(&self, hosts: Vec<String>) -> i32 {
        let targets = match self.targets(&hosts) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let errors = self.connect_all(&targets).await;
        let clients = self.engine.vpp_clients().await.unwrap_or_default();
        print(&json!({"clients": clients, "errors": errors}));
        i32::from(!errors.is_empty())
    }

    async fn disconnect(&self, all: bool, key: Option<String>) -> i32 {
        let (targets, target) = match (all, key) {
            (true, _) => match self.targets(&[]) {
                Ok(t) => (t, DisconnectTarget::All),
                Err(code) => return code,
            },
            (false, Some(text)) => {
                if let Some(key) = ClientKey::parse(&text) {
                    let machine = self.pool.machines.iter().find(|m| {
                        m.vpp
                            .api_sockets
                            .first()
                            .is_some_and(|s| ClientKey::for_machine(m, s) == key)
                    });
                    match machine {
                        Some(m) => (vec![m.clone()], DisconnectTarget::Key(key.to_string())),
                        None => {
                            return usage(
                                &format!("no machine of the pool has the client key {key}"),
                                "`labdeck vpp --pool P clients` shows the keys",
                            );
                        }
                    }
                } else {
                    match self.targets(std::slice::from_ref(&text)) {
                        Ok(t) => (t, DisconnectTarget::Host(text)),
                        Err(code) => return code,
                    }
                }
            }
            (false, None) => {
                return usage(
                    "disconnect needs --all or a KEY",
                    "labdeck vpp --pool P disconnect --all, or disconnect HOST:PORT:SOCKET",
                );
            }
        };
        let errors = self.connect_all(&targets).await;
        let before: Vec<String> = self
            .engine
            .vpp_clients()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.key)
            .collect();
        if let Err(e) = self.engine.vpp_disconnect(target).await {
            return failed(&e);
        }
        let clients = self.engine.vpp_clients().await.unwrap_or_default();
        let disconnected: Vec<&String> = before
            .iter()
            .filter(|k| !clients.iter().any(|c| &c.key == *k))
            .collect();
        print(&json!({"disconnected": disconnected, "errors": errors, "clients": clients}));
        i32::from(!errors.is_empty())
    }
}
