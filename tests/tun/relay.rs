//! Issue 16's test rig: curl in one namespace, `smolftp relay` forwarding between two TUN
//! devices with seeded loss, and behind it, in a second namespace, vsftpd (the kernel's TCP) on
//! the relay's device and smolftp one route further on its own TUN device (the namespace
//! forwards): both servers sit behind the very same lossy path. The relay itself runs in a
//! third namespace, attached to both devices before they are moved to their namespaces.
//!
//! ```text
//!  client ns: curl 10.9.0.1 -- rlya ==[relay: --loss]== rlyb -- 10.9.0.2 vsftpd   (servers ns)
//!                                                                  | ip_forward
//!                                                       tun0 10.10.0.1 -- 10.10.0.2 smolftp
//! ```

use super::*;

/// The three namespaces, the relay and both servers; dropped, everything ends and goes.
struct RelayLab {
    client: Netns,
    _servers: Netns,
    relay: Proc,
    smolftp: Proc,
    _vsftpd: Proc,
    _relay_ns: Netns,
}

impl RelayLab {
    /// The lab above, the relay losing `loss` % of the frames each way, seeded by `seed`, with
    /// `root` served by both servers (vsftpd takes uploads in `root/upload`).
    fn new(dir: &Scratch, root: &Path, loss: &str, seed: u64) -> Option<RelayLab> {
        let vsftpd = peer("vsftpd")?;
        let relay_ns = Netns::new()?;
        let client = Netns::new()?;
        let servers = Netns::new()?;
        for dev in ["rlya", "rlyb"] {
            relay_ns.ok(&["ip", "tuntap", "add", "dev", dev, "mode", "tun"]);
        }
        let seed = seed.to_string();
        let cmd = relay_ns.smolftp(&[
            "relay", "--a", "rlya", "--b", "rlyb", "--seed", &seed, "--loss", loss,
        ]);
        let mut relay = relay_ns.spawn(cmd, &dir.0, "relay");
        relay.wait_for_stderr("relaying rlya <-> rlyb", secs(15));
        // The relay holds both devices; it reads and writes each only once it is up.
        relay_ns.ok(&["ip", "link", "set", "rlya", "netns", &client.name]);
        relay_ns.ok(&["ip", "link", "set", "rlyb", "netns", &servers.name]);
        client.ok(&["ip", "addr", "add", "10.9.0.1/24", "dev", "rlya"]);
        client.ok(&["ip", "link", "set", "rlya", "up"]);
        client.ok(&["ip", "route", "add", "10.10.0.0/24", "dev", "rlya"]);
        servers.ok(&["ip", "addr", "add", "10.9.0.2/24", "dev", "rlyb"]);
        servers.ok(&["ip", "link", "set", "rlyb", "up"]);
        servers.ok(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
        servers.tun("tun0", "10.10.0.1/24");
        let smolftp = start_server(
            &servers,
            dir,
            &format!(
                "--tun tun0 --ip 10.10.0.2/24 --gateway 10.10.0.1 --root {} --writable \
                 --anonymous-writable --min-rto 200",
                root.display()
            ),
        );
        let conf = vsftpd_config(dir, root, "10.9.0.2");
        let mut cmd = servers.command(&vsftpd);
        cmd.arg(&conf);
        let mut daemon = servers.spawn(cmd, &dir.0, "vsftpd");
        if !servers.wait_listen(21, secs(10)) {
            let _ = daemon.wait(Duration::ZERO);
            panic!("vsftpd is not listening: {}", daemon.stderr_text());
        }
        Some(RelayLab {
            client,
            _servers: servers,
            relay,
            smolftp,
            _vsftpd: daemon,
            _relay_ns: relay_ns,
        })
    }
}

/// Frames the relay's summary line for `label` says were lost.
fn lost_on(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.starts_with(&format!("{label}:")))
        .and_then(|l| l.split(", ").find_map(|p| p.strip_suffix(" lost")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count for {label} in the relay's summary:\n{summary}"))
}

/// Issue 16: through the relay at 10 % loss both ways, curl (active mode) downloads and uploads
/// 5 MiB intact from smolftp (`--min-rto 200`) and from vsftpd. Uploads to smolftp (the kernel
/// sending to our receiver) used to stall for tens of seconds: the receiver tracked 4 holes
/// and dropped what lay past them without a duplicate ACK, and a lost handshake ACK met the
/// server's 5 s handshake timeout.
#[test]
fn curl_through_a_ten_percent_lossy_relay_gets_and_puts_5_mib_intact_from_both_servers() {
    let Some(curl) = peer("curl") else { return };
    let dir = Scratch::new("tun-relay10");
    let root = dir.path("root");
    std::fs::create_dir_all(&root).expect("root dir");
    pattern_file(&root.join("five.bin"), 5 << 20, 0x1016);
    let up = dir.path("up.bin");
    pattern_file(&up, 5 << 20, 0x5106);
    let Some(lab) = RelayLab::new(&dir, &root, "10", 16) else {
        return;
    };
    let mut took = Vec::new();
    for (name, host) in [("smolftp", "10.10.0.2"), ("vsftpd", "10.9.0.2")] {
        let got = dir.path(&format!("got-{name}.bin"));
        let url = format!("ftp://{host}/five.bin");
        let retr = run_curl(
            &lab.client,
            &curl,
            &dir,
            &format!("curl-retr-{name}"),
            240,
            &[&"-P", &"-", &"-o", &got, &url],
        );
        assert_same_file(&got, &root.join("five.bin"));
        let url = format!("ftp://{host}/upload/{name}.bin");
        let stor = run_curl(
            &lab.client,
            &curl,
            &dir,
            &format!("curl-stor-{name}"),
            240,
            &[&"-P", &"-", &"-T", &up, &url],
        );
        assert_same_file(&root.join(format!("upload/{name}.bin")), &up);
        took.push(format!(
            "{name}: RETR {:.1?}, STOR {:.1?}",
            retr.elapsed, stor.elapsed
        ));
    }
    eprintln!("through the relay at 10 % loss, 5 MiB: {}", took.join("; "));
    lab.smolftp
        .interrupt(secs(15))
        .success("smolftp server after SIGINT");
    let said = lab
        .relay
        .interrupt(secs(15))
        .success("smolftp relay after SIGINT");
    // The path lost frames both ways, so both servers recovered from losses.
    assert!(lost_on(&said.stderr, "rlya->rlyb") > 0, "{}", said.stderr);
    assert!(lost_on(&said.stderr, "rlyb->rlya") > 0, "{}", said.stderr);
}
