//! Raw values as NumPy arrays (`-o FILE.npy`): the `.npy` header for a shape, and a band
//! of values as little-endian float32, inside pixels stored as NaN.

use crate::engine::render::ValueImage;

/// The `.npy` header (format 1.0) for a little-endian float32 array of `shape`, padded
/// so the data starts on a 64-byte boundary.
pub(super) fn npy_header(shape: &[u32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

/// A band's values as little-endian float32 bytes, inside pixels (negative, NaN or
/// infinite escape values) as NaN; a kernel's other values (`channels`) as they are.
pub(super) fn npy_values(image: &ValueImage) -> Vec<u8> {
    let escape = image.output.is_escape();
    let channels = image.output.channels();
    image
        .values
        .iter()
        .enumerate()
        .flat_map(|(index, value)| {
            let is_escape_value = escape && index % channels == 0;
            let value = if is_escape_value && (!value.is_finite() || *value < 0.0) {
                f32::NAN
            } else {
                *value
            };
            value.to_le_bytes()
        })
        .collect()
}
