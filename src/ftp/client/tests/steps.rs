//! Client tests of the steps beyond LIST/NLST/RETR/STOR (MLSD, MLST, MDTM, APPE, STOU, the
//! REST+RETR of `reget`) and of what happens to local files, against a server [`Session`]
//! through the in-memory pump.

use super::super::*;
use super::{client_config, content, feed, server, setup};
use crate::ftp::command::TransferType;
use crate::ftp::testpump::Pump;
use crate::ftp::testpump::t0;
use crate::ftp::{DataEvent, Endpoint};

/// Runs `steps` against a writable server in `s.root`; returns the pump once the client quit.
fn run(s: &super::Setup, passive: bool, steps: Vec<Step>) -> Pump {
    let mut config = client_config();
    config.passive = passive;
    let mut pump = Pump::new(server(&s.root, true), Client::new(config, steps));
    pump.chunk = 1460;
    pump.run();
    assert!(pump.client.is_finished());
    assert_eq!(pump.client.error(), None);
    pump
}

// ---------------------------------------------------------------------------------------------
// Local files
// ---------------------------------------------------------------------------------------------

/// A refused RETR leaves the local file alone, in passive mode too, where the data connection
/// is up before the server has answered RETR (tnftp opens the file after the 150 reply).
#[test]
fn a_refused_retr_leaves_the_local_file_alone() {
    for passive in [false, true] {
        let s = setup();
        let local = s.local.join("keep.txt");
        std::fs::write(&local, b"precious").unwrap();
        let steps = vec![Step::Retr {
            remote: "missing.txt".into(),
            local: local.clone(),
        }];
        let pump = run(&s, passive, steps);
        let o = &pump.client.outcomes()[0];
        assert_eq!((o.reply.code, o.ok), (550, false), "passive={passive}");
        assert_eq!(
            std::fs::read(&local).unwrap(),
            b"precious",
            "passive={passive}: the local file was clobbered"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// MLSD, MLST, MDTM
// ---------------------------------------------------------------------------------------------

#[test]
fn mlsd_mlst_and_mdtm() {
    let s = setup();
    std::fs::create_dir(s.root.join("sub")).unwrap();
    let steps = vec![
        Step::Mlsd(None),
        Step::Mlst(Some("readme.txt".into())),
        Step::Mlst(None),
        Step::Mdtm("readme.txt".into()),
        Step::Mdtm("missing.txt".into()),
        Step::Mlsd(Some("readme.txt".into())),
        Step::Mlst(Some("missing.txt".into())),
    ];
    for passive in [false, true] {
        let pump = run(&s, passive, steps.clone());
        let out = pump.client.outcomes();
        let summary: Vec<(String, u16, bool)> = out
            .iter()
            .map(|o| (o.step.to_string(), o.reply.code, o.ok))
            .collect();
        let want = [
            ("MLSD", 226, true),
            ("MLST readme.txt", 250, true),
            ("MLST", 250, true),
            ("MDTM readme.txt", 213, true),
            ("MDTM missing.txt", 550, false),
            ("MLSD readme.txt", 501, false),
            ("MLST missing.txt", 550, false),
        ];
        let want: Vec<(String, u16, bool)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), *b, *c))
            .collect();
        assert_eq!(summary, want, "passive={passive}");
        let mlsd = String::from_utf8(out[0].listing.clone().unwrap()).unwrap();
        let mut lines: Vec<&str> = mlsd.split_terminator("\r\n").collect();
        lines.sort();
        assert_eq!(lines.len(), 2, "{mlsd}");
        assert!(lines[0].starts_with("type=dir;") && lines[0].ends_with(";perm=elcmp; sub"));
        let file = lines[1];
        assert!(file.starts_with("type=file;size=150000;modify="), "{file}");
        assert!(file.ends_with(";perm=radfw; readme.txt"), "{file}");
        assert_eq!(out[0].bytes, mlsd.len() as u64);
        // MLST: the facts in the middle line, with the path from the root.
        let r = &out[1].reply;
        assert_eq!(r.lines.len(), 3, "{r:?}");
        assert_eq!(r.lines[0], "Listing /readme.txt");
        assert!(
            r.lines[1].starts_with(" type=file;size=150000;modify="),
            "{r:?}"
        );
        assert!(r.lines[1].ends_with(";perm=radfw; /readme.txt"), "{r:?}");
        assert_eq!(r.lines[2], "End");
        assert!(
            out[2].reply.lines[1].starts_with(" type=dir;"),
            "{:?}",
            out[2].reply
        );
        assert!(out[2].reply.lines[1].ends_with("; /"), "{:?}", out[2].reply);
        // MDTM: 213 YYYYMMDDHHMMSS, the MLSD modify fact.
        let mdtm = &out[3].reply.lines[0];
        assert!(
            mdtm.len() == 14 && mdtm.bytes().all(|b| b.is_ascii_digit()),
            "{mdtm}"
        );
        assert!(
            file.contains(&format!("modify={mdtm};")),
            "{mdtm} vs {mlsd}"
        );
        assert!(
            out.iter()
                .all(|o| o.listing.is_some() == o.step.is_transfer())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// APPE and STOU
// ---------------------------------------------------------------------------------------------

#[test]
fn appe_appends_and_creates() {
    for passive in [false, true] {
        let s = setup();
        std::fs::write(s.root.join("log.txt"), b"first\n").unwrap();
        std::fs::write(s.local.join("more.txt"), b"second\n").unwrap();
        let appe = |remote: &str| Step::Appe {
            local: s.local.join("more.txt"),
            remote: remote.into(),
        };
        let steps = vec![
            appe("log.txt"),
            appe("log.txt"),
            appe("new.txt"),
            Step::Appe {
                local: s.local.join("no-such-file"),
                remote: "x".into(),
            },
        ];
        let pump = run(&s, passive, steps);
        let out = pump.client.outcomes();
        assert_eq!(out.len(), 4);
        for o in &out[..3] {
            assert_eq!((o.reply.code, o.ok, o.bytes), (226, true, 7), "{o:?}");
        }
        assert_eq!(out[0].step.to_string(), "APPE log.txt");
        assert_eq!(out[0].step.data_label(), "APPE log.txt data connection");
        assert_eq!(
            std::fs::read(s.root.join("log.txt")).unwrap(),
            b"first\nsecond\nsecond\n"
        );
        assert_eq!(std::fs::read(s.root.join("new.txt")).unwrap(), b"second\n");
        assert_eq!((out[3].reply.code, out[3].ok), (550, false));
        assert!(out[3].local_error.is_some());
        assert!(!s.root.join("x").exists());
    }
}

#[test]
fn stou_reports_the_name_the_server_chose() {
    for passive in [false, true] {
        let s = setup();
        let stou = |remote: Option<&str>| Step::Stou {
            local: s.local.join("up.bin"),
            remote: remote.map(str::to_string),
        };
        let steps = vec![
            stou(Some("up.bin")),
            stou(Some("up.bin")),
            stou(Some("readme.txt")),
            stou(None),
        ];
        let pump = run(&s, passive, steps);
        let out = pump.client.outcomes();
        let names: Vec<Option<&str>> = out.iter().map(|o| o.unique_name.as_deref()).collect();
        assert_eq!(
            names,
            [
                Some("up.bin"),
                Some("up.bin.1"),
                Some("readme.txt.1"),
                Some("stou")
            ]
        );
        for o in out {
            assert_eq!((o.reply.code, o.ok, o.bytes), (226, true, 70_001), "{o:?}");
            let name = o.unique_name.as_deref().unwrap();
            assert_eq!(
                std::fs::read(s.root.join(name)).unwrap(),
                content(70_001, 99)
            );
        }
        assert_eq!(out[3].step.to_string(), "STOU");
        // The file STOU avoided is untouched.
        assert_eq!(
            std::fs::read(s.root.join("readme.txt")).unwrap(),
            content(150_000, 7)
        );
    }
}

#[test]
fn unique_names_in_replies() {
    let name = |code, text: &str| transfer::unique_name(&Reply::new(code, text));
    assert_eq!(name(150, "FILE: up.bin.1"), Some("up.bin.1".into()));
    assert_eq!(
        name(125, "Opening data connection, FILE: a b"),
        Some("a b".into())
    );
    assert_eq!(name(150, "Ok to send data."), None);
    assert_eq!(name(150, "FILE:   "), None);
    let multi = Reply::multi(226, vec!["Transfer complete.".into(), "FILE: x".into()]);
    assert_eq!(transfer::unique_name(&multi), Some("x".into()));
}

#[test]
fn a_read_only_server_refuses_appe_and_stou() {
    let s = setup();
    let steps = vec![
        Step::Appe {
            local: s.local.join("up.bin"),
            remote: "up.bin".into(),
        },
        Step::Stou {
            local: s.local.join("up.bin"),
            remote: None,
        },
    ];
    let mut pump = Pump::new(server(&s.root, false), Client::new(client_config(), steps));
    pump.run();
    let out = pump.client.outcomes();
    assert!(
        out.iter()
            .all(|o| o.reply.code == 550 && !o.ok && o.bytes == 0)
    );
    assert_eq!(out[1].unique_name, None);
    assert!(!s.root.join("up.bin").exists() && !s.root.join("stou").exists());
}

// ---------------------------------------------------------------------------------------------
// reget: REST + RETR
// ---------------------------------------------------------------------------------------------

/// `reget` of readme.txt onto a local file holding its first `have` bytes (none: no file).
fn reget(passive: bool, have: Option<usize>) {
    let s = setup();
    let local = s.local.join("readme.txt");
    let full = content(150_000, 7);
    if let Some(n) = have {
        std::fs::write(&local, &full[..n]).unwrap();
    }
    let steps = vec![Step::Reget {
        remote: "readme.txt".into(),
        local: local.clone(),
    }];
    let pump = run(&s, passive, steps);
    let o = &pump.client.outcomes()[0];
    let have = have.unwrap_or(0);
    assert_eq!((o.reply.code, o.ok), (226, true), "{o:?}");
    assert_eq!(o.bytes, (150_000 - have) as u64, "only the rest moved");
    assert!(std::fs::read(&local).unwrap() == full, "have={have}");
}

#[test]
fn reget_resumes_a_partial_download() {
    for passive in [false, true] {
        for have in [
            None,
            Some(0),
            Some(1),
            Some(1460),
            Some(149_999),
            Some(150_000),
        ] {
            reget(passive, have);
        }
    }
}

/// Logs a scripted client in; returns it with its first step's first command sent.
fn logged_in(passive: bool, steps: Vec<Step>) -> (Client, String) {
    let mut config = client_config();
    config.passive = passive;
    let mut c = Client::new(config, steps);
    feed(&mut c, "220 hi\r\n");
    let first = feed(&mut c, "230 ok\r\n");
    (c, first)
}

#[test]
fn reget_sends_rest_right_before_retr() {
    let s = setup();
    let local = s.local.join("part.bin");
    std::fs::write(&local, b"12345").unwrap();
    let step = Step::Reget {
        remote: "r.bin".into(),
        local: local.clone(),
    };
    // Active: PORT, REST, RETR, and the data appended.
    let (mut c, first) = logged_in(false, vec![step.clone()]);
    assert_eq!(first, "PORT 10,0,0,2,19,137\r\n");
    assert!(matches!(c.poll_action(), Some(DataAction::Listen { .. })));
    assert_eq!(feed(&mut c, "200 ok\r\n"), "REST 5\r\n");
    assert_eq!(
        feed(&mut c, "350 Restart position accepted (5).\r\n"),
        "RETR r.bin\r\n"
    );
    c.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(c.poll_action(), Some(DataAction::Receive));
    feed(
        &mut c,
        "150 Opening BINARY mode data connection for r.bin (8 bytes).\r\n",
    );
    assert_eq!(c.progress().unwrap().total, Some(3), "the rest of the file");
    c.write_data(b"678");
    c.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(feed(&mut c, "226 done\r\n"), "QUIT\r\n");
    assert!(c.outcomes()[0].ok && c.outcomes()[0].bytes == 3);
    assert_eq!(std::fs::read(&local).unwrap(), b"12345678");

    // Passive: EPSV, connect, REST, RETR.
    let (mut c, first) = logged_in(true, vec![step]);
    assert_eq!(first, "EPSV\r\n");
    assert_eq!(
        feed(
            &mut c,
            "229 Entering Extended Passive Mode (|||50000|).\r\n"
        ),
        "REST 8\r\n"
    );
    assert!(matches!(c.poll_action(), Some(DataAction::Connect { .. })));
    assert_eq!(feed(&mut c, "350 ok\r\n"), "RETR r.bin\r\n");

    // No local file: a plain RETR.
    let missing = s.local.join("none.bin");
    let (mut c, _) = logged_in(
        false,
        vec![Step::Reget {
            remote: "r.bin".into(),
            local: missing,
        }],
    );
    assert_eq!(feed(&mut c, "200 ok\r\n"), "RETR r.bin\r\n");
}

#[test]
fn a_refused_rest_fails_the_reget_and_leaves_the_file() {
    let s = setup();
    let local = s.local.join("part.bin");
    std::fs::write(&local, b"12345").unwrap();
    let steps = vec![
        Step::Reget {
            remote: "r.bin".into(),
            local: local.clone(),
        },
        Step::Reget {
            remote: "r.bin".into(),
            local: local.clone(),
        },
        Step::Pwd,
    ];
    for passive in [false, true] {
        let (mut c, _) = logged_in(passive, steps.clone());
        let ok = if passive {
            "229 Entering Extended Passive Mode (|||50000|).\r\n"
        } else {
            "200 ok\r\n"
        };
        assert_eq!(feed(&mut c, ok), "REST 5\r\n");
        while c.poll_action().is_some() {}
        if passive {
            c.handle_data_event(DataEvent::Connected, t0());
            assert_eq!(c.poll_action(), Some(DataAction::Receive));
        }
        // A server without REST: 502; the data connection is given up, no RETR.
        let next = feed(&mut c, "502 Command not implemented.\r\n");
        assert_eq!(c.poll_action(), Some(DataAction::Abort));
        assert_eq!(
            next,
            if passive {
                "EPSV\r\n"
            } else {
                "PORT 10,0,0,2,19,138\r\n"
            }
        );
        let o = &c.outcomes()[0];
        assert_eq!((o.reply.code, o.ok), (502, false));
        assert_eq!(
            o.local_error.as_deref(),
            Some("the server cannot resume at byte 5; `get` downloads the whole file")
        );
        // A REST answered with 200 is no restart either.
        assert_eq!(feed(&mut c, ok), "REST 5\r\n");
        assert_eq!(feed(&mut c, "200 whatever\r\n"), "PWD\r\n");
        let o = &c.outcomes()[1];
        assert_eq!((o.reply.code, o.ok), (200, false));
        assert_eq!(
            o.local_error.as_deref(),
            Some("REST answered with 200, not 350")
        );
        assert_eq!(std::fs::read(&local).unwrap(), b"12345");
    }
}

#[test]
fn reget_past_the_end_is_refused_and_leaves_the_file() {
    let s = setup();
    let local = s.local.join("big.bin");
    let mine = content(150_001, 3);
    std::fs::write(&local, &mine).unwrap();
    for passive in [false, true] {
        let steps = vec![Step::Reget {
            remote: "readme.txt".into(),
            local: local.clone(),
        }];
        let pump = run(&s, passive, steps);
        let o = &pump.client.outcomes()[0];
        assert_eq!((o.reply.code, o.ok, o.bytes), (554, false, 0), "{o:?}");
        assert!(std::fs::read(&local).unwrap() == mine);
    }
}

// ---------------------------------------------------------------------------------------------
// TYPE A: CRLF on the wire, LF in the local file
// ---------------------------------------------------------------------------------------------

#[test]
fn type_a_converts_line_ends_both_ways() {
    // A Unix text file: lines end in LF; a lone CR is just a byte, at the end too.
    let text: &[u8] = b"line one\nline two\n\nlone\rcr\nlast CR\r";
    // On the wire every LF is CRLF; the lone CRs are sent as they are.
    let wire_len = (text.len() + 4) as u64;
    for (passive, chunk) in [(false, 1), (true, 2), (false, 1460)] {
        let s = setup();
        std::fs::write(s.root.join("text.txt"), text).unwrap();
        std::fs::write(s.local.join("up.txt"), text).unwrap();
        let get = |local: &str| Step::Retr {
            remote: "text.txt".into(),
            local: s.local.join(local),
        };
        let put = |remote: &str| Step::Stor {
            local: s.local.join("up.txt"),
            remote: remote.into(),
        };
        let steps = vec![
            Step::Type(TransferType::Ascii),
            get("a.txt"),
            put("a-up.txt"),
            Step::Nlst(None),
            Step::Type(TransferType::Image),
            get("i.txt"),
            Step::Quote("TYPE A".into()),
            get("q.txt"),
            Step::Quote("TYPE I".into()),
            get("qi.txt"),
        ];
        let mut config = client_config();
        config.passive = passive;
        let mut pump = Pump::new(server(&s.root, true), Client::new(config, steps));
        pump.chunk = chunk;
        pump.run();
        let out = pump.client.outcomes();
        assert!(out.iter().all(|o| o.ok), "{out:?}");
        let bytes: Vec<u64> = out.iter().map(|o| o.bytes).collect();
        let listing = out[3].listing.as_deref().unwrap();
        let (raw, list) = (text.len() as u64, listing.len() as u64);
        let want = [0, wire_len, wire_len, list, 0, raw, 0, wire_len, 0, raw];
        assert_eq!(bytes, want, "chunk={chunk}");
        for name in ["a.txt", "i.txt", "q.txt", "qi.txt"] {
            let got = std::fs::read(s.local.join(name)).unwrap();
            assert_eq!(got, text, "{name}, chunk={chunk}");
        }
        assert_eq!(std::fs::read(s.root.join("a-up.txt")).unwrap(), text);
        // A listing is kept as it came, CRLF and all.
        assert!(listing.ends_with(b"\r\n"), "{listing:?}");
    }
}
