//! Asking for a secret on the terminal, with echo off.
//!
//! Invariants: only used when stdin is a terminal; the prompt goes to and the answer comes
//! from the controlling terminal (`/dev/tty`), never stdout; the terminal's settings are
//! restored before returning (the reader runs with signals off, so Ctrl-C arrives as a byte
//! and cancels the prompt instead of killing labdeck with echo still off); the answer lives
//! in zeroed-on-drop memory and is never logged.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use zeroize::{Zeroize, Zeroizing};

/// True when stdin is a terminal (so a person may be there to answer).
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Asks on `/dev/tty`. `Ok(None)` when the user cancelled (Ctrl-C, Ctrl-D on an empty line).
pub fn ask_hidden(prompt: &str) -> std::io::Result<Option<Zeroizing<String>>> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let out = tty.try_clone()?;
    read_hidden(tty, out, prompt)
}

/// Restores a terminal's settings when dropped.
struct RawGuard {
    fd: i32,
    saved: libc::termios,
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        // SAFETY: fd is open for the guard's lifetime; saved came from tcgetattr on it.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Writes `prompt` to `output` and reads one line from the terminal `input` with echo and
/// signals off, handling backspace, Ctrl-U (erase line), Ctrl-C and Ctrl-D (cancel).
pub fn read_hidden<I: Read + AsRawFd, O: Write>(
    mut input: I,
    mut output: O,
    prompt: &str,
) -> std::io::Result<Option<Zeroizing<String>>> {
    let fd = input.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open descriptor owned by `input`.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut raw = saved;
    raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: as above; raw is a valid termios derived from the saved one.
    if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let guard = RawGuard { fd, saved };
    output.write_all(prompt.as_bytes())?;
    output.flush()?;
    let mut line: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    let answered = loop {
        if input.read(&mut byte)? == 0 {
            break !line.is_empty();
        }
        match byte[0] {
            b'\r' | b'\n' => break true,
            0x03 => break false,                    // Ctrl-C
            0x04 if line.is_empty() => break false, // Ctrl-D
            0x04 => break true,
            0x15 => line.clear(), // Ctrl-U
            0x7f | 0x08 => {
                // Erase one character, including all bytes of a UTF-8 sequence.
                while let Some(b) = line.pop() {
                    if b & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            b => line.push(b),
        }
    };
    byte.zeroize();
    drop(guard);
    output.write_all(b"\n")?;
    output.flush()?;
    if !answered {
        return Ok(None);
    }
    let text = std::str::from_utf8(&line)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))?;
    Ok(Some(Zeroizing::new(text.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::FromRawFd;

    /// A pseudo-terminal pair: (controller, terminal).
    fn pty() -> (File, File) {
        let (mut controller, mut terminal) = (0, 0);
        // SAFETY: openpty writes two new descriptors into the given ints.
        let rc = unsafe {
            libc::openpty(
                &mut controller,
                &mut terminal,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are new and owned by nobody else.
        unsafe { (File::from_raw_fd(controller), File::from_raw_fd(terminal)) }
    }

    fn lflag(f: &File) -> libc::tcflag_t {
        // SAFETY: plain tcgetattr on an open terminal.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) }, 0);
        t.c_lflag
    }

    fn run(typed: &[u8]) -> (Option<String>, String, libc::tcflag_t, libc::tcflag_t) {
        let (mut controller, terminal) = pty();
        let before = lflag(&terminal);
        let out = terminal.try_clone().expect("dup");
        let reader = terminal.try_clone().expect("dup");
        let typed = typed.to_vec();
        let answer = std::thread::spawn(move || read_hidden(reader, out, "Passphrase: "));
        // Wait for the prompt before typing, so the input is not flushed by TCSAFLUSH.
        let mut shown = Vec::new();
        let mut buf = [0u8; 64];
        while !shown.ends_with(b"Passphrase: ") {
            let n = controller.read(&mut buf).expect("read prompt");
            shown.extend_from_slice(&buf[..n]);
        }
        controller.write_all(&typed).expect("type");
        let answer = answer.join().expect("thread").expect("io");
        // Everything the terminal showed after the prompt: the newline only, no echo.
        let n = controller.read(&mut buf).expect("read rest");
        shown.extend_from_slice(&buf[..n]);
        let after = lflag(&terminal);
        (
            answer.map(|s| s.as_str().to_owned()),
            String::from_utf8_lossy(&shown).into_owned(),
            before,
            after,
        )
    }

    #[test]
    fn reads_without_echo_and_restores_the_terminal() {
        let (answer, shown, before, after) = run(b"sekrit\x7f\x7fet\r");
        assert_eq!(answer.as_deref(), Some("sekret"));
        assert!(!shown.contains("sek"), "echoed: {shown:?}");
        assert!(shown.starts_with("Passphrase: "), "{shown:?}");
        assert_eq!(before, after, "terminal settings restored");
        assert_ne!(before & libc::ECHO, 0, "a fresh pty echoes");
    }

    #[test]
    fn line_editing_and_cancel() {
        assert_eq!(
            run("wrong\x15pässw\x7fö\n".as_bytes()).0.as_deref(),
            Some("pässö")
        );
        assert_eq!(run(b"abc\x03").0, None, "Ctrl-C cancels");
        assert_eq!(run(b"\x04").0, None, "Ctrl-D on an empty line cancels");
        assert_eq!(run(b"\n").0.as_deref(), Some(""));
    }
}
