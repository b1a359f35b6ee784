//! # Why an exercise could not be made or graded
//!
//! Layer: application. Job: [`ExerciseError`], what `smolftp exercise` and `smolftp grade` print
//! after `smolftp: `, worded as before the type existed.

use std::io;
use std::path::PathBuf;

use super::Template;
use crate::lab::RunError;
use crate::trace::TraceError;
use crate::trace::stacklog::StackLogError;

/// Why an exercise could not be made, or answers could not be graded.
#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    /// A file or directory could not be made, read or written; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `cannot read the key k.json`.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// No template has this name.
    #[error("no template {0:?}; templates: {names}", names = template_names())]
    NoTemplate(String),
    /// `--student` is empty.
    #[error("--student is empty: give each student's ID, e.g. --student s1234")]
    NoStudent,
    /// A variant's drop rule does not parse (a bug in the template).
    #[error("{0}")]
    Drop(String),
    /// The variant's lab run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The variant's capture cannot be read back.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The variant's stack log cannot be read back.
    #[error(transparent)]
    StackLog(#[from] StackLogError),
    /// The capture lacks what a question asks about (a bug in the template).
    #[error("the capture has no {0}: this variant does not show its lesson (a bug: report it)")]
    Missing(&'static str),
    /// key.json could not be made.
    #[error(transparent)]
    Json(serde_json::Error),
    /// A key file is not JSON.
    #[error("{}: not a key.json: {source}", .path.display())]
    NotAKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A key file has no list of questions.
    #[error("{}: no \"questions\" list: not a key.json", .0.display())]
    NoQuestions(PathBuf),
    /// A JSON answers file is not JSON.
    #[error("{name}: {source}")]
    AnswersJson {
        /// The answers file.
        name: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON answers file is not an object of answers.
    #[error("{0}: expected {{\"1\": answer, ...}}")]
    AnswersNotObject(String),
    /// A JSON answers file has a key that is not a question number.
    #[error("{name}: {key:?} is not a question number")]
    NotAQuestionNumber {
        /// The answers file.
        name: String,
        /// The key.
        key: String,
    },
    /// A line of a text answers file is not `N: answer`.
    #[error("{name}:{line}: expected `N: answer` (e.g. `3: 1234567`), not {text:?}")]
    AnswerLine {
        /// The answers file.
        name: String,
        /// The line (from 1).
        line: usize,
        /// The line's text.
        text: String,
    },
    /// A class directory with no student's key in it.
    #[error(
        "{}: no STUDENT/key.json inside: make the class with `smolftp exercise --out {}/ID`",
        .0.display(),
        .0.display()
    )]
    EmptyClass(PathBuf),
}

impl ExerciseError {
    /// An I/O failure while doing `what` (`cannot read the key k.json`, ...).
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ExerciseError {
        let what = what.into();
        move |source| ExerciseError::Io { what, source }
    }
}

/// The templates' names, for [`ExerciseError::NoTemplate`].
fn template_names() -> String {
    let names: Vec<_> = Template::ALL.iter().map(|t| t.name()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words `smolftp exercise` and `grade` printed before the type existed.
    #[test]
    fn messages_keep_their_words() {
        let cases = [
            (
                ExerciseError::io("cannot read the key k.json")(io::Error::from(
                    io::ErrorKind::NotFound,
                )),
                "cannot read the key k.json: entity not found",
            ),
            (
                ExerciseError::NoTemplate("nope".into()),
                "no template \"nope\"; templates: handshake-and-release, rtt, fast-retransmit, \
                 rto-backoff, flow-control, slow-start",
            ),
            (
                ExerciseError::NoQuestions("k.json".into()),
                "k.json: no \"questions\" list: not a key.json",
            ),
            (
                ExerciseError::AnswersNotObject("a.json".into()),
                "a.json: expected {\"1\": answer, ...}",
            ),
            (
                ExerciseError::NotAQuestionNumber {
                    name: "a.json".into(),
                    key: "one".into(),
                },
                "a.json: \"one\" is not a question number",
            ),
            (
                ExerciseError::AnswerLine {
                    name: "a.txt".into(),
                    line: 2,
                    text: "x".into(),
                },
                "a.txt:2: expected `N: answer` (e.g. `3: 1234567`), not \"x\"",
            ),
            (
                ExerciseError::EmptyClass("c".into()),
                "c: no STUDENT/key.json inside: make the class with `smolftp exercise --out c/ID`",
            ),
            (
                ExerciseError::Missing("FIN"),
                "the capture has no FIN: this variant does not show its lesson (a bug: report it)",
            ),
        ];
        for (e, words) in cases {
            assert_eq!(e.to_string(), words);
        }
    }
}
