//! The worksheet's questions and their answers, from the report of a variant's capture.

use serde_json::{Value, json};

use super::{ExerciseError, Template, Variant};
use crate::trace::Analysis;

/// One numbered question and its answer.
#[derive(Clone, Debug)]
pub struct Question {
    /// A stable name (`syn_isn`, `sample_rtt_1`, ...).
    pub id: String,
    /// The question as the worksheet asks it.
    pub text: String,
    /// Frames it is about.
    pub frames: Vec<u32>,
    /// The answer: a number or a word.
    pub answer: Value,
    /// How far a numeric answer may be off.
    pub tolerance: f64,
}

impl Question {
    /// As key.json stores it (`n` is filled in by the caller's order).
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "question": self.text, "frames": self.frames,
               "answer": self.answer, "tolerance": self.tolerance})
    }
}

/// One microsecond in ms: a time read from the capture, to the clock's resolution.
const US_MS: f64 = 0.001_000_1;
/// Estimates (EstimatedRTT, DevRTT, TimeoutInterval) within 1 ms.
const EST_MS: f64 = 1.0;

fn q(id: &str, text: String, frames: Vec<u32>, answer: Value, tolerance: f64) -> Question {
    Question {
        id: id.into(),
        text,
        frames,
        answer,
        tolerance,
    }
}

fn ms(v: &Value) -> Value {
    json!((v.as_f64().unwrap_or(0.0) * 1e6).round() / 1e3)
}

fn missing(what: &'static str) -> ExerciseError {
    ExerciseError::Missing(what)
}

/// The questions of `v`'s worksheet, answered from `report` (and `a` where the report has no
/// field).
pub fn questions(
    v: &Variant,
    a: &Analysis,
    report: &Value,
) -> Result<Vec<Question>, ExerciseError> {
    let conns = report["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let retr = conns
        .iter()
        .rev()
        .find(|c| {
            c["ftp_transfer"]
                .as_str()
                .is_some_and(|t| t.starts_with("RETR"))
        })
        .ok_or_else(|| missing("download (RETR) data connection"))?;
    let hs = retr["handshake"].as_array().cloned().unwrap_or_default();
    let (syn, synack) = (&hs[0], &hs[1]);
    let f = |v: &Value| v.as_u64().unwrap_or(0) as u32;
    let mut out = vec![
        q(
            "opener",
            format!(
                "Which FTP command, sent on the control connection, announced the data \
                 connection of `RETR {}`? Copy it as sent (e.g. `PORT h1,h2,h3,h4,p1,p2`).",
                v.file
            ),
            vec![],
            retr["ftp_command"].clone(),
            0.0,
        ),
        q(
            "syn_sender",
            format!(
                "Frame {} opens that data connection. Which address:port sent it?",
                f(&syn["frame"])
            ),
            vec![f(&syn["frame"])],
            retr["client"].clone(),
            0.0,
        ),
        q(
            "syn_isn",
            format!(
                "What is the raw (absolute) sequence number of the SYN in frame {}?",
                f(&syn["frame"])
            ),
            vec![f(&syn["frame"])],
            syn["seq"].clone(),
            0.0,
        ),
        q(
            "synack_ack",
            format!(
                "What is the raw acknowledgement number of the SYN+ACK in frame {}, and how does \
                 it follow from frame {}? (Give the number.)",
                f(&synack["frame"]),
                f(&syn["frame"])
            ),
            vec![f(&synack["frame"])],
            synack["ack"].clone(),
            0.0,
        ),
    ];
    let sender = retr["first_segments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match v.template {
        Template::HandshakeAndRelease => {
            let fins = retr["fins"].as_array().cloned().unwrap_or_default();
            let fin = fins.first().ok_or_else(|| missing("FIN"))?;
            out.push(q(
                "bytes",
                "How many bytes of the file did the data connection carry (relative sequence \
                 number after the last byte minus 1)?"
                    .into(),
                vec![],
                retr["bytes"].clone(),
                0.0,
            ));
            out.push(q(
                "first_len",
                format!(
                    "How many bytes of payload does the first data segment (frame {}) carry?",
                    f(&sender[0]["frame"])
                ),
                vec![f(&sender[0]["frame"])],
                sender[0]["len"].clone(),
                0.0,
            ));
            out.push(q(
                "fin_piggybacked",
                format!(
                    "Frame {} carries the sender's FIN. Does it ride on data (yes) or travel \
                     alone (no)?",
                    f(&fin["frame"])
                ),
                vec![f(&fin["frame"])],
                json!(if fin["piggybacked"] == true {
                    "yes"
                } else {
                    "no"
                }),
                0.0,
            ));
            out.push(q(
                "release",
                "Is the data connection's release four-segment (FIN, ACK, FIN, ACK) or \
                 three-segment (FIN, FIN+ACK, ACK)? Answer four-segment or three-segment."
                    .into(),
                vec![],
                retr["release"].clone(),
                0.0,
            ));
        }
        Template::Rtt => {
            let steps = retr["rtt"].as_array().cloned().unwrap_or_default();
            let firsts: Vec<&Value> = sender
                .iter()
                .filter(|s| !s["sample_rtt"].is_null())
                .collect();
            if firsts.len() < 2 {
                return Err(missing("two RTT samples among the first six data segments"));
            }
            for (k, s) in firsts.iter().take(3).enumerate() {
                out.push(q(
                    &format!("sample_rtt_{}", k + 1),
                    format!(
                        "SampleRTT of the data segment in frame {} (the time until the ACK in \
                         frame {}), in ms?",
                        f(&s["frame"]),
                        f(&s["ack_frame"])
                    ),
                    vec![f(&s["frame"]), f(&s["ack_frame"])],
                    ms(&s["sample_rtt"]),
                    US_MS,
                ));
            }
            let last = firsts[firsts.len().min(3) - 1];
            let step = steps
                .iter()
                .find(|st| st["frame"] == last["frame"])
                .ok_or_else(|| missing("RTT estimate"))?;
            for (id, name) in [
                ("estimated_rtt", "EstimatedRTT"),
                ("dev_rtt", "DevRTT"),
                (
                    "timeout",
                    "TimeoutInterval (EstimatedRTT + 4 DevRTT, without RFC 6298's 1 s floor)",
                ),
            ] {
                let key = match id {
                    "estimated_rtt" => "estimated",
                    "dev_rtt" => "dev",
                    _ => "timeout",
                };
                out.push(q(
                    id,
                    format!(
                        "Starting from the first sample of this connection (EstimatedRTT = R, \
                         DevRTT = R/2; alpha 1/8, beta 1/4), what is {name} after the sample of \
                         frame {}, in ms?",
                        f(&last["frame"])
                    ),
                    vec![f(&last["frame"])],
                    ms(&step[key]),
                    EST_MS,
                ));
            }
        }
        Template::FastRetransmit => {
            let e = a
                .entries
                .iter()
                .find(|e| e.tcp.fast_retransmission)
                .ok_or_else(|| missing("fast retransmission"))?;
            out.push(q(
                "fast_retx_frame",
                "Which frame is the fast retransmission?".into(),
                vec![],
                json!(e.frame),
                0.0,
            ));
            out.push(q(
                "fast_retx_seq",
                "What relative sequence number does it carry?".into(),
                vec![],
                json!(e.rel_seq),
                0.0,
            ));
            out.push(q(
                "dup_acks",
                "How many duplicate ACKs does the download's data connection hold?".into(),
                vec![],
                retr["dup_acks"].clone(),
                0.0,
            ));
            out.push(q(
                "retransmissions",
                "How many retransmissions (of any kind) does it hold?".into(),
                vec![],
                retr["retransmissions"].clone(),
                0.0,
            ));
        }
        Template::RtoBackoff => {
            // The connection whose SYN went three times.
            let syns: Vec<_> = a
                .connections
                .iter()
                .map(|c| {
                    c.entries
                        .iter()
                        .map(|&i| &a.entries[i])
                        .filter(|e| e.segment.flags.syn && !e.segment.flags.ack)
                        .collect::<Vec<_>>()
                })
                .find(|s| s.len() >= 3)
                .ok_or_else(|| missing("SYN sent three times"))?;
            let t = |i: usize| syns[i].time.saturating_sub(a.start).as_secs_f64();
            out.push(q(
                "first_rto",
                format!(
                    "The SYN of frame {} is sent again in frame {}. How long after the first, in \
                     seconds?",
                    syns[0].frame, syns[1].frame
                ),
                vec![syns[0].frame, syns[1].frame],
                json!(((t(1) - t(0)) * 1e6).round() / 1e6),
                1e-6,
            ));
            out.push(q(
                "second_rto",
                format!(
                    "And how long after frame {} is it sent a third time (frame {}), in seconds? \
                     (Compare: the timer backs off.)",
                    syns[1].frame, syns[2].frame
                ),
                vec![syns[1].frame, syns[2].frame],
                json!(((t(2) - t(1)) * 1e6).round() / 1e6),
                1e-6,
            ));
        }
        Template::FlowControl => {
            let zero = a
                .entries
                .iter()
                .find(|e| e.tcp.zero_window)
                .ok_or_else(|| missing("zero window"))?;
            out.push(q(
                "zero_window_frame",
                "Which frame is the first to advertise a zero window?".into(),
                vec![],
                json!(zero.frame),
                0.0,
            ));
            out.push(q(
                "max_window",
                "What is the largest window the client advertises on the download's data \
                 connection, bytes?"
                    .into(),
                vec![],
                retr["rwnd_max"].clone(),
                0.0,
            ));
            out.push(q(
                "window_limited",
                "Was the sender ever limited by the receiver's window (yes or no)?".into(),
                vec![],
                json!(if retr["window_limited"] == true {
                    "yes"
                } else {
                    "no"
                }),
                0.0,
            ));
        }
        Template::SlowStart => {
            for (k, s) in [(1usize, 0usize), (6, 5)] {
                let s = sender.get(s).ok_or_else(|| missing("six data segments"))?;
                out.push(q(
                    &format!("cwnd_{k}"),
                    format!(
                        "The frame comment of frame {} (data segment {k}) shows the server's \
                         congestion window. How large is it, bytes?",
                        f(&s["frame"])
                    ),
                    vec![f(&s["frame"])],
                    s["cwnd"].clone(),
                    0.0,
                ));
            }
            out.push(q(
                "throughput",
                "Throughput of the download: bytes carried divided by the time from the first \
                 data segment to the ACK of the last, bytes per second (within 1%)?"
                    .into(),
                vec![],
                json!(retr["throughput"].as_f64().unwrap_or(0.0).round()),
                retr["throughput"].as_f64().unwrap_or(0.0) * 0.01,
            ));
        }
    }
    if out.iter().any(|q| q.answer.is_null()) {
        return Err(missing("answer to every question"));
    }
    Ok(out)
}

/// The worksheet a student gets.
pub fn worksheet(v: &Variant, student: &str, qs: &[Question]) -> String {
    let mut s = format!(
        "# TCP lab: {} (student {student})\n\n\
         Open `capture.pcapng` in Wireshark (or `smolftp ladder capture.pcapng`). It shows an FTP \
         session: the client 10.0.0.2 logs in to the server 10.0.0.1 and downloads `{}`. \
         Answer each question on a line of its own in a text file, as `N: answer` \
         (lines starting with `#` are ignored), e.g. `3: 1234567`. Times in the unit asked.\n\n",
        v.template.name(),
        v.file
    );
    for (n, q) in qs.iter().enumerate() {
        s.push_str(&format!("{}. {}\n", n + 1, q.text));
    }
    s
}
