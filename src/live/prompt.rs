//! # The interactive `ftp>` shell
//!
//! Layer: application. Reads command lines (rustyline: line editing, history), turns them into
//! client steps with [`crate::ftp::shell`], and runs them on the live client host, one at a time.
//! Lines are read on a thread of their own: while the user thinks, the host goes on answering
//! the network (ACKs, TCP keep-alive probes, a server's `421`), so a quiet session stays up.

use std::sync::atomic::Ordering;
use std::sync::mpsc;

use rustyline::error::ReadlineError;

use super::*;

/// How often the idle loop looks for a typed line (and at the stop flag).
const LINE_CHECK: Duration = Duration::from_millis(50);

/// The `ftp>` prompt on its own thread: [`Prompt::ask`] shows it, the answer comes back on a
/// channel.
struct Prompt {
    ask: mpsc::Sender<()>,
    lines: mpsc::Receiver<Result<String, ReadlineError>>,
}

impl Prompt {
    fn start() -> Result<Prompt, RunError> {
        let mut editor = rustyline::DefaultEditor::new().map_err(RunError::Editor)?;
        let (ask, asked) = mpsc::channel::<()>();
        let (answer, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("ftp-prompt".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let line = editor.readline("ftp> ");
                    if let Ok(l) = &line {
                        let _ = editor.add_history_entry(l.as_str());
                    }
                    if answer.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(RunError::io("cannot start the shell"))?;
        Ok(Prompt { ask, lines })
    }

    /// Shows the prompt; the line comes from [`Prompt::try_line`] or [`Prompt::line`].
    fn ask(&self) {
        let _ = self.ask.send(());
    }

    /// The line, if one was typed (`Err` at the end of input or on an error).
    fn try_line(&self) -> Option<Result<String, ReadlineError>> {
        match self.lines.try_recv() {
            Ok(line) => Some(line),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(ReadlineError::Eof)),
        }
    }

    /// Waits for the line.
    fn line(&self) -> Result<String, ReadlineError> {
        self.lines.recv().unwrap_or(Err(ReadlineError::Eof))
    }
}

impl<D: Device + Wait> Session<'_, D> {
    /// The interactive `ftp>` shell.
    pub(super) fn shell(&mut self) -> Result<(), RunError> {
        let prompt = Prompt::start()?;
        let mut server = self.opts.server;
        let (mut user, mut pass) = (self.opts.user.clone(), self.opts.pass.clone());
        let mut node: Option<ClientNode> = None;
        let mut failures = 0;
        loop {
            if node.is_none() {
                node = Some(self.login(server, &user, &pass)?);
            }
            prompt.ask();
            let line = match node.as_mut() {
                Some(n) => {
                    let stop = self.stop;
                    run::idle_until(&mut self.host, n, LINE_CHECK, || {
                        if stop.load(Ordering::Relaxed) {
                            return Some(Err(ReadlineError::Interrupted));
                        }
                        prompt.try_line()
                    })
                }
                None => prompt.line(),
            };
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let line = match line {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => continue,
                Err(_) => break,
            };
            if node.as_ref().is_some_and(|n| n.client().is_finished()) {
                // The server ended the quiet session (its idle timeout, say).
                if let Some(why) = node.as_ref().and_then(|n| n.client().error()) {
                    eprintln!("{why}");
                }
                eprintln!("The server closed the connection; the next command reconnects.");
                node = None;
            }
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
                    if node.is_none() {
                        node = Some(self.login(server, &user, &pass)?);
                    }
                    if let Some(n) = node.as_mut() {
                        n.client_mut().push_step(step);
                        failures += self.settle(n)?;
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
                        .map_err(|_| RunError::NotAnIp(host.clone()))?;
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
            return Err(RunError::CommandsFailed(failures));
        }
        Ok(())
    }

    /// Connects to `server` and logs in.
    fn login(
        &mut self,
        server: SocketAddr,
        user: &str,
        pass: &str,
    ) -> Result<ClientNode, RunError> {
        let client = Client::interactive(self.config(server, user, pass));
        let mut n = self.connect(server, client)?;
        eprintln!("Connecting to {server} as {user} ...");
        self.settle(&mut n)?;
        Ok(n)
    }

    /// Runs the node until its client is idle (or finished); prints what happened. Returns
    /// how many steps failed.
    fn settle(&mut self, node: &mut ClientNode) -> Result<usize, RunError> {
        let mut bar = Bar::default();
        let mut failed = 0;
        let end = run::run_client(&mut self.host, node, self.stop, None, |n| {
            bar.update(n.client());
            failed += report_new(n, &mut bar).iter().filter(|o| !o.ok).count();
            !n.client().is_idle()
        });
        bar.clear();
        if let Some(why) = node.connect_failure() {
            return Err(RunError::Failed(format!(
                "{why} (timeout {} s)",
                self.timeout.secs()
            )));
        }
        match end {
            ClientEnd::Stopped => return Err(RunError::Interrupted),
            ClientEnd::DeviceGone(why) => return Err(crate::link::DeviceGone(why).into()),
            _ => {}
        }
        if let Some(e) = node.client().error() {
            return Err(RunError::Failed(e.to_string()));
        }
        Ok(failed)
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
