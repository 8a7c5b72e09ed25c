//! Geometry, the engine's bottom layer: numbers and places. `Dd` (double-double numbers
//! with exact decimal text), `View` (which region of the complex plane an image shows, and
//! pan, zoom and films over it) and the pixel lattice (`PixelGrid`: where each pixel's
//! centre lies; `UnitRect` and `UnitLattice`: the pieces renders are cut into).
//!
//! It knows nothing of Lua, rendering or files; everything above it speaks in its types.

mod double_double;
mod lattice;
mod view;

pub use double_double::Dd;
pub use lattice::PixelGrid;
pub(crate) use lattice::{UnitLattice, UnitRect};
pub use view::{DEFAULT_HOME, Precision, View};
