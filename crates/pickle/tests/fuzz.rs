//! Hostile input: random bytes and mutated real files must give errors, never panics, stack
//! overflows or allocations out of proportion to the input.

use std::path::{Path, PathBuf};

use hiercog_pickle::{load_pickle_bytes, load_torch, Error};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn pickle(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 2];
    v.extend_from_slice(body);
    v.push(b'.');
    v
}

fn malformed(bytes: &[u8], needle: &str) {
    let e = load_pickle_bytes(bytes).unwrap_err();
    assert!(
        e.to_string().contains(needle),
        "expected `{needle}` in: {e}"
    );
}

#[test]
fn million_level_nesting_is_an_error_not_a_stack_overflow() {
    let n = 1_000_000;
    let mut lists = vec![b']'; n];
    lists.extend(std::iter::repeat_n(b'a', n - 1));
    malformed(&pickle(&lists), "nest deeper");
    let mut tuples = vec![b'N'];
    tuples.extend(std::iter::repeat_n(0x85, n));
    malformed(&pickle(&tuples), "nest deeper");
    // the same deep tuple as a dict key
    let mut keyed = vec![b'}', b'N'];
    keyed.extend(std::iter::repeat_n(0x85, n));
    keyed.extend_from_slice(b"Ns");
    malformed(&pickle(&keyed), "nest deeper");
}

#[test]
fn self_reference_and_exponential_sharing_are_bounded() {
    // l = []; l.append(l)
    malformed(&pickle(b"]q\x00h\x00a"), "nest deeper");
    // t = (t, t) forty times over: 2^40 nodes from 80 bytes
    let mut body = vec![b'N'];
    for _ in 0..40 {
        body.extend_from_slice(b"2\x86");
    }
    malformed(&pickle(&body), "far larger than the file");
}

#[test]
fn claimed_lengths_are_checked_before_allocating() {
    malformed(&pickle(b"X\xff\xff\xff\xff"), "runs past the end");
    malformed(
        &pickle(b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"),
        "runs past the end",
    );
    malformed(
        &pickle(b"\x8b\xff\xff\xff\x7f"),
        "needs 2147483647 more bytes",
    );
    // a tensor claiming 2^60 elements of a 2^60-element storage
    let huge = b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x10tQK\x00(\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x10t(K\x01t\x89NtR";
    malformed(&pickle(huge), "far larger than the file");
    // and one whose strides reach outside its storage
    let outside = b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00(K\x02t(K\x04t\x89NtR";
    malformed(&pickle(outside), "reaches element 4 of a storage of 4");
}

#[test]
fn stack_underflow_and_unknown_opcodes_are_located() {
    let e = load_pickle_bytes(&pickle(b"a")).unwrap_err();
    assert!(matches!(e, Error::Malformed { offset: 2, .. }), "{e}");
    let e = load_pickle_bytes(b"\x80\x02\xff").unwrap_err();
    assert!(
        e.to_string()
            .contains("byte 2, opcode 0xff: unknown opcode"),
        "{e}"
    );
    malformed(b"\x80\x02N", "without a STOP");
    malformed(&pickle(b"("), "pop past a MARK");
}

fn fixtures(names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(fixture(n)).unwrap())
        .collect()
}

/// Mutations of a valid file: overwrite, insert, delete, truncate.
fn mutate(mut v: Vec<u8>, edits: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(kind, at, byte) in edits {
        if v.is_empty() {
            break;
        }
        let at = at % v.len();
        match kind % 4 {
            0 => v[at] = byte,
            1 => v.insert(at, byte),
            2 => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(prefix in 0usize..3, body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let head: &[u8] = [&b""[..], b"\x80\x02", b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00"][prefix];
        let mut bytes = head.to_vec();
        bytes.extend(body);
        let _ = load_pickle_bytes(&bytes);
    }

    #[test]
    fn mutated_pickles_never_panic(
        which in 0usize..9,
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        thread_local! {
            static FILES: Vec<Vec<u8>> = fixtures(&[
                "plain_p0.pkl", "plain_p2.pkl", "plain_p4.pkl", "plain_p5.pkl",
                "levels.pkl", "sd_legacy.pth", "dtypes_legacy.pth", "numpy_p2.pkl", "numpy_p5.pkl",
            ]);
        }
        let bytes = FILES.with(|f| mutate(f[which].clone(), &edits));
        let _ = load_pickle_bytes(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_zip_checkpoints_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let names = ["sd_zip.pth", "views_zip.pth", "dtypes_zip.pth"];
        let bytes = mutate(std::fs::read(fixture(names[which])).unwrap(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pth");
        std::fs::write(&path, bytes).unwrap();
        let _ = load_torch(&path);
    }
}
