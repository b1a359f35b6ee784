//! # FTP text on the control connection (analysis layer)
//!
//! Layer: analysis, offline. Job: read just enough of the control connection's bytes to
//! label the ladder: the first line of a command or reply, and which command opened which
//! data connection (`PORT`/`EPRT` then e.g. `LIST`, or a `227`/`229` passive reply). It does
//! not depend on the `ftp` module: captures may come from any FTP implementation.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::classify::Analysis;

/// The first line of an FTP payload for display: CR/LF stripped, non-printable bytes shown as
/// `.`, cut to 40 characters with `...`, and ` (+N lines)` when more lines follow.
pub fn first_line(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let count = lines.len() - usize::from(lines.last().is_some_and(|l| l.is_empty()));
    let first: String = lines
        .first()
        .copied()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    let mut out: String = first.chars().take(40).collect();
    if first.chars().count() > 40 {
        out.push_str("...");
    }
    let mut shown = format!("\"{out}\"");
    if count > 1 {
        shown.push_str(&format!(" (+{} lines)", count - 1));
    }
    shown
}

/// Every line of an FTP payload for display, each as [`first_line`] shows one (so a `150`
/// and a `226` in one segment are two lines); after 8 lines, ` (+N lines)` says how many more.
pub fn ftp_lines(payload: &[u8]) -> Vec<String> {
    const MAX: usize = 8;
    let mut out = Vec::new();
    let mut rest = payload;
    let mut more = 0;
    // Each step consumes at least one byte: at most payload.len() steps.
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        if out.len() == MAX {
            more += 1;
            continue;
        }
        // The line alone: first_line never adds "(+N lines)" to it.
        out.push(first_line(line));
    }
    if more > 0
        && let Some(last) = out.last_mut()
    {
        last.push_str(&format!(" (+{more} lines)"));
    }
    out
}

/// An FTP exchange on a control connection that announces a data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// Index of the control connection in [`Analysis::connections`].
    pub control: usize,
    /// The announcing line, e.g. `PORT 10,0,0,2,19,137` or a `227` reply.
    pub announce: String,
    /// Frame that carried the announcement.
    pub frame: u32,
    /// The address the data connection uses (the client's for PORT, the server's for PASV).
    pub addr: SocketAddr,
    /// The command that follows and uses the data connection, e.g. `RETR readme.txt`.
    pub command: Option<String>,
}

/// Parses `h1,h2,h3,h4,p1,p2` (surrounding text allowed) into an address.
fn parse_hostport(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == ' ')
        .collect();
    let n: Vec<u8> = digits
        .split(',')
        .map(|p| p.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b, c, d, p1, p2] = n[..] else {
        return None;
    };
    Some(SocketAddr::new(
        Ipv4Addr::new(a, b, c, d).into(),
        u16::from(p1) << 8 | u16::from(p2),
    ))
}

/// Parses the data address a line announces, given the control connection's server address.
fn announced(line: &str, from_client: bool, server: SocketAddr) -> Option<SocketAddr> {
    let upper = line.to_ascii_uppercase();
    if from_client && upper.starts_with("PORT ") {
        return parse_hostport(&line[5..]);
    }
    if from_client && upper.starts_with("EPRT ") {
        // EPRT |1|10.0.0.2|5001| or EPRT |2|fd00::2|5001|
        let rest = line[5..].trim();
        let delim = rest.chars().next()?;
        let parts: Vec<&str> = rest.split(delim).collect();
        let ip: IpAddr = match parts.get(1) {
            Some(&"1") => IpAddr::V4(parts.get(2)?.parse().ok()?),
            Some(&"2") => IpAddr::V6(parts.get(2)?.parse().ok()?),
            _ => return None,
        };
        return Some(SocketAddr::new(ip, parts.get(3)?.parse().ok()?));
    }
    if !from_client && upper.starts_with("227") {
        return parse_hostport(line.get(3..)?);
    }
    if !from_client && upper.starts_with("229") {
        // 229 Entering Extended Passive Mode (|||6446|)
        let inner = line.split('(').nth(1)?.split(')').next()?;
        let port = inner
            .trim_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()?;
        return Some(SocketAddr::new(server.ip(), port));
    }
    None
}

/// Finds data-connection announcements on every control connection (one with port 21),
/// each with the client command that follows it.
pub fn openings(a: &Analysis) -> Vec<Opening> {
    let mut out: Vec<Opening> = Vec::new();
    for (ci, conn) in a.connections.iter().enumerate() {
        let server = if conn.responder.port() == 21 {
            conn.responder
        } else if conn.initiator.port() == 21 {
            conn.initiator
        } else {
            continue;
        };
        let mut pending: Option<usize> = None;
        for &i in &conn.entries {
            let e = &a.entries[i];
            if e.segment.is_empty() {
                continue;
            }
            let from_client = e.segment.dst == server;
            let text = String::from_utf8_lossy(&e.segment.payload);
            for line in text.lines().map(str::trim) {
                if line.is_empty() {
                    continue;
                }
                if let Some(addr) = announced(line, from_client, server) {
                    // An announcement no transfer used (an EPRT refused with 502, then PORT)
                    // opened nothing: the new one replaces it.
                    if pending.take().is_some() {
                        out.pop();
                    }
                    out.push(Opening {
                        control: ci,
                        announce: line.to_string(),
                        frame: e.frame,
                        addr,
                        command: None,
                    });
                    pending = Some(out.len() - 1);
                } else if from_client {
                    let verb = line.split_whitespace().next().unwrap_or("");
                    let verb = verb.to_ascii_uppercase();
                    // Only a transfer command uses the data connection (curl sends TYPE in
                    // between, for one).
                    const TRANSFERS: [&str; 7] =
                        ["LIST", "NLST", "RETR", "STOR", "STOU", "APPE", "MLSD"];
                    if !TRANSFERS.contains(&verb.as_str()) {
                        continue;
                    }
                    if let Some(p) = pending.take() {
                        out[p].command = Some(line.to_string());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_formats() {
        assert_eq!(first_line(b"RETR readme.txt\r\n"), "\"RETR readme.txt\"");
        assert_eq!(
            first_line(b"221-Goodbye.\r\n Thanks\r\n221 Bye\r\n"),
            "\"221-Goodbye.\" (+2 lines)"
        );
        let long = first_line(&[b'a'; 60]);
        assert_eq!(long, format!("\"{}...\"", "a".repeat(40)));
        assert_eq!(first_line(b"a\x01b"), "\"a.b\"");
    }

    #[test]
    fn announcements() {
        let server = "10.0.0.1:21".parse().expect("addr");
        let port = announced("PORT 10,0,0,2,19,137", true, server);
        assert_eq!(port, "10.0.0.2:5001".parse().ok());
        let eprt = announced("EPRT |1|10.0.0.2|5002|", true, server);
        assert_eq!(eprt, "10.0.0.2:5002".parse().ok());
        let pasv = announced("227 Entering Passive Mode (10,0,0,1,4,1).", false, server);
        assert_eq!(pasv, "10.0.0.1:1025".parse().ok());
        let epsv = announced(
            "229 Entering Extended Passive Mode (|||6446|)",
            false,
            server,
        );
        assert_eq!(epsv, "10.0.0.1:6446".parse().ok());
        assert_eq!(announced("PORT 1,2,3", true, server), None);
        assert_eq!(announced("PORT 1,2,3,4,5,999", true, server), None);
    }
}
