//! # Background writer
//!
//! Layer: link (capture support). The thread that writes a capture's bytes to its file. The
//! recorder lays out each block where it will stay ([`Batch`]) and hands full batches over; this
//! thread writes them with vectored writes (no copy in user space) and gives the emptied
//! buffers back, so the poll loop neither waits for the kernel's copying nor allocates. Recording
//! a fast transfer means writing about as many bytes as cross the cable: on the second core that
//! work no longer holds up the stacks.

use std::io::{self, IoSlice, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Batches in flight between the two threads: the recorder waits when the writer is this far
/// behind (the file system is slower than the stacks), so memory stays bounded.
const DEPTH: usize = 8;
/// Slices per vectored write (Linux's `IOV_MAX`).
const MAX_SLICES: usize = 1024;

/// Capture bytes in the order they go to the file. Each piece is a run of `heads` (a whole
/// block, or a frame's block up to its packet bytes) followed by a run of `tails` (the rest of
/// that block, written once the frame is explained); `pieces` holds where each run ends.
#[derive(Debug, Default)]
pub struct Batch {
    /// Block heads, back to back.
    pub heads: Vec<u8>,
    /// Block tails, back to back.
    pub tails: Vec<u8>,
    /// For each piece, where its head and its tail end in `heads` and `tails`.
    pub pieces: Vec<(usize, usize)>,
}

impl Batch {
    /// An empty batch that holds about `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            heads: Vec::with_capacity(bytes),
            tails: Vec::with_capacity(bytes / 16),
            pieces: Vec::with_capacity(bytes / 1024),
        }
    }

    /// Where the closed pieces end in `heads` and `tails`.
    pub fn closed(&self) -> (usize, usize) {
        self.pieces.last().copied().unwrap_or((0, 0))
    }

    /// Ends the current piece: the head bytes added since the last piece, then the tail bytes.
    pub fn close_piece(&mut self) {
        self.close_piece_at(self.heads.len());
    }

    /// Ends the current piece with its head ending at `head_end` (more heads may follow
    /// already, waiting for their tails), then the tail bytes added since the last piece.
    pub fn close_piece_at(&mut self, head_end: usize) {
        self.pieces.push((head_end, self.tails.len()));
    }

    /// Drops what was added after the last closed piece.
    pub fn truncate_open(&mut self) {
        let (heads, tails) = self.closed();
        self.heads.truncate(heads);
        self.tails.truncate(tails);
    }

    /// Whether no piece is closed.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.tails.clear();
        self.pieces.clear();
    }

    /// Writes the closed pieces to `out`, in order. Adjacent head runs with no tail between
    /// them go out as one slice.
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES);
        let (mut head_from, mut tail_from) = (0, 0);
        for &(head_to, tail_to) in &self.pieces {
            if tail_to == tail_from {
                continue;
            }
            if head_to > head_from {
                slices.push(IoSlice::new(&self.heads[head_from..head_to]));
            }
            slices.push(IoSlice::new(&self.tails[tail_from..tail_to]));
            (head_from, tail_from) = (head_to, tail_to);
            if slices.len() >= MAX_SLICES - 1 {
                write_all_vectored(out, &mut slices)?;
                slices.clear();
            }
        }
        let (head_to, _) = self.closed();
        if head_to > head_from {
            slices.push(IoSlice::new(&self.heads[head_from..head_to]));
        }
        write_all_vectored(out, &mut slices)
    }
}

/// `Write::write_all_vectored`, which std has not stabilised.
fn write_all_vectored(out: &mut dyn Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

enum Msg {
    /// Write this batch, then flush the output if asked.
    Batch(Batch, bool),
    /// Flush, and answer with the first error since the last answer.
    Flush(SyncSender<io::Result<()>>),
}

/// The writing thread; errors come back on [`Background::flush`]. Dropping it writes what was
/// handed over and waits for the thread.
pub struct Background {
    to_thread: Option<SyncSender<Msg>>,
    spare: Receiver<Batch>,
    thread: Option<JoinHandle<()>>,
}

fn gone() -> io::Error {
    io::Error::other("the capture writing thread has stopped")
}

impl Background {
    /// Starts the writing thread for `out`.
    pub fn new(mut out: Box<dyn Write + Send>) -> io::Result<Background> {
        let (to_thread, from_main) = sync_channel::<Msg>(DEPTH);
        let (give_back, spare) = sync_channel::<Batch>(DEPTH + 1);
        let thread = std::thread::Builder::new()
            .name("smolftp-capture".into())
            .spawn(move || {
                let mut failed: Option<io::Error> = None;
                for msg in from_main {
                    match msg {
                        Msg::Batch(mut batch, flush) => {
                            if failed.is_none() {
                                let written = batch.write_to(&mut out);
                                if let Err(e) = written.and_then(|()| match flush {
                                    true => out.flush(),
                                    false => Ok(()),
                                }) {
                                    failed = Some(e);
                                }
                            }
                            batch.clear();
                            let _ = give_back.try_send(batch);
                        }
                        Msg::Flush(reply) => {
                            let result = match failed.take() {
                                Some(e) => Err(e),
                                None => out.flush(),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
                let _ = out.flush();
            })?;
        Ok(Background {
            to_thread: Some(to_thread),
            spare,
            thread: Some(thread),
        })
    }

    fn send(&self, msg: Msg) -> io::Result<()> {
        self.to_thread
            .as_ref()
            .ok_or_else(gone)?
            .send(msg)
            .map_err(|_| gone())
    }

    /// Hands `batch` over (flushing the output after it with `flush`) and returns an empty
    /// batch to fill next: one the thread gave back, or a new one of `capacity` bytes. Waits
    /// while the thread is [`DEPTH`] batches behind.
    pub fn hand_over(&self, batch: &mut Batch, flush: bool, capacity: usize) -> io::Result<()> {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity(capacity));
        let full = std::mem::replace(batch, next);
        self.send(Msg::Batch(full, flush))
    }

    /// Waits until everything handed over is written and flushed; returns the first error met
    /// since the last call.
    pub fn flush(&self) -> io::Result<()> {
        let (reply, answer) = sync_channel(1);
        self.send(Msg::Flush(reply))?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.to_thread = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            // A short write now and then, as a pipe may do.
            let n = data.len().min(777);
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A batch of `n` pieces, some with tails and some without; and the bytes it stands for.
    fn batch(n: u32, seed: u32) -> (Batch, Vec<u8>) {
        let mut batch = Batch::default();
        let mut expected = Vec::new();
        for i in 0..n {
            let head = vec![((i + seed) % 251) as u8; ((i * 7 + seed) % 700) as usize];
            batch.heads.extend_from_slice(&head);
            expected.extend_from_slice(&head);
            if i % 3 != 0 {
                let tail = vec![0xEE; (i % 13) as usize + 1];
                batch.tails.extend_from_slice(&tail);
                expected.extend_from_slice(&tail);
            }
            batch.close_piece();
        }
        // Bytes of a piece not closed yet are not written.
        batch.heads.extend_from_slice(b"open");
        (batch, expected)
    }

    #[test]
    fn everything_handed_over_arrives_in_order() {
        let sink = Shared::default();
        let writer = Background::new(Box::new(sink.clone())).expect("thread");
        let mut expected = Vec::new();
        for round in 0..20 {
            let (mut b, bytes) = batch(2500, round);
            expected.extend_from_slice(&bytes);
            writer
                .hand_over(&mut b, round % 2 == 0, 1 << 16)
                .expect("send");
            assert!(
                b.is_empty() && b.heads.is_empty(),
                "the next batch is empty"
            );
        }
        writer.flush().expect("flush");
        assert_eq!(*sink.0.lock().expect("lock"), expected);
        let (mut b, bytes) = batch(5, 99);
        writer.hand_over(&mut b, false, 16).expect("send");
        drop(writer);
        assert!(sink.0.lock().expect("lock").ends_with(&bytes));
    }

    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_comes_back_on_flush() {
        let writer = Background::new(Box::new(Failing)).expect("thread");
        let (mut b, _) = batch(3, 1);
        writer.hand_over(&mut b, false, 16).expect("handed over");
        let err = writer.flush().expect_err("the error");
        assert!(err.to_string().contains("disk full"));
    }
}
