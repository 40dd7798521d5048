"""Keep the sim process and the measured clients on different CPUs.

On a 2-core machine the scheduler sometimes runs the client's engine thread on the same
core as the sim process; a whole stream then takes up to 1.7x longer (seen in about one run
in four of bench/throughput.py before pinning). Pinning the sim's process to the last CPU
and this process to the others treats every client alike and removes that noise.
"""

from __future__ import annotations

import os
from pathlib import Path


def pin_apart() -> str:
    """Pin child processes (the sim) to the last CPU and this process's threads to the rest."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2 or not os.path.isdir("/proc/self/task"):
        return "CPUs not pinned (needs Linux and 2 CPUs)"
    sim_cpu, mine = {cpus[-1]}, set(cpus[:-1])
    children = [int(pid) for task in os.listdir("/proc/self/task")
                for pid in Path(f"/proc/self/task/{task}/children").read_text().split()]
    for pid in children:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), sim_cpu)
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), mine)
    return f"pinned: sim process on CPU {cpus[-1]}, clients on CPU(s) {sorted(mine)}"
