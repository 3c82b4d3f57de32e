//! Runs the scanner over the labelled corpus (`tests/corpus.jsonl`),
//! prints precision and recall per kind and overall, and fails on any
//! misclassified string.

use gavel_sdk::serde_json::{self, Value};
use pii_egress::{Kind, KindSet, scan};

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

fn ratio(num: u32, den: u32) -> String {
    if den == 0 {
        "n/a".to_owned()
    } else {
        format!("{:.3}", f64::from(num) / f64::from(den))
    }
}

#[test]
fn corpus_precision_and_recall() {
    let text = include_str!("corpus.jsonl");
    let mut per_kind = [Counts::default(); 7];
    let mut failures = Vec::new();
    let mut lines = 0;
    let mut negatives = 0;
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let row: Value = serde_json::from_str(line).expect("corpus line is JSON");
        let sample = row["text"].as_str().expect("text");
        let expected: KindSet = row["kinds"]
            .as_array()
            .expect("kinds")
            .iter()
            .map(|k| Kind::from_name(k.as_str().unwrap()).expect("known kind"))
            .collect();
        if expected.is_empty() {
            negatives += 1;
        }
        let got = scan(sample);
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            match (expected.contains(kind), got.contains(kind)) {
                (true, true) => per_kind[i].tp += 1,
                (false, true) => per_kind[i].fp += 1,
                (true, false) => per_kind[i].fn_ += 1,
                (false, false) => {}
            }
        }
        if got != expected {
            let names = |s: KindSet| s.iter().map(Kind::name).collect::<Vec<_>>();
            failures.push(format!(
                "line {}: expected {:?}, got {:?}: {sample:?}",
                no + 1,
                names(expected),
                names(got)
            ));
        }
    }
    let mut total = Counts::default();
    println!("corpus: {lines} strings, {negatives} with no PII");
    println!(
        "{:<12} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "kind", "tp", "fp", "fn", "precision", "recall"
    );
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let c = per_kind[i];
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
        println!(
            "{:<12} {:>4} {:>4} {:>4} {:>9} {:>7}",
            kind.name(),
            c.tp,
            c.fp,
            c.fn_,
            ratio(c.tp, c.tp + c.fp),
            ratio(c.tp, c.tp + c.fn_)
        );
    }
    println!(
        "{:<12} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "overall",
        total.tp,
        total.fp,
        total.fn_,
        ratio(total.tp, total.tp + total.fp),
        ratio(total.tp, total.tp + total.fn_)
    );
    assert!(
        lines >= 200,
        "the corpus needs at least 200 strings, has {lines}"
    );
    assert!(
        failures.is_empty(),
        "misclassified:\n{}",
        failures.join("\n")
    );
}
