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

/// Capture bytes in the order they go to the file: `heads[..done]`, except where a splice puts
/// a run of `tails` in place of a run of heads. The recorder lays each block out whole in
/// `heads` when it can guess the block's end (its comment) before it is known, and splices in
/// the real end where the guess was wrong: most blocks go out in one long slice.
#[derive(Debug, Default)]
pub struct Batch {
    /// Blocks, back to back, some with an end that a splice replaces.
    pub heads: Vec<u8>,
    /// Block ends written in place of a wrong guess, back to back.
    pub tails: Vec<u8>,
    /// The splices, in order.
    splices: Vec<Splice>,
    /// Where the complete blocks end in `heads`: what follows waits for its explanation.
    done: usize,
}

/// `heads` up to `head_end`, then `tails` up to `tail_end`, then `heads` again from `resume`.
#[derive(Clone, Copy, Debug)]
struct Splice {
    head_end: usize,
    tail_end: usize,
    resume: usize,
}

impl Batch {
    /// An empty batch that holds about `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            heads: Vec::with_capacity(bytes),
            tails: Vec::with_capacity(bytes / 16),
            splices: Vec::with_capacity(bytes / 1024),
            done: 0,
        }
    }

    /// Where the complete blocks end in `heads`.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Marks `heads[..end]` complete.
    pub fn complete_to(&mut self, end: usize) {
        self.done = end;
    }

    /// Writes the tail bytes added since the last splice in place of `heads[head_end..resume]`.
    pub fn splice(&mut self, head_end: usize, resume: usize) {
        self.splices.push(Splice {
            head_end,
            tail_end: self.tails.len(),
            resume,
        });
    }

    /// Drops the blocks not complete.
    pub fn truncate_open(&mut self) {
        self.heads.truncate(self.done);
        while self.splices.last().is_some_and(|s| s.resume > self.done) {
            self.splices.pop();
        }
        self.tails
            .truncate(self.splices.last().map_or(0, |s| s.tail_end));
    }

    /// Whether no block is complete.
    pub fn is_empty(&self) -> bool {
        self.done == 0
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.tails.clear();
        self.splices.clear();
        self.done = 0;
    }

    /// Writes the complete blocks to `out`, in order.
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES);
        let (mut head_from, mut tail_from) = (0, 0);
        for s in &self.splices {
            if s.head_end > head_from {
                slices.push(IoSlice::new(&self.heads[head_from..s.head_end]));
            }
            if s.tail_end > tail_from {
                slices.push(IoSlice::new(&self.tails[tail_from..s.tail_end]));
            }
            (head_from, tail_from) = (s.resume, s.tail_end);
            if slices.len() >= MAX_SLICES - 1 {
                write_all_vectored(out, &mut slices)?;
                slices.clear();
            }
        }
        if self.done > head_from {
            slices.push(IoSlice::new(&self.heads[head_from..self.done]));
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

    /// Hands `batch` over (flushing the output after it with `flush`) and puts an empty batch
    /// in its place: one the thread gave back, or a new one of `capacity` bytes. Waits while
    /// the thread is [`DEPTH`] batches behind.
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

    /// A batch of `n` blocks, some whole in `heads` and some with their end spliced in from
    /// `tails`; and the bytes it stands for.
    fn batch(n: u32, seed: u32) -> (Batch, Vec<u8>) {
        let mut batch = Batch::default();
        let mut expected = Vec::new();
        for i in 0..n {
            let head = vec![((i + seed) % 251) as u8; ((i * 7 + seed) % 700) as usize];
            batch.heads.extend_from_slice(&head);
            expected.extend_from_slice(&head);
            let guess = vec![0xAA; (i % 5) as usize];
            let end = batch.heads.len();
            batch.heads.extend_from_slice(&guess);
            if i % 3 != 0 {
                let tail = vec![0xEE; (i % 13) as usize];
                batch.tails.extend_from_slice(&tail);
                expected.extend_from_slice(&tail);
                batch.splice(end, batch.heads.len());
            } else {
                expected.extend_from_slice(&guess);
            }
            batch.complete_to(batch.heads.len());
        }
        // A block not complete yet is not written.
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
