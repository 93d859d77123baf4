//! VPP API definitions copied from the machine VPP runs on (its `/usr/share/vpp/api`), so
//! the codec always matches the installed build.
//!
//! Transport: one exec channel on the machine's own connection runs a POSIX `sh` script that
//! prints, for every `*.api.json` under the directory (sorted), a header line
//! `<size> <relative path>` followed by exactly `<size>` bytes of the file; it needs nothing on
//! the host but `sh`, `find`, `sort`, `wc` and `cat`. (SFTP: `russh-sftp` 3.0.1 does not depend
//! on russh at all — it runs over any `AsyncRead + AsyncWrite` — so it would work with the
//! pinned russh `=0.65.1`, but it needs an `sftp` subsystem channel opened in `src/ssh/`, the
//! only module that may name russh types; the exec channel needs no new dependency.)
//!
//! Or fetched with `get_api_json` (VPP >= 24.02, [`fetch_api_json`]): a bootstrap client
//! built on the built-in `memclnt.api.json` (whose ids are fixed) asks VPP for every other
//! module's definitions as one JSON string, then deletes itself.
//!
//! Invariants: the listing parser never panics and bounds every size (no file over
//! [`MAX_FILE_BYTES`], no listing over [`MAX_TOTAL_BYTES`]); a header that does not match
//! the bytes that follow is an error, never a silently shortened file.

use crate::quote::quote;
use crate::transport::{Connection, OutputSink, Stream, TransportError};

use std::sync::Arc;

use super::client::{ClientConfig, ClientError, VppClient};
use super::defs::{ApiDefinitions, DefinitionsBuilder, DefsError};

/// VPP's memclnt module (the handshake, control_ping and get_api_json), built in.
pub const MEMCLNT_API_JSON: &str = include_str!("memclnt.api.json");

/// Largest single `.api.json` file accepted (the biggest core file is ~200 KB).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// Largest listing accepted.
pub const MAX_TOTAL_BYTES: usize = 256 * 1024 * 1024;

/// Why copying the definitions failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteDefsError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("listing {dir} on the machine failed (exit {code}): {stderr}")]
    Command {
        dir: String,
        code: i32,
        stderr: String,
    },
    #[error("no .api.json file under {dir} on the machine")]
    NoFiles { dir: String },
    #[error("malformed definitions listing at byte {offset}: {reason}")]
    Listing { offset: usize, reason: String },
    #[error(transparent)]
    Definitions(#[from] DefsError),
    #[error("get_api_json failed: {0}")]
    Client(#[from] ClientError),
    #[error("get_api_json answered retval {retval} without definitions (VPP older than 24.02?)")]
    NoJson { retval: i64 },
}

/// The built-in memclnt definitions alone.
pub fn memclnt_definitions() -> Result<ApiDefinitions, DefsError> {
    let mut builder = DefinitionsBuilder::new();
    builder.add_json_str("memclnt.api.json (built in)", MEMCLNT_API_JSON)?;
    builder.build()
}

/// Fetches every module's definitions from the VPP at `socket` with `get_api_json`, through
/// a short-lived bootstrap client (deleted with `sockclnt_delete` before this returns).
pub async fn fetch_api_json(
    connection: &Connection,
    socket: &str,
    config: ClientConfig,
) -> Result<ApiDefinitions, RemoteDefsError> {
    let stream = connection.open_streamlocal(socket).await?;
    let bootstrap = Arc::new(memclnt_definitions()?);
    let (client, _events) = VppClient::connect(stream, bootstrap, config).await?;
    let reply = client.call("get_api_json", &serde_json::json!({})).await;
    let closed = client.close().await;
    let reply = reply?;
    closed?;
    let retval = reply.retval().unwrap_or(0);
    let text = match reply.value.get("json").and_then(serde_json::Value::as_str) {
        Some(text) if retval == 0 && !text.is_empty() => text,
        _ => return Err(RemoteDefsError::NoJson { retval }),
    };
    let mut builder = DefinitionsBuilder::new();
    builder.add_json_str("memclnt.api.json (built in)", MEMCLNT_API_JSON)?;
    builder.add_json_str("get_api_json", text)?;
    Ok(builder.build()?)
}

/// The shell script that lists `dir` (see the module docs).
pub fn listing_script(dir: &str) -> String {
    format!(
        "cd {} || exit 3\n\
         find . -name '*.api.json' -type f | LC_ALL=C sort | while IFS= read -r f; do\n\
         \x20 printf '%s %s\\n' \"$(wc -c < \"$f\" | tr -d ' ')\" \"$f\"\n\
         \x20 cat \"$f\"\n\
         done\n",
        quote(dir)
    )
}

/// One file of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// Parses the output of [`listing_script`].
pub fn parse_listing(bytes: &[u8]) -> Result<Vec<ListedFile>, RemoteDefsError> {
    if bytes.len() > MAX_TOTAL_BYTES {
        return Err(RemoteDefsError::Listing {
            offset: 0,
            reason: format!(
                "{} bytes is over the {MAX_TOTAL_BYTES}-byte limit",
                bytes.len()
            ),
        });
    }
    let mut files = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let bad = |reason: String| RemoteDefsError::Listing { offset, reason };
        let rest = &bytes[offset..];
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("header line without a newline".into()))?;
        let header = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| bad("header line is not UTF-8".into()))?;
        let (size, path) = header
            .split_once(' ')
            .ok_or_else(|| bad(format!("header `{header}` is not `SIZE PATH`")))?;
        let size: usize = size
            .parse()
            .map_err(|_| bad(format!("size `{size}` is not a number")))?;
        if size > MAX_FILE_BYTES {
            return Err(bad(format!(
                "{path}: {size} bytes is over the {MAX_FILE_BYTES}-byte limit"
            )));
        }
        let body_start = line_end + 1;
        let body = rest
            .get(body_start..body_start + size)
            .ok_or_else(|| bad(format!("{path}: {size} bytes announced, fewer follow")))?;
        files.push(ListedFile {
            path: path.trim_start_matches("./").to_string(),
            contents: body.to_vec(),
        });
        offset += body_start + size;
    }
    Ok(files)
}

/// Builds definitions from a listing's files.
pub fn definitions_from_listing(
    dir: &str,
    files: &[ListedFile],
) -> Result<ApiDefinitions, RemoteDefsError> {
    if files.is_empty() {
        return Err(RemoteDefsError::NoFiles { dir: dir.into() });
    }
    let mut builder = DefinitionsBuilder::new();
    for file in files {
        let origin = format!("{dir}/{}", file.path);
        let text = String::from_utf8_lossy(&file.contents);
        builder.add_json_str(&origin, &text)?;
    }
    Ok(builder.build()?)
}

/// Copies and parses every `.api.json` under `dir` on the machine behind `connection`.
pub async fn copy_definitions(
    connection: &Connection,
    dir: &str,
) -> Result<ApiDefinitions, RemoteDefsError> {
    let (sink, mut output) = OutputSink::new();
    let outcome = connection.exec(&listing_script(dir), &sink).await?;
    drop(sink);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = output.recv().await {
        match chunk.stream {
            Stream::Stdout => stdout.extend_from_slice(&chunk.data),
            Stream::Stderr => stderr.extend_from_slice(&chunk.data),
        }
        if stdout.len() > MAX_TOTAL_BYTES {
            break;
        }
    }
    if !outcome.success() {
        return Err(RemoteDefsError::Command {
            dir: dir.into(),
            code: outcome.shell_code(),
            stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
        });
    }
    let files = parse_listing(&stdout)?;
    definitions_from_listing(dir, &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_round_trip_and_errors() {
        let listing = b"3 ./a.api.json\nabc0 ./b.api.json\n".to_vec();
        let files = parse_listing(&listing).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "a.api.json");
        assert_eq!(files[0].contents, b"abc");
        assert!(files[1].contents.is_empty());
        let short = b"10 ./a.api.json\nabc";
        assert!(
            parse_listing(short)
                .unwrap_err()
                .to_string()
                .contains("fewer follow")
        );
        let huge = format!("{} ./x\n", usize::MAX);
        assert!(parse_listing(huge.as_bytes()).is_err());
        assert!(parse_listing(b"no newline").is_err());
        assert!(parse_listing(b"x ./a\n").is_err());
        assert!(matches!(
            definitions_from_listing("/d", &[]),
            Err(RemoteDefsError::NoFiles { .. })
        ));
    }

    #[tokio::test]
    async fn copies_the_definitions_of_a_local_machine() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vpp-api");
        let copied = copy_definitions(&Connection::Local, dir).await.unwrap();
        let local = crate::vpp::load_api_tree(std::path::Path::new(dir)).unwrap();
        assert_eq!(copied.message_count(), local.message_count());
        assert_eq!(copied.name_crc_table(), local.name_crc_table());
        let missing = copy_definitions(&Connection::Local, "/nonexistent/vpp/api").await;
        assert!(matches!(missing, Err(RemoteDefsError::Command { .. })));
    }
}
