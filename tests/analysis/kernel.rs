//! Kernel captures as the second oracle: vsftpd and curl in two network namespaces joined by
//! a veth pair, written by tcpdump as Ethernet and Linux cooked (v1, v2) captures; the
//! ladder's analysis equals tshark's frame by frame, every frame is drawn once, and the
//! time-sequence graph has a bar per data segment tshark sees.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::common::{self, Scratch};
use super::tunlab;
use super::{LinkType, arrow_frames, assert_same_analysis, have_tshark, ladder, trace};

/// Anonymous active-mode vsftpd on `address` serving `root`; returns the configuration's path.
fn vsftpd_config(dir: &Scratch, root: &Path, address: &str) -> std::path::PathBuf {
    let empty = dir.path("empty");
    std::fs::create_dir_all(&empty).expect("secure_chroot_dir");
    let conf = dir.path("vsftpd.conf");
    let text = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address={address}\nlisten_port=21\nbackground=NO\n\
         anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
         write_enable=NO\npasv_enable=YES\nport_enable=YES\nconnect_from_port_20=YES\n\
         secure_chroot_dir={empty}\nseccomp_sandbox=NO\n",
        root = root.display(),
        empty = empty.display(),
    );
    std::fs::write(&conf, text).expect("vsftpd.conf");
    conf
}

/// Starts `tcpdump ARGS -w FILE` in `ns` and waits until it listens.
fn start_tcpdump(
    ns: &tunlab::Netns,
    tcpdump: &Path,
    dir: &Scratch,
    tag: &str,
    args: &[&str],
) -> tunlab::Proc {
    let mut cmd = ns.command(tcpdump);
    cmd.args(["-U", "--immediate-mode", "-B", "16384", "-n", "-s", "0"])
        .args(args)
        .arg("-w")
        .arg(dir.path(&format!("{tag}.pcap")));
    let mut p = ns.spawn(cmd, &dir.0, tag);
    p.wait_for_stderr("listening on", Duration::from_secs(20));
    p
}

#[test]
fn kernel_captures_of_vsftpd_and_curl_read_as_in_tshark() {
    if !have_tshark() {
        return;
    }
    let (Some(vsftpd), Some(curl), Some(tcpdump)) = (
        tunlab::peer("vsftpd"),
        tunlab::peer("curl"),
        tunlab::peer("tcpdump"),
    ) else {
        return;
    };
    let (Some(server_ns), Some(client_ns)) = (tunlab::Netns::new(), tunlab::Netns::new()) else {
        return;
    };
    let dir = Scratch::new("analysis-kernel");
    let root = dir.path("root");
    std::fs::create_dir_all(&root).unwrap();
    tunlab::pattern_file(&root.join("file.bin"), 300_000, 7);
    std::fs::write(root.join("readme.txt"), "kernel capture\n").unwrap();
    // A veth pair between the namespaces: 10.9.0.1 (vsftpd) and 10.9.0.2 (curl).
    server_ns.ok(&[
        "ip",
        "link",
        "add",
        "va",
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        &client_ns.name,
    ]);
    server_ns.ok(&["ip", "addr", "add", "10.9.0.1/24", "dev", "va"]);
    server_ns.ok(&["ip", "link", "set", "va", "up"]);
    client_ns.ok(&["ip", "addr", "add", "10.9.0.2/24", "dev", "vb"]);
    client_ns.ok(&["ip", "link", "set", "vb", "up"]);
    let conf = vsftpd_config(&dir, &root, "10.9.0.1");
    let mut cmd = server_ns.command(&vsftpd);
    cmd.arg(&conf);
    let _daemon = server_ns.spawn(cmd, &dir.0, "vsftpd");
    assert!(
        server_ns.wait_listen(21, Duration::from_secs(10)),
        "vsftpd is not listening"
    );
    let eth = start_tcpdump(&client_ns, &tcpdump, &dir, "eth", &["-i", "vb"]);
    let cooked = start_tcpdump(&client_ns, &tcpdump, &dir, "cooked", &["-i", "any"]);
    let sll1 = start_tcpdump(
        &client_ns,
        &tcpdump,
        &dir,
        "sll1",
        &["-i", "any", "-y", "LINUX_SLL"],
    );
    // Active mode (-P -): a listing and a download on one control connection; then passive.
    let mut cmd = client_ns.command(&curl);
    cmd.args(["-sS", "--max-time", "30", "-P", "-", "-o"])
        .arg(dir.path("list.txt"))
        .arg("ftp://10.9.0.1/")
        .arg("-o")
        .arg(dir.path("got.bin"))
        .arg("ftp://10.9.0.1/file.bin");
    client_ns
        .run(cmd, &dir.0, "curl-active", Duration::from_secs(40))
        .success("curl, active mode");
    let mut cmd = client_ns.command(&curl);
    cmd.args(["-sS", "--max-time", "30", "-o"])
        .arg(dir.path("readme.txt"))
        .arg("ftp://10.9.0.1/readme.txt");
    client_ns
        .run(cmd, &dir.0, "curl-passive", Duration::from_secs(40))
        .success("curl, passive mode");
    std::thread::sleep(Duration::from_millis(300));
    for p in [eth, cooked, sll1] {
        let done = p.interrupt(Duration::from_secs(10));
        eprintln!("{}", done.stderr);
    }
    tunlab::assert_same_file(&dir.path("got.bin"), &root.join("file.bin"));
    for (tag, links) in [
        ("eth", &[LinkType::Ethernet][..]),
        ("cooked", &[LinkType::LinuxSll, LinkType::LinuxSll2][..]),
        ("sll1", &[LinkType::LinuxSll][..]),
    ] {
        let file = dir.path(&format!("{tag}.pcap"));
        let frames = trace::read_capture(&file).expect("read the tcpdump capture");
        assert!(
            links.contains(&frames[0].link),
            "{tag}: {:?}",
            frames[0].link
        );
        let rows = assert_same_analysis(&file, tag);
        // `smolftp report`'s answers (ISNs, SampleRTTs, estimator, windows, throughput).
        super::oracle::assert_report_matches_tshark(&file, tag);
        assert!(rows.len() > 40, "{tag}: only {} TCP frames", rows.len());
        // Every frame once in the ladder, and each of its filters selects just its frame
        // (checked on the data connections' first frames and the control connection, to keep
        // the number of tshark runs small).
        let text = ladder(&dir, &[&format!("{tag}.pcap"), "--timeline"]);
        let drawn = arrow_frames(&text);
        let want: Vec<u32> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(drawn, want, "{tag}: every TCP frame once, in order");
        assert!(
            text.contains("active mode") || text.contains(" D2 "),
            "{text}"
        );
        assert!(text.contains("for RETR file.bin"), "{text}");
        assert!(
            text.contains("for LIST") || text.contains("for NLST"),
            "{text}"
        );
        assert!(text.contains("for RETR readme.txt"), "{text}");
        // The time-sequence graph of a tcpdump capture: by default the download, one bar per
        // data segment tshark sees on that connection.
        let svg_name = format!("{tag}-ts.svg");
        let out = common::smolftp(
            &dir.0,
            &[
                "graph",
                &format!("{tag}.pcap"),
                "--time-sequence",
                &svg_name,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = std::fs::read_to_string(dir.path(&svg_name)).unwrap();
        let port: u16 = svg
            .split("time-sequence graph: 10.9.0.1:20 -&gt; 10.9.0.2:")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{tag}: the graph is not of the download: {svg}"));
        let filter = format!(
            "tcp.srcport == 20 && tcp.dstport == {port} && (tcp.len > 0 || tcp.flags.syn == 1 || tcp.flags.fin == 1)"
        );
        let want = Command::new("tshark")
            .arg("-r")
            .arg(&file)
            .args(["-Y", &filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark");
        let want = String::from_utf8_lossy(&want.stdout).lines().count();
        assert_eq!(svg.matches("<g class=\"seg\">").count(), want, "{tag}");
        assert!(want > 3, "{tag}: {want}");
    }
}
