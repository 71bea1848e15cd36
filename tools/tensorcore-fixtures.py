#!/usr/bin/env python3
"""Convert the H100 mma.sync measurements (mma_{f16,bf16,e4m3}_public.npz) into
test/fixtures/tensorcore/<fmt>_<array>.npy.gz (gzip of plain .npy, mtime 0), which
the tests read without python. Usage: tools/tensorcore-fixtures.py DIR_WITH_NPZ"""
import gzip, io, sys
import numpy as np

src = sys.argv[1]
for f in ["f16", "bf16", "e4m3"]:
    z = np.load(f"{src}/mma_{f}_public.npz")
    for k in ["A", "Bt", "C", "D", "modes"]:
        a = z[k].astype(np.uint8) if k == "modes" else z[k]
        b = io.BytesIO()
        np.save(b, a)
        with open(f"test/fixtures/tensorcore/{f}_{k}.npy.gz", "wb") as out:
            out.write(gzip.compress(b.getvalue(), 9, mtime=0))
