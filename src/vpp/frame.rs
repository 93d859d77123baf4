//! VPP socket-transport framing: a 16-byte `>QII` header (`q: u64`, `data_len: u32`,
//! `gc_mark: u32`, all big-endian) before every message.
//!
//! Invariants: outgoing frames carry `q = 0` and `gc_mark = 0`; on receipt `q` and `gc_mark`
//! are ignored (VPP puts a server pointer in `q`). One read may hold many frames and a frame
//! may span many reads; [`FrameDecoder`] reassembles them. A frame longer than the configured
//! maximum is rejected from its header alone, before any of its body is buffered, so a hostile
//! length cannot make the reader allocate.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of the frame header.
pub const HEADER_LEN: usize = 16;

/// Default largest accepted message: 64 MiB (VPP's `get_api_json_reply` is ~1.2 MB).
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;

/// Framing errors.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A header announced more bytes than the configured maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced body length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame ({buffered} bytes of an incomplete frame)")]
    TruncatedAtEof {
        /// Bytes of the incomplete frame that were received.
        buffered: usize,
    },
    /// A read or write failed.
    #[error("socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The 16-byte header for a message of `len` bytes (`q = 0`, `gc_mark = 0`).
pub fn frame_header(len: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    let data_len = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        len,
        max: u32::MAX as usize,
    })?;
    let mut header = [0u8; HEADER_LEN];
    header[8..12].copy_from_slice(&data_len.to_be_bytes());
    Ok(header)
}

/// Header followed by `message`, ready to write.
pub fn encode_frame(message: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut frame = Vec::with_capacity(HEADER_LEN + message.len());
    frame.extend_from_slice(&frame_header(message.len())?);
    frame.extend_from_slice(message);
    Ok(frame)
}

/// Writes one frame with a single `write_all` (so concurrent writers holding a lock never
/// interleave frames).
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    message: &[u8],
) -> Result<(), FrameError> {
    writer.write_all(&encode_frame(message)?).await?;
    Ok(())
}

/// Incremental frame reassembly: push received bytes, pop complete message bodies.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
    max_frame_len: usize,
}

impl FrameDecoder {
    /// A decoder rejecting frames longer than `max_frame_len`.
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            max_frame_len,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && (self.start == self.buffer.len() || self.start >= 64 * 1024) {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next complete message body, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = &self.buffer[self.start..];
        let Some(header) = pending.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let data_len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let len = usize::try_from(data_len).unwrap_or(usize::MAX);
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        let end = HEADER_LEN.saturating_add(len);
        let Some(body) = pending.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        let message = body.to_vec();
        self.start += end;
        Ok(Some(message))
    }
}

/// Reads whole frames from an async byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    decoder: FrameDecoder,
    chunk: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps `reader`, rejecting frames longer than `max_frame_len`.
    pub fn new(reader: R, max_frame_len: usize) -> Self {
        Self {
            reader,
            decoder: FrameDecoder::new(max_frame_len),
            chunk: vec![0; 64 * 1024],
        }
    }

    /// The next message body; `Ok(None)` on a clean end of stream between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            let read = self.reader.read(&mut self.chunk).await?;
            if read == 0 {
                return match self.decoder.buffered_len() {
                    0 => Ok(None),
                    buffered => Err(FrameError::TruncatedAtEof { buffered }),
                };
            }
            self.decoder.push(&self.chunk[..read]);
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with_junk_header(body: &[u8]) -> Vec<u8> {
        let mut frame = encode_frame(body).unwrap();
        frame[..8].copy_from_slice(&0xdead_beef_0000_0001u64.to_be_bytes());
        frame[12..16].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        frame
    }

    #[test]
    fn header_is_q_len_gc_mark_big_endian() {
        let frame = encode_frame(&[0, 0x17, 1, 2]).unwrap();
        assert_eq!(
            &frame[..16],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]
        );
        assert_eq!(&frame[16..], &[0, 0x17, 1, 2]);
    }

    #[test]
    fn merged_and_split_frames_reassemble_ignoring_q_and_gc_mark() {
        let mut stream = frame_with_junk_header(b"first");
        stream.extend(frame_with_junk_header(b""));
        stream.extend(frame_with_junk_header(&[7u8; 300]));
        for chunk_size in [1, 3, 16, 17, 1000] {
            let mut decoder = FrameDecoder::new(1024);
            let mut frames = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                decoder.push(chunk);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, vec![b"first".to_vec(), Vec::new(), vec![7u8; 300]]);
            assert_eq!(decoder.buffered_len(), 0);
        }
    }

    #[test]
    fn oversized_frame_is_rejected_from_its_header() {
        let mut decoder = FrameDecoder::new(10);
        decoder.push(&frame_header(11).unwrap());
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
    }
}
