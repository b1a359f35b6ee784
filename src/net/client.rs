//! # FTP client node
//!
//! Layer: network. Runs one [`crate::ftp::client::Client`] on a [`Host`]: opens the control
//! connection from an ephemeral port, then drives the client through a [`Conduit`].

use std::net::SocketAddrV4;

use smoltcp::phy::Device;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::ftp::Endpoint;
use crate::ftp::client::Client;
use crate::net::conduit::{Conduit, DataOptions};
use crate::net::host::{ConnectError, Host, SocketOptions};

/// The FTP client on one host.
pub struct ClientNode {
    conduit: Conduit,
    client: Client,
    data: DataOptions,
}

impl ClientNode {
    /// Connects the control connection to `server` and gets ready to run `client`.
    pub fn connect<D: Device>(
        host: &mut Host<D>,
        server: SocketAddrV4,
        client: Client,
        control_socket: SocketOptions,
        data: DataOptions,
    ) -> Result<Self, ConnectError> {
        let handle = host.add_tcp(control_socket, "control connection");
        let remote = IpEndpoint::new(IpAddress::Ipv4(*server.ip()), server.port());
        if let Err(e) = host.connect(handle, remote, None) {
            host.remove(handle);
            return Err(e);
        }
        Ok(ClientNode {
            conduit: Conduit::new(handle),
            client,
            data,
        })
    }

    /// Does all the client's work that needs no poll.
    pub fn step<D: Device>(&mut self, host: &mut Host<D>) -> bool {
        let progress = self.conduit.step(host, &mut self.client, &self.data);
        if !self.client.wants_close()
            && host.tcp(self.conduit.control()).state() == smoltcp::socket::tcp::State::Closed
            && self.conduit.is_finished(host)
        {
            // Refused or timed out before or during the session.
            self.client.control_closed();
        }
        progress
    }

    /// True when the session is over and its connections are closed.
    pub fn is_finished<D: Device>(&self, host: &mut Host<D>) -> bool {
        self.client.wants_close() && self.conduit.is_finished(host)
    }

    /// The client state machine (outcomes, errors).
    pub fn client(&self) -> &Client {
        &self.client
    }
}
