//! Informational verbs of the server session: `FEAT OPTS HELP STAT SITE MLST` (`HELP` and
//! `FEAT` list what the verb table, [`crate::ftp::verb`], says).

use super::super::listing::{self, Facts};
use super::super::reply::Reply;
use super::super::verb;
use super::Session;

impl Session {
    /// `FEAT`: the features of the verb table, `MLST` with the facts in force.
    pub(super) fn feat(&mut self) {
        let mut lines = vec!["Features:".to_string()];
        lines.extend(
            verb::features(&self.facts.feat())
                .into_iter()
                .map(|f| format!(" {f}")),
        );
        lines.push("End".into());
        self.send(Reply::multi(211, lines));
    }

    /// `HELP`: the verbs of the verb table, eight to a line.
    pub(super) fn help(&mut self) {
        let mut lines = vec!["The following commands are recognized.".to_string()];
        for row in verb::help_names().chunks(8) {
            lines.push(format!(" {}", row.join(" ")));
        }
        lines.push("Help OK.".into());
        self.send(Reply::multi(214, lines));
    }

    /// `SITE HELP` (the only `SITE` command).
    pub(super) fn site(&mut self, arg: &str) {
        if arg.trim().eq_ignore_ascii_case("HELP") {
            let lines = vec![
                "The following SITE commands are recognized.".to_string(),
                " HELP".into(),
                "Help OK.".into(),
            ];
            self.send(Reply::multi(214, lines));
        } else {
            self.reply(504, "Unknown SITE command.");
        }
    }

    pub(super) fn opts(&mut self, arg: &str) {
        let (opt, value) = match arg.trim().split_once(char::is_whitespace) {
            Some((o, v)) => (o.to_ascii_uppercase(), v.trim()),
            None => (arg.trim().to_ascii_uppercase(), ""),
        };
        match opt.as_str() {
            "UTF8" if value.eq_ignore_ascii_case("ON") => self.reply(200, "Always in UTF8 mode."),
            "MLST" => {
                self.facts = Facts::parse(value);
                let text = format!("MLST OPTS {}", self.facts.enabled());
                self.reply(200, &text);
            }
            _ => self.reply(501, "Option not understood."),
        }
    }

    pub(super) fn stat(&mut self) {
        let mut lines = vec![
            "FTP server status:".to_string(),
            format!(" Connected to {}", self.peer),
            format!(" Logged in as {}", self.user.as_deref().unwrap_or("")),
            format!(" TYPE: {}", if self.ascii { "ASCII" } else { "BINARY" }),
        ];
        match self.transfer_status() {
            Some(s) => lines.push(format!(" Transfer in progress: {s}")),
            None => lines.push(" No data connection".into()),
        }
        lines.push("End of status".into());
        self.send(Reply::multi(211, lines));
    }

    pub(super) fn stat_path(&mut self, arg: &str) {
        let Some(real) = self.resolve(arg) else {
            self.reply(550, "Failed to open path.");
            return;
        };
        let name = arg.rsplit('/').next().unwrap_or("");
        let Ok(data) = listing::list(&self.jail, &real, name, self.now) else {
            self.reply(550, "Failed to open path.");
            return;
        };
        let mut lines = vec![format!("Status of {arg}:")];
        let text = String::from_utf8_lossy(&data);
        lines.extend(text.split_terminator("\r\n").map(str::to_string));
        lines.push("End of status".into());
        self.send(Reply::multi(213, lines));
    }

    pub(super) fn mlst(&mut self, arg: &str) {
        let found = self.vpath(arg).and_then(|v| {
            let (_, meta) = self.jail.metadata(&v).ok()?;
            Some((v, meta))
        });
        let Some((vpath, meta)) = found else {
            self.reply(550, "Failed to get file status.");
            return;
        };
        let line = listing::facts_line(&vpath, &meta, self.facts, self.may_write());
        let lines = vec![format!("Listing {vpath}"), format!(" {line}"), "End".into()];
        self.send(Reply::multi(250, lines));
    }
}
