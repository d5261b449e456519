"""The teacher-states baseline (issue 15, item 5): real states from an SB3 PPO teacher's rollouts,
labelled with its logits, saved as an ordinary distilled file."""

import json
from dataclasses import replace
from typing import ClassVar

import pytest
import torch

from taskdistill_rl.baselines.state_search import Candidate, CandidateScorer, search_states
from taskdistill_rl.baselines.teacher import collect_teacher_states, teacher_logits
from taskdistill_rl.baselines.teacher_states import (
    EVAL_LEARNERS,
    SOURCE,
    TeacherStatesConfig,
    run_teacher_states,
    run_teacher_states_baseline,
)
from taskdistill_rl.cli import main
from taskdistill_rl.dataset import load_distilled
from taskdistill_rl.envs import make_env
from taskdistill_rl.errors import InvalidInputError, UnknownEnvError
from taskdistill_rl.evaluate import evaluate_dataset
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

pytest.importorskip("stable_baselines3")

# A short teacher and a two-batch search: seconds, not minutes.
TINY = TeacherStatesConfig(
    env="NDCartPole-v0",
    env_kwargs={"n_dims": 1},
    k=2,
    seed=0,
    time_budget=None,
    random_batches=1,
    local_batches=1,
    teacher_target=None,
    teacher_timesteps=1024,
    teacher_chunk=1024,
    buffer_states=400,
    batch_candidates=8,
    screen_learners=2,
    screen_episodes=1,
    final_candidates=2,
    final_learners=4,
    final_episodes=1,
)


@pytest.fixture(scope="module")
def run():
    return run_teacher_states(TINY)


def test_chosen_states_are_rows_of_the_teachers_buffer(run):
    rows = list(run.search.best.rows)
    assert len(rows) == len(set(rows)) == TINY.k
    assert torch.equal(run.dataset.observation.detach(), run.states[rows])
    assert run.dataset.meta["buffer_rows"] == rows and run.dataset.meta["source"] == SOURCE
    assert len(run.states) == TINY.buffer_states


def test_buffer_holds_real_states_of_the_env():
    """The first rows are the reset states of the seeded env, the next ones its steps."""
    _, model = _tiny_teacher()
    states, _ = collect_teacher_states(
        model, "NDCartPole-v0", {"n_dims": 1}, n_states=30, seed=5, num_envs=10
    )
    reset = make_env("NDCartPole-v0", num_envs=10, seed=5, n_dims=1).reset()["observation"]
    assert torch.equal(states[:10], reset)
    assert not torch.equal(states[10:20], reset)  # stepped on, not re-reset


def test_labels_are_the_teachers_logits(run):
    model, ds = run.teacher.model, run.dataset
    X, Y = ds.observation.detach(), ds.label.detach()
    torch.testing.assert_close(Y, teacher_logits(model, X))
    with torch.no_grad():  # SB3's own action distribution at those states
        sb3 = model.policy.get_distribution(X).distribution.logits
    torch.testing.assert_close(Y.log_softmax(-1), sb3)
    torch.testing.assert_close(run.logits, teacher_logits(model, run.states))


def test_saved_file_loads_with_stock_torch_and_evaluates(run, tmp_path):
    path = run.dataset.save(tmp_path / "distilled.pt")
    payload = torch.load(path, weights_only=True)  # no package code needed
    assert torch.equal(payload["observation"], run.states[list(run.search.best.rows)])
    assert payload["meta"]["source"] == "teacher-states" and payload["meta"]["k"] == TINY.k
    ds = load_distilled(path)
    assert ds.learner_spec["name"] == "lambda"
    assert float(ds.inner_lr.detach()) == pytest.approx(run.search.best.inner_lr, rel=1e-6)
    returns = evaluate_dataset(ds, n_learners=3, episodes=2, seed=0)
    assert returns.shape == (3, 2) and bool((returns >= 1).all())


def test_scorer_fits_like_the_file(run):
    """A candidate's learners are fitted exactly as `DistilledDataset.fit` fits a learner."""
    scorer = CandidateScorer(run.states, run.logits, "NDCartPole-v0", {"n_dims": 1})
    candidate = run.search.best
    params = scorer.fit([Candidate((0, 1), 3.0), candidate], n=2, seed=11)
    theta0 = scorer.learners.sample_stacked(2, torch.Generator().manual_seed(11))
    learner = run.dataset.learners().build()
    learner.load_state_dict({name: p[1] for name, p in theta0.items()})
    run.dataset.fit(learner)
    obs = run.states[:50]
    fitted = scorer.forward({name: p[3:4] for name, p in params.items()}, obs.unsqueeze(0))[0]
    with torch.no_grad():
        torch.testing.assert_close(fitted, learner(obs), rtol=1e-5, atol=1e-5)


def test_search_is_reproducible_from_its_seed(run):
    config = replace(TINY, seed=3)
    a = search_states(run.states, run.logits, config)
    b = search_states(run.states, run.logits, config)
    assert a.best == b.best and a.score == b.score
    assert a.batches == {"random": 1, "local": 1, "final": 1}
    assert a.evaluated == 2 * config.batch_candidates + config.final_candidates
    assert [row["phase"] for row in a.history] == ["random", "local", "final"]


def test_the_baseline_run_evaluates_the_file_and_reports_each_stage_in_order(run):
    """What the CLI prints and writes comes from one library call; progress reaches its callback."""
    stages = []
    baseline = run_teacher_states_baseline(
        TINY, episodes=1, progress=lambda stage, info: stages.append((stage, info))
    )
    assert torch.equal(baseline.dataset.observation.detach(), run.dataset.observation.detach())
    names = [stage for stage, _ in stages]
    assert names[0] == "teacher" and names.count("evaluate") == 1
    assert [info["phase"] for stage, info in stages if stage == "search"] == ["random", "local", "final"]
    assert stages[-1] == ("evaluate", {"n_learners": EVAL_LEARNERS, "episodes": 1})
    evaluation = baseline.evaluation
    assert evaluation["seed"] == TINY.seed + EVAL_SEED_OFFSET and evaluation["k"] == TINY.k
    lam = evaluation["results"]["lambda"]
    assert lam["n_learners"] == EVAL_LEARNERS == 100 and lam["episodes"] == 1
    summary = baseline.summary
    assert summary["kind"] == "baseline-teacher-states" and summary["evaluation"] is evaluation
    assert summary["wall_seconds"] == baseline.wall_seconds
    assert summary["env_frames"] == baseline.env_frames == baseline.result.teacher.model.num_timesteps
    assert summary["reproduce"] == baseline.reproduce
    assert baseline.reproduce.endswith("--k 2 --seed 0 --search-batches 1,1 --episodes 1 --out OUT")


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"k": 0}, "k .* must be an int >= 1, got 0"),
        ({"random_batches": None, "local_batches": None}, "time_budget must be > 0"),
        ({"local_batches": None}, "both random_batches and local_batches"),
        ({"lr_range": (1.0, 0.5)}, "lr_range"),
        ({"temperatures": (1.0, 0.0)}, "temperatures must be > 0"),
    ],
    ids=["k-0", "no-budget", "half-batches", "lr-range", "temperature"],
)
def test_config_errors(changes, message):
    with pytest.raises(InvalidInputError, match=message):
        replace(TINY, **changes)


@pytest.mark.parametrize(
    "env,error,message",
    [
        ("Pendulum-v1", InvalidInputError, "discrete actions only"),
        ("NDCartPol-v0", UnknownEnvError, "Did you mean"),
    ],
    ids=["continuous", "unknown"],
)
def test_unsupported_envs_fail_before_training(env, error, message):
    with pytest.raises(error, match=message):
        run_teacher_states(replace(TINY, env=env, env_kwargs={}))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--k", "0"], "k .*must be an int >= 1, got 0"),
        (["--k", "-2"], "k .*must be an int >= 1, got -2"),
        (["--env", "Pendulum-v1"], "discrete actions only"),
        (["--search-batches", "3"], "RANDOM,LOCAL"),
    ],
    ids=["k-0", "k-negative", "continuous", "bad-batches"],
)
def test_cli_errors_are_one_line(capsys, tmp_path, args, message):
    out = tmp_path / "out"
    assert main(["baseline", "--algo", "teacher-states", *args, "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and pytest.importorskip("re").search(message, err)
    assert not out.exists()  # validated before OUT is created


def test_the_pieces_keep_their_old_import_path():
    """Issue 26 split the teacher and the search out of teacher_states; their names still import
    from there, as the same objects."""
    from taskdistill_rl.baselines import state_search, teacher, teacher_states

    for module in (state_search, teacher):
        for name in module.__all__:
            assert getattr(teacher_states, name) is getattr(module, name)
            assert name in teacher_states.__all__


def test_k_is_refused_for_other_algos(capsys):
    assert main(["baseline", "--algo", "random", "--k", "2", "-q"]) == 1
    assert "--k applies to --algo teacher-states only" in capsys.readouterr().err


def test_cli_writes_a_baseline_run_with_an_ordinary_distilled_file(tmp_path):
    out = tmp_path / "ts"
    args = ["baseline", "--algo", "teacher-states", "--env-kwargs", "n_dims=1", "--k", "2"]
    args += ["--timesteps", "1024", "--chunk", "1024", "--search-batches", "1,0", "--episodes", "1"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    assert {p.name for p in out.iterdir()} >= {"distilled.pt", "eval.json", "summary.json", "config.toml"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "baseline-teacher-states" and summary["k"] == 2
    assert set(summary["seconds"]) == {"teacher_train", "teacher_collect", "search"}
    assert summary["search"]["batches"] == {"random": 1, "local": 0, "final": 1}
    assert "--search-batches 1,0" in summary["reproduce"]
    result = summary["evaluation"]["results"]["lambda"]
    assert result["n_learners"] == 100 and result["episodes"] == 1
    ds = load_distilled(out / "distilled.pt")
    assert ds.k == 2 and ds.meta["source"] == "teacher-states"
    # the file is evaluated exactly like a distilled one
    assert (
        main(
            [
                "evaluate",
                str(out / "distilled.pt"),
                "--n-learners",
                "2",
                "--episodes",
                "1",
                "-q",
                "--out",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )


def _tiny_teacher():
    from taskdistill_rl.baselines.sb3_ppo import train_ppo

    result = train_ppo("NDCartPole-v0", env_kwargs={"n_dims": 1}, timesteps=256, chunk=256, eval_episodes=1)
    return result, result.model


class _ScriptedScorer:
    """A stand-in for :class:`CandidateScorer`: a screening batch scores a candidate by its rows and
    step size; the final phase (told apart by its learner count) reverses that order, so the
    best-screened finalist is the final phase's worst. Records every call."""

    calls: ClassVar[list] = []

    def __init__(self, states, logits, env_id, env_kwargs):
        type(self).calls = []

    @staticmethod
    def screening(candidate: Candidate) -> float:
        return sum(candidate.rows) + 1e-3 * float(torch.tensor(candidate.inner_lr).log())

    def __call__(self, candidates, *, n, episodes, seed):
        final = n == SCRIPTED.final_learners
        scores = [(-1 if final else 1) * self.screening(c) for c in candidates]
        type(self).calls.append((final, list(candidates), scores))
        return torch.tensor(scores, dtype=torch.float64)


SCRIPTED = replace(TINY, random_batches=2, local_batches=2, final_candidates=3, final_learners=5)


@pytest.fixture
def scripted_search(monkeypatch):
    monkeypatch.setattr("taskdistill_rl.baselines.state_search.CandidateScorer", _ScriptedScorer)
    g = torch.Generator().manual_seed(0)
    result = search_states(torch.randn(40, 4, generator=g), torch.randn(40, 2, generator=g), SCRIPTED)
    return result, _ScriptedScorer.calls


def test_the_final_phase_rescores_the_best_screened_candidates_best_first(scripted_search):
    _, calls = scripted_search
    assert [final for final, _, _ in calls] == [False] * 4 + [True]
    screened = {
        c.key: (c, s) for final, cands, scores in calls[:-1] for c, s in zip(cands, scores, strict=True)
    }
    best_first = sorted(screened.values(), key=lambda cs: cs[1], reverse=True)
    finalists = calls[-1][1]
    assert [c.key for c in finalists] == [c.key for c, _ in best_first[:3]]
    assert len({c.key for c, _ in best_first}) > 3  # worse candidates were screened too


def test_the_search_returns_the_finalist_with_the_best_final_score(scripted_search):
    """Not the best-screened finalist (here the final phase's worst): the final re-scoring decides."""
    result, calls = scripted_search
    _, finalists, scores = calls[-1]
    winner = max(range(len(finalists)), key=scores.__getitem__)
    assert winner != 0
    assert result.best == finalists[winner]
    assert result.score == pytest.approx(scores[winner])
    assert result.history[-1]["phase"] == "final" and result.history[-1]["best_score"] == round(
        scores[winner], 3
    )
