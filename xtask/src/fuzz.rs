//! `cargo xtask fuzz`: builds and runs each cargo-fuzz target of `fuzz/` for a while.
//!
//! `--seconds N` (default 60) per target, `--target NAME` for one of them, `--install` to run
//! `cargo install cargo-fuzz --locked` first when it is missing. Needs the nightly toolchain and
//! cargo-fuzz; without them it says what is missing and succeeds without fuzzing (with
//! `--install`, a missing cargo-fuzz is installed, and a failed install fails). It first builds
//! every target once (a target that no longer compiles fails the command, so `.ci/run`'s short
//! pass catches targets left behind by an API change), then runs each. Reports, per target, the
//! executions libFuzzer made and whether it found a crash (a crash fails the command; its input
//! is left in `fuzz/artifacts/TARGET/`). The corpus grows in `fuzz/corpus/TARGET/` (ignored by
//! git). Results: `docs/reliability.md`.

use std::path::Path;
use std::process::Command;

/// The targets in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &["frame_decoder", "dispatch", "env_policy", "sandbox_intent"];

pub fn fuzz(root: &Path, args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut install = false;
    let mut index = 0;
    while index < args.len() {
        match args[index].as_str() {
            "--seconds" => {
                let value = args.get(index + 1).ok_or("--seconds needs a value")?;
                seconds = value.parse().map_err(|_| format!("--seconds: `{value}` is not a number"))?;
                index += 1;
            }
            "--target" => {
                only = Some(args.get(index + 1).ok_or("--target needs a value")?.clone());
                index += 1;
            }
            "--install" => install = true,
            other => return Err(format!("unknown fuzz flag {other}")),
        }
        index += 1;
    }
    if !succeeds(root, &["+nightly", "--version"]) {
        eprintln!(
            "xtask: skipping fuzzing: the nightly toolchain is missing (rustup toolchain install nightly)"
        );
        return Ok(());
    }
    if !succeeds(root, &["+nightly", "fuzz", "--version"]) {
        if !install {
            eprintln!(
                "xtask: skipping fuzzing: cargo-fuzz is missing (run `cargo xtask fuzz --install`, \
                 or `cargo install cargo-fuzz --locked`)"
            );
            return Ok(());
        }
        crate::run(root, "cargo", &["install", "cargo-fuzz", "--locked"], &[])?;
    }
    let targets: Vec<&str> = match &only {
        Some(name) if TARGETS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => return Err(format!("unknown fuzz target {name} (targets: {})", TARGETS.join(", "))),
        None => TARGETS.to_vec(),
    };
    let fuzz_dir = root.join("fuzz");
    // One build for every target (the runs below then only link-check), so a compile error is
    // reported as such, not as a crash of the first target.
    crate::run(&fuzz_dir, "cargo", &["+nightly", "fuzz", "build"], &[])
        .map_err(|error| format!("the fuzz targets do not build: {error}"))?;
    let mut report = Vec::new();
    let mut crashed = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|error| format!("create {}: {error}", corpus.display()))?;
        let time = format!("-max_total_time={seconds}");
        eprintln!("$ cargo +nightly fuzz run {target} -- {time}");
        let output = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target, "--", &time, "-print_final_stats=1"])
            .current_dir(&fuzz_dir)
            .output()
            .map_err(|error| format!("could not run cargo fuzz: {error}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let executions = stderr
            .lines()
            .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
            .map(|number| number.trim().to_owned())
            .unwrap_or_else(|| "?".to_owned());
        let status = if output.status.success() { "no crash" } else { "CRASH" };
        if !output.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            crashed.push(target);
        }
        report.push(format!("{target:14} {seconds:>5} s  {executions:>12} executions  {status}"));
    }
    println!("fuzz results:");
    for line in &report {
        println!("  {line}");
    }
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzzing found crashes in {} (inputs in fuzz/artifacts/)", crashed.join(", ")))
    }
}

fn succeeds(root: &Path, args: &[&str]) -> bool {
    Command::new("cargo").args(args).current_dir(root).output().is_ok_and(|output| output.status.success())
}
