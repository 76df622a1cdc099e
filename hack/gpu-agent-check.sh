#!/usr/bin/env bash
# One run of `prescaler agent` against a real GPU (docs/agent.md, "Checked on
# a real GPU"): idle, then under a bf16 matmul load with 20 GiB allocated, the
# agent's metrics next to nvidia-smi's.
#
# Usage: hack/gpu-agent-check.sh [BINARY]   (default bin/prescaler; a .gz is unpacked)
# Needs nvidia-smi, a GPU, and python3 with PyTorch for the load; writes its
# files to $OUT (default: a temporary folder).
set -u
OUT=${OUT:-$(mktemp -d)}
bin=${1:-bin/prescaler}
if [[ $bin == *.gz ]]; then mkdir -p /tmp/p && gunzip -c "$bin" > /tmp/p/prescaler && chmod +x /tmp/p/prescaler && bin=/tmp/p/prescaler; fi
echo "== machine"; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv
ldconfig -p | grep -i nvidia-ml || ls /usr/local/nvidia/lib64 2>/dev/null | grep nvidia-ml
"$bin" version
"$bin" agent --listen 127.0.0.1:9400 --node-name gpu-check --log-format json > $OUT/agent.log 2>&1 &
AGENT=$!
scrape() { python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9400/metrics',timeout=10).read().decode())"; }
for i in $(seq 1 20); do scrape > /dev/null 2>&1 && break; sleep 0.5; done
smi() { nvidia-smi --query-gpu=utilization.gpu,utilization.memory,memory.used,power.draw --format=csv,noheader; }
echo "== idle"; scrape > $OUT/metrics-idle.txt; smi | tee $OUT/smi-idle.csv; grep -E '^prescaler_agent_' $OUT/metrics-idle.txt
python3 - <<'PY' > $OUT/load.log 2>&1 &
import torch, time
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
hold = torch.empty(20 * 1024**3 // 2, dtype=torch.bfloat16, device="cuda")  # 20 GiB
t = time.time(); n = 0
while time.time() - t < 30:
    c = a @ b; n += 1
    if n % 50 == 0: torch.cuda.synchronize()
torch.cuda.synchronize(); print("matmuls", n, "in", round(time.time() - t, 1), "s")
PY
LOAD=$!
sleep 18
echo "== busy"; scrape > $OUT/metrics-busy.txt; smi | tee $OUT/smi-busy.csv; grep -E '^prescaler_agent_' $OUT/metrics-busy.txt
wait $LOAD; cat $OUT/load.log
echo "== after"; sleep 2; scrape > $OUT/metrics-after.txt; grep -E '^prescaler_agent_gpu_(utilization|memory_used)' $OUT/metrics-after.txt
kill -TERM $AGENT; wait $AGENT; echo "agent exit $?"
echo "== agent log"; cat $OUT/agent.log
