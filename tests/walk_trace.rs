//! Run traces: writer/reader round trip, crash tolerance, errors, and the walk index.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use labdeck::walk::trace::{OUTPUT_EXCERPT_LIMIT, sha256_hex};
use labdeck::walk::trace_index::index_path_for;
use labdeck::walk::{
    Footer, Header, IndexStatus, Outcome, RebuildReason, Step, TraceError, TraceIndex, TraceReader,
    TraceRecord, TraceWarning, TraceWriter, WalkEnd, read_trace,
};
use proptest::prelude::*;
use serde_json::json;

fn header() -> Header {
    let mut header = Header::new("mtu-sweep", "actions: [mtu, ring]\n", "full");
    header.params.insert("mtu".into(), json!([1500, 9000]));
    header.pool_digest = sha256_hex(b"pool");
    header.testbeds = vec![
        [("dut".to_string(), "m1".to_string())]
            .into_iter()
            .collect(),
        [("dut".to_string(), "m2".to_string())]
            .into_iter()
            .collect(),
    ];
    header.started_at = 1_763_900_000_000;
    header
}

fn step(walk_id: u64, action: &str, outcome: Outcome) -> Step {
    Step {
        walk_id,
        testbed: (walk_id % 2) as usize,
        action: action.to_string(),
        option: json!({"value": walk_id}),
        command: Some(format!("ip link set dev eth0 mtu {}", 1500 + walk_id)),
        started_at: 1_763_900_000_000 + walk_id,
        duration_ms: 3,
        exit_status: Some(0),
        outcome,
        output_excerpt: format!("output of {action} in walk {walk_id}"),
        output_file: None,
    }
}

fn walk_end(walk_id: u64, outcome: Outcome) -> WalkEnd {
    WalkEnd {
        walk_id,
        testbed: (walk_id % 2) as usize,
        outcome,
        duration_ms: 10,
        failed_action: (outcome != Outcome::Pass).then(|| "ring".to_string()),
    }
}

/// Writes a trace where walks 0..walks run two steps each, two walks at a time so their
/// records interleave. Returns the trace path and every record written after the header.
fn write_interleaved(directory: &Path, walks: u64, finish: bool) -> (PathBuf, Vec<TraceRecord>) {
    let path = directory.join("trace.jsonl");
    let mut writer = TraceWriter::create(&path, &header()).unwrap();
    let mut written = Vec::new();
    for pair in (0..walks).step_by(2) {
        let lanes: Vec<u64> = (pair..(pair + 2).min(walks)).collect();
        for action in ["mtu", "ring"] {
            for &walk_id in &lanes {
                let outcome = if walk_id % 5 == 3 && action == "ring" {
                    Outcome::Fail
                } else {
                    Outcome::Pass
                };
                let record = step(walk_id, action, outcome);
                writer.write_step(&record).unwrap();
                written.push(TraceRecord::Step(record));
            }
        }
        for &walk_id in &lanes {
            let outcome = if walk_id % 5 == 3 {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            let end = walk_end(walk_id, outcome);
            writer.write_walk_end(&end).unwrap();
            written.push(TraceRecord::WalkEnd(end));
        }
    }
    if finish {
        writer.finish(walks, 1234).unwrap();
    }
    (path, written)
}

fn linear_scan(path: &Path, walk_id: u64) -> Vec<TraceRecord> {
    TraceReader::open(path)
        .unwrap()
        .map(|entry| entry.unwrap().record)
        .filter(|record| record.walk_id() == Some(walk_id))
        .collect()
}

#[test]
fn round_trip_preserves_every_record_and_tallies_the_footer() {
    let directory = tempfile::tempdir().unwrap();
    let (path, written) = write_interleaved(directory.path(), 10, true);
    let contents = read_trace(&path).unwrap();
    assert_eq!(contents.header, header());
    assert_eq!(contents.records, written);
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    assert!(!contents.is_interrupted());
    assert_eq!(
        contents.footer,
        Some(Footer {
            walk_count: 10,
            passed: 8,
            failed: 2,
            errors: 0,
            cancelled: 0,
            skipped: 0,
            segment_count: 10,
            elapsed_ms: 1234,
            failed_ids: vec![3, 8],
        })
    );
}

#[test]
fn every_line_carries_version_and_type() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 3, true);
    let text = fs::read_to_string(&path).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["v"], json!(1), "{line}");
            value["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("header"));
    assert_eq!(types.last().map(String::as_str), Some("footer"));
    assert!(types.iter().any(|kind| kind == "step"));
    assert!(types.iter().any(|kind| kind == "walk_end"));
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["recipe_digest"],
        json!(sha256_hex(b"actions: [mtu, ring]\n"))
    );
}

#[test]
fn truncated_last_line_is_tolerated_with_a_warning() {
    let directory = tempfile::tempdir().unwrap();
    let (path, written) = write_interleaved(directory.path(), 4, false);
    let partial = br#"{"v":1,"type":"step","walk_id":4,"testb"#;
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(partial).unwrap();
    drop(file);
    let line_count = fs::read_to_string(&path).unwrap().lines().count();
    let contents = read_trace(&path).unwrap();
    assert_eq!(contents.records, written);
    assert!(contents.is_interrupted());
    assert_eq!(
        contents.warnings,
        vec![
            TraceWarning::TruncatedLastLine {
                line: line_count,
                bytes: partial.len()
            },
            TraceWarning::MissingFooter
        ]
    );
    assert!(contents.warnings[0].to_string().contains("truncated"));
}

#[test]
fn corrupted_middle_line_is_an_error_naming_the_line() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 4, true);
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = r#"{"v":1,"type":"step","walk_id":"#;
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let error = read_trace(&path).unwrap_err();
    assert!(
        matches!(error, TraceError::Json { line: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(":3:"), "{error}");
    // The index rebuild refuses it too, naming the same line.
    fs::remove_file(index_path_for(&path)).unwrap();
    let rebuild_error = TraceIndex::open(&path).unwrap_err();
    assert!(
        matches!(rebuild_error, TraceError::Json { line: 3, .. }),
        "{rebuild_error:?}"
    );
}

#[test]
fn structural_errors_are_reported() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 2, true);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let no_header = directory.path().join("no-header.jsonl");
    fs::write(&no_header, lines[1..].join("\n") + "\n").unwrap();
    assert!(matches!(
        read_trace(&no_header),
        Err(TraceError::MissingHeader { .. })
    ));

    let empty = directory.path().join("empty.jsonl");
    fs::write(&empty, "").unwrap();
    assert!(matches!(
        read_trace(&empty),
        Err(TraceError::MissingHeader { .. })
    ));

    let after_footer = directory.path().join("after-footer.jsonl");
    fs::write(&after_footer, format!("{text}{}\n", lines[1])).unwrap();
    assert!(matches!(
        read_trace(&after_footer),
        Err(TraceError::RecordAfterFooter { line, .. }) if line == lines.len() + 1
    ));

    let two_headers = directory.path().join("two-headers.jsonl");
    fs::write(&two_headers, format!("{}\n{text}", lines[0])).unwrap();
    assert!(matches!(
        read_trace(&two_headers),
        Err(TraceError::UnexpectedHeader { line: 2, .. })
    ));

    let future = directory.path().join("future.jsonl");
    let bumped = lines[1].replacen(r#""v":1"#, r#""v":2"#, 1);
    fs::write(&future, format!("{}\n{bumped}\n{}\n", lines[0], lines[2])).unwrap();
    assert!(matches!(
        read_trace(&future),
        Err(TraceError::UnsupportedVersion {
            line: 2,
            found: 2,
            ..
        })
    ));
}

#[test]
fn writer_enforces_its_invariants() {
    let directory = tempfile::tempdir().unwrap();
    let mut bad_digest = header();
    bad_digest.recipe_digest = "00".into();
    assert!(matches!(
        TraceWriter::create(directory.path().join("a.jsonl"), &bad_digest),
        Err(TraceError::DigestMismatch { .. })
    ));

    let path = directory.path().join("b.jsonl");
    let mut writer = TraceWriter::create(&path, &header()).unwrap();
    assert!(
        matches!(
            TraceWriter::create(&path, &header()),
            Err(TraceError::Io { .. })
        ),
        "an existing trace is never overwritten"
    );
    let mut absolute = step(0, "mtu", Outcome::Pass);
    absolute.output_file = Some("/tmp/out.log".into());
    assert!(matches!(
        writer.write_step(&absolute),
        Err(TraceError::OutputFileNotRelative { .. })
    ));
    let mut chatty = step(0, "mtu", Outcome::Pass);
    chatty.output_excerpt = "x".repeat(OUTPUT_EXCERPT_LIMIT * 3);
    chatty.output_file = Some("out/walk-0-mtu.log".into());
    writer.write_step(&chatty).unwrap();
    writer.finish(1, 5).unwrap();
    let contents = read_trace(&path).unwrap();
    let TraceRecord::Step(stored) = &contents.records[0] else {
        panic!("expected a step, got {:?}", contents.records[0]);
    };
    assert!(stored.output_excerpt.len() <= OUTPUT_EXCERPT_LIMIT);
    assert!(stored.output_excerpt.contains("bytes elided"));
    assert_eq!(stored.output_file.as_deref(), Some("out/walk-0-mtu.log"));
}

#[test]
fn index_written_at_finish_is_fresh_and_finds_interleaved_walks() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 9, true);
    assert!(index_path_for(&path).exists());
    let (index, status) = TraceIndex::open(&path).unwrap();
    assert_eq!(status, IndexStatus::Fresh);
    assert_eq!(index.entry_count(), 9 * 3);
    for walk_id in 0..9 {
        let found = index.walk_records(walk_id).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found, linear_scan(&path, walk_id));
    }
    assert!(index.walk_records(99).unwrap().is_empty());
}

#[test]
fn missing_or_stale_index_is_rebuilt() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 6, false);
    // Interrupted run: no index was written.
    let (index, status) = TraceIndex::open(&path).unwrap();
    assert_eq!(status, IndexStatus::Rebuilt(RebuildReason::Missing));
    assert_eq!(index.walk_records(5).unwrap(), linear_scan(&path, 5));
    drop(index);
    let (_, status) = TraceIndex::open(&path).unwrap();
    assert_eq!(status, IndexStatus::Fresh);

    // The trace grows (the run went on): the index is stale and rebuilt.
    let before = fs::metadata(&path).unwrap().len();
    let extra = TraceRecord::Step(step(5, "extra", Outcome::Pass));
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&extra.to_line().unwrap()).unwrap();
    file.write_all(br#"{"v":1,"type":"walk_e"#).unwrap();
    drop(file);
    let after = fs::metadata(&path).unwrap().len();
    let (index, status) = TraceIndex::open(&path).unwrap();
    assert_eq!(
        status,
        IndexStatus::Rebuilt(RebuildReason::Stale {
            indexed_len: before,
            trace_len: after
        })
    );
    let found = index.walk_records(5).unwrap();
    assert_eq!(found.last(), Some(&extra));
    assert_eq!(found, linear_scan(&path, 5));

    // A damaged index is replaced.
    fs::write(index_path_for(&path), b"garbage").unwrap();
    let (_, status) = TraceIndex::open(&path).unwrap();
    assert!(matches!(
        status,
        IndexStatus::Rebuilt(RebuildReason::Invalid(_))
    ));
}

#[test]
fn lookup_detects_a_rewritten_trace_of_equal_length() {
    let directory = tempfile::tempdir().unwrap();
    let (path, _) = write_interleaved(directory.path(), 4, true);
    let (index, _) = TraceIndex::open(&path).unwrap();
    // Same length, different walk ids: swap ids 1 and 2 everywhere.
    let text = fs::read_to_string(&path).unwrap();
    let swapped = text
        .replace(r#""walk_id":1,"#, r#""walk_id":X,"#)
        .replace(r#""walk_id":2,"#, r#""walk_id":1,"#)
        .replace(r#""walk_id":X,"#, r#""walk_id":2,"#);
    assert_eq!(swapped.len(), text.len());
    fs::write(&path, swapped).unwrap();
    assert!(matches!(
        index.walk_records(1),
        Err(TraceError::StaleIndex { walk_id: 1, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Walks run in parallel lanes with arbitrary interleaving; the index finds exactly the
    /// records a linear scan finds, for every walk.
    #[test]
    fn index_lookup_matches_linear_scan(
        schedule in proptest::collection::vec((0u64..12, 0usize..3), 1..80),
    ) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("trace.jsonl");
        let mut writer = TraceWriter::create(&path, &header()).unwrap();
        let mut ended = std::collections::BTreeSet::new();
        for (position, &(walk_id, kind)) in schedule.iter().enumerate() {
            if ended.contains(&walk_id) {
                continue;
            }
            if kind == 0 {
                ended.insert(walk_id);
                writer.write_walk_end(&walk_end(walk_id, Outcome::Pass)).unwrap();
            } else {
                writer.write_step(&step(walk_id, &format!("a{position}"), Outcome::Pass)).unwrap();
            }
        }
        writer.finish(1, 1).unwrap();
        let (index, status) = TraceIndex::open(&path).unwrap();
        prop_assert_eq!(status, IndexStatus::Fresh);
        for walk_id in 0..13 {
            prop_assert_eq!(index.walk_records(walk_id).unwrap(), linear_scan(&path, walk_id));
        }
        fs::remove_file(index_path_for(&path)).unwrap();
        let rebuilt = TraceIndex::rebuild(&path).unwrap();
        for walk_id in 0..13 {
            prop_assert_eq!(rebuilt.walk_records(walk_id).unwrap(), linear_scan(&path, walk_id));
        }
    }
}
