//! Every input kept under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` runs
//! through its target: the seeds stay valid, and a crash libFuzzer once found stays fixed.

use std::path::PathBuf;

fn inputs(folder: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(folder).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, Vec<u8>)> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    out.sort();
    out
}

#[test]
fn every_kept_input_passes_its_target() {
    let mut seeds = 0;
    for (name, target) in modula_fuzz::TARGETS {
        let corpus = inputs("corpus", name);
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} holds the seeds of {name}");
        seeds += corpus.len();
        for (path, data) in corpus.iter().chain(inputs("regressions", name).iter()) {
            let outcome = std::panic::catch_unwind(|| target(data));
            assert!(outcome.is_ok(), "{name} failed on {}", path.display());
        }
    }
    assert!(seeds >= 4);
}
