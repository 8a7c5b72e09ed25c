#!/usr/bin/env python3
"""Writes the corpus of broken and hostile PNGs that `moonbrot render --from` and
`moonbrot info` must refuse with a clear message (the CLI tests read EXPECTED). Run it from
this folder after changing the list; the files are committed. (A PNG with more than 4 MiB
of uncompressed metadata is made by the test itself, to keep the repository small.)"""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def itxt(keyword, text, compressed=False):
    data = text.encode("utf-8")
    if compressed:
        data = zlib.compress(data, 9)
    return chunk(b"iTXt", keyword.encode("latin-1") + b"\0" + bytes([1 if compressed else 0, 0])
                 + b"\0\0" + data)


def png(texts, width=4, height=3):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\0" + b"\x20\x40\x60" * width for _ in range(height))
    return (SIGNATURE + chunk(b"IHDR", ihdr) + b"".join(texts)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


KERNEL = "max_iter = 50\nfunction pixel(x, y) return x * x + y * y end\n"
VIEW = '{"center_x":"-0.5","center_y":"0.0","span":"3.0"}'
PALETTE = '{"gradient":"classic","density":1.0,"offset":0.0,"inside":[0,0,0]}'


def document(**overrides):
    fields = {
        "moonbrot:format": "2",
        "moonbrot:kernel": KERNEL,
        "moonbrot:view": VIEW,
        "moonbrot:max_iter": "50",
        "moonbrot:palette": PALETTE,
        "moonbrot:parameters": "[]",
        "moonbrot:size": "4x3",
        "moonbrot:version": "0.1.0",
    }
    compressed = overrides.pop("compressed", ())
    fields.update(overrides)
    return png([itxt(key, value, key in compressed) for key, value in fields.items()
                if value is not None])


CORPUS = {
    "not_a_png.png": (b"this is plain text, not a PNG\n", "is not a readable PNG"),
    "truncated.png": (document()[:60], "is not a readable PNG"),
    "plain_png.png": (png([]), "holds no moonbrot document"),
    "newer_format.png": (document(**{"moonbrot:format": "99"}), "written by a newer moonbrot"),
    "missing_kernel.png": (document(**{"moonbrot:kernel": None}),
                           "bad moonbrot:kernel: it is missing"),
    "garbled_view.png": (document(**{"moonbrot:view": "{not json"}), "bad moonbrot:view"),
    "zero_span.png": (document(**{"moonbrot:view": '{"center_x":"0","center_y":"0","span":"0"}'}),
                      "bad moonbrot:view"),
    "nan_centre.png": (document(**{"moonbrot:view": '{"center_x":"NaN","center_y":"0","span":"1"}'}),
                       "bad moonbrot:view"),
    "max_iter_zero.png": (document(**{"moonbrot:max_iter": "0"}), "max_iter 0 is out of range"),
    "max_iter_words.png": (document(**{"moonbrot:max_iter": "lots"}), "bad moonbrot:max_iter"),
    "bad_palette.png": (document(**{"moonbrot:palette": '{"gradient":"Plaid"}'}),
                        "bad moonbrot:palette"),
    "bad_parameters.png": (document(**{"moonbrot:parameters": '{"c": 1}'}),
                           "bad moonbrot:parameters"),
    "bad_size.png": (document(**{"moonbrot:size": "0x99999999"}), "bad moonbrot:size"),
    # 1.5 MiB of kernel, compressed to a few KiB: within the inflation bound, over the
    # engine's source limit.
    "oversized_kernel.png": (document(**{"moonbrot:kernel": "-- " + "x" * (3 << 19),
                                         "compressed": ("moonbrot:kernel",)}),
                             "more than the limit of 1024 KiB"),
    "inflation_bomb.png": (document(**{"moonbrot:kernel": "-" * (64 << 20),
                                       "compressed": ("moonbrot:kernel",)}),
                           "inflates beyond 2 MiB"),
    "failing_kernel.png": (document(**{"moonbrot:kernel": "function pixel(x, y) return 1 +\n"}),
                           "syntax error"),
    "unknown_parameter.png": (document(**{"moonbrot:parameters": '[["zoom", 2.0]]'}),
                              "parameter zoom: the kernel declares no parameters"),
    "zero_line_width.png": (document(**{"moonbrot:colouring":
                                        '{"kind":"distance","line_width_px":0.0}'}),
                            "its line width 0 is not 0.25 to 50 pixels"),
    "endless_light_angle.png": (document(**{"moonbrot:colouring":
                                            '{"kind":"slope","light_angle_degrees":1e40}'}),
                                "bad moonbrot:colouring"),
}

if __name__ == "__main__":
    lines = []
    for name, (data, expected) in CORPUS.items():
        with open(name, "wb") as file:
            file.write(data)
        lines.append(f"{name}\t{expected}")
    with open("EXPECTED", "w") as file:
        file.write("# file<TAB>what the error message must say (render --from and info)\n")
        file.write("\n".join(lines) + "\n")
