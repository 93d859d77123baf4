//! Sidecar index of a trace: find every record of one walk without scanning the trace.
//!
//! File `trace.idx` beside `trace.jsonl` (see [`index_path_for`]), little-endian:
//! - 24-byte header: magic `LDKTIDX1`, the trace length in bytes it describes (u64), the
//!   entry count (u64);
//! - entries of 20 bytes: walk id (u64), byte offset of the record's line (u64), line length
//!   including the newline (u32), sorted by (walk id, offset).
//!
//! There is one entry per `step` and `walk_end` record, so walks whose records interleave
//! (parallel walks, epochs) are found completely. Lookup = binary search with positioned
//! reads + one positioned read per record: O(log n) small reads, no loading.
//!
//! Invariants: an index is *fresh* only if its recorded trace length equals the trace's
//! current length and its size matches its entry count; otherwise [`TraceIndex::open`]
//! rebuilds it with one scan of the trace (so a trace still being written is rescanned at
//! every open; its newest records appear once the scan reaches them). Every record returned by a lookup is verified to
//! belong to the walk asked for ([`TraceError::StaleIndex`] otherwise). The writer and the
//! rebuild sort entries with bounded memory: runs of [`SPILL_ENTRIES`] entries are sorted
//! and spilled to temporary files beside the index, then merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::plan::WalkId;
use super::trace::{LineScanner, TRACE_VERSION, TraceError, TraceRecord};

const MAGIC: &[u8; 8] = b"LDKTIDX1";
const HEADER_LEN: u64 = 24;
const ENTRY_LEN: u64 = 20;
/// Entries held in memory before a sorted run is spilled to disk (24 MiB).
pub const SPILL_ENTRIES: usize = 1 << 20;

/// Where one record of a walk lives in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    /// Walk id of the record.
    pub walk_id: WalkId,
    /// Byte offset of the record's line.
    pub offset: u64,
    /// Line length in bytes, newline included.
    pub length: u32,
}

impl IndexEntry {
    fn encode(&self) -> [u8; ENTRY_LEN as usize] {
        let mut bytes = [0u8; ENTRY_LEN as usize];
        bytes[..8].copy_from_slice(&self.walk_id.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.offset.to_le_bytes());
        bytes[16..].copy_from_slice(&self.length.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> IndexEntry {
        let mut walk_id = [0u8; 8];
        let mut offset = [0u8; 8];
        let mut length = [0u8; 4];
        walk_id.copy_from_slice(&bytes[..8]);
        offset.copy_from_slice(&bytes[8..16]);
        length.copy_from_slice(&bytes[16..20]);
        IndexEntry {
            walk_id: u64::from_le_bytes(walk_id),
            offset: u64::from_le_bytes(offset),
            length: u32::from_le_bytes(length),
        }
    }
}

/// The index path of a trace: the trace path with extension `idx` (`run/trace.jsonl` →
/// `run/trace.idx`), or with `.idx` appended if the trace itself ends in `.idx`.
pub fn index_path_for(trace_path: &Path) -> PathBuf {
    if trace_path.extension().is_some_and(|ext| ext == "idx") {
        let mut name = trace_path.as_os_str().to_owned();
        name.push(".idx");
        PathBuf::from(name)
    } else {
        trace_path.with_extension("idx")
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TraceError + '_ {
    move |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Collects entries in any order and writes a sorted index with bounded memory.
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    index_path: PathBuf,
    pending: Vec<IndexEntry>,
    runs: Vec<PathBuf>,
    spill_threshold: usize,
}

impl IndexBuilder {
    pub(crate) fn new(index_path: PathBuf) -> IndexBuilder {
        IndexBuilder::with_spill_threshold(index_path, SPILL_ENTRIES)
    }

    fn with_spill_threshold(index_path: PathBuf, spill_threshold: usize) -> IndexBuilder {
        IndexBuilder {
            index_path,
            pending: Vec::new(),
            runs: Vec::new(),
            spill_threshold: spill_threshold.max(1),
        }
    }

    pub(crate) fn push(&mut self, entry: IndexEntry) -> Result<(), TraceError> {
        self.pending.push(entry);
        if self.pending.len() >= self.spill_threshold {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), TraceError> {
        self.pending.sort_unstable();
        let run_path = suffixed(&self.index_path, &format!(".run{}", self.runs.len()));
        let file = File::create(&run_path).map_err(io_error(&run_path))?;
        self.runs.push(run_path.clone());
        let mut out = BufWriter::new(file);
        for entry in &self.pending {
            out.write_all(&entry.encode())
                .map_err(io_error(&run_path))?;
        }
        out.flush().map_err(io_error(&run_path))?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the index for a trace of `trace_len` bytes (atomically: temp file + rename).
    pub(crate) fn finish(mut self, trace_len: u64) -> Result<(), TraceError> {
        if !self.runs.is_empty() && !self.pending.is_empty() {
            self.spill()?;
        }
        let temp_path = suffixed(&self.index_path, ".tmp");
        let file = File::create(&temp_path).map_err(io_error(&temp_path))?;
        let mut out = BufWriter::new(file);
        let write_error = io_error(&temp_path);
        let mut count: u64 = 0;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&trace_len.to_le_bytes());
        header.extend_from_slice(&0u64.to_le_bytes());
        let result = (|| {
            out.write_all(&header)?;
            if self.runs.is_empty() {
                self.pending.sort_unstable();
                for entry in &self.pending {
                    out.write_all(&entry.encode())?;
                }
                count = self.pending.len() as u64;
            } else {
                count = merge_runs(&self.runs, &mut out)?;
            }
            out.flush()?;
            let file = out.get_mut();
            file.write_all_at(&count.to_le_bytes(), 16)?;
            file.sync_all()
        })();
        result.map_err(write_error)?;
        fs::rename(&temp_path, &self.index_path).map_err(io_error(&self.index_path))?;
        Ok(())
    }
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        for run in &self.runs {
            // Best effort: a leftover run file is harmless and is overwritten next time.
            let _ = fs::remove_file(run);
        }
    }
}

/// K-way merge of sorted run files into `out`; returns the number of entries written.
fn merge_runs(runs: &[PathBuf], out: &mut impl Write) -> std::io::Result<u64> {
    let mut readers = runs
        .iter()
        .map(|run| File::open(run).map(|file| BufReader::with_capacity(1 << 16, file)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (run_number, reader) in readers.iter_mut().enumerate() {
        if let Some(entry) = read_entry(reader)? {
            heap.push(Reverse((entry, run_number)));
        }
    }
    let mut count = 0u64;
    while let Some(Reverse((entry, run_number))) = heap.pop() {
        out.write_all(&entry.encode())?;
        count += 1;
        if let Some(next) = read_entry(&mut readers[run_number])? {
            heap.push(Reverse((next, run_number)));
        }
    }
    Ok(count)
}

fn read_entry(reader: &mut impl Read) -> std::io::Result<Option<IndexEntry>> {
    let mut bytes = [0u8; ENTRY_LEN as usize];
    match reader.read_exact(&mut bytes) {
        Ok(()) => Ok(Some(IndexEntry::decode(&bytes))),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(error) => Err(error),
    }
}

/// Why an index was rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// No index file.
    Missing,
    /// The trace changed size since indexing (still being written, or replaced).
    Stale {
        /// Trace length recorded in the index.
        indexed_len: u64,
        /// Trace length now.
        trace_len: u64,
    },
    /// The index file is damaged.
    Invalid(String),
}

/// Whether [`TraceIndex::open`] used the existing index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// The sidecar index was valid and used as is.
    Fresh,
    /// The sidecar index was (re)built by scanning the trace.
    Rebuilt(RebuildReason),
}

/// An open trace with its sidecar index, for lookups by walk id.
#[derive(Debug)]
pub struct TraceIndex {
    trace_path: PathBuf,
    trace: File,
    index: File,
    entry_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RecordKind {
    Header,
    Step,
    WalkEnd,
    Footer,
}

#[derive(Deserialize)]
struct RecordProbe {
    v: u64,
    #[serde(rename = "type")]
    kind: RecordKind,
    #[serde(default)]
    walk_id: Option<WalkId>,
}

impl TraceIndex {
    /// Opens the trace and its index, rebuilding the index when missing, stale or invalid.
    pub fn open(trace_path: impl AsRef<Path>) -> Result<(TraceIndex, IndexStatus), TraceError> {
        let trace_path = trace_path.as_ref();
        match Self::open_existing(trace_path, false)? {
            Ok(index) => Ok((index, IndexStatus::Fresh)),
            Err(reason) => Ok((Self::rebuild(trace_path)?, IndexStatus::Rebuilt(reason))),
        }
    }

    /// The existing index if fresh, else why not. With `accept_grown`, an index of a prefix of
    /// the trace is accepted (the trace grew after the scan: a run still writing).
    fn open_existing(
        trace_path: &Path,
        accept_grown: bool,
    ) -> Result<Result<TraceIndex, RebuildReason>, TraceError> {
        let index_path = index_path_for(trace_path);
        let trace = File::open(trace_path).map_err(io_error(trace_path))?;
        let index = match File::open(&index_path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(RebuildReason::Missing));
            }
            Err(error) => return Err(io_error(&index_path)(error)),
        };
        let trace_len = trace.metadata().map_err(io_error(trace_path))?.len();
        let index_len = index.metadata().map_err(io_error(&index_path))?.len();
        let mut header = [0u8; HEADER_LEN as usize];
        if index_len < HEADER_LEN || index.read_exact_at(&mut header, 0).is_err() {
            return Ok(Err(RebuildReason::Invalid(
                "shorter than its header".into(),
            )));
        }
        if &header[..8] != MAGIC {
            return Ok(Err(RebuildReason::Invalid("wrong magic".into())));
        }
        let mut field = [0u8; 8];
        field.copy_from_slice(&header[8..16]);
        let indexed_len = u64::from_le_bytes(field);
        field.copy_from_slice(&header[16..24]);
        let entry_count = u64::from_le_bytes(field);
        let expected_len = entry_count
            .checked_mul(ENTRY_LEN)
            .and_then(|bytes| bytes.checked_add(HEADER_LEN));
        if expected_len != Some(index_len) {
            return Ok(Err(RebuildReason::Invalid(format!(
                "{index_len} bytes for {entry_count} entries"
            ))));
        }
        let grown_ok = accept_grown && indexed_len < trace_len;
        if indexed_len != trace_len && !grown_ok {
            return Ok(Err(RebuildReason::Stale {
                indexed_len,
                trace_len,
            }));
        }
        Ok(Ok(TraceIndex {
            trace_path: trace_path.to_path_buf(),
            trace,
            index,
            entry_count,
        }))
    }

    /// Rebuilds the sidecar index with one scan of the trace and opens it. A garbled last
    /// line is skipped (as the reader does); a garbled line elsewhere is an error.
    pub fn rebuild(trace_path: impl AsRef<Path>) -> Result<TraceIndex, TraceError> {
        let trace_path = trace_path.as_ref();
        let index_path = index_path_for(trace_path);
        let mut scanner = LineScanner::open(trace_path)?;
        let mut builder = IndexBuilder::new(index_path.clone());
        while let Some(line) = scanner.next_line()? {
            let probe: RecordProbe = match serde_json::from_slice(&line.bytes) {
                Ok(probe) => probe,
                Err(_) if line.is_last => continue,
                Err(source) => {
                    return Err(TraceError::Json {
                        path: trace_path.to_path_buf(),
                        line: line.number,
                        source,
                    });
                }
            };
            if probe.v != TRACE_VERSION {
                return Err(TraceError::UnsupportedVersion {
                    path: trace_path.to_path_buf(),
                    line: line.number,
                    found: probe.v,
                });
            }
            if let (RecordKind::Step | RecordKind::WalkEnd, Some(walk_id)) =
                (probe.kind, probe.walk_id)
            {
                builder.push(IndexEntry {
                    walk_id,
                    offset: line.offset,
                    length: u32::try_from(line.bytes.len()).unwrap_or(u32::MAX),
                })?;
            }
        }
        builder.finish(scanner.offset())?;
        // A run still writing may have appended since the scan: the index covers the part
        // scanned, which is what this lookup can see anyway.
        match Self::open_existing(trace_path, true)? {
            Ok(index) => Ok(index),
            Err(reason) => Err(TraceError::CorruptIndex {
                path: index_path,
                reason: format!("just rebuilt but not usable: {reason:?}"),
            }),
        }
    }

    /// Number of indexed records.
    pub fn entry_count(&self) -> u64 {
        self.entry_count
    }

    fn entry_at(&self, position: u64) -> Result<IndexEntry, TraceError> {
        let mut bytes = [0u8; ENTRY_LEN as usize];
        self.index
            .read_exact_at(&mut bytes, HEADER_LEN + position * ENTRY_LEN)
            .map_err(io_error(&index_path_for(&self.trace_path)))?;
        Ok(IndexEntry::decode(&bytes))
    }

    /// Index entries of one walk, in file order. O(log n) positioned reads.
    pub fn entries_for(&self, walk_id: WalkId) -> Result<Vec<IndexEntry>, TraceError> {
        let (mut low, mut high) = (0u64, self.entry_count);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.entry_at(middle)?.walk_id < walk_id {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let mut entries = Vec::new();
        let mut position = low;
        while position < self.entry_count {
            let entry = self.entry_at(position)?;
            if entry.walk_id != walk_id {
                break;
            }
            entries.push(entry);
            position += 1;
        }
        Ok(entries)
    }

    /// Every `step` and `walk_end` record of one walk, in file order (empty if the walk is
    /// not in the trace).
    pub fn walk_records(&self, walk_id: WalkId) -> Result<Vec<TraceRecord>, TraceError> {
        self.entries_for(walk_id)?
            .into_iter()
            .map(|entry| {
                let stale = || TraceError::StaleIndex {
                    path: self.trace_path.clone(),
                    offset: entry.offset,
                    walk_id,
                };
                let mut line = vec![0u8; entry.length as usize];
                self.trace
                    .read_exact_at(&mut line, entry.offset)
                    .map_err(|_| stale())?;
                let record =
                    TraceRecord::from_line(&line, &self.trace_path, 0).map_err(|_| stale())?;
                if record.walk_id() == Some(walk_id) {
                    Ok(record)
                } else {
                    Err(stale())
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_bytes() {
        let entry = IndexEntry {
            walk_id: u64::MAX - 3,
            offset: 1 << 40,
            length: 77,
        };
        assert_eq!(IndexEntry::decode(&entry.encode()), entry);
    }

    #[test]
    fn index_path_replaces_extension() {
        assert_eq!(
            index_path_for(Path::new("run/trace.jsonl")),
            PathBuf::from("run/trace.idx")
        );
        assert_eq!(
            index_path_for(Path::new("run/odd.idx")),
            PathBuf::from("run/odd.idx.idx")
        );
    }

    #[test]
    fn spilled_runs_merge_in_order() {
        let directory = tempfile::tempdir().unwrap();
        let runs: Vec<PathBuf> = (0..3)
            .map(|run| {
                let path = directory.path().join(format!("run{run}"));
                let mut file = File::create(&path).unwrap();
                for walk_id in (run..30).step_by(3) {
                    let entry = IndexEntry {
                        walk_id,
                        offset: walk_id * 10,
                        length: 1,
                    };
                    file.write_all(&entry.encode()).unwrap();
                }
                path
            })
            .collect();
        let mut merged = Vec::new();
        assert_eq!(merge_runs(&runs, &mut merged).unwrap(), 30);
        let ids: Vec<u64> = merged
            .chunks(ENTRY_LEN as usize)
            .map(|bytes| IndexEntry::decode(bytes).walk_id)
            .collect();
        assert_eq!(ids, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn builder_spills_and_merges_into_a_sorted_index() {
        let directory = tempfile::tempdir().unwrap();
        let index_path = directory.path().join("t.idx");
        let mut builder = IndexBuilder::with_spill_threshold(index_path.clone(), 7);
        let mut expected = Vec::new();
        for position in 0..100u64 {
            let entry = IndexEntry {
                walk_id: (position * 37) % 23,
                offset: position * 5,
                length: 5,
            };
            expected.push(entry);
            builder.push(entry).unwrap();
        }
        assert!(builder.runs.len() >= 14);
        let run_paths = builder.runs.clone();
        builder.finish(500).unwrap();
        expected.sort();
        let bytes = fs::read(&index_path).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 500);
        assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 100);
        let written: Vec<IndexEntry> = bytes[HEADER_LEN as usize..]
            .chunks(ENTRY_LEN as usize)
            .map(IndexEntry::decode)
            .collect();
        assert_eq!(written, expected);
        assert!(
            run_paths.iter().all(|run| !run.exists()),
            "run files removed"
        );
    }
}
