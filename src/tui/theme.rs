//! Colour themes as data: TOML files with semantic roles (`ok`, `error`, `selected`, …),
//! three built in (`dark`, the default; `light`; `high-contrast`, from `themes/*.toml`) and
//! user files that override only the roles they name on top of a built-in theme
//! (`extends = "light"`, default `dark`).
//!
//! Invariants: every role always has a style (a partial file never leaves a role unset);
//! unknown roles and unparsable colours are errors naming the file, never ignored.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// The built-in themes, by name, with their TOML text.
pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Problems loading a theme.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("cannot read theme {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("theme {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The semantic roles, in file order.
pub const ROLES: [&str; 19] = [
    "text",
    "dim",
    "border",
    "border_focused",
    "title",
    "header",
    "table_header",
    "selected",
    "ok",
    "warn",
    "error",
    "accent",
    "gauge",
    "spark_rx",
    "spark_tx",
    "key",
    "overlay",
    "command",
    "pending",
];

/// One role as written in a file; unset fields keep the base theme's value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    fg: Option<String>,
    bg: Option<String>,
    bold: Option<bool>,
    italic: Option<bool>,
    underline: Option<bool>,
    reversed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[allow(dead_code)]
    name: Option<String>,
    extends: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, RoleSpec>,
}

/// A resolved theme: a style for every role.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<&'static str, Style>,
}

impl Theme {
    /// The default theme (`dark`).
    pub fn dark() -> Theme {
        // The built-in files are tested to parse; an empty theme is the fallback anyway.
        Theme::builtin("dark").unwrap_or_else(|_| Theme::empty("dark"))
    }

    fn empty(name: &str) -> Theme {
        Theme {
            name: name.to_owned(),
            styles: ROLES.iter().map(|r| (*r, Style::default())).collect(),
        }
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let (name, text) =
            BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| ThemeError::Invalid {
                    origin: name.to_owned(),
                    message: format!(
                        "no built-in theme `{name}` (built in: {})",
                        BUILTIN.map(|(n, _)| n).join(", ")
                    ),
                })?;
        let mut theme = Theme::empty(name);
        theme.overlay(text, name)?;
        Ok(theme)
    }

    /// `--theme NAME|PATH`: a built-in name, or a file overriding the roles it names on top
    /// of the theme it `extends` (default `dark`).
    pub fn load(spec: &str) -> Result<Theme, ThemeError> {
        if BUILTIN.iter().any(|(n, _)| *n == spec) {
            return Theme::builtin(spec);
        }
        let path = Path::new(spec);
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
            path: spec.to_owned(),
            source,
        })?;
        Theme::from_override(&text, spec)
    }

    /// A theme from override text: its `extends` base (default `dark`) plus its roles.
    pub fn from_override(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let file = parse(text, origin)?;
        let base = file.extends.as_deref().unwrap_or("dark");
        let mut theme = Theme::builtin(base)?;
        theme.name = origin.to_owned();
        theme.overlay(text, origin)?;
        Ok(theme)
    }

    fn overlay(&mut self, text: &str, origin: &str) -> Result<(), ThemeError> {
        let file = parse(text, origin)?;
        for (role, spec) in file.roles {
            let Some(key) = ROLES.iter().find(|r| **r == role) else {
                return Err(ThemeError::Invalid {
                    origin: origin.to_owned(),
                    message: format!("unknown role `{role}` (roles: {})", ROLES.join(", ")),
                });
            };
            let base = self.styles.get(key).copied().unwrap_or_default();
            let style = apply(base, &spec).map_err(|message| ThemeError::Invalid {
                origin: origin.to_owned(),
                message: format!("role `{role}`: {message}"),
            })?;
            self.styles.insert(key, style);
        }
        Ok(())
    }

    /// The style of a role (the default style for a name that is not a role).
    pub fn style(&self, role: &str) -> Style {
        self.styles.get(role).copied().unwrap_or_default()
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::dark()
    }
}

fn parse(text: &str, origin: &str) -> Result<ThemeFile, ThemeError> {
    toml::from_str(text).map_err(|e| ThemeError::Invalid {
        origin: origin.to_owned(),
        message: e.to_string(),
    })
}

fn apply(mut style: Style, spec: &RoleSpec) -> Result<Style, String> {
    let colour = |c: &str| Color::from_str(c).map_err(|_| format!("`{c}` is not a colour"));
    if let Some(fg) = &spec.fg {
        style.fg = Some(colour(fg)?);
    }
    if let Some(bg) = &spec.bg {
        style.bg = Some(colour(bg)?);
    }
    for (flag, modifier) in [
        (spec.bold, Modifier::BOLD),
        (spec.italic, Modifier::ITALIC),
        (spec.underline, Modifier::UNDERLINED),
        (spec.reversed, Modifier::REVERSED),
    ] {
        match flag {
            Some(true) => {
                style.add_modifier.insert(modifier);
                style.sub_modifier.remove(modifier);
            }
            Some(false) => {
                style.add_modifier.remove(modifier);
            }
            None => {}
        }
    }
    Ok(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_sets_every_role() {
        for (name, text) in BUILTIN {
            let file = parse(text, name).expect("parses");
            for role in ROLES {
                assert!(file.roles.contains_key(role), "{name} lacks {role}");
            }
            assert!(Theme::builtin(name).is_ok());
        }
    }

    #[test]
    fn a_partial_override_keeps_the_base_roles() {
        let theme = Theme::from_override(
            "extends = \"light\"\n[roles.ok]\nfg = \"#00ff00\"\n",
            "mine.toml",
        )
        .expect("loads");
        let light = Theme::builtin("light").expect("light");
        assert_eq!(theme.style("ok").fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(theme.style("error"), light.style("error"));
    }

    #[test]
    fn unknown_roles_and_colours_are_errors() {
        let role = Theme::from_override("[roles.okk]\nfg = \"red\"\n", "x").unwrap_err();
        assert!(role.to_string().contains("unknown role `okk`"), "{role}");
        let colour = Theme::from_override("[roles.ok]\nfg = \"reddish\"\n", "x").unwrap_err();
        assert!(colour.to_string().contains("`reddish` is not a colour"));
        assert!(Theme::load("no-such-theme-file.toml").is_err());
    }
}
