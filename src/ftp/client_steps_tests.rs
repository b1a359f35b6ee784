//! Client tests of the steps beyond LIST/NLST/RETR/STOR (MLSD, MLST, MDTM, APPE, STOU, the
//! REST+RETR of `reget`) and of what happens to local files, against a server [`Session`]
//! through the in-memory pump.

use super::tests::{client_config, content, server, setup};
use super::*;
use crate::ftp::testpump::Pump;

/// Runs `steps` against a writable server in `s.root`; returns the pump once the client quit.
fn run(s: &super::tests::Setup, passive: bool, steps: Vec<Step>) -> Pump {
    let mut config = client_config();
    config.passive = passive;
    let mut pump = Pump::new(server(&s.root, true), Client::new(config, steps));
    pump.chunk = 1460;
    pump.run();
    assert!(pump.client.is_finished());
    assert_eq!(pump.client.error(), None);
    pump
}

// ---------------------------------------------------------------------------------------------
// Local files
// ---------------------------------------------------------------------------------------------

/// A refused RETR leaves the local file alone, in passive mode too, where the data connection
/// is up before the server has answered RETR (tnftp opens the file after the 150 reply).
#[test]
fn a_refused_retr_leaves_the_local_file_alone() {
    for passive in [false, true] {
        let s = setup();
        let local = s.local.join("keep.txt");
        std::fs::write(&local, b"precious").unwrap();
        let steps = vec![Step::Retr {
            remote: "missing.txt".into(),
            local: local.clone(),
        }];
        let pump = run(&s, passive, steps);
        let o = &pump.client.outcomes()[0];
        assert_eq!((o.reply.code, o.ok), (550, false), "passive={passive}");
        assert_eq!(
            std::fs::read(&local).unwrap(),
            b"precious",
            "passive={passive}: the local file was clobbered"
        );
    }
}
