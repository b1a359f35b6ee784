//! # Background writer
//!
//! Layer: link (capture support). A [`std::io::Write`] that hands full buffers to a thread of
//! its own, which writes them to the real file. Recording a fast transfer means writing about as
//! many bytes to disk as cross the cable; on the second core the kernel's copying no longer
//! holds up the stacks' poll loop.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Size of each buffer handed to the writing thread.
const CHUNK: usize = 1 << 20;
/// Buffers in flight between the two threads.
const DEPTH: usize = 8;

enum Msg {
    Data(Vec<u8>),
    Flush(SyncSender<io::Result<()>>),
}

/// Writes through a background thread; errors come back on a later write or on `flush`.
pub struct BackgroundWriter {
    buf: Vec<u8>,
    to_thread: Option<SyncSender<Msg>>,
    spare: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl BackgroundWriter {
    /// Starts the writing thread for `out`.
    pub fn new<W: Write + Send + 'static>(mut out: W) -> io::Result<Self> {
        let (to_thread, from_main) = sync_channel::<Msg>(DEPTH);
        let (give_back, spare) = sync_channel::<Vec<u8>>(DEPTH + 1);
        let thread = std::thread::Builder::new()
            .name("smolftp-capture".into())
            .spawn(move || -> io::Result<()> {
                let mut failed: Option<io::Error> = None;
                for msg in from_main {
                    match msg {
                        Msg::Data(mut data) => {
                            if failed.is_none()
                                && let Err(e) = out.write_all(&data)
                            {
                                failed = Some(e);
                            }
                            data.clear();
                            let _ = give_back.try_send(data);
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
                out.flush()
            })?;
        Ok(BackgroundWriter {
            buf: Vec::with_capacity(CHUNK),
            to_thread: Some(to_thread),
            spare,
            thread: Some(thread),
        })
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        let gone = || io::Error::other("the capture writing thread has stopped");
        self.to_thread
            .as_ref()
            .ok_or_else(gone)?
            .send(msg)
            .map_err(|_| gone())
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Data(full))
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        let (reply, answer) = sync_channel(1);
        self.send(Msg::Flush(reply))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the capture writing thread has stopped"))?
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        let _ = self.hand_over();
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
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn everything_written_arrives_in_order() {
        let sink = Shared::default();
        let mut w = BackgroundWriter::new(sink.clone()).expect("thread");
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let piece = vec![(i % 251) as u8; (i % 700) as usize];
            w.write_all(&piece).expect("write");
            expected.extend_from_slice(&piece);
        }
        w.flush().expect("flush");
        assert_eq!(*sink.0.lock().expect("lock"), expected);
        w.write_all(b"tail").expect("write");
        drop(w);
        assert!(sink.0.lock().expect("lock").ends_with(b"tail"));
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
        let mut w = BackgroundWriter::new(Failing).expect("thread");
        w.write_all(&[1; 100]).expect("buffered");
        let err = w.flush().expect_err("the error");
        assert!(err.to_string().contains("disk full"));
    }
}
