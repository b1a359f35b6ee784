//! Tests of the command parser and the line buffer.

use super::*;

fn addr(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

#[test]
fn parse_table() {
    use Command::*;
    let ok: Vec<(&[u8], Command)> = vec![
        (b"USER anonymous", User("anonymous".into())),
        (b"user  bob ", User("bob".into())),
        (b"PASS secret", Pass("secret".into())),
        (b"PASS", Pass(String::new())),
        (b"syst", Syst),
        (b"FEAT", Feat),
        (b"pwd", Pwd),
        (b"CWD /pub", Cwd("/pub".into())),
        (b"CDUP", Cdup),
        (b"TYPE I", Type(TransferType::Image)),
        (b"type a", Type(TransferType::Ascii)),
        (b"TYPE A N", Type(TransferType::Ascii)),
        (b"TYPE L 8", Type(TransferType::Image)),
        (b"MODE S", Mode),
        (b"stru f", Stru),
        (b"NOOP", Noop),
        (b"PORT 10,0,0,2,19,137", Port(addr([10, 0, 0, 2], 5001))),
        (b"port 0,0,0,0,0,0", Port(addr([0, 0, 0, 0], 0))),
        (b"PORT 255,255,255,255,255,255", Port(addr([255; 4], 65535))),
        (b"LIST", List(None)),
        (b"LIST -a", List(None)),
        (b"LIST -la /pub", List(Some("/pub".into()))),
        (b"list -l -a pub dir", List(Some("pub dir".into()))),
        (b"NLST", Nlst(None)),
        (b"NLST docs", Nlst(Some("docs".into()))),
        (b"RETR readme.txt", Retr("readme.txt".into())),
        (b"Retr my file.txt", Retr("my file.txt".into())),
        (b"STOR up.bin", Stor("up.bin".into())),
        (b"SIZE readme.txt", Size("readme.txt".into())),
        (b"QUIT", Quit),
        (b"ACCT x", Acct),
        (b"SMNT /", Smnt),
        (b"REIN", Rein),
        (b"STOU", Stou(None)),
        (b"STOU a b", Stou(Some("a b".into()))),
        (b"APPE log", Appe("log".into())),
        (b"ALLO 100 R 10", Allo),
        (b"REST 4096", Rest(4096)),
        (b"RNFR a", Rnfr("a".into())),
        (b"RNTO b", Rnto("b".into())),
        (b"ABOR", Abor),
        (b"DELE a", Dele("a".into())),
        (b"XRMD d", Rmd("d".into())),
        (b"MKD d", Mkd("d".into())),
        (b"SITE HELP", Site("HELP".into())),
        (b"STAT", Stat(None)),
        (b"STAT -l pub", Stat(Some("pub".into()))),
        (b"HELP", Help),
        (b"MDTM a", Mdtm("a".into())),
        (b"MLST", Mlst(None)),
        (b"MLSD pub", Mlsd(Some("pub".into()))),
        (b"OPTS UTF8 ON", Opts("UTF8 ON".into())),
        (
            b"EPRT |1|10.0.0.2|5001|",
            Eprt("10.0.0.2:5001".parse().unwrap()),
        ),
        (
            b"eprt !2!fd00::2!5001!",
            Eprt("[fd00::2]:5001".parse().unwrap()),
        ),
        (b"EPRT |2|::1|0|", Eprt("[::1]:0".parse().unwrap())),
        (b"pasv", Pasv),
        (b"epsv", Epsv(None)),
        (b"EPSV ALL", Epsv(Some("ALL".into()))),
        (b"lprt 1", Unknown("LPRT".into())),
        (b"EPSV 1", Epsv(Some("1".into()))),
    ];
    for (line, want) in ok {
        assert_eq!(parse(line), Ok(want), "{:?}", String::from_utf8_lossy(line));
    }
    let bad: Vec<(&[u8], u16)> = vec![
        (b"", 500),
        (b"   ", 500),
        (b"\t", 500),
        (b"PORT 256,0,0,1,0,1", 501),
        (b"PORT 10,0,0,2,19", 501),
        (b"PORT 10,0,0,2,19,137,1", 501),
        (b"PORT 10,0,0,2,19,-1", 501),
        (b"PORT 10,0,0,2,19,", 501),
        (b"PORT a,b,c,d,e,f", 501),
        (b"PORT 10,0,0,2,19,0137", 501),
        (b"PORT", 501),
        (b"RETR \xff\xfe", 501),
        (b"\xc3\x28", 501),
        (b"RETR a\0b", 501),
        (b"USER", 501),
        (b"RETR", 501),
        (b"STOR  ", 501),
        (b"CWD", 501),
        (b"SIZE", 501),
        (b"TYPE", 501),
        (b"TYPE E", 504),
        (b"TYPE L 7", 504),
        (b"MODE B", 504),
        (b"MODE", 501),
        (b"STRU R", 504),
        (b"QUIT now", 501),
        (b"REST", 501),
        (b"REST -1", 501),
        (b"REST 99999999999999999999999", 501),
        (b"APPE", 501),
        (b"RNFR", 501),
        (b"MDTM", 501),
        (b"OPTS", 501),
        (b"ABOR now", 501),
    ];
    for (line, code) in bad {
        let err = parse(line).expect_err(&String::from_utf8_lossy(line));
        assert_eq!(err.code(), code, "{:?}", String::from_utf8_lossy(line));
    }
    let long = vec![b'A'; MAX_LINE + 1];
    assert_eq!(parse(&long).map_err(|e| e.code()), Err(500));
}

#[test]
fn verb_of_line() {
    assert_eq!(verb_of(b"  retr x"), "RETR");
    assert_eq!(verb_of(b""), "");
    assert_eq!(verb_of(b"\xffab c"), "\u{fffd}AB");
}

fn drain(buf: &mut LineBuffer) -> Vec<Line> {
    std::iter::from_fn(|| buf.next_line()).collect()
}

#[test]
fn line_buffer_splits() {
    let mut b = LineBuffer::new();
    b.push(b"USER a\r\nPA");
    assert_eq!(drain(&mut b), vec![Line::Complete(b"USER a".to_vec())]);
    b.push(b"SS b\r");
    assert!(drain(&mut b).is_empty());
    b.push(b"\n\nNOOP\n\r\n");
    assert_eq!(
        drain(&mut b),
        vec![
            Line::Complete(b"PASS b".to_vec()),
            Line::Complete(Vec::new()),
            Line::Complete(b"NOOP".to_vec()),
            Line::Complete(Vec::new()),
        ]
    );
}

#[test]
fn line_buffer_caps_long_lines() {
    let mut b = LineBuffer::new();
    // Exactly MAX_LINE bytes plus CRLF is fine.
    let mut exact = vec![b'x'; MAX_LINE];
    exact.extend_from_slice(b"\r\n");
    b.push(&exact);
    assert_eq!(drain(&mut b), vec![Line::Complete(vec![b'x'; MAX_LINE])]);
    // MAX_LINE + 1 bytes (no CR) is too long.
    let mut over = vec![b'y'; MAX_LINE + 1];
    over.push(b'\n');
    b.push(&over);
    assert_eq!(drain(&mut b), vec![Line::TooLong]);
    // A huge line fed in pieces: one TooLong, bounded memory, then normal lines again.
    for _ in 0..1000 {
        b.push(&[b'z'; 1000]);
        assert!(b.partial.len() <= MAX_LINE + 1);
    }
    b.push(b"still the long line\r\nNOOP\r\n");
    assert_eq!(
        drain(&mut b),
        vec![Line::TooLong, Line::Complete(b"NOOP".to_vec())]
    );
}

#[test]
fn eprt_bad_forms() {
    for line in [
        &b"EPRT"[..],
        b"EPRT |1|10.0.0.2|5001",
        b"EPRT 1|10.0.0.2|5001|",
        b"EPRT |1|10.0.0.2|5001|x",
        b"EPRT |1|10.0.0.2|65536|",
        b"EPRT |1|10.0.0.2||",
        b"EPRT |1|10.0.0.2|+50|",
        b"EPRT |1|fd00::2|5001|",
        b"EPRT |2|10.0.0.2|5001|",
        b"EPRT |2|fd00::zz|5001|",
        b"EPRT ||10.0.0.2|5001|",
        b"EPRT |x|10.0.0.2|5001|",
        b"EPRT |1|10.0.0.2|5001|5002|",
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(err.code(), 501, "{}", String::from_utf8_lossy(line));
        assert_eq!(err.message(), "Illegal EPRT command.");
    }
    let err = parse(b"EPRT |3|10.0.0.2|5001|").unwrap_err();
    assert_eq!(err.code(), 522);
}

/// Every verb of the table, by its name and every alias, with arguments of its kind: the
/// command's `Display` parses back to the same command and names the same row.
#[test]
fn display_of_every_verb_round_trips_through_the_parser() {
    use super::super::verb::{Arg, VERBS};
    let mut checked = 0;
    for row in &VERBS {
        let args: Vec<&str> = match row.arg {
            Arg::None => vec![""],
            Arg::Required => vec!["readme.txt", "my dir/a b"],
            Arg::Optional | Arg::Text => vec!["", "pub", "a b"],
            Arg::Ignored => vec!["", "100 R 10"],
            Arg::Listing => vec!["", "-la /pub", "pub dir"],
            Arg::Typed(_) => match row.name {
                "TYPE" => vec!["A", "a n", "I", "L 8"],
                "MODE" => vec!["S", "s"],
                "STRU" => vec!["F"],
                "PORT" => vec!["10,0,0,2,19,137", "255,255,255,255,255,255"],
                "EPRT" => vec!["|1|10.0.0.2|5001|", "!2!fd00::2!5002!"],
                "REST" => vec!["0", "4096"],
                other => panic!("no sample argument for {other}"),
            },
        };
        let names = std::iter::once(row.name)
            .chain(row.aliases.iter().copied())
            .chain(row.quiet_aliases.iter().copied());
        for name in names {
            for arg in &args {
                let line = format!("{name} {arg}");
                let cmd = parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert_eq!(cmd.verb().map(|v| v.name), Some(row.name), "{line:?}");
                let wire = cmd.to_string();
                assert!(wire.starts_with(row.name), "{line:?} -> {wire:?}");
                assert_eq!(parse(wire.as_bytes()), Ok(cmd), "{line:?} -> {wire:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > VERBS.len());
    let unknown = parse(b"frob x").unwrap();
    assert_eq!(unknown, Command::Unknown("FROB".into()));
    assert_eq!(parse(unknown.to_string().as_bytes()), Ok(unknown));
}

#[test]
fn display_writes_what_the_client_always_sent() {
    let port = Command::Port(addr([10, 0, 0, 2], 5001));
    assert_eq!(port.to_string(), "PORT 10,0,0,2,19,137");
    let v6: SocketAddr = "[fd00::2]:5001".parse().unwrap();
    assert_eq!(Command::Eprt(v6).to_string(), "EPRT |2|fd00::2|5001|");
    assert_eq!(Command::Pass(String::new()).to_string(), "PASS ");
    assert_eq!(Command::Rest(4096).to_string(), "REST 4096");
    assert_eq!(Command::Epsv(None).to_string(), "EPSV");
}
