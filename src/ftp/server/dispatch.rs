//! Dispatch of the server session: one parsed line, the login and write gates (both read from
//! the verb table, [`crate::ftp::verb`]), and one match that sends every verb to its handler.

use super::super::command::{self, Command, TransferType};
use super::super::verb;
use super::transfer::ListKind;
use super::{Session, quote_path, strip_telnet};

impl Session {
    /// Handles one complete control line.
    pub(super) fn handle_line(&mut self, line: &[u8]) {
        let line = strip_telnet(line);
        let cmd = match command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                // A verb that needs a login (or an unknown one) hears 530 rather than what is
                // wrong with its argument; a line that is no command at all (500) hears that.
                let word = command::verb_of(line);
                let needs_login = !word.is_empty() && verb::find(&word).is_none_or(|v| v.login);
                if self.user.is_none() && needs_login && e.code() != 500 {
                    self.reply(530, "Please login with USER and PASS.");
                } else {
                    self.reply(e.code(), e.message());
                }
                return;
            }
        };
        let row = cmd.verb();
        if self.user.is_none() && row.is_none_or(|v| v.login) {
            self.reply(530, "Please login with USER and PASS.");
            return;
        }
        // REST and RNFR apply to the very next command only, whatever it is.
        let rest = self.rest.take();
        let rename_from = self.rename_from.take();
        if row.is_some_and(|v| v.writes) && !self.may_write() {
            self.reply(550, "Permission denied.");
            return;
        }
        match cmd {
            Command::User(name) => {
                self.user = None;
                self.pending_user = Some(name);
                self.reply(331, "Please specify the password.");
            }
            Command::Pass(pass) => self.pass(&pass),
            Command::Acct => self.reply(502, "ACCT not implemented."),
            Command::Smnt => self.reply(502, "SMNT not implemented."),
            Command::Rein => self.rein(),
            Command::Syst => self.reply(215, "UNIX Type: L8"),
            Command::Pwd => {
                let text = format!("{} is the current directory", quote_path(&self.cwd));
                self.reply(257, &text);
            }
            Command::Cwd(path) => self.cwd(&path),
            Command::Cdup => self.cwd(".."),
            Command::Type(TransferType::Ascii) => {
                self.ascii = true;
                self.reply(200, "Switching to ASCII mode.");
            }
            Command::Type(TransferType::Image) => {
                self.ascii = false;
                self.reply(200, "Switching to Binary mode.");
            }
            Command::Mode => self.reply(200, "Mode set to S."),
            Command::Stru => self.reply(200, "Structure set to F."),
            Command::Noop => self.reply(200, "NOOP ok."),
            Command::Port(addr) => self.port_cmd(addr),
            Command::Eprt(addr) => self.eprt_cmd(addr),
            Command::Pasv => self.pasv_cmd(),
            Command::Epsv(arg) => self.epsv_cmd(arg.as_deref()),
            Command::Abor => self.abor(),
            Command::Quit => {
                self.reply(221, "Goodbye.");
                self.close();
            }
            Command::Feat => self.feat(),
            Command::Opts(arg) => self.opts(&arg),
            Command::Help => self.help(),
            Command::Site(arg) => self.site(&arg),
            Command::Stat(None) => self.stat(),
            Command::Stat(Some(path)) => self.stat_path(&path),
            Command::Mlst(path) => self.mlst(path.as_deref().unwrap_or("")),
            Command::List(path) => self.listing(path, ListKind::List),
            Command::Nlst(path) => self.listing(path, ListKind::Nlst),
            Command::Mlsd(path) => self.listing(path, ListKind::Mlsd(self.facts)),
            Command::Retr(path) => self.retr(path, rest.unwrap_or(0)),
            Command::Stor(path) => self.stor(path, rest),
            Command::Stou(path) => self.stou(path),
            Command::Appe(path) => self.appe(path),
            Command::Rest(n) => {
                self.rest = Some(n);
                self.reply(350, &format!("Restart position accepted ({n})."));
            }
            Command::Allo => self.reply(202, "ALLO command ignored."),
            Command::Size(path) => self.size(&path),
            Command::Mdtm(path) => self.mdtm(&path),
            Command::Dele(path) => self.dele(&path),
            Command::Rmd(path) => self.rmd(&path),
            Command::Mkd(path) => self.mkd(&path),
            Command::Rnfr(path) => self.rnfr(&path),
            Command::Rnto(path) => self.rnto(&path, rename_from),
            Command::Unknown(verb) => {
                log::debug!("unimplemented verb {verb}");
                self.reply(502, "Command not implemented.");
            }
        }
    }
}
