#!/usr/bin/env python3
"""py-combtest's execution model, as a baseline for labdeck's walk executor.

A faithful reduction of py-combtest (Isilon/py-combtest) without its rpyc/multiprocessing
transport: Action classes with OPTIONS, walks as the itertools.product of option sets (last
action fastest), a per-walk `dynamic_ctx` state object, each action's `run(param, ctx)` called
in order, and the trace py-combtest writes: one JSON line per walk segment, fsynced.

Two modes:
  combtest_model.py N              N walks of 3 no-op actions (executor overhead), with the
                                   trace fsynced per walk and without fsync; prints
                                   `steps_per_second X` and `steps_per_second_nofsync X`.
  combtest_model.py --ssh N HOSTS  N walks of 2 shell actions, spread round-robin over the
                                   given `user@host:port` targets, each action one OpenSSH
                                   command through a ControlMaster connection (py-combtest runs
                                   shell work through its own remote workers; ControlMaster is
                                   the fastest way the same Python can reach a host);
                                   needs SSH_OPTS (e.g. `-i KEY -o UserKnownHostsFile=F`).
                                   prints `walks_per_second X`.
"""

import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


class Action:
    OPTIONS = ()

    def __init__(self, param):
        self.param = param

    def run(self, param, dynamic_ctx):  # py-combtest's signature
        raise NotImplementedError

    def __call__(self, dynamic_ctx):
        return self.run(self.param, dynamic_ctx)

    @classmethod
    def get_option_set(cls):
        return [cls(option) for option in cls.OPTIONS]


def make_noop(name, options):
    class Noop(Action):
        OPTIONS = options

        def run(self, param, dynamic_ctx):
            dynamic_ctx[name] = param

    Noop.__name__ = name
    return Noop


class Walk:
    def __init__(self, actions):
        self.actions = list(actions)

    def execute(self, dynamic_ctx):
        for action in self.actions:
            action(dynamic_ctx)
        return False  # not cancelled (py-combtest's CancelWalk flag)


def run_noop(walks, fsync=True):
    per = max(1, round(walks ** (1.0 / 3)))
    classes = [make_noop(n, tuple([0] * per)) for n in ("a", "b", "c")]
    option_sets = [cls.get_option_set() for cls in classes]
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "trace.jsonl")
        started = time.perf_counter()
        count = 0
        with open(trace_path, "w") as trace:
            for walk_id, actions in enumerate(itertools.product(*option_sets)):
                walk = Walk(actions)
                ctx = {}
                walk.execute(ctx)
                record = {"walk_id": walk_id,
                          "walk": [type(a).__name__ + "(" + repr(a.param) + ")" for a in actions],
                          "serial_action": None}
                trace.write(json.dumps(record) + "\n")
                if fsync:
                    trace.flush()
                    os.fsync(trace.fileno())
                count += 1
        elapsed = time.perf_counter() - started
    steps = count * 3
    how = "trace fsynced per walk" if fsync else "trace buffered, never fsynced"
    print(f"py-combtest model: {count} walks ({steps} steps) in {elapsed:.3f} s = "
          f"{steps / elapsed:.0f} steps/s ({how})")
    print(f"steps_per_second{'' if fsync else '_nofsync'} {steps / elapsed:.1f}")


def run_ssh(walks, targets):
    opts = shlex.split(os.environ.get("SSH_OPTS", ""))
    control_dir = tempfile.mkdtemp(prefix="cm")
    masters = []

    def base(target, index):
        user_host, port = target.rsplit(":", 1)
        return ["ssh", "-p", port, "-o", "BatchMode=yes", "-o", "ControlMaster=auto",
                "-o", f"ControlPath={control_dir}/{index}", "-o", "ControlPersist=60",
                *opts, user_host]

    for i, t in enumerate(targets):
        subprocess.run(base(t, i) + ["true"], check=True)
        masters.append(base(t, i))

    def shell(testbed, command):
        return subprocess.run(masters[testbed] + [command], capture_output=True).returncode

    class First(Action):
        OPTIONS = tuple(range(10))

        def run(self, param, dynamic_ctx):
            return shell(dynamic_ctx["testbed"], f"echo {param} > /tmp/combtest-a")

    class Second(Action):
        OPTIONS = tuple(range(max(1, walks // 10)))

        def run(self, param, dynamic_ctx):
            return shell(dynamic_ctx["testbed"], f"test -n {param}")

    all_walks = list(itertools.product(First.get_option_set(), Second.get_option_set()))[:walks]
    with tempfile.TemporaryDirectory() as tmp:
        trace = open(os.path.join(tmp, "trace.jsonl"), "w")

        def one_testbed(testbed):
            for walk_id in range(testbed, len(all_walks), len(targets)):
                Walk(all_walks[walk_id]).execute({"testbed": testbed})
                trace.write(json.dumps({"walk_id": walk_id, "walk": [], "serial_action": None}) + "\n")
                trace.flush()
                os.fsync(trace.fileno())

        started = time.perf_counter()
        with ThreadPoolExecutor(len(targets)) as pool:
            list(pool.map(one_testbed, range(len(targets))))
        elapsed = time.perf_counter() - started
        trace.close()
    for i, t in enumerate(targets):
        subprocess.run(base(t, i)[:-1] + ["-O", "exit", base(t, i)[-1]], capture_output=True)
    print(f"py-combtest model over ssh: {len(all_walks)} walks in {elapsed:.3f} s = "
          f"{len(all_walks) / elapsed:.1f} walks/s on {len(targets)} testbeds")
    print(f"walks_per_second {len(all_walks) / elapsed:.3f}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--ssh":
        run_ssh(int(sys.argv[2]), sys.argv[3:])
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
        run_noop(n, fsync=True)
        run_noop(n, fsync=False)
