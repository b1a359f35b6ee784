//! The `report`, `exercise` and `grade` commands: their flags and how they map to
//! [`smolftp::trace::report`] and [`smolftp::exercise`] (kept apart from main.rs, which only
//! dispatches to them).

use std::path::PathBuf;
use std::process::ExitCode;

use smolftp::lab::RunError;

use super::print_out;

/// Flags of `smolftp report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A pcap or pcapng file (ours or tcpdump's).
    file: PathBuf,
    /// Only the connections with this port, or the N-th connection (`#N`).
    #[arg(long, value_name = "PORT|N")]
    conn: Option<String>,
    /// JSON for programs instead of text.
    #[arg(long)]
    json: bool,
    /// The stack log our stack wrote for this capture: adds cwnd/ssthresh and the stack's srtt.
    #[arg(long, value_name = "LOG")]
    stack_log: Option<PathBuf>,
}

/// Flags of `smolftp exercise`.
#[derive(clap::Args, Debug)]
pub struct ExerciseArgs {
    /// The student's ID (from the roster): with --secret it decides the variant.
    #[arg(long)]
    student: String,
    /// The course's secret: students who know only their ID cannot make a classmate's key.
    #[arg(long)]
    secret: String,
    /// Directory to write capture.pcapng, worksheet.md and key.json into.
    #[arg(long)]
    out: PathBuf,
    /// The lab: handshake-and-release, rtt, fast-retransmit, rto-backoff, flow-control,
    /// slow-start.
    #[arg(long, default_value = "handshake-and-release")]
    template: String,
}

/// Flags of `smolftp grade`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["key", "batch"])))]
pub struct GradeArgs {
    /// The key.json of the student.
    #[arg(long, requires = "answers")]
    key: Option<PathBuf>,
    /// The student's answers: lines `N: answer`, or JSON `{"1": answer, ...}`.
    answers: Option<PathBuf>,
    /// Grade a class: CLASS/ID/key.json for each student (as `exercise --out CLASS/ID` made
    /// them); answers in CLASS/ID/answers.txt, or DIR/ID.txt with --answers-dir.
    #[arg(long, value_name = "CLASS", conflicts_with = "key")]
    batch: Option<PathBuf>,
    /// With --batch: the directory of the answers files, ID.txt or ID.json.
    #[arg(long, value_name = "DIR", requires = "batch")]
    answers_dir: Option<PathBuf>,
    /// With --batch: write the CSV here instead of standard output.
    #[arg(long, value_name = "FILE", requires = "batch")]
    csv: Option<PathBuf>,
}

/// Prints the report of a capture.
pub fn run_report(args: ReportArgs) -> Result<(), RunError> {
    let text = smolftp::trace::report::report_file(
        &args.file,
        args.conn.as_deref(),
        args.stack_log.as_deref(),
        args.json,
    )?;
    print_out(&text)
}

/// Writes one student's exercise.
pub fn run_exercise(args: ExerciseArgs) -> Result<(), RunError> {
    let template = smolftp::exercise::Template::parse(&args.template)?;
    let made = smolftp::exercise::make(template, &args.student, &args.secret, &args.out)?;
    eprintln!(
        "smolftp exercise: {} for {}: {} frames, {} questions in {}",
        template.name(),
        args.student,
        made.frames,
        made.questions,
        args.out.display()
    );
    Ok(())
}

/// Exit 0 only if every answer is right (or the class CSV was written).
pub fn run_grade(args: GradeArgs) -> ExitCode {
    use smolftp::exercise::grade;
    let result: Result<bool, RunError> = match (&args.key, &args.answers, &args.batch) {
        (Some(key), Some(answers), _) => grade::grade_files(key, answers)
            .map_err(RunError::from)
            .and_then(|(page, ok)| {
                print_out(&page)?;
                Ok(ok)
            }),
        (_, _, Some(class)) => grade::grade_class(class, args.answers_dir.as_deref())
            .map_err(RunError::from)
            .and_then(|csv| match &args.csv {
                Some(p) => std::fs::write(p, csv)
                    .map(|_| true)
                    .map_err(RunError::io(format!("cannot write {}", p.display()))),
                None => print_out(&csv).map(|_| true),
            }),
        _ => Err("give --key KEY ANSWERS, or --batch CLASS".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("smolftp: {message}");
            ExitCode::FAILURE
        }
    }
}
