//! moonbrot's integration tests, one binary: the engine through its public API, the
//! sandbox, errors, cancellation, export, and the CLI as a user runs it.

// A failed expectation is a failed test: tests may unwrap (the crate's lints forbid it
// everywhere else).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "suite/support.rs"]
mod support;

#[path = "suite/backstop.rs"]
mod backstop;
#[path = "suite/cancellation.rs"]
mod cancellation;
#[path = "suite/channels.rs"]
mod channels;
#[path = "suite/cli.rs"]
mod cli;
#[path = "suite/colourings.rs"]
mod colourings;
#[path = "suite/corpus.rs"]
mod corpus;
#[path = "suite/deep.rs"]
mod deep;
#[path = "suite/derivatives.rs"]
mod derivatives;
#[path = "suite/documents.rs"]
mod documents;
#[path = "suite/engine.rs"]
mod engine;
#[path = "suite/errors.rs"]
mod errors;
#[path = "suite/export.rs"]
mod export;
#[path = "suite/formula.rs"]
mod formula;
#[path = "suite/fuzz.rs"]
mod fuzz;
#[path = "suite/gradients.rs"]
mod gradients;
#[path = "suite/guessing.rs"]
mod guessing;
#[path = "suite/gui.rs"]
mod gui;
#[path = "suite/layout.rs"]
mod layout;
#[path = "suite/maths.rs"]
mod maths;
#[path = "suite/panning.rs"]
mod panning;
#[path = "suite/parameters.rs"]
mod parameters;
#[path = "suite/posters.rs"]
mod posters;
#[path = "suite/sandbox.rs"]
mod sandbox;
#[path = "suite/stress.rs"]
mod stress;
#[path = "suite/symmetry.rs"]
mod symmetry;
#[path = "suite/window.rs"]
mod window;
