//! A minimal, fast VPP API responder for benchmarks and tests: it serves the real socket
//! framing, the `sockclnt_create` handshake (a message table built from the definitions),
//! `control_ping`, `show_version`, `cli_inband` and `sockclnt_delete`, so a client benchmark
//! measures the client and not the server.
//!
//! Every reply is encoded once, at construction, by the codec from the shared definitions;
//! serving a request only copies that template and patches its `context` (and
//! `client_index`) at the offsets the definitions give. All complete frames of one read are
//! answered with one write, as VPP does for pipelined requests.
//!
//! Invariants: like VPP, an unknown or truncated request gets no reply; a frame longer than
//! [`MAX_REQUEST_LEN`] closes the connection; nothing here panics on client bytes. The client
//! count ([`Responder::clients`]) counts handshakes not yet ended by `sockclnt_delete` or a
//! closed connection.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::CodecError;
use super::defs::{ApiDefinitions, MessageDef};
use super::frame::{HEADER_LEN, frame_header};

/// Largest request accepted (a real client's biggest request is far smaller).
pub const MAX_REQUEST_LEN: usize = 1 << 20;

/// The version string `show_version` answers.
pub const RESPONDER_VERSION: &str = "26.10-labdeck-responder";

/// Ids VPP gives memclnt messages on every build (see the protocol notes).
const FIXED_IDS: [(&str, u16); 8] = [
    ("sockclnt_create", 15),
    ("sockclnt_create_reply", 16),
    ("sockclnt_delete", 17),
    ("sockclnt_delete_reply", 18),
    ("control_ping", 23),
    ("control_ping_reply", 24),
    ("get_api_json", 27),
    ("get_api_json_reply", 28),
];

/// Why the responder could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("the definitions lack `{0}`")]
    Missing(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        source: std::io::Error,
    },
}

/// A reply template: encoded bytes (with frame header) and where to patch them.
#[derive(Debug, Clone)]
struct Template {
    frame: Vec<u8>,
    /// Offset of the reply's `context` within `frame`.
    context_at: usize,
    /// Offset of `client_index` within `frame`, if the reply has one.
    client_index_at: Option<usize>,
}

#[derive(Debug, Clone)]
enum Handler {
    Create(Template),
    Reply(Template),
    Delete(Template),
}

/// Answers for one request id: its handler and where its `context` is.
#[derive(Debug, Clone)]
struct Route {
    handler: Handler,
    request_context_at: usize,
}

/// The precomputed answers; shared by every connection.
#[derive(Debug)]
struct Plan {
    routes: HashMap<u16, Route>,
    table: HashMap<String, u16>,
}

fn message<'a>(
    defs: &'a ApiDefinitions,
    name: &str,
) -> Result<&'a Arc<MessageDef>, ResponderError> {
    defs.message(name)
        .ok_or_else(|| ResponderError::Missing(name.to_string()))
}

fn template(
    def: &MessageDef,
    id: u16,
    value: &Value,
    patch_client_index: bool,
) -> Result<Template, ResponderError> {
    let body = def.encode(id, value)?;
    let header = frame_header(body.len()).map_err(|_| ResponderError::Missing(def.name.clone()))?;
    let mut frame = header.to_vec();
    frame.extend_from_slice(&body);
    let context_at = HEADER_LEN
        + def
            .context_offset()
            .ok_or_else(|| ResponderError::Missing(format!("{}.context", def.name)))?;
    let client_index_at = if patch_client_index {
        def.field_offset("client_index").map(|o| HEADER_LEN + o)
    } else {
        None
    };
    Ok(Template {
        frame,
        context_at,
        client_index_at,
    })
}

impl Plan {
    fn new(defs: &ApiDefinitions) -> Result<Self, ResponderError> {
        // The message table: memclnt's fixed ids, then every other message in name order.
        let mut table: HashMap<String, u16> = HashMap::new();
        let mut ids: HashMap<String, u16> = HashMap::new();
        for (name, id) in FIXED_IDS {
            if let Some(def) = defs.message(name) {
                table.insert(def.name_crc(), id);
                ids.insert(name.to_string(), id);
            }
        }
        let mut names: Vec<&Arc<MessageDef>> = defs
            .messages()
            .filter(|m| !ids.contains_key(&m.name))
            .collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        let mut next: u16 = 100;
        for def in names {
            table.insert(def.name_crc(), next);
            ids.insert(def.name.clone(), next);
            next = next.saturating_add(1);
        }
        let id = |name: &str| {
            ids.get(name)
                .copied()
                .ok_or_else(|| ResponderError::Missing(name.to_string()))
        };

        let entries: Vec<Value> = {
            let mut rows: Vec<(&String, &u16)> = table.iter().collect();
            rows.sort_by_key(|(_, id)| **id);
            rows.into_iter()
                .map(|(name, id)| json!({"index": id, "name": name}))
                .collect()
        };
        let create_reply = message(defs, "sockclnt_create_reply")?;
        let mut create = template(
            create_reply,
            id("sockclnt_create_reply")?,
            &json!({"response": 0, "index": 0, "count": entries.len(), "message_table": entries}),
            false,
        )?;
        create.client_index_at = create_reply.field_offset("index").map(|o| HEADER_LEN + o);

        let pid = std::process::id();
        let replies = [
            (
                "control_ping",
                "control_ping_reply",
                json!({"retval": 0, "vpe_pid": pid}),
                true,
            ),
            (
                "show_version",
                "show_version_reply",
                json!({"retval": 0, "program": "vpe", "version": RESPONDER_VERSION,
                       "build_date": "", "build_directory": ""}),
                false,
            ),
            (
                "cli_inband",
                "cli_inband_reply",
                json!({"retval": 0, "reply": "labdeck responder\n"}),
                false,
            ),
        ];
        let mut routes = HashMap::new();
        let request_context = |name: &str| -> Result<usize, ResponderError> {
            message(defs, name)?
                .context_offset()
                .ok_or_else(|| ResponderError::Missing(format!("{name}.context")))
        };
        routes.insert(
            id("sockclnt_create")?,
            Route {
                handler: Handler::Create(create),
                request_context_at: request_context("sockclnt_create")?,
            },
        );
        for (request, reply, value, patch) in replies {
            let Ok(request_id) = id(request) else {
                continue;
            };
            let def = message(defs, reply)?;
            routes.insert(
                request_id,
                Route {
                    handler: Handler::Reply(template(def, id(reply)?, &value, patch)?),
                    request_context_at: request_context(request)?,
                },
            );
        }
        let delete_reply = message(defs, "sockclnt_delete_reply")?;
        routes.insert(
            id("sockclnt_delete")?,
            Route {
                handler: Handler::Delete(template(
                    delete_reply,
                    id("sockclnt_delete_reply")?,
                    &json!({"response": 1}),
                    false,
                )?),
                request_context_at: request_context("sockclnt_delete")?,
            },
        );
        Ok(Self { routes, table })
    }
}

/// A running responder (see the module docs). Dropping it stops accepting.
#[derive(Debug)]
pub struct Responder {
    plan: Arc<Plan>,
    clients: Arc<AtomicUsize>,
    next_slot: Arc<AtomicU32>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
        }
    }
}

impl Responder {
    /// A responder serving `defs`, not yet listening (use [`Responder::serve`]).
    pub fn new(defs: &ApiDefinitions) -> Result<Self, ResponderError> {
        Ok(Self {
            plan: Arc::new(Plan::new(defs)?),
            clients: Arc::new(AtomicUsize::new(0)),
            next_slot: Arc::new(AtomicU32::new(0)),
            accept: None,
        })
    }

    /// A responder listening on the unix socket `path` (an old socket file is replaced);
    /// must be called inside a tokio runtime.
    pub fn bind(defs: &ApiDefinitions, path: &Path) -> Result<Self, ResponderError> {
        let mut responder = Self::new(defs)?;
        let _ = std::fs::remove_file(path);
        let listener =
            tokio::net::UnixListener::bind(path).map_err(|source| ResponderError::Listen {
                path: path.display().to_string(),
                source,
            })?;
        let serving = responder.handle();
        responder.accept = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let serving = serving.handle();
                tokio::spawn(async move { serving.serve(stream).await });
            }
        }));
        Ok(responder)
    }

    fn handle(&self) -> Self {
        Self {
            plan: Arc::clone(&self.plan),
            clients: Arc::clone(&self.clients),
            next_slot: Arc::clone(&self.next_slot),
            accept: None,
        }
    }

    /// Clients connected (handshake done, not deleted, connection open).
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    /// The message table it announces (`name_crc` → id).
    pub fn message_table(&self) -> &HashMap<String, u16> {
        &self.plan.table
    }

    /// Serves one connection until the client deletes itself or closes it.
    pub async fn serve<S: AsyncRead + AsyncWrite>(&self, stream: S) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut input: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut output: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut registered = false;
        let mut client_index = 0u32;
        'connection: loop {
            match reader.read_buf(&mut input).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let mut at = 0;
            let mut close = false;
            while let Some(header) = input.get(at..at + HEADER_LEN) {
                let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
                let len = len as usize;
                if len > MAX_REQUEST_LEN {
                    break 'connection;
                }
                let Some(body) = input.get(at + HEADER_LEN..at + HEADER_LEN + len) else {
                    break;
                };
                at += HEADER_LEN + len;
                let Some(id) = body.get(0..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
                    continue;
                };
                let Some(route) = self.plan.routes.get(&id) else {
                    continue;
                };
                let Some(context) =
                    body.get(route.request_context_at..route.request_context_at + 4)
                else {
                    continue;
                };
                let context = [context[0], context[1], context[2], context[3]];
                let template = match &route.handler {
                    Handler::Create(t) => {
                        if !registered {
                            let slot = self.next_slot.fetch_add(1, Ordering::SeqCst);
                            client_index = 0x8000_0000 | (slot & 0x7fff_ffff);
                            registered = true;
                            self.clients.fetch_add(1, Ordering::SeqCst);
                        }
                        t
                    }
                    Handler::Reply(t) => t,
                    Handler::Delete(t) => {
                        close = true;
                        t
                    }
                };
                let start = output.len();
                output.extend_from_slice(&template.frame);
                if let Some(slot) = output.get_mut(start + template.context_at..)
                    && let Some(bytes) = slot.get_mut(..4)
                {
                    bytes.copy_from_slice(&context);
                }
                if let Some(offset) = template.client_index_at
                    && let Some(slot) = output.get_mut(start + offset..)
                    && let Some(bytes) = slot.get_mut(..4)
                {
                    bytes.copy_from_slice(&client_index.to_be_bytes());
                }
                if close {
                    break;
                }
            }
            input.drain(..at);
            if !output.is_empty() {
                if writer.write_all(&output).await.is_err() {
                    break;
                }
                output.clear();
            }
            if close {
                let _ = writer.shutdown().await;
                break;
            }
        }
        if registered {
            self.clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
