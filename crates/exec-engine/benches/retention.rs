//! Criterion micro-benchmarks of output retention, the sans-I/O core every output byte passes
//! through: a reader task appending chunks while the subscriber takes them (the streaming path),
//! and a `process/read` of a full log.
//!
//! Run with `cargo bench -p exec-engine --bench retention`. Nothing here is a test.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use exec_engine::bench_support::RetentionLog;

/// The default per-process retention (`Config::retention_bytes`).
const LIMIT: usize = 1 << 20;
const SIZES: [usize; 2] = [8 << 10, 64 << 10];

fn append_and_take(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("retention/append_take");
    for size in SIZES {
        let chunk = Bytes::from(vec![7u8; size]);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &chunk, |bench, chunk| {
            let mut log = RetentionLog::new(LIMIT);
            bench.iter(|| {
                // A refused push means the log is full of unread chunks: take one and retry, as
                // the producer does after the subscriber wakes it.
                while !log.push(chunk.clone()) {
                    black_box(log.take());
                }
                black_box(log.take());
            });
        });
    }
    group.finish();
}

fn read_full_log(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("retention/read");
    for size in SIZES {
        let mut log = RetentionLog::new(LIMIT);
        let mut retained = 0;
        while retained + size <= LIMIT && log.push(Bytes::from(vec![7u8; size])) {
            retained += size;
        }
        // The subscriber has taken everything, so nothing holds the log back.
        while log.take() {}
        group.throughput(Throughput::Bytes(retained as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &log, |bench, log| {
            bench.iter(|| black_box(log.read(None)));
        });
    }
    group.finish();
}

criterion_group!(benches, append_and_take, read_full_log);
criterion_main!(benches);
