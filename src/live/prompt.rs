//! # The interactive `ftp>` shell
//!
//! Layer: application. Reads command lines (rustyline: line editing, history), turns them into
//! client steps with [`crate::ftp::shell`], and runs them on the live client host, one at a time.

use super::*;

impl<D: Device + Wait> Session<'_, D> {
    /// The interactive `ftp>` shell.
    pub(super) fn shell(&mut self) -> Result<(), String> {
        let mut editor =
            rustyline::DefaultEditor::new().map_err(|e| format!("cannot start the shell: {e}"))?;
        let mut server = self.opts.server;
        let (mut user, mut pass) = (self.opts.user.clone(), self.opts.pass.clone());
        let mut node: Option<ClientNode> = None;
        let mut failures = 0;
        loop {
            if node.is_none() {
                let client = Client::interactive(self.config(server, &user, &pass));
                let mut n = self.connect(server, client)?;
                eprintln!("Connecting to {server} as {user} ...");
                self.settle(&mut n)?;
                node = Some(n);
            }
            let line = match editor.readline("ftp> ") {
                Ok(line) => line,
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(_) => break,
            };
            let _ = editor.add_history_entry(line.as_str());
            let command = match shell::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    continue;
                }
            };
            match command {
                ShellCommand::Nothing => {}
                ShellCommand::Help => println!("{}", shell::HELP),
                ShellCommand::Passive => {
                    self.passive = !self.passive;
                    if let Some(n) = node.as_mut() {
                        n.client_mut().set_passive(self.passive);
                    }
                    println!("Passive mode {}.", if self.passive { "on" } else { "off" });
                }
                ShellCommand::Bye => break,
                ShellCommand::Step(step) => {
                    if let Some(n) = node.as_mut() {
                        let before = n.client().outcomes().len();
                        n.client_mut().push_step(step);
                        self.settle(n)?;
                        failures += n.client().outcomes()[before..]
                            .iter()
                            .filter(|o| !o.ok)
                            .count();
                        if n.client().is_finished() {
                            eprintln!(
                                "The server closed the connection; the next command reconnects."
                            );
                            node = None;
                        }
                    }
                }
                ShellCommand::Open(host, port) => {
                    let ip: IpAddr = host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse()
                        .map_err(|_| format!("open: {host} is not an IP address"))?;
                    server = SocketAddr::new(ip, port.unwrap_or(21));
                    self.close(node.take());
                }
                ShellCommand::User(name, password) => {
                    user = name;
                    pass = password.unwrap_or_default();
                    self.close(node.take());
                }
            }
        }
        self.close(node.take());
        if failures > 0 {
            return Err(format!("{failures} command(s) failed"));
        }
        Ok(())
    }

    /// Runs the node until its client is idle (or finished); prints what happened.
    fn settle(&mut self, node: &mut ClientNode) -> Result<(), String> {
        let mut bar = Bar::default();
        let mut shown = node.client().outcomes().len();
        let end = run::run_client(&mut self.host, node, self.stop, None, |n| {
            bar.update(n.client());
            shown = report(n.client().outcomes(), shown, &mut bar);
            !n.client().is_idle()
        });
        bar.clear();
        if let Some(why) = node.connect_failure() {
            return Err(format!("{why} (timeout {} s)", self.timeout.secs()));
        }
        if end == ClientEnd::Stopped {
            return Err("interrupted".into());
        }
        if let Some(e) = node.client().error() {
            return Err(e.to_string());
        }
        Ok(())
    }

    fn close(&mut self, node: Option<ClientNode>) {
        if let Some(mut n) = node {
            n.client_mut().finish();
            let _ = run::run_client(
                &mut self.host,
                &mut n,
                self.stop,
                Some(self.timeout),
                |_| true,
            );
        }
    }
}
