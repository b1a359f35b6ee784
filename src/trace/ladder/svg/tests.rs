use super::*;
use crate::trace::classify::analyze;
use crate::trace::read::Frame;
use crate::trace::testutil::*;

fn frames(lost: Option<usize>) -> Vec<Frame> {
    ftp_session()
        .into_iter()
        .enumerate()
        .map(|(i, p)| Frame {
            comment: (Some(i) == lost)
                .then(|| "data; fault: lost on the cable (--loss 10%, server->client)".into()),
            ..raw_frame(i, Duration::from_millis(i as u64), p.data)
        })
        .collect()
}

/// The `<g>` of each frame, by its id.
fn groups(svg: &str) -> Vec<(u32, String)> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|g| {
            let n = g.attribute("id")?.strip_prefix("frame-")?.parse().ok()?;
            let inner = &svg[g.range()];
            Some((n, inner.to_string()))
        })
        .collect()
}

#[test]
fn one_group_per_frame_whose_title_is_its_filter() {
    let a = analyze(&frames(None));
    let svg = ladder_svg(&a, &LadderOptions::default(), "t");
    let g = groups(&svg);
    let numbers: Vec<u32> = g.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        numbers,
        a.entries.iter().map(|e| e.frame).collect::<Vec<_>>()
    );
    for (i, (_, inner)) in g.iter().enumerate() {
        let title = esc(&wireshark_filter(&a, i, false));
        assert!(
            inner.contains(&format!("<title>{title}</title>")),
            "{inner}"
        );
        assert!(inner.contains("marker-end"), "{inner}");
    }
    assert!(svg.contains("D2: data connection for LIST"), "{svg}");
    assert!(svg.contains(">establishment</text>") && svg.contains(">release</text>"));
    // Plain SVG 1.1: no scripts, no CSS, nothing fetched.
    for banned in ["<script", "<style", "href=\"http", "context-stroke"] {
        assert!(!svg.contains(banned), "{banned}");
    }
}

#[test]
fn a_lost_frame_stops_midway_at_a_cross() {
    let a = analyze(&frames(Some(4)));
    let svg = ladder_svg(&a, &LadderOptions::default(), "t");
    let g = groups(&svg);
    let (_, lost) = &g[4];
    assert!(!lost.contains("marker-end"), "{lost}");
    assert!(
        lost.contains("stroke-dasharray") && lost.contains(" LOST</text>"),
        "{lost}"
    );
    // The dashed line ends halfway between the hosts, where the cross is.
    let doc = roxmltree::Document::parse(lost).unwrap();
    let line = doc.descendants().find(|n| n.has_tag_name("line")).unwrap();
    let x = |k: &str| line.attribute(k).unwrap().parse::<f64>().unwrap();
    assert_eq!(x("x2"), (LEFT_HOST + RIGHT_HOST) / 2.0);
    assert!(g.iter().filter(|(_, s)| s.contains("marker-end")).count() == g.len() - 1);
}

#[test]
fn html_pages_hold_every_frame_once_and_need_nothing_else() {
    let a = analyze(&frames(None));
    let html = ladder_html(&a, &LadderOptions::default(), "t");
    let mut seen = Vec::new();
    for part in html.split("<svg ").skip(1) {
        let svg = format!("<svg {}", &part[..part.find("</svg>").expect("closed") + 6]);
        seen.extend(groups(&svg).into_iter().map(|(n, _)| n));
    }
    assert_eq!(seen, a.entries.iter().map(|e| e.frame).collect::<Vec<_>>());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
}

#[test]
fn a_long_session_keeps_its_row_height_and_pages_in_html() {
    // 7 sessions of 44 frames one after another: 308 frames.
    let one = ftp_session();
    let frames: Vec<Frame> = (0..7)
        .flat_map(|k| one.iter().map(move |p| (k, p)))
        .enumerate()
        .map(|(i, (k, p))| {
            let time = Duration::from_secs(k * 10) + Duration::from_millis(i as u64);
            raw_frame(i, time, p.data.clone())
        })
        .collect();
    let a = analyze(&frames);
    let svg = ladder_svg(&a, &LadderOptions::default(), "t");
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let h: f64 = doc
        .root_element()
        .attribute("height")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(h, (TOP + 308.0 * ROW + 30.0).round());
    assert_eq!(groups(&svg).len(), 308);
    let html = ladder_html(&a, &LadderOptions::default(), "t");
    assert_eq!(html.matches("<svg ").count(), 4);
    assert!(html.contains("page 4 of 4: frames #301 to #308"), "{html}");
}
