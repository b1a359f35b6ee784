//! # smolftp: FTP on a userspace TCP/IP stack, recorded segment by segment
//!
//! An FTP server and an FTP client that speak TCP through smoltcp, over an in-process cable (or,
//! later, a TUN device). Because this process builds every TCP segment, each one is recorded to
//! pcapng with a comment saying what the stack knew, and drawn as a ladder diagram.
//!
//! ```text
//!  FTP session logic (sans-IO)      lines in -> replies out, plus actions:
//!    ftp::server / ftp::client      "open data connection 20 -> 10.0.0.2:5001", "send", "close"
//!             |
//!  Host (one per simulated machine) owns a smoltcp Interface, its SocketSet; the poll loop;
//!    net::host, net::conduit        turns actions into socket calls, tracks TCP states
//!             |
//!  link middleware (phy layer)      capture (every frame -> pcapng/pcap)
//!    link::capture
//!             |
//!  device                           link::wire (in-process pair)
//!
//!  analysis, offline:  capture file -> trace::read -> segments -> classify -> ladder (text)
//! ```
//!
//! Each module's first comment says its layer and what it may touch: `ftp` never touches a
//! socket, `link` never knows FTP, `trace` depends on neither `net` nor `ftp`; `demo` composes.

pub mod bench;
pub mod demo;
pub mod exercise;
pub mod ftp;
pub mod lab;
pub mod link;
pub mod live;
pub mod net;
pub mod trace;
