//! # TUN writer thread
//!
//! Layer: device (phy). Writing a frame to a TUN device is where the time of a plain-TUN
//! transfer goes: the kernel takes the frame in inside our `write(2)`, and runs the receiving
//! TCP (curl's, vsftpd's) right there, on our thread. A [`Writer`] moves those writes to a
//! thread of their own, so the stack builds the next segments while the kernel takes in the last
//! ones, on another core. The stack still builds every frame in place (in a buffer the thread
//! hands back when written: no copy, no allocation once warm); frames keep their order; the
//! capture is untouched (it records frames as smoltcp emits them, before they reach here).
//!
//! With coalescing on ([`Writer::start`]'s `merge`), every frame comes after a virtio-net header
//! of zeros, and the thread writes each run of frames that may merge ([`super::coalesce`]) as one
//! GSO frame: one `writev(2)` of the merged headers and the frames' payloads, still no copy.
//! Should the kernel refuse a merged frame, the run is written frame by frame and merging ends.
//!
//! A bounded queue ([`QUEUE_LIMIT`] frames) makes a stack that outruns the kernel wait for it,
//! instead of losing frames. Write errors are counted and logged by the thread as before
//! ([`Health`]); one that means the interface is gone stops the writes and is told to the
//! device ([`Writer::health`], [`Writer::is_gone`]).

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::coalesce::{Run, Seg};
use super::health::{Health, describe_fatal, is_fatal};
use super::vnet::VNET_HDR;

/// Frames waiting at most; a stack that gets this far ahead waits for the thread.
pub(super) const QUEUE_LIMIT: usize = 512;
/// The stack may go on once the queue is down to this.
const RESUME_AT: usize = QUEUE_LIMIT / 2;

/// With merging, an idle thread is woken once this many frames wait (or at a [`Writer::flush`]),
/// not for each one: fewer wake-ups and longer runs to merge. Without, every frame wakes it.
const WAKE_AT: usize = 32;

/// Frames shorter than this (handshakes, ACKs, control replies) are written at once by the
/// stack's own thread, after what is queued: the kernel answers them in turn, as it did before
/// the thread (the listener pool's half-open limit counts on that in a burst of connects).
pub(super) const DIRECT_BELOW: usize = 256;

/// The device's end of the writer thread.
pub(super) struct Writer {
    file: Arc<File>,
    shared: Arc<Shared>,
    /// Frames waiting that wake an idle thread (1, or [`WAKE_AT`] with merging).
    wake_at: usize,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Frames to write (the thread waits on it when idle).
    work: Condvar,
    /// Room in the queue (the stack waits on it when the queue is full).
    room: Condvar,
    /// Set once a write said the interface is gone.
    gone: AtomicBool,
}

#[derive(Default)]
struct Queue {
    /// Frames to write, oldest first.
    frames: Vec<Vec<u8>>,
    /// Written frames' buffers, for the stack's next frames.
    free: Vec<Vec<u8>>,
    /// The thread sleeps on `work`.
    idle: bool,
    /// The stack waits on `room`.
    full: bool,
    /// The stack waits on `room` for every queued frame to be written.
    draining: bool,
    /// The device is closing: write what is queued and end.
    stop: bool,
    /// Frames lost to write errors so far, by the thread.
    errors: u64,
    /// Frames lost to write errors so far, written at once ([`Writer::write_now`]).
    direct_errors: u64,
    /// The error that made the device unusable.
    fatal: Option<io::Error>,
}

impl Writer {
    /// Starts the thread writing to `file` (named `name` in its logs); with `merge`, frames come
    /// after a virtio-net header and runs of them are written as one GSO frame.
    pub(super) fn start(file: Arc<File>, name: &str, merge: bool) -> io::Result<Writer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            gone: AtomicBool::new(false),
        });
        let health = Health::new(name);
        let direct = file.clone();
        let merging = merge.then(|| Merging {
            head: Vec::with_capacity(VNET_HDR + 120),
            name: name.to_string(),
        });
        let thread = std::thread::Builder::new()
            .name(format!("tun-write-{name}"))
            .spawn({
                let shared = shared.clone();
                move || write_loop(&shared, &file, health, merging)
            })?;
        Ok(Writer {
            file: direct,
            shared,
            wake_at: if merge { WAKE_AT } else { 1 },
            thread: Some(thread),
        })
    }

    /// Writes `frame` at once, on the caller's thread, after every queued frame.
    pub(super) fn write_now(&self, frame: &[u8]) {
        self.wait_written();
        if self.is_gone() {
            return;
        }
        if let Err(e) = (&*self.file).write(frame) {
            let mut q = lock(&self.shared.queue);
            q.direct_errors += 1;
            if is_fatal(&e) && q.fatal.is_none() {
                log::error!("{}", describe_fatal(&e));
                self.shared.gone.store(true, Ordering::Relaxed);
                q.fatal = Some(e);
            } else {
                log::debug!("TUN write error (frame lost, TCP resends): {e}");
            }
        }
    }

    /// Queues `frame` for writing (waiting while the queue is full) and returns a buffer for the
    /// next one: one the thread has written (its old bytes left in place, so that sizing it for
    /// a frame of the same length writes nothing), or a new one.
    pub(super) fn push(&self, frame: Vec<u8>) -> Vec<u8> {
        let mut q = lock(&self.shared.queue);
        while q.frames.len() >= QUEUE_LIMIT && !q.stop && q.fatal.is_none() {
            q = self.wake(q);
            q.full = true;
            q = self
                .shared
                .room
                .wait(q)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if q.fatal.is_none() {
            q.frames.push(frame);
        }
        let wake = q.idle && q.frames.len() >= self.wake_at;
        if wake {
            q.idle = false;
        }
        let next = q.free.pop().unwrap_or_default();
        drop(q);
        if wake {
            self.shared.work.notify_one();
        }
        next
    }

    /// Wakes the thread if frames wait for it ([`WAKE_AT`]): the stack calls this before it reads
    /// or sleeps, so that nothing waits longer than one turn of its loop.
    pub(super) fn flush(&self) {
        drop(self.wake(lock(&self.shared.queue)));
    }

    /// Wakes the thread if it is idle and frames wait; hands the lock back.
    fn wake<'a>(&self, mut q: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        if q.idle && !q.frames.is_empty() {
            q.idle = false;
            self.shared.work.notify_one();
        }
        q
    }

    /// Waits until every queued frame has been written (or dropped by an error), so that what
    /// is read next comes after the kernel took in all we sent, as when each frame was written
    /// at once: a burst of connections then sees each handshake answered in turn.
    pub(super) fn wait_written(&self) {
        let mut q = lock(&self.shared.queue);
        loop {
            let written = q.frames.is_empty() && q.idle;
            if written || q.stop || q.fatal.is_some() {
                return;
            }
            q = self.wake(q);
            q.draining = true;
            q = self
                .shared
                .room
                .wait(q)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Whether a write said the interface is gone (cheap: no lock).
    pub(super) fn is_gone(&self) -> bool {
        self.shared.gone.load(Ordering::Relaxed)
    }

    /// Frames lost to write errors, and the error that made the device unusable, if any.
    pub(super) fn health(&self) -> (u64, Option<String>) {
        let q = lock(&self.shared.queue);
        (
            q.errors + q.direct_errors,
            q.fatal.as_ref().map(describe_fatal),
        )
    }

    /// Waits until every queued frame has been written (or dropped by an error), without
    /// waking the thread; panics after 10 s.
    #[cfg(test)]
    pub(super) fn drain(&self) {
        for _ in 0..10_000 {
            let q = lock(&self.shared.queue);
            if q.frames.is_empty() && q.idle || q.fatal.is_some() {
                return;
            }
            drop(q);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("the writer thread did not write the queued frames within 10 s");
    }
}

impl Drop for Writer {
    /// Writes what is queued (the last FINs and ACKs of a run), then ends the thread.
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The thread: takes every queued frame at once, writes them in order (merging runs when
/// `merging`), gives the buffers back.
fn write_loop(shared: &Shared, file: &File, mut health: Health, mut merging: Option<Merging>) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(QUEUE_LIMIT);
    let mut q = lock(&shared.queue);
    loop {
        // Buffers of the last batch go back; the stack may go on if it waited.
        q.free.append(&mut batch);
        q.errors = health.errors;
        if let Some(e) = health.fatal.take() {
            shared.gone.store(true, Ordering::Relaxed);
            q.fatal = Some(e);
            q.frames.clear();
        }
        if q.full && q.frames.len() <= RESUME_AT || q.fatal.is_some() {
            q.full = false;
            shared.room.notify_all();
        }
        if q.frames.is_empty() {
            if q.stop || q.fatal.is_some() {
                return;
            }
            q.idle = true;
            if std::mem::take(&mut q.draining) {
                shared.room.notify_all();
            }
            q = shared
                .work
                .wait(q)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            q.idle = false;
            continue;
        }
        std::mem::swap(&mut batch, &mut q.frames);
        drop(q);
        match &mut merging {
            Some(m) => {
                if !m.write(file, &batch, &mut health) {
                    merging = None;
                }
            }
            None => {
                for frame in &batch {
                    write_one(file, frame, &mut health);
                }
            }
        }
        q = lock(&shared.queue);
    }
}

/// Writes one frame; an error loses it (counted).
fn write_one(mut out: &File, frame: &[u8], health: &mut Health) {
    if health.fatal.is_none() {
        match out.write(frame) {
            Ok(_) => {}
            // The kernel's queue is full: the frame is lost, as on a busy wire; TCP resends.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => health.errors += 1,
            Err(e) => health.failed(e, true),
        }
    }
}

/// The writer thread's coalescing ([`super::coalesce`]).
struct Merging {
    /// The merged frame's headers.
    head: Vec<u8>,
    /// The device's name, for the log.
    name: String,
}

impl Merging {
    /// Writes `batch` (each frame after a virtio-net header) in order, each run of frames that
    /// may merge as one frame. Returns false once the kernel refused a merged frame (the run was
    /// then written frame by frame): the caller writes frame by frame from then on.
    fn write(&mut self, mut out: &File, batch: &[Vec<u8>], health: &mut Health) -> bool {
        let mut i = 0;
        while i < batch.len() {
            let first = &batch[i][VNET_HDR..];
            let mut run = Seg::of(first).map(Run::new);
            if let Some(run) = &mut run {
                while let Some(next) = batch.get(i + run.count) {
                    let next = &next[VNET_HDR..];
                    if !Seg::of(next).is_some_and(|s| run.join(first, next, s)) {
                        break;
                    }
                }
            }
            let run = match run {
                Some(run) if run.count > 1 && health.fatal.is_none() => run,
                _ => {
                    write_one(out, &batch[i], health);
                    i += 1;
                    continue;
                }
            };
            let frames = &batch[i..i + run.count];
            i += run.count;
            run.header(first, &mut self.head);
            let mut parts = Vec::with_capacity(run.count + 1);
            parts.push(IoSlice::new(&self.head));
            for f in frames {
                parts.push(IoSlice::new(&f[VNET_HDR + run.hdr_len()..]));
            }
            match out.write_vectored(&parts) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    health.errors += frames.len() as u64
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    log::warn!(
                        "{}: the kernel refused a merged frame ({e}): writing one frame per \
                         segment from now on",
                        self.name
                    );
                    for f in frames {
                        write_one(out, f, health);
                    }
                    for f in &batch[i..] {
                        write_one(out, f, health);
                    }
                    return false;
                }
                Err(e) => {
                    health.errors += frames.len() as u64 - 1;
                    health.failed(e, true);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
