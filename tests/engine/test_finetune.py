"""Loading pretrained weights into a model with another class count; freezing for linear probes."""
import pytest
import torch

from video_rs.config import cfg_to_yaml, load_cfg
from video_rs.engine import checkpoint as ckpt
from video_rs.engine.finetune import freeze_backbone, load_pretrained, set_train_mode
from video_rs.engine.optim import build_optimizer
from video_rs.models import build_model

TINY = ["RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125", "MODEL.NUM_CLASSES"]


def test_head_with_other_class_count_is_reinitialised_and_reported(tmp_path):
    source = build_model(load_cfg(None, TINY + ["5"]))
    path = str(tmp_path / "src.pyth")
    ckpt.save_checkpoint(path, {"model": source.state_dict(), "ema": None, "cfg": ""})
    cfg = load_cfg(None, TINY + ["3", "TRAIN.CHECKPOINT_FILE_PATH", path])
    target = build_model(cfg)
    fresh_fc = target.head.fc.weight.clone()
    report = load_pretrained(target, cfg)
    assert report["skipped"] == ["head.fc.bias", "head.fc.weight"]
    assert torch.equal(target.head.fc.weight, fresh_fc)
    for key in report["loaded"]:
        assert torch.equal(target.state_dict()[key], source.state_dict()[key])
    assert len(report["loaded"]) == len(source.state_dict()) - 2 and not report["missing"]


@pytest.mark.parametrize("change, tensor", [(["RESNET.WIDTH_MULTIPLIER", "0.25"], "(checkpoint [32], network [64])"),
                                            (["RESNET.DEPTH", "50"], "(not in the checkpoint)")])
def test_backbone_that_does_not_fit_stops_naming_the_config_keys(tmp_path, change, tensor):
    """Another width or depth than the checkpoint's must not start a run from a half-loaded backbone."""
    source_cfg = load_cfg(None, TINY + ["5"])
    path = str(tmp_path / "src.pyth")
    ckpt.save_checkpoint(path, {"model": build_model(source_cfg).state_dict(), "ema": None,
                                "cfg": cfg_to_yaml(source_cfg)})
    cfg = load_cfg(None, TINY + ["3", "TRAIN.CHECKPOINT_FILE_PATH", path] + change)
    with pytest.raises(ckpt.CheckpointError) as caught:
        load_pretrained(build_model(cfg), cfg)
    message = str(caught.value)
    assert path in message and tensor in message
    assert f"{change[0]}: " in message and "MODEL.NUM_CLASSES:" not in message  # the head may differ


def test_ema_weights_are_preferred_when_present(tmp_path):
    cfg = load_cfg(None, TINY + ["3"])
    trained, averaged = build_model(cfg), build_model(cfg)
    with torch.no_grad():
        for p in averaged.parameters():
            p.fill_(0.5)
    path = str(tmp_path / "src.pyth")
    ckpt.save_checkpoint(path, {"model": trained.state_dict(), "ema": {"module": averaged.state_dict(),
                                                                        "num_updates": 1}, "cfg": ""})
    target = build_model(load_cfg(None, TINY + ["3", "TRAIN.CHECKPOINT_FILE_PATH", path]))
    load_pretrained(target, load_cfg(None, TINY + ["3", "TRAIN.CHECKPOINT_FILE_PATH", path]))
    assert torch.all(target.head.fc.weight == 0.5)


def test_linear_probe_trains_only_the_head_and_keeps_backbone_in_eval():
    cfg = load_cfg(None, TINY + ["3", "TRAIN.FREEZE_BACKBONE", "True"])
    model = build_model(cfg)
    freeze_backbone(model)
    optimizer = build_optimizer(model, cfg)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert in_optimizer == {id(p) for p in model.head.parameters()}
    set_train_mode(model, cfg)
    assert model.head.training
    assert not any(m.training for name, m in model.named_modules() if name and not name.startswith("head"))


def test_bn_freeze_keeps_statistics_fixed():
    cfg = load_cfg(None, TINY + ["3", "BN.FREEZE", "True"])
    model = build_model(cfg)
    set_train_mode(model, cfg)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.rand(2, 3, 4, 32, 32))
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert model.head.dropout.training
