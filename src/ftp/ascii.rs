//! # `TYPE A` line ends (sans-IO, application layer)
//!
//! Layer: application protocol. RFC 959 sends text as NVT-ASCII, lines ending in CRLF; a Unix
//! file ends its lines with LF. The sender of a `TYPE A` transfer converts LF to CRLF, the
//! receiver CRLF back to LF: the server on `RETR`/`STOR`, the client on the other side of the
//! same transfers. Both work chunk by chunk, carrying one flag across chunks. No I/O of its own:
//! [`CrlfReader`] reads from whatever it is given. [`read_file`] and [`at_end`] are the
//! sender's reads of a file in either type: they tell the end of the data with its last bytes,
//! so the network layer can put the FIN on them without reading ahead.

use std::fs::File;
use std::io::{self, Read, Seek};

use super::Read as DataRead;

/// Reads a file into `buf`, saying whether the bytes are its last (see [`at_end`]).
pub(crate) fn read_file(file: &mut File, buf: &mut [u8]) -> io::Result<DataRead> {
    let n = loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    Ok(DataRead {
        len: n,
        end: n == 0 || at_end(file),
    })
}

/// Whether a file read so far has no byte left now (its position is at its length): the
/// next read would give 0. A file that grows meanwhile is read on; one whose size cannot be
/// learnt is not at its end until a read gives 0.
pub(crate) fn at_end(file: &mut File) -> bool {
    let len = file.metadata().map(|m| m.len());
    matches!((file.stream_position(), len), (Ok(pos), Ok(len)) if pos >= len)
}

/// Converts bare LF to CRLF (the sending side); `prev_cr` carries the last byte across chunks,
/// so a CRLF already in the data stays as it is.
pub(crate) fn lf_to_crlf(data: &[u8], prev_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in data {
        if b == b'\n' && !*prev_cr {
            out.push(b'\r');
        }
        out.push(b);
        *prev_cr = b == b'\r';
    }
}

/// Converts CRLF to LF (the receiving side); a CR at the end of a chunk is held in `held_cr`
/// until the next byte shows whether it starts a CRLF. At the end of the data a held CR is a
/// lone CR: the caller writes it.
pub(crate) fn crlf_to_lf(data: &[u8], held_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in data {
        if *held_cr {
            *held_cr = false;
            if b == b'\n' {
                out.push(b'\n');
                continue;
            }
            out.push(b'\r');
        }
        if b == b'\r' {
            *held_cr = true;
        } else {
            out.push(b);
        }
    }
}

/// A `TYPE A` sender's state: converted bytes not handed out yet, and the last byte read.
#[derive(Debug, Default)]
pub(crate) struct CrlfReader {
    pending: Vec<u8>,
    pos: usize,
    prev_cr: bool,
}

impl CrlfReader {
    /// Every converted byte has been handed out: what follows comes from the source.
    pub(crate) fn drained(&self) -> bool {
        self.pos >= self.pending.len()
    }

    /// Fills `buf` from `src`, LF turned into CRLF; 0 at the end of `src`. Reads at most
    /// `buf.len()` raw bytes at a time and keeps what does not fit for the next call.
    pub(crate) fn read(&mut self, src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.pending.len() {
            self.pending.clear();
            self.pos = 0;
            let mut raw = vec![0u8; buf.len()];
            let n = loop {
                match src.read(&mut raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            lf_to_crlf(&raw[..n], &mut self.prev_cr, &mut self.pending);
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_whatever_the_chunks() {
        let text = b"one\ntwo\r\nthree\rfour\n\nend\r";
        for chunk in 1..=text.len() {
            let mut reader = CrlfReader::default();
            let mut src = &text[..];
            let mut wire = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = reader.read(&mut src, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                wire.extend_from_slice(&buf[..n]);
            }
            assert_eq!(
                wire, b"one\r\ntwo\r\nthree\rfour\r\n\r\nend\r",
                "chunk={chunk}"
            );
            let (mut held_cr, mut back) = (false, Vec::new());
            for piece in wire.chunks(chunk) {
                crlf_to_lf(piece, &mut held_cr, &mut back);
            }
            assert!(held_cr, "the last CR waits for what follows");
            back.push(b'\r');
            assert_eq!(back, b"one\ntwo\nthree\rfour\n\nend\r", "chunk={chunk}");
        }
    }
}
