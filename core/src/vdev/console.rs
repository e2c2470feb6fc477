//! The virtual console's line discipline: bytes in, whole prefixed lines out.

use spin::Mutex;

/// Where finished console lines go (the hypervisor's own console).
pub trait ConsoleSink: Send + Sync {
    /// Prints one line of partition `name`'s output (without its newline).
    fn line(&self, name: &str, line: &[u8]);
}

/// Longest line the console forwards; longer ones are broken.
pub(super) const LINE_MAX: usize = 160;

/// Collects a partition's console bytes into lines.
///
/// A line is emitted on `\n` or when it reaches [`LINE_MAX`] bytes, so a guest that never
/// sends a newline cannot hold the buffer. Control bytes other than tab are dropped: the
/// hypervisor's console interleaves binary log frames that start with 0x01 and end with
/// 0x00, and guest output must never fake one.
pub struct LineBuffer {
    buf: Mutex<([u8; LINE_MAX], usize)>,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self { buf: Mutex::new(([0; LINE_MAX], 0)) }
    }

    /// Appends `bytes`, emitting each completed line to `sink` under `name`.
    pub fn write(&self, name: &str, bytes: &[u8], sink: &dyn ConsoleSink) {
        let mut guard = self.buf.lock();
        let (buf, len) = &mut *guard;
        for &b in bytes {
            match b {
                b'\n' => {
                    sink.line(name, &buf[..*len]);
                    *len = 0;
                }
                b'\t' | 0x20..=0x7e | 0x80..=0xff => {
                    buf[*len] = b;
                    *len += 1;
                    if *len == LINE_MAX {
                        sink.line(name, &buf[..*len]);
                        *len = 0;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;
    use std::vec::Vec;

    #[derive(Default)]
    pub(crate) struct Lines(pub StdMutex<Vec<std::string::String>>);
    impl ConsoleSink for Lines {
        fn line(&self, name: &str, line: &[u8]) {
            let text = std::string::String::from_utf8_lossy(line);
            self.0.lock().unwrap().push(std::format!("[{name}] {text}"));
        }
    }

    #[test]
    fn lines_are_prefixed_and_split() {
        let sink = Lines::default();
        let b = LineBuffer::new();
        b.write("alpha", b"hel", &sink);
        b.write("alpha", b"lo\nwor", &sink);
        b.write("alpha", b"ld\r\n", &sink);
        assert_eq!(*sink.0.lock().unwrap(), ["[alpha] hello", "[alpha] world"]);
    }

    #[test]
    fn control_bytes_are_dropped_and_long_lines_broken() {
        let sink = Lines::default();
        let b = LineBuffer::new();
        b.write("x", b"a\x01b\x00c\x1b\n", &sink);
        b.write("x", &[b'y'; LINE_MAX + 3], &sink);
        let lines = sink.0.lock().unwrap();
        assert_eq!(lines[0], "[x] abc");
        assert_eq!(lines[1].len(), 4 + LINE_MAX);
    }
}
