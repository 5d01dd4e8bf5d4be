"""Model files written and read in Python (modelfile.py): the round trip, the metadata the Swift
reader needs, and the errors a file that does not fit gives."""
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import SMALL_CONFIG, VIT_MT_CONFIG, random_twin
from translocator_torch.inputs import Preprocessing
from translocator_torch.modelfile import FORMAT, ModelFileError, read_model_file, write_model_file
from translocator_torch.partitions import GeoPartitions, PartitionCell, make_partition

# Level-2 cells of faces 0..2 (tokens 04, 0c, 14, ...): valid and disjoint.
LEVEL2_TOKENS = [f"{(face << 61 | child << 59 | 1 << 56):016x}".rstrip("0") for face in range(3) for child in range(4)]


def partitions_of(sizes: dict[str, int]) -> GeoPartitions:
    def partition(count: int):
        cells = [PartitionCell(k, LEVEL2_TOKENS[k], 10 + k, -45.5 + 7.25 * k, 170.125 - 30.5 * k) for k in range(count)]
        return make_partition(cells, "test")
    return GeoPartitions(partition(sizes["coarse"]), partition(sizes["middle"]), partition(sizes["fine"]))


SIZES = {"coarse": 3, "middle": 5, "fine": 7}


@pytest.mark.parametrize("config", [SMALL_CONFIG, VIT_MT_CONFIG], ids=["translocator", "vit-mt"])
def test_round_trip_keeps_every_weight_partition_and_setting(tmp_path, config):
    model, partitions = random_twin(config, SIZES, seed=11), partitions_of(SIZES)
    path = str(tmp_path / "m.safetensors")
    write_model_file(path, model, partitions, Preprocessing(37))
    read = read_model_file(path)

    written = model.state_dict()
    assert list(read.model.state_dict()) == list(written)
    for name, value in read.model.state_dict().items():
        assert torch.equal(value, written[name]), name            # F32 in, F32 out: bit for bit
    assert read.partitions == partitions
    assert read.preprocessing == Preprocessing(37)
    assert read.model.config == config
    size = config["img_size"]
    rgb, seg = torch.randn(2, 3, size, size), torch.randn(2, 3, size, size)
    with torch.no_grad():
        a = model(rgb, seg if model.has_seg else None)
        b = read.model(rgb, seg if model.has_seg else None)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_metadata_is_what_the_swift_reader_parses(tmp_path):
    path = str(tmp_path / "m.safetensors")
    write_model_file(path, random_twin(SMALL_CONFIG, SIZES, seed=1), partitions_of(SIZES), Preprocessing(40),
                     metadata={"note": "kept", "format": "replaced"})
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        dtypes = {f.get_tensor(name).dtype for name in f.keys()}
    assert dtypes == {torch.float32}
    assert metadata["format"] == FORMAT and metadata["note"] == "kept"
    assert json.loads(metadata["config"]) == SMALL_CONFIG
    assert json.loads(metadata["preprocessing"]) == {"resize_short_side": 40}
    fine = json.loads(metadata["partitions"])["fine"]
    assert sorted(fine) == ["images", "latitudes", "longitudes", "tokens"]
    assert fine["tokens"] == LEVEL2_TOKENS[:7] and fine["images"] == list(range(10, 17))
    assert fine["latitudes"][3] == -45.5 + 7.25 * 3 and fine["longitudes"][6] == 170.125 - 30.5 * 6


def test_reading_ignores_other_tensors_and_defaults_the_resize(tmp_path):
    # A checkpoint's optimizer state rides along; a file without `preprocessing` means 256/224.
    path = str(tmp_path / "m.safetensors")
    model = random_twin(SMALL_CONFIG, SIZES, seed=2)
    write_model_file(path, model, partitions_of(SIZES),
                     extra_tensors={"optimizer.exp_avg.rgb.cls_token": torch.ones(1, 1, 32)})
    tensors, metadata = load_file(path), safe_open(path, framework="pt").metadata()
    del metadata["preprocessing"]
    save_file(tensors, path, metadata=metadata)
    read = read_model_file(path)
    assert read.preprocessing == Preprocessing((32 * 256 + 112) // 224) == Preprocessing(37)
    assert torch.equal(read.model.state_dict()["rgb.cls_token"], model.state_dict()["rgb.cls_token"])


def test_weights_that_do_not_fit_are_all_named(tmp_path):
    path = str(tmp_path / "m.safetensors")
    write_model_file(path, random_twin(SMALL_CONFIG, SIZES, seed=3), partitions_of(SIZES))
    tensors, metadata = load_file(path), safe_open(path, framework="pt").metadata()
    del tensors["seg.norm.bias"]
    tensors["heads.fine.2.weight"] = torch.zeros(8, 40)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ModelFileError) as error:
        read_model_file(path)
    message = str(error.value)
    assert path in message and "seg.norm.bias" in message and "heads.fine.2.weight [8, 40] (expected [7, 40])" in message


@pytest.mark.parametrize("key, value, expected", [
    ("config", None, "__metadata__.config absent"),
    ("config", '{"img_size": 32}', "model.architecture is missing"),
    ("config", json.dumps({**SMALL_CONFIG, "num_heads": 3}), "model.num_heads is 3, expected a divisor of embed_dim 32"),
    ("partitions", '{"coarse": {}}', "no coarse partition"),
    ("partitions", None, "__metadata__.partitions absent"),
    ("preprocessing", '{"resize_short_side": 31}', "resize_short_side is 31, expected at least the model's img_size 32"),
    ("preprocessing", '{"resize": 40}', 'expected {"resize_short_side": n}'),
])
def test_bad_metadata_is_an_error_naming_file_and_key(tmp_path, key, value, expected):
    path = str(tmp_path / "m.safetensors")
    write_model_file(path, random_twin(SMALL_CONFIG, SIZES, seed=4), partitions_of(SIZES))
    tensors, metadata = load_file(path), safe_open(path, framework="pt").metadata()
    if value is None:
        del metadata[key]
    else:
        metadata[key] = value
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ModelFileError, match=None) as error:
        read_model_file(path)
    assert path in str(error.value) and expected in str(error.value), str(error.value)


def test_partitions_in_a_model_file_are_checked(tmp_path):
    path = str(tmp_path / "m.safetensors")
    write_model_file(path, random_twin(SMALL_CONFIG, SIZES, seed=5), partitions_of(SIZES))
    tensors, metadata = load_file(path), safe_open(path, framework="pt").metadata()
    partitions = json.loads(metadata["partitions"])
    partitions["middle"]["tokens"][2] = "7"              # face 3 at level 0 is valid, but contains nothing else here
    partitions["middle"]["tokens"][3] = partitions["middle"]["tokens"][2] + "4"   # inside it: overlap
    metadata["partitions"] = json.dumps(partitions)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ModelFileError, match="overlap"):
        read_model_file(path)
    partitions["middle"]["tokens"][3] = "zz"
    metadata["partitions"] = json.dumps(partitions)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ModelFileError, match=r"middle\[3\]: token 'zz' is not an S2 cell"):
        read_model_file(path)


def test_writing_refuses_partitions_of_other_sizes(tmp_path):
    with pytest.raises(ValueError, match="partitions"):
        write_model_file(str(tmp_path / "m.safetensors"), random_twin(SMALL_CONFIG, SIZES, seed=6),
                         partitions_of({"coarse": 3, "middle": 5, "fine": 6}))
