//! A hand-run benchmark of pattern matching on hostile input (issue 12): 120 kB patterns against
//! 120 kB names, shaped to make a backtracking glob matcher do quadratic work.
//!
//! Run with `cargo run --release -p shell-env-policy --example pathological_patterns`. It prints
//! the wall time of one policy evaluation per case; it asserts nothing (timing is a benchmark,
//! never a test). The step-counting unit tests in `src/pattern.rs` are the regression tests.

use std::time::Instant;

use shell_env_policy::{EnvPolicy, Inherit};

/// One evaluation: `name` is `set` by the policy and must pass `include_only = [pattern]`.
fn evaluate(pattern: &str, name: &str) -> (bool, std::time::Duration) {
    let policy = EnvPolicy::new(Inherit::None).with_set(name, "v").with_include_only(pattern);
    let started = Instant::now();
    let kept = policy.apply(Vec::<(String, String)>::new()).contains_key(name);
    (kept, started.elapsed())
}

fn main() {
    const SIZE: usize = 120_000;
    let name = "a".repeat(SIZE);
    let half = SIZE / 2;
    let cases = [
        ("long segment, near miss: *a{60k}b*", format!("*{}b*", "a".repeat(half))),
        ("many stars: (*a){60k}*b", format!("{}*b", "*a".repeat(half))),
        ("wildcards: *(a?){30k}b*", format!("*{}b*", "a?".repeat(half / 2))),
        ("long literal suffix: *a{120k}b", format!("*{}b", "a".repeat(SIZE - 2))),
        ("matching: *a{60k}*", format!("*{}*", "a".repeat(half))),
    ];
    // At the server's limits: a full list of 1 kB near-miss patterns.
    let at_limits = EnvPolicy {
        include_only: vec![format!("*{}b*", "a".repeat(1000)); 256],
        ..EnvPolicy::new(Inherit::None).with_set(name.as_str(), "v")
    };
    let started = Instant::now();
    let kept = at_limits.apply(Vec::<(String, String)>::new()).contains_key(&name);
    println!(
        "{:<40} 256 patterns of 1003 B, name {:>6} B: {:>10.3} ms, kept: {kept}",
        "at the limits: 256 x *a{1000}b*",
        name.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    for (label, pattern) in cases {
        let (kept, elapsed) = evaluate(&pattern, &name);
        println!(
            "{label:<40} pattern {:>6} B, name {:>6} B: {:>10.3} ms, kept: {kept}",
            pattern.len(),
            name.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
}
