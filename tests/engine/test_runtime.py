"""Device preparation: fp32 on CPU; on CUDA uint8 clips normalised on the GPU, channels-last-3d, bf16 autocast."""
import pytest
import torch

from video_rs.config import load_cfg
from video_rs.engine.runtime import Runtime
from video_rs.models import build_model

TINY = ["RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125", "MODEL.NUM_CLASSES", "3", "MODEL.DROPOUT_RATE", "0.0",
        "MODEL.DROPPATH_RATE", "0.0", "DATA.MEAN", "[0.5, 0.5, 0.5]", "DATA.STD", "[0.25, 0.25, 0.25]"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_runs_fp32_and_normalises():
    runtime = Runtime.from_cfg(load_cfg(None, TINY), torch.device("cpu"))
    assert runtime.amp_dtype is None and not runtime.channels_last and not runtime.grad_scaler().is_enabled()
    clips = torch.full((1, 3, 2, 4, 4), 255, dtype=torch.uint8)
    out = runtime.prepare(clips)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full_like(out, 2.0))


def test_randaugment_on_device_applies_to_training_batches_only():
    cfg = load_cfg(None, TINY + ["AUG.ENABLE", "True", "AUG.ON_DEVICE", "True", "AUG.RANDAUG_MAGNITUDE", "20"])
    runtime = Runtime.from_cfg(cfg, torch.device("cpu"))
    clips = torch.randint(0, 256, (4, 3, 2, 16, 16), dtype=torch.uint8)
    plain = runtime.prepare(clips)
    assert torch.equal(plain, runtime.prepare(clips))  # evaluation: never augmented
    torch.manual_seed(0)
    assert sum(not torch.equal(runtime.prepare(clips, train=True), plain) for _ in range(5)) >= 4
    assert Runtime.from_cfg(load_cfg(None, TINY + ["AUG.ENABLE", "True"]), torch.device("cpu")).train_augment is None


@needs_cuda
def test_cuda_fast_path_matches_fp32_within_bf16_tolerance():
    cfg = load_cfg(None, TINY)
    runtime = Runtime.from_cfg(cfg, torch.device("cuda"))
    assert runtime.amp_dtype == torch.bfloat16 and runtime.channels_last
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    clips = torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8).pin_memory()
    reference = model(runtime.prepare(clips).cpu().contiguous()).float()
    fast_model = runtime.place(model)
    inputs = runtime.prepare(clips)
    assert inputs.is_contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad(), runtime.autocast():
        fast = fast_model(inputs).float().cpu()
    assert torch.allclose(fast, reference, atol=5e-2, rtol=5e-2)


@needs_cuda
def test_fp16_option_uses_a_gradient_scaler():
    cfg = load_cfg(None, TINY + ["TRAIN.AMP_DTYPE", "float16"])
    runtime = Runtime.from_cfg(cfg, torch.device("cuda"))
    assert runtime.amp_dtype == torch.float16 and runtime.grad_scaler().is_enabled()
