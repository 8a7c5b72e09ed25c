//! Several values per pixel: a kernel that declares `channels` returns them all, the
//! engine stores them (`channels` floats per pixel) through symmetry and bands, `.npy`
//! writes (height, width, channels), a Lua colouring gets them all, and bad declarations
//! or returns are explained.

use moonbrot::engine::output::{Colouring, ColouringOptions, Palette, colour_image};
use moonbrot::engine::{CancelToken, Engine, KernelError, OutputMode, RenderRequest};

use crate::support::{kernel_error, moonbrot, path_text, request, text};

/// The escape count of z -> z^2 + c, and its distance estimate |z| ln|z| / |dz/dc|, and
/// the real part of the last z: three values per pixel.
const DISTANCE_KERNEL: &str = r#"
channels = { "iterations", "distance", "last_re" }
max_iter = 200
symmetry = "real_axis"
home = { x = -0.6, y = 0, span = 2.6 }
function pixel(x, y)
  local zr, zi, dr, di = 0, 0, 0, 0
  for n = 1, max_iter do
    dr, di = 2 * (zr * dr - zi * di) + 1, 2 * (zr * di + zi * dr)
    zr, zi = zr * zr - zi * zi + x, 2 * zr * zi + y
    local m = zr * zr + zi * zi
    if m > 1e6 then
      local r = math.sqrt(m)
      return n, r * math.log(r) / math.sqrt(dr * dr + di * di), zr
    end
  end
  return nil
end
"#;

#[test]
fn a_kernel_with_channels_stores_every_value_it_returns() {
    let output = Engine::default()
        .render(&request(DISTANCE_KERNEL, 64, 48), &CancelToken::new())
        .expect("renders");
    assert_eq!(output.image.output, OutputMode::Escape { channels: 3 });
    assert_eq!(output.image.values.len(), 64 * 48 * 3);
    assert_eq!(
        output.kernel.channel_names,
        ["iterations", "distance", "last_re"]
    );
    let grid = output.view.pixel_grid(64, 48);
    // Each pixel's three values are those its pixel(x, y) returns, computed here again.
    for (index, values) in output.image.values.chunks_exact(3).enumerate() {
        let (column, row) = (index % 64, index / 64);
        let (x, y) = grid.complex_from_pixel(column as u32, row as u32);
        let (mut zr, mut zi, mut dr, mut di) = (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
        let mut expected = None;
        for n in 1..=200 {
            (dr, di) = (2.0 * (zr * dr - zi * di) + 1.0, 2.0 * (zr * di + zi * dr));
            (zr, zi) = (zr * zr - zi * zi + x, 2.0 * zr * zi + y);
            let m = zr * zr + zi * zi;
            if m > 1e6 {
                let r = m.sqrt();
                expected = Some([f64::from(n), r * r.ln() / (dr * dr + di * di).sqrt(), zr]);
                break;
            }
        }
        match expected {
            None => assert!(values[0] < 0.0, "pixel {column}, {row} is inside"),
            Some(expected) => {
                for (value, wanted) in values.iter().zip(expected) {
                    assert_eq!(*value, wanted as f32, "pixel {column}, {row}");
                }
            }
        }
    }
    // Symmetry copies all three values: the image is the same with it off.
    let unmirrored = Engine::default()
        .render(
            &RenderRequest {
                symmetry: false,
                ..request(DISTANCE_KERNEL, 64, 48)
            },
            &CancelToken::new(),
        )
        .expect("renders");
    // Bit for bit (the values not known are NaN, which == would not match).
    let bits = |values: &[f32]| {
        values
            .iter()
            .map(|value| value.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&unmirrored.image.values), bits(&output.image.values));
}

#[test]
fn a_lua_colouring_gets_every_value_of_a_pixel() {
    let output = Engine::default()
        .render(&request(DISTANCE_KERNEL, 48, 32), &CancelToken::new())
        .expect("renders");
    let colouring = Colouring::Lua {
        name: "three.lua".to_owned(),
        source: "function colour(n, d, re) return n / 200, d, re < 0 and 1 or 0 end".to_owned(),
    };
    let coloured = colour_image(
        &output.image,
        &Palette::default(),
        &colouring,
        &ColouringOptions {
            threads: 2,
            timeout: None,
            memory_limit_bytes: 64 << 20,
        },
        &CancelToken::new(),
    )
    .expect("coloured");
    for (index, values) in output.image.values.chunks_exact(3).enumerate() {
        if values[0] < 0.0 {
            continue;
        }
        let wanted = [
            f64::from(values[0]) / 200.0,
            f64::from(values[1]),
            if values[2] < 0.0 { 1.0 } else { 0.0 },
        ]
        .map(|component| moonbrot::engine::output::byte_from_component(component as f32));
        let pixel = coloured.get_pixel(index as u32 % 48, index as u32 / 48).0;
        assert_eq!(pixel, wanted, "{values:?}");
    }
}

#[test]
fn npy_holds_every_value_of_every_pixel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernel = dir.path().join("distance.lua");
    std::fs::write(&kernel, DISTANCE_KERNEL).expect("write");
    let out = dir.path().join("values.npy");
    let output = moonbrot(&[
        "render",
        "--kernel",
        path_text(&kernel),
        "--size",
        "40x30",
        "-o",
        path_text(&out),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let bytes = std::fs::read(&out).expect("npy");
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("text");
    assert!(header.contains("'shape': (30, 40, 3)"), "{header}");
    let values: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    let rendered = Engine::default()
        .render(&request(DISTANCE_KERNEL, 40, 30), &CancelToken::new())
        .expect("renders");
    assert_eq!(values.len(), rendered.image.values.len());
    for (index, (raw, value)) in values.iter().zip(&rendered.image.values).enumerate() {
        let inside_escape_value = index % 3 == 0 && *value < 0.0;
        if inside_escape_value || value.is_nan() {
            assert!(raw.is_nan(), "{index}: {raw}");
        } else {
            assert_eq!(raw, value, "{index}");
        }
    }
    let info = moonbrot(&["info", path_text(&kernel)]);
    assert!(
        text(&info.stdout).contains("3 values per pixel: iterations, distance, last_re"),
        "{}",
        text(&info.stdout)
    );
}

#[test]
fn bad_channels_and_bad_values_are_explained() {
    let bad_setting = |source: &str| match kernel_error(source) {
        KernelError::BadSetting {
            name: "channels",
            message,
        } => message,
        other => panic!("{source}: {other:?}"),
    };
    let pixel = "function pixel(x, y) return 1, 2 end";
    assert!(bad_setting(&format!("channels = 3\n{pixel}")).contains("expected a table of names"));
    assert!(bad_setting(&format!("channels = {{}}\n{pixel}")).contains("1 to 8 names, got 0"));
    assert!(
        bad_setting(&format!(
            "channels = {{ 'a','b','c','d','e','f','g','h','i' }}\n{pixel}"
        ))
        .contains("got 9")
    );
    assert!(bad_setting(&format!("channels = {{ 'a', 'a' }}\n{pixel}")).contains("named twice"));
    assert!(
        bad_setting(&format!(
            "output = 'rgb'\nchannels = {{ 'a', 'b' }}\n{pixel}"
        ))
        .contains("channels is for escape values")
    );
    let wrong = kernel_error("channels = { 'a', 'b' }\nfunction pixel(x, y) return 1, 'far' end");
    assert!(
        matches!(&wrong, KernelError::WrongReturn { message, .. } if message.contains("a string as value 2")),
        "{wrong:?}"
    );
    // Fewer values than declared: the missing ones are NaN (not known).
    let output = Engine::default()
        .render(
            &request(
                "channels = { 'a', 'b', 'c' }\nfunction pixel(x, y) return 5 end",
                8,
                8,
            ),
            &CancelToken::new(),
        )
        .expect("renders");
    for values in output.image.values.chunks_exact(3) {
        assert_eq!(values[0], 5.0);
        assert!(values[1].is_nan() && values[2].is_nan());
    }
}
