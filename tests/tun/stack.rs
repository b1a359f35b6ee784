//! The stack's own view on TUN: the server's capture and its stack log (`--stack-log`) while
//! curl downloads. Frames our stack sent carry the view (`cwnd=...; why: ...`) and one stack
//! log line each, numbered as in the capture; frames of the kernel carry only the explanation.

use super::tunlab::peer;
use super::{kernel_facing_server_with, run_curl, serve_dir, stop_server};
use crate::common::Scratch;

#[test]
fn the_servers_frames_carry_its_view_and_a_stack_log_line_the_kernels_do_not() {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = super::tunlab::Netns::new() else {
        return;
    };
    let dir = Scratch::new("tun-stack");
    serve_dir(&dir, false);
    let server = kernel_facing_server_with(
        &ns,
        &dir,
        "--capture server.pcapng --stack-log server.jsonl --initial-window 3",
    );
    let got = dir.path("got.txt");
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-retr",
        30,
        &[&"-P", &"-", &"-o", &got, &"ftp://10.7.0.2/readme.txt"],
    );
    stop_server(server);
    let out = std::process::Command::new(tshark)
        .arg("-r")
        .arg(dir.path("server.pcapng"))
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=\t"])
        .args(["-e", "frame.number", "-e", "ip.src", "-e", "frame.comment"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(dir.path("server.jsonl")).expect("the stack log");
    let mut ours = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split('\t');
        let (number, src) = (fields.next().unwrap(), fields.next().unwrap());
        let comment = fields.next().unwrap_or("");
        if src == "10.7.0.2" {
            ours += 1;
            assert!(comment.contains("; cwnd="), "frame {number}: {comment}");
            assert!(
                log.contains(&format!("\"frame\":{number},")),
                "frame {number} has no stack log line"
            );
        } else {
            assert!(
                !comment.contains("cwnd="),
                "kernel frame {number}: {comment}"
            );
        }
    }
    assert!(ours >= 10, "only {ours} frames from the server");
    assert_eq!(
        log.lines().count(),
        ours,
        "one stack log line per frame the server sent"
    );
    let first_data = log
        .lines()
        .find(|l| l.contains("\"src\":\"10.7.0.2:20\"") && l.contains("\"reason\":\"new data\""))
        .expect("a data segment from port 20");
    assert!(
        first_data.contains("\"cwnd\":4380,"),
        "IW 3 x 1460: {first_data}"
    );
}
