//! # Background writer
//!
//! Layer: link (capture support). The thread that explains a capture's frames and writes them
//! to its file. The recorder copies each frame into its block in a batch and hands full batches
//! over a bounded queue (it waits when the queue is full; nothing is dropped); this thread has
//! them explained and laid out (the recorder's desk), writes them with vectored
//! writes and gives the emptied buffers back, so the poll loop neither explains, nor waits for
//! the kernel's copying, nor allocates once warm. On the second core that work no longer holds
//! up the stacks.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::link::recorder::batch::Batch;
use crate::link::recorder::desk::Desk;

/// Batches in flight between the two threads: the recorder waits when the writer is this far
/// behind (the file system is slower than the stacks), so memory stays bounded (some 40 MiB).
/// Deep enough that the writer being off its core for a few scheduler ticks does not stop the
/// stacks; batches are made only when the writer falls behind, and kept for reuse.
const DEPTH: usize = 8;
/// Batches the writing thread makes as it starts, for the run thread to fill after its first:
/// enough while the writer keeps up.
const SPARE: usize = 2;

enum Msg {
    /// Explain and write this batch, then flush the output if asked.
    Batch(Batch, bool),
    /// Answer once everything before is written.
    Sync(SyncSender<()>),
    /// Flush, finish the explainers, and answer with the frames written or the first error.
    Finish(SyncSender<io::Result<u64>>),
}

/// The writing thread; errors come back on [`Background::finish`]. Dropping it writes what was
/// handed over and waits for the thread.
pub struct Background {
    to_thread: Option<SyncSender<Msg>>,
    spare: Receiver<Batch>,
    thread: Option<JoinHandle<()>>,
    /// See [`Background::rooms`].
    rooms: Arc<[AtomicUsize; 2]>,
}

fn gone() -> io::Error {
    io::Error::other("the capture writing thread has stopped")
}

impl Background {
    /// Starts the writing thread for `out`, where `desk` explains and lays out the batches.
    pub(crate) fn new(mut out: Box<dyn Write + Send>, mut desk: Desk) -> io::Result<Background> {
        let (to_thread, from_main) = sync_channel::<Msg>(DEPTH);
        let (give_back, spare) = sync_channel::<Batch>(DEPTH + 1);
        let rooms: Arc<[AtomicUsize; 2]> = Arc::default();
        let told = rooms.clone();
        let thread = std::thread::Builder::new()
            .name("smolftp-capture".into())
            .spawn(move || {
                // The first batches to fill are made here, off the run thread.
                for _ in 0..SPARE {
                    let _ = give_back.try_send(Batch::new());
                }
                for msg in from_main {
                    match msg {
                        Msg::Batch(mut batch, flush) => {
                            desk.process(&mut batch, &mut out);
                            if flush && !desk.failed() {
                                let _ = out.flush();
                            }
                            batch.clear();
                            for (room, end) in told.iter().zip(desk.rooms()) {
                                room.store(end, Ordering::Relaxed);
                            }
                            let _ = give_back.try_send(batch);
                        }
                        Msg::Sync(reply) => {
                            let _ = reply.send(());
                        }
                        Msg::Finish(reply) => {
                            let flushed = match desk.failed() {
                                true => Ok(()),
                                false => out.flush(),
                            };
                            let result = desk.finish();
                            let _ = reply.send(flushed.and(result));
                        }
                    }
                }
                let _ = desk.finish();
                let _ = out.flush();
            })?;
        Ok(Background {
            to_thread: Some(to_thread),
            spare,
            thread: Some(thread),
            rooms,
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
    /// in its place: one the thread gave back, or a new one. Waits while the thread is
    /// [`DEPTH`] batches behind.
    pub(crate) fn hand_over(&self, batch: &mut Batch, flush: bool) -> io::Result<()> {
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        let full = std::mem::replace(batch, next);
        self.send(Msg::Batch(full, flush))
    }

    /// Per direction (inbound, outbound), how long the last block end the writing thread laid
    /// out was (0 before the first): the run thread leaves that much room after each frame. A
    /// block whose end fits its room exactly is written in one piece with the blocks around
    /// it; a transfer's ends rarely change length.
    pub(crate) fn rooms(&self) -> [usize; 2] {
        [
            self.rooms[0].load(Ordering::Relaxed),
            self.rooms[1].load(Ordering::Relaxed),
        ]
    }

    /// Waits until everything handed over is explained and written.
    pub fn sync(&self) {
        let (reply, answer) = sync_channel(1);
        if self.send(Msg::Sync(reply)).is_ok() {
            let _ = answer.recv();
        }
    }

    /// Waits until everything handed over is written and flushed; returns the number of frames
    /// written, or the first error met (once).
    pub fn finish(&self) -> io::Result<u64> {
        let (reply, answer) = sync_channel(1);
        self.send(Msg::Finish(reply))?;
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
