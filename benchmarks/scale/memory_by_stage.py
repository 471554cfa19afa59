"""Peak resident memory of `dbsynth run` per stage, on the scale benchmark's shop at a factor.

    .venv/bin/python benchmarks/scale/memory_by_stage.py 2

The run is in this process. At each progress step (stage and detail) the kernel's high-water mark
of its resident memory (VmHWM) is read for the step that ended and reset (`/proc/self/clear_refs`),
so each step's peak is exact, however short; printed with the stage times at the end (steps above
300 MiB). Where the mark cannot be reset, a thread reading VmRSS every half second stands in.
"""
import sys, time, threading
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks" / "sizes")]
import generate
from servers import PostgresServer
from dbsynth import pipeline
SHAPE = {"orders_mu": 1.92, "lines_mu": 0.75}
factor = float(sys.argv[1])
srv = PostgresServer().start()
src = srv.create_database("src"); print(generate.build(src, factor, **SHAPE), flush=True)
tgt = srv.create_database("dst")
state = {"stage": "start", "t0": time.perf_counter()}
peaks = {}
def rss(field="VmRSS"):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024
def reset_mark():
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark back to the current RSS
        return True
    except OSError:
        return False
exact = reset_mark()
def poll():
    while state["stage"] != "done":
        r = rss(); peaks[state["stage"]] = max(peaks.get(state["stage"], 0), r); time.sleep(0.5)
threading.Thread(target=poll, daemon=True).start()
def progress(stage, detail=""):
    key = f"{stage}: {str(detail)[:40]}"
    if key != state["stage"]:
        if exact:
            peaks[state["stage"]] = max(peaks.get(state["stage"], 0), rss("VmHWM"))
            reset_mark()
        state["stage"] = key
res = pipeline.run(pipeline.RunOptions(source=src, target=tgt, epsilon=1.0, seed=0), progress=progress)
if exact:
    peaks[state["stage"]] = max(peaks.get(state["stage"], 0), rss("VmHWM"))
state["stage"] = "done"
print(res.seconds, res.rows if hasattr(res, "rows") else "")
for k, v in peaks.items():
    if v > 300: print(f"{v:6d} MiB  {k}")
srv.stop()
