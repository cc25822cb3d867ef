"""Convert a PyTorch checkpoint (.pth/.pt) to safetensors, for semiseg.

Usage (Debian's python3-torch; the `safetensors` package is not needed):
    /usr/bin/python3 tools/pth2safetensors.py IN.pth OUT.safetensors \
        [--prefix-strip PREFIX] [--keep-dtype]

IN holds a state_dict (name -> tensor), or a dict holding one under "model"
or "state_dict" (as training scripts save them with the epoch, optimizer...).
--prefix-strip removes PREFIX from the names that start with it (e.g.
"module." left by DataParallel); may be given several times, the first that
matches is applied. Floating-point tensors are written as F32 unless
--keep-dtype keeps F16/BF16; int64 and int32 tensors (e.g. BN
num_batches_tracked) are written as I64/I32. Other dtypes are an error.

The file follows huggingface/safetensors: u64 little-endian header length,
a JSON header {"name": {"dtype", "shape", "data_offsets"}, "__metadata__":
{"format": "pt"}} padded with spaces to a multiple of 8, then the data of the
tensors in name order. It is written to a temporary file and renamed, so an
interrupted conversion never leaves a half-written OUT. semiseg reads it with
sg_st_open / sg_weights_load (include/semiseg/checkpoint.h); the format is
checked by tests/test_checkpoint.c on a file made by tests/ref/gen_checkpoint.py.
"""
import argparse
import json
import os
import struct
import sys

import torch

_DTYPES = {
    torch.float32: ("F32", torch.float32),
    torch.float16: ("F16", torch.int16),
    torch.bfloat16: ("BF16", torch.int16),
    torch.int64: ("I64", torch.int64),
    torch.int32: ("I32", torch.int32),
}


def find_state_dict(obj):
    """The name -> tensor mapping inside a loaded checkpoint."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(torch.is_tensor(v) for v in inner.values()):
                return inner
        if obj and all(torch.is_tensor(v) for v in obj.values()):
            return obj
    raise ValueError("no state_dict found (expected name -> tensor, or one under 'model' or 'state_dict')")


def prepare(state, prefixes=(), keep_dtype=False):
    """Rename and convert: returns {name: contiguous CPU tensor}."""
    out = {}
    for name, t in state.items():
        for p in prefixes:
            if name.startswith(p):
                name = name[len(p):]
                break
        if not name:
            raise ValueError("a name is empty after stripping the prefix")
        if name in out:
            raise ValueError(f"{name}: two tensors have this name after stripping the prefix")
        t = t.detach().cpu()
        if t.is_floating_point() and not keep_dtype:
            t = t.to(torch.float32)
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        out[name] = t.contiguous()
    return out


def save(tensors, path, metadata=None):
    """Write {name: tensor} as safetensors, atomically."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        code, raw_dtype = _DTYPES[t.dtype]
        arr = t.view(raw_dtype).numpy()  # F16/BF16 as their 16-bit patterns: numpy has no bfloat16
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in chunks:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--prefix-strip", action="append", default=[], metavar="PREFIX")
    ap.add_argument("--keep-dtype", action="store_true", help="keep F16/BF16 instead of converting to F32")
    args = ap.parse_args(argv)
    try:
        obj = torch.load(args.input, map_location="cpu")
        tensors = prepare(find_state_dict(obj), args.prefix_strip, args.keep_dtype)
        save(tensors, args.output)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"pth2safetensors: {args.input}: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
