"""Issue 25's mutation audit, re-runnable: each guarantee below is broken on purpose in a copy of
the tree, and the test named for it must then fail (and pass on the unbroken copy).

Run: ``python tests/mutation_audit.py`` (about 3 minutes on 2 cores; ``-k NAME`` for some). Prints
one line per mutation and exits non-zero if a mutation survives or a test fails unmutated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: (file, original, mutated, test node id)
MUTATIONS: dict[str, tuple[str, str, str, str]] = {
    "theta0-pairing": (
        "taskdistill_rl/algorithms/ppmo.py",
        "yield self._read(grouped[rows, perm[:, start : start + per_group]]), rollout.theta0",
        "yield self._read(grouped[rows, perm[:, start : start + per_group]]), "
        "{n: p[:1].expand_as(p) for n, p in rollout.theta0.items()}",
        "tests/test_inits_per_epoch.py::test_each_minibatch_row_is_scored_with_the_initialisation_that_collected_it",
    ),
    "encoder-gradient-through-inner-step": (
        "taskdistill_rl/objectives/ppmo.py",
        "features = ds.encode(ds.observation)",
        "features = torch.func.functional_call(ds.encoder, "
        "{k: v.detach() for k, v in ds.encoder.named_parameters()}, (ds.observation,))",
        "tests/objectives/test_ppmo.py::test_the_encoder_gradient_flows_through_the_inner_step_as_well_as_through_acting",
    ),
    "obs-norm-in-training-rollouts": (
        "taskdistill_rl/algorithms/ppmo.py",
        "self.acting if wrap is None else wrap(self.acting)",
        "self.acting",
        "tests/test_inits_per_epoch.py::test_training_rollouts_act_on_normalised_observations",
    ),
    "obs-norm-in-evaluation": (
        "taskdistill_rl/evaluate.py",
        "obs = self.ds.encode(self.ds.normalize(to_device(obs, self.device)))",
        "obs = self.ds.encode(to_device(obs, self.device))",
        "tests/test_evaluate.py::test_evaluation_normalises_observations_with_the_files_statistics",
    ),
    "rank-0-statistics-merged-W-times": (
        "taskdistill_rl/algorithms/ppmo.py",
        "for moments in self.group.gather(local):",
        "for moments in [self.group.gather(local)[0]] * self.group.size:",
        "tests/test_distributed.py::test_the_merged_observation_statistics_are_those_of_every_ranks_frames",
    ),
    "metrics-logger-on-every-rank": (
        "taskdistill_rl/distill.py",
        "if self.out_dir is not None and self.writes:\n            loggers = run_loggers(",
        "if self.out_dir is not None:\n            loggers = run_loggers(",
        "tests/test_distributed.py::test_only_rank_0_logs_metrics",
    ),
    "teacher-states-keeps-first-finalist": (
        "taskdistill_rl/baselines/state_search.py",
        "winner = int(scores.argmax())",
        "winner = 0",
        "tests/baselines/test_teacher_states.py::test_the_search_returns_the_finalist_with_the_best_final_score",
    ),
    "candidate-pool-worst-first": (
        "taskdistill_rl/baselines/state_search.py",
        "ranked = sorted(self.entries.values(), key=lambda e: e[1] / e[2], reverse=True)",
        "ranked = sorted(self.entries.values(), key=lambda e: e[1] / e[2])",
        "tests/baselines/test_teacher_states.py::test_the_final_phase_rescores_the_best_screened_candidates_best_first",
    ),
}


def run_test(tree: Path, node: str) -> tuple[bool, str]:
    """Whether ``node`` passes against the package in ``tree``, and pytest's output."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", node],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-k", action="append", default=[], help="only mutations whose name contains this")
    args = parser.parse_args()
    chosen = {n: m for n, m in MUTATIONS.items() if not args.k or any(k in n for k in args.k)}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        for rel in tracked.stdout.splitlines():
            if (ROOT / rel).is_file():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, tree / rel)
        where = subprocess.run(
            [sys.executable, "-c", "import taskdistill_rl; print(taskdistill_rl.__file__)"],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert where.startswith(str(tree)), f"the copy's package is not the one imported: {where}"
        for name, (rel, original, mutated, node) in chosen.items():
            path = tree / rel
            source = path.read_text()
            assert source.count(original) == 1, f"{name}: {rel} no longer holds the mutated line once"
            clean, _ = run_test(tree, node)
            path.write_text(source.replace(original, mutated))
            try:
                passed, output = run_test(tree, node)
            finally:
                path.write_text(source)
            # caught by the test's assertion, not by a mutation that breaks the code outright
            caught = not passed and "AssertionError" in output and "SyntaxError" not in output
            ok = clean and caught
            failures += not ok
            print(
                f"{'caught  ' if ok else 'MISSED  '} {name}: unmutated {'passes' if clean else 'FAILS'}, "
                f"mutated {'fails' if caught else 'PASSES' if passed else 'CRASHES (no AssertionError)'} "
                f"({node.split('::')[1]})",
                flush=True,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
