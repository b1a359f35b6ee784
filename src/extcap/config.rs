//! # The extcap options dialog, generated from the demo's clap definitions
//!
//! Layer: command line (binary only). Job: write the `--extcap-config` lines (Wireshark's
//! extcap protocol: `arg {number=..}{call=..}{display=..}{type=..}...` and `value {arg=..}...`)
//! for the demo's knobs. Calls, tooltips, defaults and selector values are read from clap's
//! `demo` subcommand itself; only the extcap type, the range and the dialog tab are in
//! [`KNOBS`], and the unit tests below prove each range is the one clap enforces, and that
//! every demo flag is either offered here or listed in [`NOT_OFFERED`].

use std::fmt::Write;

use clap::Arg;

use super::ExtcapError;

/// The extcap type of a knob, with its range where clap has one (`min`, `max`).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `unsigned` with a range.
    Unsigned(u64, u64),
    /// `long` (64 bits), no range.
    Long,
    /// `double` with a range.
    Double(f64, f64),
    /// `string`.
    Text,
    /// `boolflag` (a clap `SetTrue` flag).
    Flag,
    /// `selector` of clap's possible values.
    Selector,
}

/// One knob of the dialog: the demo flag's clap id, its label, its type and its tab.
pub struct Knob {
    /// clap's id of the argument (the long flag with `_` for `-`).
    pub id: &'static str,
    /// Label in Wireshark's dialog.
    pub display: &'static str,
    /// Extcap type and range.
    pub kind: Kind,
    /// Tab of the dialog.
    pub group: &'static str,
}

const fn knob(id: &'static str, display: &'static str, kind: Kind, group: &'static str) -> Knob {
    Knob {
        id,
        display,
        kind,
        group,
    }
}

/// The demo knobs offered in Wireshark's dialog, in the dialog's order.
pub const KNOBS: &[Knob] = &[
    knob(
        "delay",
        "One-way delay (ms)",
        Kind::Double(0.0, 10_000.0),
        "Link",
    ),
    knob("mtu", "IP MTU (bytes)", Kind::Unsigned(576, 9000), "Link"),
    knob("rate", "Bit rate (e.g. 10M)", Kind::Text, "Link"),
    knob(
        "queue",
        "Queue (packets)",
        Kind::Unsigned(0, 1_000_000),
        "Link",
    ),
    knob("jitter", "Jitter (ms)", Kind::Double(0.0, 10_000.0), "Link"),
    knob("loss", "Loss (%)", Kind::Double(0.0, 100.0), "Impairments"),
    knob(
        "duplicate",
        "Duplicate (%)",
        Kind::Double(0.0, 100.0),
        "Impairments",
    ),
    knob(
        "reorder",
        "Reorder (%)",
        Kind::Double(0.0, 100.0),
        "Impairments",
    ),
    knob(
        "corrupt",
        "Corrupt (%)",
        Kind::Double(0.0, 100.0),
        "Impairments",
    ),
    knob("drop", "Drop one frame (SPEC)", Kind::Text, "Impairments"),
    knob(
        "impair_dir",
        "Impairment direction",
        Kind::Selector,
        "Impairments",
    ),
    knob(
        "window",
        "Receive window (bytes)",
        Kind::Unsigned(1024, 16_777_216),
        "TCP",
    ),
    knob("cc", "Congestion control", Kind::Selector, "TCP"),
    knob(
        "initial_window",
        "Initial window (segments)",
        Kind::Unsigned(1, 10),
        "TCP",
    ),
    knob(
        "min_rto",
        "Minimum RTO (ms)",
        Kind::Unsigned(1, 60_000),
        "TCP",
    ),
    knob("tlp", "Tail loss probes", Kind::Flag, "TCP"),
    knob(
        "rack",
        "RACK: resend lost retransmissions",
        Kind::Flag,
        "TCP",
    ),
    knob(
        "byte_counting",
        "Byte counting in congestion avoidance",
        Kind::Flag,
        "TCP",
    ),
    knob("fin", "FIN placement", Kind::Selector, "TCP"),
    knob("passive", "Passive mode (EPSV)", Kind::Flag, "FTP"),
    knob("ipv6", "IPv6", Kind::Flag, "FTP"),
    knob("file", "File to download", Kind::Text, "FTP"),
    knob(
        "data_source_port",
        "Server data port",
        Kind::Unsigned(0, 65_535),
        "FTP",
    ),
    knob(
        "data_port_base",
        "Client data port",
        Kind::Unsigned(1024, 65_535),
        "FTP",
    ),
    knob("tap", "Capture at", Kind::Selector, "FTP"),
    knob("seed", "Seed", Kind::Long, "FTP"),
];

/// Demo flags deliberately not in the dialog: where the capture goes is Wireshark's business,
/// and files or accounts of this machine are not a capture option.
#[cfg(test)]
pub const NOT_OFFERED: &[&str] = &[
    "out",
    "format",
    "quiet",
    "svg",
    "stack_log",
    "root",
    "user",
    "help",
    // TUN-only flags of `server` and `client` (the extcap lab runs on the in-process cable, with
    // no kernel to hand frames to): listed so a demo that ever takes them must decide.
    "gro",
    "capture_segments",
    "no_coalesce",
];

/// The extcap-only `--speed` knob: how fast the lab's frames are fed to Wireshark.
pub const SPEED_CALL: &str = "--speed";
/// Default of `--speed`: the lab's own pace (1 s of the lab takes 1 s).
pub const SPEED_DEFAULT: f64 = 1.0;
/// Largest `--speed`.
pub const SPEED_MAX: f64 = 1000.0;

/// Text safe inside `{...}`: one line, no braces.
fn clean(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['{', '}'], "")
}

fn help(arg: &Arg) -> String {
    arg.get_help()
        .map(|h| clean(&h.to_string()))
        .unwrap_or_default()
}

fn default(arg: &Arg) -> Option<String> {
    arg.get_default_values()
        .first()
        .map(|v| clean(&v.to_string_lossy()))
}

/// Writes the `--extcap-config` answer for the `demo` subcommand of clap's `demo` command.
pub fn write_config(demo: &clap::Command) -> Result<String, ExtcapError> {
    let mut out = String::new();
    let mut number = 0;
    for k in KNOBS {
        let arg = demo
            .get_arguments()
            .find(|a| a.get_id() == k.id)
            .ok_or_else(|| ExtcapError::NoDemoFlag(k.id.to_string()))?;
        let call = arg
            .get_long()
            .ok_or_else(|| ExtcapError::NoLongName(k.id.to_string()))?;
        let _ = write!(
            out,
            "arg {{number={number}}}{{call=--{call}}}{{display={}}}",
            k.display
        );
        match k.kind {
            Kind::Unsigned(lo, hi) => {
                let _ = write!(out, "{{type=unsigned}}{{range={lo},{hi}}}");
            }
            Kind::Long => out.push_str("{type=long}"),
            Kind::Double(lo, hi) => {
                let _ = write!(out, "{{type=double}}{{range={lo},{hi}}}");
            }
            Kind::Text => out.push_str("{type=string}"),
            Kind::Flag => out.push_str("{type=boolflag}"),
            Kind::Selector => out.push_str("{type=selector}"),
        }
        match (k.kind, default(arg)) {
            (Kind::Flag, _) => out.push_str("{default=false}"),
            (Kind::Selector, _) => {}
            (_, Some(d)) => {
                let _ = write!(out, "{{default={d}}}");
            }
            (_, None) => {}
        }
        let _ = writeln!(out, "{{tooltip={}}}{{group={}}}", help(arg), k.group);
        if let Kind::Selector = k.kind {
            let chosen = default(arg);
            for v in arg.get_possible_values() {
                let name = v.get_name();
                let label = match v.get_help() {
                    Some(h) => format!("{name}: {}", clean(&h.to_string())),
                    None => name.to_string(),
                };
                let is_default = chosen.as_deref() == Some(name);
                let _ = writeln!(
                    out,
                    "value {{arg={number}}}{{value={name}}}{{display={label}}}{{default={is_default}}}"
                );
            }
        }
        number += 1;
    }
    let _ = writeln!(
        out,
        "arg {{number={number}}}{{call={SPEED_CALL}}}{{display=Replay speed (0: as fast as possible)}}\
         {{type=double}}{{range=0,{SPEED_MAX}}}{{default={SPEED_DEFAULT}}}\
         {{tooltip=The lab runs on a simulated clock; its frames reach Wireshark at this \
         multiple of their own pace (0.1: ten times slower, 0: all at once)}}{{group=Replay}}"
    );
    Ok(out)
}

/// True for a clap argument that takes no value.
#[cfg(test)]
pub fn is_flag(arg: &Arg) -> bool {
    matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::Help
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn demo() -> clap::Command {
        let mut cli = crate::Cli::command();
        cli.build();
        cli.find_subcommand("demo").expect("demo").clone()
    }

    /// True if clap takes `smolftp demo --CALL VALUE`.
    fn accepts(call: &str, value: &str) -> bool {
        crate::Cli::try_parse_from(["smolftp", "demo", call, value]).is_ok()
    }

    #[test]
    fn every_demo_flag_is_offered_or_left_out_on_purpose() {
        for arg in demo().get_arguments() {
            let id = arg.get_id().as_str();
            let offered = KNOBS.iter().any(|k| k.id == id);
            let left = NOT_OFFERED.contains(&id);
            assert!(
                offered != left,
                "demo flag {id}: put it in KNOBS or NOT_OFFERED (extcap/config.rs)"
            );
        }
    }

    #[test]
    fn the_ranges_are_the_ones_clap_enforces() {
        let demo = demo();
        for k in KNOBS {
            let arg = demo.get_arguments().find(|a| a.get_id() == k.id).unwrap();
            let call = format!("--{}", arg.get_long().unwrap());
            match k.kind {
                Kind::Unsigned(lo, hi) => {
                    assert!(accepts(&call, &lo.to_string()), "{call} {lo}");
                    assert!(accepts(&call, &hi.to_string()), "{call} {hi}");
                    assert!(!accepts(&call, &(hi + 1).to_string()), "{call} {}", hi + 1);
                    let below = format!("{}", lo as i64 - 1);
                    assert!(!accepts(&call, &below), "{call} {below}");
                }
                Kind::Double(lo, hi) => {
                    assert!(accepts(&call, &lo.to_string()), "{call} {lo}");
                    assert!(accepts(&call, &hi.to_string()), "{call} {hi}");
                    assert!(!accepts(&call, &(hi + 0.001).to_string()), "{call} above");
                    assert!(!accepts(&call, &(lo - 0.001).to_string()), "{call} below");
                }
                Kind::Flag => assert!(is_flag(arg), "{call} is a flag"),
                Kind::Selector => assert!(arg.get_possible_values().len() > 1, "{call}"),
                Kind::Long => assert!(accepts(&call, &i64::MAX.to_string()), "{call}"),
                Kind::Text => assert!(arg.get_possible_values().is_empty(), "{call}"),
            }
        }
    }

    #[test]
    fn defaults_come_from_clap() {
        let config = write_config(&demo()).unwrap();
        assert!(config.contains("{call=--mtu}"));
        assert!(config.contains("{range=576,9000}{default=1500}"));
        assert!(config.contains(
            "{call=--delay}{display=One-way delay (ms)}{type=double}{range=0,10000}{default=1}"
        ));
        assert!(config.contains("value {arg=12}{value=reno}"));
        assert!(config.contains("{value=reno}{display=reno: Reno"));
        assert!(
            config
                .lines()
                .any(|l| l.contains("{value=reno}") && l.ends_with("{default=true}"))
        );
    }
}
