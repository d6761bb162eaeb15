//! The SDK's figures (docs/performance.md; `bench/sdk.sh` runs this beside
//! flagd-core):
//!
//! - criterion: evaluating the flag of `flag.json` (three rules that do
//!   not match, then a 3-way split) as a string and as a bool; `get` of a
//!   config value;
//! - loading a 2,000-key snapshot (verify, check, prepare, swap): p50/p99
//!   over 200 loads;
//! - evaluations per second on 1 and 2 threads, alone and while another
//!   thread swaps snapshots in 100 times a second.

use std::{
    collections::BTreeMap,
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::Criterion;
use serde_json::{Value, json};
use setpoint_client::{Client, Context, Flag, Key};
use setpoint_core::{ResolvedFlag, ServiceSnapshot, Snapshot};

struct Fixture {
    flag: ResolvedFlag,
    context: Context,
}

fn fixture() -> Fixture {
    let file: Value = serde_json::from_str(include_str!("flag.json")).expect("flag.json");
    Fixture {
        flag: serde_json::from_value(file["flag"].clone()).expect("a flag"),
        context: serde_json::from_value(file["context"].clone()).expect("a context"),
    }
}

/// A sealed snapshot of `bench` with the fixture's flag as `checkout-flow`,
/// the same with bool variants as `bool-flow`, and `keys` int keys.
fn sealed(fixture: &Fixture, keys: usize, revision: u64) -> Vec<u8> {
    let mut bools = fixture.flag.clone();
    bools.variants = BTreeMap::from([
        ("a".into(), json!(true)),
        ("b".into(), json!(false)),
        ("c".into(), json!(true)),
    ]);
    let service = ServiceSnapshot {
        config: (0..keys.max(1))
            .map(|i| (format!("key.{i:04}"), json!(revision + i as u64)))
            .collect(),
        flags: BTreeMap::from([
            ("checkout-flow".to_string(), fixture.flag.clone()),
            ("bool-flow".to_string(), bools),
        ]),
        breakers: BTreeMap::new(),
        tombstone: None,
    };
    Snapshot {
        environment: "prod".into(),
        revision,
        services: BTreeMap::from([("bench".to_string(), service)]),
    }
    .seal()
    .json
}

struct Bench {
    client: Client,
    flag: Flag<String>,
    bool_flag: Flag<bool>,
    first: Key<u64>,
}

fn client(fixture: &Fixture, keys: usize) -> (Bench, Vec<Key<u64>>) {
    let mut builder = Client::builder("bench");
    let flag = builder.flag("checkout-flow", String::new());
    let bool_flag = builder.flag("bool-flow", false);
    let all: Vec<Key<u64>> = (0..keys.max(1))
        .map(|i| builder.key(&format!("key.{i:04}"), 0u64))
        .collect();
    let client = builder.build().expect("builds");
    client
        .offer(&sealed(fixture, keys, 1), "bench")
        .expect("loads");
    let bench = Bench {
        client,
        flag,
        bool_flag,
        first: all[0].clone(),
    };
    (bench, all)
}

fn evaluation(c: &mut Criterion) {
    let fixture = fixture();
    let (bench, _) = client(&fixture, 1);
    assert_eq!(
        bench.client.evaluate(&bench.flag, &fixture.context),
        "checkout-c",
        "the split places user-12345 where flagd-core does (bench/flagd-core)"
    );
    let mut group = c.benchmark_group("sdk");
    group.bench_function("evaluate 3 rules + 3-way split (string)", |b| {
        b.iter(|| {
            bench
                .client
                .evaluate(&bench.flag, black_box(&fixture.context))
        });
    });
    group.bench_function("evaluate 3 rules + 3-way split (bool)", |b| {
        b.iter(|| {
            bench
                .client
                .evaluate(&bench.bool_flag, black_box(&fixture.context))
        });
    });
    group.bench_function("get a config value", |b| {
        b.iter(|| bench.client.get(black_box(&bench.first)));
    });
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rank within the slice"
    )]
    sorted[rank as usize]
}

fn loading() {
    const LOADS: u64 = 200;
    const KEYS: usize = 2_000;
    let fixture = fixture();
    let (bench, keys) = client(&fixture, KEYS);
    let payloads: Vec<Vec<u8>> = (2..2 + LOADS)
        .map(|revision| sealed(&fixture, KEYS, revision))
        .collect();
    let mut times = Vec::new();
    for payload in &payloads {
        let started = Instant::now();
        bench.client.offer(payload, "bench").expect("loads");
        times.push(started.elapsed());
    }
    assert_eq!(
        bench.client.get(&keys[KEYS - 1]),
        1 + LOADS + KEYS as u64 - 1
    );
    times.sort();
    println!(
        "load of a {KEYS}-key snapshot ({} KiB; verify + check + prepare + swap), {LOADS} loads: p50 {:.2} ms, p99 {:.2} ms",
        payloads[0].len() / 1024,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
}

/// Evaluations per second on `threads` threads for `window`, with a
/// snapshot swapped in every 10 ms when `swapping`.
fn throughput(threads: usize, swapping: bool, window: Duration) -> f64 {
    let fixture = Arc::new(fixture());
    let (bench, _) = client(&fixture, 10);
    let bench = Arc::new(bench);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swapping.then(|| {
        let (bench, stop, fixture) = (bench.clone(), stop.clone(), fixture.clone());
        std::thread::spawn(move || {
            let mut revision = 2;
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let payload = sealed(&fixture, 10, revision);
                bench.client.offer(&payload, "bench").expect("loads");
                revision += 1;
                swaps += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            swaps
        })
    });
    let readers: Vec<_> = (0..threads)
        .map(|_| {
            let (bench, stop, fixture) = (bench.clone(), stop.clone(), fixture.clone());
            std::thread::spawn(move || {
                let mut done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1_000 {
                        black_box(bench.client.evaluate(&bench.flag, &fixture.context));
                    }
                    done += 1_000;
                }
                done
            })
        })
        .collect();
    std::thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = readers
        .into_iter()
        .map(|r| r.join().expect("a reader"))
        .sum();
    let swaps = swapper.map(|s| s.join().expect("the swapper"));
    if let Some(swaps) = swaps {
        assert!(swaps > 0, "snapshots were swapped");
    }
    total as f64 / window.as_secs_f64()
}

fn readers_under_swaps() {
    let window = Duration::from_secs(2);
    for threads in [1, 2] {
        let alone = throughput(threads, false, window);
        let swapped = throughput(threads, true, window);
        println!(
            "evaluations/s on {threads} thread(s): {:.2} M alone, {:.2} M while swapping 100×/s ({:+.1}%)",
            alone / 1e6,
            swapped / 1e6,
            (swapped / alone - 1.0) * 100.0
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    evaluation(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this once as a smoke test: the figures
    // below are for `cargo bench` only.
    if std::env::args().any(|a| a == "--bench") {
        loading();
        readers_under_swaps();
    }
}
