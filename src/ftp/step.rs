//! # Client steps and outcomes (sans-IO FTP layer)
//!
//! Layer: application protocol. The [`Step`]s a [`crate::ftp::client::Client`] runs after
//! logging in and the [`Outcome`] it records for each. Plain data: no I/O.

use std::fmt;
use std::path::PathBuf;

use super::command::{Command, TransferType};
use super::reply::Reply;

/// One thing the client does after logging in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `LIST [path]`; the listing is kept in the outcome.
    List(Option<String>),
    /// `NLST [path]`; the names are kept in the outcome.
    Nlst(Option<String>),
    /// `MLSD [path]` (RFC 3659): one line of facts per entry; kept in the outcome's listing.
    Mlsd(Option<String>),
    /// `RETR remote`, saved to `local`.
    Retr {
        /// Remote path.
        remote: String,
        /// Local file, created or truncated when the data connection opens.
        local: PathBuf,
    },
    /// `REST n` then `RETR remote`, appended to `local` (BSD ftp's `reget`): `n` is the size
    /// of `local`, so an interrupted download goes on where it stopped. Without a local file
    /// (or an empty one) it is a plain `RETR`, with no `REST`. Under `TYPE A` the offset
    /// counts local bytes, right only if the server stores lines as we do (LF): resume
    /// binary files with `TYPE I`.
    Reget {
        /// Remote path.
        remote: String,
        /// Local file, appended to (created if missing).
        local: PathBuf,
    },
    /// `STOR remote`, read from `local`.
    Stor {
        /// Local file to upload.
        local: PathBuf,
        /// Remote path.
        remote: String,
    },
    /// `APPE remote`, read from `local`: the server appends to `remote` (or creates it).
    Appe {
        /// Local file to upload.
        local: PathBuf,
        /// Remote path.
        remote: String,
    },
    /// `STOU [name]`, read from `local`: the server stores the upload under a name no file
    /// has yet (ours: `name`, else `name.1`, `name.2`, ...), which the outcome's
    /// [`Outcome::unique_name`] gives when the server says it.
    Stou {
        /// Local file to upload.
        local: PathBuf,
        /// The name to ask for; `None` sends a bare `STOU` (RFC 959).
        remote: Option<String>,
    },
    /// `CWD path`
    Cwd(String),
    /// `CDUP`
    Cdup,
    /// `PWD`
    Pwd,
    /// `TYPE A` / `TYPE I`
    Type(TransferType),
    /// `SIZE path`
    Size(String),
    /// `MDTM path` (RFC 3659): the modification time, `213 YYYYMMDDHHMMSS`.
    Mdtm(String),
    /// `MLST [path]` (RFC 3659): the facts of one entry, in the `250` reply's middle line.
    Mlst(Option<String>),
    /// `SYST`
    Syst,
    /// `FEAT`
    Feat,
    /// `NOOP`
    Noop,
    /// Any command line, sent as is (BSD ftp's `quote`); CR and LF are dropped.
    Quote(String),
    /// `MKD path`
    Mkd(String),
    /// `RMD path`
    Rmd(String),
    /// `DELE path`
    Dele(String),
    /// `RNFR from`, then `RNTO to` once the server answers 350.
    Rename {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
}

impl Step {
    /// The command this step sends (the `RETR` of a `reget`, the `RNFR` of a rename); `None`
    /// for a quoted line, sent as typed.
    pub fn command(&self) -> Option<Command> {
        Some(match self {
            Step::List(p) => Command::List(p.clone()),
            Step::Nlst(p) => Command::Nlst(p.clone()),
            Step::Mlsd(p) => Command::Mlsd(p.clone()),
            Step::Retr { remote, .. } | Step::Reget { remote, .. } => Command::Retr(remote.clone()),
            Step::Stor { remote, .. } => Command::Stor(remote.clone()),
            Step::Appe { remote, .. } => Command::Appe(remote.clone()),
            Step::Stou { remote, .. } => Command::Stou(remote.clone()),
            Step::Cwd(p) => Command::Cwd(p.clone()),
            Step::Cdup => Command::Cdup,
            Step::Pwd => Command::Pwd,
            Step::Type(t) => Command::Type(*t),
            Step::Size(p) => Command::Size(p.clone()),
            Step::Mdtm(p) => Command::Mdtm(p.clone()),
            Step::Mlst(p) => Command::Mlst(p.clone()),
            Step::Syst => Command::Syst,
            Step::Feat => Command::Feat,
            Step::Noop => Command::Noop,
            Step::Mkd(p) => Command::Mkd(p.clone()),
            Step::Rmd(p) => Command::Rmd(p.clone()),
            Step::Dele(p) => Command::Dele(p.clone()),
            Step::Rename { from, .. } => Command::Rnfr(from.clone()),
            Step::Quote(_) => return None,
        })
    }

    /// True for steps that use a data connection (as the verb table says of their command).
    pub fn is_transfer(&self) -> bool {
        self.command()
            .and_then(|c| c.verb())
            .is_some_and(|v| v.data.is_some())
    }

    /// The trace label of this step's data connection, e.g. `RETR readme.txt data connection`
    /// (from the verb table, as the server names it).
    pub fn data_label(&self) -> String {
        self.command()
            .and_then(|c| c.data_label())
            .unwrap_or_else(|| format!("{self} data connection"))
    }
}

impl fmt::Display for Step {
    /// The FTP command line for this step, without CRLF, e.g. `RETR readme.txt`; for the
    /// two-command steps the one that matters to a reader (`RETR` of `reget`, `RNFR` of a
    /// rename); a quoted line as typed, without CR and LF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.command(), self) {
            (Some(cmd), _) => cmd.fmt(f),
            (None, Step::Quote(line)) => {
                let clean: String = line.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
                f.write_str(&clean)
            }
            (None, _) => Ok(()),
        }
    }
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The step.
    pub step: Step,
    /// The final reply (synthesized with code 550 for a local file that cannot be opened).
    pub reply: Reply,
    /// True if the reply was 2xx and, for a transfer, the data connection finished cleanly and
    /// no local file error happened.
    pub ok: bool,
    /// The data of `LIST` / `NLST` / `MLSD`.
    pub listing: Option<Vec<u8>>,
    /// Data bytes moved on the data connection (for `reget`, those after the restart offset).
    pub bytes: u64,
    /// `STOU`: the name the server stored the upload under, when its `1xx` or `2xx` reply said
    /// (`150 FILE: name`, RFC 1123 4.1.2.9).
    pub unique_name: Option<String>,
    /// A local problem (file error, broken data connection), if any.
    pub local_error: Option<String>,
}

impl Outcome {
    /// The outcome of a step that moved no data: ok when `reply` is 2xx.
    pub fn of_reply(step: Step, reply: Reply) -> Self {
        Outcome {
            step,
            ok: reply.is_positive_completion(),
            reply,
            listing: None,
            bytes: 0,
            local_error: None,
            unique_name: None,
        }
    }
}
