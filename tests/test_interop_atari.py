"""A distilled Atari file trains SB3's CnnPolicy (on our preprocessing) and TorchRL actors in one
step, exactly as it trains the learner α_a (``DistilledDataset.fit``)."""

import pytest
import torch

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.learners.cnn import NatureCNNLearners

pytest.importorskip("stable_baselines3")
pytest.importorskip("ale_py")
pytest.importorskip("cv2")

ENV_ID = "ALE/Pong-v5"
OBS_SHAPE = (4, 84, 84)
# learner α_a's parametric children -> SB3 NatureCNN + action_net
SB3_NAMES = {
    "0": "features_extractor.cnn.0",
    "2": "features_extractor.cnn.2",
    "4": "features_extractor.cnn.4",
    "7": "features_extractor.linear.0",
    "9": "action_net",
}


def _pong_file(encoder_layers: int, seed: int = 1) -> DistilledDataset:
    generator = torch.Generator().manual_seed(seed)
    ds = DistilledDataset(
        k=4,
        obs_shape=OBS_SHAPE,
        out_features=6,
        learner=NatureCNNLearners(obs_shape=OBS_SHAPE, out_features=6).spec(),
        encoder_layers=encoder_layers,
        meta={"env_id": ENV_ID, "env_kwargs": {}},
        generator=generator,
    )
    with torch.no_grad():  # frames live in [0, 1]; labels big enough that the step moves the logits
        ds.observation.uniform_(0, 1, generator=generator)
        ds.label.mul_(10)
        ds.log_inner_lr.fill_(torch.tensor(0.05).log())
    return ds


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    """Eight real observations of our pipeline: ``[8, 4, 84, 84]`` float32 in [0, 1]."""
    from taskdistill_rl.envs.atari import make_atari

    env = make_atari(ENV_ID)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    out = []
    for _ in range(40):
        obs, *_ = env.step(env.action_space.sample())
        out.append(torch.as_tensor(obs))
    env.close()
    return torch.stack(out[::5])


def _sb3_logits(policy, obs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return policy.action_net(policy.mlp_extractor.forward_actor(policy.extract_features(obs)))


def _learner_from_sb3(policy) -> torch.nn.Sequential:
    learner = NatureCNNLearners(obs_shape=OBS_SHAPE, out_features=6).build()
    sb3 = dict(policy.named_parameters())
    with torch.no_grad():
        for name, p in learner.named_parameters():
            index, kind = name.split(".")
            p.copy_(sb3[f"{SB3_NAMES[index]}.{kind}"])
    return learner


@pytest.mark.parametrize("encoder_layers", [0, 1, 4], ids=["l0", "l1", "l4"])
def test_fit_sb3_matches_ds_fit_on_the_same_network(encoder_layers, frames):
    from taskdistill_rl.interop import fit_sb3, sb3_atari_model

    ds = _pong_file(encoder_layers)
    model = sb3_atari_model(ds, device="cpu", seed=0)
    policy = model.policy
    learner = _learner_from_sb3(policy)
    torch.testing.assert_close(learner(frames), _sb3_logits(policy, frames), atol=1e-6, rtol=0)
    before = _sb3_logits(policy, frames)
    value_net = {n: p.clone() for n, p in policy.value_net.named_parameters()}

    assert fit_sb3(ds, model) is model
    ds.fit(learner)

    after = _sb3_logits(policy, frames)
    assert (after - before).abs().max() > 1e-2  # the step moved the policy
    with torch.no_grad():
        torch.testing.assert_close(after, learner(frames), atol=1e-5, rtol=1e-5)
    assert all(torch.equal(p, value_net[n]) for n, p in policy.value_net.named_parameters())
    sb3 = dict(policy.named_parameters())
    for name, p in ds.encoder.named_parameters():  # layers [0, l): the file's encoder, bit for bit
        index, kind = name.split(".")
        assert torch.equal(sb3[f"{SB3_NAMES[index]}.{kind}"], p), name
    assert len(list(ds.encoder.parameters())) == 2 * encoder_layers


def test_sb3_atari_model_acts_on_our_pipeline():
    from taskdistill_rl.interop import sb3_atari_model

    model = sb3_atari_model(ENV_ID, n_envs=2, device="cpu", n_steps=8, batch_size=16)
    env = model.get_env()
    assert env.num_envs == 2 and model.n_steps == 8
    assert model.observation_space.shape == OBS_SHAPE and model.observation_space.dtype == "float32"
    assert model.observation_space.high.max() == 1.0 and not model.policy.normalize_images
    assert env.envs[0].unwrapped.spec.id == ENV_ID
    policy = model.policy
    assert len(policy.mlp_extractor.policy_net) == 0 and policy.action_net.in_features == 512
    obs = env.reset()
    assert obs.dtype == "float32" and obs.shape == (2, *OBS_SHAPE) and 0 <= obs.min() and obs.max() <= 1
    assert model.predict(obs)[0].shape == (2,)
    with pytest.raises(InvalidInputError, match="needs an Atari game"):
        sb3_atari_model("CartPole-v1")


def test_torchrl_actor_of_an_atari_file_with_an_encoder(frames):
    from tensordict import TensorDict

    from taskdistill_rl.envs.factory import make_env

    ds = _pong_file(encoder_layers=2)
    env = make_env(ENV_ID, seed=0)  # uint8 frames, integer actions
    actor = ds.to_torchrl_actor(seed=0, env=env)
    reference = ds.fit(ds.make_learner(0))
    with torch.no_grad():
        td = actor(TensorDict(observation=frames, batch_size=[len(frames)]))
        torch.testing.assert_close(td["logits"], reference(frames), atol=1e-6, rtol=0)
    assert td["action"].shape == (len(frames),) and int(td["action"].max()) < 6
    with torch.no_grad():
        rollout = env.rollout(5, actor)
    env.close()
    assert rollout["observation"].shape == (1, 5, *OBS_SHAPE)


def test_torchrl_actor_in_a_gymwrapper_of_atari_preprocessing(frames):
    """What a TorchRL user builds (issue 24): gymnasium's Atari preprocessing with uint8 frames,
    wrapped by ``GymWrapper`` (one-hot actions by default); the actor scales the frames to [0, 1]."""
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
    from torchrl.envs import GymWrapper

    gym.register_envs(ale_py)
    game = AtariPreprocessing(gym.make(ENV_ID, frameskip=1), frame_skip=4, scale_obs=False)
    env = GymWrapper(FrameStackObservation(game, stack_size=4))
    ds = _pong_file(encoder_layers=0)
    actor = ds.to_torchrl_actor(seed=0, env=env)
    with torch.no_grad():
        rollout = env.rollout(5, actor)
        expected = ds.fit(ds.make_learner(0))(rollout["observation"].float() / 255)
    env.close()
    assert rollout["observation"].dtype == torch.uint8
    assert rollout["action"].shape == (5, 6) and (rollout["action"].sum(-1) == 1).all()
    torch.testing.assert_close(rollout["logits"], expected, atol=1e-6, rtol=0)


def test_mismatched_models_are_refused_clearly():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    from taskdistill_rl.interop import fit_sb3, sb3_atari_model

    ds = _pong_file(encoder_layers=0)
    with pytest.raises(
        InvalidInputError, match=r"observes \(4,\) but the dataset's observations are \(4, 84, 84\)"
    ):
        fit_sb3(ds, PPO("MlpPolicy", "CartPole-v1", device="cpu"))
    # SB3's own Atari pipeline: uint8 frames divided by 255 inside the policy
    sb3_env = VecFrameStack(make_atari_env(ENV_ID, wrapper_kwargs={"frame_skip": 1}), n_stack=4)
    with pytest.raises(InvalidInputError, match=r"divides them by 255.*sb3_atari_model"):
        fit_sb3(ds, PPO("CnnPolicy", sb3_env, device="cpu"))
    sb3_env.close()
    # an encoder needs the learner's layers: an extra MLP layer between NatureCNN and action_net
    wider = sb3_atari_model(ENV_ID, device="cpu", policy_kwargs={"net_arch": [64]})
    with pytest.raises(
        InvalidInputError,
        match=r"not its learner 'nature-cnn': its layer 8 .* is Linear\(in_features=512, out_features=64",
    ):
        fit_sb3(_pong_file(encoder_layers=1), wider)
