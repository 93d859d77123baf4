//! VPP binary-API message codec: `serde_json::Value` ⇄ wire bytes, driven by [`MessageDef`].
//!
//! Wire rules (see `vpp-protocol.md`): packed struct, integers big-endian, `bool` one byte,
//! **`f64` in host byte order** (what VPP and vpp_papi's `=d` use), `string x[N]` N bytes
//! NUL-padded, `string x[]` u32 length + bytes, `T x[N]` N elements, `T x[len]` elements only
//! with the count in the earlier field, enums as their `enumtype`, unions as their largest arm
//! zero-padded, aliases as their target.
//!
//! JSON shapes (chosen to match vpp_papi's serializer *without* its `vpp_format` conversions,
//! i.e. `unpack(..., ntc=True)`, with Python `bytes` shown as a list of numbers):
//! - decode: integers and enums → numbers; `bool` → true/false; `f64` → number, or the strings
//!   `"NaN"`, `"inf"`, `"-inf"` for non-finite values; strings → text (bytes up to the first NUL
//!   for fixed strings; invalid UTF-8 replaced by U+FFFD); every array, including `u8` arrays
//!   and byte aliases such as `mac_address` / `ip4_address` / `ip6_address`, → a JSON array of
//!   numbers; structs → objects; **unions → an object holding every arm** decoded from the same
//!   bytes (as vpp_papi's union namedtuple does), e.g. `address.un` →
//!   `{"ip4": [4 bytes], "ip6": [16 bytes]}`.
//! - encode accepts everything decode produces, plus: enum entry names (`"ADDRESS_IP6"`) or a
//!   list of names/numbers OR-ed together; a JSON string for a `u8` array (its UTF-8 bytes);
//!   `"true"`/`"false"` or a number for `bool`; a union object with one arm, or several arms
//!   whose bytes agree (a decoded value re-encodes to the same bytes); and the textual forms
//!   vpp_papi's `vpp_format` accepts for `ip4_address`, `ip6_address`, `mac_address`
//!   (`"aa:bb:cc:dd:ee:ff"`), `address`, `prefix`, `address_with_prefix`, `ip4_prefix`,
//!   `ip6_prefix`, `ip4_address_with_prefix` and `ip6_address_with_prefix` (`"10.0.0.1/24"`).
//! - missing or `null` fields take their `{"default": X}` if any, else zero / empty. A missing
//!   length field is filled from its array's length; a given one must match it. When a union
//!   field with a `discriminator` gets a single arm with a `case`, a missing discriminator is
//!   filled with that case, and a given one must agree with it.
//! - shorter fixed arrays are zero-padded; fixed strings hold at most N-1 bytes (room for the
//!   NUL, as vpp_papi enforces); `{"limit": N}` strings at most N-1 bytes.
//! - `_vl_msg_id` always comes from the caller-supplied id (the id table is per connection); a
//!   `_vl_msg_id` in the value is checked as a u16 and then overwritten.
//!
//! Decoding never panics and never allocates more than the input can back: every length and
//! count is checked against the bytes that remain before anything is read. Trailing bytes after
//! the last field are ignored (as vpp_papi does); [`MessageDef::decode_prefix`] reports how many
//! bytes were used.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde_json::{Map, Number, Value};

use super::defs::{
    ApiDefinitions, EnumDef, FieldDef, FieldShape, MessageDef, ScalarType, StructDef, TypeRef,
    UnionDef,
};

/// Errors from encoding or decoding a message. `path` is the dotted field path
/// (`sw_interface_add_del_address.prefix.address.un.ip4[2]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// No message with this name is loaded.
    #[error("unknown message `{name}`{}", did_you_mean(suggestion))]
    UnknownMessage {
        /// The requested name.
        name: String,
        /// The nearest loaded name, if any is close.
        suggestion: Option<String>,
    },
    /// The value has a key the struct or union does not define.
    #[error("{path}: unknown field `{field}`{}", did_you_mean(suggestion))]
    UnknownField {
        /// Where.
        path: String,
        /// The offending key.
        field: String,
        /// The nearest defined field, if any is close.
        suggestion: Option<String>,
    },
    /// The JSON value has the wrong kind for the field.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        path: String,
        /// What the field accepts.
        expected: String,
        /// What was given (abbreviated).
        found: String,
    },
    /// A number does not fit the field's type.
    #[error("{path}: {value} is out of range for {type_name}")]
    OutOfRange {
        /// Where.
        path: String,
        /// The value as given.
        value: String,
        /// The wire type.
        type_name: String,
    },
    /// More elements than the array (or its length field) can hold.
    #[error("{path}: {len} elements given, at most {max} fit")]
    ArrayTooLong {
        /// Where.
        path: String,
        /// Elements given.
        len: usize,
        /// Largest count allowed.
        max: u64,
    },
    /// A string longer than the field allows.
    #[error("{path}: string of {len} bytes, at most {max} allowed")]
    StringTooLong {
        /// Where.
        path: String,
        /// Bytes given.
        len: usize,
        /// Largest length allowed.
        max: u64,
    },
    /// A given length field disagrees with its array.
    #[error(
        "{path}: length field `{length_field}` is {declared} but the array has {actual} elements"
    )]
    LengthMismatch {
        /// Where (the struct holding both fields).
        path: String,
        /// The length field's name.
        length_field: String,
        /// The length field's value.
        declared: i128,
        /// The array's element count.
        actual: usize,
    },
    /// An enum name that the enum does not define.
    #[error(
        "{path}: `{value}` is not an entry of enum {enum_name}{}",
        did_you_mean(suggestion)
    )]
    UnknownEnumValue {
        /// Where.
        path: String,
        /// The enum's name.
        enum_name: String,
        /// The name given.
        value: String,
        /// The nearest entry, if any is close.
        suggestion: Option<String>,
    },
    /// A union value that selects no consistent arm, or disagrees with its discriminator.
    #[error("{path}: {reason}")]
    Union {
        /// Where.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The bytes end before the field does.
    #[error("{path}: needs {needed} bytes at offset {offset}, only {available} left")]
    Truncated {
        /// Where.
        path: String,
        /// Byte offset of the read.
        offset: usize,
        /// Bytes the field needs (at least).
        needed: u128,
        /// Bytes left in the input.
        available: usize,
    },
    /// Bytes that cannot be a valid value (e.g. a negative length field).
    #[error("{path}: {reason}")]
    Malformed {
        /// Where.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// The closest candidate to `name` by Jaro-Winkler similarity, when it is reasonably close.
pub fn nearest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// The `_vl_msg_id` of a message (its first two bytes), if present.
pub fn peek_msg_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

impl ApiDefinitions {
    /// The message named `name`, or [`CodecError::UnknownMessage`] with the nearest name.
    pub fn lookup(&self, name: &str) -> Result<&Arc<MessageDef>, CodecError> {
        self.message(name)
            .ok_or_else(|| CodecError::UnknownMessage {
                name: name.to_string(),
                suggestion: nearest_name(name, self.message_names()),
            })
    }

    /// Encodes `value` as message `name` with `_vl_msg_id = msg_id`.
    pub fn encode(&self, name: &str, msg_id: u16, value: &Value) -> Result<Vec<u8>, CodecError> {
        self.lookup(name)?.encode(msg_id, value)
    }

    /// Decodes `bytes` as message `name`.
    pub fn decode(&self, name: &str, bytes: &[u8]) -> Result<Value, CodecError> {
        self.lookup(name)?.decode(bytes)
    }
}

impl MessageDef {
    /// Encodes `value` (an object, or `null` for all defaults) with `_vl_msg_id = msg_id`.
    pub fn encode(&self, msg_id: u16, value: &Value) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(self.body.min_size);
        let root = FieldPath::root(&self.name);
        let given = if value.is_null() { None } else { Some(value) };
        encode_struct(&mut out, &self.body, given, &root)?;
        // The first field is `u16 _vl_msg_id` (checked at load time).
        if let Some(id_bytes) = out.get_mut(0..2) {
            id_bytes.copy_from_slice(&msg_id.to_be_bytes());
        }
        Ok(out)
    }

    /// Decodes a whole message; trailing bytes are ignored.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, CodecError> {
        self.decode_prefix(bytes).map(|(value, _)| value)
    }

    /// Decodes a message from the start of `bytes`; returns the value and the bytes used.
    pub fn decode_prefix(&self, bytes: &[u8]) -> Result<(Value, usize), CodecError> {
        let mut reader = Reader { bytes, pos: 0 };
        let root = FieldPath::root(&self.name);
        let map = decode_struct(&mut reader, &self.body, &root)?;
        Ok((Value::Object(map), reader.pos))
    }

    /// The `context` of an encoded message of this type, read at its definition's offset.
    pub fn read_context(&self, bytes: &[u8]) -> Option<u32> {
        let offset = self.context_offset()?;
        let field = self.body.field("context")?;
        if field.ty.underlying_scalar()? != ScalarType::U32 {
            return None;
        }
        let raw = bytes.get(offset..offset.checked_add(4)?)?;
        Some(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }
}

/// A field path rendered only when an error needs it.
#[derive(Clone, Copy)]
enum FieldPath<'a> {
    Root(&'a str),
    Field(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl<'a> FieldPath<'a> {
    fn root(name: &'a str) -> Self {
        Self::Root(name)
    }

    fn field(&'a self, name: &'a str) -> FieldPath<'a> {
        FieldPath::Field(self, name)
    }

    fn index(&'a self, index: usize) -> FieldPath<'a> {
        FieldPath::Index(self, index)
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(name) => f.write_str(name),
            Self::Field(parent, name) => write!(f, "{parent}.{name}"),
            Self::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A short description of a JSON value for error messages (never serializes nested values,
/// so arbitrarily deep caller-built values cannot exhaust the stack here).
fn describe(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("an array of {} elements", items.len()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(4).map(String::as_str).collect();
            let more = if map.len() > keys.len() { ", ..." } else { "" };
            format!("an object with keys [{}{more}]", keys.join(", "))
        }
        Value::String(text) if text.chars().count() > 40 => {
            let short: String = text.chars().take(37).collect();
            format!("\"{short}...\"")
        }
        scalar => scalar.to_string(),
    }
}

fn wrong_type(path: &FieldPath<'_>, expected: &str, found: &Value) -> CodecError {
    CodecError::WrongType {
        path: path.to_string(),
        expected: expected.to_string(),
        found: describe(found),
    }
}

/// `Some(v)` for a present, non-null value.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

fn encode_struct(
    out: &mut Vec<u8>,
    def: &StructDef,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let empty = Map::new();
    let map = match present(value) {
        None => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => return Err(wrong_type(path, &format!("object ({})", def.name), other)),
    };
    if let Some(unknown) = map.keys().find(|k| def.field(k).is_none()) {
        return Err(CodecError::UnknownField {
            path: path.to_string(),
            field: unknown.clone(),
            suggestion: nearest_name(unknown, def.fields.iter().map(|f| f.name.as_str())),
        });
    }

    // Element counts of the variable arrays, keyed by their length field.
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for field in &def.fields {
        if let FieldShape::VariableArray { length_field } = &field.shape {
            let given = present(map.get(&field.name));
            let count = element_count(&field.ty, given, &path.field(&field.name))?;
            match counts.iter().find(|(name, _)| name == length_field) {
                Some((_, earlier)) if *earlier != count => {
                    return Err(CodecError::LengthMismatch {
                        path: path.to_string(),
                        length_field: length_field.clone(),
                        declared: i128::try_from(*earlier).unwrap_or(i128::MAX),
                        actual: count,
                    });
                }
                Some(_) => {}
                None => counts.push((length_field, count)),
            }
        }
    }

    for field in &def.fields {
        let field_path = path.field(&field.name);
        let given = present(map.get(&field.name));

        if let Some((_, count)) = counts.iter().find(|(name, _)| *name == field.name) {
            encode_length_field(out, field, given, *count, path, &field_path)?;
            continue;
        }

        let union_field = def
            .fields
            .iter()
            .find(|f| f.discriminator.as_deref() == Some(field.name.as_str()));
        if let Some(union_field) = union_field {
            let union_value = present(map.get(&union_field.name));
            if let Some((arm, case_value)) = implied_discriminator(field, union_field, union_value)
            {
                match given {
                    None => {
                        encode_value(out, &field.ty, Some(&Value::from(case_value)), &field_path)?;
                        continue;
                    }
                    Some(given_value) => {
                        let stated = integer_or_enum_value(&field.ty, given_value, &field_path)?;
                        if stated != i128::from(case_value) {
                            return Err(CodecError::Union {
                                path: path.field(&union_field.name).to_string(),
                                reason: format!(
                                    "arm `{arm}` needs {} = {case_value}, but {} is {stated}",
                                    field.name, field.name
                                ),
                            });
                        }
                    }
                }
            }
        }

        let effective = given.or(field.default.as_ref());
        encode_field(out, field, effective, &field_path)?;
    }
    Ok(())
}

fn encode_length_field(
    out: &mut Vec<u8>,
    field: &FieldDef,
    given: Option<&Value>,
    count: usize,
    struct_path: &FieldPath<'_>,
    field_path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    match given {
        Some(value) => {
            let declared = integer_or_enum_value(&field.ty, value, field_path)?;
            if declared != i128::try_from(count).unwrap_or(i128::MAX) {
                return Err(CodecError::LengthMismatch {
                    path: struct_path.to_string(),
                    length_field: field.name.clone(),
                    declared,
                    actual: count,
                });
            }
            encode_field(out, field, Some(value), field_path)
        }
        None => {
            let scalar = field.ty.underlying_scalar().unwrap_or(ScalarType::U32);
            let max = scalar.integer_range().map_or(0, |(_, max)| max);
            let count_wide = i128::try_from(count).unwrap_or(i128::MAX);
            if count_wide > max {
                return Err(CodecError::ArrayTooLong {
                    path: field_path.to_string(),
                    len: count,
                    max: u64::try_from(max).unwrap_or(u64::MAX),
                });
            }
            encode_field(out, field, Some(&Value::from(count)), field_path)
        }
    }
}

/// The discriminator value a single-arm union value implies: `(arm name, enum value)`.
fn implied_discriminator<'u>(
    discriminator: &FieldDef,
    union_field: &'u FieldDef,
    union_value: Option<&Value>,
) -> Option<(&'u str, i64)> {
    let TypeRef::Union(union) = &union_field.ty else {
        return None;
    };
    let Some(Value::Object(arms)) = union_value else {
        return None;
    };
    let mut given = arms.iter().filter(|(_, v)| !v.is_null());
    let (arm_name, _) = given.next()?;
    if given.next().is_some() {
        return None;
    }
    let arm = union.arm(arm_name)?;
    let case = arm.case.as_deref()?;
    let TypeRef::Enum(enum_def) = enum_behind(&discriminator.ty)? else {
        return None;
    };
    Some((arm.name.as_str(), enum_def.value_of(case)?))
}

fn enum_behind(ty: &TypeRef) -> Option<&TypeRef> {
    match ty {
        TypeRef::Enum(_) => Some(ty),
        TypeRef::Alias(alias) if alias.length.is_none() => enum_behind(&alias.target),
        _ => None,
    }
}

fn element_count(
    element: &TypeRef,
    given: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<usize, CodecError> {
    match given {
        None => Ok(0),
        Some(Value::Array(items)) => Ok(items.len()),
        Some(Value::String(text)) if is_byte(element) => Ok(text.len()),
        Some(other) => Err(wrong_type(path, "array", other)),
    }
}

fn is_byte(ty: &TypeRef) -> bool {
    matches!(ty, TypeRef::Scalar(ScalarType::U8))
}

fn encode_field(
    out: &mut Vec<u8>,
    field: &FieldDef,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let value = present(value);
    match &field.shape {
        FieldShape::Single => encode_value(out, &field.ty, value, path),
        FieldShape::FixedArray(n) => encode_array(out, &field.ty, value, Some(*n), path),
        FieldShape::VariableArray { .. } | FieldShape::TrailingArray => {
            encode_array(out, &field.ty, value, None, path)
        }
        FieldShape::FixedString(n) => encode_fixed_string(out, *n, field.limit, value, path),
        FieldShape::VariableString => encode_variable_string(out, field.limit, value, path),
    }
}

fn encode_array(
    out: &mut Vec<u8>,
    element: &TypeRef,
    value: Option<&Value>,
    fixed_len: Option<usize>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let too_long = |len: usize, max: usize| CodecError::ArrayTooLong {
        path: path.to_string(),
        len,
        max: u64::try_from(max).unwrap_or(u64::MAX),
    };
    let given_len = match value {
        None => 0,
        Some(Value::String(text)) if is_byte(element) => {
            let bytes = text.as_bytes();
            if let Some(n) = fixed_len.filter(|n| bytes.len() > *n) {
                return Err(too_long(bytes.len(), n));
            }
            out.extend_from_slice(bytes);
            bytes.len()
        }
        Some(Value::Array(items)) => {
            if let Some(n) = fixed_len.filter(|n| items.len() > *n) {
                return Err(too_long(items.len(), n));
            }
            for (index, item) in items.iter().enumerate() {
                encode_value(out, element, present(Some(item)), &path.index(index))?;
            }
            items.len()
        }
        Some(other) => {
            let expected = if is_byte(element) {
                "array of numbers or a string"
            } else {
                "array"
            };
            return Err(wrong_type(path, expected, other));
        }
    };
    if let Some(n) = fixed_len {
        if is_byte(element) {
            out.resize(out.len() + (n - given_len), 0);
        } else {
            for index in given_len..n {
                encode_value(out, element, None, &path.index(index))?;
            }
        }
    }
    Ok(())
}

fn string_max(limit: Option<u64>, fixed: Option<usize>) -> Option<u64> {
    let limit = limit.filter(|l| *l > 0);
    let fixed = fixed.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
    let room = match (limit, fixed) {
        (Some(l), Some(f)) => Some(l.min(f)),
        (l, f) => l.or(f),
    };
    room.map(|r| r.saturating_sub(1))
}

/// A string field's bytes; a missing field is empty.
fn string_bytes<'v>(
    value: Option<&'v Value>,
    path: &FieldPath<'_>,
) -> Result<&'v [u8], CodecError> {
    match value {
        None => Ok(&[]),
        Some(Value::String(text)) => Ok(text.as_bytes()),
        Some(other) => Err(wrong_type(path, "string", other)),
    }
}

fn encode_fixed_string(
    out: &mut Vec<u8>,
    size: usize,
    limit: Option<u64>,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let bytes = string_bytes(value, path)?;
    let max = string_max(limit, Some(size)).unwrap_or(0);
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(CodecError::StringTooLong {
            path: path.to_string(),
            len: bytes.len(),
            max,
        });
    }
    out.extend_from_slice(bytes);
    out.resize(out.len() + (size - bytes.len()), 0);
    Ok(())
}

fn encode_variable_string(
    out: &mut Vec<u8>,
    limit: Option<u64>,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let bytes = string_bytes(value, path)?;
    let max = string_max(limit, None).unwrap_or(u64::from(u32::MAX));
    let length = u32::try_from(bytes.len())
        .ok()
        .filter(|len| u64::from(*len) <= max)
        .ok_or_else(|| CodecError::StringTooLong {
            path: path.to_string(),
            len: bytes.len(),
            max: max.min(u64::from(u32::MAX)),
        })?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn encode_value(
    out: &mut Vec<u8>,
    ty: &TypeRef,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let value = present(value);
    match ty {
        TypeRef::Scalar(scalar) => encode_scalar(out, *scalar, value, path),
        TypeRef::String => encode_variable_string(out, None, value, path),
        TypeRef::Enum(enum_def) => {
            let number = match value {
                None => 0,
                Some(v) => enum_value(enum_def, v, path)?,
            };
            write_integer(out, enum_def.repr, number, path)
        }
        TypeRef::Struct(def) => match value {
            Some(Value::String(text)) => {
                let converted = convert_text(&def.name, text, path)?;
                encode_struct(out, def, Some(&converted), path)
            }
            _ => encode_struct(out, def, value, path),
        },
        TypeRef::Union(def) => encode_union(out, def, value, path),
        TypeRef::Alias(alias) => {
            let converted;
            let value = match value {
                Some(Value::String(text)) if is_text_format(&alias.name) => {
                    converted = convert_text(&alias.name, text, path)?;
                    Some(&converted)
                }
                other => other,
            };
            match alias.length {
                Some(n) => encode_array(out, &alias.target, value, Some(n), path),
                None => encode_value(out, &alias.target, value, path),
            }
        }
    }
}

fn encode_union(
    out: &mut Vec<u8>,
    def: &UnionDef,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let arms = match value {
        None => {
            out.resize(out.len() + def.size, 0);
            return Ok(());
        }
        Some(Value::Object(arms)) => arms,
        Some(other) => {
            return Err(wrong_type(
                path,
                &format!("object with one arm of union {}", def.name),
                other,
            ));
        }
    };
    if let Some(unknown) = arms.keys().find(|k| def.arm(k).is_none()) {
        return Err(CodecError::UnknownField {
            path: path.to_string(),
            field: unknown.clone(),
            suggestion: nearest_name(unknown, def.arms.iter().map(|a| a.name.as_str())),
        });
    }
    let mut encoded: Vec<(&str, Vec<u8>)> = Vec::new();
    for arm in &def.arms {
        if let Some(arm_value) = present(arms.get(&arm.name)) {
            let mut bytes = Vec::with_capacity(def.size);
            encode_field(&mut bytes, arm, Some(arm_value), &path.field(&arm.name))?;
            encoded.push((&arm.name, bytes));
        }
    }
    let Some((chosen_name, chosen)) =
        encoded
            .iter()
            .fold(None::<&(&str, Vec<u8>)>, |best, candidate| match best {
                Some(b) if b.1.len() >= candidate.1.len() => Some(b),
                _ => Some(candidate),
            })
    else {
        out.resize(out.len() + def.size, 0);
        return Ok(());
    };
    if let Some((other_name, _)) = encoded.iter().find(|(_, bytes)| !chosen.starts_with(bytes)) {
        return Err(CodecError::Union {
            path: path.to_string(),
            reason: format!(
                "arms `{chosen_name}` and `{other_name}` encode to different bytes; give one arm"
            ),
        });
    }
    out.extend_from_slice(chosen);
    out.resize(out.len() + def.size.saturating_sub(chosen.len()), 0);
    Ok(())
}

fn encode_scalar(
    out: &mut Vec<u8>,
    scalar: ScalarType,
    value: Option<&Value>,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    match scalar {
        ScalarType::Bool => {
            let flag = match value {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) => match integer_of(n) {
                    Some(i) => i != 0,
                    None => return Err(wrong_type(path, "boolean", &Value::Number(n.clone()))),
                },
                Some(Value::String(s)) if s == "true" => true,
                Some(Value::String(s)) if s == "false" => false,
                Some(other) => return Err(wrong_type(path, "boolean", other)),
            };
            out.push(u8::from(flag));
            Ok(())
        }
        ScalarType::F64 => {
            let number = match value {
                None => 0.0,
                Some(Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| wrong_type(path, "number", &Value::Number(n.clone())))?,
                Some(Value::String(s)) => match s.as_str() {
                    "NaN" | "nan" => f64::NAN,
                    "inf" | "+inf" | "Infinity" | "infinity" => f64::INFINITY,
                    "-inf" | "-Infinity" | "-infinity" => f64::NEG_INFINITY,
                    _ => {
                        return Err(wrong_type(
                            path,
                            "number, \"NaN\", \"inf\" or \"-inf\"",
                            &Value::String(s.clone()),
                        ));
                    }
                },
                Some(other) => return Err(wrong_type(path, "number", other)),
            };
            out.extend_from_slice(&number.to_ne_bytes());
            Ok(())
        }
        integer => {
            let number = match value {
                None => 0,
                Some(Value::Number(n)) => integer_of(n).ok_or_else(|| {
                    wrong_type(
                        path,
                        &format!("integer ({integer})"),
                        &Value::Number(n.clone()),
                    )
                })?,
                Some(other) => {
                    return Err(wrong_type(path, &format!("integer ({integer})"), other));
                }
            };
            write_integer(out, integer, number, path)
        }
    }
}

fn integer_of(number: &Number) -> Option<i128> {
    number
        .as_u64()
        .map(i128::from)
        .or_else(|| number.as_i64().map(i128::from))
}

/// Integer value of `value` for a field of type `ty` (an integer, or an enum name).
fn integer_or_enum_value(
    ty: &TypeRef,
    value: &Value,
    path: &FieldPath<'_>,
) -> Result<i128, CodecError> {
    if let Some(TypeRef::Enum(enum_def)) = enum_behind(ty) {
        return enum_value(enum_def, value, path);
    }
    match value {
        Value::Number(n) => integer_of(n).ok_or_else(|| wrong_type(path, "integer", value)),
        other => Err(wrong_type(path, "integer", other)),
    }
}

fn enum_value(enum_def: &EnumDef, value: &Value, path: &FieldPath<'_>) -> Result<i128, CodecError> {
    let expected = || format!("enum {} entry name or number", enum_def.name);
    match value {
        Value::Number(n) => integer_of(n).ok_or_else(|| wrong_type(path, &expected(), value)),
        Value::String(name) => {
            enum_def
                .value_of(name)
                .map(i128::from)
                .ok_or_else(|| CodecError::UnknownEnumValue {
                    path: path.to_string(),
                    enum_name: enum_def.name.clone(),
                    value: name.clone(),
                    suggestion: nearest_name(name, enum_def.values.iter().map(|(n, _)| n.as_str())),
                })
        }
        Value::Array(parts) => {
            let mut combined: i128 = 0;
            for (index, part) in parts.iter().enumerate() {
                if part.is_array() {
                    return Err(wrong_type(&path.index(index), &expected(), part));
                }
                combined |= enum_value(enum_def, part, &path.index(index))?;
            }
            Ok(combined)
        }
        other => Err(wrong_type(path, &expected(), other)),
    }
}

fn write_integer(
    out: &mut Vec<u8>,
    scalar: ScalarType,
    value: i128,
    path: &FieldPath<'_>,
) -> Result<(), CodecError> {
    let out_of_range = || CodecError::OutOfRange {
        path: path.to_string(),
        value: value.to_string(),
        type_name: scalar.name().to_string(),
    };
    // Range-checked conversion to the wire type, then big-endian bytes.
    macro_rules! put_be {
        ($t:ty) => {
            out.extend_from_slice(
                &<$t>::try_from(value)
                    .map_err(|_| out_of_range())?
                    .to_be_bytes(),
            )
        };
    }
    match scalar {
        ScalarType::U8 => put_be!(u8),
        ScalarType::I8 => put_be!(i8),
        ScalarType::U16 => put_be!(u16),
        ScalarType::I16 => put_be!(i16),
        ScalarType::U32 => put_be!(u32),
        ScalarType::I32 => put_be!(i32),
        ScalarType::U64 => put_be!(u64),
        ScalarType::I64 => put_be!(i64),
        ScalarType::F64 | ScalarType::Bool => return Err(out_of_range()),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Textual address forms (vpp_papi's vpp_format conversion table)
// ---------------------------------------------------------------------------------------------

fn is_text_format(type_name: &str) -> bool {
    matches!(
        type_name,
        "ip4_address"
            | "ip6_address"
            | "mac_address"
            | "address"
            | "prefix"
            | "address_with_prefix"
            | "ip4_prefix"
            | "ip6_prefix"
            | "ip4_address_with_prefix"
            | "ip6_address_with_prefix"
    )
}

fn byte_array(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|b| Value::from(*b)).collect())
}

fn address_object(address: IpAddr) -> Value {
    match address {
        IpAddr::V4(v4) => serde_json::json!({"af": 0, "un": {"ip4": byte_array(&v4.octets())}}),
        IpAddr::V6(v6) => serde_json::json!({"af": 1, "un": {"ip6": byte_array(&v6.octets())}}),
    }
}

/// Converts a textual address / prefix / MAC into the raw JSON shape of `type_name`.
fn convert_text(type_name: &str, text: &str, path: &FieldPath<'_>) -> Result<Value, CodecError> {
    let bad = |expected: &str| wrong_type(path, expected, &Value::String(text.to_string()));
    let split_prefix = |max_len: u8, expected: &str| -> Result<(&str, Value), CodecError> {
        let (address, len) = text.split_once('/').ok_or_else(|| bad(expected))?;
        let len: u8 = len.parse().map_err(|_| bad(expected))?;
        if len > max_len {
            return Err(CodecError::OutOfRange {
                path: path.to_string(),
                value: len.to_string(),
                type_name: format!("prefix length (at most {max_len})"),
            });
        }
        Ok((address, Value::from(len)))
    };
    match type_name {
        "ip4_address" => text
            .parse::<Ipv4Addr>()
            .map(|a| byte_array(&a.octets()))
            .map_err(|_| bad("IPv4 address like \"192.0.2.1\" or 4 bytes")),
        "ip6_address" => text
            .parse::<Ipv6Addr>()
            .map(|a| byte_array(&a.octets()))
            .map_err(|_| bad("IPv6 address like \"2001:db8::1\" or 16 bytes")),
        "mac_address" => parse_mac(text)
            .map(|mac| byte_array(&mac))
            .ok_or_else(|| bad("MAC address like \"aa:bb:cc:dd:ee:ff\" or 6 bytes")),
        "address" => text
            .parse::<IpAddr>()
            .map(address_object)
            .map_err(|_| bad("IP address text or {\"af\", \"un\"} object")),
        "prefix" | "address_with_prefix" => {
            let expected = "prefix like \"192.0.2.0/24\" or {\"address\", \"len\"} object";
            let address: IpAddr = text
                .split_once('/')
                .and_then(|(a, _)| a.parse().ok())
                .ok_or_else(|| bad(expected))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let (_, len) = split_prefix(max, expected)?;
            Ok(serde_json::json!({"address": address_object(address), "len": len}))
        }
        "ip4_prefix" | "ip4_address_with_prefix" => {
            let expected = "IPv4 prefix like \"192.0.2.0/24\" or {\"address\", \"len\"} object";
            let (address, len) = split_prefix(32, expected)?;
            let address: Ipv4Addr = address.parse().map_err(|_| bad(expected))?;
            Ok(serde_json::json!({"address": byte_array(&address.octets()), "len": len}))
        }
        "ip6_prefix" | "ip6_address_with_prefix" => {
            let expected = "IPv6 prefix like \"2001:db8::/32\" or {\"address\", \"len\"} object";
            let (address, len) = split_prefix(128, expected)?;
            let address: Ipv6Addr = address.parse().map_err(|_| bad(expected))?;
            Ok(serde_json::json!({"address": byte_array(&address.octets()), "len": len}))
        }
        other => Err(bad(&format!("object ({other})"))),
    }
}

/// `aa:bb:cc:dd:ee:ff` or `aabbccddeeff` (vpp_papi's `mac_pton` drops the colons).
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (slot, pair) in mac.iter_mut().zip(hex.chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(mac)
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, count: usize, path: &FieldPath<'_>) -> Result<&'b [u8], CodecError> {
        let available = self.remaining();
        if count > available {
            return Err(CodecError::Truncated {
                path: path.to_string(),
                offset: self.pos,
                needed: count as u128,
                available,
            });
        }
        let start = self.pos;
        self.pos += count;
        Ok(&self.bytes[start..start + count])
    }

    fn take_array<const N: usize>(&mut self, path: &FieldPath<'_>) -> Result<[u8; N], CodecError> {
        let slice = self.take(N, path)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }
}

fn decode_struct(
    reader: &mut Reader<'_>,
    def: &StructDef,
    path: &FieldPath<'_>,
) -> Result<Map<String, Value>, CodecError> {
    let mut map = Map::new();
    for field in &def.fields {
        let field_path = path.field(&field.name);
        let value = decode_field(reader, field, &map, &field_path)?;
        map.insert(field.name.clone(), value);
    }
    Ok(map)
}

fn decode_field(
    reader: &mut Reader<'_>,
    field: &FieldDef,
    earlier: &Map<String, Value>,
    path: &FieldPath<'_>,
) -> Result<Value, CodecError> {
    match &field.shape {
        FieldShape::Single => decode_value(reader, &field.ty, path),
        FieldShape::FixedArray(n) => decode_array(reader, &field.ty, *n as u128, path),
        FieldShape::VariableArray { length_field } => {
            let count = earlier
                .get(length_field)
                .and_then(Value::as_number)
                .and_then(integer_of)
                .ok_or_else(|| CodecError::Malformed {
                    path: path.to_string(),
                    reason: format!("length field `{length_field}` was not decoded"),
                })?;
            let count = u128::try_from(count).map_err(|_| CodecError::Malformed {
                path: path.to_string(),
                reason: format!("negative length {count} in `{length_field}`"),
            })?;
            decode_array(reader, &field.ty, count, path)
        }
        FieldShape::TrailingArray => {
            let size = field.ty.fixed_size().unwrap_or(1).max(1);
            let remaining = reader.remaining();
            if !remaining.is_multiple_of(size) {
                return Err(CodecError::Malformed {
                    path: path.to_string(),
                    reason: format!(
                        "{remaining} trailing bytes are not a multiple of the {size}-byte element"
                    ),
                });
            }
            decode_array(reader, &field.ty, (remaining / size) as u128, path)
        }
        FieldShape::FixedString(n) => {
            let bytes = reader.take(*n, path)?;
            let text = bytes.split(|b| *b == 0).next().unwrap_or(&[]);
            Ok(Value::String(String::from_utf8_lossy(text).into_owned()))
        }
        FieldShape::VariableString => decode_variable_string(reader, path),
    }
}

fn decode_variable_string(
    reader: &mut Reader<'_>,
    path: &FieldPath<'_>,
) -> Result<Value, CodecError> {
    let length = u32::from_be_bytes(reader.take_array::<4>(path)?);
    let length = usize::try_from(length).map_err(|_| CodecError::Truncated {
        path: path.to_string(),
        offset: reader.pos,
        needed: u128::from(length),
        available: reader.remaining(),
    })?;
    let bytes = reader.take(length, path)?;
    Ok(Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn decode_array(
    reader: &mut Reader<'_>,
    element: &TypeRef,
    count: u128,
    path: &FieldPath<'_>,
) -> Result<Value, CodecError> {
    // Every element costs at least one byte, so a count is bounded by the input left.
    let element_size = element.min_size().max(1) as u128;
    let needed = count.saturating_mul(element_size);
    let available = reader.remaining();
    if needed > available as u128 {
        return Err(CodecError::Truncated {
            path: path.to_string(),
            offset: reader.pos,
            needed,
            available,
        });
    }
    // `count <= available` now, so it fits in usize.
    let count = usize::try_from(count).unwrap_or(0);
    if is_byte(element) {
        let bytes = reader.take(count, path)?;
        return Ok(byte_array(bytes));
    }
    let mut items = Vec::with_capacity(count);
    for index in 0..count {
        items.push(decode_value(reader, element, &path.index(index))?);
    }
    Ok(Value::Array(items))
}

fn decode_value(
    reader: &mut Reader<'_>,
    ty: &TypeRef,
    path: &FieldPath<'_>,
) -> Result<Value, CodecError> {
    match ty {
        TypeRef::Scalar(scalar) => decode_scalar(reader, *scalar, path),
        TypeRef::String => decode_variable_string(reader, path),
        TypeRef::Enum(enum_def) => decode_scalar(reader, enum_def.repr, path),
        TypeRef::Struct(def) => decode_struct(reader, def, path).map(Value::Object),
        TypeRef::Union(def) => {
            let bytes = reader.take(def.size, path)?;
            let mut arms = Map::new();
            for arm in &def.arms {
                let mut arm_reader = Reader { bytes, pos: 0 };
                let value =
                    decode_field(&mut arm_reader, arm, &Map::new(), &path.field(&arm.name))?;
                arms.insert(arm.name.clone(), value);
            }
            Ok(Value::Object(arms))
        }
        TypeRef::Alias(alias) => match alias.length {
            Some(n) => decode_array(reader, &alias.target, n as u128, path),
            None => decode_value(reader, &alias.target, path),
        },
    }
}

fn decode_scalar(
    reader: &mut Reader<'_>,
    scalar: ScalarType,
    path: &FieldPath<'_>,
) -> Result<Value, CodecError> {
    Ok(match scalar {
        ScalarType::U8 => Value::from(u8::from_be_bytes(reader.take_array(path)?)),
        ScalarType::I8 => Value::from(i8::from_be_bytes(reader.take_array(path)?)),
        ScalarType::U16 => Value::from(u16::from_be_bytes(reader.take_array(path)?)),
        ScalarType::I16 => Value::from(i16::from_be_bytes(reader.take_array(path)?)),
        ScalarType::U32 => Value::from(u32::from_be_bytes(reader.take_array(path)?)),
        ScalarType::I32 => Value::from(i32::from_be_bytes(reader.take_array(path)?)),
        ScalarType::U64 => Value::from(u64::from_be_bytes(reader.take_array(path)?)),
        ScalarType::I64 => Value::from(i64::from_be_bytes(reader.take_array(path)?)),
        ScalarType::Bool => Value::Bool(reader.take_array::<1>(path)?[0] != 0),
        ScalarType::F64 => {
            let number = f64::from_ne_bytes(reader.take_array(path)?);
            match Number::from_f64(number) {
                Some(n) => Value::Number(n),
                None if number.is_nan() => Value::from("NaN"),
                None if number > 0.0 => Value::from("inf"),
                None => Value::from("-inf"),
            }
        }
    })
}
