//! VPP binary API: definitions loader (`defs`), message codec (`codec`), socket framing
//! (`frame`) and an async client (`client`).
//!
//! Everything here follows `vpp-protocol.md`: packed big-endian messages (f64 in host order),
//! 16-byte `>QII` frame headers, message ids resolved per connection from the
//! `sockclnt_create_reply` table keyed by `"<name>_<crc>"`. No module in here panics on bytes
//! or definitions received from outside; every failure is a typed error.

pub mod client;
pub mod codec;
pub mod defs;
pub mod frame;

pub use client::{ClientConfig, ClientError, Events, Message, PendingReply, VppClient};
pub use codec::{CodecError, nearest_name, peek_msg_id};
pub use defs::{
    AliasDef, ApiDefinitions, DefinitionConflict, DefinitionsBuilder, DefsError, EnumDef, FieldDef,
    FieldShape, MessageDef, ModuleInfo, ScalarType, ServiceDef, ServiceKind, StructDef, TypeRef,
    UnionDef,
};
pub use frame::{FrameDecoder, FrameError, FrameReader, encode_frame, write_frame};
