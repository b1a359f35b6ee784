//! # FTP client node
//!
//! Layer: network. Runs one [`crate::ftp::client::Client`] on a [`Host`]: opens the control
//! connection from an ephemeral port, then drives the client through a [`Conduit`].

use std::net::SocketAddr;

use smoltcp::phy::Device;
use smoltcp::wire::IpEndpoint;

use std::time::SystemTime;

use crate::ftp::client::Client;
use crate::ftp::{Endpoint, Event, Now};
use crate::net::conduit::{Conduit, DataOptions};
use crate::net::host::{ConnectError, Host, SocketOptions};

/// The FTP client on one host.
pub struct ClientNode {
    conduit: Conduit,
    client: Client,
    data: DataOptions,
    server: SocketAddr,
    /// The control connection was established at some point.
    connected: bool,
    /// Why the control connection could not be made, if it could not.
    connect_failure: Option<String>,
}

impl ClientNode {
    /// Connects the control connection to `server` and gets ready to run `client`.
    pub fn connect<D: Device>(
        host: &mut Host<D>,
        server: SocketAddr,
        client: Client,
        control_socket: SocketOptions,
        data: DataOptions,
    ) -> Result<Self, ConnectError> {
        let handle = host.add_tcp(control_socket, "control connection");
        let remote = IpEndpoint::from(server);
        if let Err(e) = host.connect(handle, remote, None) {
            host.remove(handle);
            return Err(e);
        }
        Ok(ClientNode {
            conduit: Conduit::new(handle),
            client,
            data,
            server,
            connected: false,
            connect_failure: None,
        })
    }

    /// Does all the client's work that needs no poll.
    pub fn step<D: Device>(&mut self, host: &mut Host<D>) -> bool {
        use smoltcp::socket::tcp::State;
        let state = host.tcp(self.conduit.control()).state();
        if !self.connected && state == State::Closed && self.connect_failure.is_none() {
            // smoltcp closes a connecting socket on a RST (refused) or when its timeout runs
            // out without an answer.
            self.connect_failure = Some(format!(
                "cannot connect to the FTP server {}: refused, or no answer",
                self.server
            ));
        }
        self.connected |= matches!(state, State::Established | State::CloseWait);
        // The client reads no wall clock: the machine's is handed in for the contract's sake.
        let wall = SystemTime::now();
        let progress = self.conduit.step(host, &mut self.client, &self.data, wall);
        if !self.client.is_finished() && state == State::Closed && self.conduit.is_finished(host) {
            // Refused or timed out before or during the session.
            let mono = std::time::Duration::from_micros(host.now().total_micros().max(0) as u64);
            self.client.handle_control_closed(Now::new(mono, wall));
            self.conduit.take_events(&mut self.client);
        }
        progress
    }

    /// Why the control connection could not be made, if it could not.
    pub fn connect_failure(&self) -> Option<&str> {
        self.connect_failure.as_deref()
    }

    /// Gives up: closes the control connection and aborts any transfer.
    pub fn abort<D: Device>(&mut self, host: &mut Host<D>) {
        self.conduit.close_all(host);
    }

    /// True when the session is over and its connections are closed.
    pub fn is_finished<D: Device>(&self, host: &mut Host<D>) -> bool {
        self.client.is_finished() && self.conduit.is_finished(host)
    }

    /// When the client's timeout is next due.
    pub fn next_deadline(&self) -> Option<smoltcp::time::Instant> {
        self.client
            .poll_timeout()
            .map(|d| smoltcp::time::Instant::from_micros(d.as_micros() as i64))
    }

    /// The client's next event: each step's outcome as it finishes, then the end of the
    /// session ([`Event::Ended`]; [`Client::error`] says if it failed).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.conduit.poll_event()
    }

    /// The client state machine (outcomes, errors).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client state machine, to give it more steps (interactive use).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}
