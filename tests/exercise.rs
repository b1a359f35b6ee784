//! `smolftp exercise` and `smolftp grade`: the same ID and secret give byte-identical files,
//! two IDs differ, each template's capture shows its lesson per tshark (and its key agrees
//! with tshark through the report oracle), the key graded against itself passes and each
//! answer perturbed beyond its tolerance fails naming the question; a class graded in batch.
//! The tshark checks need tshark: required in CI (`SMOLFTP_REQUIRE_PEERS`), skipped elsewhere.

mod common;
/// The files of `tests/report/`.
mod report {
    pub mod oracle;
}
use report::oracle;

use std::path::Path;
use std::process::Command;

use common::{Scratch, have_tshark, smolftp};
use serde_json::Value;

const TEMPLATES: [&str; 6] = [
    "handshake-and-release",
    "rtt",
    "fast-retransmit",
    "rto-backoff",
    "flow-control",
    "slow-start",
];

fn exercise(dir: &Path, student: &str, template: &str, out: &str) -> Value {
    let o = smolftp(
        dir,
        &[
            "exercise",
            "--student",
            student,
            "--secret",
            "course-key",
            "--out",
            out,
            "--template",
            template,
        ],
    );
    assert!(
        o.status.success(),
        "{template} {student}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(dir.join(out).join("key.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn count(file: &Path, filter: &str) -> usize {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).lines().count()
}

fn times(file: &Path, filter: &str) -> Vec<f64> {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.time_relative"])
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// The report's connections without what only the stack log adds (cwnd, ssthresh, srtt).
fn without_stack(conns: &Value) -> Value {
    let mut conns = conns.clone();
    for c in conns.as_array_mut().unwrap() {
        c["stack_srtt_ms"] = Value::Null;
        for s in c["first_segments"].as_array_mut().unwrap() {
            s["cwnd"] = Value::Null;
            s["ssthresh"] = Value::Null;
        }
    }
    conns
}

fn answer(key: &Value, id: &str) -> Value {
    key["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("no question {id}"))["answer"]
        .clone()
}

#[test]
fn same_id_same_bytes_other_id_other_numbers() {
    let dir = Scratch::new("exercise-same");
    for t in TEMPLATES {
        let a = exercise(&dir.0, "s1001", t, &format!("{t}-a"));
        exercise(&dir.0, "s1001", t, &format!("{t}-b"));
        for f in ["capture.pcapng", "worksheet.md", "key.json"] {
            let x = std::fs::read(dir.path(&format!("{t}-a/{f}"))).unwrap();
            let y = std::fs::read(dir.path(&format!("{t}-b/{f}"))).unwrap();
            assert!(x == y, "{t}: {f} differs between two runs of one ID");
        }
        let other = exercise(&dir.0, "s1002", t, &format!("{t}-c"));
        assert_ne!(
            answer(&a, "syn_isn"),
            answer(&other, "syn_isn"),
            "{t}: ISNs"
        );
        assert_ne!(a["parameters"], other["parameters"], "{t}: parameters");
        assert_eq!(a["template"], t);
        let worksheet = std::fs::read_to_string(dir.path(&format!("{t}-a/worksheet.md"))).unwrap();
        let n = a["questions"].as_array().unwrap().len();
        assert!(worksheet.contains(&format!("\n{n}. ")), "{worksheet}");
        // Another secret, another variant for the same ID.
        let o = smolftp(
            &dir.0,
            &[
                "exercise",
                "--student",
                "s1001",
                "--secret",
                "other",
                "--out",
                "x",
                "--template",
                t,
            ],
        );
        assert!(o.status.success());
        let k: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path("x/key.json")).unwrap())
                .unwrap();
        assert_ne!(k["parameters"], a["parameters"], "{t}: the secret counts");
    }
    let bad = smolftp(
        &dir.0,
        &[
            "exercise",
            "--student",
            "a",
            "--secret",
            "s",
            "--out",
            "y",
            "--template",
            "nope",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slow-start"));
}

#[test]
fn every_template_shows_its_lesson_in_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("exercise-lessons");
    for student in ["ana", "ben", "chen"] {
        for t in TEMPLATES {
            let out = format!("{t}-{student}");
            let key = exercise(&dir.0, student, t, &out);
            let cap = dir.path(&format!("{out}/capture.pcapng"));
            let what = format!("{t} for {student}");
            // The key is the report, and the report agrees with tshark.
            let report = oracle::assert_report_matches_tshark(&cap, &what);
            assert_eq!(
                without_stack(&key["report"]["connections"]),
                report["connections"],
                "{what}"
            );
            let port = key["parameters"]["data_port_base"].as_u64().unwrap() + 1;
            let retr = format!("tcp.port == {port}");
            match t {
                "handshake-and-release" => {
                    assert_eq!(
                        count(&cap, &format!("{retr} && tcp.flags.syn == 1")),
                        2,
                        "{what}"
                    );
                    assert_eq!(
                        count(
                            &cap,
                            &format!("{retr} && tcp.flags.fin == 1 && tcp.len > 0")
                        ),
                        1,
                        "{what}: DATA+FIN"
                    );
                }
                "rtt" => {
                    let delay = key["parameters"]["delay_ms"].as_f64().unwrap();
                    let s = answer(&key, "sample_rtt_1").as_f64().unwrap();
                    assert!(
                        s >= 2.0 * (delay - key["parameters"]["jitter_ms"].as_f64().unwrap()),
                        "{what}: {s}"
                    );
                }
                "fast-retransmit" => {
                    assert_eq!(count(&cap, "tcp.analysis.fast_retransmission"), 1, "{what}");
                    assert!(
                        count(&cap, &format!("{retr} && tcp.analysis.duplicate_ack")) >= 3,
                        "{what}"
                    );
                }
                "rto-backoff" => {
                    let syns = times(&cap, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
                    let gaps: Vec<f64> = syns.windows(2).map(|w| w[1] - w[0]).collect();
                    assert!(
                        gaps.windows(2)
                            .any(|g| (g[0] - 1.0).abs() < 0.01 && (g[1] - 2.0).abs() < 0.01),
                        "{what}: SYN again after 1 s, then 2 s: {gaps:?}"
                    );
                    assert_eq!(answer(&key, "first_rto"), 1.0);
                    assert_eq!(answer(&key, "second_rto"), 2.0);
                }
                "flow-control" => {
                    assert!(
                        count(&cap, &format!("{retr} && tcp.analysis.zero_window")) > 0,
                        "{what}"
                    );
                    assert_eq!(answer(&key, "window_limited"), "yes");
                }
                "slow-start" => {
                    assert!(
                        answer(&key, "cwnd_6").as_f64() > answer(&key, "cwnd_1").as_f64(),
                        "{what}"
                    );
                    assert_eq!(count(&cap, "tcp.analysis.retransmission"), 0, "{what}");
                }
                _ => unreachable!(),
            }
        }
    }
}

/// `N: answer` lines from the key's answers, with `change` applied to question `k`.
/// Turns a key's answer and its tolerance into the text a student writes.
type Change<'a> = (usize, &'a dyn Fn(&Value, f64) -> String);

fn answers_text(key: &Value, change: Option<Change>) -> String {
    key["questions"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let a = &q["answer"];
            let text = match change {
                Some((k, f)) if k == i => f(a, q["tolerance"].as_f64().unwrap()),
                _ => match a {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                },
            };
            format!("{}: {text}\n", i + 1)
        })
        .collect()
}

#[test]
fn the_key_passes_and_each_wrong_answer_fails_by_name() {
    let dir = Scratch::new("exercise-grade");
    for t in TEMPLATES {
        let key = exercise(&dir.0, "dana", t, t);
        let key_path = format!("{t}/key.json");
        std::fs::write(
            dir.path("right.txt"),
            format!("# dana\n{}", answers_text(&key, None)),
        )
        .unwrap();
        let o = smolftp(&dir.0, &["grade", "--key", &key_path, "right.txt"]);
        let page = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{t}: {page}");
        let n = key["questions"].as_array().unwrap().len();
        assert!(page.contains(&format!("{n} of {n} right")), "{page}");
        // Within tolerance still right (for numbers with one).
        for (k, q) in key["questions"].as_array().unwrap().iter().enumerate() {
            let id = q["id"].as_str().unwrap();
            let off = |a: &Value, tol: f64| match a {
                Value::Number(x) => format!("{}", x.as_f64().unwrap() + tol * 1.5 + 1.0),
                Value::String(s) => format!("{s}x"),
                _ => "?".into(),
            };
            std::fs::write(dir.path("wrong.txt"), answers_text(&key, Some((k, &off)))).unwrap();
            let o = smolftp(&dir.0, &["grade", "--key", &key_path, "wrong.txt"]);
            let page = String::from_utf8_lossy(&o.stdout);
            assert!(!o.status.success(), "{t}: {id} perturbed passed: {page}");
            assert!(
                page.contains(&format!("question {} ({id}): wrong", k + 1)),
                "{page}"
            );
            assert!(page.contains(&format!("{} of {n} right", n - 1)), "{page}");
            if q["tolerance"].as_f64().unwrap() > 0.0 {
                let near = |a: &Value, tol: f64| format!("{}", a.as_f64().unwrap() + tol * 0.5);
                std::fs::write(dir.path("near.txt"), answers_text(&key, Some((k, &near)))).unwrap();
                let o = smolftp(&dir.0, &["grade", "--key", &key_path, "near.txt"]);
                assert!(o.status.success(), "{t}: {id} within tolerance failed");
            }
        }
        // A missing answer is wrong too; JSON answers work.
        let json: serde_json::Map<String, Value> = key["questions"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, q)| ((i + 1).to_string(), q["answer"].clone()))
            .collect();
        std::fs::write(dir.path("a.json"), Value::Object(json).to_string()).unwrap();
        let o = smolftp(&dir.0, &["grade", "--key", &key_path, "a.json"]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("question 1 (opener): no answer"));
    }
}

#[test]
fn a_class_is_graded_into_a_csv() {
    let dir = Scratch::new("exercise-batch");
    std::fs::create_dir_all(dir.path("answers")).unwrap();
    for (id, right) in [("s1", true), ("s2", false), ("s3", true)] {
        let key = exercise(&dir.0, id, "handshake-and-release", &format!("class/{id}"));
        if id == "s3" {
            continue; // no answers handed in
        }
        let mut text = answers_text(&key, None);
        if !right {
            text = text.replacen("1: PORT", "1: PASV", 1);
        }
        std::fs::write(dir.path(&format!("answers/{id}.txt")), text).unwrap();
    }
    let o = smolftp(
        &dir.0,
        &[
            "grade",
            "--batch",
            "class",
            "--answers-dir",
            "answers",
            "--csv",
            "grades.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path("grades.csv")).unwrap();
    assert_eq!(
        csv,
        "student,template,right,total,wrong\n\
         s1,handshake-and-release,8,8,\n\
         s2,handshake-and-release,7,8,1\n\
         s3,handshake-and-release,0,8,1 2 3 4 5 6 7 8\n"
    );
}
