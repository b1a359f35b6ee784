//! Unit tests of the upload rules: temporary names, exclusive creation, writes in place that
//! never follow a link, and the removal of stale temporaries.

use super::*;
use crate::ftp::jail::tests::TempDir;
use std::os::unix::fs::symlink;

#[test]
fn part_names_have_one_exact_form() {
    for good in [
        ".smolftp-part-0123456789abcdef",
        ".smolftp-part-0000000000000000",
    ] {
        assert!(is_part_name(good), "{good}");
    }
    for bad in [
        ".smolftp-part-0123456789ABCDEF",
        ".smolftp-part-0123456789abcde",
        ".smolftp-part-0123456789abcdef0",
        ".smolftp-part-0123456789abcdeg",
        ".smolftp-part-",
        "smolftp-part-0123456789abcdef",
        ".x.bin.smolftp-part",
        "x.smolftp-part-0123456789abcdef",
    ] {
        assert!(!is_part_name(bad), "{bad}");
    }
}

#[test]
fn seeded_names_repeat_os_names_do_not() {
    let draw = |n: &PartNames| (0..100).map(|_| n.next_name().unwrap()).collect::<Vec<_>>();
    let a = draw(&PartNames::seeded(1));
    assert_eq!(a, draw(&PartNames::seeded(1)), "same seed, same names");
    assert_ne!(a, draw(&PartNames::seeded(2)));
    let os = draw(&PartNames::os());
    for names in [&a, &os] {
        assert!(names.iter().all(|n| is_part_name(n)), "{names:?}");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a name drawn twice");
    }
    // Clones share the sequence: two sessions of one server never draw the same name.
    let shared = PartNames::seeded(1);
    let other = shared.clone();
    assert_ne!(shared.next_name().unwrap(), other.next_name().unwrap());
}

#[test]
fn a_temporary_is_never_opened_through_what_is_already_there() {
    let dir = TempDir::new("parts");
    let victim = dir.0.join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    let root = dir.0.join("root");
    std::fs::create_dir(&root).unwrap();
    let names = PartNames::seeded(9);
    let first = names.next_name().unwrap();
    let second = names.next_name().unwrap();
    let third = names.next_name().unwrap();
    symlink(&victim, root.join(&first)).unwrap();
    symlink(dir.0.join("created"), root.join(&second)).unwrap();
    let (mut file, path) = create_part(&root, &PartNames::seeded(9)).unwrap();
    assert_eq!(path, root.join(&third));
    std::io::Write::write_all(&mut file, b"data").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(!dir.0.join("created").exists());
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
    // Every name taken: the upload gives up, having opened nothing.
    let names = PartNames::seeded(10);
    for _ in 0..NAME_TRIES {
        std::fs::write(root.join(names.next_name().unwrap()), b"taken").unwrap();
    }
    let err = create_part(&root, &PartNames::seeded(10)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
}

#[test]
fn writes_in_place_refuse_a_symlink() {
    let dir = TempDir::new("in-place");
    let victim = dir.0.join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    symlink(&victim, dir.0.join("link")).unwrap();
    symlink(dir.0.join("created"), dir.0.join("dangle")).unwrap();
    for (truncate, append) in [(true, false), (false, true), (false, false)] {
        for name in ["link", "dangle"] {
            let err = open_in_place(&dir.0.join(name), truncate, append).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{name}");
        }
    }
    assert_eq!(
        open_read(&dir.0.join("link")).unwrap_err().raw_os_error(),
        Some(libc::ELOOP)
    );
    assert!(create_new(&dir.0.join("dangle")).is_err());
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(!dir.0.join("created").exists());
    // A plain file is written in place.
    let plain = dir.0.join("plain");
    std::fs::write(&plain, b"abc").unwrap();
    std::io::Write::write_all(&mut open_in_place(&plain, false, true).unwrap(), b"d").unwrap();
    assert_eq!(std::fs::read(&plain).unwrap(), b"abcd");
}

#[test]
fn stale_temporaries_are_removed_and_nothing_else() {
    let dir = TempDir::new("stale");
    let root = dir.0.join("root");
    let outside = dir.0.join("outside");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let stale = [
        root.join(".smolftp-part-0123456789abcdef"),
        root.join("a/b/.smolftp-part-fedcba9876543210"),
    ];
    std::fs::write(&stale[0], [1u8; 300]).unwrap();
    std::fs::write(&stale[1], b"").unwrap();
    let keep = [
        root.join(".smolftp-part-nothex0000000000"),
        root.join(".x.smolftp-part"),
        root.join("a/readme"),
        outside.join(".smolftp-part-aaaaaaaaaaaaaaaa"),
    ];
    for k in &keep {
        std::fs::write(k, b"keep").unwrap();
    }
    symlink(&outside, root.join("a/out")).unwrap();
    let link = root.join(".smolftp-part-bbbbbbbbbbbbbbbb");
    symlink(outside.join(".smolftp-part-aaaaaaaaaaaaaaaa"), &link).unwrap();
    std::fs::create_dir(root.join(".smolftp-part-cccccccccccccccc")).unwrap();
    // An upload being written is held: not stale.
    let (live, live_path) = create_part(&root, &PartNames::seeded(3)).unwrap();

    let mut removed = remove_stale(&root);
    removed.sort();
    assert_eq!(
        removed,
        [(stale[0].clone(), 300), (stale[1].clone(), 0)],
        "removed"
    );
    for k in &keep {
        assert_eq!(std::fs::read(k).unwrap(), b"keep", "{}", k.display());
    }
    assert!(link.symlink_metadata().is_ok());
    assert!(root.join(".smolftp-part-cccccccccccccccc").is_dir());
    assert!(live_path.exists(), "a live upload's temporary was removed");
    drop(live);
    assert_eq!(remove_stale(&root), [(live_path, 0)]);
}

#[test]
fn only_the_file_made_is_removed_under_its_name() {
    let dir = TempDir::new("same");
    let path = dir.0.join("f");
    let made = create_new(&path).unwrap();
    let id = FileId::of(&made.metadata().unwrap());
    // Replaced by another file under the same name: left alone.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"").unwrap();
    assert!(!remove_if_same(&path, id, true));
    assert!(path.exists());
    // The same file, written to meanwhile: left alone when it must be empty.
    let path2 = dir.0.join("g");
    let made = create_new(&path2).unwrap();
    let id = FileId::of(&made.metadata().unwrap());
    std::fs::write(&path2, b"more").unwrap();
    assert!(!remove_if_same(&path2, id, true));
    assert!(remove_if_same(&path2, id, false));
    assert!(!path2.exists());
    // A symlink to the file is not the file.
    let path3 = dir.0.join("h");
    let made = create_new(&path3).unwrap();
    let id = FileId::of(&made.metadata().unwrap());
    let link = dir.0.join("link");
    symlink(&path3, &link).unwrap();
    assert!(!remove_if_same(&link, id, false));
    assert!(link.symlink_metadata().is_ok() && path3.exists());
}
