"""k-shot evaluation: many fresh learners fitted in one step, all their episodes stepped together."""

from __future__ import annotations

import zlib

import torch

from taskdistill_rl.compat import check_compatible, env_actions, file_actions
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.devices import to_device
from taskdistill_rl.env_workers import MIN_ENVS_PER_PROCESS, ForkedEnvs, usable_cores
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.builders import describe_preprocessing
from taskdistill_rl.envs.families import check_env_backend, family_of
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.population import Population, distribution_for, sample_population
from taskdistill_rl.rollouts import cartpole_episode_returns, episode_returns, queued_episode_returns
from taskdistill_rl.stacked import StackedMLPs


class Returns(dict):
    """``{name: [n_learners, episodes] returns}``, plus ``capped``: ``{name: episodes cut}``
    by the step cap (queued evaluations, Atari), or None where no cap applies."""

    capped: dict[str, int] | None = None


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
    workers: int | None = None,
    processes: int | None = None,
    backend: str = "gymnasium",
) -> Returns:
    """``{name: [n_learners, episodes] returns}`` for each learner distribution.

    Every learner × episode of as many distributions as fit in ``max_envs`` runs in its own
    sub-env of one batched env, so a whole table is one or a few vectorised rollouts. Actions are
    sampled from each learner's distribution (the paper's protocol) unless ``deterministic``,
    from noise drawn per sub-env and step by a generator seeded with ``seed``
    (:func:`sample_actions`). MLP learners act through :class:`StackedMLPs`. This is how ND
    cart-pole is evaluated, on its physics directly, ended episodes shed
    (:func:`~taskdistill_rl.rollouts.cartpole_episode_returns`).

    Any other env (and any evaluation given ``max_steps``) is queued instead: ``workers``
    sub-envs (default 16 Atari games, one process each; 128 MuJoCo envs; 1,024 others) play the
    learner × episode jobs in turn, so memory and env construction stay those of ``workers`` envs;
    every env is closed afterwards. The sub-envs of gymnasium envs other than Atari (MuJoCo,
    classic control) are split over ``processes`` forked workers (default: one per usable core;
    1 steps them in this process); the returns do not depend on the split. Atari returns are
    full-game raw scores cut at ``max_steps`` agent steps (default: the ALE's 27,000); games cut by
    either are counted in ``.capped``, as are the episodes ``max_steps`` cuts in any env. Atari games
    run on ``backend`` (``"gymnasium"`` or ``"envpool"``: :func:`~taskdistill_rl.envs.make_env`).
    """
    if n_learners < 1 or episodes < 1:
        raise InvalidInputError(f"n_learners and episodes must be >= 1, got {n_learners} and {episodes}")
    if not names:
        raise InvalidInputError("give at least one learner distribution")
    distributions = {name: distribution_for(ds, name) for name in names}  # unknown names fail here
    ds = ds.on(device)  # populations are fitted and act where the evaluation runs
    env_id = env_id or ds.meta.get("env_id")
    if env_id is None:
        raise InvalidInputError("no env_id given and the dataset's meta names none")
    env_kwargs = ds.meta.get("env_kwargs", {}) if env_kwargs is None else env_kwargs
    processes = usable_cores() if processes is None else processes
    family = check_env_backend(env_id, backend)
    queued = max_steps is not None or not family.torch_physics
    if workers is None:
        workers = family.queue_width
    per_chunk = 1 if queued else max(1, max_envs // (n_learners * episodes))
    results = Returns()
    if max_steps is not None or family.episode_cap is not None:
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
                ds,
                population,
                env_id,
                env_kwargs,
                episodes,
                seed,
                deterministic,
                device,
                max_steps,
                workers,
                processes,
                backend,
            )
            if results.capped is not None:
                results.capped[chunk[0]] = int(capped.sum())
        else:
            returns = _rollout(ds, population, env_id, env_kwargs, episodes, seed, deterministic, device)
        for i, name in enumerate(chunk):
            results[name] = returns[i * n_learners : (i + 1) * n_learners]
    return results


def _check_env(ds, env, env_id, env_kwargs) -> None:
    """The env must give the file's observations, through the recorded pipeline, and take the
    actions its labels teach."""
    check_compatible(
        f"{env_id} {env_kwargs}",
        tuple(env.observation_spec["observation"].shape[1:]),
        env_actions(env),
        file="the dataset",
        file_observations=ds.obs_shape,
        taught=file_actions(ds.continuous, ds.out_features),
    )
    recorded = ds.meta.get("preprocessing")  # files before format 2 record none
    own_env = (env_id, env_kwargs) == (ds.meta.get("env_id"), ds.meta.get("env_kwargs", {}))
    if own_env and recorded is not None and recorded != describe_preprocessing(env):
        raise InvalidInputError(
            f"the file was distilled through the preprocessing {recorded}, but {env_id} {env_kwargs} is "
            f"built with {describe_preprocessing(env)} here: evaluate it with the taskdistill_rl "
            "version that wrote it"
        )


def sample_actions(raw: torch.Tensor, log_std: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
    """Actions sampled from each row's action distribution, by transforming given noise.

    Discrete: ``noise [A]`` uniform in [0, 1) picks the first action whose cumulative softmax
    probability passes it (inverse transform: action ``a`` with probability ``softmax(raw)[a]``, as
    ``Categorical``; two actions compare with ``sigmoid(raw[0] - raw[1])``, the same number).
    Continuous: ``noise [A, act]`` standard normal gives ``raw + exp(log_std) * noise`` (the
    diagonal Gaussian of :func:`~taskdistill_rl.actors.action_distribution`).

    Examples:
        >>> logits = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> sample_actions(logits, None, torch.tensor([0.25, 0.75])).tolist()
        [0, 1]
    """
    if log_std is not None:
        return torch.addcmul(raw, log_std.exp(), noise)
    if raw.shape[-1] == 2:  # no softmax over a dimension of 2 (slow at 60,000 rows)
        return (noise >= torch.sigmoid(raw[..., 0] - raw[..., 1])).long()
    cdf = raw.softmax(-1).cumsum(-1)
    return (noise.unsqueeze(-1) >= cdf[..., :-1]).sum(-1)


class _Actor:
    """Actions of ``num_envs`` sub-envs, each played by one learner of ``population`` (or none).

    Sampling draws one noise value (a uniform, or a normal per action dimension) for every sub-env
    at every step from a generator seeded with ``seed``: an evaluation is reproducible from
    ``seed`` alone, touches no global random state, and a sub-env's actions do not depend on
    which other sub-envs still play. MLP learners act through :class:`StackedMLPs`; other
    learners of one architecture through a per-sub-env copy of their parameters (refreshed when
    a sub-env moves to another learner), or, when every sub-env plays, the population itself."""

    def __init__(self, ds, population, num_envs, *, deterministic, seed, device):
        self.ds, self.population, self.num_envs = ds.on(device), population, num_envs
        self.log_std = None if ds.log_std is None else ds.log_std.detach().to(device)
        self.deterministic = deterministic
        self.stacked = StackedMLPs(population, device=device) if StackedMLPs.supports(population) else None
        self.generator = torch.Generator(device=device).manual_seed(seed) if not deterministic else None
        self.noise_shape = (num_envs,) if self.log_std is None else (num_envs, self.log_std.numel())
        self.device = device
        self._learner: torch.Tensor | None = None
        self._rows: dict | None = None  # per-sub-env parameters (learners that are not MLPs)

    def __call__(
        self, obs: torch.Tensor, learner: torch.Tensor, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Actions for ``obs [A, *obs_shape]`` of the sub-envs ``index`` (None: all, A = num_envs),
        row ``r`` played by learner ``learner[r]`` (-1: none; its action is arbitrary)."""
        obs = self.ds.encode(self.ds.normalize(to_device(obs, self.device)))
        raw = self._forward(obs, learner.to(self.device))
        if self.deterministic:
            return raw.argmax(-1) if self.log_std is None else raw
        if self.log_std is None:
            noise = torch.rand(self.noise_shape, generator=self.generator, device=self.device)
        else:
            noise = torch.randn(self.noise_shape, generator=self.generator, device=self.device)
        return sample_actions(raw, self.log_std, noise if index is None else noise[index])

    def _forward(self, obs: torch.Tensor, learner: torch.Tensor) -> torch.Tensor:
        changed = self._learner is None or not (
            learner is self._learner
            or (learner.shape == self._learner.shape and torch.equal(learner, self._learner))
        )
        self._learner = learner
        if self.stacked is not None:
            if changed:
                self.stacked.arrange(learner)
            return self.stacked(obs)
        n = self.population.size
        episodes = len(obs) // n
        if episodes and len(obs) == n * episodes:
            every = torch.arange(len(obs), device=learner.device) // episodes
            if torch.equal(learner, every):  # every learner × episode in order: the population's layout
                return self.population(obs.reshape(n, episodes, *obs.shape[1:])).reshape(len(obs), -1)
        return self._forward_rows(obs, learner, changed)

    def _forward_rows(self, obs: torch.Tensor, learner: torch.Tensor, changed: bool) -> torch.Tensor:
        if len(self.population.groups) != 1:
            raise InvalidInputError("queued evaluation (Atari, max_steps) takes learners of one architecture")
        _, _, params = self.population.groups[0]
        playing = learner.clamp(min=0)
        if self._rows is None:
            self._rows = {name: p[playing].clone() for name, p in params.items()}
            self._row_learner = playing.clone()
        elif changed:
            for s in ((learner >= 0) & (playing != self._row_learner)).nonzero().flatten().tolist():
                self._row_learner[s] = playing[s]
                for name, p in params.items():
                    self._rows[name][s] = p[playing[s]]
        # each sub-env a learner of its own, acting on its one observation
        return self.population.acting[0](self._rows, obs.unsqueeze(1)).squeeze(1)


def _rollout(ds, population, env_id, env_kwargs, episodes, seed, deterministic, device) -> torch.Tensor:
    """ND cart-pole: every learner × episode in its own sub-env of one batched env; MLP learners
    step its physics directly, ended episodes shed (:func:`cartpole_episode_returns`)."""
    n = population.size
    num_envs = n * episodes
    actor = _Actor(ds, population, num_envs, deterministic=deterministic, seed=seed, device=device)
    env = make_env(env_id, num_envs=num_envs, seed=seed, device=device, **env_kwargs)
    _check_env(ds, env, env_id, env_kwargs)
    if actor.stacked is not None:
        returns = cartpole_episode_returns(env, lambda obs, index: actor(obs, index // episodes, index))
    else:
        learner = torch.arange(num_envs, device=device) // episodes
        returns = episode_returns(env, lambda obs: actor(obs, learner))
    return returns.reshape(n, episodes)


def _queued_rollout(
    ds,
    population,
    env_id,
    env_kwargs,
    episodes,
    seed,
    deterministic,
    device,
    max_steps,
    width,
    processes,
    backend="gymnasium",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``width`` sub-envs play the learner × episode jobs in turn (learner ``j // episodes`` plays
    job ``j``). Gymnasium envs other than Atari (whose games are one process each already) are
    split over ``processes`` forked workers when each gets at least ``MIN_ENVS_PER_PROCESS``;
    sub-env ``i`` is seeded ``seed + i`` either way, so the returns do not depend on the split."""
    n = population.size
    jobs = n * episodes
    width = max(1, min(width, jobs))
    family = family_of(env_id)
    actor = _Actor(ds, population, width, deterministic=deterministic, seed=seed, device=device)

    def act(obs: torch.Tensor, job: torch.Tensor) -> torch.Tensor:
        return actor(obs, torch.where(job >= 0, job // episodes, -1))

    # Full games (Atari) are cut at the family's cap, which counts as a cut; elsewhere the env's
    # own time limit is how an episode ends (MuJoCo's 1,000 steps), and only ``max_steps`` cuts.
    cap = max_steps if max_steps is not None else family.episode_cap
    processes = min(processes, width // MIN_ENVS_PER_PROCESS)
    if family.torch_physics or family.own_processes or processes <= 1:
        # gymnasium envs step on the CPU; the actor copies their observations to its device
        env_device = device if family.torch_physics else "cpu"
        env = make_env(env_id, num_envs=width, seed=seed, device=env_device, backend=backend, **env_kwargs)
    else:
        probe = make_env(env_id, num_envs=1, **env_kwargs)  # the checks need a TorchRL env here
        try:
            _check_env(ds, probe, env_id, env_kwargs)
        finally:
            probe.close()

        def make_shard(start: int, size: int):  # runs in a worker
            return make_env(env_id, num_envs=size, seed=seed + start, **env_kwargs)

        env = ForkedEnvs(make_shard, width, workers=processes)
    try:
        if not isinstance(env, ForkedEnvs):
            _check_env(ds, env, env_id, env_kwargs)
        returns, capped = queued_episode_returns(
            env, act, jobs, max_steps=cap, truncation_cuts=family.episode_cap is not None
        )
    finally:
        env.close()
    return returns.reshape(n, episodes), capped.reshape(n, episodes)


def evaluate_file(
    ds: DistilledDataset,
    names: list[str],
    *,
    n_learners: int,
    episodes: int,
    seed: int = 0,
    deterministic: bool = False,
    env_id: str | None = None,
    env_kwargs: dict | None = None,
    **kwargs,
) -> dict:
    """The ``eval.json`` record of ``ds`` (:func:`~taskdistill_rl.results.evaluation_record`): each
    distribution of ``names`` evaluated by :func:`evaluate_distributions` (other keyword
    arguments as there), the file's own inner steps, on its own env unless ``env_id`` is given."""
    from taskdistill_rl.results import evaluation_record, results_entry

    returns = evaluate_distributions(
        ds,
        names,
        n_learners=n_learners,
        episodes=episodes,
        seed=seed,
        deterministic=deterministic,
        inner_steps=ds.meta.get("inner_steps", 1),
        env_id=env_id,
        env_kwargs=env_kwargs,
        **kwargs,
    )
    capped = returns.capped or {}
    return evaluation_record(
        env_id=env_id or ds.meta.get("env_id"),
        env_kwargs=ds.meta.get("env_kwargs", {}) if env_kwargs is None else env_kwargs,
        k=ds.k,
        seed=seed,
        deterministic=deterministic,
        results={
            name: results_entry(r, n_learners=n_learners, capped=capped.get(name))
            for name, r in returns.items()
        },
    )


def evaluate_dataset(ds: DistilledDataset, *, learners: str | None = None, **kwargs) -> torch.Tensor:
    """``[n_learners, episodes]`` returns of fresh learners from one distribution (default: the
    one the file was distilled for, Λ or the Nature-CNN); keyword arguments as
    :func:`evaluate_distributions`."""
    learners = learners or ds.learner_spec["name"]
    return evaluate_distributions(ds, [learners], **kwargs)[learners]
