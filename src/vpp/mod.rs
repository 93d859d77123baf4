//! VPP binary API: definitions loader (`defs`), message codec (`codec`), socket framing
//! (`frame`), an async client (`client`), a cache of connected clients reached through a
//! machine's connection (`cache`), CRC checks against expected collections (`crc`) and VPP
//! restarts that leak no client (`restart`).
//!
//! Everything here follows `vpp-protocol.md`: packed big-endian messages (f64 in host order),
//! 16-byte `>QII` frame headers, message ids resolved per connection from the
//! `sockclnt_create_reply` table keyed by `"<name>_<crc>"`. No module in here panics on bytes
//! or definitions received from outside; every failure is a typed error.

pub mod cache;
pub mod client;
pub mod codec;
pub mod crc;
pub mod defs;
pub mod event;
pub mod frame;
pub mod remote;
pub mod responder;
pub mod restart;

pub use cache::{
    CacheError, CacheEvent, ClientCache, ClientInfo, ClientKey, DefsLoader, KeyStats, load_api_tree,
};
pub use client::{ClientConfig, ClientError, Events, Message, PendingReply, VppClient};
pub use codec::{CodecError, nearest_name, peek_msg_id};
pub use crc::{CrcCollections, CrcConflict, CrcFileError, CrcReport, crcs_from_message_table};
pub use defs::{
    AliasDef, ApiDefinitions, DefinitionConflict, DefinitionsBuilder, DefsError, EnumDef, FieldDef,
    FieldShape, MessageDef, ModuleInfo, ScalarType, ServiceDef, ServiceKind, StructDef, TypeRef,
    UnionDef,
};
pub use frame::{FrameDecoder, FrameError, FrameReader, encode_frame, write_frame};
pub use restart::{DEFAULT_RESTART_COMMAND, RestartError, RestartPlan, RestartReport, restart_vpp};
