//! Stress: thousands of random render requests and cancellations fired at one engine from
//! two threads. No deadlock, no panic, memory back near its baseline, and afterwards the
//! engine renders exactly as a fresh one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moonbrot::engine::{
    CancelToken, Engine, EngineOptions, RenderError, RenderRequest, SHIPPED_KERNELS, View,
};

/// Requests in all, split between the two threads.
const REQUESTS: usize = 10_000;
/// The whole test must finish in this time (a deadlock fails it instead of hanging CI).
const TIME_BOUND: Duration = Duration::from_secs(240);

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn sources() -> Vec<Arc<str>> {
    let mut sources: Vec<Arc<str>> = SHIPPED_KERNELS
        .iter()
        .map(|kernel| Arc::from(kernel.source))
        .collect();
    sources.push(Arc::from("function pixel(x, y) while true do end end"));
    sources.push(Arc::from(
        "function pixel(x, y) if x > 0 then error('half') end return 1 end",
    ));
    sources.push(Arc::from(
        "local t = {} function pixel(x, y) t[#t + 1] = {} return #t % 7 end",
    ));
    sources.push(Arc::from("function pixel(x, y) return x * y end"));
    sources
}

fn random_request(rng: &mut Rng, sources: &[Arc<str>]) -> RenderRequest {
    let source = sources[rng.below(sources.len() as u64) as usize].clone();
    RenderRequest {
        view: (rng.below(2) == 0).then(|| {
            View::new(
                rng.unit() * 3.0 - 2.0,
                rng.unit() * 2.0 - 1.0,
                1e-6 + rng.unit() * 3.0,
            )
        }),
        width_px: 1 + rng.below(48) as u32,
        height_px: 1 + rng.below(48) as u32,
        max_iter: (rng.below(2) == 0).then(|| 1 + rng.below(300) as u32),
        threads: 1 + rng.below(4) as usize,
        timeout: Some(Duration::from_millis(20 + rng.below(60))),
        ..RenderRequest::new(source, 1, 1)
    }
}

#[test]
fn random_requests_and_cancels_from_two_threads_leave_the_engine_healthy() {
    let started = Instant::now();
    let engine = Arc::new(Engine::new(EngineOptions {
        memory_limit_bytes: 32 * 1024 * 1024,
        ..EngineOptions::default()
    }));
    let sources = sources();
    // Warm up every worker, then take the memory baseline.
    for source in &sources[..SHIPPED_KERNELS.len()] {
        let request = RenderRequest {
            threads: 4,
            ..RenderRequest::new(source.clone(), 32, 32)
        };
        engine
            .render(&request, &CancelToken::new())
            .expect("warm-up");
    }
    let baseline = resident_bytes();

    // Each thread renders; between renders it sometimes cancels the other's.
    let in_flight: Arc<[Mutex<Option<CancelToken>>; 2]> =
        Arc::new([Mutex::new(None), Mutex::new(None)]);
    let (done, finished) = std::sync::mpsc::channel();
    for worker in 0..2_usize {
        let (engine, sources, in_flight, done) = (
            Arc::clone(&engine),
            sources.clone(),
            Arc::clone(&in_flight),
            done.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (worker as u64 + 1));
            let mut outcomes = [0_usize; 4]; // ok, kernel error, cancelled, timed out
            for _ in 0..REQUESTS / 2 {
                if rng.below(4) == 0
                    && let Some(token) = in_flight[1 - worker].lock().expect("slot").as_ref()
                {
                    token.cancel();
                }
                let cancel = CancelToken::new();
                *in_flight[worker].lock().expect("slot") = Some(cancel.clone());
                let request = random_request(&mut rng, &sources);
                let slot = match engine.render(&request, &cancel) {
                    Ok(_) => 0,
                    Err(RenderError::Kernel(_)) => 1,
                    Err(RenderError::Cancelled) => 2,
                    Err(RenderError::TimedOut { .. }) => 3,
                    Err(other) => panic!("unexpected error: {other}"),
                };
                outcomes[slot] += 1;
            }
            let _ = done.send(outcomes);
        });
    }
    drop(done);
    let mut totals = [0_usize; 4];
    for _ in 0..2 {
        let outcomes = finished
            .recv_timeout(TIME_BOUND.saturating_sub(started.elapsed()))
            .expect("a stress thread never finished: deadlock or runaway");
        for (total, count) in totals.iter_mut().zip(outcomes) {
            *total += count;
        }
    }
    eprintln!(
        "{} requests in {:.1} s: {} ok, {} kernel errors, {} cancelled, {} timed out",
        REQUESTS,
        started.elapsed().as_secs_f64(),
        totals[0],
        totals[1],
        totals[2],
        totals[3]
    );
    assert_eq!(totals.iter().sum::<usize>(), REQUESTS);
    assert!(
        totals[0] > 0 && totals[2] > 0 && totals[3] > 0,
        "every kind of outcome happened: {totals:?}"
    );

    // Memory back near its baseline: at most one memory limit per worker above it.
    let after = resident_bytes();
    eprintln!(
        "resident memory: {} MiB before, {} MiB after",
        baseline >> 20,
        after >> 20
    );
    assert!(
        after < baseline + 4 * 32 * 1024 * 1024,
        "resident memory grew from {} MiB to {} MiB",
        baseline >> 20,
        after >> 20
    );

    // And the engine still renders exactly as a fresh one.
    let last = RenderRequest {
        view: Some(View::new(-0.74, 0.12, 0.05)),
        threads: 3,
        ..RenderRequest::new(sources[0].clone(), 80, 60)
    };
    let stressed = engine
        .render(&last, &CancelToken::new())
        .expect("render after the stress");
    let fresh = Engine::default()
        .render(&last, &CancelToken::new())
        .expect("fresh render");
    assert_eq!(stressed.image, fresh.image);
}
