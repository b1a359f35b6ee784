//! # What the client prints
//!
//! Layer: application. Outcomes as they come (the client's events) (listings on stdout, results and failures on
//! stderr) and a progress bar on stderr when it is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ftp::Event;
use crate::ftp::client::{Client, Outcome, Step};
use crate::net::client::ClientNode;

/// Prints the outcomes of the steps `node`'s client finished since the last call (its
/// [`Event::StepDone`]s); returns them.
pub(super) fn report_new(node: &mut ClientNode, bar: &mut Bar) -> Vec<Outcome> {
    let mut done = Vec::new();
    while let Some(event) = node.poll_event() {
        if let Event::StepDone(outcome) = event {
            report(&outcome, bar);
            done.push(outcome);
        }
    }
    done
}

/// Prints one outcome.
fn report(o: &Outcome, bar: &mut Bar) {
    {
        bar.clear();
        if let Some(listing) = &o.listing {
            print!("{}", String::from_utf8_lossy(listing));
        }
        let reply = o.reply.to_string();
        if o.ok {
            match &o.step {
                Step::Pwd
                | Step::Size(_)
                | Step::Mdtm(_)
                | Step::Mlst(_)
                | Step::Quote(_)
                | Step::Feat
                | Step::Syst
                | Step::Mkd(_) => {
                    println!("{reply}")
                }
                Step::Retr { .. } | Step::Reget { .. } | Step::Stor { .. } | Step::Appe { .. } => {
                    eprintln!("{}: {} bytes", o.step, o.bytes)
                }
                Step::Stou { .. } => match &o.unique_name {
                    Some(name) => eprintln!("{}: {} bytes, stored as {name}", o.step, o.bytes),
                    None => eprintln!("{}: {} bytes", o.step, o.bytes),
                },
                _ => {}
            }
        } else {
            let local = o
                .local_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            eprintln!("{} failed: {reply}{local}", o.step);
        }
    }
}

/// A progress bar on standard error, only when it is a terminal.
#[derive(Default)]
pub(super) struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub(super) fn update(&mut self, client: &Client) {
        let Some(p) = client.progress() else {
            return;
        };
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::no_length();
            let template =
                "{msg} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message(p.step.to_string());
            bar
        });
        // The size is known once the 150 reply has come (RETR), which may be after the start.
        if let Some(total) = p.total
            && bar.length() != Some(total)
        {
            bar.set_length(total);
        }
        bar.set_position(p.bytes);
    }

    pub(super) fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
