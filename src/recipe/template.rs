//! Command templates: `{placeholder}` syntax, parsing and validation against a recipe.
//!
//! Placeholders: `{value}` (the action's option in the walk), `{walk_id}`, `{params.NAME}`
//! (a declared param), `{ROLE.IFACE.name|ip4|ip6|mac}` (a declared interface role) and, in
//! `skip_if`/`cancel_if` expressions only, `{ACTION}` (the option another action takes in the
//! walk). `{{` and `}}` are literal braces (so `${HOME}` must be written `${{HOME}}`).
//!
//! Invariants: [`parse`] never panics and reports the byte offset (within the template) of
//! the first problem; [`validate`] accepts a template only if every placeholder names
//! something the recipe declares and is allowed where the template appears.

use crate::diag::nearest;
use indexmap::IndexMap;

/// Interface attributes a template may reference.
pub const IFACE_ATTRS: [&str; 4] = ["name", "ip4", "ip6", "mac"];

/// One placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Value,
    WalkId,
    Param(String),
    Iface {
        role: String,
        iface: String,
        attr: String,
    },
    /// Another action's option (expressions only).
    Action(String),
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// The placeholder text between the braces and its byte offset (of the `{`).
    Hole {
        text: String,
        offset: usize,
    },
}

/// A template problem at a byte range of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub range: std::ops::Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

const PLACEHOLDER_HELP: &str = "placeholders are {value}, {walk_id}, {params.NAME} and \
{ROLE.IFACE.name|ip4|ip6|mac}; write {{ and }} for literal braces";

/// What a template may reference where it appears.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    pub params: Vec<&'a str>,
    /// Role → its interface roles.
    pub roles: IndexMap<&'a str, Vec<&'a str>>,
    /// `{value}` allowed (actions with options).
    pub value: bool,
    /// `{walk_id}` allowed (actions).
    pub walk_id: bool,
    /// Action names allowed as `{ACTION}` (expressions).
    pub actions: Vec<&'a str>,
}

/// Splits a template into literals and holes.
pub fn parse(template: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(TemplateError {
                    range: i..i + 1,
                    message: "unmatched `}` in template".into(),
                    help: Some("write }} for a literal brace".into()),
                });
            }
            '{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest
                    .find(['}', '{'])
                    .filter(|&e| rest[e..].starts_with('}'))
                else {
                    return Err(TemplateError {
                        range: i..template.len(),
                        message: "unterminated `{` in template".into(),
                        help: Some(PLACEHOLDER_HELP.into()),
                    });
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Hole {
                    text: rest[..end].to_owned(),
                    offset: i,
                });
                // Skip the hole's characters and the closing brace.
                while chars.next_if(|&(j, _)| j <= i + 1 + end).is_some() {}
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// Parses a template and checks every placeholder against `scope`.
pub fn validate(template: &str, scope: &Scope<'_>) -> Result<Vec<Placeholder>, TemplateError> {
    let mut found = Vec::new();
    for piece in parse(template)? {
        let Piece::Hole { text, offset } = piece else {
            continue;
        };
        let range = offset..offset + text.len() + 2;
        let fail = |message: String, help: Option<String>| TemplateError {
            range: range.clone(),
            message,
            help,
        };
        let name = text.trim();
        let parts: Vec<&str> = name.split('.').collect();
        let placeholder = match parts.as_slice() {
            ["value"] if scope.value => Placeholder::Value,
            ["value"] => {
                return Err(fail(
                    "`{value}` is not available here".into(),
                    Some(
                        "{value} is the option an action takes; here there is none \
                         (an action needs `options` to use it)"
                            .into(),
                    ),
                ));
            }
            ["walk_id"] if scope.walk_id => Placeholder::WalkId,
            ["walk_id"] => {
                return Err(fail(
                    "`{walk_id}` is not available here".into(),
                    Some("{walk_id} exists only in actions".into()),
                ));
            }
            ["params", param] => {
                if !scope.params.contains(param) {
                    return Err(fail(
                        format!("unknown param `{param}` in `{{{name}}}`"),
                        Some(suggest(param, &scope.params, "declared params")),
                    ));
                }
                Placeholder::Param((*param).to_owned())
            }
            [action] if scope.actions.contains(action) => Placeholder::Action((*action).into()),
            [other] if !scope.actions.is_empty() => {
                return Err(fail(
                    format!("unknown action `{other}` in `{{{name}}}`"),
                    Some(suggest(other, &scope.actions, "declared actions")),
                ));
            }
            [role, iface, attr] => {
                let Some(ifaces) = scope.roles.get(role) else {
                    let roles: Vec<&str> = scope.roles.keys().copied().collect();
                    return Err(fail(
                        format!("unknown role `{role}` in `{{{name}}}`"),
                        Some(suggest(role, &roles, "declared roles")),
                    ));
                };
                if !ifaces.contains(iface) {
                    return Err(fail(
                        format!("role `{role}` has no interface role `{iface}`"),
                        Some(suggest(iface, ifaces, "its interface roles")),
                    ));
                }
                if !IFACE_ATTRS.contains(attr) {
                    return Err(fail(
                        format!("unknown interface attribute `{attr}` in `{{{name}}}`"),
                        Some(suggest(attr, &IFACE_ATTRS, "attributes")),
                    ));
                }
                Placeholder::Iface {
                    role: (*role).into(),
                    iface: (*iface).into(),
                    attr: (*attr).into(),
                }
            }
            _ => {
                let mut help = PLACEHOLDER_HELP.to_owned();
                if !scope.actions.is_empty() {
                    help.push_str("; expressions may also use {ACTION}");
                }
                return Err(fail(
                    format!("unknown placeholder `{{{name}}}`"),
                    Some(help),
                ));
            }
        };
        found.push(placeholder);
    }
    Ok(found)
}

/// Renders a template for the shell: literals as written, every placeholder replaced by
/// `lookup`'s value **shell-quoted** (see [`crate::quote::quote`]). `Err` names the first
/// placeholder `lookup` has no value for (or a parse error's message).
pub fn render_shell(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template).map_err(|e| e.message)? {
        match piece {
            Piece::Literal(text) => out.push_str(&text),
            Piece::Hole { text, .. } => {
                let name = text.trim();
                let value = lookup(name).ok_or_else(|| format!("no value for `{{{name}}}`"))?;
                out.push_str(&crate::quote::quote(&value));
            }
        }
    }
    Ok(out)
}

fn suggest(word: &str, candidates: &[&str], what: &str) -> String {
    if candidates.is_empty() {
        return format!("there are no {what}");
    }
    let list = candidates.join(", ");
    match nearest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope<'static> {
        let mut roles = IndexMap::new();
        roles.insert("dut", vec!["eth0"]);
        Scope {
            params: vec!["mtu"],
            roles,
            value: true,
            walk_id: true,
            actions: vec![],
        }
    }

    #[test]
    fn parses_literals_holes_and_escapes() {
        assert_eq!(
            parse("a {x} ${{HOME}}").expect("parses"),
            vec![
                Piece::Literal("a ".into()),
                Piece::Hole {
                    text: "x".into(),
                    offset: 2
                },
                Piece::Literal(" ${HOME}".into()),
            ]
        );
        assert_eq!(parse("a {x").expect_err("open").range, 2..4);
        assert_eq!(parse("a } b").expect_err("close").range, 2..3);
        assert_eq!(parse("{a{b}").expect_err("nested").range, 0..5);
    }

    #[test]
    fn rendering_quotes_every_value() {
        let lookup = |name: &str| match name {
            "value" => Some("9000".to_owned()),
            "params.msg" => Some("a b; rm -rf /".to_owned()),
            _ => None,
        };
        assert_eq!(
            render_shell("echo {value} {params.msg} ${{X}}", lookup),
            Ok("echo 9000 'a b; rm -rf /' ${X}".to_owned())
        );
        assert_eq!(
            render_shell("echo {walk_id}", lookup),
            Err("no value for `{walk_id}`".to_owned())
        );
    }

    #[test]
    fn validates_placeholders_against_the_recipe() {
        let s = scope();
        let found = validate(
            "ip link set {dut.eth0.name} mtu {value} # {params.mtu} {walk_id}",
            &s,
        )
        .expect("valid");
        assert_eq!(found.len(), 4);
        let err = validate("ping {dut.eth1.ip4}", &s).expect_err("bad iface");
        assert_eq!(err.message, "role `dut` has no interface role `eth1`");
        assert_eq!(err.range, 5..19);
        let err = validate("{params.mtuu}", &s).expect_err("bad param");
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean `mtu`? declared params: mtu")
        );
        let err = validate("{dut.eth0.ipv4}", &s).expect_err("bad attr");
        assert_eq!(
            err.message,
            "unknown interface attribute `ipv4` in `{dut.eth0.ipv4}`"
        );
        let err = validate("echo ${HOME}", &s).expect_err("shell braces");
        assert_eq!(err.message, "unknown placeholder `{HOME}`");
        let setup = Scope {
            value: false,
            walk_id: false,
            ..scope()
        };
        assert!(validate("echo {value}", &setup).is_err());
        assert!(validate("echo {walk_id}", &setup).is_err());
    }
}
