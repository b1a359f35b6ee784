//! The writer thread: order, buffers handed back, merging, flushes, a device that is gone.

use super::*;
use std::io::Read;

fn scratch_file(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("smolftp-writer-{tag}-{}", std::process::id()))
}

#[test]
fn frames_are_written_once_each_in_order_queued_or_at_once_and_buffers_come_back() {
    let path = scratch_file("order");
    let file = Arc::new(File::create(&path).expect("scratch file"));
    let writer = Writer::start(file, "test0", false).expect("thread");
    let mut want = Vec::new();
    let mut reused = 0;
    let mut buf = Vec::new();
    // More frames than the queue holds, so the stack must wait for the thread.
    for i in 0..(3 * QUEUE_LIMIT as u32) {
        if !buf.is_empty() {
            reused += 1;
        }
        buf.clear();
        buf.extend_from_slice(&i.to_be_bytes());
        buf.resize(4 + (i as usize % 7), i as u8);
        want.extend_from_slice(&buf);
        if i % 5 == 0 {
            // Written at once, after what is queued.
            writer.write_now(&buf);
        } else {
            buf = writer.push(std::mem::take(&mut buf));
        }
    }
    // Once it returns, everything pushed is in the file.
    writer.wait_written();
    let written = std::fs::metadata(&path).expect("scratch file").len();
    assert_eq!(written as usize, want.len(), "written before a read");
    assert_eq!(writer.health(), (0, None));
    drop(writer);
    let mut got = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut got))
        .expect("read back");
    let _ = std::fs::remove_file(&path);
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the frames came out of order, doubled or missing"
    );
    assert!(reused > 0, "written buffers are handed back for new frames");
}

#[test]
fn with_merging_a_run_goes_out_as_one_frame_and_a_few_frames_at_a_flush_or_a_wait() {
    use super::super::coalesce::tests::seg;
    use smoltcp::wire::TcpControl;
    let path = scratch_file("merge");
    let file = Arc::new(File::create(&path).expect("scratch file"));
    let writer = Writer::start(file, "test2", true).expect("thread");
    let with_vnet = |f: &[u8]| [&[0u8; VNET_HDR][..], f].concat();
    let run = [
        seg(100, 1000, TcpControl::None),
        seg(1100, 1000, TcpControl::None),
        seg(2100, 10, TcpControl::Psh),
    ];
    let alone = seg(5000, 300, TcpControl::None);
    // What the thread must write: the run's merged headers and its payloads, then the
    // frame that cannot join (a gap in the sequence) as it is.
    let mut want = Vec::new();
    let mut merged = Run::new(Seg::of(&run[0]).unwrap());
    for f in &run[1..] {
        assert!(merged.join(&run[0], f, Seg::of(f).unwrap()));
    }
    merged.header(&run[0], &mut want);
    for f in &run {
        want.extend_from_slice(&f[merged.hdr_len()..]);
    }
    want.extend_from_slice(&with_vnet(&alone));
    // Fewer frames than wake the thread: a flush does.
    for f in run.iter().chain([&alone]) {
        let _ = writer.push(with_vnet(f));
    }
    writer.flush();
    writer.drain();
    // And again, woken by a wait for the writes.
    for f in run.iter().chain([&alone]) {
        let _ = writer.push(with_vnet(f));
    }
    writer.wait_written();
    assert_eq!(writer.health(), (0, None));
    drop(writer);
    let got = std::fs::read(&path).expect("read back");
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        got.len(),
        2 * want.len(),
        "two merged writes and two single ones"
    );
    assert!(
        got == [&want[..], &want[..]].concat(),
        "merged as the rules say"
    );
}

#[test]
fn a_write_error_that_means_the_device_is_gone_stops_the_writes() {
    let path = scratch_file("gone");
    std::fs::write(&path, b"").expect("scratch file");
    // Read-only: every write fails with EBADF, which means a descriptor that is gone.
    let file = Arc::new(File::open(&path).expect("open"));
    let writer = Writer::start(file, "test1", false).expect("thread");
    let _ = writer.push(vec![1, 2, 3]);
    writer.drain();
    let (errors, fatal) = writer.health();
    assert!(writer.is_gone());
    assert_eq!(errors, 1);
    assert!(fatal.is_some_and(|why| why.contains("gone")));
    // Later frames are dropped at once, without waiting.
    for _ in 0..2 * QUEUE_LIMIT {
        let _ = writer.push(vec![4]);
    }
    let _ = std::fs::remove_file(&path);
}
