//! The writing thread: explainers get what the run thread did in its order; relayed frames,
//! TSO pieces and faults are told in their places; a slow output holds the recorder back, a
//! failing one is reported; finish waits for everything; block ends go in the room left.

use super::*;

/// The frame comments of a pcapng capture, in order (`""` for a frame without one).
fn comments_of(bytes: &[u8]) -> Vec<String> {
    let mut reader = pcap_file::pcapng::PcapNgReader::new(bytes).expect("reader");
    let mut comments = Vec::new();
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(epb) = block.expect("a whole block") {
            let comment = epb.options.into_iter().find_map(|o| match o {
                EnhancedPacketOption::Comment(c) => Some(c.into_owned()),
                _ => None,
            });
            comments.push(comment.unwrap_or_default());
        }
    }
    comments
}

#[test]
fn relayed_frames_tso_pieces_and_faults_are_told_in_their_places() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    let t = Instant::from_micros(5);
    // Sent by the unrecorded host, explained by it as it leaves, arriving later.
    recorder.relay(t, b"from afar");
    explain_with(&recorder, |frame, comment| {
        comment.clear();
        if frame.number == 0 {
            comment.push_str("sender says");
        }
    });
    recorder.record(id, Direction::Inbound, t, b"from afar");
    recorder.record(id, Direction::Outbound, t, b"piece");
    recorder.cut_last(TsoPiece {
        index: 1,
        count: 3,
        seq: 7,
        payload: 3000,
        mss: 1000,
    });
    recorder.fault_last("lost on the cable");
    recorder.fault_last("and late");
    recorder.record(id, Direction::Outbound, t, b"plain");
    recorder.fault_last("duplicated");
    recorder.relay(t, b"one more");
    // Noted by the last frame, but ending a TSO note: the note in the first place.
    explain_with(&recorder, |frame, comment| {
        comment.clear();
        match frame.explained {
            Some(sender) => comment.push_str(sender),
            None if frame.data == b"piece" => comment.push_str("mine; cwnd=1"),
            None => comment.push_str("mine"),
        }
        comment.push_str(" +view");
    });
    assert_eq!(recorder.finish().expect("finish"), 3);
    assert_eq!(
        comments_of(&out.bytes()),
        [
            "sender says +view",
            "mine; TSO: frame 2 of 3 cut from one send of 3000 bytes (MSS 1000); cwnd=1 +view; \
             fault: lost on the cable; and late",
            "mine +view; fault: duplicated",
        ]
    );
}

#[test]
fn an_explainer_gets_notes_contexts_and_frames_in_the_order_they_came() {
    struct Logged(Seen);
    impl Explain for Logged {
        fn sent(&mut self, notes: &SentNotes) {
            self.0
                .push(format!("sent {} to {}", notes.segments.len(), notes.dst));
        }
        fn begin(&mut self, context: Option<Box<dyn Any + Send>>) {
            let context = context.and_then(|c| c.downcast::<&str>().ok());
            self.0.push(format!("begin {context:?}"));
        }
        fn frame(&mut self, frame: &PendingFrame, comment: &mut String) {
            self.0.push(format!("frame {}", frame.number));
            comment.clear();
        }
        fn end(&mut self) {
            self.0.push("end".into());
        }
    }
    let log = Seen::default();
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let iface = recorder.add_interface("one").expect("idb");
    let explainer = recorder.add_explainer(Box::new(Logged(log.clone())));
    let mut syns = syns(3).into_iter();
    let ends = (
        "10.0.0.1:49152".parse().expect("addr"),
        "10.0.0.2:21".parse().expect("addr"),
    );
    let mut note = |n| {
        let syns = syns.by_ref().take(n).collect::<Vec<_>>();
        recorder.note_sent(explainer, ends, Instant::from_micros(1), |mut spare| {
            assert!(spare.is_empty());
            spare.extend(syns);
            spare
        });
    };
    recorder.record(iface, Direction::Outbound, Instant::from_micros(1), b"a");
    note(1);
    // A socket that sent nothing says nothing.
    note(0);
    recorder.write_pending(explainer, Some(Box::new("first poll")));
    recorder.record(iface, Direction::Outbound, Instant::from_micros(2), b"b");
    recorder.record(iface, Direction::Outbound, Instant::from_micros(2), b"c");
    note(2);
    recorder.write_pending(explainer, None);
    recorder.sync();
    assert_eq!(
        log.all(),
        [
            "sent 1 to 10.0.0.2:21",
            "begin Some(\"first poll\")",
            "frame 1",
            "end",
            "sent 2 to 10.0.0.2:21",
            "begin None",
            "frame 2",
            "frame 3",
            "end"
        ]
    );
    assert_eq!(recorder.finish().expect("finish"), 3);
}

/// The snapshots of `n` segments a real socket sent (smoltcp builds them alone): a SYN and its
/// retransmissions, into a cable nobody answers.
fn syns(n: usize) -> Vec<smoltcp::socket::tcp::SentSegment> {
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
    let (mut device, _peer) = crate::link::wire::pair(crate::link::WireConfig::default());
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut device, Instant::ZERO);
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24))
            .expect("address")
    });
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64]),
        tcp::SocketBuffer::new(vec![0; 64]),
    );
    socket.set_sent_info_log(true);
    socket
        .connect(iface.context(), (IpAddress::v4(10, 0, 0, 2), 21), 49152)
        .expect("connect");
    let mut sockets = SocketSet::new(vec![]);
    let handle = sockets.add(socket);
    // Each poll a retransmission timeout (at most a minute) later sends the SYN again.
    for i in 0..n as i64 {
        iface.poll(Instant::from_secs(61 * i), &mut device, &mut sockets);
    }
    let sent: Vec<_> = sockets
        .get_mut::<tcp::Socket>(handle)
        .drain_sent_info()
        .collect();
    assert_eq!(sent.len(), n);
    sent
}

/// An output that takes its time: each write waits a little, so the recorder gets ahead of it.
#[derive(Clone, Default)]
struct Slow(Shared);

impl Write for Slow {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        std::thread::sleep(std::time::Duration::from_micros(50));
        // A short write now and then, as a pipe may do.
        let n = data.len().min(100_000);
        self.0.write(&data[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_slow_output_holds_the_recorder_back_and_no_frame_is_lost() {
    let out = Slow::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    // Far more than the queue holds: the recorder must wait for the writer, not drop.
    let frame = vec![0x45u8; 1500];
    let polls = 1000;
    for poll in 0..polls {
        for i in 0..10u8 {
            let mut f = frame.clone();
            f[1] = i;
            recorder.record(id, Direction::Outbound, Instant::from_micros(poll), &f);
        }
        explain_with(&recorder, move |frame, comment| {
            comment.clear();
            comment.push_str(&format!("poll {poll} frame {}", frame.data[1]));
        });
    }
    assert_eq!(recorder.finish().expect("finish"), polls as u64 * 10);
    let comments = comments_of(&out.0.bytes());
    assert_eq!(comments.len(), polls as usize * 10);
    for (n, c) in comments.iter().enumerate() {
        assert_eq!(*c, format!("poll {} frame {}", n / 10, n % 10));
    }
}

/// An output that fails once it has taken `room` bytes.
struct Full {
    room: usize,
    out: Shared,
}

impl Write for Full {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = data.len().min(self.room);
        self.room -= n;
        self.out.write(&data[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_is_reported_by_finish_and_nothing_is_written_after_it() {
    let out = Shared::default();
    let full = Full {
        room: 3 << 20,
        out: out.clone(),
    };
    let recorder = Recorder::new(Box::new(full), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    for poll in 0..1000 {
        for _ in 0..10 {
            recorder.record(
                id,
                Direction::Outbound,
                Instant::from_micros(poll),
                &[7; 1000],
            );
        }
        explain_with(&recorder, |_, c| c.clear());
    }
    let err = recorder.finish().expect_err("the disk is full");
    assert!(err.to_string().contains("disk full"), "{err}");
    // Recording goes on, but nothing more reaches the file.
    let before = out.bytes().len();
    assert_eq!(before, 3 << 20);
    recorder.record(id, Direction::Outbound, Instant::from_micros(5), &[7; 1000]);
    explain_with(&recorder, |_, c| c.clear());
    recorder.finish().expect("the error was told once");
    drop(recorder);
    assert_eq!(out.bytes().len(), before);
}

/// An output that keeps what it is given until it is flushed.
struct Buffered {
    held: Vec<u8>,
    out: Shared,
}

impl Write for Buffered {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.held)?;
        self.held.clear();
        Ok(())
    }
}

#[test]
fn finish_returns_once_every_frame_is_written_and_flushed() {
    let out = Shared::default();
    let buffered = Buffered {
        held: Vec::new(),
        out: out.clone(),
    };
    let recorder = Recorder::new(Box::new(buffered), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    for poll in 0..50 {
        recorder.record(id, Direction::Outbound, Instant::from_micros(poll), b"x");
        explain_with(&recorder, move |_, c| {
            c.clear();
            c.push_str(&format!("{poll}"));
        });
    }
    // Recorded, never explained: written without a comment by finish.
    recorder.record(id, Direction::Inbound, Instant::from_micros(60), b"y");
    assert_eq!(recorder.finish().expect("finish"), 51);
    let comments = comments_of(&out.bytes());
    let mut expected: Vec<String> = (0..50).map(|p| p.to_string()).collect();
    expected.push(String::new());
    assert_eq!(comments, expected);
}

#[test]
fn handed_over_each_poll_the_frames_are_explained_without_waiting_for_a_full_batch() {
    let out = Shared::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    recorder.hand_over_each_poll();
    let seen = Seen::default();
    let saw = seen.clone();
    recorder.record(id, Direction::Outbound, Instant::from_micros(1), b"x");
    explain_with(&recorder, move |_, c| {
        saw.push("explained".into());
        c.clear();
    });
    // No sync, no finish: the writing thread gets there on its own; wait for it (not a
    // timing check).
    for _ in 0..5000 {
        if !seen.all().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(seen.all(), ["explained"]);
    assert_eq!(recorder.finish().expect("finish"), 1);
}

/// An output that counts the pieces it is handed.
#[derive(Clone, Default)]
struct Counting {
    out: Shared,
    pieces: Arc<Mutex<usize>>,
}

impl Write for Counting {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        *self.pieces.lock().expect("lock") += 1;
        self.out.write(data)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        *self.pieces.lock().expect("lock") += bufs.iter().filter(|b| !b.is_empty()).count();
        let mut n = 0;
        for b in bufs {
            n += self.out.write(b)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn block_ends_as_long_as_the_last_ones_go_in_the_room_left_and_the_file_is_the_same() {
    let out = Counting::default();
    let recorder = Recorder::new(Box::new(out.clone()), Format::Pcapng, false).expect("recorder");
    let id = recorder.add_interface("one").expect("idb");
    let mut w = reference_writer(&["one"]);
    let frames = 3000;
    for poll in 0..frames / 10 {
        for i in 0..10 {
            let data: Vec<u8> = (0..1500).map(|b| (b + poll * 10 + i) as u8).collect();
            let time = Instant::from_micros((poll * 10 + i) as i64);
            let direction = [Direction::Outbound, Direction::Inbound][i % 2];
            recorder.record(id, direction, time, &data);
            // Two lengths of comment, one per direction, and now and then another.
            let comment = match (i % 2, poll % 37) {
                (_, 0) => "now and then a longer one".to_string(),
                (0, _) => format!("out {:04}", poll % 1000),
                _ => format!("in {:02}", poll % 100),
            };
            let mut options = vec![EnhancedPacketOption::Flags(direction.epb_flags())];
            options.push(EnhancedPacketOption::Comment(Cow::Owned(comment)));
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: id,
                timestamp: timestamp(time),
                original_len: 1500,
                data: Cow::Owned(data),
                options,
            })
            .expect("epb");
        }
        explain_with(&recorder, move |frame, comment| {
            comment.clear();
            let i = frame.number as usize - 1 - poll * 10;
            match (i % 2, poll % 37) {
                (_, 0) => comment.push_str("now and then a longer one"),
                (0, _) => comment.push_str(&format!("out {:04}", poll % 1000)),
                _ => comment.push_str(&format!("in {:02}", poll % 100)),
            }
        });
        if poll % 50 == 49 {
            // As when the writer keeps up: batches go over (sooner than when full) and come
            // back, saying how long the ends were.
            recorder.sync();
        }
    }
    assert_eq!(recorder.finish().expect("finish"), frames as u64);
    assert!(out.out.bytes() == *w.get_mut(), "the files differ");
    // Once the first batches came back, blocks went out in runs, not as a block and its end
    // apart (two pieces a frame).
    let pieces = *out.pieces.lock().expect("lock");
    assert!(pieces < frames, "{pieces} pieces for {frames} frames");
}
