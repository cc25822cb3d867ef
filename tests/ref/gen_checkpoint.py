"""A safetensors file written by tools/pth2safetensors.py (tests/test_checkpoint.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_checkpoint.py
Writes tests/data/checkpoint_py.safetensors (deterministic bytes). It saves a
training-script style checkpoint {"model": state_dict, "epoch": 7} with
torch.save, then converts it with the tool's command line, stripping the
"module." prefix and keeping the dtypes. Every value is exactly
representable in its dtype, so the C test compares bitwise against the same
formulas:
  enc.weight             F32  [2, 3]  (i - 2.5) * 0.375
  enc.half               F16  [6]     1, -2.5, 65504, 2^-24, 3 * 2^-20, +inf
                                      (normal, max, smallest subnormal, subnormal, inf)
  enc.bf16               BF16 [2, 2]  1, -3, 2^100, 1.5 * 2^-130 (an f32 subnormal)
  bn.num_batches_tracked I64  []      12345678901 (needs more than 32 bits)
  idx                    I32  [3]     -7, 0, 2147483647
  empty                  F32  [0, 3]  (no data)
"""
import os
import sys
import tempfile

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import pth2safetensors  # noqa: E402

state = {
    "module.enc.weight": (torch.arange(6, dtype=torch.float32) - 2.5).mul(0.375).reshape(2, 3),
    "module.enc.half": torch.tensor([1.0, -2.5, 65504.0, 2.0**-24, 3 * 2.0**-20, float("inf")],
                                    dtype=torch.float16),
    "module.enc.bf16": torch.tensor([[1.0, -3.0], [2.0**100, 1.5 * 2.0**-130]], dtype=torch.bfloat16),
    "module.bn.num_batches_tracked": torch.tensor(12345678901, dtype=torch.int64),
    "module.idx": torch.tensor([-7, 0, 2147483647], dtype=torch.int32),
    "module.empty": torch.zeros(0, 3),
}
# The formulas above must survive the dtype casts unchanged.
assert state["module.enc.half"][4].item() == 3 * 2.0**-20
assert state["module.enc.bf16"][1, 1].item() == 1.5 * 2.0**-130

out = os.path.normpath(os.path.join(ROOT, "tests", "data", "checkpoint_py.safetensors"))
with tempfile.TemporaryDirectory() as tmp:
    pth = os.path.join(tmp, "model.pth")
    torch.save({"model": state, "epoch": 7}, pth)
    rc = pth2safetensors.main([pth, out, "--prefix-strip", "module.", "--keep-dtype"])
sys.exit(rc)
