"""The fast path (channels-last-3d, bf16 autocast, torch.compile) computes the plain eager model's function.

Speed work is only worth having if the numbers stay right, so every fast-path piece is
checked against contiguous fp32 eager on fresh random inputs (never zeros), and every test also
checks that the fast piece really ran (memory format seen inside the net, bf16 dtype, one compiled
graph), so a silently ignored option fails instead of passing vacuously.

CPU compile backends: inductor for inference (about 40 s cold here, seconds with its cache warm);
aot_eager for the training graph, because inductor forward + backward took about 90 s cold on this
2-core machine. aot_eager still runs dynamo's capture and AOTAutograd's joint forward/backward graph.
"""
import copy
import os
import shutil

import pytest
import torch
from torch import nn

from video_rs.engine.runtime import Runtime
from video_rs.models import create_model

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
needs_compile = pytest.mark.skipif(
    not torch._dynamo.is_dynamo_supported() or shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="torch.compile needs dynamo support and a C++ compiler for CPU inductor")
MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


def rel_err(fast: torch.Tensor, ref: torch.Tensor) -> float:
    """‖fast − ref‖ / ‖ref‖ in float64; NaN anywhere fails every comparison."""
    return ((fast.double() - ref.double()).norm() / ref.double().norm()).item()


def tiny_model(seed: int = 0) -> nn.Module:
    """R3D-RS-26 at 1/8 width: the smallest registered net that still has every block type (SE, gating)."""
    torch.manual_seed(seed)
    return create_model("resnet3d_rs26", width_multiplier=0.125, num_classes=5)


def random_clips(batch: int = 2, shape=(4, 32, 32), seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, *shape), dtype=torch.uint8, generator=generator)


def cpu_runtime(**kwargs) -> Runtime:
    return Runtime(device=torch.device("cpu"), mean=MEAN, std=STD, **kwargs)


def loss_and_grads(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, runtime: Runtime | None = None):
    """(logits, flat gradient) of one cross-entropy backward, as the train loop computes them."""
    model.zero_grad(set_to_none=True)
    with runtime.autocast() if runtime else torch.autocast("cpu", enabled=False):
        logits = model(inputs)
    nn.functional.cross_entropy(logits.float(), labels).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return logits.detach().float(), grads


def test_channels_last_forward_matches_contiguous_fp32():
    """Same fp32 function in either memory format; the hook proves activations stayed channels-last."""
    model = tiny_model().eval()
    clips = random_clips()
    plain = cpu_runtime()
    with torch.no_grad():
        reference = model(plain.prepare(clips))
    fast_rt = cpu_runtime(channels_last=True)
    fast_model = fast_rt.place(copy.deepcopy(model))
    seen = []
    fast_model.stages[-1].register_forward_hook(
        lambda module, args, out: seen.append(out.is_contiguous(memory_format=torch.channels_last_3d)))
    inputs = fast_rt.prepare(clips)
    assert inputs.is_contiguous(memory_format=torch.channels_last_3d) and not inputs.is_contiguous()
    with torch.no_grad():
        fast = fast_model(inputs)
    assert seen == [True], "the last stage's output lost the channels-last layout"
    assert rel_err(fast, reference) < 1e-5


def test_channels_last_gradients_as_accurate_as_contiguous():
    """Train-mode gradients: channels-last fp32 is as close to an fp64 reference as contiguous fp32 is.

    Plain fp32 itself lands ~4e-5 from fp64 here (batch-2 BatchNorm statistics amplify rounding), so a
    fixed tolerance against contiguous fp32 would test noise; anchoring both to fp64 tests the layout.
    """
    model = tiny_model().train()
    clips, labels = random_clips(), torch.tensor([1, 3])
    inputs = cpu_runtime().prepare(clips)
    _, exact = loss_and_grads(copy.deepcopy(model).double(), inputs.double(), labels)
    _, plain = loss_and_grads(copy.deepcopy(model), inputs, labels)
    fast_rt = cpu_runtime(channels_last=True)
    fast_model = fast_rt.place(copy.deepcopy(model))
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in fast_model.parameters() if p.dim() == 5)
    _, fast = loss_and_grads(fast_model, fast_rt.prepare(clips), labels)
    plain_err, fast_err = rel_err(plain, exact), rel_err(fast, exact)
    assert plain_err < 1e-3, f"fp32 reference itself is off fp64 by {plain_err:.2e}"
    assert fast_err < 4 * plain_err + 1e-6, f"channels-last grads {fast_err:.2e} vs contiguous {plain_err:.2e}"


def test_bf16_autocast_cpu_within_bf16_tolerance():
    """bf16 autocast + channels-last through Runtime (the training path) stays within bf16 rounding of fp32."""
    model = tiny_model().eval()
    clips = random_clips(seed=2)
    with torch.no_grad():
        reference = model(cpu_runtime().prepare(clips))
    fast_rt = cpu_runtime(amp_dtype=torch.bfloat16, channels_last=True)
    fast_model = fast_rt.place(copy.deepcopy(model))
    with torch.no_grad(), fast_rt.autocast():
        fast = fast_model(fast_rt.prepare(clips))
    assert fast.dtype == torch.bfloat16, "autocast did not run the head in bf16"
    err = rel_err(fast, reference)
    assert 1e-6 < err < 2e-2, f"bf16 relative error {err:.2e}"


@needs_compile
def test_compiled_inference_matches_eager():
    """inductor (CPU) compiles the whole net as one graph (fullgraph) and computes the eager function."""
    torch._dynamo.reset()
    model = tiny_model().eval()
    inputs = cpu_runtime().prepare(random_clips(seed=3))
    with torch.no_grad():
        reference = model(inputs)
        compiled = torch.compile(copy.deepcopy(model), backend="inductor", fullgraph=True)
        fast = compiled(inputs)
    assert rel_err(fast, reference) < 1e-4


@needs_compile
def test_compiled_training_gradients_match_eager():
    """The joint forward/backward graph (aot_eager, fullgraph) gives eager's loss and gradients."""
    torch._dynamo.reset()
    model = tiny_model().train()
    inputs, labels = cpu_runtime().prepare(random_clips(seed=4)), torch.tensor([0, 4])
    logits_ref, grads_ref = loss_and_grads(copy.deepcopy(model), inputs, labels)
    compiled = torch.compile(copy.deepcopy(model), backend="aot_eager", fullgraph=True)
    logits, grads = loss_and_grads(compiled, inputs, labels)
    assert grads.numel() == grads_ref.numel()
    assert rel_err(logits, logits_ref) < 1e-4
    assert rel_err(grads, grads_ref) < 1e-4


# ----------------------------------------------------------------------------- CUDA: the real fast path
@pytest.fixture(scope="module")
def cuda_fast_vs_fp32():
    """One compiled bf16 channels-last forward + backward of R3D-RS-50 (8 x 112², eval-mode BN) vs fp32 eager.

    Built by `Runtime.from_cfg` + `wrap_for_training`, so it is exactly what train() runs. The reference
    disables TF32 (on by default for cuDNN convs) so it is true fp32. Eval-mode BN: with random weights,
    train-mode batch statistics of 2x2 late feature maps are ill-conditioned and make bf16 gradients
    noise even in eager (measured on CPU: 0.76 relative gradient error), which would test the init.
    """
    from video_rs.config import load_cfg
    from video_rs.engine.runtime import wrap_for_training
    from video_rs.models import build_model

    cfg = load_cfg(None, ["RESNET.DEPTH", "50", "MODEL.NUM_CLASSES", "400", "MODEL.DROPOUT_RATE", "0.0",
                          "MODEL.DROPPATH_RATE", "0.0", "TRAIN.COMPILE", "True", "DATA.MEAN", str(list(MEAN)),
                          "DATA.STD", str(list(STD))])
    device = torch.device("cuda")
    runtime = Runtime.from_cfg(cfg, device)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    clips, labels = random_clips(batch=4, shape=(8, 112, 112), seed=5), torch.randint(0, 400, (4,))
    labels = labels.to(device)
    reference_model = copy.deepcopy(model).to(device)
    reference_inputs = Runtime(device=device, mean=MEAN, std=STD).prepare(clips)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # matmul TF32 is off by default
        ref_logits, ref_grads = loss_and_grads(reference_model, reference_inputs, labels)
    fast_model = runtime.place(model)
    fast_logits, fast_grads = loss_and_grads(wrap_for_training(fast_model, cfg, device), runtime.prepare(clips),
                                             labels, runtime)
    return runtime, (fast_logits, fast_grads), (ref_logits, ref_grads)


@needs_cuda
def test_cuda_compiled_bf16_logits_match_fp32_eager(cuda_fast_vs_fp32):
    runtime, (fast, _), (reference, _) = cuda_fast_vs_fp32
    assert runtime.amp_dtype == torch.bfloat16 and runtime.channels_last
    err = rel_err(fast, reference)
    assert 1e-6 < err < 2e-2, f"bf16 compiled logits off fp32 eager by {err:.2e}"


@needs_cuda
def test_cuda_compiled_bf16_gradients_match_fp32_eager(cuda_fast_vs_fp32):
    """5e-2: bf16 backward through 50 layers; eager bf16 on CPU measured 1.8e-2 on this net and input."""
    _, (_, fast), (_, reference) = cuda_fast_vs_fp32
    assert fast.numel() == reference.numel()
    err = rel_err(fast, reference)
    assert err < 5e-2, f"bf16 compiled gradients off fp32 eager by {err:.2e}"
