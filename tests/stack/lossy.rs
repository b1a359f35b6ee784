//! A lossy cable for the stack tests: cable ends that lose the frames a rule picks (after a
//! capture around them recorded them, as a lossy cable would), the rules the tests use, and a
//! RETR over such a cable whose capture the tests read.

// Each test crate that includes this module uses only some of it.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use smolftp::ftp::client::Step;
use smolftp::lab::{self, LabConfig};
use smolftp::link::{Capture, Direction, Format, NextArrival, Recorder, WireConfig, WireEnd, wire};
use smolftp::trace::Segment;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::{Duration, Instant};

/// Which frames a [`Dropper`] loses: called with each frame its end sends.
pub type Rule = Rc<RefCell<dyn FnMut(&[u8]) -> bool>>;

/// A cable end that loses the frames `rule` picks (after a capture around it recorded them).
pub struct Dropper {
    /// The cable end.
    pub inner: WireEnd,
    /// Which frames it loses.
    pub rule: Rule,
}

/// A frame on its way out of a [`Dropper`].
pub struct DropTx<'a, T> {
    inner: T,
    rule: &'a Rule,
}

impl<T: phy::TxToken> phy::TxToken for DropTx<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        if !(self.rule.borrow_mut())(&frame) {
            self.inner.consume(len, |buf| buf.copy_from_slice(&frame));
        }
        result
    }
}

impl Device for Dropper {
    type RxToken<'a> = <WireEnd as Device>::RxToken<'a>;
    type TxToken<'a> = DropTx<'a, <WireEnd as Device>::TxToken<'a>>;

    fn receive(&mut self, t: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(t)?;
        Some((
            rx,
            DropTx {
                inner: tx,
                rule: &self.rule,
            },
        ))
    }

    fn transmit(&mut self, t: Instant) -> Option<Self::TxToken<'_>> {
        Some(DropTx {
            inner: self.inner.transmit(t)?,
            rule: &self.rule,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl NextArrival for Dropper {
    fn next_arrival(&self) -> Option<Instant> {
        self.inner.next_arrival()
    }
}

/// The sequence number of `frame` if it is a data segment the server sends from port 20.
fn server_data_seq(frame: &[u8]) -> Option<u32> {
    let seg = Segment::borrow_ip(frame)?;
    (seg.src.port() == 20 && !seg.payload.is_empty()).then_some(seg.seq)
}

/// Drops the `n`th (from 1) data segment the server sends from port 20, once.
pub fn nth_data_segment(n: usize) -> Rule {
    data_segments(n..n + 1)
}

/// Drops the `n`th (from 1) data segment the server sends from port 20 and its first
/// retransmission: the fast retransmission is lost too, so only the timer repairs it.
pub fn nth_data_segment_and_its_retransmission(n: usize) -> Rule {
    let mut seen = 0;
    let mut lost: Option<(u32, usize)> = None;
    Rc::new(RefCell::new(move |frame: &[u8]| {
        let Some(this) = server_data_seq(frame) else {
            return false;
        };
        seen += 1;
        match &mut lost {
            None if seen == n => {
                lost = Some((this, 1));
                true
            }
            Some((seq, times)) if *seq == this && *times < 2 => {
                *times += 1;
                true
            }
            _ => false,
        }
    }))
}

/// Drops the data segments the server sends from port 20 whose number (from 1) is in
/// `lost`, once each: a burst.
pub fn data_segments(lost: std::ops::Range<usize>) -> Rule {
    let mut seen = 0;
    Rc::new(RefCell::new(move |frame: &[u8]| {
        if server_data_seq(frame).is_none() {
            return false;
        }
        seen += 1;
        lost.contains(&seen)
    }))
}

/// RETR of `size` bytes with the server's frames passing `rule`, tapped as each end sends;
/// returns the capture's path.
pub fn lossy_retr(dir: &Path, size: usize, lab: LabConfig, rule: Rule) -> std::path::PathBuf {
    lossy_retr_tapped(dir, size, lab, rule, false)
}

/// What a lossy RETR runs on: the served file (`size` bytes of a pattern, in `root`) and the
/// capture it is recorded in; [`Cable::new`] also gives the two cable ends, not yet wrapped.
pub struct Cable {
    root: std::path::PathBuf,
    bytes: Vec<u8>,
    capture: std::path::PathBuf,
    recorder: Recorder,
    iface: u32,
}

impl Cable {
    fn new(dir: &Path, size: usize, lab: &LabConfig) -> (Cable, WireEnd, WireEnd) {
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let bytes: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
        std::fs::write(root.join("f.bin"), &bytes).unwrap();
        let capture = dir.join("c.pcapng");
        let recorder = Recorder::create(&capture, Format::Pcapng).unwrap();
        let iface = recorder.add_interface("lossy cable").unwrap();
        let (server_end, client_end) = wire::pair(WireConfig {
            mtu: lab.cable.mtu,
            delay: Duration::from_micros(lab.cable.delay.as_micros() as u64),
            ..WireConfig::default()
        });
        let cable = Cable {
            root,
            bytes,
            capture,
            recorder,
            iface,
        };
        (cable, server_end, client_end)
    }

    /// `device` recorded on the capture's interface, its frames seen as `direction`.
    fn tap<D: Device>(&self, device: D, direction: Direction) -> Capture<D> {
        Capture::tap(device, self.recorder.clone(), self.iface, direction)
    }
}

/// [`lossy_retr`]; with `at_client` the capture is the client's interface: the server's
/// frames are recorded when they arrive (in the client's poll), the lost one never.
pub fn lossy_retr_tapped(
    dir: &Path,
    size: usize,
    lab: LabConfig,
    rule: Rule,
    at_client: bool,
) -> std::path::PathBuf {
    let (cable, server_end, client_end) = Cable::new(dir, size, &lab);
    let server = Dropper {
        inner: server_end,
        rule,
    };
    if at_client {
        let client = Capture::new(client_end, cable.recorder.clone(), cable.iface);
        return finish_retr(dir, lab, cable, server, client);
    }
    let server = cable.tap(server, Direction::Outbound);
    let client = cable.tap(client_end, Direction::Inbound);
    finish_retr(dir, lab, cable, server, client)
}

/// [`lossy_retr`] with the client's frames passing `client_rule` too (lost after the
/// capture saw them).
pub fn lossy_retr_both(
    dir: &Path,
    size: usize,
    lab: LabConfig,
    rule: Rule,
    client_rule: Rule,
) -> std::path::PathBuf {
    let (cable, server_end, client_end) = Cable::new(dir, size, &lab);
    let server = Dropper {
        inner: server_end,
        rule,
    };
    let client = Dropper {
        inner: client_end,
        rule: client_rule,
    };
    let server = cable.tap(server, Direction::Outbound);
    let client = cable.tap(client, Direction::Inbound);
    finish_retr(dir, lab, cable, server, client)
}

/// Runs the RETR on the devices made over `cable`, checks the file and returns the capture's
/// path.
pub fn finish_retr<DS, DC>(
    dir: &Path,
    lab: LabConfig,
    cable: Cable,
    server: DS,
    client: DC,
) -> std::path::PathBuf
where
    DS: Device + NextArrival,
    DC: Device + NextArrival,
{
    let local = dir.join("got.bin");
    let steps = vec![Step::Retr {
        remote: "f.bin".into(),
        local: local.clone(),
    }];
    let run = lab
        .run_on(
            server,
            client,
            Some(&cable.recorder),
            &cable.root,
            vec![steps],
            lab::virtual_start(),
        )
        .expect("the session runs");
    cable.recorder.finish().unwrap();
    assert!(run.sessions[0].1.is_none(), "{:?}", run.sessions[0].1);
    assert_eq!(
        std::fs::read(&local).unwrap(),
        cable.bytes,
        "the file is intact"
    );
    cable.capture
}
