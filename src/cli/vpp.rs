//! `labdeck vpp`: VPP binary-API calls on a pool machine, through its SSH connection
//! (`direct-streamlocal` to the machine's `vpp_api_sockets`), and the client cache.
//!
//! Invariants: output is JSON on stdout, errors with a hint on stderr; usage and config errors
//! (pool, unknown machine or message, bad JSON, no definitions, no socket) exit with 2, VPP
//! and connection failures with 1. A one-shot command has its own cache: every client it
//! connected is disconnected (`sockclnt_delete`) before it exits, so it leaks none. Until the
//! engine carries VPP clients, this runner opens the machine's connection itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use super::{PoolArgs, report};
use crate::pool::{Machine, Pool};
use crate::transport::Connection;
use crate::vpp::{
    ApiDefinitions, CacheEvent, ClientCache, ClientConfig, ClientKey, CrcCollections,
    DEFAULT_RESTART_COMMAND, RestartPlan, load_api_tree, nearest_name, restart_vpp,
};

/// `labdeck vpp` options.
#[derive(Debug, Args)]
pub struct VppArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// VPP's `.api.json` files (this directory and its subdirectories).
    #[arg(long, default_value = "/usr/share/vpp/api", value_name = "DIR")]
    pub api_dir: PathBuf,
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
    let pool = match args.pool.load() {
        Ok(pool) => pool,
        Err(e) => {
            report(e);
            return 2;
        }
    };
    let defs = match load_api_tree(&args.api_dir) {
        Ok(defs) => Arc::new(defs),
        Err(e) => {
            return usage(
                &format!("cannot load VPP API definitions: {e}"),
                "point --api-dir at VPP's .api.json files (installed in /usr/share/vpp/api)",
            );
        }
    };
    let config = ClientConfig {
        client_name: "labdeck".into(),
        request_timeout: Duration::from_secs_f64(args.timeout.min(3600.0)),
        ..ClientConfig::default()
    };
    let cache = ClientCache::with_definitions(config, Arc::clone(&defs));
    let mut events = cache.subscribe();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Some(line) = progress_line(&event) {
                eprintln!("vpp: {line}");
            }
        }
    });
    let mut runner = Runner {
        pool,
        args: &args,
        cache: cache.clone(),
        defs,
        connections: Vec::new(),
    };
    let code = runner.run().await;
    cache.disconnect_all().await;
    for (_, connection) in &runner.connections {
        connection.close().await;
    }
    drop(cache);
    drop(runner);
    printer.abort();
    code
}

fn progress_line(event: &CacheEvent) -> Option<String> {
    Some(match event {
        CacheEvent::RestartStarted { host, port, keys } => format!(
            "restarting VPP on {host}:{port} ({} client(s) disconnected)",
            keys.len()
        ),
        CacheEvent::RestartCommandDone { took, .. } => {
            format!("restart command done in {:.2} s", took.as_secs_f64())
        }
        CacheEvent::RestartWaiting {
            attempt,
            elapsed,
            last_error,
            ..
        } => format!(
            "waiting for the API ({attempt}, {:.2} s): {last_error}",
            elapsed.as_secs_f64()
        ),
        CacheEvent::RestartReady { key, elapsed } => {
            format!("{key} answers after {:.2} s", elapsed.as_secs_f64())
        }
        CacheEvent::Dead { key, cause } => format!("{key} died: {cause}"),
        CacheEvent::Reconnecting { key, .. } => format!("{key}: reconnecting once"),
        _ => return None,
    })
}

struct Runner<'a> {
    pool: Pool,
    args: &'a VppArgs,
    cache: ClientCache,
    defs: Arc<ApiDefinitions>,
    connections: Vec<(String, Connection)>,
}

impl Runner<'_> {
    async fn run(&mut self) -> i32 {
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

    fn sockets(&self, machine: &Machine) -> Result<Vec<String>, i32> {
        if let Some(socket) = &self.args.socket {
            return Ok(vec![socket.clone()]);
        }
        if machine.vpp.api_sockets.is_empty() {
            return Err(usage(
                &format!("machine `{}` has no vpp_api_sockets", machine.name),
                "add `vpp_api_sockets = [\"/run/vpp/api.sock\"]` to it in the pool, or pass --socket PATH",
            ));
        }
        Ok(machine.vpp.api_sockets.clone())
    }

    async fn connection(&mut self, machine: &Machine) -> Result<Connection, i32> {
        if let Some((_, c)) = self.connections.iter().find(|(n, _)| *n == machine.name) {
            return Ok(c.clone());
        }
        let trust = self.args.pool.engine_config(&self.pool).trust;
        let timeout = Duration::from_secs_f64(self.args.pool.connect_timeout.clamp(0.1, 3600.0));
        match Connection::open(machine, &trust, timeout).await {
            Ok(c) => {
                self.connections.push((machine.name.clone(), c.clone()));
                Ok(c)
            }
            Err(e) => {
                eprintln!("error: {}: {e}\n  hint: {}", machine.name, e.hint());
                Err(1)
            }
        }
    }

    async fn connect(&mut self, machine: &Machine, socket: &str) -> Result<ClientKey, String> {
        let key = ClientKey::for_machine(machine, socket);
        let connection = self
            .connection(machine)
            .await
            .map_err(|_| format!("{}: cannot connect to the machine", machine.name))?;
        match self.cache.connect(&key, &connection).await {
            Ok(_) => Ok(key),
            Err(e) => Err(format!("{e}\n  hint: {}", e.hint())),
        }
    }

    async fn host(&mut self, words: Vec<String>) -> i32 {
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
        let sockets = match self.sockets(&machine) {
            Ok(s) => s,
            Err(code) => return code,
        };
        // Arguments are checked before anything is connected.
        let parsed = match &action {
            HostAction::Call { message, args } | HostAction::Dump { message, args } => {
                if self.defs.message(message).is_none() {
                    let hint = match nearest_name(message, self.defs.message_names()) {
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
            HostAction::Crc { file } => match CrcCollections::load(file) {
                Ok(_) => Value::Null,
                Err(e) => return usage(&e.to_string(), &e.hint()),
            },
            _ => Value::Null,
        };
        if let HostAction::Restart { deadline } = &action {
            return self.restart(&machine, sockets, *deadline).await;
        }
        let key = match self.connect(&machine, &sockets[0]).await {
            Ok(key) => key,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let failed = |e: crate::vpp::CacheError| {
            eprintln!("error: {e}\n  hint: {}", e.hint());
            1
        };
        match action {
            HostAction::Call { message, .. } => {
                match self.cache.call(&key, &message, &parsed).await {
                    Ok(reply) => {
                        let code = i32::from(reply.retval().is_some_and(|r| r != 0));
                        print(&json!({"name": reply.name, "reply": reply.value}));
                        code
                    }
                    Err(e) => failed(e),
                }
            }
            HostAction::Dump { message, .. } => {
                match self.cache.dump(&key, &message, &parsed).await {
                    Ok(details) => {
                        print(&Value::Array(
                            details.into_iter().map(|d| d.value).collect(),
                        ));
                        0
                    }
                    Err(e) => failed(e),
                }
            }
            HostAction::Cli { command } => {
                match self
                    .cache
                    .call(&key, "cli_inband", &json!({"cmd": command}))
                    .await
                {
                    Ok(reply) => {
                        let retval = reply.retval().unwrap_or(0);
                        print(&json!({
                            "command": command,
                            "retval": retval,
                            "reply": reply.value.get("reply").cloned().unwrap_or(Value::Null),
                        }));
                        i32::from(retval != 0)
                    }
                    Err(e) => failed(e),
                }
            }
            HostAction::Ping => match self.cache.ping(&key).await {
                Ok(rtt) => {
                    print(&json!({"key": key.to_string(), "rtt_us": rtt.as_micros()}));
                    0
                }
                Err(e) => failed(e),
            },
            HostAction::Crc { file } => {
                let expected = match CrcCollections::load(&file) {
                    Ok(c) => c,
                    Err(e) => return usage(&e.to_string(), &e.hint()),
                };
                match self.cache.check_crcs(&key, &expected) {
                    Ok(report) => {
                        print(&json!(report));
                        0
                    }
                    Err(crate::vpp::CacheError::CrcMismatch { report, .. }) => {
                        print(&json!(report));
                        eprintln!("error: {report}");
                        1
                    }
                    Err(e) => failed(e),
                }
            }
            HostAction::Restart { .. } => 2,
        }
    }

    async fn restart(&mut self, machine: &Machine, sockets: Vec<String>, deadline: f64) -> i32 {
        if !(deadline.is_finite() && deadline > 0.0) {
            return usage(
                &format!("--deadline {deadline} is not a positive number"),
                "seconds, e.g. --deadline 60",
            );
        }
        let connection = match self.connection(machine).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        // Connect the machine's sockets first, so the restart has clients to restore.
        for socket in &sockets {
            if let Err(e) = self.connect(machine, socket).await {
                eprintln!("vpp: before the restart: {e}");
            }
        }
        let probe = ClientKey::for_machine(machine, &sockets[0]);
        let plan = RestartPlan {
            host: probe.host,
            port: probe.port,
            command: machine
                .vpp
                .restart_command
                .clone()
                .unwrap_or_else(|| DEFAULT_RESTART_COMMAND.into()),
            sockets,
            command_timeout: Duration::from_secs(300),
            ready_deadline: Duration::from_secs_f64(deadline.min(3600.0)),
            poll_interval: Duration::from_millis(100),
        };
        match restart_vpp(&self.cache, &connection, &plan).await {
            Ok(report) => {
                print(&json!({"restart": report, "clients": self.cache.clients()}));
                0
            }
            Err(e) => {
                eprintln!("error: {e}\n  hint: {}", e.hint());
                1
            }
        }
    }

    fn targets(&self, hosts: &[String]) -> Result<Vec<(Machine, Vec<String>)>, i32> {
        let mut out = Vec::new();
        if hosts.is_empty() {
            for m in &self.pool.machines {
                if !m.vpp.api_sockets.is_empty() {
                    out.push((m.clone(), m.vpp.api_sockets.clone()));
                }
            }
            if out.is_empty() {
                return Err(usage(
                    "no machine of the pool has vpp_api_sockets",
                    "add `vpp_api_sockets = [\"/run/vpp/api.sock\"]` to the machines running VPP",
                ));
            }
        } else {
            for name in hosts {
                let machine = self.machine(name)?;
                let sockets = self.sockets(&machine)?;
                out.push((machine, sockets));
            }
        }
        Ok(out)
    }

    async fn connect_all(&mut self, targets: &[(Machine, Vec<String>)]) -> Vec<String> {
        let mut errors = Vec::new();
        for (machine, sockets) in targets {
            for socket in sockets {
                if let Err(e) = self.connect(machine, socket).await {
                    errors.push(e);
                }
            }
        }
        errors
    }

    async fn clients(&mut self, hosts: Vec<String>) -> i32 {
        let targets = match self.targets(&hosts) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let mut errors = self.connect_all(&targets).await;
        for key in self.cache.keys() {
            if let Err(e) = self.cache.ping(&key).await {
                errors.push(e.to_string());
            }
        }
        print(&json!({"clients": self.cache.clients(), "errors": errors}));
        i32::from(!errors.is_empty())
    }

    async fn disconnect(&mut self, all: bool, key: Option<String>) -> i32 {
        let (targets, only) = match (all, key) {
            (true, _) => match self.targets(&[]) {
                Ok(t) => (t, None),
                Err(code) => return code,
            },
            (false, Some(text)) => {
                if let Some(key) = ClientKey::parse(&text) {
                    let machine = self
                        .pool
                        .machines
                        .iter()
                        .find(|m| ClientKey::for_machine(m, &key.socket) == key);
                    match machine {
                        Some(m) => (vec![(m.clone(), vec![key.socket.clone()])], Some(key)),
                        None => {
                            return usage(
                                &format!("no machine of the pool has the client key {key}"),
                                "`labdeck vpp --pool P clients` shows the keys",
                            );
                        }
                    }
                } else {
                    match self.targets(std::slice::from_ref(&text)) {
                        Ok(t) => (t, None),
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
        let disconnected = match only {
            Some(key) => {
                if self.cache.disconnect(&key).await {
                    vec![key]
                } else {
                    Vec::new()
                }
            }
            None => self.cache.disconnect_all().await,
        };
        let keys: Vec<String> = disconnected.iter().map(ToString::to_string).collect();
        print(&json!({"disconnected": keys, "errors": errors, "clients": self.cache.clients()}));
        i32::from(!errors.is_empty())
    }
}
