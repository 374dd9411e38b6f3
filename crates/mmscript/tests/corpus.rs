//! The corpus under `tests/corpus/` (scripts with the output Linux printed
//! for them) through the parser, the output formatter and the driver.
//!
//! No kernel here: a runner that answers from the `.out` file checks that
//! the shared driver prints the kernel's output byte for byte, so the only
//! way a model's output can differ is by answering differently.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use mmscript::{parse, run_script, MapsLine, Op, Outcome, Runner};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// Every `.mms` file under the corpus, with its `.out` file's text.
fn corpus() -> Vec<(PathBuf, String, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![corpus_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "mms") {
                let script = fs::read_to_string(&path).unwrap();
                let out = fs::read_to_string(path.with_extension("out"))
                    .unwrap_or_else(|e| panic!("{}: no .out: {e}", path.display()));
                found.push((path, script, out));
            }
        }
    }
    found.sort();
    found
}

/// One answer of a recorded run.
enum Answer {
    Outcome(Outcome),
    Maps(Vec<MapsLine>),
}

/// A runner that replays a recorded output.
struct Recorded(VecDeque<Answer>);

impl Recorded {
    /// Splits an output into answers, using the script to know which lines
    /// belong to `maps` blocks.
    fn new(script: &mmscript::Script, out: &str) -> Recorded {
        let mut lines = out.lines();
        let mut answers = VecDeque::new();
        for op in script.iter() {
            if *op == Op::Maps {
                let mut block = Vec::new();
                loop {
                    let line = lines.next().expect("maps block ends early");
                    if line == "end" {
                        break;
                    }
                    let parsed: MapsLine = line.parse().unwrap();
                    assert_eq!(parsed.to_string(), line);
                    block.push(parsed);
                }
                answers.push_back(Answer::Maps(block));
            } else {
                let line = lines.next().expect("output ends early");
                let outcome: Outcome = line.parse().unwrap();
                assert_eq!(outcome.to_string(), line);
                answers.push_back(Answer::Outcome(outcome));
            }
        }
        assert_eq!(lines.next(), None, "output has extra lines");
        Recorded(answers)
    }
}

impl Runner for Recorded {
    fn run_op(&mut self, _: &Op) -> Outcome {
        match self.0.pop_front() {
            Some(Answer::Outcome(outcome)) => outcome,
            _ => panic!("expected a result line"),
        }
    }

    fn maps(&mut self) -> Vec<MapsLine> {
        match self.0.pop_front() {
            Some(Answer::Maps(block)) => block,
            _ => panic!("expected a maps block"),
        }
    }
}

#[test]
fn the_examples_are_in_the_corpus() {
    let names: Vec<_> = corpus()
        .into_iter()
        .filter_map(|(path, _, _)| {
            let parent = path.parent()?.file_name()?.to_str()?.to_owned();
            (parent == "examples").then(|| path.file_name().unwrap().to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        names,
        [
            "01-split-and-merge.mms",
            "02-account-and-faults.mms",
            "03-files-and-shared.mms",
            "04-errors.mms"
        ]
    );
}

#[test]
fn every_corpus_script_parses_and_its_output_reprints_exactly() {
    let corpus = corpus();
    assert!(corpus.len() >= 4);
    for (path, text, out) in corpus {
        let script = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!script.is_empty(), "{}", path.display());

        // The canonical form parses back to the same operations.
        let again = parse(&script.to_string()).unwrap();
        assert!(script.iter().eq(again.iter()), "{}", path.display());

        // The driver prints the recorded answers as the kernel printed them.
        let mut runner = Recorded::new(&script, &out);
        let mut printed = Vec::new();
        run_script(&script, &mut runner, &mut printed).unwrap();
        assert_eq!(
            String::from_utf8(printed).unwrap(),
            out,
            "{}",
            path.display()
        );
    }
}

#[test]
fn example_01_parses_to_these_ops() {
    use mmscript::{Kind, MmapFlags, Prot};
    let text = fs::read_to_string(corpus_dir().join("examples/01-split-and-merge.mms")).unwrap();
    let script = parse(&text).unwrap();
    assert_eq!(
        script.ops[..3],
        [
            (
                2,
                Op::Mmap {
                    addr: 0x100000,
                    len: 0x5000,
                    prot: Prot::RW,
                    kind: Kind::PrivateAnon,
                    flags: MmapFlags::FIXED,
                }
            ),
            (3, Op::Maps),
            (
                4,
                Op::Munmap {
                    addr: 0x102000,
                    len: 0x1000
                }
            ),
        ]
    );
    assert_eq!(script.ops.last().unwrap().0, 12);
}
