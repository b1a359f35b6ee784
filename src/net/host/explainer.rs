//! # A host's explanations, written on the capture's writing thread
//!
//! Layer: network (bookkeeping for captures). A host with a capture explains its frames from
//! what it knew at the end of the poll that recorded them: its sockets (4-tuple, label, state),
//! the state transitions not told yet, where its text streams stand, and its stack's snapshots.
//! [`HostExplainer`] keeps a copy of that on the capture's writing thread
//! ([`crate::link::recorder::Explain`]): the host sends what changed with each poll
//! ([`Context`], nothing at all in a steady transfer) and the snapshots of the segments it
//! sent, in order with the frames, so the explanation is the one the host would have written
//! itself at that moment.

use std::any::Any;
use std::net::SocketAddr;

use smoltcp::socket::tcp::State;
use smoltcp::wire::IpEndpoint;

use crate::link::PendingFrame;
use crate::link::recorder::{Explain, SentNotes};
use crate::net::explain::{self, Streams, Transition};
use crate::net::host::SocketHandle;
use crate::net::stackview::ViewTeller;
use crate::trace::Segment;

/// A socket as the explanation knows it.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub handle: SocketHandle,
    pub local: Option<IpEndpoint>,
    pub remote: Option<IpEndpoint>,
    pub label: String,
    pub state: State,
}

/// What changed on the host since its last poll's frames were explained.
#[derive(Default)]
pub(super) struct Context {
    /// Every socket, in handle order, when one of them changed.
    pub sockets: Option<Vec<Row>>,
    /// State transitions since.
    pub transitions: Vec<Transition>,
    /// Connections removed: their streams are forgotten.
    pub forget: Vec<(SocketAddr, SocketAddr)>,
}

/// The last two answers of the socket lookup by 4-tuple (a received frame asks both ways).
type Memo = [Option<(IpEndpoint, IpEndpoint, Option<usize>)>; 2];

/// One host's explanations on the writing thread (see the module's doc).
pub(super) struct HostExplainer {
    rows: Vec<Row>,
    transitions: Vec<Transition>,
    streams: Streams,
    view: ViewTeller,
    /// Per poll: the length of the explanation in the comment left by the last frame (a frame
    /// whose explanation is kept keeps it, not the view after it).
    explained: usize,
    memo: Memo,
    memo_next: usize,
    previous: explain::Previous,
    /// Frames explained ahead, in their sender's poll, for the recorded host.
    ahead: explain::Previous,
}

impl HostExplainer {
    /// An explainer telling views with `view`.
    pub fn new(view: ViewTeller) -> HostExplainer {
        HostExplainer {
            rows: Vec::new(),
            transitions: Vec::new(),
            streams: Streams::default(),
            view,
            explained: 0,
            memo: [None, None],
            memo_next: 0,
            previous: explain::Previous::default(),
            ahead: explain::Previous::default(),
        }
    }
}

/// The row of the socket with this 4-tuple (the first in handle order), from `memo` unless
/// it is one of the last two asked.
fn find(
    rows: &[Row],
    memo: &mut Memo,
    next: &mut usize,
    local: IpEndpoint,
    remote: IpEndpoint,
) -> Option<usize> {
    for (l, r, found) in memo.iter().flatten() {
        if (*l, *r) == (local, remote) {
            return *found;
        }
    }
    let found = rows
        .iter()
        .position(|t| t.local == Some(local) && t.remote == Some(remote));
    memo[*next] = Some((local, remote, found));
    *next = 1 - *next;
    found
}

impl Explain for HostExplainer {
    fn sent(&mut self, notes: &SentNotes) {
        self.view.push(notes);
    }

    fn begin(&mut self, context: Option<Box<dyn Any + Send>>) {
        if let Some(context) = context.and_then(|c| c.downcast::<Context>().ok()) {
            let Context {
                sockets,
                mut transitions,
                forget,
            } = *context;
            if let Some(rows) = sockets {
                self.rows = rows;
            }
            self.transitions.append(&mut transitions);
            for (a, b) in forget {
                self.streams.forget(a, b);
            }
        }
        self.explained = 0;
        self.memo = [None, None];
        self.memo_next = 0;
        self.previous = explain::Previous::default();
        self.ahead = explain::Previous::default();
    }

    fn frame(&mut self, frame: &PendingFrame, comment: &mut String) {
        let HostExplainer {
            rows,
            transitions,
            streams,
            view,
            explained,
            memo,
            memo_next,
            previous,
            ahead,
        } = self;
        let memo = std::cell::RefCell::new((memo, memo_next));
        let rows: &[Row] = rows;
        let lookup = |local, remote| {
            let mut m = memo.borrow_mut();
            let (memo, next) = &mut *m;
            find(rows, memo, next, local, remote).map(|i| (rows[i].handle, rows[i].label.as_str()))
        };
        if let Some(text) = frame.explained {
            // Explained by its sender when it left: this host adds the view.
            comment.clear();
            comment.push_str(text);
            view.tell(frame, comment);
            return;
        }
        if frame.number == 0 {
            // Explained now, as it leaves; numbered and viewed when it arrives.
            explain::frame(frame, lookup, transitions, streams, ahead, comment);
            return;
        }
        comment.truncate(*explained);
        // Parsed once for the explanation and the view.
        let seg = Segment::borrow_ip(frame.data);
        explain::parsed(
            seg.as_ref(),
            lookup,
            transitions,
            streams,
            previous,
            comment,
        );
        *explained = comment.len();
        if let Some(seg) = &seg {
            view.tell_parsed(frame, seg, comment);
        }
    }

    fn end(&mut self) {
        // An application's connect or close shows in a later frame; keep it for that frame
        // while the socket is still in the state it moved to.
        let rows = &self.rows;
        self.transitions.retain(|m| {
            m.awaits_frame()
                && rows
                    .iter()
                    .find(|r| r.handle == m.handle)
                    .is_some_and(|r| r.state == m.to)
        });
        self.view.end_of_poll();
    }
}
