"""The k-shot CLI: evaluate --learners all / --grid, kmin, show, zoo list."""

import json

from taskdistill_rl.cli import main
from taskdistill_rl.dataset import load_distilled
from taskdistill_rl.evaluate import evaluate_distributions


def test_evaluate_all_distributions_prints_a_table_1_row(tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "zoo:ndcartpole-1d",
                "--learners",
                "all",
                "--n-learners",
                "3",
                "--episodes",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| experiment | lambda | ortho-std1 | xavier | xavier-std1 | random-h | random-l |" in printed
    from taskdistill_rl import zoo

    k = zoo.entries()["ndcartpole-1d"]["k"]
    assert f"| 1D {k}-shot (zoo:ndcartpole-1d) |" in printed
    results = json.loads(out.read_text())["results"]
    names = ["lambda", "ortho-std1", "xavier", "xavier-std1", "random-h", "random-l"]
    assert list(results) == names
    assert all(r["n_learners"] == 3 and r["episodes"] == 2 for r in results.values())
    # the printed row is the written results, and they are the library's evaluation (seed 0)
    row = next(
        line for line in printed.splitlines() if line.startswith(f"| 1D {k}-shot (zoo:ndcartpole-1d) |")
    )
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert cells == [f"{results[n]['mean']:.1f} ± {results[n]['learner_std']:.1f}" for n in names]
    expected = evaluate_distributions(
        load_distilled("zoo:ndcartpole-1d"), names, n_learners=3, episodes=2, seed=0
    )
    assert [results[n]["mean"] for n in names] == [float(expected[n].double().mean()) for n in names]


def test_evaluate_grid_prints_table_6(capsys):
    assert main(["evaluate", "zoo:ndcartpole-1d", "--grid", "--n-learners", "1", "--episodes", "1"]) == 0
    printed = capsys.readouterr().out
    assert "|  | h=32 | h=64 | h=128 | h=256 |" in printed
    assert sum(line.startswith("| L=") for line in printed.splitlines()) == 6


def test_evaluate_refuses_unknown_distributions_before_any_work(capsys):
    assert main(["evaluate", "zoo:ndcartpole-1d", "--learners", "lambda,kaiming"]) == 1
    assert "unknown learner distribution 'kaiming'" in capsys.readouterr().err


def test_kmin_distils_each_k_marks_learning_and_resumes(tmp_path, capsys):
    out = tmp_path / "km"
    args = ["kmin", "--k", "1,2", "--epochs", "1", "--n-learners", "2", "--episodes", "2", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| 2 ← k_min (Eq. 3) |" in printed and "Eq. 3 predicts k_min = ceil(2/2)+1 = 2" in printed
    report = json.loads((out / "kmin.json").read_text())
    assert report["predicted_k_min"] == 2 and set(report["results"]) == {"1", "2"}
    best = max(r["mean"] for r in report["results"].values())
    for r in report["results"].values():
        assert r["learns"] == (r["mean"] >= 0.5 * best and r["mean"] >= 3 * report["random_mean"])
    for k in (1, 2):
        assert load_distilled(out / f"k{k}" / "distilled.pt").k == k
    before = (out / "k1" / "distilled.pt").read_bytes()
    assert main([*args, "--resume", "-q"]) == 0  # finished k values are skipped, not redone
    assert (out / "k1" / "distilled.pt").read_bytes() == before
    assert main(["kmin", "--k", "0,2", "--epochs", "1", "--out", str(out)]) == 1
    assert ">= 1" in capsys.readouterr().err


def test_show_draws_the_dataset(tmp_path):
    for name in ("ndcartpole-1d", "ndcartpole-2d"):
        out = tmp_path / f"{name}.png"
        assert main(["show", f"zoo:{name}", "--out", str(out)]) == 0
        assert out.stat().st_size > 10_000
    assert main(["show", str(tmp_path / "missing.pt")]) == 1


def test_zoo_list_prints_the_commands(capsys):
    from taskdistill_rl import zoo

    assert main(["zoo", "list", "--markdown"]) == 0
    printed = capsys.readouterr().out
    for name, entry in zoo.entries().items():
        command = entry.get("reproduce", entry["command"])  # the --epochs command
        assert f"| zoo:{name} |" in printed and f"`{command}`" in printed
    assert main(["zoo", "list"]) == 0  # a rich table that folds to the terminal's width
    table = capsys.readouterr().out
    assert "zoo:ndcartpole-2d" in table and "|" not in table and max(map(len, table.splitlines())) <= 120


def test_evaluate_says_one_episode_not_one_episodes(capsys):
    """Issue 13: plural slips."""
    assert main(["evaluate", "zoo:ndcartpole-1d", "--n-learners", "1", "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "of 1 learner, 1 sampled episode each" in out and "episodes" not in out


def test_kmin_where_no_k_learns_says_so(tmp_path, capsys):
    """Issue 13: never "learning starts at k = None" (1 meta-epoch learns nothing: ~random returns)."""
    args = ["kmin", "--k", "1", "--epochs", "1", "--n-learners", "2", "--episodes", "2"]
    assert main([*args, "--out", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert "no k learned" in out and "None" not in out


def test_evaluate_quiet_without_out_is_refused(capsys):
    assert main(["evaluate", "zoo:ndcartpole-1d", "-q"]) == 1
    assert "-q without --out" in capsys.readouterr().err


def test_evaluate_on_a_compatible_env_other_than_the_files_own(tmp_path, capsys):
    """Issue 13: a 1D ND cart-pole file acts in CartPole-v1 (the same physics and spaces); an
    incompatible env is the existing one-line check."""
    out = tmp_path / "cp.json"
    args = ["evaluate", "zoo:ndcartpole-1d", "--n-learners", "5", "--episodes", "2"]
    assert main([*args, "--env", "CartPole-v1", "--out", str(out)]) == 0
    evaluation = json.loads(out.read_text())
    assert evaluation["env_id"] == "CartPole-v1" and evaluation["env_kwargs"] == {}
    assert evaluation["results"]["lambda"]["mean"] > 400  # a random agent scores ~22
    capsys.readouterr()
    assert main([*args, "--env-kwargs", "n_dims=2"]) == 1
    assert "but the dataset's observations are" in capsys.readouterr().err
