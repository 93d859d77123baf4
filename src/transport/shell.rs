//! The fast path: one long-lived `/bin/sh` per connection, fed short foreground commands
//! with delimiters, so the login shell and rc files are paid once instead of per command.
//!
//! Each command is sent as a subshell (a fork, no exec):
//! `( WRAPPED ) </dev/null; printf '\036LABDECK_DONE=T:%d\n' $?; printf '\036LABDECK_DONE=T\n' >&2`
//! and the two end markers (one per stream, token `T` unique per command) tell where its
//! output ends. The subshell shares the long-lived shell's process group, so the group id
//! the job reports is the shell's: killing the job kills the shell with it, and the engine
//! opens a new one. Invariants: output bytes are passed on in order with the markers
//! removed, holding back only a tail that could be the start of a marker; a shell whose
//! output closes or breaks protocol is discarded, never reused.

use super::{ExitOutcome, OutputChunk, OutputSink, Stream, TransportError};
use tokio::sync::mpsc;

const MARKER: &[u8] = b"\x1eLABDECK_DONE=";

/// A long-lived shell that runs one command at a time.
#[derive(Debug)]
pub struct FastShell {
    stdin: mpsc::UnboundedSender<Vec<u8>>,
    output: mpsc::UnboundedReceiver<OutputChunk>,
    next_token: u64,
}

impl FastShell {
    pub fn new(
        stdin: mpsc::UnboundedSender<Vec<u8>>,
        output: mpsc::UnboundedReceiver<OutputChunk>,
    ) -> FastShell {
        FastShell {
            stdin,
            output,
            next_token: 1,
        }
    }

    /// Checks that the shell answers; returns it ready for use.
    pub async fn probe(mut self) -> Result<FastShell, TransportError> {
        let (sink, _discard) = OutputSink::new();
        let outcome = self.run_line("true", &sink).await?;
        if outcome.success() {
            Ok(self)
        } else {
            Err(TransportError::Local(
                "the remote shell does not run commands".into(),
            ))
        }
    }

    /// Runs a wrapped job command line (see `engine::job::wrap`) in a subshell.
    pub async fn run(
        &mut self,
        wrapped: &str,
        sink: &OutputSink,
    ) -> Result<ExitOutcome, TransportError> {
        self.run_line(&format!("(\n{wrapped}\n)"), sink).await
    }

    async fn run_line(
        &mut self,
        line: &str,
        sink: &OutputSink,
    ) -> Result<ExitOutcome, TransportError> {
        let token = self.next_token;
        self.next_token += 1;
        let script = format!(
            "{line} </dev/null; printf '\\036LABDECK_DONE={token}:%d\\n' $?; printf '\\036LABDECK_DONE={token}\\n' >&2\n"
        );
        self.stdin
            .send(script.into_bytes())
            .map_err(|_| lost("the shell's input is closed"))?;
        let mut stdout = StreamSplitter::new(format!("{token}:"));
        let mut stderr = StreamSplitter::new(format!("{token}\n"));
        let mut code = None;
        while code.is_none() || !stderr.done {
            let chunk = self
                .output
                .recv()
                .await
                .ok_or_else(|| lost("the shell ended"))?;
            match chunk.stream {
                Stream::Stdout => {
                    let (pass, tail) = stdout.feed(&chunk.data);
                    sink.send(Stream::Stdout, &pass);
                    if let Some(tail) = tail {
                        // After the stdout marker: "<status>\n".
                        let text = String::from_utf8_lossy(&tail);
                        let status = text.trim_end_matches('\n');
                        code = Some(
                            status
                                .parse::<u32>()
                                .map_err(|_| lost("the shell broke the protocol"))?,
                        );
                    }
                }
                Stream::Stderr => {
                    let (pass, _) = stderr.feed(&chunk.data);
                    sink.send(Stream::Stderr, &pass);
                }
            }
        }
        Ok(ExitOutcome { code, signal: None })
    }
}

fn lost(why: &str) -> TransportError {
    TransportError::Local(format!("fast-path shell lost: {why}"))
}

/// Finds `MARKER + suffix` in a byte stream fed in chunks.
#[derive(Debug)]
struct StreamSplitter {
    needle: Vec<u8>,
    held: Vec<u8>,
    done: bool,
    after: Vec<u8>,
}

impl StreamSplitter {
    fn new(suffix: String) -> StreamSplitter {
        let mut needle = MARKER.to_vec();
        needle.extend_from_slice(suffix.as_bytes());
        StreamSplitter {
            needle,
            held: Vec::new(),
            done: false,
            after: Vec::new(),
        }
    }

    /// Returns the bytes to pass on, and — once the marker line is complete — what
    /// followed the needle up to and including the newline.
    fn feed(&mut self, chunk: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        if self.done {
            self.after.extend_from_slice(chunk);
            return (Vec::new(), self.take_line());
        }
        self.held.extend_from_slice(chunk);
        if let Some(at) = find(&self.held, &self.needle) {
            let pass = self.held[..at].to_vec();
            self.after = self.held[at + self.needle.len()..].to_vec();
            self.held.clear();
            self.done = true;
            return (pass, self.take_line());
        }
        // Keep back the longest suffix that is a prefix of the needle.
        let keep = (1..self.needle.len().min(self.held.len() + 1))
            .rev()
            .find(|&n| self.held.ends_with(&self.needle[..n]))
            .unwrap_or(0);
        let pass = self.held[..self.held.len() - keep].to_vec();
        self.held.drain(..self.held.len() - keep);
        (pass, None)
    }

    fn take_line(&mut self) -> Option<Vec<u8>> {
        if self.needle.ends_with(b"\n") {
            return Some(Vec::new());
        }
        let newline = self.after.iter().position(|&b| b == b'\n')?;
        Some(self.after[..=newline].to_vec())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_handles_markers_split_across_chunks() {
        let mut s = StreamSplitter::new("7:".into());
        let (a, t) = s.feed(b"hello\x1eLABDE");
        assert_eq!((a.as_slice(), t), (&b"hello"[..], None));
        let (b, t) = s.feed(b"CK_DONE=7:");
        assert_eq!((b.as_slice(), t), (&b""[..], None));
        let (c, t) = s.feed(b"3\n");
        assert_eq!(c, b"");
        assert_eq!(t.as_deref(), Some(&b"3\n"[..]));
    }

    #[test]
    fn splitter_passes_lookalikes() {
        let mut s = StreamSplitter::new("7:".into());
        let (a, t) = s.feed(b"x\x1eLABDECK_DONE=8:0\n");
        assert_eq!(t, None);
        assert_eq!(a, b"x\x1eLABDECK_DONE=8:0\n");
    }

    async fn local_shell() -> FastShell {
        let (stdin, output) = crate::transport::spawn_local_shell().expect("sh");
        FastShell::new(stdin, output).probe().await.expect("probe")
    }

    #[tokio::test]
    async fn runs_many_commands_in_one_shell() {
        let mut shell = local_shell().await;
        for i in 0..20u32 {
            let (sink, mut rx) = OutputSink::new();
            let outcome = shell
                .run(
                    &format!("printf 'n=%s' {i}; echo e >&2; exit {}", i % 3),
                    &sink,
                )
                .await
                .expect("run");
            drop(sink);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some(c) = rx.recv().await {
                match c.stream {
                    Stream::Stdout => out.extend(c.data),
                    Stream::Stderr => err.extend(c.data),
                }
            }
            assert_eq!(outcome.code, Some(i % 3));
            assert_eq!(out, format!("n={i}").into_bytes());
            assert_eq!(err, b"e\n");
        }
    }
}
