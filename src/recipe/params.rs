//! Typed recipe parameters: declarations, values, defaults and command-line overrides.
//!
//! A recipe declares params (`int`, `float`, `bool`, `string`, `ip`, `list`, `choice`), each
//! with a `default` or `mandatory = true`. [`resolve`] turns the declarations plus the
//! `-p NAME=VALUE` overrides into a [`Params`] map.
//!
//! Invariants: a [`ParamSpec`]'s default (when present) already has the spec's type (checked
//! when the recipe loads); every value in a resolved [`Params`] has its spec's type, a
//! `choice` value is one of its choices, and every mandatory param has a value; errors name
//! the param (and suggest the nearest declared name for an unknown one).

use crate::diag::nearest;
use indexmap::IndexMap;
use std::fmt;
use std::net::IpAddr;

/// The type of a param.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    Int,
    Float,
    Bool,
    String,
    Ip,
    /// A list; `items` types every element when given (otherwise elements are strings).
    List {
        items: Option<Box<ParamType>>,
    },
    /// One of `choices` (compared as strings).
    Choice {
        choices: Vec<String>,
    },
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Int => f.write_str("int"),
            ParamType::Float => f.write_str("float"),
            ParamType::Bool => f.write_str("bool"),
            ParamType::String => f.write_str("string"),
            ParamType::Ip => f.write_str("ip"),
            ParamType::List { items: None } => f.write_str("list"),
            ParamType::List { items: Some(t) } => write!(f, "list of {t}"),
            ParamType::Choice { choices } => write!(f, "choice of {}", choices.join("|")),
        }
    }
}

/// A typed param value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    String(String),
    Ip(IpAddr),
    List(Vec<Value>),
}

impl fmt::Display for Value {
    /// The text substituted into templates: lists are comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::String(s) => f.write_str(s),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::List(items) => {
                let parts: Vec<String> = items.iter().map(Value::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// One declared param.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub ty: ParamType,
    /// `None` exactly when the param is mandatory.
    pub default: Option<Value>,
    pub description: Option<String>,
}

impl ParamSpec {
    /// Whether the command line must give a value.
    pub fn mandatory(&self) -> bool {
        self.default.is_none()
    }
}

/// Resolved params: every declared param with its value, in declaration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    pub values: IndexMap<String, Value>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
}

/// A bad `-p` override or a missing mandatory param.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum ParamError {
    #[error("-p {arg:?}: expected NAME=VALUE")]
    #[diagnostic(help("e.g. -p mtu=9000"))]
    Syntax { arg: String },
    #[error("unknown param `{name}`")]
    Unknown {
        name: String,
        #[help]
        help: Option<String>,
    },
    #[error("param `{name}` ({ty}): {reason}")]
    Invalid {
        name: String,
        ty: String,
        reason: String,
        #[help]
        help: Option<String>,
    },
    #[error("param `{name}` is mandatory and has no value")]
    #[diagnostic(help("pass -p {name}=VALUE"))]
    Missing { name: String },
}

/// Splits `NAME=VALUE` (the value may contain `=`).
pub fn parse_override(arg: &str) -> Result<(String, String), ParamError> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(ParamError::Syntax {
            arg: arg.to_owned(),
        }),
    }
}

/// Parses command-line text as a value of `ty`; `Err` is the reason.
pub fn parse_text(ty: &ParamType, text: &str) -> Result<Value, String> {
    let t = text.trim();
    match ty {
        ParamType::Int => t
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("`{t}` is not an integer")),
        ParamType::Float => t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Float)
            .ok_or_else(|| format!("`{t}` is not a number")),
        ParamType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("`{t}` is not a boolean (true/false)")),
        },
        ParamType::String => Ok(Value::String(text.to_owned())),
        ParamType::Ip => t
            .parse::<IpAddr>()
            .map(Value::Ip)
            .map_err(|_| format!("`{t}` is not an IPv4 or IPv6 address")),
        ParamType::List { items } => {
            if t.is_empty() {
                return Ok(Value::List(Vec::new()));
            }
            let item_ty = items.as_deref().unwrap_or(&ParamType::String);
            t.split(',')
                .map(|part| {
                    parse_text(item_ty, part).map_err(|reason| format!("list item {reason}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        ParamType::Choice { choices } => {
            if choices.iter().any(|c| c == t) {
                Ok(Value::String(t.to_owned()))
            } else {
                Err(format!(
                    "`{t}` is not one of the choices: {}",
                    choices.join(", ")
                ))
            }
        }
    }
}

/// Converts a TOML value (a default, a list option) to a value of `ty`; `Err` is the reason.
pub fn from_toml(ty: &ParamType, value: &toml::Value) -> Result<Value, String> {
    match (ty, value) {
        (ParamType::Int, toml::Value::Integer(i)) => Ok(Value::Int(*i)),
        (ParamType::Float, toml::Value::Float(x)) => Ok(Value::Float(*x)),
        (ParamType::Float, toml::Value::Integer(i)) => Ok(Value::Float(*i as f64)),
        (ParamType::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
        (ParamType::String, toml::Value::String(s)) => Ok(Value::String(s.clone())),
        (ParamType::Ip, toml::Value::String(s)) => parse_text(ty, s),
        (ParamType::List { items }, toml::Value::Array(values)) => {
            let item_ty = items.as_deref().unwrap_or(&ParamType::String);
            values
                .iter()
                .map(|v| match (item_ty, scalar_text(v)) {
                    // Untyped lists take any scalar, as its text.
                    (ParamType::String, Some(text)) if items.is_none() => Ok(Value::String(text)),
                    _ => from_toml(item_ty, v).map_err(|reason| format!("list item {reason}")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        (ParamType::Choice { .. }, v) => match scalar_text(v) {
            Some(text) => parse_text(ty, &text),
            None => Err(format!(
                "expected one of the choices, found {}",
                v.type_str()
            )),
        },
        (_, v) => Err(format!("expected {}, found {}", expected(ty), describe(v))),
    }
}

fn expected(ty: &ParamType) -> &'static str {
    match ty {
        ParamType::Int => "an integer",
        ParamType::Float => "a number",
        ParamType::Bool => "a boolean",
        ParamType::String => "a string",
        ParamType::Ip => "an IP address string",
        ParamType::List { .. } => "a list",
        ParamType::Choice { .. } => "one of the choices",
    }
}

fn describe(v: &toml::Value) -> String {
    match scalar_text(v) {
        Some(text) if matches!(v, toml::Value::String(_)) => format!("string \"{text}\""),
        Some(text) => format!("{} {text}", v.type_str()),
        None => v.type_str().to_owned(),
    }
}

/// The text of a TOML scalar (string, integer, float, boolean); `None` for other values.
pub fn scalar_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Validates `-p` overrides against the declarations without requiring mandatory params.
pub fn check_overrides(
    specs: &[ParamSpec],
    overrides: &[(String, String)],
) -> Result<IndexMap<String, Value>, ParamError> {
    let mut given = IndexMap::new();
    for (name, text) in overrides {
        let Some(spec) = specs.iter().find(|s| &s.name == name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let help = match (nearest(name, names.iter().copied()), names.is_empty()) {
                (_, true) => Some("this recipe declares no params".to_owned()),
                (Some(best), _) => Some(format!(
                    "did you mean `{best}`? declared params: {}",
                    names.join(", ")
                )),
                (None, _) => Some(format!("declared params: {}", names.join(", "))),
            };
            return Err(ParamError::Unknown {
                name: name.clone(),
                help,
            });
        };
        let value = parse_text(&spec.ty, text).map_err(|reason| ParamError::Invalid {
            name: name.clone(),
            ty: spec.ty.to_string(),
            reason,
            help: match &spec.ty {
                ParamType::Choice { choices } => {
                    nearest(text.trim(), choices.iter().map(String::as_str))
                        .map(|best| format!("did you mean `{best}`?"))
                }
                ParamType::List { .. } => Some("separate list items with commas".into()),
                _ => None,
            },
        })?;
        // The last override of a name wins, as with most command lines.
        given.insert(name.clone(), value);
    }
    Ok(given)
}

/// Resolves every declared param: the override if given, else the default; a mandatory
/// param without an override is an error.
pub fn resolve(specs: &[ParamSpec], overrides: &[(String, String)]) -> Result<Params, ParamError> {
    let mut given = check_overrides(specs, overrides)?;
    let mut values = IndexMap::new();
    for spec in specs {
        let value = match (given.shift_remove(&spec.name), &spec.default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(ParamError::Missing {
                    name: spec.name.clone(),
                });
            }
        };
        values.insert(spec.name.clone(), value);
    }
    Ok(Params { values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, ty: ParamType, default: Option<Value>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            ty,
            default,
            description: None,
        }
    }

    #[test]
    fn parses_every_type_from_text() {
        assert_eq!(parse_text(&ParamType::Int, "9000"), Ok(Value::Int(9000)));
        assert!(parse_text(&ParamType::Int, "9k").is_err());
        assert_eq!(parse_text(&ParamType::Float, "0.5"), Ok(Value::Float(0.5)));
        assert_eq!(parse_text(&ParamType::Bool, "yes"), Ok(Value::Bool(true)));
        assert!(parse_text(&ParamType::Ip, "198.18.0.1").is_ok());
        assert!(parse_text(&ParamType::Ip, "::1").is_ok());
        assert!(parse_text(&ParamType::Ip, "300.1.1.1").is_err());
        let ints = ParamType::List {
            items: Some(Box::new(ParamType::Int)),
        };
        assert_eq!(
            parse_text(&ints, "1,2"),
            Ok(Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(parse_text(&ints, "1,x").is_err());
        let choice = ParamType::Choice {
            choices: vec!["tcp".into(), "udp".into()],
        };
        assert_eq!(parse_text(&choice, "udp"), Ok(Value::String("udp".into())));
        assert!(parse_text(&choice, "sctp").is_err());
    }

    #[test]
    fn defaults_overrides_and_mandatory() {
        let specs = vec![
            spec("mtu", ParamType::Int, Some(Value::Int(1500))),
            spec("peer", ParamType::Ip, None),
        ];
        assert_eq!(
            resolve(&specs, &[]),
            Err(ParamError::Missing {
                name: "peer".into()
            })
        );
        let params = resolve(
            &specs,
            &[
                ("peer".into(), "198.18.0.2".into()),
                ("mtu".into(), "9000".into()),
            ],
        )
        .expect("resolves");
        assert_eq!(params.get("mtu"), Some(&Value::Int(9000)));
        assert_eq!(
            params.get("peer").map(Value::to_string).as_deref(),
            Some("198.18.0.2")
        );
        let params = resolve(&specs, &[("peer".into(), "::1".into())]).expect("resolves");
        assert_eq!(params.get("mtu"), Some(&Value::Int(1500)));
    }

    #[test]
    fn override_errors_name_the_param() {
        let specs = vec![spec("mtu", ParamType::Int, Some(Value::Int(1500)))];
        let err = resolve(&specs, &[("mtu".into(), "big".into())]).expect_err("bad int");
        assert_eq!(
            err.to_string(),
            "param `mtu` (int): `big` is not an integer"
        );
        let err = resolve(&specs, &[("mtuu".into(), "1".into())]).expect_err("unknown");
        assert_eq!(err.to_string(), "unknown param `mtuu`");
        let ParamError::Unknown { help, .. } = err else {
            panic!("unknown")
        };
        assert_eq!(
            help.as_deref(),
            Some("did you mean `mtu`? declared params: mtu")
        );
        assert_eq!(
            parse_override("novalue"),
            Err(ParamError::Syntax {
                arg: "novalue".into()
            })
        );
        assert_eq!(parse_override("cmd=a=b"), Ok(("cmd".into(), "a=b".into())));
    }

    #[test]
    fn toml_defaults_are_type_checked() {
        assert_eq!(
            from_toml(&ParamType::Int, &toml::Value::String("x".into())),
            Err("expected an integer, found string \"x\"".into())
        );
        assert_eq!(
            from_toml(&ParamType::Float, &toml::Value::Integer(2)),
            Ok(Value::Float(2.0))
        );
        let untyped = ParamType::List { items: None };
        assert_eq!(
            from_toml(
                &untyped,
                &toml::Value::Array(vec![toml::Value::Integer(64), "jumbo".into()])
            ),
            Ok(Value::List(vec![
                Value::String("64".into()),
                Value::String("jumbo".into())
            ]))
        );
    }
}
