//! The server's impairments on a TUN device (issue 8): with `--loss 3` between smoltcp and the
//! device, curl in active mode downloads and uploads 16 MiB intact, the server's capture shows
//! the retransmissions (tshark) and tells the losses, and the server ends with its summary.
//! smoltcp recovers slowly from losses (a backed-off RTO stays backed off until a segment sent
//! once is acknowledged; issue 16): a run takes minutes, and the server is told not to give a
//! silent peer up after the usual minute (`--timeout 600`), which a long backoff can reach.
//! Transfers at 10 % loss go through an impairing relay instead (`relay.rs`).

use super::*;

#[test]
fn curl_through_a_lossy_server_gets_and_puts_16_mib_intact() {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-loss");
    let root = dir.path("root");
    std::fs::create_dir_all(&root).expect("root dir");
    pattern_file(&root.join("big16.bin"), 16 << 20, 0x1055);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --writable --anonymous-writable --loss 3 --seed 7 \
         --timeout 600 --capture loss.pcapng",
    );
    let got = dir.path("got.bin");
    let url = "ftp://10.7.0.2/big16.bin";
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-retr-loss",
        480,
        &[&"-P", &"-", &"-o", &got, &url],
    );
    assert_same_file(&got, &root.join("big16.bin"));
    let up = "ftp://10.7.0.2/up.bin";
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-stor-loss",
        480,
        &[&"-P", &"-", &"-T", &got, &up],
    );
    assert_same_file(&root.join("up.bin"), &root.join("big16.bin"));
    let said = server
        .interrupt(secs(15))
        .success("smolftp server --loss 3 after SIGINT");
    let summary = said
        .stderr
        .lines()
        .find(|l| l.starts_with("server->client:"));
    let lost = |line: &str| -> u64 {
        line.split(", ")
            .find_map(|p| p.strip_suffix(" lost"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let summary = summary.unwrap_or_else(|| panic!("no summary: {}", said.stderr));
    assert!(lost(summary) > 0, "nothing lost: {summary}");
    let count = |filter: &str| {
        let out = ns.ok(&[
            tshark.to_str().unwrap(),
            "-r",
            dir.path("loss.pcapng").to_str().unwrap(),
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
        ]);
        out.lines().count()
    };
    assert!(count("tcp.analysis.retransmission || tcp.analysis.fast_retransmission") > 0);
    assert!(count("frame.comment contains \"lost on the cable\"") > 0);
}
