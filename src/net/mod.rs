//! # Network layer
//!
//! Layer: stack owner. A [`host::Host`] is one machine: a smoltcp `Interface`, its sockets, its
//! device and its clock's view of time. [`conduit::Conduit`] carries out an FTP endpoint's
//! actions on sockets; [`server::ServerNode`] and [`client::ClientNode`] run the FTP roles on a
//! host; [`sim::Sim`] runs two hosts on an in-process cable ([`stacks::StackConfig`]: what a
//! lab's two stacks share), [`run`] one host on a real device; [`ports::PortRange`] is a
//! server's passive port range; [`options::SocketOptions`] holds the socket rules of control
//! and data connections; [`pool::ListenerPool`] keeps a port listening and follows connections
//! through their handshake; [`pages`] gives large socket buffers pages of their own, backed
//! only as bytes pass. Nothing here parses FTP.

pub mod client;
pub mod conduit;
pub mod demux;
pub mod explain;
pub mod host;
pub mod options;
pub mod pages;
pub mod pool;
pub mod ports;
pub mod run;
pub mod server;
pub mod sim;
pub mod stacks;
pub mod stackview;
