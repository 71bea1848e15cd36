#!/usr/bin/env python3
"""Copy the outputs of tools/tc_probe_fp8.cu into test/fixtures/tensorcore/probe/:
cases_<fmt>.bin.gz (the designed-case records of that format, 80 bytes each) and the
first 500 random e4m3 tiles as rand_e4m3_{A,Bt,C,D}.bin.gz (raw: A u8 [T,16,32],
Bt u8 [T,8,32], C f32 [T,16,8], D f32 [T,16,8]; gzip, mtime 0), plus log.txt.
Usage: tools/tc-probe-fixtures.py PROBE_DIR REGEN_DIR (REGEN_DIR/0 from `tc_probe regen`)"""
import gzip, shutil, sys

probe, regen = sys.argv[1], sys.argv[2]
out = "test/fixtures/tensorcore/probe"
T = 500
rec = open(f"{probe}/cases.bin", "rb").read()
for f, name in [(0, "e4m3"), (1, "e5m2")]:
    sel = b"".join(rec[i:i + 80] for i in range(0, len(rec), 80) if rec[i + 72] == f)
    open(f"{out}/cases_{name}.bin.gz", "wb").write(gzip.compress(sel, 9, mtime=0))
parts = {"A": (f"{regen}/0/A.bin", 512), "Bt": (f"{regen}/0/Bt.bin", 256), "C": (f"{regen}/0/C.bin", 512), "D": (f"{probe}/rand_e4m3_0.bin", 512)}
for k, (p, per) in parts.items():
    open(f"{out}/rand_e4m3_{k}.bin.gz", "wb").write(gzip.compress(open(p, "rb").read()[:T * per], 9, mtime=0))
shutil.copy(f"{probe}/log.txt", f"{out}/log.txt")
