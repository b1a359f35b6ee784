//! # smolftp: FTP on a userspace TCP/IP stack, recorded segment by segment
//!
//! An FTP server and an FTP client that speak TCP through smoltcp, over an in-process cable or
//! a Linux TUN device. Because this process builds every TCP segment, each one is recorded to
//! pcapng with a comment saying what the stack knew, and drawn as a ladder diagram.
//!
//! ```text
//!  application                      lab: two hosts on the in-process cable, for demo, bench
//!    lab, demo, bench, exercise     and exercise (per-student variants and their grading);
//!    live                           live: `smolftp server` / `smolftp client` on a TUN device
//!             |
//!  FTP session logic (sans-IO)      lines in -> replies out, plus actions:
//!    ftp::server / ftp::client      "open data connection 20 -> 10.0.0.2:5001", "send", "close"
//!             |
//!  Host (one per simulated machine) owns a smoltcp Interface, its SocketSet; the poll loop;
//!    net::host, net::conduit        turns actions into socket calls, tracks TCP states,
//!    net::stackview                 explains every frame and logs the stack's view of it
//!             |
//!  link middleware (phy layer)      capture (every frame -> pcapng/pcap), impairments (loss,
//!    link::capture, link::impair    duplication, reordering, corruption)
//!             |
//!  device                           link::wire (in-process pair) | link::tun (Linux TUN)
//!
//!  analysis, offline:  capture file -> trace::read -> segments -> classify -> ladder (text,
//!                      SVG, HTML), graphs, report (the answer key)
//! ```
//!
//! Each module's first comment says its layer and what it may touch: `ftp` never touches a
//! socket, `link` never knows FTP, `trace` depends on neither `net` nor `ftp`; `lab`, `demo`,
//! `bench`, `exercise` and `live` compose. CONTRIBUTING.md says where tests go and how to run
//! the rest.

pub mod bench;
pub mod demo;
pub mod exercise;
pub mod ftp;
pub mod lab;
pub mod link;
pub mod live;
pub mod net;
pub mod trace;
