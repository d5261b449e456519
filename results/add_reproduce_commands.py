"""Give every committed result an epoch-bounded command that reproduces its tensors whatever the
machine's speed (issue 12), from its config.toml and the meta-epochs it reached. Distillations'
commands are rewritten whenever a default changed since the run (e.g. the ``fast`` preset's critic
lr, 1e-3 until issue 15): the command then names the old value.

Run: ``python results/add_reproduce_commands.py`` (idempotent).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from taskdistill_rl.config import DistillConfig
from taskdistill_rl.io import write_json
from taskdistill_rl.results import distill_command

ROOT = Path(__file__).parent
FIELDS = {f.name for f in dataclasses.fields(DistillConfig)}


def distill_config(config_toml: Path, **overrides) -> DistillConfig:
    data = tomllib.loads(config_toml.read_text())
    data = {k: v for k, v in data.items() if k in FIELDS and k != "time_budget"}
    return DistillConfig(**{**data, **overrides})


def baseline_command(config_toml: Path, frames: int) -> str:
    cfg = tomllib.loads(config_toml.read_text())
    kwargs = " ".join(f"--env-kwargs {k}={v}" for k, v in cfg.get("env_kwargs", {}).items())
    steps = f" --timesteps {frames}" if cfg["algo"] == "ppo" else ""
    return (
        f"taskdistill baseline --env {cfg['env']} {kwargs} --algo {cfg['algo']}{steps} "
        f"--episodes {cfg['episodes']} --seed {cfg['seed']} --out OUT"
    ).replace("  ", " ")


def main() -> None:
    for path in sorted(ROOT.rglob("summary.json")):
        summary = json.loads(path.read_text())
        config = path.with_name("config.toml")
        if not config.is_file() or ("reproduce" in summary and summary["kind"] != "distill"):
            continue
        if summary["kind"] == "distill":
            nproc = summary.get("world_size", 1)
            command = distill_command(distill_config(config), summary["meta_epochs"], nproc=nproc)
        else:
            command = baseline_command(config, summary["env_frames"])
        if summary.get("reproduce") == command:
            continue
        summary["reproduce"] = command
        write_json(path, summary)
        print(f"{path.relative_to(ROOT)}: {summary['reproduce']}")
    for path in sorted(ROOT.rglob("kmin.json")):
        kmin = json.loads(path.read_text())
        run = tomllib.loads(path.with_name("config.toml").read_text())
        for k, row in kmin["results"].items():
            if "reproduce" not in row:  # kmin's config.toml names the preset, not its values
                cfg = distill_config(
                    path.with_name("config.toml"),
                    k=int(k),
                    final_learners=run["n_learners"],
                    final_episodes=run["episodes"],
                )
                row["reproduce"] = distill_command(cfg, row["meta_epochs"])
        write_json(path, kmin)
        print(f"{path.relative_to(ROOT)}: {len(kmin['results'])} commands")


if __name__ == "__main__":
    main()
