//! # The `ftp>` command language
//!
//! Layer: application protocol (client user interface, sans-IO). Turns one line of the classic
//! BSD `ftp` shell (`ls`, `dir`, `get`, `put`, `cd`, `pwd`, `binary`, `ascii`, ...; tnftp's
//! `mlsd`, `mlst`, `modtime`, `reget`, `append`; our `put-unique` for `STOU`) into a client
//! [`Step`] or a shell command (`open`, `user`, `help`, `bye`). Words are split like a POSIX
//! shell would (quotes keep spaces).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::ftp::command::TransferType;
use crate::ftp::step::Step;

/// One parsed shell line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellCommand {
    /// An FTP step to run.
    Step(Step),
    /// `open HOST [PORT]`: connect to a server.
    Open(String, Option<u16>),
    /// `user NAME [PASSWORD]`: log in as someone else.
    User(String, Option<String>),
    /// `passive`: switch between passive and active mode.
    Passive,
    /// `help`: list the commands.
    Help,
    /// `bye` / `quit` / `exit`: end the session.
    Bye,
    /// An empty line.
    Nothing,
}

/// The help text of the shell.
pub const HELP: &str = "\
commands:
  ls [PATH]              names in a directory (NLST)
  dir [PATH]             long listing (LIST)
  mlsd [PATH]            machine listing, one line of facts per entry (MLSD)
  mlst [PATH]            facts of one file or directory (MLST)
  get REMOTE [LOCAL]     download a file (RETR)
  reget REMOTE [LOCAL]   resume a download: REST <size of LOCAL>, RETR, append to LOCAL
  put LOCAL [REMOTE]     upload a file (STOR)
  append LOCAL [REMOTE]  append a file to a remote one (APPE)
  put-unique LOCAL [REMOTE]
                         upload under a name no remote file has (STOU REMOTE) and print
                         the name the server chose (tnftp: sunique, then put)
  cd DIR                 change the remote directory (CWD)
  pwd                    print the remote directory (PWD)
  binary | ascii         transfer type (TYPE I / TYPE A: text, CRLF on the wire, LF here)
  passive                switch passive mode (EPSV/PASV) on or off
  size FILE              size of a remote file (SIZE)
  modtime FILE | mdtm FILE
                         modification time of a remote file (MDTM)
  mkdir DIR | rmdir DIR  make or remove a remote directory (MKD / RMD)
  delete FILE            remove a remote file (DELE)
  rename FROM TO         rename a remote file (RNFR, RNTO)
  quote LINE...          send a raw command line
  open HOST [PORT]       connect to a server
  user NAME [PASSWORD]   log in again as NAME
  help                   this text
  bye | quit | exit      end the session";

fn base_name(path: &str) -> Option<String> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// Why a shell line is not a command; its `Display` is the answer the shell prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellError {
    /// A quote is not closed.
    UnbalancedQuotes(String),
    /// A command (the verb as typed) was given more arguments than it takes.
    TooManyArguments(String),
    /// A command lacks an argument.
    Missing {
        /// The verb as typed.
        verb: String,
        /// The argument's name in the help, e.g. `REMOTE`.
        what: &'static str,
    },
    /// `get`/`put` of a path with no file name in it (`..`, `/`).
    NamesNoFile {
        /// The verb as typed.
        verb: String,
        /// The path.
        path: String,
    },
    /// `open HOST PORT` with a port that is not a number of 16 bits.
    BadPort(String),
    /// No such command.
    Invalid(String),
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellError::UnbalancedQuotes(line) => write!(f, "unbalanced quotes in: {line}"),
            ShellError::TooManyArguments(verb) => {
                write!(f, "{verb}: too many arguments (see help)")
            }
            ShellError::Missing { verb, what } => write!(f, "{verb}: missing {what} (see help)"),
            ShellError::NamesNoFile { verb, path } => write!(f, "{verb}: {path} names no file"),
            ShellError::BadPort(p) => write!(f, "open: bad port {p}"),
            ShellError::Invalid(verb) => write!(f, "?Invalid command: {verb} (see help)"),
        }
    }
}

impl std::error::Error for ShellError {}

/// Parses one line. Errors are messages for the user.
pub fn parse(line: &str) -> Result<ShellCommand, ShellError> {
    let words = shlex::split(line).ok_or_else(|| ShellError::UnbalancedQuotes(line.to_string()))?;
    let Some((verb, args)) = words.split_first() else {
        return Ok(ShellCommand::Nothing);
    };
    let arg = |i: usize| args.get(i).cloned();
    let max = |n: usize| {
        if args.len() > n {
            Err(ShellError::TooManyArguments(verb.clone()))
        } else {
            Ok(())
        }
    };
    let need = |what: &'static str| ShellError::Missing {
        verb: verb.clone(),
        what,
    };
    let step = match verb.to_ascii_lowercase().as_str() {
        "ls" => {
            max(1)?;
            Step::Nlst(arg(0))
        }
        "dir" => {
            max(1)?;
            Step::List(arg(0))
        }
        "mlsd" => {
            max(1)?;
            Step::Mlsd(arg(0))
        }
        "mlst" => {
            max(1)?;
            Step::Mlst(arg(0))
        }
        "get" | "recv" | "reget" => {
            max(2)?;
            let remote = arg(0).ok_or_else(|| need("REMOTE"))?;
            let local = match arg(1) {
                Some(l) => l,
                None => base_name(&remote).ok_or_else(|| ShellError::NamesNoFile {
                    verb: verb.clone(),
                    path: remote.clone(),
                })?,
            };
            let local = PathBuf::from(local);
            match verb.eq_ignore_ascii_case("reget") {
                true => Step::Reget { remote, local },
                false => Step::Retr { remote, local },
            }
        }
        "put" | "send" | "append" | "put-unique" => {
            max(2)?;
            let local = arg(0).ok_or_else(|| need("LOCAL"))?;
            let remote = match arg(1) {
                Some(r) => r,
                None => base_name(&local).ok_or_else(|| ShellError::NamesNoFile {
                    verb: verb.clone(),
                    path: local.clone(),
                })?,
            };
            let local = PathBuf::from(local);
            match verb.to_ascii_lowercase().as_str() {
                "append" => Step::Appe { local, remote },
                "put-unique" => Step::Stou {
                    local,
                    remote: Some(remote),
                },
                _ => Step::Stor { local, remote },
            }
        }
        "cd" => {
            max(1)?;
            Step::Cwd(arg(0).ok_or_else(|| need("DIR"))?)
        }
        "cdup" => {
            max(0)?;
            Step::Cdup
        }
        "pwd" => {
            max(0)?;
            Step::Pwd
        }
        "binary" | "image" => {
            max(0)?;
            Step::Type(TransferType::Image)
        }
        "ascii" => {
            max(0)?;
            Step::Type(TransferType::Ascii)
        }
        "size" => {
            max(1)?;
            Step::Size(arg(0).ok_or_else(|| need("FILE"))?)
        }
        "modtime" | "mdtm" => {
            max(1)?;
            Step::Mdtm(arg(0).ok_or_else(|| need("FILE"))?)
        }
        "mkdir" => {
            max(1)?;
            Step::Mkd(arg(0).ok_or_else(|| need("DIR"))?)
        }
        "rmdir" => {
            max(1)?;
            Step::Rmd(arg(0).ok_or_else(|| need("DIR"))?)
        }
        "delete" | "rm" => {
            max(1)?;
            Step::Dele(arg(0).ok_or_else(|| need("FILE"))?)
        }
        "rename" => {
            max(2)?;
            let from = arg(0).ok_or_else(|| need("FROM"))?;
            let to = arg(1).ok_or_else(|| need("TO"))?;
            Step::Rename { from, to }
        }
        "quote" | "literal" => {
            if args.is_empty() {
                return Err(need("LINE"));
            }
            Step::Quote(args.join(" "))
        }
        "open" => {
            max(2)?;
            let host = arg(0).ok_or_else(|| need("HOST"))?;
            let port = match arg(1) {
                Some(p) => Some(p.parse().map_err(|_| ShellError::BadPort(p.clone()))?),
                None => None,
            };
            return Ok(ShellCommand::Open(host, port));
        }
        "user" => {
            max(2)?;
            let name = arg(0).ok_or_else(|| need("NAME"))?;
            return Ok(ShellCommand::User(name, arg(1)));
        }
        "help" | "?" => return Ok(ShellCommand::Help),
        "passive" => {
            max(0)?;
            return Ok(ShellCommand::Passive);
        }
        "bye" | "quit" | "exit" => return Ok(ShellCommand::Bye),
        other => return Err(ShellError::Invalid(other.to_string())),
    };
    Ok(ShellCommand::Step(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(line: &str) -> Step {
        match parse(line) {
            Ok(ShellCommand::Step(s)) => s,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn commands_become_steps() {
        assert_eq!(step("ls"), Step::Nlst(None));
        assert_eq!(step("dir /pub"), Step::List(Some("/pub".into())));
        assert_eq!(
            step("get pub/readme.txt"),
            Step::Retr {
                remote: "pub/readme.txt".into(),
                local: "readme.txt".into()
            }
        );
        assert_eq!(
            step("get 'a b.txt' /tmp/c"),
            Step::Retr {
                remote: "a b.txt".into(),
                local: "/tmp/c".into()
            }
        );
        assert_eq!(
            step("put /tmp/up.bin"),
            Step::Stor {
                local: "/tmp/up.bin".into(),
                remote: "up.bin".into()
            }
        );
        assert_eq!(step("mlsd"), Step::Mlsd(None));
        assert_eq!(step("mlsd /pub"), Step::Mlsd(Some("/pub".into())));
        assert_eq!(step("mlst"), Step::Mlst(None));
        assert_eq!(step("mlst a.txt"), Step::Mlst(Some("a.txt".into())));
        assert_eq!(step("modtime a.txt"), Step::Mdtm("a.txt".into()));
        assert_eq!(step("MDTM a.txt"), Step::Mdtm("a.txt".into()));
        assert_eq!(
            step("reget pub/big.iso"),
            Step::Reget {
                remote: "pub/big.iso".into(),
                local: "big.iso".into()
            }
        );
        assert_eq!(
            step("reget big.iso /tmp/b"),
            Step::Reget {
                remote: "big.iso".into(),
                local: "/tmp/b".into()
            }
        );
        assert_eq!(
            step("append /tmp/log.txt"),
            Step::Appe {
                local: "/tmp/log.txt".into(),
                remote: "log.txt".into()
            }
        );
        assert_eq!(
            step("append log.txt all.txt"),
            Step::Appe {
                local: "log.txt".into(),
                remote: "all.txt".into()
            }
        );
        assert_eq!(
            step("put-unique /tmp/up.bin"),
            Step::Stou {
                local: "/tmp/up.bin".into(),
                remote: Some("up.bin".into())
            }
        );
        assert_eq!(
            step("put-unique up.bin incoming/up"),
            Step::Stou {
                local: "up.bin".into(),
                remote: Some("incoming/up".into())
            }
        );
        assert_eq!(step("cd pub"), Step::Cwd("pub".into()));
        assert_eq!(step("PWD"), Step::Pwd);
        assert_eq!(step("binary"), Step::Type(TransferType::Image));
        assert_eq!(step("ascii"), Step::Type(TransferType::Ascii));
        assert_eq!(step("quote SITE HELP"), Step::Quote("SITE HELP".into()));
        assert_eq!(step("mkdir new"), Step::Mkd("new".into()));
        assert_eq!(step("rm old.txt"), Step::Dele("old.txt".into()));
        assert_eq!(
            step("rename a b"),
            Step::Rename {
                from: "a".into(),
                to: "b".into()
            }
        );
    }

    #[test]
    fn shell_commands_and_mistakes() {
        assert_eq!(parse("  "), Ok(ShellCommand::Nothing));
        assert_eq!(parse("bye"), Ok(ShellCommand::Bye));
        assert_eq!(parse("passive"), Ok(ShellCommand::Passive));
        assert_eq!(
            parse("open 10.0.0.1 2121"),
            Ok(ShellCommand::Open("10.0.0.1".into(), Some(2121)))
        );
        assert_eq!(
            parse("user bob pw"),
            Ok(ShellCommand::User("bob".into(), Some("pw".into())))
        );
        for bad in [
            "get",
            "put",
            "cd",
            "ls a b",
            "frobnicate",
            "get 'open",
            "open h port",
            "get /",
            "reget",
            "reget /",
            "append",
            "append a b c",
            "put-unique",
            "put-unique /",
            "mlsd a b",
            "mlst a b",
            "modtime",
            "mdtm a b",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    /// The shell's answers to mistakes, word for word as before [`ShellError`] existed.
    #[test]
    fn mistakes_are_answered_in_the_same_words() {
        let cases = [
            ("get 'a", "unbalanced quotes in: get 'a"),
            ("ls a b", "ls: too many arguments (see help)"),
            ("GET", "GET: missing REMOTE (see help)"),
            ("get ..", "get: .. names no file"),
            ("open 10.0.0.1 x", "open: bad port x"),
            ("frob", "?Invalid command: frob (see help)"),
        ];
        for (line, words) in cases {
            assert_eq!(parse(line).unwrap_err().to_string(), words, "{line}");
        }
    }
}
