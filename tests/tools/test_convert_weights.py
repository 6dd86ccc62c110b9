"""tools/convert_weights.py: timm file in, complete video_rs checkpoint out, misfits listed and fatal."""
from functools import partial
from pathlib import Path

import pytest
import torch
from timm.layers import get_attn
from timm.models.resnet import Bottleneck, ResNet

from video_rs.engine.checkpoint import build_model_from_checkpoint, load_checkpoint
from video_rs.models.weights import inflate_kernel

ROOT = Path(__file__).resolve().parents[2]
TIMM_INIT_CFG = str(ROOT / "configs/k400/3d_resnetrs50_timm_init.yaml")
DEPTH_26 = ["RESNET.DEPTH", "26", "MODEL.NUM_CLASSES", "1000"]


@pytest.fixture(scope="module")
def convert(load_tool):
    return load_tool("convert_weights").main


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory):
    """A random resnetrs-style timm net at depth 26 (layers 2,2,2,2), saved as a plain state dict."""
    se = partial(get_attn("se"), rd_ratio=0.25)
    torch.manual_seed(0)
    model = ResNet(block=Bottleneck, layers=(2, 2, 2, 2), stem_width=32, stem_type="deep", replace_stem_pool=True,
                   avg_down=True, block_args=dict(attn_layer=se))
    path = tmp_path_factory.mktemp("timm") / "rs26.pth"
    torch.save(model.state_dict(), path)
    return str(path)


def test_converted_file_rebuilds_the_inflated_model_alone(convert, timm_file, tmp_path, capsys):
    names = tmp_path / "classes.txt"
    names.write_text("".join(f"class_{i}\n" for i in range(1000)))
    out = str(tmp_path / "rs26.pyth")
    assert convert(["--from", "timm", "--src", timm_file, "--cfg", TIMM_INIT_CFG, "--out", out,
                    "--class-names", str(names)] + DEPTH_26) == 0
    assert "tensors loaded" in capsys.readouterr().out
    state = load_checkpoint(out)
    assert state["class_names"][7] == "class_7" and state["converted_from"]["inflate_mode"] == "center"
    model, cfg = build_model_from_checkpoint(state)
    assert cfg.RESNET.DEPTH == 26 and cfg.TRAIN.CHECKPOINT_TYPE == "timm"
    source = torch.load(timm_file, weights_only=True)
    weights = model.state_dict()
    assert torch.equal(weights["stem.conv1.conv.weight"], inflate_kernel(source["conv1.0.weight"], 5, "center"))
    assert torch.equal(weights["stages.3.blocks.1.conv_temporal.conv.weight"],
                       inflate_kernel(source["layer4.1.conv1.weight"], 3, "center"))
    assert torch.equal(weights["head.fc.weight"], source["fc.weight"])


def test_misfits_are_listed_and_fatal_unless_allowed(convert, timm_file, tmp_path, capsys):
    out = tmp_path / "bad.pyth"
    reference_layout = ["RESNET.STEM_POOL", "max", "RESNET.SELF_GATING", "last"]  # the 3D paper's, not timm's
    argv = ["--src", timm_file, "--cfg", TIMM_INIT_CFG, "--out", str(out)] + DEPTH_26 + reference_layout
    assert convert(argv) == 2
    err = capsys.readouterr().err
    assert "maxpool.0.weight (64, 64, 3, 3)" in err and "stages.3.blocks.1.self_gating.fc.bias (2048,)" in err
    assert not out.exists()
    assert convert(["--allow-mismatch", "--mode", "mean"] + argv) == 0
    assert "unmapped source tensor: maxpool.0.weight" in capsys.readouterr().out
    state = load_checkpoint(str(out))
    assert state["converted_from"]["problems"] and state["converted_from"]["inflate_mode"] == "mean"
    source = torch.load(timm_file, weights_only=True)
    assert torch.equal(state["model"]["stages.2.blocks.0.conv_temporal.conv.weight"],
                       inflate_kernel(source["layer3.0.conv1.weight"], 3, "mean"))


def test_class_names_must_match_the_head(convert, timm_file, tmp_path, capsys):
    names = tmp_path / "classes.txt"
    names.write_text("a\nb\n")
    argv = ["--src", timm_file, "--cfg", TIMM_INIT_CFG, "--out", str(tmp_path / "x.pyth"), "--class-names", str(names)]
    assert convert(argv + DEPTH_26) == 2
    assert "2 class names for MODEL.NUM_CLASSES 1000" in capsys.readouterr().err


class _RunsCode:
    """Unpickling this would create a file: `weights_only=True` must refuse it before anything runs."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("case", ["empty", "garbage", "module", "runs_code"])
def test_a_src_that_is_not_a_state_dict_is_one_error_line(convert, case, tmp_path, capsys):
    src, marker = tmp_path / f"{case}.pth", tmp_path / "code_ran"
    if case == "garbage":
        src.write_bytes(bytes(range(256)) * 8)
    elif case == "module":
        torch.save(torch.nn.Conv2d(3, 8, 3), src)  # a whole pickled module, not a state dict
    elif case == "runs_code":
        torch.save({"conv1.weight": _RunsCode(str(marker))}, src)
    else:
        src.write_bytes(b"")
    out = tmp_path / "out.pyth"
    assert convert(["--src", str(src), "--cfg", TIMM_INIT_CFG, "--out", str(out)] + DEPTH_26) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src}: unreadable weights file (") and err.count("\n") == 1, err
    assert not out.exists() and not marker.exists()


def test_class_names_are_optional_and_a_missing_names_file_is_one_error_line(convert, timm_file, tmp_path, capsys):
    out = tmp_path / "unnamed.pyth"
    assert convert(["--src", timm_file, "--cfg", TIMM_INIT_CFG, "--out", str(out)] + DEPTH_26) == 0
    assert load_checkpoint(str(out))["class_names"] is None  # predict.py then shows "class 0", "class 1", ...
    missing = tmp_path / "no_classes.txt"
    assert convert(["--src", timm_file, "--cfg", TIMM_INIT_CFG, "--out", str(tmp_path / "x.pyth"),
                    "--class-names", str(missing)] + DEPTH_26) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and str(missing) in err.splitlines()[-1]
