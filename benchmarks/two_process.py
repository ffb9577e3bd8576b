"""Multi-host sweeps with `jax.distributed`, shown with two processes on one machine.

The launcher starts two Python processes that each call

    jax.distributed.initialize(coordinator_address="127.0.0.1:PORT", num_processes=2, process_id=i)

(on a real cluster: one process per host, the coordinator on host 0; under SLURM or Cloud
TPU `jax.distributed.initialize()` finds these by itself). Each process then fits its own
share of the groups (`groups[process_index::process_count]`) with `scalinglaws.fit(...,
by=...)`, whose batches are split over that process's local devices (`scalinglaws.sharding`
works on local devices only: independent fits need no cross-host communication). The
results are gathered with `jax.experimental.multihost_utils.process_allgather` when this
JAX build supports cross-process collectives on CPU; otherwise each process writes its
share and the launcher merges them, and the script says which happened. Finally the
merged objectives are compared with a single-process sweep of all groups (they must be
equal: every group's fit is computed the same way wherever it runs).

Usage: `python benchmarks/two_process.py` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys, warnings
import jax
import numpy as np
import pandas as pd

port, process_id, csv, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
import scalinglaws as sl

frame = pd.read_csv(csv)
groups = sorted(frame["dataset"].unique())
mine = groups[jax.process_index()::jax.process_count()]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sweep = sl.fit("power-n", frame[frame["dataset"].isin(mine)], by="dataset", starts=200)
objectives = {int(f.group): float(f.result.objective) for f in sweep}
info = {"process_index": jax.process_index(), "process_count": jax.process_count(),
        "global_devices": jax.device_count(), "local_devices": jax.local_device_count(), "groups": len(mine)}
try:
    from jax.experimental import multihost_utils
    keys = np.array(sorted(objectives), dtype=np.int64)
    values = np.array([objectives[k] for k in sorted(objectives)])
    # In float64 (the caller's JAX default may be float32, which would round the objectives).
    with sl.precision.in_float64():
        gathered = multihost_utils.process_allgather(np.stack([keys.astype(float), values], axis=1))
    info["allgather"] = "ok"
    info["gathered"] = {str(int(k)): float(v) for k, v in np.asarray(gathered).reshape(-1, 2)}
except Exception as error:  # CPU cross-process collectives may be missing from this build
    info["allgather"] = f"unavailable: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
info["objectives"] = {str(k): v for k, v in objectives.items()}
Path = __import__("pathlib").Path
Path(out).write_text(json.dumps(info))
jax.distributed.shutdown()
"""

SINGLE = r"""
import json, sys, warnings
import pandas as pd
import scalinglaws as sl
frame = pd.read_csv(sys.argv[1])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sweep = sl.fit("power-n", frame, by="dataset", starts=200)
print(json.dumps({str(int(f.group)): float(f.result.objective) for f in sweep}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frames = []
    for i in range(8):  # equal sizes (even, so both processes pad the same way)
        N = np.geomspace(1e7, 1e10, 16) * np.exp(0.1 * rng.standard_normal(16))
        loss = (1.7 + 400.0 * N**-0.33) * np.exp(0.01 * rng.standard_normal(16))
        frames.append(pd.DataFrame({"dataset": i, "N": N, "loss": loss}))
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "runs.csv")
        pd.concat(frames).to_csv(csv, index=False)
        port = _free_port()
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        outs = [str(Path(tmp) / f"out{i}.json") for i in range(2)]
        procs = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(port), str(i), csv, outs[i]], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)
        ]
        for i, p in enumerate(procs):
            _, err = p.communicate(timeout=900)
            if p.returncode != 0:
                sys.exit(f"process {i} failed:\n{err[-3000:]}")
        infos = [json.loads(Path(o).read_text()) for o in outs]
        for info in infos:
            shown = {k: v for k, v in info.items() if k not in ("objectives", "gathered")}
            print(f"process {info['process_index']}: {shown}")
        merged = {k: v for info in infos for k, v in info["objectives"].items()}
        if all(info["allgather"] == "ok" for info in infos):
            print("cross-process gather (process_allgather over jax.distributed): ok")
            assert infos[0]["gathered"] == infos[1]["gathered"] == merged
        else:
            print("cross-process collectives are not available on CPU in this JAX build: each process wrote its "
                  "share and the launcher merged them (independent fits need no collective).")
        single = json.loads(subprocess.run([sys.executable, "-c", SINGLE, csv], capture_output=True, text=True,
                                           env=env, check=True).stdout.strip().splitlines()[-1])
        worst = max(abs(merged[k] - single[k]) / abs(single[k]) for k in single)
        print(f"{len(merged)} groups fitted across 2 processes; worst relative objective difference vs one process: "
              f"{worst:.2e}")


if __name__ == "__main__":
    main()
