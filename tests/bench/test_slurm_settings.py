"""SLURM resources: the [executor] table and command-line options, validated, and the job
script submitit writes from them (no cluster needed)."""

import pytest

from byolbench.bench.matrix import spec_from_file
from byolbench.bench.slurm.settings import (
    SlurmSettings,
    parse_sbatch_options,
    parse_time,
    settings_from,
)
from byolbench.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        (90, 90),
        ("90", 90),
        ("30:00", 30),
        ("30:30", 31),
        ("1:30:00", 90),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("1-00:30", 1470),
    ],
)
def test_slurm_time_formats(value, minutes):
    assert parse_time(value) == minutes


@pytest.mark.parametrize("value", ["", "soon", "1:2:3:4", "0", "00:00", True, "-5"])
def test_bad_time_is_one_line(value):
    with pytest.raises(ConfigError) as info:
        parse_time(value)
    assert "\n" not in str(info.value) and "1:30:00" in str(info.value)


def test_command_line_wins_over_the_table_and_sbatch_options_merge():
    table = {
        "partition": "cpu",
        "gpus_per_node": 2,
        "time": "1:00:00",
        "sbatch": {"constraint": "a100"},
        "setup": ["module load cuda"],
    }
    cli = {
        "partition": "gpu",
        "time": None,
        "nodes": 2,
        "sbatch": parse_sbatch_options(["exclusive", "mail-type=END"]),
    }
    settings = settings_from(table, cli, "m.toml")
    assert settings.partition == "gpu" and settings.nodes == 2 and settings.time == "1:00:00"
    assert settings.sbatch == {"constraint": "a100", "exclusive": True, "mail-type": "END"}
    assert settings.processes_per_node == 2  # one Accelerate process per GPU
    params = settings.submitit_parameters()
    assert params["ntasks_per_node"] == 2 and params["gpus_per_node"] == 2
    assert params["time"] == 60 and params["nodes"] == 2
    assert params["setup"] == ["module load cuda"]
    assert params["additional_parameters"]["constraint"] == "a100"
    assert "account" not in params  # empty settings are left to the cluster


def test_without_gpus_a_job_is_one_process():
    assert SlurmSettings().processes_per_node == 1
    assert SlurmSettings(gpus_per_node=4, tasks_per_node=1).processes_per_node == 1


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"partitoin": "gpu"}, "did you mean partition?"),
        ({"gpus_per_node": -1}, "integer >= 0"),
        ({"nodes": 0}, "integer >= 1"),
        ({"cpus_per_task": "many"}, "integer"),
        ({"time": "later"}, "not a SLURM time limit"),
        ({"mem": "lots"}, "memory size"),
        ({"sbatch": "--exclusive"}, "must be a table"),
        ({"setup": [1, 2]}, "list of shell lines"),
        ({"account": ["a"]}, "must be a string"),
    ],
)
def test_bad_settings_name_the_key_and_source(table, needle):
    with pytest.raises(ConfigError) as info:
        settings_from(table, {}, "m.toml")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_sbatch_option_without_a_name_is_rejected():
    with pytest.raises(ConfigError, match="names no option"):
        parse_sbatch_options(["=x"])


def test_executor_table_is_read_from_the_matrix_file(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(
        '[matrix]\nbackbones = ["test_resnet"]\ndatasets = ["cifar10-mini"]\n'
        '[executor]\npartition = "gpu"\ngpus_per_node = 8\ntime = "12:00:00"\n'
    )
    spec = spec_from_file(path)
    settings = settings_from(spec.executor, {}, spec.source)
    assert (settings.partition, settings.gpus_per_node, settings.time_minutes) == ("gpu", 8, 720)


def test_submitit_writes_the_resources_into_the_job_script(tmp_path):
    submitit = pytest.importorskip("submitit")
    settings = settings_from(
        {
            "partition": "gpu",
            "gpus_per_node": 4,
            "nodes": 2,
            "cpus_per_task": 8,
            "time": "12:00:00",
            "account": "lab",
            "qos": "high",
            "mem": "64G",
            "sbatch": {"constraint": "a100", "exclusive": True},
            "setup": ["module load cuda/12.1"],
        },
        {},
        "m.toml",
    )
    executor = submitit.SlurmExecutor(folder=tmp_path)
    executor.update_parameters(**settings.submitit_parameters())
    script = executor._make_submission_file_text("python -m job", "uid")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --nodes=2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --time=720",
        "#SBATCH --account=lab",
        "#SBATCH --qos=high",
        "#SBATCH --mem=64G",
        "#SBATCH --constraint=a100",
        "#SBATCH --exclusive",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --job-name=byolbench",
        "module load cuda/12.1",
    ):
        assert line in script, line
