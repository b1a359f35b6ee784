//! # Trace layer (offline analysis)
//!
//! Layer: analysis. Reads capture files (pcap, pcapng), parses their IPv4/TCP segments,
//! classifies them and draws the ladder diagram. Depends on neither `net` nor `ftp`.
