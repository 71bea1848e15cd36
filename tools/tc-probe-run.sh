#!/bin/sh
# Run tools/tc_probe_fp8.cu on a Hopper GPU: OUT=dir sh tools/tc-probe-run.sh [ref.bin]
# (ref.bin: the H100 e4m3 reference tiles as raw A, Bt, C, D; see tools/tc_probe_fp8.cu)
set -e
D=$(dirname "$0")
nvcc -O2 -gencode arch=compute_90a,code=sm_90a -o /tmp/tc_probe "$D/tc_probe_fp8.cu"
/tmp/tc_probe probe "$OUT" "$@" || echo "probe exited with $?" >> "$OUT/log.txt"
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  nvcc --version | tail -1
  for x in $(command -v cuobjdump) /usr/local/cuda*/bin/cuobjdump; do
    if [ -x "$x" ]; then "$x" -sass /tmp/tc_probe | grep -E 'Function|MMA|GMMA|F2F|HADD2|I2F|PRMT' | head -120; break; fi
  done
} >> "$OUT/log.txt" 2>&1
ls -la "$OUT"
