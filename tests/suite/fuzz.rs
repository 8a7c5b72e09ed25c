//! A fuzzer for the sandbox and the engine (proptest): shipped kernels mutated at random
//! (bytes cut, hostile snippets spliced in, lines swapped) and random requests, some of
//! them invalid. Whatever the input, the engine returns (an image or an error) within a
//! second of the timeout, never panics or crashes, and keeps rendering good kernels exactly.
//!
//! An internal error (`RenderError::Internal`, which a worker panic becomes) fails the case:
//! the engine must answer every input with an image or an error about the input.
//!
//! CI runs 48 cases. For a longer run:
//! `PROPTEST_CASES=20000 cargo test --release --test tests fuzz -- --nocapture`
//! Failing inputs are shrunk and saved by proptest in tests/proptest-regressions/fuzz.txt,
//! and every later run tries them first (commit the file with the fix).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use moonbrot::engine::{
    CancelToken, Engine, EngineOptions, RenderError, RenderRequest, SHIPPED_KERNELS, View,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const TIMEOUT: Duration = Duration::from_millis(60);

/// Pieces of Lua, benign and hostile, spliced into kernels.
const SNIPPETS: &[&str] = &[
    "while true do end",
    "error()",
    "error({})",
    "(",
    ")",
    "end",
    "nil",
    "..",
    "x = ",
    "return ",
    "{",
    "}",
    "#",
    "1e308",
    "0/0",
    "\n",
    "--",
    "[[",
    "]]",
    "local ",
    "function",
    "pixel = nil",
    "io.write(1)",
    "require('ffi')",
    "getmetatable('').__index",
    "string.rep('x', 2^30)",
    "setmetatable(_G, {__index = error})",
    "max_iter = -1",
    "home = 3",
    "output = 'rgb'",
    "coroutine.wrap(print)",
    "load('x')",
    "goto continue",
    "::label::",
    "return 1, 2, 3",
    "\u{0}",
    "\u{fffd}",
    "repeat until false",
    "for i = 1, 1e300 do end",
    "pcall(pcall, pcall)",
];

/// One engine for all cases, so its reused states are fuzzed too.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineOptions {
            memory_limit_bytes: 32 * 1024 * 1024,
            ..EngineOptions::default()
        })
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Cut { at: usize, len: usize },
    Splice { at: usize, snippet: usize },
    SwapLines { first: usize, second: usize },
}

fn apply(source: &str, mutations: &[Mutation]) -> String {
    let mut text: Vec<char> = source.chars().collect();
    for mutation in mutations {
        match *mutation {
            Mutation::Cut { at, len } => {
                let at = at % (text.len() + 1);
                let end = (at + len).min(text.len());
                text.drain(at..end);
            }
            Mutation::Splice { at, snippet } => {
                let at = at % (text.len() + 1);
                let piece: Vec<char> = SNIPPETS[snippet % SNIPPETS.len()].chars().collect();
                text.splice(at..at, piece);
            }
            Mutation::SwapLines { first, second } => {
                let joined: String = text.iter().collect();
                let mut lines: Vec<&str> = joined.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (first % lines.len(), second % lines.len());
                    lines.swap(a, b);
                }
                text = lines.join("\n").chars().collect();
            }
        }
    }
    text.into_iter().collect()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..40_usize).prop_map(|(at, len)| Mutation::Cut { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, snippet)| Mutation::Splice { at, snippet }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(first, second)| Mutation::SwapLines { first, second }),
    ]
}

fn view() -> impl Strategy<Value = Option<View>> {
    prop_oneof![
        Just(None),
        (-3.0..3.0_f64, -3.0..3.0_f64, 1e-12..4.0_f64)
            .prop_map(|(x, y, span)| Some(View::new(x, y, span))),
        Just(Some(View::new(f64::NAN, 0.0, 1.0))),
        Just(Some(View::new(0.0, 0.0, 0.0))),
        Just(Some(View::new(0.0, 0.0, -2.0))),
        Just(Some(View::new(1e300, -1e300, 1e-300))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/fuzz.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_kernels_and_random_requests_never_break_the_engine(
        kernel in 0..SHIPPED_KERNELS.len(),
        mutations in proptest::collection::vec(mutation(), 0..6),
        width in 0..40_u32,
        height in 0..40_u32,
        threads in 0..6_usize,
        max_iter in proptest::option::of(0..400_u32),
        view in view(),
    ) {
        let source = apply(SHIPPED_KERNELS[kernel].source, &mutations);
        let request = RenderRequest {
            view,
            width_px: width,
            height_px: height,
            max_iter,
            threads,
            timeout: Some(TIMEOUT),
            ..RenderRequest::new(source, 1, 1)
        };
        let started = Instant::now();
        // Any outcome is fine but a panic, an internal error or a hang.
        let outcome = engine().render(&request, &CancelToken::new());
        prop_assert!(
            !matches!(outcome, Err(RenderError::Internal(_))),
            "an internal error: {:?}",
            outcome
        );
        prop_assert!(started.elapsed() < TIMEOUT + Duration::from_secs(1), "took {:?}", started.elapsed());

        let good = RenderRequest { threads: 2, ..RenderRequest::new(Arc::<str>::from(SHIPPED_KERNELS[0].source), 24, 16) };
        let after = engine().render(&good, &CancelToken::new()).expect("a good kernel renders");
        let fresh = Engine::default().render(&good, &CancelToken::new()).expect("fresh render");
        prop_assert_eq!(after.image, fresh.image);
    }
}
