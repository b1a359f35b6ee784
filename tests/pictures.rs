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
        ladder.contains("smolftp ladder: 42 frames"),
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
        (1..=42).collect::<Vec<_>>()
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
