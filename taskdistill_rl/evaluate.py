"""k-shot evaluation: many fresh learners fitted in one step, all their episodes stepped together."""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from taskdistill_rl.actors import action_distribution
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.atari import MAX_AGENT_STEPS
from taskdistill_rl.envs.factory import describe_preprocessing, env_family
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import inner_step, mlp_layers, mlp_population_step_
from taskdistill_rl.learners import LearnerDistribution, RandomMLPLearners, make_learners
from taskdistill_rl.rollouts import episode_returns, queued_episode_returns

QUEUED_WORKERS = 16  # sub-envs (worker processes for Atari) of a queued evaluation


class Returns(dict):
    """``{name: [n_learners, episodes] returns}``, plus ``capped``: ``{name: episodes cut}``
    by the step cap (queued evaluations, Atari), or None where no cap applies."""

    capped: dict[str, int] | None = None


def _architecture(module: nn.Module) -> tuple:
    return tuple((name, tuple(p.shape)) for name, p in module.named_parameters())


@dataclass
class Population:
    """Fitted learners grouped by architecture: per group, the learners' indices, a stateless
    skeleton (meta device) and their parameters stacked along a leading learner dimension."""

    groups: list[tuple[torch.Tensor, nn.Module, dict[str, torch.Tensor]]]
    size: int

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [size, batch, *obs_shape]`` (learner i sees ``obs[i]``) -> ``[size, batch, out]``."""
        out = None
        for index, skeleton, params in self.groups:
            part = obs if len(self.groups) == 1 else obs[index]
            y = vmap(lambda p, o, s=skeleton: functional_call(s, p, (o,)))(params, part)
            if len(self.groups) == 1:
                return y
            if out is None:
                out = y.new_empty(self.size, *y.shape[1:])
            out[index] = y
        return out

    @staticmethod
    def concat(populations: list[Population]) -> Population:
        """One population of several, learners numbered in order."""
        groups, offset = [], 0
        for population in populations:
            groups += [(index + offset, skeleton, params) for index, skeleton, params in population.groups]
            offset += population.size
        return Population(groups, offset)

    def learner_params(self, i: int) -> dict[str, torch.Tensor]:
        """The fitted parameters of learner ``i``."""
        for index, _, params in self.groups:
            hit = (index == i).nonzero()
            if len(hit):
                return {name: p[int(hit[0])] for name, p in params.items()}
        raise IndexError(i)


def _group_indices(keys: list) -> list[list[int]]:
    """Indices of equal keys, grouped in order of first appearance (one group per architecture)."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _fit_group(ds: DistilledDataset, skeleton: nn.Module, params: dict, steps: int) -> dict:
    """Fit one architecture group: the batched in-place MLP step when it applies, else vmap."""
    X, Y, lr = ds.encode(ds.observation).detach(), ds.label.detach(), ds.inner_lr.detach()
    layers = mlp_layers(skeleton) if X.dim() == 2 else None
    if layers is not None:
        return mlp_population_step_(layers, params, X, Y, float(lr), steps=steps)
    fit = vmap(lambda p: inner_step(skeleton, p, X, Y, lr, steps=steps))
    with torch.no_grad():
        return fit(params)


def fit_population(ds: DistilledDataset, learners: list[nn.Module], *, steps: int = 1) -> Population:
    """Fit every learner with the file's inner step, one batched step per architecture group
    (equal to fitting them one by one, to float32 rounding)."""
    if not learners:
        raise InvalidInputError("fit_population needs at least one learner")
    groups = []
    for members in _group_indices([_architecture(module) for module in learners]):
        heads = [ds.trainable(learners[i]) for i in members]
        params, _ = stack_module_state(heads)
        params = {name: p.detach() for name, p in params.items()}
        skeleton = copy.deepcopy(heads[0]).to("meta")
        groups.append((torch.tensor(members), skeleton, _fit_group(ds, skeleton, params, steps)))
    return Population(groups, len(learners))


def sample_population(
    ds: DistilledDataset,
    distribution: LearnerDistribution,
    n: int,
    generator: torch.Generator,
    *,
    steps: int = 1,
) -> Population:
    """``n`` fresh learners from ``distribution``, sampled straight into stacked parameters per
    architecture and fitted: no per-learner modules (the fast path for big evaluations)."""
    if isinstance(distribution, RandomMLPLearners):
        archs = [distribution.architecture(generator) for _ in range(n)]
    else:
        archs = [distribution] * n
    groups = []
    for members in _group_indices([getattr(arch, "hidden", None) for arch in archs]):
        arch = archs[members[0]]
        with torch.device("meta"):
            skeleton = ds.trainable(arch.build())
        params = arch.sample_stacked(len(members), generator)
        params = {name: params[name] for name, _ in skeleton.named_parameters()}  # the head's
        groups.append((torch.tensor(members), skeleton, _fit_group(ds, skeleton, params, steps)))
    return Population(groups, n)


def distribution_for(ds: DistilledDataset, name: str) -> LearnerDistribution:
    """The named distribution with the file's input/output sizes. The file's own name gives the Λ
    it was distilled for; initialisation variants keep Λ's hidden layers (the paper's α_c)."""
    spec = ds.learner_spec
    if name == spec["name"]:
        return ds.learners()
    own = ds.learners()
    kwargs = {"obs_shape": own.obs_shape, "out_features": own.out_features}
    if name in ("ortho-std1", "xavier", "xavier-std1") and "hidden" in spec["kwargs"]:
        kwargs["hidden"] = tuple(spec["kwargs"]["hidden"])
    return make_learners(name, **kwargs)


def _learner_seed(seed: int, name: str) -> int:
    """Each distribution draws its learners from its own stream, whatever else is evaluated."""
    return seed if name == "lambda" else seed + zlib.crc32(name.encode())


@torch.no_grad()
def evaluate_distributions(
    ds: DistilledDataset,
    names: list[str],
    *,
    env_id: str | None = None,
    env_kwargs: dict | None = None,
    n_learners: int = 100,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    inner_steps: int = 1,
    device: str = "cpu",
    max_envs: int = 65_536,
    max_steps: int | None = None,
    workers: int = QUEUED_WORKERS,
) -> Returns:
    """``{name: [n_learners, episodes] returns}`` for each learner distribution.

    Every learner × episode of as many distributions as fit in ``max_envs`` runs in its own
    sub-env of one batched env, so a whole table is one or a few vectorised rollouts. Actions are
    sampled from each learner's distribution (the paper's protocol) unless ``deterministic``.

    Atari games (and any evaluation given ``max_steps``) are queued instead: ``workers`` sub-envs
    (one process each for Atari) play the learner × episode jobs in turn, so memory stays that
    of ``workers`` games; every env is closed afterwards. Their returns are full-game raw scores
    cut at ``max_steps`` agent steps (Atari default: the ALE's 27,000), counted in ``.capped``.
    """
    if n_learners < 1 or episodes < 1:
        raise InvalidInputError(f"n_learners and episodes must be >= 1, got {n_learners} and {episodes}")
    if not names:
        raise InvalidInputError("give at least one learner distribution")
    distributions = {name: distribution_for(ds, name) for name in names}  # unknown names fail here
    env_id = env_id or ds.meta.get("env_id")
    if env_id is None:
        raise InvalidInputError("no env_id given and the dataset's meta names none")
    env_kwargs = ds.meta.get("env_kwargs", {}) if env_kwargs is None else env_kwargs
    queued = max_steps is not None or env_family(env_id) == "atari"
    per_chunk = 1 if queued else max(1, max_envs // (n_learners * episodes))
    results = Returns()
    if queued:
        results.capped = {}
    for start in range(0, len(names), per_chunk):
        chunk = names[start : start + per_chunk]
        parts = [
            sample_population(
                ds,
                distributions[name],
                n_learners,
                torch.Generator().manual_seed(_learner_seed(seed, name)),
                steps=inner_steps,
            )
            for name in chunk
        ]
        population = Population.concat(parts)
        if queued:
            returns, capped = _queued_rollout(
                ds, population, env_id, env_kwargs, episodes, seed, deterministic, device, max_steps, workers
            )
            results.capped[chunk[0]] = int(capped.sum())
        else:
            returns = _rollout(ds, population, env_id, env_kwargs, episodes, seed, deterministic, device)
        for i, name in enumerate(chunk):
            results[name] = returns[i * n_learners : (i + 1) * n_learners]
    return results


def _check_env(ds, env, env_id, env_kwargs) -> None:
    """The env must give the file's observations, through the recorded pipeline, and take the
    actions its labels teach."""
    obs_spec = tuple(env.observation_spec["observation"].shape[1:])
    if obs_spec != tuple(ds.obs_shape):
        raise InvalidInputError(
            f"dataset observations {tuple(ds.obs_shape)} do not match the observations "
            f"{obs_spec} of {env_id} {env_kwargs}"
        )
    recorded = ds.meta.get("preprocessing")  # files before format 2 record none
    own_env = (env_id, env_kwargs) == (ds.meta.get("env_id"), ds.meta.get("env_kwargs", {}))
    if own_env and recorded is not None and recorded != describe_preprocessing(env):
        raise InvalidInputError(
            f"the file was distilled through the preprocessing {recorded}, but {env_id} {env_kwargs} is "
            f"built with {describe_preprocessing(env)} here: evaluate it with the taskdistill_rl "
            "version that wrote it"
        )
    space = env.action_spec.space
    actions = (
        ("continuous", int(env.action_spec.shape[-1]))
        if not hasattr(space, "n")
        else ("discrete", int(space.n))
    )
    taught = ("continuous" if ds.continuous else "discrete", ds.out_features)
    if actions != taught:
        raise InvalidInputError(
            f"dataset teaches {taught[0]} actions of size {taught[1]} but {env_id} {env_kwargs} has "
            f"{actions[0]} actions of size {actions[1]}"
        )


def _rollout(ds, population, env_id, env_kwargs, episodes, seed, deterministic, device) -> torch.Tensor:
    n = population.size
    env = make_env(env_id, num_envs=n * episodes, seed=seed, device=device, **env_kwargs)
    _check_env(ds, env, env_id, env_kwargs)
    log_std = None if ds.log_std is None else ds.log_std.detach()

    def act(obs: torch.Tensor) -> torch.Tensor:
        obs = ds.encode(ds.normalize(obs))
        raw = population(obs.reshape(n, episodes, *obs.shape[1:])).reshape(n * episodes, -1)
        if deterministic:
            return raw.argmax(-1) if log_std is None else raw
        return action_distribution(raw, log_std).sample()

    # Sampling draws from torch's global RNG: fork it, so an evaluation is reproducible from
    # ``seed`` alone and never shifts the random stream of a distillation it interrupts.
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        return episode_returns(env, act).reshape(n, episodes)


def _queued_rollout(
    ds, population, env_id, env_kwargs, episodes, seed, deterministic, device, max_steps, workers
) -> tuple[torch.Tensor, torch.Tensor]:
    """Learner ``j // episodes`` plays job ``j``. Each sub-env keeps its learner's parameters in
    its own row of a stacked copy (refreshed when it moves to another learner), so one batched
    call acts for all of them."""
    if len(population.groups) != 1:
        raise InvalidInputError("queued evaluation (Atari, max_steps) takes learners of one architecture")
    n = population.size
    jobs = n * episodes
    _, skeleton, params = population.groups[0]
    width = max(1, min(workers, jobs))
    log_std = None if ds.log_std is None else ds.log_std.detach()
    slot_learner = torch.arange(width).clamp(max=jobs - 1) // episodes
    rows = {name: p[slot_learner].clone() for name, p in params.items()}
    forward = vmap(lambda p, o: functional_call(skeleton, p, (o.unsqueeze(0),)).squeeze(0))

    def act(obs: torch.Tensor, job: torch.Tensor) -> torch.Tensor:
        for s in ((job >= 0) & (job // episodes != slot_learner)).nonzero().flatten().tolist():
            slot_learner[s] = job[s] // episodes
            for name, p in params.items():
                rows[name][s] = p[slot_learner[s]]
        raw = forward(rows, ds.encode(ds.normalize(obs)))
        if deterministic:
            return raw.argmax(-1) if log_std is None else raw
        return action_distribution(raw, log_std).sample()

    env = make_env(env_id, num_envs=width, seed=seed, device=device, **env_kwargs)
    try:
        _check_env(ds, env, env_id, env_kwargs)
        dev = torch.device(device)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            cap = max_steps if max_steps is not None else MAX_AGENT_STEPS
            returns, capped = queued_episode_returns(env, act, jobs, max_steps=cap)
    finally:
        env.close()
    return returns.reshape(n, episodes), capped.reshape(n, episodes)


def evaluate_dataset(ds: DistilledDataset, *, learners: str | None = None, **kwargs) -> torch.Tensor:
    """``[n_learners, episodes]`` returns of fresh learners from one distribution (default: the
    one the file was distilled for, Λ or the Nature-CNN); keyword arguments as
    :func:`evaluate_distributions`."""
    learners = learners or ds.learner_spec["name"]
    return evaluate_distributions(ds, [learners], **kwargs)[learners]
