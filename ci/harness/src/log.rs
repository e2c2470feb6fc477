//! Serial-stream decoding: plain text lines interleaved with the hypervisor's defmt frames.
//!
//! Wire format: bytes outside frames are text (`\r` and `\0` are dropped: QEMU and some
//! UARTs emit them). `0x01` (SOH) opens a defmt frame, which is rzCOBS-encoded and so
//! contains no zero byte; `0x00` closes it. A frame that arrives in the middle of a text
//! line comes out before that line, which continues afterwards.

use defmt_decoder::{Encoding, Table};

#[cfg(test)]
mod tests;

/// Opens a defmt frame.
pub const FRAME_START: u8 = 0x01;
/// Closes a defmt frame (the rzCOBS separator).
pub const FRAME_END: u8 = 0x00;
/// A frame longer than this is taken as garbage (a lost `0x00` would otherwise swallow
/// all later text).
pub const MAX_FRAME: usize = 4096;

/// One complete unit of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A text line without its newline, `\r` and `\0`.
    Text(String),
    /// The encoded bytes between `0x01` and `0x00`.
    Frame(Vec<u8>),
    /// A frame that exceeded [`MAX_FRAME`]; its first bytes.
    Overlong(Vec<u8>),
}

/// Splits a byte stream into text lines and frames, across any chunking of the input.
#[derive(Debug, Default)]
pub struct Framer {
    line: Vec<u8>,
    frame: Option<Vec<u8>>,
}

impl Framer {
    /// A framer at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes more bytes and returns the chunks they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Chunk> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(frame) = &mut self.frame {
                if b == FRAME_END {
                    out.push(Chunk::Frame(core::mem::take(frame)));
                    self.frame = None;
                } else if frame.len() == MAX_FRAME {
                    out.push(Chunk::Overlong(frame[..16].to_vec()));
                    self.frame = None;
                } else {
                    frame.push(b);
                }
                continue;
            }
            match b {
                FRAME_START => self.frame = Some(Vec::new()),
                b'\n' => out.push(Chunk::Text(text(&core::mem::take(&mut self.line)))),
                b'\r' | 0 => {}
                _ => self.line.push(b),
            }
        }
        out
    }

    /// The unterminated text line at the end of the stream, if any.
    pub fn finish(&mut self) -> Option<String> {
        self.frame = None;
        let line = core::mem::take(&mut self.line);
        (!line.is_empty()).then(|| text(&line))
    }
}

/// Text bytes as a string; invalid UTF-8 shows as U+FFFD rather than failing the run.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The plain-text lines the hypervisor prints when it refuses to boot (before and after
/// its console is known), after which it powers the machine off.
const REFUSALS: [&str; 2] = ["bulkhead: boot failed", "bulkhead: cannot start"];

/// Whether `line` (a decoded log line) says the hypervisor refused to boot.
pub fn is_boot_refusal(line: &str) -> bool {
    REFUSALS.iter().any(|r| line.starts_with(r))
}

/// Turns the serial stream into log lines, decoding defmt frames against the hypervisor ELF.
pub struct Decoder {
    framer: Framer,
    table: Option<Table>,
}

impl Decoder {
    /// A decoder for a stream from the hypervisor built as `elf` (the ELF file's bytes).
    /// An ELF without a defmt table (a text-log build) gives a pass-through decoder.
    pub fn new(elf: &[u8]) -> Result<Decoder, String> {
        let table = Table::parse(elf).map_err(|e| format!("reading the defmt table: {e:#}"))?;
        if let Some(table) = &table {
            if !matches!(table.encoding(), Encoding::Rzcobs) {
                return Err(
                    "the ELF uses defmt's raw encoding; frames need `encoding-rzcobs` \
                            (defmt's default) to be delimited by 0x00"
                        .into(),
                );
            }
        }
        Ok(Decoder {
            framer: Framer::new(),
            table,
        })
    }

    /// A decoder with no defmt table: text passes through, frames show as undecodable.
    pub fn text_only() -> Decoder {
        Decoder {
            framer: Framer::new(),
            table: None,
        }
    }

    /// Whether defmt frames can be decoded.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// Takes more bytes and returns the lines they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let chunks = self.framer.push(bytes);
        chunks.into_iter().map(|chunk| self.render(chunk)).collect()
    }

    /// The unterminated last line, at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        self.framer.finish()
    }

    /// One chunk as one line of text.
    fn render(&self, chunk: Chunk) -> String {
        match chunk {
            Chunk::Text(line) => line,
            Chunk::Frame(bytes) => match &self.table {
                Some(table) => decode_frame(table, &bytes),
                None => format!("<defmt frame, no table to decode it: {}>", hex(&bytes)),
            },
            Chunk::Overlong(head) => format!(
                "<overlong defmt frame (> {MAX_FRAME} bytes): {}…>",
                hex(&head)
            ),
        }
    }
}

/// Decodes one rzCOBS frame (without its delimiters) into `LEVEL message`.
fn decode_frame(table: &Table, encoded: &[u8]) -> String {
    let mut stream = table.new_stream_decoder();
    stream.received(encoded);
    stream.received(&[FRAME_END]);
    match stream.decode() {
        Ok(frame) => {
            let message = frame.display_message().to_string();
            match frame.level() {
                Some(level) => format!("{:<5} {message}", level.as_str().to_uppercase()),
                None => message,
            }
        }
        Err(e) => format!("<malformed defmt frame ({e}): {}>", hex(encoded)),
    }
}

/// Bytes as space-separated hex, for lines about frames that could not be decoded.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
