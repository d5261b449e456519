"""``DistillConfig``: every option of a distillation run, with the presets."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace

from taskdistill_rl.devices import check_device
from taskdistill_rl.errors import InvalidInputError

# Appendix A of the paper, and the fastest schedule we measured that reaches the same returns
# (README / docs: 1D k=2 and 2D k=3 numbers). Frame-based: "10 episodes per meta-epoch" is read
# as 10 parallel envs x 200 steps (the paper's rollout length).
# Atari: appendix A's Adam 2.5e-4 and 200-step rollouts, 8 envs as Huang et al. (the appendix
# names no count); the default whenever the env is an ALE game.
PRESETS: dict[str, dict] = {
    "paper": {
        "distiller_lr": 2.5e-4,
        "critic_lr": 2.5e-4,
        "num_envs": 10,
        "steps_per_env": 200,
        "inits_per_epoch": 1,
        "inner_lr_lr": 2.5e-4,
    },
    "fast": {
        "distiller_lr": 3e-3,
        "critic_lr": 3e-3,
        "num_envs": 128,
        "steps_per_env": 50,
        "inits_per_epoch": 16,
        "inner_lr_lr": 3e-2,
    },
    "atari": {
        "distiller_lr": 2.5e-4,
        "critic_lr": 2.5e-4,
        "num_envs": 8,
        "steps_per_env": 200,
        "inits_per_epoch": 1,
        "inner_lr_lr": 2.5e-4,
    },
}
# Learning fields added after checkpoints existed, and the default under which they are hashed away.
ADDED_LATER = {
    "learner": None,
    "env_backend": "gymnasium",
    "algo": "ppmo",
    "algo_options": {},
    "env_family": None,
}
# PPMO's section of the config: fields only `--algo ppmo` reads (the presets are PPMO schedules). They
# stay top-level fields (every flag, config file and checkpoint hash of a PPMO run is unchanged);
# another algorithm refuses them and keeps its own options in `algo_options`.
PPMO_OPTIONS = frozenset(
    {
        "preset",
        "distiller_lr",
        "critic_lr",
        "inner_lr_lr",
        "inits_per_epoch",
        "policy_epochs",
        "minibatch_size",
        "gamma",
        "gae_lambda",
        "clip_epsilon",
        "entropy_coeff",
        "max_grad_norm",
        "scale_rewards",
        "max_divergences",
    }
)
# Options that do not change what is learned; excluded from the checkpoint's config hash.
RUN_CONTROL = {
    "epochs",
    "time_budget",
    "target_return",
    "eval_interval",
    "checkpoint_interval",
    "final_learners",
    "final_episodes",
    "device",
    "cudnn_benchmark",
    "max_divergences",
    "env_workers",
}
# Learning fields the checkpoint itself records and the algorithm compares on load, by name: MuJoCo's
# default scaling changed (issue 28), so a hashed `None` would mean one thing before and another after.
CHECKED_ON_LOAD = {"scale_rewards"}
# Learning fields a resume may change with a warning instead of a refusal: the run goes on from the
# saved tensors, but is no longer bit-identical to an uninterrupted one.
WARNED_ON_RESUME = {"threads"}


def k_min(n_actions: int) -> int:
    """Paper Eq. 3: the fewest soft-labelled instances that separate ``n_actions`` classes."""
    return math.ceil(n_actions / 2) + 1


@dataclass(frozen=True)
class DistillConfig:
    """One distillation run. ``None`` fields are filled from the preset / environment."""

    env: str = "NDCartPole-v0"
    """Environment id (any gymnasium id; NDCartPole-v0 uses the batched torch env)."""
    env_kwargs: dict = field(default_factory=dict)
    """Environment constructor arguments, e.g. {"n_dims": 2}."""
    env_family: str | None = None
    """An env family from outside the package, ``module.path:NAME`` (an ``envs.families.EnvFamily``
    record), registered before the env's defaults are resolved; None: the package's families."""
    algo: str = "ppmo"
    """The outer algorithm: a name of ``algorithms.ALGORITHMS`` or ``module.path:ClassName``."""
    algo_options: dict = field(default_factory=dict)
    """Options of an algorithm other than PPMO (its ``Options`` dataclass's fields); PPMO's own
    are the fields of ``PPMO_OPTIONS``."""
    k: int | None = None
    """Distilled instances; default ceil(c/2)+1 for c discrete actions, 64 for continuous."""
    preset: str | None = None
    """"fast" (our measured default), "paper" (appendix A) or "atari" (appendix A's Atari
    schedule); default: the env family's (envs/families.py)."""
    epochs: int | None = None
    """Stop after this many meta-epochs."""
    time_budget: float | None = None
    """Stop after this many seconds of training."""
    target_return: float | None = None
    """Stop once the periodic evaluation's mean return reaches this."""
    seed: int = 0
    """Seeds the dataset init, learner inits, rollouts and shuffling."""
    device: str = "cpu"
    """Torch device of the run (``cpu``, ``cuda``, ``cuda:1``): the dataset, learners, critic,
    rollouts and evaluations live there; files and checkpoints are always written from CPU
    copies. The default is the CPU whatever the machine has: a CUDA run of one seed gives another
    file than a CPU run (docs/concepts.md#devices)."""
    threads: int | None = None
    """CPU threads for torch's kernels (default: the env family's, envs/families.py). Part of what is
    learned: another count sums floats in another order, so a seed reproduces its tensors only
    under the same count (docs/concepts.md#threads). A run sets it for its own duration."""
    cudnn_benchmark: bool = False
    """CUDA only: let cuDNN benchmark and pick the fastest convolutions (Atari's Nature-CNN) instead
    of deterministic ones; faster, but a seed no longer gives the same run."""
    num_envs: int | None = None
    """Parallel environments per rollout (preset)."""
    env_backend: str = "gymnasium"
    """Atari emulation: "gymnasium" (ale-py and its wrappers, one worker process per game) or
    "envpool" (the same conventions in EnvPool's C++ threads; docs/atari.md); recorded in the
    file's meta["env_backend"]."""
    env_workers: int | None = None
    """Processes stepping the training envs, for families that fork their rollouts (MuJoCo:
    every usable core by default; 1 steps them in the run's own process). The rollouts are the
    same whatever the count (tests/test_env_workers.py)."""
    steps_per_env: int | None = None
    """Rollout length per env per meta-epoch (preset); frames = num_envs * steps_per_env."""
    distiller_lr: float | None = None
    """Adam step size on the dataset (preset)."""
    critic_lr: float | None = None
    """Adam step size on the critic (preset)."""
    inner_lr_lr: float | None = None
    """Adam step size on the log inner lr (preset; the paper's is the distiller's). The inner lr
    starts at 0.02 and keeps growing for as long as a run lasts (the `fast` 1D files of 60 s end
    at 16-35, 2D at 59-66, 3D-5D at 25-199): at the distiller's 3e-3 per step the first climb
    to ~1 alone would take ~1,700 updates."""
    inits_per_epoch: int | None = None
    """Initialisations M per meta-epoch (preset): the envs are split into M groups, each acting
    with its own initialisation's one-step learner, and the loss is the mean over all
    (initialisation, frame) pairs, so the dataset is shaped by the spread of Λ, not one draw."""
    policy_epochs: int = 4
    """PPO epochs over each rollout."""
    minibatch_size: int = 512
    """Frames per PPO minibatch (the last one may be partial)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_epsilon: float = 0.2
    """PPO clip ε."""
    entropy_coeff: float = 0.0
    """Entropy bonus weight (Eq. 1 has none)."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip for the dataset and for the critic."""
    inner_steps: int = 1
    """Inner SGD steps (1 is the product's promise)."""
    encoder_layers: int = 0
    """Encoder rollback layers (Atari issue); 0 = full distillation."""
    learner: str | None = None
    """The learner distribution the file is distilled for: a name of ``learners.LEARNERS`` (yours
    too, once registered there) or ``"LxH"``; it must have one architecture. None: the paper's
    (Λ for vector observations, the Nature-CNN for images)."""
    scale_rewards: bool | None = None
    """Learn from rewards divided by the running std of the discounted return
    (:mod:`~taskdistill_rl.reward_scaling`, Huang et al.'s MuJoCo detail; scores stay raw). Default:
    the env family's."""
    normalize_obs: bool | None = None
    """Normalise observations with running statistics frozen into the file (default: the env
    family's; MuJoCo's only)."""
    eval_interval: int | None = None
    """Meta-epochs between periodic evaluations (default: the env family's)."""
    eval_learners: int | None = None
    """Fresh learners per periodic evaluation (default: the env family's)."""
    eval_episodes: int | None = None
    """Sampled episodes per learner per periodic evaluation (default: the env family's)."""
    final_learners: int | None = None
    """Learners in the final evaluation (default: the env family's)."""
    final_episodes: int | None = None
    """Episodes per learner in the final evaluation (default: the env family's)."""
    checkpoint_interval: int = 25
    """Meta-epochs between checkpoints."""
    max_divergences: int = 3
    """Consecutive diverged meta-epochs (non-finite loss or gradient) before the run stops."""

    def __post_init__(self) -> None:
        if not isinstance(self.algo, str) or not self.algo:
            raise InvalidInputError(f"algo must be a name or module.path:ClassName, got {self.algo!r}")
        if not isinstance(self.algo_options, dict):
            raise InvalidInputError(f"algo_options must be a dict, got {self.algo_options!r}")
        if self.algo != "ppmo":
            defaults = {f.name: f.default for f in fields(self)}
            given = sorted(name for name in PPMO_OPTIONS if getattr(self, name) != defaults[name])
            if given:
                raise InvalidInputError(
                    f"{', '.join(given)}: option(s) of --algo ppmo, which --algo {self.algo} does not read "
                    "(its own go in algo_options / --algo-option KEY=VALUE)"
                )
        elif self.algo_options:
            raise InvalidInputError(
                f"algo_options {sorted(self.algo_options)}: --algo ppmo takes its options as fields "
                "(e.g. --inits-per-epoch), not algo_options"
            )
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise InvalidInputError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
            inits_given = self.inits_per_epoch is not None
            for name, value in PRESETS[self.preset].items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
            if not inits_given and isinstance(self.num_envs, int) and self.num_envs >= 1:
                # the preset's M, shrunk to fit a num_envs / minibatch_size given by the user
                fitted = math.gcd(self.num_envs, self.inits_per_epoch)
                while fitted > max(self.minibatch_size, 1):
                    fitted = math.gcd(self.num_envs, fitted // 2)
                object.__setattr__(self, "inits_per_epoch", fitted)
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1):
            raise InvalidInputError(f"k must be an int >= 1, got {self.k!r}")
        for name in (
            "num_envs",
            "steps_per_env",
            "inits_per_epoch",
            "policy_epochs",
            "minibatch_size",
            "inner_steps",
            "eval_interval",
            "eval_learners",
            "eval_episodes",
            "checkpoint_interval",
            "max_divergences",
            "threads",
            "env_workers",
        ):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        m = self.inits_per_epoch
        if m is not None and self.num_envs is not None and self.num_envs % m:
            raise InvalidInputError(
                f"num_envs ({self.num_envs}) must be a multiple of inits_per_epoch ({m}): "
                "each initialisation acts in an equal share of the envs"
            )
        if m is not None and self.minibatch_size < m:
            raise InvalidInputError(
                f"minibatch_size ({self.minibatch_size}) must be >= inits_per_epoch ({m}): "
                "every minibatch holds frames of every initialisation"
            )
        if self.epochs is not None and self.epochs < 1:
            raise InvalidInputError(f"epochs must be >= 1, got {self.epochs}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise InvalidInputError(f"time_budget must be > 0 seconds, got {self.time_budget}")
        check_device(self.device)
        layers = self.encoder_layers
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise InvalidInputError(f"encoder_layers must be an int >= 0, got {self.encoder_layers!r}")

    def resolved(self) -> DistillConfig:
        """This config with its env family's defaults (:mod:`taskdistill_rl.envs.families`) in every
        ``None`` field left to them: the preset, threads, learner and evaluation sizes."""
        from taskdistill_rl.envs.families import defaults_for, load_family

        if self.env_family is not None:
            load_family(self.env_family)
        family = defaults_for(self.env)
        defaults = {
            "preset": family.preset if self.algo == "ppmo" else None,
            "threads": family.threads,
            "learner": family.default_learner,
            **family.evaluation,
        }
        missing = {name: value for name, value in defaults.items() if getattr(self, name) is None}
        return replace(self, **missing) if missing else self

    def with_k(self, n_actions: int | None, continuous: bool) -> DistillConfig:
        if self.k is not None:
            return self
        return replace(self, k=64 if continuous else k_min(n_actions))

    def to_dict(self) -> dict:
        return asdict(self)

    def learning_hash(self) -> str:
        """Hash of everything that changes what is learned (``--resume`` refuses a mismatch).
        Fields added later are left out at their default, so older checkpoints still resume;
        ``CHECKED_ON_LOAD``'s are compared by the algorithm when it loads the checkpoint."""
        ignored = RUN_CONTROL | WARNED_ON_RESUME | CHECKED_ON_LOAD
        ignored |= PPMO_OPTIONS if self.algo != "ppmo" else set()
        data = {
            k: v
            for k, v in self.to_dict().items()
            if k not in ignored and not (k in ADDED_LATER and v == ADDED_LATER[k])
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
