"""The README's main-job headline and docs/recipes.md are what tools/make_recipe_tables.py makes of
benchmarks/results/main-job: one stored run, quoted in one place."""

from tests.scripts import ROOT, load_script


def load_tool():
    return load_script("tools/make_recipe_tables.py")


def test_main_job_figures_are_up_to_date():
    for path, expected in load_tool().expected_pages(ROOT).items():
        assert path.read_text() == expected, f"{path.name} is stale: run python tools/make_recipe_tables.py"


def run(recipe="", seed=0, accuracy=0.9, wall=100, timed="trial", **extra):
    base = dict(date="2026-11-28", machine="2-core CPU", python="3.11", jax="0.10.2", steps=2500)
    return base | dict(recipe=recipe, seed=seed, test_accuracy=accuracy, wall_s=wall, timed=timed, **extra)


def test_headline_quotes_the_timed_default_run_and_the_other_seeds():
    tool = load_tool()
    stored = [
        run("--lr 0.1", accuracy=0.95),  # another recipe: never the headline
        run(seed=1, accuracy=0.9015),
        run(accuracy=0.9017, wall=186, timed=tool.TIMED),
        run(accuracy=0.9016, wall=175, timed=tool.TIMED, note="rerun"),
    ]
    text = " ".join(tool.headline(stored).split())
    assert "**90.17% test accuracy after 2 epochs (2,500 steps of 16 images" in text
    assert "in 3 min 6 s** (`time jaxcnn train`, 2026-11-28; a rerun: 90.16%, 2 min 55 s)" in text
    assert "seeds 1 (`--seed`) reached 90.15%" in text and "95.00%" not in text


def test_table_has_one_line_per_run():
    table = load_tool().table([run(wall=None), run("--lr 0.1", note="x")]).splitlines()
    assert table[2] == "| **the default** | 0 | 2,500 | 90.00% | - | trial | 2026-11-28 |  |"
    assert table[3].startswith("| `--lr 0.1` | 0 |") and table[3].endswith("| x |")
