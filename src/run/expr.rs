//! The sandboxed expression language of `skip_if`, `cancel_if` and `expect.json`.
//!
//! Expressions compare values; they never run anything. Grammar (lowest precedence first):
//! `||`, `&&`, `!`, comparisons (`== != < <= > >=`, `=~` regex match), `+ -`, `* / %`, unary
//! `-`, primaries: numbers, `'single'`/`"double"` quoted strings (which may contain
//! placeholders, e.g. `'{ring}'`), `true`, `false`, `null`, placeholders `{NAME}` (the
//! value of another action in the walk, `{value}`, `{walk_id}`, `{params.NAME}`), JSON paths
//! `.a.b[0]` (only in `expect.json`, over the step's stdout), parentheses and the functions
//! `len(x)`, `contains(haystack, needle)`, `starts_with(s, prefix)`.
//!
//! Invariants: evaluation has no side effects and no I/O; values come from [`Vars`] as
//! data, never by pasting text into the expression (a value containing quotes cannot change
//! the expression); nesting is bounded ([`MAX_DEPTH`]) so no input overflows the stack;
//! every error is a one-line message, never a panic.

use serde_json::Value as Json;
use std::fmt;

/// Deepest nesting of parentheses, unary operators and calls.
pub const MAX_DEPTH: usize = 64;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x}"),
            Val::Str(s) => write!(f, "{s}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Null => write!(f, "null"),
        }
    }
}

impl Val {
    /// A placeholder's text as a value: integers, floats and booleans are typed, the rest
    /// are strings.
    pub fn typed(text: &str) -> Val {
        let t = text.trim();
        if let Ok(i) = t.parse::<i64>() {
            Val::Int(i)
        } else if let Ok(x) = t.parse::<f64>()
            && x.is_finite()
            && t.chars().any(|c| c.is_ascii_digit())
        {
            Val::Float(x)
        } else if t == "true" || t == "false" {
            Val::Bool(t == "true")
        } else {
            Val::Str(text.to_owned())
        }
    }

    fn from_json(json: &Json) -> Val {
        match json {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map(Val::Int)
                .unwrap_or_else(|| Val::Float(n.as_f64().unwrap_or(f64::NAN))),
            Json::String(s) => Val::Str(s.clone()),
            other => Val::Str(other.to_string()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Val::Int(_) | Val::Float(_) => "a number",
            Val::Str(_) => "a string",
            Val::Bool(_) => "a boolean",
            Val::Null => "null",
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(x) => Some(*x),
            _ => None,
        }
    }
}

/// Where placeholder and JSON-path values come from.
pub trait Vars {
    /// The value of placeholder `name` (the text between the braces, trimmed).
    fn placeholder(&self, name: &str) -> Option<String>;
    /// The JSON document `.paths` read, if any.
    fn json(&self) -> Option<&Json> {
        None
    }
}

/// Evaluates `expr` to a boolean.
pub fn eval_bool(expr: &str, vars: &dyn Vars) -> Result<bool, String> {
    match eval(expr, vars)? {
        Val::Bool(b) => Ok(b),
        other => Err(format!(
            "the expression gave {} ({other}), not true or false",
            other.kind()
        )),
    }
}

/// Evaluates `expr`.
pub fn eval(expr: &str, vars: &dyn Vars) -> Result<Val, String> {
    let tokens = lex(expr)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        vars,
        depth: 0,
    };
    let value = parser.or()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(value),
        Some(token) => Err(format!("unexpected {token} in `{expr}`")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(String),
    /// A quoted string: literal pieces and placeholders.
    Str(Vec<(bool, String)>),
    Hole(String),
    Path(Vec<PathPart>),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
enum PathPart {
    Key(String),
    Index(usize),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "`{n}`"),
            Tok::Str(_) => write!(f, "a string"),
            Tok::Hole(h) => write!(f, "`{{{h}}}`"),
            Tok::Path(_) => write!(f, "a JSON path"),
            Tok::Ident(i) => write!(f, "`{i}`"),
            Tok::Op(o) => write!(f, "`{o}`"),
            Tok::LParen => write!(f, "`(`"),
            Tok::RParen => write!(f, "`)`"),
            Tok::Comma => write!(f, "`,`"),
        }
    }
}

const OPS: [&str; 16] = [
    "||", "&&", "==", "!=", "<=", ">=", "=~", "<", ">", "+", "-", "*", "/", "%", "!", "=",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            tokens.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            tokens.push(Tok::Comma);
            i += 1;
        } else if c == '{' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '}')
                .ok_or("a `{` without its `}`")?;
            tokens.push(Tok::Hole(
                chars[i + 1..end]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_owned(),
            ));
            i = end + 1;
        } else if c == '\'' || c == '"' {
            let mut pieces = Vec::new();
            let mut literal = String::new();
            let mut j = i + 1;
            loop {
                let Some(&d) = chars.get(j) else {
                    return Err("a string without its closing quote".into());
                };
                if d == c {
                    break;
                }
                if d == '{' {
                    let end = (j + 1..chars.len())
                        .find(|&k| chars[k] == '}')
                        .ok_or("a `{` without its `}` in a string")?;
                    pieces.push((false, std::mem::take(&mut literal)));
                    pieces.push((
                        true,
                        chars[j + 1..end]
                            .iter()
                            .collect::<String>()
                            .trim()
                            .to_owned(),
                    ));
                    j = end + 1;
                } else {
                    literal.push(d);
                    j += 1;
                }
            }
            pieces.push((false, literal));
            tokens.push(Tok::Str(pieces));
            i = j + 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '.' {
            let mut parts = Vec::new();
            while i < chars.len() && (chars[i] == '.' || chars[i] == '[') {
                if chars[i] == '.' {
                    let start = i + 1;
                    i = start;
                    while i < chars.len()
                        && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                    {
                        i += 1;
                    }
                    if i > start {
                        parts.push(PathPart::Key(chars[start..i].iter().collect()));
                    } else if !parts.is_empty() {
                        return Err("a JSON path with an empty key".into());
                    }
                } else {
                    let end = (i + 1..chars.len())
                        .find(|&k| chars[k] == ']')
                        .ok_or("a `[` without its `]` in a JSON path")?;
                    let index: String = chars[i + 1..end].iter().collect();
                    parts.push(PathPart::Index(
                        index
                            .trim()
                            .parse()
                            .map_err(|_| format!("bad JSON path index `{index}`"))?,
                    ));
                    i = end + 1;
                }
            }
            tokens.push(Tok::Path(parts));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("unexpected character `{c}`"))?;
            if *op == "=" {
                return Err("`=` is not an operator: compare with `==`".into());
            }
            tokens.push(Tok::Op(op));
            i += op.chars().count();
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    vars: &'a dyn Vars,
    depth: usize,
}

impl Parser<'_> {
    fn peek_op(&self, ops: &[&str]) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Tok::Op(op)) if ops.contains(op) => Some(op),
            _ => None,
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the expression nests deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Val, String> {
        let mut left = self.and()?;
        while self.peek_op(&["||"]).is_some() {
            self.pos += 1;
            let right = self.and()?;
            left = Val::Bool(truth(&left, "||")? || truth(&right, "||")?);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Val, String> {
        let mut left = self.not()?;
        while self.peek_op(&["&&"]).is_some() {
            self.pos += 1;
            let right = self.not()?;
            left = Val::Bool(truth(&left, "&&")? && truth(&right, "&&")?);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Val, String> {
        if self.peek_op(&["!"]).is_some() {
            self.pos += 1;
            self.deeper()?;
            let v = self.not()?;
            self.depth -= 1;
            return Ok(Val::Bool(!truth(&v, "!")?));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Val, String> {
        let left = self.add()?;
        let Some(op) = self.peek_op(&["==", "!=", "<", "<=", ">", ">=", "=~"]) else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.add()?;
        compare(op, &left, &right).map(Val::Bool)
    }

    fn add(&mut self) -> Result<Val, String> {
        let mut left = self.mul()?;
        while let Some(op) = self.peek_op(&["+", "-"]) {
            self.pos += 1;
            let right = self.mul()?;
            left = arith(op, &left, &right)?;
        }
        Ok(left)
    }

    fn mul(&mut self) -> Result<Val, String> {
        let mut left = self.unary()?;
        while let Some(op) = self.peek_op(&["*", "/", "%"]) {
            self.pos += 1;
            let right = self.unary()?;
            left = arith(op, &left, &right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Val, String> {
        if self.peek_op(&["-"]).is_some() {
            self.pos += 1;
            self.deeper()?;
            let v = self.unary()?;
            self.depth -= 1;
            return arith("-", &Val::Int(0), &v);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Val, String> {
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Err("the expression ends too early".into());
        };
        self.pos += 1;
        match token {
            Tok::Num(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    Ok(Val::Int(i))
                } else {
                    n.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .map(Val::Float)
                        .ok_or_else(|| format!("`{n}` is not a number"))
                }
            }
            Tok::Str(pieces) => {
                let mut out = String::new();
                for (hole, text) in pieces {
                    if hole {
                        out.push_str(&self.placeholder(&text)?);
                    } else {
                        out.push_str(&text);
                    }
                }
                Ok(Val::Str(out))
            }
            Tok::Hole(name) => Ok(Val::typed(&self.placeholder(&name)?)),
            Tok::Path(parts) => {
                let Some(mut json) = self.vars.json() else {
                    return Err(
                        "JSON paths (`.x`) are only available in expect.json predicates".into(),
                    );
                };
                for part in &parts {
                    let next = match part {
                        PathPart::Key(k) => json.get(k.as_str()),
                        PathPart::Index(i) => json.get(*i),
                    };
                    match next {
                        Some(next) => json = next,
                        None => return Ok(Val::Null),
                    }
                }
                Ok(Val::from_json(json))
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Ok(Val::Bool(true)),
                "false" => Ok(Val::Bool(false)),
                "null" => Ok(Val::Null),
                "len" | "contains" | "starts_with" => self.call(&word),
                other => Err(format!(
                    "unknown name `{other}`: placeholders are written {{{other}}}, strings are quoted"
                )),
            },
            Tok::LParen => {
                self.deeper()?;
                let v = self.or()?;
                self.depth -= 1;
                match self.tokens.get(self.pos) {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err("a `(` without its `)`".into()),
                }
            }
            other => Err(format!("unexpected {other}")),
        }
    }

    fn call(&mut self, name: &str) -> Result<Val, String> {
        if self.tokens.get(self.pos) != Some(&Tok::LParen) {
            return Err(format!("`{name}` is a function: write {name}(...)"));
        }
        self.pos += 1;
        self.deeper()?;
        let mut args = Vec::new();
        if self.tokens.get(self.pos) == Some(&Tok::RParen) {
            self.pos += 1;
        } else {
            loop {
                args.push(self.or()?);
                match self.tokens.get(self.pos) {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("`{name}(` without its `)`")),
                }
            }
        }
        self.depth -= 1;
        match (name, args.as_slice()) {
            ("len", [v]) => Ok(Val::Int(
                i64::try_from(v.to_string().chars().count()).unwrap_or(i64::MAX),
            )),
            ("contains", [a, b]) => Ok(Val::Bool(a.to_string().contains(&b.to_string()))),
            ("starts_with", [a, b]) => Ok(Val::Bool(a.to_string().starts_with(&b.to_string()))),
            _ => Err(format!(
                "`{name}` takes {} argument(s), got {}",
                if name == "len" { 1 } else { 2 },
                args.len()
            )),
        }
    }

    fn placeholder(&self, name: &str) -> Result<String, String> {
        self.vars
            .placeholder(name)
            .ok_or_else(|| format!("no value for `{{{name}}}`"))
    }
}

fn truth(v: &Val, op: &str) -> Result<bool, String> {
    match v {
        Val::Bool(b) => Ok(*b),
        other => Err(format!(
            "`{op}` needs booleans, got {} ({other})",
            other.kind()
        )),
    }
}

fn compare(op: &str, left: &Val, right: &Val) -> Result<bool, String> {
    if op == "=~" {
        let re = regex::Regex::new(&right.to_string()).map_err(|e| {
            format!(
                "bad regex `{right}`: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })?;
        return Ok(re.is_match(&left.to_string()));
    }
    let ordering = match (left.number(), right.number()) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => match (left, right) {
            (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
            (Val::Bool(a), Val::Bool(b)) if matches!(op, "==" | "!=") => Some(a.cmp(b)),
            (Val::Null, Val::Null) => Some(std::cmp::Ordering::Equal),
            _ if matches!(op, "==" | "!=") => {
                // Different kinds: equal only when their texts are (a typed placeholder
                // against a quoted string), never an error.
                let same = left.to_string() == right.to_string()
                    && !matches!(left, Val::Null)
                    && !matches!(right, Val::Null);
                return Ok((op == "==") == same);
            }
            _ => {
                return Err(format!(
                    "cannot order {} ({left}) and {} ({right}) with `{op}`",
                    left.kind(),
                    right.kind()
                ));
            }
        },
    };
    let Some(ordering) = ordering else {
        return Ok(op == "!=");
    };
    use std::cmp::Ordering::*;
    Ok(match op {
        "==" => ordering == Equal,
        "!=" => ordering != Equal,
        "<" => ordering == Less,
        "<=" => ordering != Greater,
        ">" => ordering == Greater,
        _ => ordering != Less,
    })
}

fn arith(op: &str, left: &Val, right: &Val) -> Result<Val, String> {
    if op == "+"
        && let (Val::Str(a), Val::Str(b)) = (left, right)
    {
        return Ok(Val::Str(format!("{a}{b}")));
    }
    match (left, right) {
        (Val::Int(a), Val::Int(b)) => {
            let result = match op {
                "+" => a.checked_add(*b),
                "-" => a.checked_sub(*b),
                "*" => a.checked_mul(*b),
                "/" if *b == 0 => return Err("division by zero".into()),
                "/" => a.checked_div(*b),
                "%" if *b == 0 => return Err("division by zero".into()),
                _ => a.checked_rem(*b),
            };
            result
                .map(Val::Int)
                .ok_or_else(|| format!("integer overflow in `{a} {op} {b}`"))
        }
        _ => match (left.number(), right.number()) {
            (Some(a), Some(b)) => {
                let x = match op {
                    "+" => a + b,
                    "-" => a - b,
                    "*" => a * b,
                    "/" if b == 0.0 => return Err("division by zero".into()),
                    "/" => a / b,
                    _ if b == 0.0 => return Err("division by zero".into()),
                    _ => a % b,
                };
                Ok(Val::Float(x))
            }
            _ => Err(format!(
                "`{op}` needs numbers, got {} ({left}) and {} ({right})",
                left.kind(),
                right.kind()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>, Option<Json>);

    impl Vars for Map {
        fn placeholder(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| (*s).to_owned())
        }
        fn json(&self) -> Option<&Json> {
            self.1.as_ref()
        }
    }

    fn vars() -> Map {
        Map(
            HashMap::from([
                ("size", "8000"),
                ("mtu", "1500"),
                ("ring", "512"),
                ("mode", "it's \"odd\""),
                ("fwd", "0"),
            ]),
            Some(serde_json::json!({"ok": true, "rx": [1, 2, 30], "name": "eth0"})),
        )
    }

    #[test]
    fn evaluates_the_recipe_examples() {
        let v = vars();
        assert_eq!(eval_bool("{size} > {mtu}", &v), Ok(true));
        assert_eq!(eval_bool("({fwd} == 0) && '{ring}' != ''", &v), Ok(true));
        assert_eq!(eval_bool(".ok == true", &v), Ok(true));
        assert_eq!(eval_bool(".rx[2] >= 30 && .name =~ '^eth'", &v), Ok(true));
        assert_eq!(eval_bool(".missing == null", &v), Ok(true));
        assert_eq!(eval_bool("{size} - {mtu} * 2 == 5000", &v), Ok(true));
        assert_eq!(eval_bool("!({size} % 1000 != 0)", &v), Ok(true));
        assert_eq!(
            eval_bool("len('{ring}') == 3 && contains('{mode}', 'odd')", &v),
            Ok(true)
        );
    }

    #[test]
    fn values_are_data_not_code() {
        let v = vars();
        // The value contains quotes; it stays one string.
        assert_eq!(eval_bool("'{mode}' == '{mode}'", &v), Ok(true));
        assert_eq!(eval_bool("{mode} == 'x'", &v), Ok(false));
    }

    #[test]
    fn errors_are_one_line_and_never_panic() {
        let v = vars();
        for (expr, want) in [
            ("{size} >", "the expression ends too early"),
            ("{nope} == 1", "no value for `{nope}`"),
            ("{size} = 1", "`=` is not an operator: compare with `==`"),
            ("1 / 0 == 1", "division by zero"),
            (
                "'a' < 1",
                "cannot order a string (a) and a number (1) with `<`",
            ),
            (
                "{size}",
                "the expression gave a number (8000), not true or false",
            ),
            (
                "size > 1",
                "unknown name `size`: placeholders are written {size}, strings are quoted",
            ),
            ("(1 == 1", "a `(` without its `)`"),
            (
                "9223372036854775807 + 1 == 0",
                "integer overflow in `9223372036854775807 + 1`",
            ),
        ] {
            assert_eq!(eval_bool(expr, &v), Err(want.to_owned()), "{expr}");
        }
        let deep = format!("{}1 == 1{}", "(".repeat(500), ")".repeat(500));
        assert!(eval_bool(&deep, &v).is_err());
        let bangs = format!("{}true", "!".repeat(10_000));
        assert!(eval_bool(&bangs, &v).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,60}") {
            let _ = eval(&text, &vars());
        }
    }
}
