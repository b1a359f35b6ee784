//! `scripts/vendor-check.sh`: vendor/smoltcp is the pristine smoltcp 0.14.0 plus
//! vendor/patches, and one changed byte (or one file more) makes the check fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(root: &Path) -> Output {
    Command::new("bash")
        .arg(root.join("scripts/vendor-check.sh"))
        .output()
        .expect("run scripts/vendor-check.sh")
}

/// A copy of the scripts and vendor/ in a scratch directory, to spoil.
fn copy_of_the_vendored_tree(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smolftp-vendor-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    for script in ["vendor-check.sh", "vendor-lib.sh"] {
        std::fs::copy(
            repo().join("scripts").join(script),
            dir.join("scripts").join(script),
        )
        .unwrap();
    }
    let status = Command::new("cp")
        .args(["-a", "--"])
        .arg(repo().join("vendor"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(dir.join("vendor/smoltcp/target"));
    dir
}

#[test]
fn the_vendored_smoltcp_is_the_crate_plus_the_patches_to_the_byte() {
    let o = check(&repo());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let patches = std::fs::read_dir(repo().join("vendor/patches"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "patch"))
        })
        .count();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("+ {patches} patches: ok")),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let dir = copy_of_the_vendored_tree("byte");
    let file = dir.join("vendor/smoltcp/src/socket/tcp/congestion/reno.rs");
    let mut bytes = std::fs::read(&file).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let o = check(&dir);
    assert_eq!(
        o.status.code(),
        Some(1),
        "one flipped bit must fail the check"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("reno.rs"));

    let dir2 = copy_of_the_vendored_tree("extra");
    std::fs::write(dir2.join("vendor/smoltcp/src/extra.rs"), "").unwrap();
    let o = check(&dir2);
    assert_eq!(o.status.code(), Some(1), "a file more must fail the check");
    assert!(String::from_utf8_lossy(&o.stderr).contains("extra.rs"));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}
