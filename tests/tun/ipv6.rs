//! The server over IPv6 on a TUN device: curl in active (`EPRT |2|`) and passive (`EPSV`)
//! mode lists and downloads from `[fd00:7::2]`, the kernel side being fd00:7::1/64.

use super::tunlab::{Netns, assert_same_file, pattern_file, peer};
use super::{assert_listing, secs, serve_dir, start_server, stop_server};
use crate::common::Scratch;

/// A file big enough for many full segments, small enough to be quick.
const FILE: &str = "v6.bin";

#[test]
fn curl_over_ipv6_lists_and_downloads_in_active_and_passive_mode() {
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-ipv6");
    let root = serve_dir(&dir, false);
    pattern_file(&root.join(FILE), 3 << 20, 0x6666);
    ns.tun("tun0", "10.7.0.1/24");
    ns.ok(&["sysctl", "-qw", "net.ipv6.conf.tun0.disable_ipv6=0"]);
    ns.ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "fd00:7::1/64",
        "dev",
        "tun0",
        "nodad",
    ]);
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --ip6 fd00:7::2/64 --root root",
    );
    let said = server.stderr_text();
    assert!(
        said.contains("smolftp server: listening on [fd00:7::2]:21 on tun0"),
        "no IPv6 ready line: {said}"
    );
    for (mode, extra) in [("active", &["-P", "-"][..]), ("passive", &[][..])] {
        let base = ["-g", "-6", "-sS", "--connect-timeout", "5"];
        let mut list = ns.command(&curl);
        list.args(base)
            .args(extra)
            .args(["--max-time", "30", "ftp://[fd00:7::2]/"]);
        let list = ns
            .run(list, &dir.0, &format!("curl6-list-{mode}"), secs(40))
            .success(&format!("curl -6 LIST ({mode})"));
        assert_listing(&list.stdout, false, &format!("curl -6 {mode}"));

        let got = dir.path(&format!("got-{mode}.bin"));
        let mut get = ns.command(&curl);
        get.args(base)
            .args(extra)
            .args(["--max-time", "60", "-o"])
            .arg(&got)
            .arg(format!("ftp://[fd00:7::2]/{FILE}"));
        ns.run(get, &dir.0, &format!("curl6-retr-{mode}"), secs(70))
            .success(&format!("curl -6 RETR ({mode})"));
        assert_same_file(&got, &root.join(FILE));
    }
    stop_server(server);
}
