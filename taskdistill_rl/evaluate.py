"""k-shot evaluation: many fresh learners fitted in one step, all episodes stepped together."""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.inner import inner_step
from taskdistill_rl.rollouts import episode_returns


def fit_population(ds: DistilledDataset, learners: list[torch.nn.Module], *, steps: int = 1):
    """Stack the learners' parameters and fit all of them in one vmapped inner step.

    Returns ``(skeleton, params)``: a stateless module on the meta device and the fitted
    parameters with a leading learner dimension.
    """
    params, _ = stack_module_state(learners)
    skeleton = copy.deepcopy(learners[0]).to("meta")
    X, Y, lr = ds.observation.detach(), ds.label.detach(), ds.inner_lr.detach()
    fit = vmap(lambda p: inner_step(skeleton, p, X, Y, lr, steps=steps))
    with torch.no_grad():
        return skeleton, fit(params)


@torch.no_grad()
def evaluate_dataset(
    ds: DistilledDataset,
    *,
    env_id: str | None = None,
    env_kwargs: dict | None = None,
    n_learners: int = 100,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    inner_steps: int = 1,
    device: str = "cpu",
) -> torch.Tensor:
    """Returns ``[n_learners, episodes]``: each learner a fresh sample from the file's Λ.

    Every learner × episode runs in its own sub-env of one batched env, so the whole
    evaluation is a single vectorised rollout. Actions are sampled from the learner's
    distribution (the paper's protocol) unless ``deterministic``.
    """
    if n_learners < 1 or episodes < 1:
        raise ValueError(f"n_learners and episodes must be >= 1, got {n_learners} and {episodes}")
    env_id = env_id or ds.meta.get("env_id")
    if env_id is None:
        raise ValueError("no env_id given and the dataset's meta names none")
    env_kwargs = ds.meta.get("env_kwargs", {}) if env_kwargs is None else env_kwargs
    generator = torch.Generator().manual_seed(seed)
    distribution = ds.learners()
    skeleton, params = fit_population(
        ds, [distribution.sample(generator) for _ in range(n_learners)], steps=inner_steps
    )
    env = make_env(env_id, num_envs=n_learners * episodes, seed=seed, device=device, **env_kwargs)
    obs_spec = env.observation_spec["observation"].shape[1:]
    if tuple(obs_spec) != tuple(ds.obs_shape):
        raise ValueError(
            f"dataset observations {tuple(ds.obs_shape)} do not match the observations "
            f"{tuple(obs_spec)} of {env_id} {env_kwargs}"
        )
    forward = vmap(lambda p, o: functional_call(skeleton, p, (o,)))
    log_std = None if ds.log_std is None else ds.log_std.detach()
    from taskdistill_rl.objectives.ppmo import action_distribution

    def act(obs: torch.Tensor) -> torch.Tensor:
        raw = forward(params, obs.reshape(n_learners, episodes, *obs.shape[1:]))
        raw = raw.reshape(n_learners * episodes, -1)
        if deterministic:
            return raw.argmax(-1) if log_std is None else raw
        return action_distribution(raw, log_std).sample()

    # Sampling draws from torch's global RNG: fork it, so an evaluation is reproducible from
    # ``seed`` alone and never shifts the random stream of a distillation it interrupts.
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        return episode_returns(env, act).reshape(n_learners, episodes)
