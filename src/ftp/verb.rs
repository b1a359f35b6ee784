//! # The verb table (sans-IO, application layer)
//!
//! Layer: application protocol. One row per FTP verb the server knows: its name and aliases,
//! the kind of argument it takes, whether it needs a login, whether it changes files, whether it
//! uses a data connection, its `FEAT` line and a line of help. The parser
//! ([`crate::ftp::command::parse`]), the server's `HELP` and `FEAT` replies, its login gate and
//! write gate, and the labels of data connections (server and client) all read this table: a
//! reader looking for `RETR` finds everything about it in its row of [`VERBS`].

use super::command::{self, Command, ParseError, TransferType, bad_arg};

/// The kind of argument a verb takes, as the parser checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// No argument (`501 This command takes no argument.` otherwise).
    None,
    /// A required argument, kept as typed (`501 Missing argument.` when absent).
    Required,
    /// An optional argument, kept as typed.
    Optional,
    /// Any text, possibly empty (`PASS`).
    Text,
    /// Anything, dropped (`ACCT`, `SMNT`, `ALLO`, `HELP`).
    Ignored,
    /// `ls`-style option words (starting with `-`) dropped, then an optional path.
    Listing,
    /// An argument of the verb's own syntax (`TYPE`, `MODE`, `STRU`, `PORT`, `EPRT`, `REST`),
    /// checked by the verb's own rule; the text says what it looks like.
    Typed(&'static str),
}

/// What a verb does with the data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataUse {
    /// Sends a directory listing (`LIST`, `NLST`, `MLSD`): its connection is named by the verb
    /// alone, `LIST data connection`.
    Listing,
    /// Sends a file to the client (`RETR`): `RETR readme.txt data connection`.
    Download,
    /// Receives a file from the client (`STOR`, `STOU`, `APPE`).
    Upload,
}

/// One FTP verb.
#[derive(Clone, Copy, Debug)]
pub struct Verb {
    /// The verb, upper case (`RETR`).
    pub name: &'static str,
    /// Other names for it, listed by `HELP` (`XPWD` for `PWD`, RFC 775).
    pub aliases: &'static [&'static str],
    /// Other names for it that `HELP` does not list (`XMKD`, `XRMD`).
    pub quiet_aliases: &'static [&'static str],
    /// The argument it takes.
    pub arg: Arg,
    /// Whether it is refused (`530`) before a login.
    pub login: bool,
    /// Whether it changes files: refused (`550`) when the user may not write.
    pub writes: bool,
    /// Whether and how it uses a data connection.
    pub data: Option<DataUse>,
    /// Its line in the `FEAT` reply, if it announces a feature (RFC 2389).
    pub feat: Option<&'static str>,
    /// Its syntax and what it does, in one line.
    pub help: &'static str,
    /// Builds the command from its argument (trimmed; already checked against `arg` for
    /// [`Arg::None`] and [`Arg::Required`]).
    build: fn(&str) -> Result<Command, ParseError>,
}

impl Verb {
    /// Whether `word` (upper case) names this verb.
    pub fn is(&self, word: &str) -> bool {
        self.name == word || self.aliases.contains(&word) || self.quiet_aliases.contains(&word)
    }

    /// Parses `arg` (trimmed) as this verb's argument.
    pub fn parse_arg(&self, arg: &str) -> Result<Command, ParseError> {
        match self.arg {
            Arg::None if !arg.is_empty() => Err(bad_arg("This command takes no argument.")),
            Arg::Required if arg.is_empty() => Err(bad_arg("Missing argument.")),
            _ => (self.build)(arg),
        }
    }

    /// The trace label of a data connection this verb opens for `arg`, e.g. `RETR readme.txt
    /// data connection`, `LIST data connection` (listings are named by the verb alone).
    pub fn data_label(&self, arg: Option<&str>) -> String {
        match (self.data, arg) {
            (Some(DataUse::Listing), _) | (_, None) => format!("{} data connection", self.name),
            (_, Some(arg)) => format!("{} {arg} data connection", self.name),
        }
    }
}

/// The verb named `word` (upper case), by its name or an alias.
pub fn find(word: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.is(word))
}

/// The names `HELP` lists: every verb and its listed aliases, sorted.
pub fn help_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = VERBS
        .iter()
        .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
        .collect();
    names.sort_unstable();
    names
}

/// Features `FEAT` announces that belong to no verb: path names as in RFC 3659's TVFS.
const OTHER_FEATURES: [&str; 1] = ["TVFS"];

/// The lines `FEAT` announces, sorted; `MLST` is followed by its facts, given by the caller.
pub fn features(mlst_facts: &str) -> Vec<String> {
    let mut lines: Vec<String> = VERBS
        .iter()
        .filter_map(|v| {
            let feat = v.feat?;
            Some(match v.name {
                "MLST" => format!("{feat} {mlst_facts}"),
                _ => feat.to_string(),
            })
        })
        .chain(OTHER_FEATURES.iter().map(|f| f.to_string()))
        .collect();
    lines.sort_unstable();
    lines
}

fn text(arg: &str) -> String {
    arg.to_string()
}

fn optional(arg: &str) -> Option<String> {
    (!arg.is_empty()).then(|| arg.to_string())
}

/// A row with the defaults most verbs share: needs a login, writes nothing, no data
/// connection, no feature, no aliases.
const fn row(
    name: &'static str,
    arg: Arg,
    help: &'static str,
    build: fn(&str) -> Result<Command, ParseError>,
) -> Verb {
    Verb {
        name,
        aliases: &[],
        quiet_aliases: &[],
        arg,
        login: true,
        writes: false,
        data: None,
        feat: None,
        help,
        build,
    }
}

/// Allowed before a login.
const fn open(v: Verb) -> Verb {
    Verb { login: false, ..v }
}

/// Changes files.
const fn writes(v: Verb) -> Verb {
    Verb { writes: true, ..v }
}

/// Uses a data connection.
const fn data(v: Verb, data: DataUse) -> Verb {
    Verb {
        data: Some(data),
        ..v
    }
}

/// Announced by `FEAT`.
const fn feat(v: Verb, feat: &'static str) -> Verb {
    Verb {
        feat: Some(feat),
        ..v
    }
}

/// Also known as.
const fn alias(v: Verb, aliases: &'static [&'static str], quiet: &'static [&'static str]) -> Verb {
    Verb {
        aliases,
        quiet_aliases: quiet,
        ..v
    }
}

use Arg::{Ignored, Listing, Optional, Required, Text, Typed};
use DataUse::{Download, Upload};

/// Every verb the server knows, in alphabetical order.
pub static VERBS: [Verb; 41] = [
    row(
        "ABOR",
        Arg::None,
        "ABOR: abort the transfer in progress",
        |_| Ok(Command::Abor),
    ),
    row(
        "ACCT",
        Ignored,
        "ACCT <info>: not implemented (502)",
        |_| Ok(Command::Acct),
    ),
    row(
        "ALLO",
        Ignored,
        "ALLO <n> [R <m>]: accepted and ignored",
        |_| Ok(Command::Allo),
    ),
    writes(data(
        row(
            "APPE",
            Required,
            "APPE <path>: append an upload to a file",
            |a| Ok(Command::Appe(text(a))),
        ),
        Upload,
    )),
    alias(
        row(
            "CDUP",
            Arg::None,
            "CDUP: go to the parent directory",
            |_| Ok(Command::Cdup),
        ),
        &["XCUP"],
        &[],
    ),
    alias(
        row("CWD", Required, "CWD <path>: change the directory", |a| {
            Ok(Command::Cwd(text(a)))
        }),
        &["XCWD"],
        &[],
    ),
    writes(row("DELE", Required, "DELE <path>: delete a file", |a| {
        Ok(Command::Dele(text(a)))
    })),
    row(
        "EPRT",
        Typed("|1|a.b.c.d|port| or |2|ipv6|port|"),
        "EPRT |proto|address|port|: active mode, IPv4 or IPv6 (RFC 2428)",
        |a| command::parse_eprt(a).map(Command::Eprt),
    ),
    row(
        "EPSV",
        Optional,
        "EPSV [1|2|ALL]: passive mode, any family (RFC 2428)",
        |a| Ok(Command::Epsv(optional(a))),
    ),
    open(row("FEAT", Arg::None, "FEAT: list the extensions", |_| {
        Ok(Command::Feat)
    })),
    open(row("HELP", Ignored, "HELP: list the commands", |_| {
        Ok(Command::Help)
    })),
    data(
        row(
            "LIST",
            Listing,
            "LIST [path]: long directory listing",
            |a| Ok(Command::List(command::list_path(a))),
        ),
        DataUse::Listing,
    ),
    feat(
        row(
            "MDTM",
            Required,
            "MDTM <path>: modification time (RFC 3659)",
            |a| Ok(Command::Mdtm(text(a))),
        ),
        "MDTM",
    ),
    alias(
        writes(row("MKD", Required, "MKD <path>: make a directory", |a| {
            Ok(Command::Mkd(text(a)))
        })),
        &[],
        &["XMKD"],
    ),
    data(
        row(
            "MLSD",
            Optional,
            "MLSD [path]: machine listing of a directory (RFC 3659)",
            |a| Ok(Command::Mlsd(optional(a))),
        ),
        DataUse::Listing,
    ),
    feat(
        row(
            "MLST",
            Optional,
            "MLST [path]: facts of one entry (RFC 3659)",
            |a| Ok(Command::Mlst(optional(a))),
        ),
        "MLST",
    ),
    row(
        "MODE",
        Typed("S"),
        "MODE S: stream mode (the only one)",
        |a| command::single_letter(a, "S", "Bad MODE command.").map(|_| Command::Mode),
    ),
    data(
        row("NLST", Listing, "NLST [path]: names in a directory", |a| {
            Ok(Command::Nlst(command::list_path(a)))
        }),
        DataUse::Listing,
    ),
    open(row("NOOP", Arg::None, "NOOP: do nothing", |_| {
        Ok(Command::Noop)
    })),
    feat(
        open(row("OPTS", Required, "OPTS UTF8 ON | MLST <facts>", |a| {
            Ok(Command::Opts(text(a)))
        })),
        "UTF8",
    ),
    open(row("PASS", Text, "PASS <password>: log in", |a| {
        Ok(Command::Pass(text(a)))
    })),
    row("PASV", Arg::None, "PASV: passive mode, IPv4", |_| {
        Ok(Command::Pasv)
    }),
    row(
        "PORT",
        Typed("h1,h2,h3,h4,p1,p2"),
        "PORT h1,h2,h3,h4,p1,p2: active mode, IPv4",
        |a| command::parse_port(a).map(Command::Port),
    ),
    alias(
        row("PWD", Arg::None, "PWD: print the directory", |_| {
            Ok(Command::Pwd)
        }),
        &["XPWD"],
        &[],
    ),
    open(row("QUIT", Arg::None, "QUIT: end the session", |_| {
        Ok(Command::Quit)
    })),
    row(
        "REIN",
        Arg::None,
        "REIN: log out, keep the connection",
        |_| Ok(Command::Rein),
    ),
    feat(
        row(
            "REST",
            Typed("a byte offset"),
            "REST <offset>: the next RETR or STOR starts there",
            |a| {
                a.parse::<u64>()
                    .map(Command::Rest)
                    .map_err(|_| bad_arg("REST needs a byte offset."))
            },
        ),
        "REST STREAM",
    ),
    data(
        row("RETR", Required, "RETR <path>: download a file", |a| {
            Ok(Command::Retr(text(a)))
        }),
        Download,
    ),
    alias(
        writes(row(
            "RMD",
            Required,
            "RMD <path>: remove a directory",
            |a| Ok(Command::Rmd(text(a))),
        )),
        &[],
        &["XRMD"],
    ),
    writes(row("RNFR", Required, "RNFR <path>: rename from", |a| {
        Ok(Command::Rnfr(text(a)))
    })),
    writes(row("RNTO", Required, "RNTO <path>: rename to", |a| {
        Ok(Command::Rnto(text(a)))
    })),
    row("SITE", Required, "SITE HELP: the site commands", |a| {
        Ok(Command::Site(text(a)))
    }),
    feat(
        row(
            "SIZE",
            Required,
            "SIZE <path>: size of a file (RFC 3659)",
            |a| Ok(Command::Size(text(a))),
        ),
        "SIZE",
    ),
    row(
        "SMNT",
        Ignored,
        "SMNT <path>: not implemented (502)",
        |_| Ok(Command::Smnt),
    ),
    row(
        "STAT",
        Listing,
        "STAT [path]: session status, or a listing on the control connection",
        |a| Ok(Command::Stat(command::list_path(a))),
    ),
    writes(data(
        row("STOR", Required, "STOR <path>: upload a file", |a| {
            Ok(Command::Stor(text(a)))
        }),
        Upload,
    )),
    writes(data(
        row(
            "STOU",
            Optional,
            "STOU [name]: upload under a unique name",
            |a| Ok(Command::Stou(optional(a))),
        ),
        Upload,
    )),
    row(
        "STRU",
        Typed("F"),
        "STRU F: file structure (the only one)",
        |a| command::single_letter(a, "F", "Bad STRU command.").map(|_| Command::Stru),
    ),
    open(row("SYST", Arg::None, "SYST: the system type", |_| {
        Ok(Command::Syst)
    })),
    row(
        "TYPE",
        Typed("A, A N, I or L 8"),
        "TYPE A | I: ASCII or binary transfers",
        |a| command::parse_type(a).map(Command::Type),
    ),
    open(row("USER", Required, "USER <name>: log in as", |a| {
        Ok(Command::User(text(a)))
    })),
];

/// `TYPE` written back: `A` or `I` (used by [`Command`]'s `Display`).
pub(super) fn type_letter(t: TransferType) -> &'static str {
    match t {
        TransferType::Ascii => "A",
        TransferType::Image => "I",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted_and_every_row_says_what_it_does() {
        let mut all: Vec<&str> = VERBS
            .iter()
            .flat_map(|v| {
                std::iter::once(v.name)
                    .chain(v.aliases.iter().copied())
                    .chain(v.quiet_aliases.iter().copied())
            })
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a name is in two rows");
        assert!(VERBS.windows(2).all(|w| w[0].name < w[1].name));
        for v in &VERBS {
            assert!(v.help.starts_with(v.name), "{}: {}", v.name, v.help);
            assert_eq!(find(v.name).map(|f| f.name), Some(v.name));
        }
    }

    #[test]
    fn help_lists_what_it_always_listed() {
        let names = help_names();
        assert_eq!(names.len(), 44);
        assert!(names.contains(&"XCWD") && !names.contains(&"XMKD"));
    }

    #[test]
    fn labels_name_a_listing_by_its_verb_and_a_file_by_its_path() {
        let label = |v: &str, a: Option<&str>| find(v).unwrap().data_label(a);
        assert_eq!(label("LIST", Some("/pub")), "LIST data connection");
        assert_eq!(
            label("RETR", Some("readme.txt")),
            "RETR readme.txt data connection"
        );
        assert_eq!(label("STOU", None), "STOU data connection");
    }
}
