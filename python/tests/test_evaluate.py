"""evaluate.py against `translocator eval`: the same stdout, byte for byte (the table, --json,
--tencrop, --hierarchical, --inclusive, --baseline) and the same --predictions file (every
image's answer), on model files written here from seeded random twins.

Exact, not within a tolerance: both sides feed bit-identical inputs; the forward passes differ by
float32 summation order (~1e-6 relative in these logits), which could only change an answer where
two cells' scores tie to that precision; none does on these sets (the test would show it as a
differing predictions row, to be reported rather than loosened)."""
import io
import os
import subprocess
import sys

import pytest

from conftest import PYTHON_DIR, SMALL_CONFIG, VIT_MT_CONFIG, random_twin, run
from translocator_torch.evaluate import main
from translocator_torch.inputs import Preprocessing
from translocator_torch.metrics import AccuracyTable, great_circle_distance_km, swift_number
from translocator_torch.modelfile import write_model_file
from translocator_torch.partitions import read_partitions

SCRIPT = os.path.join(PYTHON_DIR, "translocator_torch", "evaluate.py")


@pytest.fixture(scope="module")
def models(synthetic, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    partitions = read_partitions(synthetic["partitions"])
    paths = {}
    # Seeds whose answers vary over 7-8 cells with top-two logit gaps of 1e-3 or more (far above
    # the ~1e-6 by which the two engines' forwards differ).
    for name, config, seed in [("translocator", SMALL_CONFIG, 4), ("vit-mt", VIT_MT_CONFIG, 7)]:
        paths[name] = str(folder / f"{name}.safetensors")
        write_model_file(paths[name], random_twin(config, partitions.head_sizes, seed), partitions, Preprocessing(40))
    return paths


def python_eval(arguments: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(arguments, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def swift_eval(binary: str, arguments: list[str]) -> tuple[int, str, str]:
    result = subprocess.run([binary, "eval", *arguments], capture_output=True, text=True)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("model, options", [
    ("translocator", []), ("translocator", ["--json"]), ("translocator", ["--tencrop"]),
    ("translocator", ["--hierarchical", "--json"]), ("translocator", ["--tencrop", "--hierarchical", "--inclusive"]),
    ("vit-mt", ["--baseline", "--batch", "7"]),
], ids=["table", "json", "tencrop", "hierarchical-json", "tencrop-hierarchical-inclusive", "vit-mt-baseline"])
def test_stdout_and_predictions_equal_translocator_evals(binary, synthetic, models, tmp_path, model, options):
    manifest = os.path.join(synthetic["data"], "train.csv")      # 96 images: the partitions' own, so some are near
    swift_csv, python_csv = str(tmp_path / "swift.csv"), str(tmp_path / "python.csv")
    swift = run(binary, "eval", "--model", models[model], "--manifest", manifest, "--predictions", swift_csv, *options)
    code, ours, errors = python_eval(["--model", models[model], "--manifest", manifest, "--predictions", python_csv, *options])
    assert code == 0, errors
    assert ours == swift, f"{model} {options}"
    with open(swift_csv) as a, open(python_csv) as b:
        theirs_rows, our_rows = a.read().splitlines(), b.read().splitlines()
    assert our_rows == theirs_rows, f"{model} {options}: first difference at row " \
        f"{next(k for k, (x, y) in enumerate(zip(our_rows, theirs_rows)) if x != y)}"
    answers = {tuple(row.split(",")[3:5]) for row in our_rows[1:]}
    assert len(answers) > 3, "the random twin should spread its answers over cells"


def test_the_script_runs_from_a_checkout(binary, synthetic, models):
    manifest = os.path.join(synthetic["data"], "test.csv")
    result = subprocess.run([sys.executable, SCRIPT, "--model", models["translocator"], "--manifest", manifest, "--json"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout == run(binary, "eval", "--model", models["translocator"], "--manifest", manifest, "--json")


def test_bad_rows_missing_and_broken_images_as_translocator_eval(binary, synthetic, models, tmp_path):
    data = synthetic["data"]
    with open(os.path.join(data, "test.csv")) as f:
        header, *rows = f.read().splitlines()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    absolute = []
    for row in rows:                                   # image,lat,lon,seg,scene: both paths made absolute
        image, lat, lon, seg, scene = row.split(",")
        absolute.append(f"{data}/{image},{lat},{lon},{data}/{seg},{scene}")
    seg = absolute[0].split(",")[3]
    rows = absolute[:3] + [f"missing.png,1,2,{seg},0", f"bad.png,95,2,{seg},0", f"{broken},3,4,{seg},0"] + absolute[3:]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(header + "\n" + "\n".join(rows) + "\n")
    arguments = ["--model", models["translocator"], "--manifest", str(manifest)]
    for options in ([], ["--skip-invalid"], ["--skip-invalid", "--json"]):
        swift_code, swift_out, swift_err = swift_eval(binary, arguments + options)
        code, ours, errors = python_eval(arguments + options)
        assert (code, ours) == (swift_code, swift_out), f"{options}: {errors}"
        # The same warnings and errors, up to the decoders' own words for why an image does not decode.
        ours_warnings, swift_lines = ([line.split(" (first")[0] for line in text.splitlines()
                                       if line.startswith(("warning", "error"))] for text in (errors, swift_err))
        assert ours_warnings == swift_lines, options
        if options:
            assert [line.split(":")[0] for line in ours_warnings] == ["warning", "warning"], errors
    # Without --skip-invalid: the bad value, then (once removed) the missing file, named by file:line.
    assert swift_code == 0 and "skipped 2 images (first: " + f"{manifest}:5: image 'missing.png' does not exist" in errors
    assert python_eval(arguments)[2] == f"error: {manifest}:6: lat is '95', expected degrees in [-90, 90]\n"
    rows.pop(4)
    manifest.write_text(header + "\n" + "\n".join(rows) + "\n")
    code, _, errors = python_eval(arguments)
    assert code == 1 and errors == swift_eval(binary, arguments)[2] == \
        f"error: {manifest}:5: image 'missing.png' does not exist\n"


def test_distances_and_numbers_print_as_swift():
    # An error equal to a threshold counts only with --inclusive (the paper's '<', GeoEstimation's '<=').
    strict, inclusive = AccuracyTable.of([1.0, 0.5, 2500.0, 3000.0]), AccuracyTable.of([1.0, 0.5, 2500.0, 3000.0], True)
    assert strict.percent_within == (25.0, 50.0, 50.0, 50.0, 50.0)
    assert inclusive.percent_within == (50.0, 50.0, 50.0, 50.0, 75.0)
    assert (strict.mean_km, strict.median_km) == (1375.375, 1250.5)
    assert great_circle_distance_km(0, 0, 0, 180) == 2 * 6371.0 * 3.141592653589793 / 2
    assert great_circle_distance_km(90, 0, -90, 0) == great_circle_distance_km(0, -90, 0, 90)
    assert [swift_number(x) for x in (0.0, 100.0, 1e-05, 0.0001, 33.333333333333336, 9007199254740992.0,
                                      9007199254740994.0, 1e16, -0.0)] == \
        ["0.0", "100.0", "1e-05", "0.0001", "33.333333333333336", "9007199254740992.0", "9.007199254740994e+15",
         "1e+16", "-0.0"]
