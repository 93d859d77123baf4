//! VPP binary-API definitions: loading `.api.json` files into resolved, shareable type trees.
//!
//! Input: the JSON files VPP's `vppapigen` writes (one module per file, as installed under
//! `/usr/share/vpp/api/`), or the single JSON string `get_api_json` returns (an array of
//! module objects, or one module object).
//!
//! Invariants of a loaded [`ApiDefinitions`]:
//! - every field of every message and named type refers to a type that exists; the type graph
//!   has no cycles and is at most [`MAX_TYPE_DEPTH`] levels deep, so the codec's recursion is
//!   bounded;
//! - every message starts with `u16 _vl_msg_id` and has a parsed 32-bit CRC, so its
//!   `name_crc` key (`"<name>_<crc without 0x>"`) is always available;
//! - a variable-length array's length field is an earlier integer field of the same struct;
//!   a discriminator names an earlier field of the same struct; union arms and fixed arrays
//!   have a fixed size of at most [`MAX_FIXED_SIZE`] bytes;
//! - loading never panics: every malformed construct is a [`DefsError`] naming the origin (file
//!   path or `<json string>`) and the message or type.
//!
//! Duplicate definitions: each file repeats the types it imports. A name defined more than once
//! keeps its **first** definition (files are read in sorted path order). A later definition
//! that is identical (ignoring `comment` strings) is dropped silently; a later one that differs
//! is dropped too, and recorded in [`ApiDefinitions::conflicts`] (and logged with
//! `tracing::warn!`). This matches vpp_papi, whose global type table keeps the first
//! registration. Messages follow the same rule.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

/// Deepest nesting of named types the resolver accepts (VPP's own files nest at most ~6).
pub const MAX_TYPE_DEPTH: usize = 64;

/// Largest fixed size (bytes) of any type, fixed array or union arm the resolver accepts.
/// VPP's largest fixed-size message is a few KiB; the cap keeps hostile definitions from
/// making the codec allocate gigabytes for a zero-filled default.
pub const MAX_FIXED_SIZE: usize = 1 << 20;

/// Errors from loading definitions.
#[derive(Debug, thiserror::Error)]
pub enum DefsError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid JSON.
    #[error("{origin}: invalid JSON: {source}")]
    Json {
        /// File path or `<json string>`.
        origin: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A construct does not have the documented `.api.json` shape.
    #[error("{origin}: {item}: {reason}")]
    Malformed {
        /// File path or `<json string>`.
        origin: String,
        /// What was being read, e.g. `message sw_interface_dump` or `enum if_type`.
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// A field refers to a type that no loaded file defines.
    #[error("{origin}: {item}: field `{field}` has unknown type `{type_name}`")]
    UnknownType {
        /// File path or `<json string>`.
        origin: String,
        /// The message or type holding the field.
        item: String,
        /// The field name.
        field: String,
        /// The type as written.
        type_name: String,
    },
    /// Named types refer to each other in a loop, or nest deeper than [`MAX_TYPE_DEPTH`].
    #[error("{origin}: type `{name}`: {reason}")]
    TypeGraph {
        /// File path or `<json string>`.
        origin: String,
        /// The type where the problem was found.
        name: String,
        /// The chain or depth involved.
        reason: String,
    },
    /// No `.api.json` file was found in the directory.
    #[error("no .api.json files in {0}")]
    NoFiles(PathBuf),
}

/// A fixed-width wire scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// Unsigned 8-bit.
    U8,
    /// Signed 8-bit.
    I8,
    /// Unsigned 16-bit, big-endian.
    U16,
    /// Signed 16-bit, big-endian.
    I16,
    /// Unsigned 32-bit, big-endian.
    U32,
    /// Signed 32-bit, big-endian.
    I32,
    /// Unsigned 64-bit, big-endian.
    U64,
    /// Signed 64-bit, big-endian.
    I64,
    /// IEEE double in **host** byte order.
    F64,
    /// One byte, nonzero = true.
    Bool,
}

impl ScalarType {
    /// Parses a base type name as written in `.api.json` (`u8`, `i16`, `f64`, `bool`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "u8" => Self::U8,
            "i8" => Self::I8,
            "u16" => Self::U16,
            "i16" => Self::I16,
            "u32" => Self::U32,
            "i32" => Self::I32,
            "u64" => Self::U64,
            "i64" => Self::I64,
            "f64" => Self::F64,
            "bool" => Self::Bool,
            _ => return None,
        })
    }

    /// The `.api.json` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
            Self::Bool => "bool",
        }
    }

    /// Size on the wire in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// True for the integer types (not `f64`, not `bool`).
    pub fn is_integer(self) -> bool {
        !matches!(self, Self::F64 | Self::Bool)
    }

    /// Inclusive value range of an integer type, as `i128` (None for `f64`/`bool`).
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Self::U8 => (0, u8::MAX.into()),
            Self::I8 => (i8::MIN.into(), i8::MAX.into()),
            Self::U16 => (0, u16::MAX.into()),
            Self::I16 => (i16::MIN.into(), i16::MAX.into()),
            Self::U32 => (0, u32::MAX.into()),
            Self::I32 => (i32::MIN.into(), i32::MAX.into()),
            Self::U64 => (0, u64::MAX.into()),
            Self::I64 => (i64::MIN.into(), i64::MAX.into()),
            Self::F64 | Self::Bool => return None,
        })
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a field repeats its type on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldShape {
    /// `[type, name]`: one value.
    Single,
    /// `[type, name, N]` with N > 0 and type not `string`: exactly N elements.
    FixedArray(usize),
    /// `[type, name, 0, length_field]`: elements only; the count is the earlier field's value.
    VariableArray {
        /// Name of the earlier integer field holding the element count.
        length_field: String,
    },
    /// `[type, name, 0]` with type not `string` (old files): the elements fill the rest of the
    /// message.
    TrailingArray,
    /// `["string", name, N]` with N > 0: N bytes, NUL-padded.
    FixedString(usize),
    /// `["string", name, 0]`: u32 big-endian length, then the bytes (no NUL).
    VariableString,
}

/// A resolved reference to a type.
#[derive(Debug, Clone)]
pub enum TypeRef {
    /// A base scalar.
    Scalar(ScalarType),
    /// The base `string` type (only with [`FieldShape::FixedString`] / [`FieldShape::VariableString`]).
    String,
    /// An `enums` or `enumflags` entry.
    Enum(Arc<EnumDef>),
    /// A `types` entry (typedef).
    Struct(Arc<StructDef>),
    /// A `unions` entry.
    Union(Arc<UnionDef>),
    /// An `aliases` entry.
    Alias(Arc<AliasDef>),
}

impl TypeRef {
    /// The type's name: the scalar spelling, `string`, or the short name of a named type
    /// (e.g. `address`, not `vl_api_address_t`).
    pub fn name(&self) -> &str {
        match self {
            Self::Scalar(s) => s.name(),
            Self::String => "string",
            Self::Enum(e) => &e.name,
            Self::Struct(s) => &s.name,
            Self::Union(u) => &u.name,
            Self::Alias(a) => &a.name,
        }
    }

    /// Size in bytes when every value of the type has the same size, else `None`.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Self::Scalar(s) => Some(s.size()),
            Self::String => None,
            Self::Enum(e) => Some(e.repr.size()),
            Self::Struct(s) => s.fixed_size,
            Self::Union(u) => Some(u.size),
            Self::Alias(a) => a.fixed_size,
        }
    }

    /// Smallest number of bytes any value of the type occupies.
    pub fn min_size(&self) -> usize {
        match self {
            Self::Scalar(s) => s.size(),
            Self::String => 0,
            Self::Enum(e) => e.repr.size(),
            Self::Struct(s) => s.min_size,
            Self::Union(u) => u.size,
            Self::Alias(a) => a.min_size,
        }
    }

    /// The scalar this type is carried as, looking through aliases without a length and
    /// enums (their `enumtype`). `None` for structs, unions, strings and array aliases.
    pub fn underlying_scalar(&self) -> Option<ScalarType> {
        match self {
            Self::Scalar(s) => Some(*s),
            Self::Enum(e) => Some(e.repr),
            Self::Alias(a) if a.length.is_none() => a.target.underlying_scalar(),
            _ => None,
        }
    }
}

/// One field of a message, typedef or union.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Field name.
    pub name: String,
    /// The type as written in the file (e.g. `vl_api_address_t`, `u32`).
    pub type_name: String,
    /// The resolved type of one element.
    pub ty: TypeRef,
    /// How the type repeats.
    pub shape: FieldShape,
    /// `{"default": X}`: the value used when the caller leaves the field out.
    pub default: Option<Value>,
    /// `{"limit": N}`: strings hold at most N-1 bytes (as vpp_papi enforces).
    pub limit: Option<u64>,
    /// `{"discriminator": "<field>"}` on a union-typed field: the earlier field that selects
    /// the arm.
    pub discriminator: Option<String>,
    /// `{"case": "<ENUM_VALUE>"}` on a union arm: the discriminator value selecting this arm.
    pub case: Option<String>,
    /// Every option the field carried, unparsed.
    pub options: Map<String, Value>,
}

impl FieldDef {
    /// Size in bytes when fixed, else `None`.
    pub fn fixed_size(&self) -> Option<usize> {
        match &self.shape {
            FieldShape::Single => self.ty.fixed_size(),
            FieldShape::FixedArray(n) => self.ty.fixed_size().and_then(|s| s.checked_mul(*n)),
            FieldShape::FixedString(n) => Some(*n),
            FieldShape::VariableArray { .. }
            | FieldShape::TrailingArray
            | FieldShape::VariableString => None,
        }
    }

    /// Smallest number of bytes the field occupies.
    pub fn min_size(&self) -> usize {
        match &self.shape {
            FieldShape::Single => self.ty.min_size(),
            FieldShape::FixedArray(n) => self.ty.min_size().saturating_mul(*n),
            FieldShape::FixedString(n) => *n,
            FieldShape::VariableString => 4,
            FieldShape::VariableArray { .. } | FieldShape::TrailingArray => 0,
        }
    }
}

/// A typedef, or the body of a message.
#[derive(Debug, Clone)]
pub struct StructDef {
    /// Short name (`address`, or the message name).
    pub name: String,
    /// Fields in wire order.
    pub fields: Vec<FieldDef>,
    /// Total size when every field is fixed-size.
    pub fixed_size: Option<usize>,
    /// Smallest encoded size.
    pub min_size: usize,
}

impl StructDef {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Byte offset of a field when every field before it is fixed-size.
    pub fn field_offset(&self, name: &str) -> Option<usize> {
        let mut offset = 0usize;
        for field in &self.fields {
            if field.name == name {
                return Some(offset);
            }
            offset = offset.checked_add(field.fixed_size()?)?;
        }
        None
    }
}

/// A union: the size of its largest arm; a value is one arm, zero-padded.
#[derive(Debug, Clone)]
pub struct UnionDef {
    /// Short name.
    pub name: String,
    /// The arms (each fixed-size), with their optional `case` annotation.
    pub arms: Vec<FieldDef>,
    /// Size of the largest arm.
    pub size: usize,
}

impl UnionDef {
    /// The arm with this name.
    pub fn arm(&self, name: &str) -> Option<&FieldDef> {
        self.arms.iter().find(|a| a.name == name)
    }
}

/// An enum or enumflags type.
#[derive(Debug, Clone)]
pub struct EnumDef {
    /// Short name.
    pub name: String,
    /// True when it came from `enumflags`.
    pub is_flags: bool,
    /// The `enumtype` (u32 when absent).
    pub repr: ScalarType,
    /// Entries in file order.
    pub values: Vec<(String, i64)>,
}

impl EnumDef {
    /// Value of a named entry.
    pub fn value_of(&self, name: &str) -> Option<i64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// First entry name with this value.
    pub fn name_of(&self, value: i64) -> Option<&str> {
        self.values
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(n, _)| n.as_str())
    }
}

/// An alias: another type, optionally as a fixed array (`{"type": "u8", "length": 6}`).
#[derive(Debug, Clone)]
pub struct AliasDef {
    /// Short name (`mac_address`, `interface_index`, ...).
    pub name: String,
    /// The aliased type.
    pub target: TypeRef,
    /// Fixed array length, if the alias is an array.
    pub length: Option<usize>,
    /// Total fixed size (None if the target is variable-size).
    pub fixed_size: Option<usize>,
    /// Smallest encoded size.
    pub min_size: usize,
}

/// One API message.
#[derive(Debug, Clone)]
pub struct MessageDef {
    /// Message name.
    pub name: String,
    /// The 32-bit CRC from the definition.
    pub crc: u32,
    /// Module (file) the message came from.
    pub module: String,
    /// The wire layout; the first field is `u16 _vl_msg_id`.
    pub body: Arc<StructDef>,
    /// Message options (`deprecated`, `in_progress`, `status`, `replaced_by`, `vat_help`, ...).
    pub options: Map<String, Value>,
    /// The comment from the `.api` source, if any.
    pub comment: Option<String>,
}

impl MessageDef {
    /// The message-table key VPP uses: `"<name>_<crc as 8 lowercase hex digits>"`.
    pub fn name_crc(&self) -> String {
        format!("{}_{:08x}", self.name, self.crc)
    }

    /// Fields in wire order (the first is `_vl_msg_id`).
    pub fn fields(&self) -> &[FieldDef] {
        &self.body.fields
    }

    /// Byte offset of a top-level field whose predecessors are all fixed-size.
    pub fn field_offset(&self, name: &str) -> Option<usize> {
        self.body.field_offset(name)
    }

    /// Byte offset of the `context` field, if the message has one at a fixed offset.
    /// It is 6 for most requests, 2 for replies, and absent for context-less events.
    pub fn context_offset(&self) -> Option<usize> {
        self.field_offset("context")
    }

    /// True when the message carries the `deprecated` option.
    pub fn is_deprecated(&self) -> bool {
        self.options.contains_key("deprecated")
    }

    /// True when the message carries the `in_progress` option.
    pub fn is_in_progress(&self) -> bool {
        self.options.contains_key("in_progress")
    }
}

/// What a request expects back, from the `services` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    /// The request message.
    pub request: String,
    /// The reply message; `None` when the file says `"reply": "null"`.
    pub reply: Option<String>,
    /// `"stream": true`.
    pub stream: bool,
    /// `"stream_msg"`: the details message of a new-style get (then `reply` ends the stream).
    pub stream_msg: Option<String>,
    /// `"events"`: messages a subscription request enables.
    pub events: Vec<String>,
}

/// The calling pattern a service implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// One request, one reply.
    Simple,
    /// Old-style dump: `reply` is the details message; end it with `control_ping`.
    Dump,
    /// New-style get: `stream_msg` details, then `reply` with `retval` and `cursor`.
    Get,
    /// One request, one reply, and it enables `events`.
    Subscription,
    /// No reply at all.
    NoReply,
}

impl ServiceDef {
    /// The calling pattern.
    pub fn kind(&self) -> ServiceKind {
        if self.reply.is_none() {
            ServiceKind::NoReply
        } else if self.stream_msg.is_some() {
            ServiceKind::Get
        } else if self.stream {
            ServiceKind::Dump
        } else if !self.events.is_empty() {
            ServiceKind::Subscription
        } else {
            ServiceKind::Simple
        }
    }
}

/// Module-level facts of one loaded file or module object.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    /// `module` (falls back to the file stem).
    pub name: String,
    /// File path or `<json string>`.
    pub origin: String,
    /// `vl_api_version`, as written.
    pub version: Option<String>,
    /// `imports`.
    pub imports: Vec<String>,
    /// `options` (e.g. `{"version": "3.0.0"}`).
    pub options: Map<String, Value>,
    /// `counters`, unparsed.
    pub counters: Value,
    /// `paths`, unparsed.
    pub paths: Value,
}

/// A later definition that differed from the first one with the same name (and was ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionConflict {
    /// `type`, `union`, `enum`, `enumflags`, `alias` or `message`.
    pub kind: &'static str,
    /// The name both definitions use.
    pub name: String,
    /// Where the kept (first) definition came from.
    pub kept_origin: String,
    /// Where the ignored definition came from.
    pub ignored_origin: String,
}

/// Every message, type and service of a set of modules, resolved.
#[derive(Debug, Clone, Default)]
pub struct ApiDefinitions {
    messages: BTreeMap<String, Arc<MessageDef>>,
    by_name_crc: HashMap<String, String>,
    types: BTreeMap<String, TypeRef>,
    services: BTreeMap<String, ServiceDef>,
    modules: Vec<ModuleInfo>,
    conflicts: Vec<DefinitionConflict>,
}

impl ApiDefinitions {
    /// Loads every `*.api.json` file directly inside `dir` (sorted by path; not recursive).
    pub fn load_dir(dir: &Path) -> Result<Self, DefsError> {
        let mut builder = DefinitionsBuilder::new();
        builder.add_dir(dir)?;
        builder.build()
    }

    /// Loads one JSON text: a module object, or an array of module objects (the shape of
    /// `get_api_json_reply.json`).
    pub fn from_json_str(json: &str) -> Result<Self, DefsError> {
        let mut builder = DefinitionsBuilder::new();
        builder.add_json_str("<json string>", json)?;
        builder.build()
    }

    /// A message by name.
    pub fn message(&self, name: &str) -> Option<&Arc<MessageDef>> {
        self.messages.get(name)
    }

    /// A message by its `name_crc` key.
    pub fn message_by_name_crc(&self, name_crc: &str) -> Option<&Arc<MessageDef>> {
        self.by_name_crc
            .get(name_crc)
            .and_then(|name| self.messages.get(name))
    }

    /// All messages, sorted by name.
    pub fn messages(&self) -> impl Iterator<Item = &Arc<MessageDef>> {
        self.messages.values()
    }

    /// Number of messages.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// All message names, sorted.
    pub fn message_names(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    /// `name_crc` → message name, for every message.
    pub fn name_crc_table(&self) -> &HashMap<String, String> {
        &self.by_name_crc
    }

    /// A named type (enum, enumflags, typedef, union, alias) by short name (`address`) or
    /// `vl_api_address_t`.
    pub fn named_type(&self, name: &str) -> Option<&TypeRef> {
        self.types.get(short_type_name(name))
    }

    /// All named types, sorted by short name.
    pub fn named_types(&self) -> impl Iterator<Item = (&str, &TypeRef)> {
        self.types.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The service entry for a request message.
    pub fn service(&self, request: &str) -> Option<&ServiceDef> {
        self.services.get(request)
    }

    /// All services, sorted by request name.
    pub fn services(&self) -> impl Iterator<Item = &ServiceDef> {
        self.services.values()
    }

    /// Facts of every loaded module, in load order.
    pub fn modules(&self) -> &[ModuleInfo] {
        &self.modules
    }

    /// Later definitions that differed from the kept first one.
    pub fn conflicts(&self) -> &[DefinitionConflict] {
        &self.conflicts
    }
}

/// Strips the `vl_api_` prefix and `_t` suffix vppapigen puts on type references.
pub fn short_type_name(name: &str) -> &str {
    name.strip_prefix("vl_api_")
        .and_then(|n| n.strip_suffix("_t"))
        .unwrap_or(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    Type,
    Union,
    Enum,
    EnumFlags,
    Alias,
}

impl RawKind {
    fn label(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Union => "union",
            Self::Enum => "enum",
            Self::EnumFlags => "enumflags",
            Self::Alias => "alias",
        }
    }
}

#[derive(Debug, Clone)]
struct RawNamed {
    kind: RawKind,
    origin: String,
    definition: Value,
}

#[derive(Debug, Clone)]
struct RawMessage {
    origin: String,
    module: String,
    definition: Vec<Value>,
}

/// Accumulates modules from files and JSON strings, then resolves them into [`ApiDefinitions`].
///
/// Use it to combine sources, e.g. a built-in `memclnt.api.json` plus the `get_api_json`
/// reply. Earlier additions win over later ones with the same name (see the module docs).
#[derive(Debug, Default)]
pub struct DefinitionsBuilder {
    named: HashMap<String, RawNamed>,
    messages: BTreeMap<String, RawMessage>,
    services: BTreeMap<String, ServiceDef>,
    modules: Vec<ModuleInfo>,
    conflicts: Vec<DefinitionConflict>,
}

impl DefinitionsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every `*.api.json` file directly inside `dir`, in sorted path order.
    pub fn add_dir(&mut self, dir: &Path) -> Result<&mut Self, DefsError> {
        let io_error = |source| DefsError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            let is_api_json = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".api.json"));
            if is_api_json && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(DefsError::NoFiles(dir.to_path_buf()));
        }
        files.sort();
        for file in files {
            self.add_file(&file)?;
        }
        Ok(self)
    }

    /// Adds one `.api.json` file.
    pub fn add_file(&mut self, path: &Path) -> Result<&mut Self, DefsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.trim_end_matches(".api.json").to_string());
        let origin = path.display().to_string();
        let value: Value = serde_json::from_str(&text).map_err(|source| DefsError::Json {
            origin: origin.clone(),
            source,
        })?;
        self.add_module_value(&origin, stem.as_deref(), &value)?;
        Ok(self)
    }

    /// Adds a JSON text holding one module object or an array of module objects.
    pub fn add_json_str(&mut self, origin: &str, json: &str) -> Result<&mut Self, DefsError> {
        let value: Value = serde_json::from_str(json).map_err(|source| DefsError::Json {
            origin: origin.to_string(),
            source,
        })?;
        match &value {
            Value::Array(modules) => {
                for (index, module) in modules.iter().enumerate() {
                    self.add_module_value(&format!("{origin}[{index}]"), None, module)?;
                }
            }
            _ => self.add_module_value(origin, None, &value)?,
        }
        Ok(self)
    }

    fn add_module_value(
        &mut self,
        origin: &str,
        fallback_name: Option<&str>,
        value: &Value,
    ) -> Result<(), DefsError> {
        let malformed = |item: &str, reason: String| DefsError::Malformed {
            origin: origin.to_string(),
            item: item.to_string(),
            reason,
        };
        let Value::Object(module) = value else {
            return Err(malformed("module", "expected a JSON object".into()));
        };
        let module_name = match module.get("module") {
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(malformed("module", "`module` is not a string".into())),
            None => fallback_name.unwrap_or("<unnamed>").to_string(),
        };

        for (key, kind) in [
            ("enums", RawKind::Enum),
            ("enumflags", RawKind::EnumFlags),
            ("unions", RawKind::Union),
            ("types", RawKind::Type),
        ] {
            for definition in list_of(module, key, origin)? {
                let name = definition
                    .as_array()
                    .and_then(|items| items.first())
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        malformed(key, "entry is not an array starting with a name".into())
                    })?;
                self.add_named(name, kind, origin, definition.clone());
            }
        }
        match module.get("aliases") {
            None | Some(Value::Null) => {}
            Some(Value::Object(aliases)) => {
                for (name, definition) in aliases {
                    self.add_named(name, RawKind::Alias, origin, definition.clone());
                }
            }
            Some(_) => return Err(malformed("aliases", "expected an object".into())),
        }

        for definition in list_of(module, "messages", origin)? {
            let items = definition
                .as_array()
                .ok_or_else(|| malformed("messages", "entry is not an array".into()))?;
            let name = items
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("messages", "entry does not start with a name".into()))?;
            self.add_message(name, origin, &module_name, items);
        }

        match module.get("services") {
            None | Some(Value::Null) => {}
            Some(Value::Object(services)) => {
                for (request, service) in services {
                    let parsed = parse_service(request, service)
                        .map_err(|reason| malformed(&format!("service {request}"), reason))?;
                    self.services.entry(request.clone()).or_insert(parsed);
                }
            }
            Some(_) => return Err(malformed("services", "expected an object".into())),
        }

        let version = module
            .get("vl_api_version")
            .and_then(Value::as_str)
            .map(str::to_string);
        let imports = module
            .get("imports")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let options = match module.get("options") {
            Some(Value::Object(options)) => options.clone(),
            _ => Map::new(),
        };
        self.modules.push(ModuleInfo {
            name: module_name,
            origin: origin.to_string(),
            version,
            imports,
            options,
            counters: module.get("counters").cloned().unwrap_or(Value::Null),
            paths: module.get("paths").cloned().unwrap_or(Value::Null),
        });
        Ok(())
    }

    fn add_named(&mut self, name: &str, kind: RawKind, origin: &str, definition: Value) {
        match self.named.get(name) {
            None => {
                self.named.insert(
                    name.to_string(),
                    RawNamed {
                        kind,
                        origin: origin.to_string(),
                        definition,
                    },
                );
            }
            Some(kept) => {
                let same = kept.kind == kind
                    && without_comments(&kept.definition) == without_comments(&definition);
                if !same {
                    tracing::warn!(
                        name,
                        kept = %kept.origin,
                        ignored = origin,
                        "differing duplicate VPP API {} definition ignored",
                        kind.label()
                    );
                    self.conflicts.push(DefinitionConflict {
                        kind: kind.label(),
                        name: name.to_string(),
                        kept_origin: kept.origin.clone(),
                        ignored_origin: origin.to_string(),
                    });
                }
            }
        }
    }

    fn add_message(&mut self, name: &str, origin: &str, module: &str, items: &[Value]) {
        match self.messages.get(name) {
            None => {
                self.messages.insert(
                    name.to_string(),
                    RawMessage {
                        origin: origin.to_string(),
                        module: module.to_string(),
                        definition: items.to_vec(),
                    },
                );
            }
            Some(kept) => {
                let kept_value = without_comments(&Value::Array(kept.definition.clone()));
                if kept_value != without_comments(&Value::Array(items.to_vec())) {
                    tracing::warn!(
                        name,
                        kept = %kept.origin,
                        ignored = origin,
                        "differing duplicate VPP API message definition ignored"
                    );
                    self.conflicts.push(DefinitionConflict {
                        kind: "message",
                        name: name.to_string(),
                        kept_origin: kept.origin.clone(),
                        ignored_origin: origin.to_string(),
                    });
                }
            }
        }
    }

    /// Resolves every type and message.
    pub fn build(self) -> Result<ApiDefinitions, DefsError> {
        let mut resolver = Resolver {
            raw: &self.named,
            resolved: HashMap::new(),
            in_progress: Vec::new(),
        };
        let mut names: Vec<&String> = self.named.keys().collect();
        names.sort();
        let mut types = BTreeMap::new();
        for name in names {
            let resolved = resolver.resolve_named(name, 0)?;
            types.insert(name.clone(), resolved);
        }

        let mut messages = BTreeMap::new();
        let mut by_name_crc = HashMap::new();
        for (name, raw) in &self.messages {
            let message = resolver.resolve_message(name, raw)?;
            by_name_crc.insert(message.name_crc(), name.clone());
            messages.insert(name.clone(), Arc::new(message));
        }

        Ok(ApiDefinitions {
            messages,
            by_name_crc,
            types,
            services: self.services,
            modules: self.modules,
            conflicts: self.conflicts,
        })
    }
}

fn list_of<'m>(
    module: &'m Map<String, Value>,
    key: &str,
    origin: &str,
) -> Result<&'m [Value], DefsError> {
    match module.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(DefsError::Malformed {
            origin: origin.to_string(),
            item: key.to_string(),
            reason: "expected an array".into(),
        }),
    }
}

/// A copy of a definition with every `"comment"` key removed from its option objects.
fn without_comments(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(without_comments).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "comment")
                .map(|(k, v)| (k.clone(), without_comments(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn parse_service(request: &str, value: &Value) -> Result<ServiceDef, String> {
    let Value::Object(map) = value else {
        return Err("expected an object".into());
    };
    let reply = match map.get("reply") {
        Some(Value::String(reply)) if reply == "null" => None,
        Some(Value::String(reply)) => Some(reply.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err("`reply` is not a string".into()),
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`stream` is not a boolean".into()),
    };
    let stream_msg = match map.get("stream_msg") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`stream_msg` is not a string".into()),
    };
    let events = match map.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("`events` holds a non-string")?,
        Some(_) => return Err("`events` is not an array".into()),
    };
    Ok(ServiceDef {
        request: request.to_string(),
        reply,
        stream,
        stream_msg,
        events,
    })
}

struct Resolver<'r> {
    raw: &'r HashMap<String, RawNamed>,
    resolved: HashMap<String, TypeRef>,
    in_progress: Vec<String>,
}

/// A field as written, before its type is resolved.
struct RawField {
    type_name: String,
    name: String,
    shape: FieldShape,
    options: Map<String, Value>,
}

impl Resolver<'_> {
    fn resolve_named(&mut self, name: &str, depth: usize) -> Result<TypeRef, DefsError> {
        if let Some(done) = self.resolved.get(name) {
            return Ok(done.clone());
        }
        let raw_types = self.raw;
        let Some(raw) = raw_types.get(name) else {
            return Err(DefsError::TypeGraph {
                origin: "<definitions>".into(),
                name: name.to_string(),
                reason: "not defined".into(),
            });
        };
        if self.in_progress.iter().any(|n| n == name) {
            return Err(DefsError::TypeGraph {
                origin: raw.origin.clone(),
                name: name.to_string(),
                reason: format!(
                    "refers to itself through {} -> {name}",
                    self.in_progress.join(" -> ")
                ),
            });
        }
        if depth > MAX_TYPE_DEPTH {
            return Err(DefsError::TypeGraph {
                origin: raw.origin.clone(),
                name: name.to_string(),
                reason: format!("types nest deeper than {MAX_TYPE_DEPTH} levels"),
            });
        }
        self.in_progress.push(name.to_string());
        let result = self.build_named(name, raw, depth);
        self.in_progress.pop();
        let resolved = result?;
        self.resolved.insert(name.to_string(), resolved.clone());
        Ok(resolved)
    }

    fn build_named(
        &mut self,
        name: &str,
        raw: &RawNamed,
        depth: usize,
    ) -> Result<TypeRef, DefsError> {
        let item = format!("{} {name}", raw.kind.label());
        let malformed = |reason: String| DefsError::Malformed {
            origin: raw.origin.clone(),
            item: item.clone(),
            reason,
        };
        match raw.kind {
            RawKind::Enum | RawKind::EnumFlags => {
                let items = raw
                    .definition
                    .as_array()
                    .ok_or_else(|| malformed("expected an array".into()))?;
                let def =
                    parse_enum(name, raw.kind == RawKind::EnumFlags, items).map_err(malformed)?;
                Ok(TypeRef::Enum(Arc::new(def)))
            }
            RawKind::Type => {
                let items = raw
                    .definition
                    .as_array()
                    .ok_or_else(|| malformed("expected an array".into()))?;
                let (raw_fields, _) =
                    split_fields(items.get(1..).unwrap_or(&[]), &raw.origin, &item)?;
                let def = self.build_struct(name, raw_fields, &raw.origin, &item, depth)?;
                Ok(TypeRef::Struct(Arc::new(def)))
            }
            RawKind::Union => {
                let items = raw
                    .definition
                    .as_array()
                    .ok_or_else(|| malformed("expected an array".into()))?;
                let (raw_fields, _) =
                    split_fields(items.get(1..).unwrap_or(&[]), &raw.origin, &item)?;
                let mut arms = Vec::with_capacity(raw_fields.len());
                let mut size = 0usize;
                for raw_field in raw_fields {
                    let arm = self.resolve_field(raw_field, &raw.origin, &item, depth)?;
                    let arm_size = arm.fixed_size().ok_or_else(|| {
                        malformed(format!("arm `{}` is not fixed-size", arm.name))
                    })?;
                    size = size.max(arm_size);
                    arms.push(arm);
                }
                Ok(TypeRef::Union(Arc::new(UnionDef {
                    name: name.to_string(),
                    arms,
                    size,
                })))
            }
            RawKind::Alias => {
                let Value::Object(map) = &raw.definition else {
                    return Err(malformed("expected an object".into()));
                };
                let target_name = map
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("`type` missing or not a string".into()))?;
                let length = match map.get("length") {
                    None | Some(Value::Null) => None,
                    Some(value) => match value.as_u64() {
                        Some(0) | None => {
                            return Err(malformed("`length` is not a positive integer".into()));
                        }
                        Some(n) => Some(
                            usize::try_from(n)
                                .ok()
                                .filter(|n| *n <= MAX_FIXED_SIZE)
                                .ok_or_else(|| malformed(format!("`length` {n} is too large")))?,
                        ),
                    },
                };
                let target =
                    self.resolve_reference(target_name, depth + 1)
                        .map_err(|e| match e {
                            ReferenceError::Unknown => DefsError::UnknownType {
                                origin: raw.origin.clone(),
                                item: item.clone(),
                                field: "type".into(),
                                type_name: target_name.to_string(),
                            },
                            ReferenceError::Defs(e) => e,
                        })?;
                if matches!(target, TypeRef::String) {
                    return Err(malformed("aliases of `string` are not supported".into()));
                }
                let (fixed_size, min_size) = match length {
                    Some(n) => (
                        target.fixed_size().and_then(|s| s.checked_mul(n)),
                        target.min_size().saturating_mul(n),
                    ),
                    None => (target.fixed_size(), target.min_size()),
                };
                if length.is_some() && fixed_size.is_none() {
                    return Err(malformed("array aliases need a fixed-size element".into()));
                }
                if fixed_size.is_some_and(|s| s > MAX_FIXED_SIZE) {
                    return Err(malformed(format!("larger than {MAX_FIXED_SIZE} bytes")));
                }
                Ok(TypeRef::Alias(Arc::new(AliasDef {
                    name: name.to_string(),
                    target,
                    length,
                    fixed_size,
                    min_size,
                })))
            }
        }
    }

    fn resolve_message(&mut self, name: &str, raw: &RawMessage) -> Result<MessageDef, DefsError> {
        let item = format!("message {name}");
        let malformed = |reason: String| DefsError::Malformed {
            origin: raw.origin.clone(),
            item: item.clone(),
            reason,
        };
        let (raw_fields, message_options) =
            split_fields(raw.definition.get(1..).unwrap_or(&[]), &raw.origin, &item)?;
        let crc_text = message_options
            .get("crc")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("`crc` missing or not a string".into()))?;
        let crc = crc_text
            .strip_prefix("0x")
            .or_else(|| crc_text.strip_prefix("0X"))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or_else(|| malformed(format!("`crc` {crc_text:?} is not 0x + 8 hex digits")))?;
        let options = match message_options.get("options") {
            Some(Value::Object(options)) => options.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(malformed("`options` is not an object".into())),
        };
        let comment = message_options
            .get("comment")
            .and_then(Value::as_str)
            .map(str::to_string);
        let body = self.build_struct(name, raw_fields, &raw.origin, &item, 0)?;
        let starts_with_id = body.fields.first().is_some_and(|f| {
            f.name == "_vl_msg_id"
                && f.shape == FieldShape::Single
                && matches!(f.ty, TypeRef::Scalar(ScalarType::U16))
        });
        if !starts_with_id {
            return Err(malformed("first field must be `u16 _vl_msg_id`".into()));
        }
        Ok(MessageDef {
            name: name.to_string(),
            crc,
            module: raw.module.clone(),
            body: Arc::new(body),
            options,
            comment,
        })
    }

    fn build_struct(
        &mut self,
        name: &str,
        raw_fields: Vec<RawField>,
        origin: &str,
        item: &str,
        depth: usize,
    ) -> Result<StructDef, DefsError> {
        let malformed = |reason: String| DefsError::Malformed {
            origin: origin.to_string(),
            item: item.to_string(),
            reason,
        };
        let mut fields: Vec<FieldDef> = Vec::with_capacity(raw_fields.len());
        for raw_field in raw_fields {
            if fields.iter().any(|f| f.name == raw_field.name) {
                return Err(malformed(format!(
                    "field `{}` appears twice",
                    raw_field.name
                )));
            }
            let field = self.resolve_field(raw_field, origin, item, depth)?;
            if let FieldShape::VariableArray { length_field } = &field.shape {
                let length = fields
                    .iter()
                    .find(|f| &f.name == length_field)
                    .ok_or_else(|| {
                        malformed(format!(
                            "length field `{length_field}` of `{}` is not an earlier field",
                            field.name
                        ))
                    })?;
                let is_integer = length.shape == FieldShape::Single
                    && length
                        .ty
                        .underlying_scalar()
                        .is_some_and(ScalarType::is_integer);
                if !is_integer {
                    return Err(malformed(format!(
                        "length field `{length_field}` of `{}` is not an integer",
                        field.name
                    )));
                }
            }
            if let Some(discriminator) = &field.discriminator {
                if !fields.iter().any(|f| &f.name == discriminator) {
                    return Err(malformed(format!(
                        "discriminator `{discriminator}` of `{}` is not an earlier field",
                        field.name
                    )));
                }
                if !matches!(field.ty, TypeRef::Union(_)) {
                    return Err(malformed(format!(
                        "`{}` has a discriminator but is not a union",
                        field.name
                    )));
                }
            }
            fields.push(field);
        }
        let mut fixed_size = Some(0usize);
        let mut min_size = 0usize;
        for field in &fields {
            fixed_size = match (fixed_size, field.fixed_size()) {
                (Some(total), Some(size)) => total.checked_add(size),
                _ => None,
            };
            min_size = min_size.saturating_add(field.min_size());
        }
        if min_size > MAX_FIXED_SIZE {
            return Err(malformed(format!("larger than {MAX_FIXED_SIZE} bytes")));
        }
        Ok(StructDef {
            name: name.to_string(),
            fields,
            fixed_size,
            min_size,
        })
    }

    fn resolve_field(
        &mut self,
        raw: RawField,
        origin: &str,
        item: &str,
        depth: usize,
    ) -> Result<FieldDef, DefsError> {
        let malformed = |reason: String| DefsError::Malformed {
            origin: origin.to_string(),
            item: item.to_string(),
            reason,
        };
        let ty = self
            .resolve_reference(&raw.type_name, depth + 1)
            .map_err(|e| match e {
                ReferenceError::Unknown => DefsError::UnknownType {
                    origin: origin.to_string(),
                    item: item.to_string(),
                    field: raw.name.clone(),
                    type_name: raw.type_name.clone(),
                },
                ReferenceError::Defs(e) => e,
            })?;
        let is_string = matches!(ty, TypeRef::String);
        let shape = match raw.shape {
            FieldShape::FixedArray(n) if is_string => FieldShape::FixedString(n),
            FieldShape::TrailingArray if is_string => FieldShape::VariableString,
            FieldShape::Single if is_string => {
                return Err(malformed(format!(
                    "string field `{}` has no length (use [\"string\", name, 0])",
                    raw.name
                )));
            }
            FieldShape::VariableArray { .. } if is_string => {
                return Err(malformed(format!(
                    "string field `{}` cannot have a length field",
                    raw.name
                )));
            }
            other => other,
        };
        if shape == FieldShape::TrailingArray && ty.fixed_size().unwrap_or(0) == 0 {
            return Err(malformed(format!(
                "trailing array `{}` needs a fixed-size, non-empty element",
                raw.name
            )));
        }
        if let FieldShape::FixedArray(n) | FieldShape::FixedString(n) = shape {
            let size = ty.min_size().max(1).checked_mul(n);
            if n > MAX_FIXED_SIZE || size.is_none_or(|s| s > MAX_FIXED_SIZE) {
                return Err(malformed(format!(
                    "field `{}` is larger than {MAX_FIXED_SIZE} bytes",
                    raw.name
                )));
            }
        }
        let default = raw.options.get("default").cloned();
        let limit = match raw.options.get("limit") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                malformed(format!(
                    "`limit` of `{}` is not a non-negative integer",
                    raw.name
                ))
            })?),
        };
        let text_option = |key: &str| -> Result<Option<String>, DefsError> {
            match raw.options.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed(format!(
                    "`{key}` of `{}` is not a string",
                    raw.name
                ))),
            }
        };
        let discriminator = text_option("discriminator")?;
        let case = text_option("case")?;
        Ok(FieldDef {
            name: raw.name,
            type_name: raw.type_name,
            ty,
            shape,
            default,
            limit,
            discriminator,
            case,
            options: raw.options,
        })
    }

    fn resolve_reference(
        &mut self,
        type_name: &str,
        depth: usize,
    ) -> Result<TypeRef, ReferenceError> {
        if type_name == "string" {
            return Ok(TypeRef::String);
        }
        if let Some(scalar) = ScalarType::from_name(type_name) {
            return Ok(TypeRef::Scalar(scalar));
        }
        let short = short_type_name(type_name);
        if !self.raw.contains_key(short) {
            return Err(ReferenceError::Unknown);
        }
        self.resolve_named(short, depth)
            .map_err(ReferenceError::Defs)
    }
}

enum ReferenceError {
    Unknown,
    Defs(DefsError),
}

/// Splits the items after a name into fields and the merged trailing option objects.
fn split_fields(
    items: &[Value],
    origin: &str,
    item: &str,
) -> Result<(Vec<RawField>, Map<String, Value>), DefsError> {
    let malformed = |reason: String| DefsError::Malformed {
        origin: origin.to_string(),
        item: item.to_string(),
        reason,
    };
    let mut fields = Vec::new();
    let mut options = Map::new();
    for entry in items {
        match entry {
            Value::Object(map) => {
                options.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Value::Array(parts) => fields.push(parse_raw_field(parts).map_err(&malformed)?),
            other => return Err(malformed(format!("unexpected entry {other}"))),
        }
    }
    Ok((fields, options))
}

fn parse_raw_field(parts: &[Value]) -> Result<RawField, String> {
    let mut options = Map::new();
    let mut plain = Vec::with_capacity(4);
    for part in parts {
        match part {
            Value::Object(map) => options.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
            other => plain.push(other),
        }
    }
    let type_name = plain
        .first()
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("field {parts:?} does not start with a type name"))?;
    let name = plain
        .get(1)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("field {parts:?} has no name"))?;
    let count = |value: &Value| -> Result<usize, String> {
        value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                format!("field `{name}`: array length {value} is not a non-negative integer")
            })
    };
    let shape = match plain.len() {
        2 => FieldShape::Single,
        3 => match count(plain[2])? {
            0 => FieldShape::TrailingArray,
            n => FieldShape::FixedArray(n),
        },
        4 => {
            let length_field = plain[3]
                .as_str()
                .ok_or_else(|| format!("field `{name}`: length field is not a string"))?;
            count(plain[2])?;
            FieldShape::VariableArray {
                length_field: length_field.to_string(),
            }
        }
        n => {
            return Err(format!(
                "field `{name}` has {n} positional parts (2 to 4 allowed)"
            ));
        }
    };
    Ok(RawField {
        type_name: type_name.to_string(),
        name: name.to_string(),
        shape,
        options,
    })
}

fn parse_enum(name: &str, is_flags: bool, items: &[Value]) -> Result<EnumDef, String> {
    let mut repr = ScalarType::U32;
    let mut values = Vec::new();
    for entry in items.get(1..).unwrap_or(&[]) {
        match entry {
            Value::Object(options) => {
                if let Some(enumtype) = options.get("enumtype") {
                    let text = enumtype
                        .as_str()
                        .ok_or_else(|| "`enumtype` is not a string".to_string())?;
                    repr = ScalarType::from_name(text)
                        .filter(|s| s.is_integer())
                        .ok_or_else(|| format!("`enumtype` {text:?} is not an integer type"))?;
                }
            }
            Value::Array(pair) => {
                let (Some(Value::String(entry_name)), Some(value), 2) =
                    (pair.first(), pair.get(1), pair.len())
                else {
                    return Err(format!("entry {entry} is not [NAME, value]"));
                };
                let value = value
                    .as_i64()
                    .ok_or_else(|| format!("value of {entry_name} is not an integer"))?;
                values.push((entry_name.clone(), value));
            }
            other => return Err(format!("unexpected entry {other}")),
        }
    }
    if let Some((min, max)) = repr.integer_range()
        && let Some((bad, value)) = values
            .iter()
            .find(|(_, v)| i128::from(*v) < min || i128::from(*v) > max)
    {
        return Err(format!("{bad} = {value} does not fit enumtype {repr}"));
    }
    Ok(EnumDef {
        name: name.to_string(),
        is_flags,
        repr,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> Result<ApiDefinitions, DefsError> {
        ApiDefinitions::from_json_str(json)
    }

    #[test]
    fn cycle_between_types_is_an_error_not_a_stack_overflow() {
        let json = r#"{"types": [["a", ["vl_api_b_t", "x"]], ["b", ["vl_api_a_t", "y"]]],
                       "messages": []}"#;
        let err = load(json).expect_err("cycle must be rejected");
        assert!(err.to_string().contains("refers to itself"), "{err}");
    }

    #[test]
    fn unknown_type_names_the_field_and_message() {
        let json = r#"{"messages": [["m", ["u16", "_vl_msg_id"], ["vl_api_nope_t", "f"],
                       {"crc": "0x00000001"}]]}"#;
        let err = load(json).expect_err("unknown type must be rejected");
        let text = err.to_string();
        assert!(
            text.contains("message m") && text.contains("`f`") && text.contains("vl_api_nope_t"),
            "{text}"
        );
    }

    #[test]
    fn length_field_must_come_earlier() {
        let json = r#"{"messages": [["m", ["u16", "_vl_msg_id"], ["u32", "xs", 0, "n"], ["u32", "n"],
                       {"crc": "0x00000001"}]]}"#;
        let err = load(json).expect_err("late length field must be rejected");
        assert!(err.to_string().contains("not an earlier field"), "{err}");
    }

    #[test]
    fn differing_duplicate_keeps_first_and_records_conflict() {
        let json = r#"[{"module": "one", "enums": [["e", ["A", 1], {"enumtype": "u8"}]]},
                       {"module": "two", "enums": [["e", ["A", 2], {"enumtype": "u8"}]]},
                       {"module": "three", "enums": [["e", ["A", 1], {"enumtype": "u8"}]]}]"#;
        let defs = load(json).expect("loads");
        let Some(TypeRef::Enum(e)) = defs.named_type("vl_api_e_t") else {
            panic!("enum e missing");
        };
        assert_eq!(e.value_of("A"), Some(1));
        assert_eq!(defs.conflicts().len(), 1);
        assert_eq!(defs.conflicts()[0].ignored_origin, "<json string>[1]");
    }

    #[test]
    fn enum_value_outside_enumtype_is_rejected() {
        let json = r#"{"enums": [["e", ["BIG", 300], {"enumtype": "u8"}]]}"#;
        assert!(load(json).is_err());
    }

    #[test]
    fn garbage_inputs_are_errors() {
        for json in [
            "",
            "[",
            "1",
            "[1]",
            r#"{"types": 1}"#,
            r#"{"messages": [[]]}"#,
            r#"{"messages": [["m"]]}"#,
            r#"{"messages": [["m", {"crc": "zz"}]]}"#,
            r#"{"messages": [["m", ["u16", "_vl_msg_id", 1, 2, 3], {"crc": "0x1"}]]}"#,
            r#"{"aliases": {"a": {"type": "u8", "length": 0}}}"#,
            r#"{"aliases": {"a": {"type": "u8", "length": 99999999999}}}"#,
            r#"{"messages": [["m", ["u16", "_vl_msg_id"], ["u8", "x", 4294967295], {"crc": "0x1"}]]}"#,
        ] {
            assert!(load(json).is_err(), "accepted {json:?}");
        }
    }
}
