//! Criterion micro-benchmarks of a `process/output` frame: encoding it by hand
//! ([`exec_protocol::fast::write_output_notification`], what our server sends), through serde
//! (the path it replaced, for comparison), and decoding it the way `ExecClient` does
//! ([`exec_protocol::fast::read_output_notification`], one pass, base64 straight from the frame;
//! serde as the general fallback); and the negotiated binary frame ([`exec_protocol::binary`]),
//! encoded and decoded.
//!
//! Run with `cargo bench -p exec-protocol --bench output_frame`. Nothing here is a test.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use exec_protocol::ByteChunk;
use exec_protocol::process::{ProcessOutputNotification, Stream};

/// The chunk sizes the server sends: a pipe read under light load, and when output backs up.
const SIZES: [usize; 2] = [8 << 10, 64 << 10];

fn chunk(size: usize) -> Vec<u8> {
    (0..size).map(|index| (index * 31 % 251) as u8).collect()
}

fn encode(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("output_frame/encode");
    for size in SIZES {
        let bytes = chunk(size);
        group.throughput(Throughput::Bytes(size as u64));
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("by_hand", size), &bytes, |bench, bytes| {
            bench.iter(|| {
                out.clear();
                exec_protocol::fast::write_output_notification(
                    &mut out,
                    "build-1",
                    42,
                    Stream::Stdout,
                    bytes,
                );
                black_box(&out);
            });
        });
        let note = ProcessOutputNotification {
            process_id: "build-1".into(),
            seq: 42,
            stream: Stream::Stdout,
            chunk: ByteChunk::new(bytes.clone()),
        };
        group.bench_with_input(BenchmarkId::new("serde", size), &note, |bench, note| {
            bench.iter(|| {
                out.clear();
                exec_protocol::jsonrpc::write_notification(&mut out, "process/output", note).expect("encode");
                black_box(&out);
            });
        });
        group.bench_with_input(BenchmarkId::new("binary", size), &bytes, |bench, bytes| {
            bench.iter(|| {
                // A fresh frame each time, as the server sends it (the frame is handed away).
                let mut frame = Vec::new();
                exec_protocol::binary::encode_output_into(&mut frame, "build-1", 42, Stream::Stdout, bytes)
                    .expect("encode");
                black_box(frame);
            });
        });
    }
    group.finish();
}

fn decode(criterion: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct Frame {
        params: ProcessOutputNotification,
    }
    let mut group = criterion.benchmark_group("output_frame/decode");
    for size in SIZES {
        let mut frame = Vec::new();
        exec_protocol::fast::write_output_notification(
            &mut frame,
            "build-1",
            42,
            Stream::Stdout,
            &chunk(size),
        );
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("one_pass", size), &frame, |bench, frame| {
            bench.iter(|| {
                let note = exec_protocol::fast::read_output_notification(black_box(frame)).expect("decode");
                black_box(note.bytes);
            });
        });
        group.bench_with_input(BenchmarkId::new("serde", size), &frame, |bench, frame| {
            bench.iter(|| {
                let frame: Frame = serde_json::from_slice(black_box(frame)).expect("decode");
                black_box(frame.params.chunk.into_vec());
            });
        });
        let mut binary = Vec::new();
        exec_protocol::binary::encode_output_into(&mut binary, "build-1", 42, Stream::Stdout, &chunk(size))
            .expect("encode");
        group.bench_with_input(BenchmarkId::new("binary", size), &binary, |bench, binary| {
            bench.iter(|| {
                let note = exec_protocol::binary::decode_output(black_box(binary)).expect("decode");
                black_box(note.data);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
