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
    ipv6_tun(&ns);
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

/// TUN device tun0 with the kernel's side at 10.7.0.1/24 and fd00:7::1/64.
pub(super) fn ipv6_tun(ns: &Netns) {
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
}

/// `--offload` over IPv6: smoltcp takes the kernel's large segments of curl's upload (TSO6),
/// and sends curl's download per MSS with checksums the device fills in (smoltcp 0.14 cannot
/// hand over IPv6 segments above the MTU); every byte arrives both ways.
#[test]
fn with_offload_curl_over_ipv6_downloads_and_uploads_byte_identical() {
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-offload6");
    let root = serve_dir(&dir, false);
    pattern_file(&root.join(FILE), 16 << 20, 0x6668);
    ipv6_tun(&ns);
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --ip6 fd00:7::2/64 --root root --writable \
         --anonymous-writable --offload --capture offload6.pcapng",
    );
    let base = [
        "-g",
        "-6",
        "-sS",
        "--connect-timeout",
        "5",
        "--max-time",
        "60",
    ];
    let got = dir.path("got.bin");
    let mut get = ns.command(&curl);
    get.args(base)
        .arg("-o")
        .arg(&got)
        .arg(format!("ftp://[fd00:7::2]/{FILE}"));
    ns.run(get, &dir.0, "curl6-retr-offload", secs(70))
        .success("curl -6 RETR with --offload");
    assert_same_file(&got, &root.join(FILE));
    let mut put = ns.command(&curl);
    put.args(base)
        .args(["-P", "-", "-T"])
        .arg(&got)
        .arg("ftp://[fd00:7::2]/back.bin");
    ns.run(put, &dir.0, "curl6-stor-offload", secs(70))
        .success("curl -6 STOR with --offload");
    assert_same_file(&root.join("back.bin"), &root.join(FILE));
    stop_server(server);
    let frames = smolftp::trace::read_capture(&dir.path("offload6.pcapng")).expect("capture");
    let big = |from_server: bool| {
        frames
            .iter()
            .filter_map(|f| smolftp::trace::Segment::from_frame(f.link, &f.data))
            .filter(|s| {
                s.src.is_ipv6()
                    && (s.src.port() != 21)
                    && (s.src.ip().to_string() == "fd00:7::2") == from_server
            })
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
    };
    assert_eq!(big(true), 1440, "sent IPv6 segments are cut to the MSS");
    assert!(
        big(false) > 1440,
        "no IPv6 segment above the MSS received: {}",
        big(false)
    );
}

/// Waits (at most 10 s) until some socket of the namespace listens on TCP port 21 over IPv6.
fn wait_listen6(ns: &Netns) -> bool {
    let deadline = std::time::Instant::now() + secs(10);
    while std::time::Instant::now() < deadline {
        let tcp6 = ns.ok(&["cat", "/proc/net/tcp6"]);
        // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
        if tcp6.lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1).is_some_and(|a| a.ends_with(":0015")) && cols.get(3) == Some(&"0A")
        }) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn smolftp_client_over_ipv6_against_vsftpd_lists_gets_and_puts() {
    let Some(vsftpd) = peer("vsftpd") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-vsftpd6");
    let root = serve_dir(&dir, false);
    pattern_file(&root.join(FILE), 3 << 20, 0x6667);
    let conf = super::vsftpd_config(&dir, &root, "10.7.0.1");
    let text = std::fs::read_to_string(&conf).expect("vsftpd.conf");
    let text = text.replace(
        "listen=YES\nlisten_ipv6=NO\nlisten_address=10.7.0.1\n",
        "listen=NO\nlisten_ipv6=YES\nlisten_address6=fd00:7::1\n",
    );
    std::fs::write(&conf, text).expect("vsftpd.conf");
    pattern_file(&dir.path("up.bin"), (1 << 20) + 7, 0xbeef);
    ipv6_tun(&ns);
    let mut cmd = ns.command(&vsftpd);
    cmd.arg(&conf);
    let mut daemon = ns.spawn(cmd, &dir.0, "vsftpd");
    if !wait_listen6(&ns) {
        let _ = daemon.wait(std::time::Duration::ZERO);
        panic!("vsftpd is not listening on IPv6: {}", daemon.stderr_text());
    }
    let client = super::smolftp(
        &ns,
        &dir,
        "client --tun tun0 --ip 10.7.0.2/24 --ip6 fd00:7::2/64 --timeout 20 [fd00:7::1]:21",
        &[
            "dir",
            &format!("get {FILE} got.bin"),
            "put up.bin upload/up.bin",
        ],
    );
    let done = ns.run(client, &dir.0, "client6", secs(100));
    let log = std::fs::read_to_string(dir.path("vsftpd.log")).unwrap_or_default();
    assert!(
        done.status.success(),
        "smolftp client over IPv6 against vsftpd failed ({}):\n{}\n--- vsftpd.log ---\n{}",
        done.status,
        super::tunlab::tail(&done.stderr),
        super::tunlab::tail(&log)
    );
    assert!(log.contains("EPRT |2|fd00:7::2|"), "no EPRT in:\n{log}");
    assert_listing(&done.stdout, false, "smolftp client dir over IPv6");
    assert_same_file(&dir.path("got.bin"), &root.join(FILE));
    assert_same_file(&root.join("upload/up.bin"), &dir.path("up.bin"));
}
