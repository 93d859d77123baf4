//! Sessions: a saved workspace `sessions/<name>/session.toml` naming a pool, a recipe, its
//! params and a theme, with every run recorded under `sessions/<name>/runs/<time>-<recipe>/`;
//! and the listing of recorded runs.
//!
//! Invariants: paths in `session.toml` are relative to the session directory (absolute
//! paths are kept); every error in the file is a located [`ConfigError`] and unknown keys
//! are rejected with a suggestion; listing runs never fails on one bad run directory (it
//! is listed as unreadable).

use crate::diag::{self, ConfigError};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file name of a session inside its directory.
pub const SESSION_FILE: &str = "session.toml";

/// Errors opening a session.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    #[error("cannot read session file {path}: {source}")]
    #[diagnostic(help(
        "a session is a directory holding session.toml (pool, recipe, params, theme)"
    ))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] Box<ConfigError>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionFile {
    name: Option<String>,
    pool: Spanned<String>,
    recipe: Option<Spanned<String>>,
    #[serde(default)]
    params: IndexMap<String, toml::Value>,
    theme: Option<String>,
}

/// A loaded session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub dir: PathBuf,
    pub name: String,
    pub pool: PathBuf,
    pub recipe: Option<PathBuf>,
    /// Params as `-p NAME=VALUE` pairs (lists comma-separated).
    pub params: Vec<(String, String)>,
    pub theme: Option<String>,
}

impl Session {
    /// Loads `dir/session.toml` (or the file itself when given one).
    pub fn load(path: &Path) -> Result<Session, SessionError> {
        let (dir, file) = if path.is_dir() {
            (path.to_owned(), path.join(SESSION_FILE))
        } else {
            (
                path.parent().unwrap_or(Path::new(".")).to_owned(),
                path.to_owned(),
            )
        };
        let text = std::fs::read_to_string(&file).map_err(|source| SessionError::Read {
            path: file.clone(),
            source,
        })?;
        let parsed: SessionFile =
            toml::from_str(&text).map_err(|e| Box::new(diag::from_toml_error(&file, &text, &e)))?;
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                dir.join(p)
            }
        };
        let pool = resolve(parsed.pool.get_ref());
        if !pool.exists() {
            return Err(Box::new(ConfigError::at(
                &file,
                &text,
                parsed.pool.span(),
                format!("pool file {} does not exist", pool.display()),
                Some("paths are relative to the session directory".into()),
            ))
            .into());
        }
        let recipe = match &parsed.recipe {
            None => None,
            Some(r) => {
                let path = resolve(r.get_ref());
                if !path.exists() {
                    return Err(Box::new(ConfigError::at(
                        &file,
                        &text,
                        r.span(),
                        format!("recipe file {} does not exist", path.display()),
                        Some("paths are relative to the session directory".into()),
                    ))
                    .into());
                }
                Some(path)
            }
        };
        let params = parsed
            .params
            .iter()
            .map(|(k, v)| (k.clone(), toml_text(v)))
            .collect();
        let name = parsed.name.unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "session".into())
        });
        Ok(Session {
            dir,
            name,
            pool,
            recipe,
            params,
            theme: parsed.theme,
        })
    }

    /// Where this session's runs go.
    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// One recorded run, as `labdeck runs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub recipe: String,
    pub started_at: u64,
    /// `finished`, `interrupted` or `unreadable: …`.
    pub state: String,
    pub walks: u64,
    pub passed: u64,
    pub failed: u64,
}

/// The runs recorded under `runs_dir` (each a directory with a `trace.jsonl`), oldest first.
pub fn list_runs(runs_dir: &Path) -> std::io::Result<Vec<RunInfo>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(crate::run::exec::files::TRACE).exists())
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|dir| run_info(&dir)).collect())
}

fn run_info(dir: &Path) -> RunInfo {
    let trace = dir.join(crate::run::exec::files::TRACE);
    match crate::walk::read_trace(&trace) {
        Err(e) => RunInfo {
            dir: dir.to_owned(),
            recipe: String::new(),
            started_at: 0,
            state: format!("unreadable: {e}"),
            walks: 0,
            passed: 0,
            failed: 0,
        },
        Ok(contents) => {
            let mut info = RunInfo {
                dir: dir.to_owned(),
                recipe: contents.header.recipe_name.clone(),
                started_at: contents.header.started_at,
                state: if contents.footer.is_some() {
                    "finished"
                } else {
                    "interrupted"
                }
                .into(),
                walks: 0,
                passed: 0,
                failed: 0,
            };
            for record in &contents.records {
                if let crate::walk::TraceRecord::WalkEnd(end) = record {
                    info.walks += 1;
                    match end.outcome {
                        crate::walk::Outcome::Pass => info.passed += 1,
                        crate::walk::Outcome::Fail | crate::walk::Outcome::Error => {
                            info.failed += 1
                        }
                        _ => {}
                    }
                }
            }
            info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_relative_paths_and_params() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("pool.toml"), "").expect("pool");
        std::fs::write(tmp.path().join("r.toml"), "").expect("recipe");
        std::fs::write(
            tmp.path().join(SESSION_FILE),
            "pool = \"pool.toml\"\nrecipe = \"r.toml\"\ntheme = \"light\"\n[params]\nmtus = [1500, 9000]\npeer = \"198.18.1.2\"\n",
        )
        .expect("session");
        let s = Session::load(tmp.path()).expect("loads");
        assert_eq!(s.pool, tmp.path().join("pool.toml"));
        assert_eq!(s.recipe, Some(tmp.path().join("r.toml")));
        assert_eq!(
            s.params,
            vec![
                ("mtus".to_owned(), "1500,9000".to_owned()),
                ("peer".to_owned(), "198.18.1.2".to_owned())
            ]
        );
        assert_eq!(s.theme.as_deref(), Some("light"));
        assert_eq!(s.runs_dir(), tmp.path().join("runs"));
    }

    #[test]
    fn errors_are_located() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join(SESSION_FILE), "pool = \"missing.toml\"\n").expect("w");
        let e = Session::load(tmp.path()).expect_err("missing pool");
        assert!(e.to_string().contains("session.toml:1:8: pool file"), "{e}");
        std::fs::write(
            tmp.path().join(SESSION_FILE),
            "pool = \"x\"\nrecipie = \"y\"\n",
        )
        .expect("w");
        let e = Session::load(tmp.path()).expect_err("unknown key");
        assert!(e.to_string().contains("session.toml:2:1"), "{e}");
    }
}
