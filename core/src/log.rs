//! The hypervisor console's wire format, shared by every architecture's runtime: defmt
//! log frames and partition lines on one UART (doc/logging.md).
//!
//! A frame is `0x01` followed by the rzCOBS-encoded defmt frame, which ends in `0x00`; a
//! partition line is plain text `[name] line\n`. The runtime supplies the lock (held
//! for a whole frame or line, so CPUs never interleave inside one) and the byte output.

/// The byte that opens a defmt frame on the wire.
pub const FRAME_START: u8 = 0x01;

/// Writes one partition console line, `[name] line\n`, through `put`.
pub fn partition_line(name: &str, line: &[u8], mut put: impl FnMut(&[u8])) {
    put(b"[");
    put(name.as_bytes());
    put(b"] ");
    put(line);
    put(b"\n");
}

#[cfg(feature = "defmt")]
mod frames {
    use spin::Mutex;

    use super::FRAME_START;

    static ENCODER: Mutex<defmt::Encoder> = Mutex::new(defmt::Encoder::new());

    /// Starts a frame (the caller holds the console lock).
    pub fn start(put: fn(&[u8])) {
        // The rzcobs encoder writes nothing at a frame start except, once, a 0x00
        // separator: it goes before the marker, where the host ignores it.
        ENCODER.lock().start_frame(put);
        put(&[FRAME_START]);
    }

    /// Encodes frame bytes.
    pub fn write(bytes: &[u8], put: fn(&[u8])) {
        ENCODER.lock().write(bytes, put);
    }

    /// Ends the frame (the caller releases the console lock after).
    pub fn end(put: fn(&[u8])) {
        ENCODER.lock().end_frame(put);
    }
}

#[cfg(feature = "defmt")]
pub use frames::{end as end_frame, start as start_frame, write as write_frame};

#[cfg(test)]
mod tests {
    #[test]
    fn partition_lines_carry_the_name_prefix() {
        let mut out = std::vec::Vec::new();
        super::partition_line("beta", b"hb 1", |b| out.extend_from_slice(b));
        assert_eq!(out, b"[beta] hb 1\n");
    }
}
