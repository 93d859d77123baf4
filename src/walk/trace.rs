//! Run traces: JSON lines recording a run's header, every step, every walk end and a footer.
//!
//! Format (version 1): one JSON object per line, each with `"v": 1` and a `"type"` of
//! `header`, `step`, `walk_end` or `footer` (see [`TraceRecord`]). Timestamps
//! (`started_at`) are **unix milliseconds** (UTC) as integers; durations are milliseconds.
//!
//! Invariants kept by [`TraceWriter`]:
//! - the first line is the header, the footer (if any) is the last line;
//! - every record reaches the OS in one `write` as soon as it is written; the file is
//!   fsynced at every `walk_end` (or once per batch of them, with
//!   [`TraceWriter::write_walk_end_unsynced`] and [`TraceWriter::sync`]) and at the footer,
//!   so a crash loses at most the steps of unfinished walks and leaves at most one partial
//!   last line;
//! - `recipe_digest` is the sha256 (lower-case hex) of `recipe_text`;
//! - `output_excerpt` is at most [`OUTPUT_EXCERPT_LIMIT`] bytes (head and tail kept);
//! - `output_file` is a relative path without `..`;
//! - on [`TraceWriter::finish`] the sidecar index (see [`super::trace_index`]) is written.
//!
//! [`TraceReader`] tolerates a truncated or garbled **last** line (a crash) with a warning;
//! a bad line anywhere else is an error naming its line number. A missing footer means the
//! run was interrupted: reported, not an error.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::plan::WalkId;
use super::trace_index::{IndexBuilder, IndexEntry, index_path_for};

/// Trace format version written in every record's `v` field.
pub const TRACE_VERSION: u64 = 1;

/// Largest `output_excerpt` the writer stores, in bytes.
pub const OUTPUT_EXCERPT_LIMIT: usize = 4096;

/// Outcome of a step or a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded.
    Pass,
    /// Ran and failed (a test failure).
    Fail,
    /// Could not run as intended (infrastructure problem, timeout, crash).
    Error,
    /// Not run: a pre-run check found the combination meaningless.
    Skip,
    /// Stopped by an action that cancelled the walk (not a failure) or by the user.
    Cancel,
}

impl Outcome {
    /// Every outcome, in the order of [`Outcome::slot`].
    pub const ALL: [Outcome; 5] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Error,
        Outcome::Cancel,
        Outcome::Skip,
    ];

    /// A dense index (pass, fail, error, cancel, skip) for per-outcome counters.
    pub fn slot(self) -> usize {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Error => 2,
            Outcome::Cancel => 3,
            Outcome::Skip => 4,
        }
    }
}

/// First record: what ran, with what, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Recipe name.
    pub recipe_name: String,
    /// sha256 of `recipe_text`, lower-case hex.
    pub recipe_digest: String,
    /// The recipe source as run.
    pub recipe_text: String,
    /// Recipe parameters as given.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Digest of the pool description used to map testbeds.
    pub pool_digest: String,
    /// One role → machine map per testbed; a step's `testbed` indexes this list.
    pub testbeds: Vec<BTreeMap<String, String>>,
    /// Walk strategy string (`full`, `pairwise`, `t=N`, `random:N:SEED`).
    pub strategy: String,
    /// Run start, unix milliseconds.
    pub started_at: u64,
}

impl Header {
    /// A header for `recipe_text` with its digest computed, started now, and empty params,
    /// pool digest and testbeds (fill the public fields as needed).
    pub fn new(
        recipe_name: impl Into<String>,
        recipe_text: impl Into<String>,
        strategy: impl Into<String>,
    ) -> Header {
        let recipe_text = recipe_text.into();
        Header {
            recipe_name: recipe_name.into(),
            recipe_digest: sha256_hex(recipe_text.as_bytes()),
            recipe_text,
            params: BTreeMap::new(),
            pool_digest: String::new(),
            testbeds: Vec::new(),
            strategy: strategy.into(),
            started_at: unix_millis_now(),
        }
    }
}

/// One action of one walk on one testbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Walk id (full-product index).
    pub walk_id: WalkId,
    /// Index into the header's `testbeds`.
    pub testbed: usize,
    /// Action name.
    pub action: String,
    /// The option value the walk chose for this action.
    pub option: serde_json::Value,
    /// The shell command as rendered (after quoting), if the action runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Step start, unix milliseconds.
    pub started_at: u64,
    /// Wall time of the step.
    pub duration_ms: u64,
    /// Exit status of the command, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// Step outcome.
    pub outcome: Outcome,
    /// Bounded excerpt of the output (head and tail), at most [`OUTPUT_EXCERPT_LIMIT`] bytes.
    #[serde(default)]
    pub output_excerpt: String,
    /// Full output, relative to the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

/// End of one walk on one testbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkEnd {
    /// Walk id.
    pub walk_id: WalkId,
    /// Index into the header's `testbeds`.
    pub testbed: usize,
    /// Walk outcome.
    pub outcome: Outcome,
    /// Wall time of the whole walk.
    pub duration_ms: u64,
    /// Name of the action that failed, errored or cancelled, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_action: Option<String>,
}

/// Last record: totals of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    /// Number of `walk_end` records.
    pub walk_count: u64,
    /// Walks that passed.
    pub passed: u64,
    /// Walks that failed.
    pub failed: u64,
    /// Walks that ended in an error.
    pub errors: u64,
    /// Walks cancelled.
    pub cancelled: u64,
    /// Walks skipped.
    pub skipped: u64,
    /// Walk segments executed (one per walk per epoch it ran in).
    pub segment_count: u64,
    /// Run wall time.
    pub elapsed_ms: u64,
    /// Ids of walks that failed or errored, in the order they ended.
    pub failed_ids: Vec<WalkId>,
}

/// Any trace record. Serialised with `"type"` as tag and `"v"` beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceRecord {
    /// See [`Header`].
    Header(Header),
    /// See [`Step`].
    Step(Step),
    /// See [`WalkEnd`].
    WalkEnd(WalkEnd),
    /// See [`Footer`].
    Footer(Footer),
}

impl TraceRecord {
    /// The walk this record belongs to (steps and walk ends).
    pub fn walk_id(&self) -> Option<WalkId> {
        match self {
            TraceRecord::Step(step) => Some(step.walk_id),
            TraceRecord::WalkEnd(end) => Some(end.walk_id),
            TraceRecord::Header(_) | TraceRecord::Footer(_) => None,
        }
    }

    /// The record as one trace line, with `"v"` and a trailing newline.
    pub fn to_line(&self) -> Result<Vec<u8>, TraceError> {
        let mut line = serde_json::to_vec(&VersionedOut {
            v: TRACE_VERSION,
            record: self,
        })
        .map_err(|source| TraceError::Encode { source })?;
        line.push(b'\n');
        Ok(line)
    }

    /// Parses one trace line (without requiring the newline). `line_number` and `path` only
    /// label errors.
    pub fn from_line(bytes: &[u8], path: &Path, line_number: usize) -> Result<Self, TraceError> {
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|source| TraceError::Json {
                path: path.to_path_buf(),
                line: line_number,
                source,
            })?;
        if probe.v != TRACE_VERSION {
            return Err(TraceError::UnsupportedVersion {
                path: path.to_path_buf(),
                line: line_number,
                found: probe.v,
            });
        }
        serde_json::from_slice::<VersionedIn>(bytes)
            .map(|versioned| versioned.record)
            .map_err(|source| TraceError::Json {
                path: path.to_path_buf(),
                line: line_number,
                source,
            })
    }
}

#[derive(Serialize)]
struct VersionedOut<'a> {
    v: u64,
    #[serde(flatten)]
    record: &'a TraceRecord,
}

#[derive(Deserialize)]
struct VersionedIn {
    #[serde(flatten)]
    record: TraceRecord,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: u64,
}

/// Errors writing or reading traces and their index.
#[derive(Debug, Error)]
pub enum TraceError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// A line in the middle of a trace is not a valid record.
    #[error("{path}:{line}: not a valid trace record: {source}")]
    Json {
        /// Trace file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Cause.
        source: serde_json::Error,
    },
    /// A record of another format version.
    #[error(
        "{path}:{line}: trace format version {found} is not supported (this build reads version 1)"
    )]
    UnsupportedVersion {
        /// Trace file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The `v` found.
        found: u64,
    },
    /// The first record is not a header (or the file is empty).
    #[error("{path}: the trace does not start with a header record")]
    MissingHeader {
        /// Trace file.
        path: PathBuf,
    },
    /// A header after the first line.
    #[error("{path}:{line}: a second header record")]
    UnexpectedHeader {
        /// Trace file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A record after the footer.
    #[error("{path}:{line}: a record after the footer")]
    RecordAfterFooter {
        /// Trace file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A record could not be serialised.
    #[error("cannot encode a trace record: {source}")]
    Encode {
        /// Cause.
        source: serde_json::Error,
    },
    /// The header's digest is not the sha256 of its recipe text.
    #[error("recipe digest {found} is not the sha256 of the recipe text ({expected})")]
    DigestMismatch {
        /// sha256 of the recipe text.
        expected: String,
        /// Digest given.
        found: String,
    },
    /// `output_file` is absolute or leaves the run directory.
    #[error("output file {path:?} must be a relative path inside the run directory")]
    OutputFileNotRelative {
        /// Path given.
        path: String,
    },
    /// The index file is not a valid index.
    #[error("{path}: not a valid trace index: {reason}")]
    CorruptIndex {
        /// Index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An index entry does not point at a record of the walk it names.
    #[error(
        "{path}: the index entry at byte {offset} is not a record of walk {walk_id}; the index is stale (rebuild it)"
    )]
    StaleIndex {
        /// Trace file.
        path: PathBuf,
        /// Byte offset of the entry.
        offset: u64,
        /// Walk looked up.
        walk_id: WalkId,
    },
}

/// Something a reader tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceWarning {
    /// The last line is incomplete or garbled (the writer was killed mid-line); it was
    /// ignored.
    TruncatedLastLine {
        /// 1-based line number.
        line: usize,
        /// Bytes in that line.
        bytes: usize,
    },
    /// No footer: the run was interrupted (or is still running).
    MissingFooter,
}

impl std::fmt::Display for TraceWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceWarning::TruncatedLastLine { line, bytes } => write!(
                f,
                "line {line} ({bytes} bytes) is truncated or garbled and was ignored (the run was cut off while writing it)"
            ),
            TraceWarning::MissingFooter => {
                write!(f, "no footer: the run was interrupted or is still running")
            }
        }
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Current time as unix milliseconds (0 if the clock is before 1970).
pub fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `text` cut to at most `limit` bytes on character boundaries, keeping the head and the
/// tail around a `…[N bytes elided]…` marker. Returned unchanged when it fits.
pub fn bounded_excerpt(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    // "…[N bytes elided]…" is at most 6 + 1 + 20 + 14 = 41 bytes.
    let marker_room = 48;
    if limit <= marker_room {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        return text[..end].to_string();
    }
    let keep = limit - marker_room;
    let mut head_end = keep / 2;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - (keep - head_end);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let elided = tail_start - head_end;
    format!(
        "{}…[{elided} bytes elided]…{}",
        &text[..head_end],
        &text[tail_start..]
    )
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TraceError + '_ {
    move |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends records to a new trace file. See the module invariants.
///
/// All calls are blocking file I/O (with fsyncs); from async code run the writer on a
/// blocking thread.
#[derive(Debug)]
pub struct TraceWriter {
    path: PathBuf,
    file: File,
    offset: u64,
    index: IndexBuilder,
    tally: Tally,
}

#[derive(Debug, Default)]
struct Tally {
    walk_count: u64,
    passed: u64,
    failed: u64,
    errors: u64,
    cancelled: u64,
    skipped: u64,
    failed_ids: Vec<WalkId>,
}

impl TraceWriter {
    /// Creates `path` (which must not exist) and writes the header, fsynced.
    pub fn create(path: impl AsRef<Path>, header: &Header) -> Result<TraceWriter, TraceError> {
        let path = path.as_ref().to_path_buf();
        let expected = sha256_hex(header.recipe_text.as_bytes());
        if header.recipe_digest != expected {
            return Err(TraceError::DigestMismatch {
                expected,
                found: header.recipe_digest.clone(),
            });
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        // Make the new directory entry durable too.
        if let Some(directory) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(directory)
                .and_then(|d| d.sync_all())
                .map_err(io_error(directory))?;
        }
        let index = IndexBuilder::new(index_path_for(&path));
        let mut writer = TraceWriter {
            path,
            file,
            offset: 0,
            index,
            tally: Tally::default(),
        };
        writer.append(&TraceRecord::Header(header.clone()))?;
        writer.sync()?;
        Ok(writer)
    }

    /// Trace file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a step (flushed to the OS, not fsynced). An over-long `output_excerpt` is
    /// shortened to [`OUTPUT_EXCERPT_LIMIT`] bytes.
    pub fn write_step(&mut self, step: &Step) -> Result<(), TraceError> {
        if let Some(output_file) = &step.output_file {
            check_relative(output_file)?;
        }
        if step.output_excerpt.len() > OUTPUT_EXCERPT_LIMIT {
            let mut bounded = step.clone();
            bounded.output_excerpt = bounded_excerpt(&step.output_excerpt, OUTPUT_EXCERPT_LIMIT);
            self.append(&TraceRecord::Step(bounded))
        } else {
            self.append(&TraceRecord::Step(step.clone()))
        }
    }

    /// Appends a walk end and fsyncs.
    pub fn write_walk_end(&mut self, end: &WalkEnd) -> Result<(), TraceError> {
        self.write_walk_end_unsynced(end)?;
        self.sync()
    }

    /// Appends a walk end without fsyncing: group commit, the caller calls
    /// [`TraceWriter::sync`] once for a batch of records.
    pub fn write_walk_end_unsynced(&mut self, end: &WalkEnd) -> Result<(), TraceError> {
        self.append(&TraceRecord::WalkEnd(end.clone()))?;
        let tally = &mut self.tally;
        tally.walk_count += 1;
        match end.outcome {
            Outcome::Pass => tally.passed += 1,
            Outcome::Fail => tally.failed += 1,
            Outcome::Error => tally.errors += 1,
            Outcome::Cancel => tally.cancelled += 1,
            Outcome::Skip => tally.skipped += 1,
        }
        if matches!(end.outcome, Outcome::Fail | Outcome::Error) {
            tally.failed_ids.push(end.walk_id);
        }
        Ok(())
    }

    /// Writes the footer (totals counted from the walk ends written), fsyncs, writes the
    /// sidecar index and returns the footer.
    pub fn finish(mut self, segment_count: u64, elapsed_ms: u64) -> Result<Footer, TraceError> {
        let tally = std::mem::take(&mut self.tally);
        let footer = Footer {
            walk_count: tally.walk_count,
            passed: tally.passed,
            failed: tally.failed,
            errors: tally.errors,
            cancelled: tally.cancelled,
            skipped: tally.skipped,
            segment_count,
            elapsed_ms,
            failed_ids: tally.failed_ids,
        };
        self.append(&TraceRecord::Footer(footer.clone()))?;
        self.sync()?;
        self.index.finish(self.offset)?;
        Ok(footer)
    }

    fn append(&mut self, record: &TraceRecord) -> Result<(), TraceError> {
        let line = record.to_line()?;
        self.file.write_all(&line).map_err(io_error(&self.path))?;
        let length = line.len() as u64;
        if let Some(walk_id) = record.walk_id() {
            self.index.push(IndexEntry {
                walk_id,
                offset: self.offset,
                length: u32::try_from(length).unwrap_or(u32::MAX),
            })?;
        }
        self.offset += length;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> Result<(), TraceError> {
        self.file.sync_data().map_err(io_error(&self.path))
    }
}

fn check_relative(path: &str) -> Result<(), TraceError> {
    let candidate = Path::new(path);
    let escapes = candidate.components().any(|component| {
        matches!(
            component,
            Component::RootDir | Component::Prefix(_) | Component::ParentDir
        )
    });
    if path.is_empty() || escapes {
        return Err(TraceError::OutputFileNotRelative {
            path: path.to_string(),
        });
    }
    Ok(())
}

/// One line of a trace, split but not parsed.
#[derive(Debug)]
pub(crate) struct RawLine {
    /// 1-based line number.
    pub(crate) number: usize,
    /// Byte offset of the line start.
    pub(crate) offset: u64,
    /// Line bytes including the newline, if present.
    pub(crate) bytes: Vec<u8>,
    /// Nothing follows this line.
    pub(crate) is_last: bool,
}

/// Splits a trace into lines, tracking offsets and whether a line is the last.
#[derive(Debug)]
pub(crate) struct LineScanner {
    path: PathBuf,
    reader: BufReader<File>,
    number: usize,
    offset: u64,
}

impl LineScanner {
    pub(crate) fn open(path: &Path) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(io_error(path))?;
        Ok(LineScanner {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            number: 0,
            offset: 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<RawLine>, TraceError> {
        let mut bytes = Vec::with_capacity(256);
        let read = self
            .reader
            .read_until(b'\n', &mut bytes)
            .map_err(io_error(&self.path))?;
        if read == 0 {
            return Ok(None);
        }
        let is_last = self
            .reader
            .fill_buf()
            .map_err(io_error(&self.path))?
            .is_empty();
        self.number += 1;
        let line = RawLine {
            number: self.number,
            offset: self.offset,
            bytes,
            is_last,
        };
        self.offset += read as u64;
        Ok(Some(line))
    }
}

/// A parsed record with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset of the line.
    pub offset: u64,
    /// The record.
    pub record: TraceRecord,
}

/// Streams the records of a trace, checking structure (header first, nothing after the
/// footer) and collecting [`TraceWarning`]s. Constant memory.
#[derive(Debug)]
pub struct TraceReader {
    scanner: LineScanner,
    seen_header: bool,
    seen_footer: bool,
    finished: bool,
    warnings: Vec<TraceWarning>,
}

impl TraceReader {
    /// Opens a trace for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<TraceReader, TraceError> {
        Ok(TraceReader {
            scanner: LineScanner::open(path.as_ref())?,
            seen_header: false,
            seen_footer: false,
            finished: false,
            warnings: Vec::new(),
        })
    }

    /// Warnings so far; complete once the iterator returned `None`.
    pub fn warnings(&self) -> &[TraceWarning] {
        &self.warnings
    }

    fn next_entry(&mut self) -> Result<Option<TraceEntry>, TraceError> {
        loop {
            let Some(line) = self.scanner.next_line()? else {
                if !self.seen_header {
                    return Err(TraceError::MissingHeader {
                        path: self.scanner.path().to_path_buf(),
                    });
                }
                if !self.seen_footer {
                    self.warnings.push(TraceWarning::MissingFooter);
                }
                return Ok(None);
            };
            let path = self.scanner.path();
            let record = match TraceRecord::from_line(&line.bytes, path, line.number) {
                Ok(record) => record,
                Err(TraceError::Json { .. }) if line.is_last => {
                    self.warnings.push(TraceWarning::TruncatedLastLine {
                        line: line.number,
                        bytes: line.bytes.len(),
                    });
                    continue;
                }
                Err(error) => return Err(error),
            };
            let path = path.to_path_buf();
            if self.seen_footer {
                return Err(TraceError::RecordAfterFooter {
                    path,
                    line: line.number,
                });
            }
            match (&record, self.seen_header) {
                (TraceRecord::Header(_), false) => self.seen_header = true,
                (TraceRecord::Header(_), true) => {
                    return Err(TraceError::UnexpectedHeader {
                        path,
                        line: line.number,
                    });
                }
                (_, false) => return Err(TraceError::MissingHeader { path }),
                (TraceRecord::Footer(_), true) => self.seen_footer = true,
                _ => {}
            }
            return Ok(Some(TraceEntry {
                line: line.number,
                offset: line.offset,
                record,
            }));
        }
    }
}

impl Iterator for TraceReader {
    type Item = Result<TraceEntry, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

/// A whole trace in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceContents {
    /// The header.
    pub header: Header,
    /// Steps and walk ends, in file order.
    pub records: Vec<TraceRecord>,
    /// The footer, if the run finished.
    pub footer: Option<Footer>,
    /// What the reader tolerated.
    pub warnings: Vec<TraceWarning>,
}

impl TraceContents {
    /// True when the footer is missing: the run was interrupted or is still running.
    pub fn is_interrupted(&self) -> bool {
        self.footer.is_none()
    }
}

/// Reads a whole trace into memory (for small traces; stream with [`TraceReader`] or look
/// walks up with [`super::trace_index::TraceIndex`] for large ones).
pub fn read_trace(path: impl AsRef<Path>) -> Result<TraceContents, TraceError> {
    let mut reader = TraceReader::open(path.as_ref())?;
    let mut header = None;
    let mut records = Vec::new();
    let mut footer = None;
    for entry in reader.by_ref() {
        match entry?.record {
            TraceRecord::Header(found) => header = Some(found),
            TraceRecord::Footer(found) => footer = Some(found),
            other => records.push(other),
        }
    }
    let header = header.ok_or_else(|| TraceError::MissingHeader {
        path: path.as_ref().to_path_buf(),
    })?;
    Ok(TraceContents {
        header,
        records,
        footer,
        warnings: reader.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_head_and_tail_within_limit() {
        let text = "é".repeat(5000);
        let bounded = bounded_excerpt(&text, 100);
        assert!(bounded.len() <= 100, "{}", bounded.len());
        assert!(bounded.starts_with('é') && bounded.ends_with('é'));
        assert!(bounded.contains("bytes elided"));
        assert_eq!(bounded_excerpt("short", 100), "short");
    }

    #[test]
    fn output_file_must_stay_inside_the_run() {
        assert!(check_relative("out/walk-3.log").is_ok());
        assert!(check_relative("/etc/passwd").is_err());
        assert!(check_relative("../x").is_err());
        assert!(check_relative("").is_err());
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
