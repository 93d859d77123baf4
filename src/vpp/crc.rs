//! CRC check of a VPP's API against expected collections, after CSIT's `VppApiCrcChecker`.
//!
//! The expected CRCs come in CSIT's `supported_crcs.yaml` shape: a mapping from collection
//! name (e.g. a VPP release) to a mapping from message name to CRC (`'0x51077d14'`).
//! Collections are tried in file order; a collection with any conflict (a message whose CRC
//! differs, or that the VPP lacks) is dropped; the check passes with the first collection
//! left and fails when none is left, reporting every conflict of every collection.
//!
//! Invariants: parsing never panics on input; the report lists conflicts sorted by message
//! name, so it is stable from run to run.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;

/// Errors reading an expected-CRC file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CrcFileError {
    /// The file could not be read.
    #[error("cannot read CRC file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// The YAML does not have the `collection: {message: crc}` shape.
    #[error("{origin}: not a CRC collection file: {cause}")]
    Shape {
        /// File path or `<yaml string>`.
        origin: String,
        /// The parser's message.
        cause: String,
    },
    /// A CRC value is not a 32-bit hex or decimal number.
    #[error("{origin}: collection `{collection}`, message `{message}`: bad CRC `{value}`")]
    BadCrc {
        /// File path or `<yaml string>`.
        origin: String,
        /// Collection name.
        collection: String,
        /// Message name.
        message: String,
        /// The value as written.
        value: String,
    },
}

impl CrcFileError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        "the file maps collection names to {message_name: '0xcrc'} mappings, as CSIT's supported_crcs.yaml".into()
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawCrc {
    Int(u64),
    Text(String),
}

/// Expected CRCs, by collection (file order kept) and message name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrcCollections {
    collections: IndexMap<String, IndexMap<String, u32>>,
}

impl CrcCollections {
    /// Reads a YAML file.
    pub fn load(path: &Path) -> Result<Self, CrcFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| CrcFileError::Read {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names it in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, CrcFileError> {
        let raw: IndexMap<String, IndexMap<String, RawCrc>> = serde_saphyr::from_str(text)
            .map_err(|e| CrcFileError::Shape {
                origin: origin.into(),
                cause: e.to_string(),
            })?;
        let mut collections = IndexMap::new();
        for (collection, messages) in raw {
            let mut parsed = IndexMap::new();
            for (message, value) in messages {
                let crc = match &value {
                    RawCrc::Int(n) => u32::try_from(*n).ok(),
                    RawCrc::Text(t) => parse_crc(t),
                };
                let Some(crc) = crc else {
                    return Err(CrcFileError::BadCrc {
                        origin: origin.into(),
                        collection,
                        message,
                        value: match value {
                            RawCrc::Int(n) => n.to_string(),
                            RawCrc::Text(t) => t,
                        },
                    });
                };
                parsed.insert(message, crc);
            }
            collections.insert(collection, parsed);
        }
        Ok(Self { collections })
    }

    /// Collection names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.collections.keys().map(String::as_str)
    }

    /// Checks `found` (message name → CRC, e.g. from [`crcs_from_message_table`]).
    pub fn check(&self, found: &HashMap<String, u32>) -> CrcReport {
        let mut report = CrcReport::default();
        for (name, expected) in &self.collections {
            let mut conflicts: Vec<CrcConflict> = expected
                .iter()
                .filter_map(|(message, crc)| {
                    let actual = found.get(message).copied();
                    (actual != Some(*crc)).then(|| CrcConflict {
                        message: message.clone(),
                        expected: *crc,
                        found: actual,
                    })
                })
                .collect();
            conflicts.sort_by(|a, b| a.message.cmp(&b.message));
            if conflicts.is_empty() && report.matched.is_none() {
                report.matched = Some(name.clone());
            }
            report.collections.push(CollectionCheck {
                name: name.clone(),
                checked: expected.len(),
                conflicts,
            });
        }
        report
    }
}

/// `"0x51077d14"`, `"51077d14"` (hex) → CRC.
fn parse_crc(text: &str) -> Option<u32> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(hex, 16).ok()
}

/// Message name → CRC from a connection's `"<name>_<crc>"` table.
pub fn crcs_from_message_table<'a>(
    keys: impl IntoIterator<Item = &'a String>,
) -> HashMap<String, u32> {
    keys.into_iter()
        .filter_map(|key| {
            let (name, crc) = key.rsplit_once('_')?;
            Some((name.to_string(), u32::from_str_radix(crc, 16).ok()?))
        })
        .collect()
}

/// One message whose CRC is not the expected one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrcConflict {
    /// Message name.
    pub message: String,
    /// CRC the collection expects.
    pub expected: u32,
    /// CRC the VPP has; `None` when it lacks the message.
    pub found: Option<u32>,
}

/// One collection's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CollectionCheck {
    /// Collection name.
    pub name: String,
    /// Messages it lists.
    pub checked: usize,
    /// Its conflicts (empty: it matches).
    pub conflicts: Vec<CrcConflict>,
}

/// The result of a CRC check.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CrcReport {
    /// The first collection without conflicts, if any.
    pub matched: Option<String>,
    /// Every collection, in file order.
    pub collections: Vec<CollectionCheck>,
}

impl CrcReport {
    /// True when a collection matched.
    pub fn passed(&self) -> bool {
        self.matched.is_some()
    }
}

impl std::fmt::Display for CrcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(name) = &self.matched {
            return write!(f, "the VPP API matches collection `{name}`");
        }
        if self.collections.is_empty() {
            return write!(f, "no CRC collection to check against");
        }
        write!(f, "the VPP API matches no CRC collection:")?;
        for collection in &self.collections {
            write!(
                f,
                "\n  {}: {} of {} messages differ",
                collection.name,
                collection.conflicts.len(),
                collection.checked
            )?;
            for c in collection.conflicts.iter().take(10) {
                match c.found {
                    Some(found) => write!(
                        f,
                        "\n    {}: expected {:#010x}, VPP has {:#010x}",
                        c.message, c.expected, found
                    )?,
                    None => write!(
                        f,
                        "\n    {}: expected {:#010x}, VPP lacks it",
                        c.message, c.expected
                    )?,
                }
            }
            if collection.conflicts.len() > 10 {
                write!(f, "\n    ... and {} more", collection.conflicts.len() - 10)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "
# CSIT shape
vpp-2602:
  control_ping: '0x51077d14'
  show_version: '0x51077d14'
vpp-2510:
  control_ping: '0x51077d14'
";

    #[test]
    fn first_collection_without_conflict_matches() {
        let collections = CrcCollections::from_yaml_str(YAML, "t").unwrap();
        assert_eq!(
            collections.names().collect::<Vec<_>>(),
            ["vpp-2602", "vpp-2510"]
        );
        let found =
            crcs_from_message_table(&["control_ping_51077d14".to_string(), "x_y_1".to_string()]);
        let report = collections.check(&found);
        assert_eq!(report.matched.as_deref(), Some("vpp-2510"));
        assert_eq!(
            report.collections[0].conflicts,
            vec![CrcConflict {
                message: "show_version".into(),
                expected: 0x51077d14,
                found: None
            }]
        );
    }

    #[test]
    fn mismatch_report_names_messages_and_crcs() {
        let collections = CrcCollections::from_yaml_str(YAML, "t").unwrap();
        let found = crcs_from_message_table(&["control_ping_deadbeef".to_string()]);
        let report = collections.check(&found);
        assert!(!report.passed());
        let text = report.to_string();
        assert!(text.contains("matches no CRC collection"), "{text}");
        assert!(
            text.contains("control_ping: expected 0x51077d14, VPP has 0xdeadbeef"),
            "{text}"
        );
        assert!(
            text.contains("show_version: expected 0x51077d14, VPP lacks it"),
            "{text}"
        );
    }

    #[test]
    fn bad_values_and_shapes_are_errors() {
        let bad = CrcCollections::from_yaml_str("c:\n  m: 'zz'\n", "f.yaml").unwrap_err();
        assert_eq!(
            bad.to_string(),
            "f.yaml: collection `c`, message `m`: bad CRC `zz`"
        );
        assert!(matches!(
            CrcCollections::from_yaml_str("- a\n- b\n", "f.yaml"),
            Err(CrcFileError::Shape { .. })
        ));
    }
}
