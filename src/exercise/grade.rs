//! Grading: a student's answers against a key.json that [`super::make`] wrote.
//!
//! Answers are a text file, one `N: answer` per line (`#` starts a comment line; `N.` or
//! `N ` work too), or a JSON object `{"1": 3092063504, "2": "yes", ...}`. A number is right
//! within the question's tolerance (times to the clock's microsecond, RTT estimates within
//! 1 ms, throughput within 1%); a word is right when it equals the key's, ignoring case and
//! runs of spaces.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::ExerciseError;

/// The verdict on one question.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Its number on the worksheet.
    pub n: usize,
    /// Its stable name.
    pub id: String,
    /// Right or not.
    pub right: bool,
    /// What to tell the student.
    pub message: String,
}

/// A key: the student and template it is for, and its questions.
#[derive(Clone, Debug)]
pub struct Key {
    /// Student ID.
    pub student: String,
    /// Template name.
    pub template: String,
    questions: Vec<Value>,
}

/// Reads key.json.
pub fn read_key(path: &Path) -> Result<Key, ExerciseError> {
    let text = fs::read_to_string(path).map_err(ExerciseError::io(format!(
        "cannot read the key {}",
        path.display()
    )))?;
    let v: Value = serde_json::from_str(&text).map_err(|source| ExerciseError::NotAKey {
        path: path.to_path_buf(),
        source,
    })?;
    let questions = v["questions"]
        .as_array()
        .cloned()
        .ok_or_else(|| ExerciseError::NoQuestions(path.to_path_buf()))?;
    Ok(Key {
        student: v["student"].as_str().unwrap_or("").into(),
        template: v["template"].as_str().unwrap_or("").into(),
        questions,
    })
}

/// Parses answers, text or JSON (see the module's doc), into question number -> answer.
pub fn parse_answers(name: &str, text: &str) -> Result<BTreeMap<usize, String>, ExerciseError> {
    let mut out = BTreeMap::new();
    if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|source| ExerciseError::AnswersJson {
            name: name.to_string(),
            source,
        })?;
        let obj = v.get("answers").unwrap_or(&v);
        let obj = obj
            .as_object()
            .ok_or_else(|| ExerciseError::AnswersNotObject(name.to_string()))?;
        for (k, a) in obj {
            let n: usize = k.parse().map_err(|_| ExerciseError::NotAQuestionNumber {
                name: name.to_string(),
                key: k.clone(),
            })?;
            let a = match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(n, a);
        }
        return Ok(out);
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digits: String = line.chars().take_while(char::is_ascii_digit).collect();
        let n: usize = digits.parse().map_err(|_| ExerciseError::AnswerLine {
            name: name.to_string(),
            line: i + 1,
            text: line.to_string(),
        })?;
        let rest = line[digits.len()..].trim_start();
        let rest = rest
            .strip_prefix(':')
            .or_else(|| rest.strip_prefix('.'))
            .unwrap_or(rest);
        out.insert(n, rest.trim().trim_matches('`').to_string());
    }
    Ok(out)
}

fn words(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Grades `answers` against `key`, one verdict per question of the key.
pub fn grade(key: &Key, answers: &BTreeMap<usize, String>) -> Vec<Verdict> {
    key.questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let n = i + 1;
            let id = q["id"].as_str().unwrap_or("?").to_string();
            let want = &q["answer"];
            let tol = q["tolerance"].as_f64().unwrap_or(0.0);
            let name = format!("question {n} ({id})");
            let shown = match want {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let (right, message) = match answers.get(&n) {
                None => (false, format!("{name}: no answer")),
                Some(got) => match want.as_f64() {
                    // A unit after the number (`21.6 ms`) is allowed.
                    Some(w) => match got.split_whitespace().next().unwrap_or("").parse::<f64>() {
                        Ok(g) if (g - w).abs() <= tol + 1e-9 => (true, format!("{name}: right")),
                        Ok(_) => (
                            false,
                            format!(
                                "{name}: wrong: {got} is not {shown}{}",
                                if tol > 0.0 {
                                    format!(" (within {tol})")
                                } else {
                                    String::new()
                                }
                            ),
                        ),
                        Err(_) => (false, format!("{name}: wrong: {got:?} is not a number")),
                    },
                    None if words(got) == words(&shown) => (true, format!("{name}: right")),
                    None => (false, format!("{name}: wrong: {got:?} is not {shown:?}")),
                },
            };
            Verdict {
                n,
                id,
                right,
                message,
            }
        })
        .collect()
}

/// Grades the answers file `answers` against `key`: the page to print and whether all are
/// right.
pub fn grade_files(key: &Path, answers: &Path) -> Result<(String, bool), ExerciseError> {
    let key = read_key(key)?;
    let text = fs::read_to_string(answers).map_err(ExerciseError::io(format!(
        "cannot read the answers {}",
        answers.display()
    )))?;
    let got = parse_answers(&answers.display().to_string(), &text)?;
    let verdicts = grade(&key, &got);
    let right = verdicts.iter().filter(|v| v.right).count();
    let mut page = String::new();
    for v in &verdicts {
        let _ = writeln!(page, "{}", v.message);
    }
    let _ = writeln!(
        page,
        "{} ({}): {right} of {} right",
        key.student,
        key.template,
        verdicts.len()
    );
    Ok((page, right == verdicts.len()))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Grades a class: every subdirectory of `class` that holds a key.json (as `smolftp exercise
/// --out CLASS/ID` wrote it), with the answers `answers/ID.txt` (or `.json`) when `answers`
/// is given, else `CLASS/ID/answers.txt` (or `.json`). Returns the CSV
/// (`student,template,right,total,wrong`); a missing answers file scores 0.
pub fn grade_class(class: &Path, answers: Option<&Path>) -> Result<String, ExerciseError> {
    let mut dirs: Vec<_> = fs::read_dir(class)
        .map_err(ExerciseError::io(format!(
            "cannot read the class directory {}",
            class.display()
        )))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("key.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(ExerciseError::EmptyClass(class.to_path_buf()));
    }
    let mut csv = String::from("student,template,right,total,wrong\n");
    for dir in dirs {
        let key = read_key(&dir.join("key.json"))?;
        let id = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = match answers {
            Some(a) => a.join(&id),
            None => dir.join("answers"),
        };
        let file = ["txt", "json"]
            .iter()
            .map(|x| base.with_extension(x))
            .find(|p| p.is_file());
        let got = match &file {
            Some(p) => {
                let text = fs::read_to_string(p)
                    .map_err(ExerciseError::io(format!("cannot read {}", p.display())))?;
                parse_answers(&p.display().to_string(), &text)?
            }
            None => BTreeMap::new(),
        };
        let verdicts = grade(&key, &got);
        let wrong: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.right)
            .map(|v| v.n.to_string())
            .collect();
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            csv_field(&key.student),
            csv_field(&key.template),
            verdicts.len() - wrong.len(),
            verdicts.len(),
            csv_field(&wrong.join(" "))
        );
    }
    Ok(csv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_parse_as_text_or_json_and_say_where_a_line_is_wrong() {
        let a = parse_answers("a.txt", "# me\n1: PORT 1,2\n2. 42\n3 yes\n\n").unwrap();
        assert_eq!(a[&1], "PORT 1,2");
        assert_eq!(a[&2], "42");
        assert_eq!(a[&3], "yes");
        let j = parse_answers("a.json", r#"{"1": "x", "2": 4.5}"#).unwrap();
        assert_eq!((j[&1].as_str(), j[&2].as_str()), ("x", "4.5"));
        let e = parse_answers("a.txt", "1: x\nthe answer is 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.txt:2:"), "{e}");
        assert!(parse_answers("a.json", r#"{"one": 1}"#).is_err());
    }

    #[test]
    fn numbers_within_tolerance_words_ignoring_case() {
        let key = Key {
            student: "s".into(),
            template: "rtt".into(),
            questions: vec![
                json!({"id": "isn", "answer": 4000000000u64, "tolerance": 0.0}),
                json!({"id": "rtt", "answer": 12.5, "tolerance": 1.0}),
                json!({"id": "release", "answer": "four-segment", "tolerance": 0.0}),
            ],
        };
        let got = |a: &[&str]| {
            a.iter()
                .enumerate()
                .map(|(i, s)| (i + 1, s.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let v = grade(&key, &got(&["4000000000", "13.4 ms", " Four-Segment "]));
        assert!(v.iter().all(|v| v.right), "{v:?}");
        let v = grade(&key, &got(&["4000000001", "13.6", "three-segment"]));
        assert!(v.iter().all(|v| !v.right), "{v:?}");
        assert_eq!(
            v[0].message,
            "question 1 (isn): wrong: 4000000001 is not 4000000000"
        );
        assert!(v[1].message.contains("(within 1)"), "{}", v[1].message);
        let v = grade(&key, &got(&["many"]));
        assert!(v[0].message.contains("not a number"));
        assert_eq!(v[2].message, "question 3 (release): no answer");
    }
}
