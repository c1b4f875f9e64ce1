"""The shim's cost per call measured inside one process (bench_hook_cost), for
scripts/bench.

Separate runs of native and traced programs differ by +-4% from run to run on
a shared VM, more than the shim's whole cost on these workloads. Inside one
process, bench_hook_cost alternates blocks of ~1 ms that call libc directly
with blocks that call through the shim, so drift cancels and the shim's
cost per call stands out. Run without the shim (both sides then call libc),
the same program gives the method's noise floor: the control column.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

RUN_TIMEOUT_S = 300


@dataclasses.dataclass
class Case:
    mode: str  # bench_hook_cost MODE
    label: str
    connleak_env: dict[str, str]


CASES = [
    Case("socket_close", "socket()+close(), 32-frame stacks", {}),
    Case("socket_close", "socket()+close(), stacks off (DEPTH=0)", {"CONNLEAK_STACK_DEPTH": "0"}),
    Case("io_socketpair", "write/read 64 B, socketpair", {}),
    Case("io_pipe", "write/read 64 B, pipes", {}),
]


@dataclasses.dataclass
class Sample:
    ratio: float  # median over block pairs of wrapped / direct
    direct_ns: float
    wrapped_ns: float


class HookCost:
    def __init__(self, program: Path, shim: Path, env: dict[str, str], tmp: Path, runs: int,
                 block_pairs: int, modes: set[str] | None):
        self.program = program
        self.shim = shim
        self.env = env
        self.tmp = tmp
        self.runs = runs
        self.block_pairs = block_pairs
        self.cases = [c for c in CASES if modes is None or c.mode in modes]
        self.traced: dict[str, list[Sample]] = {}  # by label
        self.control: dict[str, list[Sample]] = {}  # by mode
        self.errors: list[str] = []

    def run(self, say) -> None:
        if not self.cases:
            return
        say(f"\nper-call cost inside one process: bench_hook_cost, {self.runs} run(s) per case of "
            f"{self.block_pairs} block pairs (direct libc vs through the shim), and each mode once "
            "without the shim per run (control)")
        for run in range(self.runs):
            for mode in dict.fromkeys(c.mode for c in self.cases):
                self.sample(self.control.setdefault(mode, []), mode, None)
            for case in self.cases:
                self.sample(self.traced.setdefault(case.label, []), case.mode, case.connleak_env)
            say(f"  run {run + 1}/{self.runs}: " + ", ".join(
                f"{label} {samples[-1].ratio:.3f}" for label, samples in self.traced.items() if samples))

    def sample(self, into: list[Sample], mode: str, connleak_env: dict[str, str] | None) -> None:
        env = self.env
        traces = None
        if connleak_env is not None:
            traces = Path(tempfile.mkdtemp(prefix="hook-cost-", dir=self.tmp))
            env = dict(env, LD_PRELOAD=str(self.shim), CONNLEAK_OUTPUT_DIR=str(traces), **connleak_env)
        argv = [str(self.program), mode, str(self.block_pairs)]
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            if proc.returncode != 0:
                raise ValueError(f"exit status {proc.returncode}: {proc.stderr.strip()[-300:]}")
            if traces is not None and not any(traces.iterdir()):
                raise ValueError("the shim wrote no trace (did it load?)")
            ratio, direct, wrapped = (float(x) for x in proc.stdout.split())
            into.append(Sample(ratio, direct, wrapped))
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            self.errors.append(f"bench_hook_cost {mode} ({'traced' if traces else 'control'}): {e}")
        finally:
            if traces is not None:
                shutil.rmtree(traces, ignore_errors=True)

    def ratio(self, label: str) -> tuple[float, float, int] | None:
        """(median ratio through the shim, median control ratio, runs), or None."""
        case = next((c for c in self.cases if c.label == label), None)
        traced = self.traced.get(label)
        control = self.control.get(case.mode) if case else None
        if not traced or not control:
            return None
        return (statistics.median(s.ratio for s in traced), statistics.median(s.ratio for s in control),
                len(traced))

    def table_rows(self) -> list[list[str]]:
        rows = []
        for case in self.cases:
            measured = self.ratio(case.label)
            if measured is None:
                continue
            traced = self.traced[case.label]
            ratios = [s.ratio for s in traced]
            rows.append([case.label,
                         f"{statistics.median(s.direct_ns for s in traced):.0f} ns",
                         f"{statistics.median(s.wrapped_ns for s in traced):.0f} ns",
                         f"{measured[0]:.3f}x", f"{min(ratios):.3f}-{max(ratios):.3f}",
                         f"{measured[1]:.3f}x", str(measured[2])])
        return rows
