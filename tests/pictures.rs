//! The pictures as a user gets them: `demo --svg`, `ladder --svg/--html`, checked as XML, with
//! tshark (each arrow's `<title>` filter selects exactly its frame), against the golden SVG,
//! and rendered by headless Chromium (the PNG has the asked size and is not blank).
//!
//! Refresh the golden SVG after an intended change:
//! `UPDATE_GOLDEN=1 cargo test --test pictures`, then review `git diff tests/golden`.
//! tshark and chromium are required in CI (`SMOLFTP_REQUIRE_PEERS`), skipped elsewhere.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, demo};

fn have(program: &str, arg: &str) -> bool {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_none(),
            "{program} is required here (SMOLFTP_REQUIRE_PEERS is set): apt-get install -y {program}"
        );
        eprintln!("skipping: {program} is not installed");
    }
    ok
}

/// `(frame number, title)` of every `<g id="frame-N">` of an SVG document.
fn arrows(svg: &str) -> Vec<(u32, String)> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(doc.root_element().attribute("version"), Some("1.1"));
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|g| {
            let n = g.attribute("id")?.strip_prefix("frame-")?.parse().ok()?;
            let title = g
                .children()
                .find(|c| c.has_tag_name("title"))?
                .text()?
                .to_string();
            Some((n, title))
        })
        .collect()
}

#[test]
fn the_demo_svg_equals_the_golden_one() {
    let dir = Scratch::new("pictures-golden");
    let ladder = demo(&dir.0, "demo.pcapng", &["--svg", "demo.svg"]);
    assert!(
        ladder.contains("smolftp ladder: 41 frames"),
        "the text ladder is printed too"
    );
    let svg = std::fs::read_to_string(dir.path("demo.svg")).expect("demo.svg written");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/demo-ladder.svg");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &svg).expect("write golden");
    }
    let expected = std::fs::read_to_string(&golden).expect("tests/golden/demo-ladder.svg");
    assert!(
        svg == expected,
        "the demo SVG differs from tests/golden/demo-ladder.svg; if the change is intended, \
         refresh it with UPDATE_GOLDEN=1 cargo test --test pictures"
    );
    let a = arrows(&svg);
    assert_eq!(
        a.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (1..=41).collect::<Vec<_>>()
    );
}

#[test]
fn every_svg_title_selects_exactly_its_frame_in_tshark() {
    if !have("tshark", "--version") {
        return;
    }
    let dir = Scratch::new("pictures-tshark");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let o = common::smolftp(
        &dir.0,
        &["ladder", "w.pcapng", "--svg", "w.svg", "--html", "w.html"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(dir.path("w.svg")).unwrap();
    let a = arrows(&svg);
    assert_eq!(a.len(), 47);
    for (n, filter) in &a {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(dir.path("w.pcapng"))
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            n.to_string(),
            "{filter}"
        );
    }
    let html = std::fs::read_to_string(dir.path("w.html")).unwrap();
    assert_eq!(html.matches("<g id=\"frame-").count(), 47);
    assert!(svg.contains("[ZERO WINDOW] ACK") && svg.contains("[WINDOW UPDATE] ACK"));
}

/// Decodes a PNG: (width, height, RGBA-or-RGB pixels, bytes per pixel).
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("open PNG"),
    ));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    buf.truncate(info.buffer_size());
    let bpp = info.color_type.samples();
    (info.width, info.height, buf, bpp)
}

#[test]
fn chromium_renders_the_demo_svg() {
    if !have("chromium", "--version") {
        return;
    }
    let dir = Scratch::new("pictures-chromium");
    demo(&dir.0, "demo.pcapng", &["--quiet", "--svg", "demo.svg"]);
    let svg = std::fs::read_to_string(dir.path("demo.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let width: u32 = doc
        .root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap();
    let height: u32 = doc
        .root_element()
        .attribute("height")
        .unwrap()
        .parse()
        .unwrap();
    let png = dir.path("demo.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
        ])
        .arg(format!("file://{}", dir.path("demo.svg").display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, pixels, bpp) = decode_png(&png);
    assert_eq!((w, h), (width, height), "the screenshot has the SVG's size");
    // Not blank: a good share of the pixels are ink (not white), in more than one colour.
    let ink: Vec<&[u8]> = pixels
        .chunks(bpp)
        .filter(|p| p[..3].iter().any(|&c| c < 200))
        .collect();
    let share = ink.len() as f64 / (w * h) as f64;
    assert!(share > 0.01 && share < 0.5, "ink share {share}");
    let green = ink
        .iter()
        .filter(|p| p[1] > p[0] + 40 && p[1] > p[2] + 40)
        .count();
    let blue = ink
        .iter()
        .filter(|p| p[2] > p[0] + 40 && p[2] > p[1])
        .count();
    assert!(
        green > 100 && blue > 100,
        "data (green) and control (blue) arrows: {green} {blue}"
    );
}

/// `(frame, t, seq, len)` of each `<g class="seg">` of a time-sequence graph, from its title.
fn segments(svg: &str) -> Vec<(u32, f64, u64, u64)> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("seg"))
        .map(|g| {
            let title = g.children().find(|c| c.has_tag_name("title")).unwrap();
            let text = title.text().unwrap();
            let mut words = text.split_whitespace();
            let frame = words.next().unwrap()[1..].parse().unwrap();
            let mut field = |name: &str| {
                words
                    .next()
                    .and_then(|w| w.strip_prefix(name))
                    .unwrap_or_else(|| panic!("{name} in {text}"))
                    .to_string()
            };
            let t = field("t=").parse().unwrap();
            let seq = field("seq=").parse().unwrap();
            let len = field("len=").parse().unwrap();
            (frame, t, seq, len)
        })
        .collect()
}

/// The same for tshark: the segments carrying data, SYN or FIN from `src` port to `dst`.
fn tshark_segments(file: &Path, src: u16, dst: u16) -> Vec<(u32, f64, u64, u64)> {
    let filter = format!(
        "tcp.srcport == {src} && tcp.dstport == {dst} && (tcp.len > 0 || tcp.flags.syn == 1 || tcp.flags.fin == 1)"
    );
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", &filter, "-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "frame.number",
            "-e",
            "frame.time_relative",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.len",
        ])
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_time_sequence_points_are_tsharks() {
    if !have("tshark", "--version") {
        return;
    }
    let dir = Scratch::new("pictures-tsg");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    // By default the largest transfer: RETR on 20 -> 5002; --conn picks the listing.
    for (args, dst) in [(&[][..], 5002), (&["--conn", "5001"][..], 5001)] {
        let o = common::smolftp(
            &dir.0,
            &[
                &["graph", "w.pcapng", "--time-sequence", "ts.svg"][..],
                args,
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let svg = std::fs::read_to_string(dir.path("ts.svg")).unwrap();
        let ours = segments(&svg);
        let theirs = tshark_segments(&dir.path("w.pcapng"), 20, dst);
        assert!(ours.len() >= 3, "{ours:?}");
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!((o.0, o.2, o.3), (t.0, t.2, t.3));
            assert!((o.1 - t.1).abs() < 1e-6, "{o:?} {t:?}");
        }
        assert!(svg.contains("<path id=\"acks\"") && svg.contains("<path id=\"rwnd\""));
    }
}

#[test]
fn the_cwnd_curve_is_the_stack_logs() {
    let dir = Scratch::new("pictures-cwnd");
    demo(&dir.0, "d.pcapng", &["--quiet"]);
    // A stack log written by hand in the team's format (the stack's own writer is another
    // branch): slow start, a fast recovery, an RTO, congestion avoidance, for 20 -> 5002, and
    // one record of another connection that must not be drawn.
    let mut log = String::new();
    let rows = [
        (0.0290, 2048, None, 0, false, 0, "SYN"),
        (0.0310, 2048, None, 1024, false, 0, "new data"),
        (0.0320, 3072, None, 2048, false, 0, "new data"),
        (0.0330, 1536, Some(1536), 1024, true, 0, "fast retransmit"),
        (0.0340, 1024, Some(1536), 0, false, 1, "RTO retransmission"),
        (0.0350, 1600, Some(1536), 614, false, 0, "new data"),
        (0.0390, 1700, Some(1536), 0, false, 0, "ACK of FIN"),
    ];
    for (t, cwnd, ssthresh, inflight, recovery, backoff, reason) in rows {
        let ss = ssthresh.map_or("null".to_string(), |s: u32| s.to_string());
        log.push_str(&format!(
            "{{\"t\":{t},\"frame\":null,\"src\":\"10.0.0.1:20\",\"dst\":\"10.0.0.2:5002\",\"state\":\"ESTABLISHED\",\"cwnd\":{cwnd},\"ssthresh\":{ss},\"srtt_ms\":2.0,\"rttvar_ms\":1.0,\"rto_ms\":1000,\"backoff\":{backoff},\"inflight\":{inflight},\"rwnd\":65535,\"adv_wnd\":65535,\"dup_acks\":0,\"recovery\":{recovery},\"reason\":\"{reason}\"}}\n"
        ));
    }
    log.push_str("{\"t\":0.01,\"frame\":12,\"src\":\"10.0.0.1:20\",\"dst\":\"10.0.0.2:5001\",\"cwnd\":99999,\"ssthresh\":null,\"inflight\":0}\n");
    std::fs::write(dir.path("stack.jsonl"), log).unwrap();
    if let Some(keep) = std::env::var_os("SMOLFTP_KEEP_PICTURES") {
        std::fs::copy(
            dir.path("stack.jsonl"),
            Path::new(&keep).join("stack.jsonl"),
        )
        .unwrap();
        std::fs::copy(
            dir.path("d.pcapng"),
            Path::new(&keep).join("cwnd-demo.pcapng"),
        )
        .unwrap();
    }
    let o = common::smolftp(
        &dir.0,
        &[
            "graph",
            "d.pcapng",
            "--stack-log",
            "stack.jsonl",
            "--cwnd",
            "cwnd.svg",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(dir.path("cwnd.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let points: Vec<(f64, u32)> = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("cwnd-points"))
        .expect("cwnd points")
        .children()
        .filter(|c| c.has_tag_name("circle"))
        .map(|c| {
            let title = c.children().find(|t| t.has_tag_name("title")).unwrap();
            let text = title.text().unwrap();
            let mut w = text.split_whitespace();
            let t = w
                .next()
                .unwrap()
                .strip_prefix("t=")
                .unwrap()
                .parse()
                .unwrap();
            let cwnd = w
                .next()
                .unwrap()
                .strip_prefix("cwnd=")
                .unwrap()
                .parse()
                .unwrap();
            (t, cwnd)
        })
        .collect();
    let want: Vec<(f64, u32)> = rows.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(points, want);
    let phases: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("phase"))
        .filter_map(|n| n.children().find(|t| t.has_tag_name("title"))?.text())
        .collect();
    assert_eq!(
        phases,
        // after the RTO cwnd (1024) is below ssthresh (1536): slow start again
        [
            "slow start",
            "fast recovery",
            "slow start",
            "congestion avoidance"
        ],
        "the shaded phases in order"
    );
    assert_eq!(svg.matches("class=\"rto\"").count(), 1);
    // The connection must be in the log, else an error says what the log holds.
    let o = common::smolftp(
        &dir.0,
        &[
            "graph",
            "d.pcapng",
            "--conn",
            "21",
            "--stack-log",
            "stack.jsonl",
            "--cwnd",
            "x.svg",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no records of") && err.contains("10.0.0.1:20 -> 10.0.0.2:5002"),
        "{err}"
    );
}

/// librsvg (GNOME, and what many SVG tools use) draws the same picture: a second renderer
/// besides Chromium, so nothing Chromium-only slips in.
#[test]
fn librsvg_renders_the_demo_svg_too() {
    if !have("rsvg-convert", "--version") {
        return;
    }
    let dir = Scratch::new("pictures-rsvg");
    demo(&dir.0, "demo.pcapng", &["--quiet", "--svg", "demo.svg"]);
    let png = dir.path("demo.png");
    let out = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(dir.path("demo.svg"))
        .output()
        .expect("run rsvg-convert");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(dir.path("demo.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let size = |k: &str| -> u32 { doc.root_element().attribute(k).unwrap().parse().unwrap() };
    let (w, h, pixels, bpp) = decode_png(&png);
    assert_eq!((w, h), (size("width"), size("height")));
    let ink = pixels
        .chunks(bpp)
        .filter(|p| p[..3].iter().any(|&c| c < 200) && (bpp < 4 || p[3] > 0))
        .count();
    let share = ink as f64 / (w * h) as f64;
    assert!(share > 0.01 && share < 0.5, "ink share {share}");
}
