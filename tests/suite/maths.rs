//! The shipped kernels that know their maths (mandelbrot's cardioid and bulb test, every
//! escape-time kernel's periodicity check) give every pixel exactly as the plain loop
//! does: the shortcuts only find inside points sooner. The plain loops are kept in
//! tests/kernels/plain/.

use std::path::Path;

use moonbrot::engine::{CancelToken, Engine, RenderRequest, View};

use crate::support::shipped;

fn plain(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernels/plain")
        .join(format!("{name}.lua"));
    std::fs::read_to_string(path).expect("the plain kernel")
}

fn values(engine: &Engine, source: &str, view: View, max_iter: u32) -> Vec<f32> {
    let request = RenderRequest {
        view: Some(view),
        max_iter: Some(max_iter),
        guessing: false,
        threads: 2,
        ..RenderRequest::new(source, 200, 120)
    };
    engine
        .render(&request, &CancelToken::new())
        .expect("renders")
        .image
        .values
}

#[test]
fn kernels_with_shortcuts_give_every_pixel_of_the_plain_loop() {
    let engine = Engine::default();
    let views = [
        ("home", View::new(-0.6, 0.0, 2.6)),
        ("mostly inside", View::new(-0.1, 0.0, 0.5)),
        (
            "filaments",
            View::new(-0.743_643_887, 0.131_825_904, 0.000_12),
        ),
        ("cardioid edge", View::new(0.2501, 0.0, 0.002)),
        ("bulb edge", View::new(-0.75, 0.06, 0.03)),
        ("wide", View::new(0.0, 0.0, 4.0)),
    ];
    for name in [
        "mandelbrot",
        "julia",
        "burning_ship",
        "tricorn",
        "multibrot",
    ] {
        let shipped_source = shipped(name);
        let plain_source = plain(name);
        assert_ne!(
            &*shipped_source,
            plain_source.as_str(),
            "{name} has shortcuts"
        );
        for (view_name, view) in views.clone() {
            let fast = values(&engine, &shipped_source, view.clone(), 2000);
            let slow = values(&engine, &plain_source, view.clone(), 2000);
            let differing = fast
                .iter()
                .zip(&slow)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differing, 0, "{name} at {view_name}");
            if name == "mandelbrot" && view_name == "mostly inside" {
                let inside = fast.iter().filter(|value| **value < 0.0).count();
                assert!(inside > fast.len() / 2, "the view is mostly inside");
            }
        }
    }
}
