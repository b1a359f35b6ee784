//! Wireshark-native: the Lua post-dissector (wireshark/smolftp.lua) read by the real tshark,
//! checked against our own reading of every frame comment (the contract of README "The
//! stack's own view"). Needs tshark; where the peers are required (`SMOLFTP_REQUIRE_PEERS=1`,
//! set by scripts/test.sh in CI and as root) a missing tshark fails these tests.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Scratch, demo};

/// True if tshark can run; panics if it cannot but must.
fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_none(),
            "tshark is required here (SMOLFTP_REQUIRE_PEERS is set) but cannot be run: \
             apt-get install -y tshark"
        );
        eprintln!("skipping: tshark is not installed (sudo apt-get install tshark)");
    }
    ok
}

fn lua() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wireshark/smolftp.lua")
}

/// `tshark -X lua_script:smolftp.lua -r FILE [-Y FILTER] -T fields -e F...`, tab-separated.
fn tshark_lua(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-X")
        .arg(format!("lua_script:{}", lua().display()))
        .arg("-r")
        .arg(file)
        .args(["-T", "fields"]);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tshark failed on {filter:?}: {stderr}"
    );
    assert!(
        !stderr.contains("Lua: Error"),
        "the Lua script failed: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Our own reading of a comment: (view key -> value text, reason, fault, new state).
struct Parts {
    view: BTreeMap<String, String>,
    reason: String,
    fault: String,
    state: String,
}

fn parse(comment: &str) -> Parts {
    let parts: Vec<&str> = comment.split("; ").collect();
    let view_at = parts.iter().position(|p| p.starts_with("cwnd="));
    let fault_at = parts.iter().position(|p| p.starts_with("fault: "));
    let explanation_end = view_at.or(fault_at).unwrap_or(parts.len());
    let mut view = BTreeMap::new();
    let mut reason = String::new();
    if let Some(v) = view_at {
        for kv in parts[v].split(' ') {
            let (k, val) = kv.split_once('=').expect("key=value in the view");
            view.insert(k.to_string(), val.to_string());
        }
        let end = fault_at.unwrap_or(parts.len());
        reason = parts[v + 1..end].join("; ");
        reason = reason
            .strip_prefix("why: ")
            .expect("the view is followed by why: ")
            .to_string();
    }
    let fault = fault_at
        .map(|f| parts[f..].join("; ")["fault: ".len()..].to_string())
        .unwrap_or_default();
    // A part "ADDRESS FROM -> TO" of the explanation: the sender's new state.
    let is_state = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    };
    let state = parts[..explanation_end]
        .iter()
        .find_map(|p| match p.split(' ').collect::<Vec<_>>()[..] {
            [_, from, "->", to] if is_state(from) && is_state(to) => Some(to.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    Parts {
        view,
        reason,
        fault,
        state,
    }
}

/// The number a field shows for a view value: "2920" -> 2920, "2.0ms" -> 2, "inf" -> none.
fn number(text: &str) -> Option<f64> {
    text.trim_end_matches("ms")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

const KEYS: [&str; 7] = [
    "cwnd", "ssthresh", "srtt", "rttvar", "rto", "inflight", "rwnd",
];

/// Every field of every frame equals what its comment says.
fn check_capture(file: &Path) -> usize {
    let frames = smolftp::trace::read_capture(file).expect("read capture");
    let mut fields: Vec<String> = KEYS.iter().map(|k| format!("smolftp.{k}")).collect();
    fields.extend(["smolftp.reason", "smolftp.fault", "smolftp.state"].map(String::from));
    let mut all = vec!["frame.number"];
    all.extend(fields.iter().map(String::as_str));
    let rows = tshark_lua(file, None, &all);
    assert_eq!(rows.len(), frames.len(), "tshark sees every frame");
    let mut faults = 0;
    for (frame, row) in frames.iter().zip(&rows) {
        assert_eq!(row[0], frame.number.to_string());
        let comment = frame.comment.as_deref().expect("every frame has a comment");
        let parts = parse(comment);
        for key in parts.view.keys() {
            assert!(
                KEYS.contains(&key.as_str()),
                "frame {}: the comment has a key {key} the dissector does not know: {comment}",
                frame.number
            );
        }
        for (i, key) in KEYS.iter().enumerate() {
            let want = parts.view.get(*key).and_then(|t| number(t));
            let got = row[1 + i].parse::<f64>().ok();
            assert_eq!(
                got,
                want,
                "frame {} smolftp.{key}: field {:?}, comment {comment}",
                frame.number,
                row[1 + i]
            );
        }
        assert_eq!(row[8], parts.reason, "frame {} reason", frame.number);
        assert_eq!(row[9], parts.fault, "frame {} fault", frame.number);
        assert_eq!(row[10], parts.state, "frame {} state", frame.number);
        faults += usize::from(!parts.fault.is_empty());
    }
    faults
}

#[test]
fn lua_fields_equal_the_comments_of_the_demo() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("ws-lua");
    demo(&dir.0, "d.pcapng", &["--quiet"]);
    let file = dir.path("d.pcapng");
    assert_eq!(check_capture(&file), 0, "no fault in the plain demo");
    let rows = tshark_lua(&file, Some("smolftp.cwnd"), &["frame.number"]);
    assert_eq!(rows.len(), 41, "every frame of the demo carries a view");
}

#[test]
fn lua_fields_and_the_fault_filter_under_impairments() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("ws-lua-faults");
    demo(
        &dir.0,
        "f.pcapng",
        &[
            "--quiet",
            "--seed",
            "3",
            "--loss",
            "10",
            "--duplicate",
            "10",
            "--reorder",
            "5",
        ],
    );
    let file = dir.path("f.pcapng");
    let faults = check_capture(&file);
    assert!(faults >= 2, "the impairments hit at least two frames");
    // `smolftp.fault` selects exactly the frames whose comment tells a fault.
    let frames = smolftp::trace::read_capture(&file).expect("read capture");
    let want: Vec<String> = frames
        .iter()
        .filter(|f| !parse(f.comment.as_deref().unwrap_or("")).fault.is_empty())
        .map(|f| f.number.to_string())
        .collect();
    let got: Vec<String> = tshark_lua(&file, Some("smolftp.fault"), &["frame.number"])
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(got, want);
    let fast = tshark_lua(
        &file,
        Some("smolftp.reason contains \"retransmission\""),
        &["frame.number"],
    );
    assert!(
        !fast.is_empty(),
        "a filter on the reason finds the retransmissions"
    );
}

/// Every field and filter of the `smolftp` profile (wireshark/profile/) is one tshark knows,
/// with the Lua script loaded: renaming a field breaks this test, not the students' colors.
#[test]
fn the_profile_names_only_fields_that_exist() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("ws-profile");
    demo(&dir.0, "d.pcapng", &["--quiet"]);
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("wireshark/profile");
    let colors = std::fs::read_to_string(profile.join("colorfilters")).unwrap();
    let mut filters: Vec<String> = colors
        .lines()
        .filter(|l| l.starts_with('@'))
        .map(|l| {
            l.split('@')
                .nth(2)
                .expect("@name@filter@colors")
                .to_string()
        })
        .collect();
    assert!(filters.len() >= 10);
    let prefs = std::fs::read_to_string(profile.join("preferences")).unwrap();
    let columns: Vec<String> = prefs
        .split("%Cus:")
        .skip(1)
        .map(|c| c.split(':').next().unwrap().to_string())
        .collect();
    assert!(columns.contains(&"smolftp.cwnd".to_string()));
    filters.extend(columns);
    for f in &filters {
        // tshark refuses an unknown field or a bad filter.
        tshark_lua(&dir.path("d.pcapng"), Some(f), &["frame.number"]);
    }
}
