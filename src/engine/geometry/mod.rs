//! Geometry, the engine's bottom layer: numbers and places. `BigFloat` (arbitrary-precision
//! numbers with exact decimal text, for places; `decimal` reads and writes the text), `Dd`
//! (double-double numbers, as `pixel_deep` receives them), `WideFloat` (f64 digits with an exponent of their own, for
//! the few values of deep renders past f64's range), `View` (which region of the
//! complex plane an image shows, and pan, zoom and films over it) and the pixel lattice
//! (`PixelGrid`: where each pixel's centre lies; `UnitRect` and `UnitLattice`: the pieces
//! renders are cut into).
//!
//! It knows nothing of Lua, rendering or files; everything above it speaks in its types.

mod big_float;
mod decimal;
mod double_double;
mod lattice;
mod view;
mod wide_float;

pub use big_float::BigFloat;
pub use double_double::Dd;
pub use lattice::PixelGrid;
pub(crate) use lattice::{UnitLattice, UnitRect};
pub use view::{Precision, View, default_home};
pub use wide_float::{WideFloat, frexp, ldexp};
