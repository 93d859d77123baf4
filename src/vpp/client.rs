//! Async VPP binary-API client over the socket transport (any `AsyncRead + AsyncWrite` stream:
//! a `UnixStream`, an SSH-forwarded channel, an in-memory duplex in tests).
//!
//! Lifecycle and invariants:
//! - [`VppClient::connect`] performs the handshake with the fixed ids 15/16
//!   (`sockclnt_create` / `_reply`) and builds the per-connection message-id table from the
//!   reply's `"<name>_<crc>"` keys. A definition whose key is missing is not callable
//!   ([`ClientError::NotCallable`]): its CRC differs or its plugin is absent. Only a client
//!   that completed the handshake exists, so a failed connect leaves nothing to cache.
//! - Every request gets a fresh nonzero `context` and the connection's `client_index`; a single
//!   reader task routes incoming messages by `context` (read at the offset the definition
//!   gives) to the waiting request, and context-less (or context 0) messages to the
//!   [`Events`] channel. Events are dropped with a warning when that channel is full, so a slow
//!   event consumer never stalls replies.
//! - Every request has a deadline ([`ClientConfig::request_timeout`]); VPP sends no error reply
//!   for unknown ids or malformed requests. Requests can be pipelined: [`VppClient::send`]
//!   returns a [`PendingReply`] to await later, and `&VppClient` can be shared between tasks.
//! - Old-style dumps are followed by `control_ping` with the same context; everything until its
//!   reply belongs to the dump.
//! - End of stream or a read error marks the client dead: pending requests fail with
//!   [`ClientError::Closed`], the event channel closes, later calls fail at once.
//! - [`VppClient::disconnect`] sends `sockclnt_delete` with a short timeout before closing (a
//!   client that just closes can make VPP spin on the dead socket). Dropping a client without
//!   it only stops the reader task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use super::codec::{CodecError, peek_msg_id};
use super::defs::{ApiDefinitions, MessageDef, ServiceKind};
use super::frame::{DEFAULT_MAX_FRAME_LEN, FrameError, FrameReader, write_frame};

/// Fixed id of `sockclnt_create` on every VPP.
pub const SOCKCLNT_CREATE_ID: u16 = 15;
/// Fixed id of `sockclnt_create_reply` on every VPP.
pub const SOCKCLNT_CREATE_REPLY_ID: u16 = 16;

/// Context used for the handshake (any nonzero value works; VPP echoes it).
const HANDSHAKE_CONTEXT: u32 = 0x6c61_6264;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name sent in `sockclnt_create` (at most 63 bytes).
    pub client_name: String,
    /// Deadline for the handshake and for each request (a dump counts as one request).
    pub request_timeout: Duration,
    /// Deadline for the `sockclnt_delete` reply and the socket shutdown on disconnect.
    pub disconnect_timeout: Duration,
    /// Largest accepted incoming message.
    pub max_frame_len: usize,
    /// Capacity of the event channel.
    pub event_capacity: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_name: "labdeck".into(),
            request_timeout: Duration::from_secs(5),
            disconnect_timeout: Duration::from_millis(500),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            event_capacity: 1024,
        }
    }
}

/// Client errors.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Reading or writing the socket failed.
    #[error("VPP socket failed: {0}")]
    Transport(String),
    /// Encoding a request or decoding a reply failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The handshake did not complete.
    #[error("VPP handshake failed: {0}")]
    Handshake(String),
    /// The connected VPP has no id for this message (CRC mismatch or missing plugin).
    #[error("`{name}` is not callable on this VPP: its message table has no `{name_crc}`")]
    NotCallable {
        /// Message name.
        name: String,
        /// The key that was looked up.
        name_crc: String,
    },
    /// No (complete) reply before the deadline.
    #[error("no reply to `{request}` (context {context}) within {timeout:?}")]
    Timeout {
        /// The request message.
        request: String,
        /// Its context.
        context: u32,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The connection is closed (end of stream, read error, or after disconnect).
    #[error("the VPP connection is closed")]
    Closed,
    /// A message with the request's context that the request does not expect.
    #[error("`{request}` got `{got}`, expected {expected}")]
    UnexpectedReply {
        /// The request message.
        request: String,
        /// What arrived.
        got: String,
        /// What was expected.
        expected: String,
    },
    /// The request does not fit the calling pattern used (e.g. `dump` on a non-dump service).
    #[error("`{request}` cannot be used this way: {reason}")]
    Usage {
        /// The request message.
        request: String,
        /// Why.
        reason: String,
    },
}

impl From<FrameError> for ClientError {
    fn from(error: FrameError) -> Self {
        Self::Transport(error.to_string())
    }
}

/// A decoded incoming message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Message name.
    pub name: String,
    /// Decoded fields (see the codec's JSON shapes).
    pub value: Value,
}

impl Message {
    /// The `retval` field, if present.
    pub fn retval(&self) -> Option<i64> {
        self.value.get("retval").and_then(Value::as_i64)
    }

    /// The `context` field, if present.
    pub fn context(&self) -> Option<u32> {
        self.value
            .get("context")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
    }
}

/// Messages VPP sent without a context (events), in arrival order.
#[derive(Debug)]
pub struct Events {
    receiver: mpsc::Receiver<Message>,
}

impl Events {
    /// The next event; `None` once the connection is closed and every event was taken.
    pub async fn recv(&mut self) -> Option<Message> {
        self.receiver.recv().await
    }

    /// An event if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.receiver.try_recv().ok()
    }
}

type Route = mpsc::UnboundedSender<Result<Message, ClientError>>;

struct Shared {
    routes: StdMutex<HashMap<u32, Route>>,
    alive: AtomicBool,
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Route>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct MessageIds {
    table: HashMap<String, u16>,
    by_name: HashMap<String, u16>,
    by_id: HashMap<u16, Arc<MessageDef>>,
}

/// A connected VPP API client.
pub struct VppClient {
    defs: Arc<ApiDefinitions>,
    config: ClientConfig,
    writer: Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    shared: Arc<Shared>,
    ids: Arc<MessageIds>,
    client_index: u32,
    next_context: AtomicU32,
    reader_task: StdMutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for VppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VppClient")
            .field("client_index", &format_args!("{:#x}", self.client_index))
            .field("alive", &self.is_alive())
            .field("callable_messages", &self.ids.by_name.len())
            .finish()
    }
}

impl VppClient {
    /// Performs the handshake on `stream` and starts the reader task.
    ///
    /// `defs` must contain memclnt (`sockclnt_create`, `sockclnt_create_reply`,
    /// `sockclnt_delete`, `control_ping`).
    pub async fn connect<S>(
        stream: S,
        defs: Arc<ApiDefinitions>,
        config: ClientConfig,
    ) -> Result<(Self, Events), ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        let mut reader = FrameReader::new(read_half, config.max_frame_len);
        let mut writer: Box<dyn AsyncWrite + Unpin + Send> = Box::new(write_half);
        let create = defs.lookup("sockclnt_create")?.clone();
        let create_reply = defs.lookup("sockclnt_create_reply")?.clone();

        let deadline = Instant::now() + config.request_timeout;
        let timed_out = || ClientError::Timeout {
            request: "sockclnt_create".into(),
            context: HANDSHAKE_CONTEXT,
            timeout: config.request_timeout,
        };
        let request = create.encode(
            SOCKCLNT_CREATE_ID,
            &json!({"context": HANDSHAKE_CONTEXT, "name": config.client_name}),
        )?;
        timeout_at(deadline, async {
            write_frame(&mut writer, &request).await?;
            writer.flush().await.map_err(FrameError::from)
        })
        .await
        .map_err(|_| timed_out())??;

        let reply_bytes = loop {
            let frame = timeout_at(deadline, reader.read_frame())
                .await
                .map_err(|_| timed_out())??
                .ok_or_else(|| ClientError::Handshake("connection closed".into()))?;
            if peek_msg_id(&frame) == Some(SOCKCLNT_CREATE_REPLY_ID) {
                break frame;
            }
            tracing::debug!(id = ?peek_msg_id(&frame), "ignoring message before handshake reply");
        };
        let reply = create_reply.decode(&reply_bytes)?;
        let response = reply.get("response").and_then(Value::as_i64).unwrap_or(-1);
        if response != 0 {
            return Err(ClientError::Handshake(format!(
                "sockclnt_create_reply response {response}"
            )));
        }
        let client_index = reply
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| ClientError::Handshake("reply has no index".into()))?;
        let ids = Arc::new(build_message_ids(&defs, &reply)?);

        let shared = Arc::new(Shared {
            routes: StdMutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        let (event_sender, event_receiver) = mpsc::channel(config.event_capacity.max(1));
        let reader_task = tokio::spawn(read_loop(
            reader,
            Arc::clone(&ids),
            Arc::clone(&shared),
            event_sender,
        ));
        tracing::debug!(
            client_index,
            callable = ids.by_name.len(),
            "connected to VPP"
        );
        let client = Self {
            defs,
            config,
            writer: Mutex::new(writer),
            shared,
            ids,
            client_index,
            next_context: AtomicU32::new(1),
            reader_task: StdMutex::new(Some(reader_task)),
        };
        Ok((
            client,
            Events {
                receiver: event_receiver,
            },
        ))
    }

    /// The handle VPP assigned (`0x80000000 | slot`), sent as `client_index`.
    pub fn client_index(&self) -> u32 {
        self.client_index
    }

    /// False once the connection ended or [`disconnect`](Self::disconnect) ran.
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// This connection's id for a message, if it is callable.
    pub fn message_id(&self, name: &str) -> Option<u16> {
        self.ids.by_name.get(name).copied()
    }

    /// The raw `name_crc` → id table VPP sent.
    pub fn message_table(&self) -> &HashMap<String, u16> {
        &self.ids.table
    }

    /// The definitions this client encodes with.
    pub fn definitions(&self) -> &Arc<ApiDefinitions> {
        &self.defs
    }

    /// Sends a request and waits for its reply.
    pub async fn call(&self, name: &str, args: &Value) -> Result<Message, ClientError> {
        self.send(name, args).await?.wait().await
    }

    /// `control_ping` → `control_ping_reply`.
    pub async fn ping(&self) -> Result<Message, ClientError> {
        self.call("control_ping", &Value::Null).await
    }

    /// Sends a request and returns a handle to await its reply later (pipelining).
    pub async fn send(&self, name: &str, args: &Value) -> Result<PendingReply<'_>, ClientError> {
        let deadline = Instant::now() + self.config.request_timeout;
        let expected = self
            .defs
            .service(name)
            .and_then(|service| service.reply.clone());
        let context = self.allocate_context();
        let request = self.prepare(name, args, context)?;
        let mut pending = self.register(name, context, deadline, self.config.request_timeout);
        pending.expected = expected;
        self.write_frames(&[&request], &pending).await?;
        Ok(pending)
    }

    /// Sends a request that has no reply (`"reply": "null"`, or a context-less message).
    pub async fn send_no_reply(&self, name: &str, args: &Value) -> Result<(), ClientError> {
        let context = self.allocate_context();
        let request = self.prepare(name, args, context)?;
        let deadline = Instant::now() + self.config.request_timeout;
        let guard = self.register(name, context, deadline, self.config.request_timeout);
        self.write_frames(&[&request], &guard).await
    }

    /// Old-style dump: sends the request and `control_ping` with the same context, and
    /// collects the details messages that arrive before the ping's reply.
    pub async fn dump(&self, name: &str, args: &Value) -> Result<Vec<Message>, ClientError> {
        let details = match self.defs.service(name) {
            Some(service) if service.kind() == ServiceKind::Dump => {
                service.reply.clone().unwrap_or_default()
            }
            Some(service) => {
                return Err(ClientError::Usage {
                    request: name.into(),
                    reason: format!("its service is {:?}, not an old-style dump", service.kind()),
                });
            }
            None => {
                return Err(ClientError::Usage {
                    request: name.into(),
                    reason: "no service entry names its details message".into(),
                });
            }
        };
        let deadline = Instant::now() + self.config.request_timeout;
        let context = self.allocate_context();
        let request = self.prepare(name, args, context)?;
        let ping = self.prepare("control_ping", &Value::Null, context)?;
        let mut pending = self.register(name, context, deadline, self.config.request_timeout);
        self.write_frames(&[&request, &ping], &pending).await?;
        let mut collected = Vec::new();
        loop {
            let message = pending.next_message().await?;
            if message.name == "control_ping_reply" {
                return Ok(collected);
            }
            if message.name != details {
                return Err(ClientError::UnexpectedReply {
                    request: name.into(),
                    got: message.name,
                    expected: format!("`{details}` or `control_ping_reply`"),
                });
            }
            collected.push(message);
        }
    }

    /// New-style get (`stream_msg` service): returns the final reply (with `retval` and
    /// `cursor`) and the details before it. Call again with the cursor when `retval` is -165.
    pub async fn get(
        &self,
        name: &str,
        args: &Value,
    ) -> Result<(Message, Vec<Message>), ClientError> {
        let (reply, details) = match self.defs.service(name) {
            Some(service) if service.kind() == ServiceKind::Get => (
                service.reply.clone().unwrap_or_default(),
                service.stream_msg.clone().unwrap_or_default(),
            ),
            _ => {
                return Err(ClientError::Usage {
                    request: name.into(),
                    reason: "its service has no `stream_msg` (not a new-style get)".into(),
                });
            }
        };
        let mut pending = self.send(name, args).await?;
        let mut collected = Vec::new();
        loop {
            let message = pending.next_message().await?;
            if message.name == reply {
                return Ok((message, collected));
            }
            if message.name != details {
                return Err(ClientError::UnexpectedReply {
                    request: name.into(),
                    got: message.name,
                    expected: format!("`{details}` or `{reply}`"),
                });
            }
            collected.push(message);
        }
    }

    /// Sends `sockclnt_delete` (waiting at most [`ClientConfig::disconnect_timeout`] for its
    /// reply), then closes the stream and stops the reader. The stream is closed even when
    /// the delete fails; the error is returned afterwards.
    pub async fn disconnect(self) -> Result<(), ClientError> {
        self.close().await
    }

    /// [`disconnect`](Self::disconnect) through a shared reference (for clients held in an
    /// `Arc`): afterwards every call fails with [`ClientError::Closed`]. A second close only
    /// shuts the stream again.
    pub async fn close(&self) -> Result<(), ClientError> {
        let mut result = Ok(());
        if self.is_alive() {
            let deadline = Instant::now() + self.config.disconnect_timeout;
            let context = self.allocate_context();
            let args = json!({"index": self.client_index});
            result = match self.prepare("sockclnt_delete", &args, context) {
                Ok(request) => {
                    let pending = self.register(
                        "sockclnt_delete",
                        context,
                        deadline,
                        self.config.disconnect_timeout,
                    );
                    match self.write_frames(&[&request], &pending).await {
                        Ok(()) => match pending.wait().await {
                            Ok(reply) if reply.value.get("response") == Some(&json!(1)) => Ok(()),
                            Ok(reply) => Err(ClientError::UnexpectedReply {
                                request: "sockclnt_delete".into(),
                                got: format!("{} {}", reply.name, reply.value),
                                expected: "response 1".into(),
                            }),
                            Err(error) => Err(error),
                        },
                        Err(error) => Err(error),
                    }
                }
                Err(error) => Err(error),
            };
        }
        self.shared.alive.store(false, Ordering::SeqCst);
        {
            let mut writer = self.writer.lock().await;
            let shutdown = writer.shutdown();
            if timeout_at(Instant::now() + self.config.disconnect_timeout, shutdown)
                .await
                .is_err()
            {
                tracing::debug!("socket shutdown timed out");
            }
        }
        self.stop_reader();
        result
    }

    fn stop_reader(&self) {
        let handle = self
            .reader_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.abort();
        }
    }

    fn allocate_context(&self) -> u32 {
        loop {
            let context = self.next_context.fetch_add(1, Ordering::Relaxed);
            if context != 0 && !self.shared.routes().contains_key(&context) {
                return context;
            }
        }
    }

    /// Encodes a request, filling `client_index` and `context` when the message has them.
    fn prepare(&self, name: &str, args: &Value, context: u32) -> Result<Vec<u8>, ClientError> {
        let definition = self.defs.lookup(name)?;
        let id = self
            .ids
            .by_name
            .get(name)
            .copied()
            .ok_or_else(|| ClientError::NotCallable {
                name: name.into(),
                name_crc: definition.name_crc(),
            })?;
        let mut fields = match args {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            other => {
                return Err(ClientError::Usage {
                    request: name.into(),
                    reason: format!("arguments must be a JSON object, not {other}"),
                });
            }
        };
        if definition.body.field("client_index").is_some() {
            fields.insert("client_index".into(), Value::from(self.client_index));
        }
        if definition.body.field("context").is_some() {
            fields.insert("context".into(), Value::from(context));
        }
        Ok(definition.encode(id, &Value::Object(fields))?)
    }

    fn register(
        &self,
        request: &str,
        context: u32,
        deadline: Instant,
        timeout: Duration,
    ) -> PendingReply<'_> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.shared.routes().insert(context, sender);
        PendingReply {
            client: self,
            request: request.into(),
            context,
            deadline,
            timeout,
            expected: None,
            receiver,
        }
    }

    async fn write_frames(
        &self,
        frames: &[&[u8]],
        pending: &PendingReply<'_>,
    ) -> Result<(), ClientError> {
        // The route was registered before this check and the reader clears `alive` before it
        // drains the routes, so either the connection looks dead here or that drain fails our
        // route: a request never waits out its deadline on a connection already known dead.
        if !self.is_alive() {
            return Err(ClientError::Closed);
        }
        let write = async {
            let mut writer = self.writer.lock().await;
            for frame in frames {
                write_frame(&mut *writer, frame).await?;
            }
            writer.flush().await.map_err(FrameError::from)
        };
        match timeout_at(pending.deadline, write).await {
            Err(_) => Err(pending.timeout_error()),
            Ok(Err(error)) => {
                self.shared.alive.store(false, Ordering::SeqCst);
                Err(error.into())
            }
            Ok(Ok(())) => Ok(()),
        }
    }
}

impl Drop for VppClient {
    fn drop(&mut self) {
        if self.is_alive() {
            tracing::warn!(
                client_index = self.client_index,
                "VPP client dropped without disconnect(); VPP may keep the socket busy"
            );
        }
        self.stop_reader();
    }
}

/// A sent request whose reply has not been taken yet. Dropping it abandons the request.
pub struct PendingReply<'c> {
    client: &'c VppClient,
    request: String,
    context: u32,
    deadline: Instant,
    timeout: Duration,
    expected: Option<String>,
    receiver: mpsc::UnboundedReceiver<Result<Message, ClientError>>,
}

impl std::fmt::Debug for PendingReply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReply")
            .field("request", &self.request)
            .field("context", &self.context)
            .finish()
    }
}

impl PendingReply<'_> {
    /// The request's context.
    pub fn context(&self) -> u32 {
        self.context
    }

    /// Waits for the reply (until the request's deadline).
    pub async fn wait(mut self) -> Result<Message, ClientError> {
        let message = self.next_message().await?;
        match &self.expected {
            Some(expected) if message.name != *expected => Err(ClientError::UnexpectedReply {
                request: self.request.clone(),
                got: message.name,
                expected: format!("`{expected}`"),
            }),
            _ => Ok(message),
        }
    }

    async fn next_message(&mut self) -> Result<Message, ClientError> {
        match timeout_at(self.deadline, self.receiver.recv()).await {
            Err(_) => Err(self.timeout_error()),
            Ok(None) => Err(ClientError::Closed),
            Ok(Some(result)) => result,
        }
    }

    fn timeout_error(&self) -> ClientError {
        ClientError::Timeout {
            request: self.request.clone(),
            context: self.context,
            timeout: self.timeout,
        }
    }
}

impl Drop for PendingReply<'_> {
    fn drop(&mut self) {
        self.client.shared.routes().remove(&self.context);
    }
}

fn build_message_ids(defs: &ApiDefinitions, reply: &Value) -> Result<MessageIds, ClientError> {
    let entries = reply
        .get("message_table")
        .and_then(Value::as_array)
        .ok_or_else(|| ClientError::Handshake("reply has no message_table".into()))?;
    let mut table = HashMap::with_capacity(entries.len());
    for entry in entries {
        let name = entry.get("name").and_then(Value::as_str);
        let id = entry
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u16::try_from(i).ok());
        if let (Some(name), Some(id)) = (name, id) {
            table.insert(name.to_string(), id);
        }
    }
    let mut by_name = HashMap::new();
    let mut by_id = HashMap::new();
    for message in defs.messages() {
        if let Some(id) = table.get(&message.name_crc()) {
            by_name.insert(message.name.clone(), *id);
            by_id.insert(*id, Arc::clone(message));
        }
    }
    Ok(MessageIds {
        table,
        by_name,
        by_id,
    })
}

async fn read_loop<R>(
    mut reader: FrameReader<R>,
    ids: Arc<MessageIds>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Message>,
) where
    R: AsyncRead + Unpin,
{
    loop {
        match reader.read_frame().await {
            Ok(Some(frame)) => route_incoming(&frame, &ids, &shared, &events),
            Ok(None) => {
                tracing::debug!("VPP closed the connection");
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "VPP connection failed");
                break;
            }
        }
    }
    shared.alive.store(false, Ordering::SeqCst);
    let routes = std::mem::take(&mut *shared.routes());
    for route in routes.into_values() {
        // The waiter may have given up already; nothing to do then.
        let _ = route.send(Err(ClientError::Closed));
    }
}

fn route_incoming(frame: &[u8], ids: &MessageIds, shared: &Shared, events: &mpsc::Sender<Message>) {
    let Some(definition) = peek_msg_id(frame).and_then(|id| ids.by_id.get(&id)) else {
        tracing::debug!(id = ?peek_msg_id(frame), "dropping message with unknown id");
        return;
    };
    let decoded = definition
        .decode(frame)
        .map(|value| Message {
            name: definition.name.clone(),
            value,
        })
        .map_err(ClientError::from);
    if let Some(context) = definition.read_context(frame).filter(|c| *c != 0) {
        let route = shared.routes().get(&context).cloned();
        match route {
            Some(route) => {
                // The waiter may have been dropped meanwhile; the reply is then unwanted.
                let _ = route.send(decoded);
            }
            None => tracing::debug!(
                message = %definition.name,
                context,
                "dropping reply nobody waits for"
            ),
        }
        return;
    }
    match decoded {
        Ok(message) => {
            if let Err(error) = events.try_send(message) {
                tracing::warn!(%error, "VPP event dropped");
            }
        }
        Err(error) => tracing::warn!(%error, "undecodable VPP event dropped"),
    }
}
