"""Writer for semiseg's binary test fixtures (read by tests/fixture.c).

Layout (little endian):
  magic  b"SGFX"   version u32 = 1   count u32
  count records:  name_len u32, name (utf-8), dtype u32 (0 f32, 1 i32, 2 f64),
                  ndim u32, dims u32[ndim], data
Bump VERSION (here and in tests/fixture.c) when the layout changes.
"""
import struct

MAGIC = b"SGFX"
VERSION = 1
_DTYPES = {"float32": 0, "int32": 1, "float64": 2}


class Fixture:
    def __init__(self):
        self.records = []

    def add(self, name, tensor):
        """Add a torch tensor or numpy-like array (stored contiguous)."""
        t = tensor.detach().cpu().contiguous() if hasattr(tensor, "detach") else tensor
        dt = str(t.dtype).replace("torch.", "")
        if dt not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {dt}")
        dims = list(t.shape) if len(t.shape) else [1]
        raw = t.numpy().tobytes() if hasattr(t, "numpy") else bytes(t)
        self.records.append((name, _DTYPES[dt], dims, raw))

    def write(self, path):
        names = [r[0] for r in self.records]
        if len(names) != len(set(names)):
            raise ValueError("duplicate record names")
        with open(path, "wb") as f:
            f.write(MAGIC + struct.pack("<II", VERSION, len(self.records)))
            for name, dtype, dims, raw in self.records:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)) + nb)
                f.write(struct.pack("<II", dtype, len(dims)))
                f.write(struct.pack(f"<{len(dims)}I", *dims))
                f.write(raw)
