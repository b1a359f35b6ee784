//! The recorder writes what `pcap-file` would write, byte for byte; [`writer`]: what the writing
//! thread does (explainers, order, a slow or failing output, finishing).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use pcap_file::pcap::PcapPacket;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};

use super::layout::timestamp;
use std::any::Any;

use super::*;
use crate::link::tso::TsoPiece;

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

impl Shared {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().expect("lock").clone()
    }
}

/// A frame of the test run: where, when, what, and its comment.
struct Case {
    interface: u32,
    direction: Direction,
    time: Instant,
    data: Vec<u8>,
    comment: String,
}

/// Frames of every length up to 9 and some long ones, comments of every length up to 9 and a
/// long one, both directions, times from before 0 to far beyond 2^32 nanoseconds.
fn cases(interfaces: u32) -> Vec<Case> {
    let mut cases = Vec::new();
    // Enough bytes for more than one batch (some 3 MiB).
    for i in 0..4000usize {
        let len = match i % 13 {
            n @ 0..=9 => n,
            10 => 1500,
            11 => 577,
            _ => 9000 + i,
        };
        // Runs of one same comment, as in a transfer, and every comment length's padding.
        let comment = match (i / 4) % 11 {
            n @ 0..=9 => "abcdefghi"[..n].to_string(),
            _ => format!(
                "RETR big.bin data connection: data, {len} bytes \"{}\"",
                i % 7
            ),
        };
        cases.push(Case {
            interface: i as u32 % interfaces,
            direction: if i % 3 == 0 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            time: Instant::from_micros(i as i64 * 7_919_993 - 5),
            data: (0..len).map(|b| (b * 31 + i) as u8).collect(),
            comment,
        });
    }
    cases
}

/// pcap-file's writer with the header and an interface block per name, as the recorder
/// writes them (raw IP, nanosecond timestamps): the reference the recorder's bytes must equal.
fn reference_writer(interfaces: &[&str]) -> PcapNgWriter<Vec<u8>> {
    let mut w = PcapNgWriter::new(Vec::new()).expect("writer");
    for name in interfaces {
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: SNAPLEN,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        })
        .expect("idb");
    }
    w
}

/// Has the frames waiting explained by `f` on the writing thread.
fn explain_with(recorder: &Recorder, f: impl FnMut(&PendingFrame, &mut String) + Send + 'static) {
    let id = recorder.add_explainer(Box::new(f));
    recorder.write_pending(id, None);
}

/// What the explainers saw that was not what they expected (they run on the writing thread).
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, what: String) {
        self.0.lock().expect("lock").push(what);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

/// Records `cases` a few frames per poll, explaining each with its comment; checks that each
/// explainer sees its frames.
fn record_all(recorder: &Recorder, cases: &Arc<Vec<Case>>) {
    let wrong = Seen::default();
    for (poll, chunk) in cases.chunks(7).enumerate() {
        for c in chunk {
            recorder.record(c.interface, c.direction, c.time, &c.data);
        }
        let (cases, wrong) = (cases.clone(), wrong.clone());
        let mut next = poll * 7;
        explain_with(recorder, move |frame, comment| {
            let c = &cases[next];
            if frame.data != &c.data[..]
                || (frame.interface, frame.direction) != (c.interface, c.direction)
                || frame.time != c.time
                || frame.number != next as u64 + 1
            {
                wrong.push(format!("frame {next}: {frame:?}"));
            }
            comment.clear();
            comment.push_str(&c.comment);
            next += 1;
        });
    }
    recorder.sync();
    assert_eq!(wrong.all(), Vec::<String>::new());
}

#[test]
fn pcapng_is_what_pcap_file_writes() {
    let cases = Arc::new(cases(2));
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    assert_eq!(recorder.add_interface("one").expect("idb"), 0);
    assert_eq!(recorder.add_interface("two").expect("idb"), 1);
    record_all(&recorder, &cases);
    assert_eq!(recorder.finish().expect("finish"), cases.len() as u64);

    let mut w = reference_writer(&["one", "two"]);
    for c in cases.iter() {
        let mut options = vec![EnhancedPacketOption::Flags(c.direction.epb_flags())];
        if !c.comment.is_empty() {
            options.push(EnhancedPacketOption::Comment(Cow::Borrowed(&c.comment)));
        }
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: c.interface,
            timestamp: timestamp(c.time),
            original_len: c.data.len() as u32,
            data: Cow::Borrowed(&c.data),
            options,
        })
        .expect("epb");
    }
    let expected = w.get_mut().clone();
    assert!(expected.len() > BATCH_BYTES);
    assert!(out.bytes() == expected, "the files differ");
}

#[test]
fn pcap_is_what_pcap_file_writes() {
    let cases = Arc::new(cases(1));
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcap, true).expect("recorder");
    assert_eq!(recorder.add_interface("ignored").expect("idb"), 0);
    record_all(&recorder, &cases);
    assert_eq!(recorder.finish().expect("finish"), cases.len() as u64);

    let header = PcapHeader {
        datalink: DataLink::RAW,
        snaplen: SNAPLEN,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).expect("writer");
    for c in cases.iter() {
        w.write_packet(&PcapPacket::new(
            timestamp(c.time),
            c.data.len() as u32,
            &c.data,
        ))
        .expect("packet");
    }
    assert!(out.bytes() == w.into_writer(), "the files differ");
}

#[test]
fn an_interface_declared_between_record_and_explanation_comes_first() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let one = recorder.add_interface("one").expect("idb");
    recorder.record(one, Direction::Outbound, Instant::from_micros(1), b"first");
    let two = recorder.add_interface("two").expect("idb");
    recorder.record(two, Direction::Inbound, Instant::from_micros(2), b"second");
    let seen = Seen::default();
    let saw = seen.clone();
    explain_with(&recorder, move |frame, comment| {
        saw.push(String::from_utf8_lossy(frame.data).into_owned());
        comment.clear();
        comment.push('c');
    });
    recorder.sync();
    assert_eq!(seen.all(), ["first", "second"]);
    recorder.finish().expect("finish");

    let mut w = reference_writer(&["one", "two"]);
    for (id, data, us) in [(one, &b"first"[..], 1), (two, &b"second"[..], 2)] {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: id,
            timestamp: StdDuration::from_micros(us),
            original_len: data.len() as u32,
            data: Cow::Borrowed(data),
            options: vec![
                EnhancedPacketOption::Flags(if id == one { 0b10 } else { 0b01 }),
                EnhancedPacketOption::Comment(Cow::Borrowed("c")),
            ],
        })
        .expect("epb");
    }
    assert!(out.bytes() == *w.get_mut(), "the files differ");
}

#[test]
fn an_unknown_interface_is_an_error_and_what_came_before_is_kept() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    recorder.record(id, Direction::Outbound, Instant::from_micros(1), b"kept");
    explain_with(&recorder, |_, comment| comment.clear());
    let before = {
        recorder.finish().expect("finish");
        out.bytes()
    };
    recorder.record(
        id + 1,
        Direction::Outbound,
        Instant::from_micros(2),
        b"lost",
    );
    recorder.record(id, Direction::Outbound, Instant::from_micros(3), b"after");
    let err = recorder.finish().expect_err("an unknown interface");
    assert!(err.to_string().contains("interface id: 1"), "{err}");
    drop(recorder);
    assert_eq!(out.bytes(), before);
}

#[test]
fn dropping_the_last_handle_writes_what_was_explained() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    recorder.record(
        id,
        Direction::Outbound,
        Instant::from_micros(1),
        b"explained",
    );
    explain_with(&recorder, |_, c| {
        c.clear();
        c.push_str("yes");
    });
    recorder.record(
        id,
        Direction::Outbound,
        Instant::from_micros(2),
        b"never explained",
    );
    drop(recorder);
    let bytes = out.bytes();
    let tail = b"yes\0\0\0\0\0";
    assert!(bytes.windows(tail.len()).any(|w| w == tail));
    assert!(!bytes.windows(5).any(|w| w == b"never"));
}

#[test]
fn a_comment_left_as_it_is_goes_to_the_next_frame_too() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    let seen = Seen::default();
    for poll in 0..2 {
        for i in 0..3 {
            recorder.record(id, Direction::Outbound, Instant::from_micros(i), b"x");
        }
        let saw = seen.clone();
        explain_with(&recorder, move |_, comment| {
            saw.push(comment.clone());
            if comment.is_empty() {
                comment.push_str(if poll == 0 { "same" } else { "again" });
            }
        });
    }
    recorder.finish().expect("finish");
    // Each poll starts with an empty string.
    assert_eq!(seen.all(), ["", "same", "same", "", "again", "again"]);
    let bytes = out.bytes();
    let count = |w: &[u8]| bytes.windows(w.len()).filter(|x| *x == w).count();
    assert_eq!((count(b"same"), count(b"again")), (3, 3));
}

#[test]
fn through_a_pipe_the_header_blocks_come_before_any_frame() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, true).expect("recorder");
    recorder.add_interface("one").expect("idb");
    let mut w = reference_writer(&["one"]);
    // The writing thread gets there on its own; wait for it (not a timing check).
    for _ in 0..5000 {
        if out.bytes().len() >= w.get_mut().len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(out.bytes() == *w.get_mut(), "the header blocks are not out");
}

#[test]
fn a_comment_too_long_for_pcapng_is_cut_and_the_file_stays_readable() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    // 70,000 bytes of two-byte characters: past 65,535, and the cut must fall between them.
    let long = "é".repeat(35_000);
    for (i, text) in [long.as_str(), "short", long.as_str()]
        .into_iter()
        .enumerate()
    {
        recorder.record(
            id,
            Direction::Outbound,
            Instant::from_micros(i as i64),
            b"frame",
        );
        let text = text.to_string();
        explain_with(&recorder, move |_, comment| {
            comment.clear();
            comment.push_str(&text);
        });
    }
    assert_eq!(recorder.finish().expect("finish"), 3);
    let bytes = out.bytes();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("reader");
    let mut comments = Vec::new();
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(epb) = block.expect("a whole block") {
            assert_eq!(&epb.data[..], b"frame");
            for option in epb.options {
                if let EnhancedPacketOption::Comment(c) = option {
                    comments.push(c.into_owned());
                }
            }
        }
    }
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[1], "short");
    for cut in [&comments[0], &comments[2]] {
        assert!(cut.len() <= usize::from(u16::MAX), "{}", cut.len());
        assert!(cut.ends_with(layout::CUT));
        assert!(cut.starts_with("éé"));
    }
}

mod writer;
