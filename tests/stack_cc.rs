//! Congestion control a class can see (issue 9): over one lossy cable, the same long transfer
//! with `--cc reno`, `--cc cubic` and `--cc none` leaves three different cwnd traces in the
//! stack log, and every file arrives intact.

mod common;

use common::{Scratch, demo};

/// The cwnd of every frame the server's data port sent, from the stack log.
fn server_cwnds(log: &str) -> Vec<Option<u64>> {
    log.lines()
        .filter(|l| l.contains("\"src\":\"10.0.0.1:20\""))
        .map(|l| {
            let at = l.find("\"cwnd\":").expect("a cwnd field") + "\"cwnd\":".len();
            let value: String = l[at..].chars().take_while(|c| *c != ',').collect();
            value.parse().ok()
        })
        .collect()
}

#[test]
fn reno_cubic_and_none_leave_different_cwnd_traces_under_loss() {
    let dir = Scratch::new("stack-cc");
    let root = dir.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let file: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &file).expect("file");
    let mut traces = Vec::new();
    for cc in ["reno", "cubic", "none"] {
        let log = format!("{cc}.jsonl");
        demo(
            &dir.0,
            &format!("{cc}.pcapng"),
            &[
                "--quiet",
                "--root",
                "root",
                "--file",
                "big.bin",
                "--window",
                "1048576",
                "--rate",
                "10M",
                "--delay",
                "10",
                "--loss",
                "2",
                "--seed",
                "3",
                "--cc",
                cc,
                "--stack-log",
                &log,
            ],
        );
        let text = std::fs::read_to_string(dir.path(&log)).expect("stack log");
        traces.push(server_cwnds(&text));
    }
    let (reno, cubic, none) = (&traces[0], &traces[1], &traces[2]);
    assert!(reno.len() > 100 && cubic.len() > 100, "long transfers");
    assert!(reno.iter().all(Option::is_some), "reno keeps a cwnd");
    assert!(cubic.iter().all(Option::is_some), "cubic keeps a cwnd");
    assert!(none.iter().all(Option::is_none), "--cc none has no cwnd");
    assert_ne!(reno, cubic, "reno and cubic must not leave the same trace");
    // Both react to the losses: cwnd falls somewhere after it has grown.
    for (name, t) in [("reno", reno), ("cubic", cubic)] {
        let t: Vec<u64> = t.iter().flatten().copied().collect();
        let peak = t
            .iter()
            .position(|&c| c == *t.iter().max().unwrap())
            .unwrap();
        assert!(
            t[peak..].iter().any(|&c| c < t[peak] / 2),
            "{name}: cwnd never halved after its peak"
        );
    }
}
