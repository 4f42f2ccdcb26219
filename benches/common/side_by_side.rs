//! The seed transaction as raw commands and through `with_transaction`, for each replication
//! setting, measured side by side: the six ways alternate in short blocks within one run, so a
//! machine whose speed drifts (they do, by tens of percent over minutes) moves them all alike,
//! and every ratio is taken within one round.

use std::time::Instant;

use crate::seed::{Fixture, Replication};

/// Transactions per block.
const BLOCK: u32 = 1_000;
/// Rounds; each runs one block of each of the six ways.
const ROUNDS: usize = 40;

/// Transactions run unmeasured before each block.
const WARM_UP: u32 = 200;

/// Microseconds per transaction of `BLOCK` runs of `transaction`, after `WARM_UP` runs that
/// are not measured (the first transactions after a switch between replica sets pay for it).
fn block(mut transaction: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        transaction();
    }
    let start = Instant::now();
    for _ in 0..BLOCK {
        transaction();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(BLOCK)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the comparison and prints its table; `allocator` names the global allocator.
pub fn run(allocator: &str) {
    let mut fixtures: Vec<Fixture> = Replication::ALL.map(Fixture::new).into();
    for fixture in &mut fixtures {
        block(|| fixture.raw());
        block(|| fixture.with_transaction());
    }
    // Per round: microseconds per transaction, [raw, with_transaction] for each setting.
    let mut rounds: Vec<Vec<[f64; 2]>> = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let round = fixtures
            .iter_mut()
            .map(|fixture| {
                [
                    block(|| fixture.raw()),
                    block(|| fixture.with_transaction()),
                ]
            })
            .collect();
        rounds.push(round);
    }
    let per_round = |f: &dyn Fn(&[[f64; 2]]) -> f64| median(rounds.iter().map(|r| f(r)).collect());
    println!("seed transaction, one session, {allocator}: medians of {ROUNDS} rounds of {BLOCK}");
    println!(
        "{:<16} {:>10} {:>18} {:>10}",
        "replication", "raw µs", "with_transaction µs", "overhead"
    );
    for (i, replication) in Replication::ALL.iter().enumerate() {
        let raw = per_round(&|r| r[i][0]);
        let with = per_round(&|r| r[i][1]);
        let overhead = per_round(&|r| r[i][1] / r[i][0] - 1.0);
        println!(
            "{:<16} {raw:>10.2} {with:>18.2} {:>9.1}%",
            replication.label(),
            overhead * 100.0
        );
    }
    // Throughput lost to replication: 1 - (time without) / (time with majority).
    let majority = Replication::ALL.len() - 1;
    for (i, against) in [(0, "w: 1, one member"), (1, "w: 1")] {
        for (way, name) in [(0, "raw"), (1, "with_transaction")] {
            let cost = per_round(&|r| 1.0 - r[i][way] / r[majority][way]);
            println!(
                "majority vs {against:<18} {name:<17} throughput cost {:>5.1}%",
                cost * 100.0
            );
        }
    }
}
