"""Every knob of video_rs, each with a one-line comment.

Key names follow PySlowFast where it has the same knob, so its users can read our YAML files.
Defaults describe the official Model Garden Kinetics-400 3D ResNet-RS-50 experiment unless a
comment says otherwise; experiment files under `configs/` only list what they change.
"""
from fvcore.common.config import CfgNode

_C = CfgNode()

# ----------------------------------------------------------------------------- run
_C.OUTPUT_DIR = "./output"  # everything a run writes: config.yaml, checkpoints/, metrics.jsonl, results.json
_C.RNG_SEED = 0  # one seed; data workers derive theirs from it, their rank and worker id
_C.DEVICE = "auto"  # "auto" (CUDA when available), "cuda" or "cpu"
_C.LOG_PERIOD = 10  # iterations between metrics.jsonl / console lines
_C.DIST_BACKEND = "auto"  # "nccl", "gloo", or "auto": nccl with one rank per GPU, gloo on CPU or when ranks share a GPU

# ----------------------------------------------------------------------------- model
_C.MODEL = CfgNode()
_C.MODEL.ARCH = "resnet3d"  # model family; the only one today
_C.MODEL.NUM_CLASSES = 400  # classifier outputs; labels must lie in [0, NUM_CLASSES)
_C.MODEL.DROPOUT_RATE = 0.5  # dropout before the linear head, in [0, 1)
_C.MODEL.DROPPATH_RATE = 0.1  # stochastic-depth init rate; stage i (res2=0) drops with rate * (i + 2) / 5
_C.MODEL.LABEL_SMOOTHING = 0.1  # cross-entropy label smoothing, in [0, 1)
_C.MODEL.INIT = "he_fan_out"  # "he_fan_out" (timm; N(0, 0.01) head) or "model_garden" (VarianceScaling
#   fan-in convs, N(0, 0.01) self-gating, U(+-0.05) head)

# ----------------------------------------------------------------------------- backbone
_C.RESNET = CfgNode()
_C.RESNET.DEPTH = 50  # 26, 50, 101, 152, 200, 270, 300, 350 or 420 (the architecture specification's variant table)
_C.RESNET.WIDTH_MULTIPLIER = 1.0  # scales every stage width (the paper's width scaling)
_C.RESNET.SCALE_STEM_WIDTH = False  # also scale the stem widths by WIDTH_MULTIPLIER
_C.RESNET.STEM = "v1"  # "v1": ResNet-D deep 3-conv stem; "v0": classic single 7x7 conv
_C.RESNET.STEM_TEMPORAL_KERNEL = 5  # temporal size of the first stem conv
_C.RESNET.STEM_TEMPORAL_STRIDE = 2  # temporal stride of the first stem conv
_C.RESNET.STEM_POOL = "max"  # "max": 3x3 max-pool (3D reference); "conv": stride-2 conv+BN+ReLU (2D RS / timm)
_C.RESNET.STEM_POOL_TEMPORAL_STRIDE = 1  # temporal stride of the stem pool (Model Garden K400: 1)
_C.RESNET.SHORTCUT = "avgpool"  # projection shortcut: "avgpool" (ResNet-D, paper) or "conv" (Model Garden 3D)
_C.RESNET.SE_RATIO = 0.25  # squeeze-excitation width = max(1, int(4*f * ratio)); 0 disables SE
_C.RESNET.SELF_GATING = "last"  # "last": last block of each stage, before SE (Model Garden); "all": every block, after SE; "none"
# Temporal kernel sizes: 4 ints (one per stage) or 4 lists (one int per block of that stage).
_C.RESNET.TEMPORAL_KERNELS = [1, 1, 3, 3]
_C.RESNET.TEMPORAL_STRIDES = [1, 1, 1, 1]  # temporal stride of the first block of each stage
_C.RESNET.SPATIAL_STRIDES = [1, 2, 2, 2]  # spatial stride of the first block of each stage
_C.RESNET.ZERO_INIT_FINAL_BN = False  # start each residual branch at zero (last BN gamma = 0)
_C.RESNET.PADDING = "symmetric"  # "symmetric" (PyTorch) or "same" (TensorFlow, for Model Garden weights)

# ----------------------------------------------------------------------------- batch norm
_C.BN = CfgNode()
_C.BN.EPSILON = 1e-5  # BatchNorm epsilon (Model Garden K400: 1e-5)
_C.BN.MOMENTUM = 0.1  # PyTorch BN momentum; 1.0 reproduces Keras momentum 0 (latest batch, EMA-averaged)
_C.BN.NORM_TYPE = "batchnorm"  # "batchnorm" or "sync_batchnorm" (multi-GPU)
_C.BN.WEIGHT_DECAY = 0.0  # weight decay on BN parameters and biases (RS: none)
_C.BN.USE_PRECISE_STATS = False  # recompute BN statistics on training data before each evaluation
_C.BN.NUM_BATCHES_PRECISE = 200  # training batches (of TRAIN.BATCH_SIZE / processes clips) for precise BN statistics
_C.BN.FREEZE = False  # keep BN statistics fixed while fine-tuning

# ----------------------------------------------------------------------------- data
_C.DATA = CfgNode()
_C.DATA.PATH_TO_DATA_DIR = ""  # folder with train.csv / val.csv / test.csv (or the split files)
_C.DATA.PATH_PREFIX = ""  # prefix for relative video paths in the annotation files
_C.DATA.CLASS_NAMES_FILE = ""  # optional classes.txt (one per line) or JSON {name: index}; "" = look in PATH_TO_DATA_DIR
_C.DATA.SPLIT_ID = 1  # UCF101 / HMDB51 official split number (1, 2 or 3)
_C.DATA.NUM_FRAMES = 32  # frames per clip
_C.DATA.SAMPLING_RATE = 2  # temporal stride between sampled frames, at TARGET_FPS
_C.DATA.TARGET_FPS = 30  # clips cover NUM_FRAMES * SAMPLING_RATE / TARGET_FPS seconds whatever the source fps
_C.DATA.SHORT_VIDEO = "clamp"  # video shorter than a clip: "clamp" (last frame repeats) or "loop" (Model Garden:
#   the video repeats from its start)
_C.DATA.TRAIN_CROP_SIZE = 224  # training crop side
_C.DATA.TEST_CROP_SIZE = 256  # test: short side resized to this, then square crops of this size
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]  # short-side scale jitter range when not using random-resized-crop
_C.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.08, 1.0]  # random-resized-crop area range; [] = use scale jitter
_C.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [0.5, 2.0]  # random-resized-crop aspect-ratio range
_C.DATA.TRAIN_CROP_STYLE = "torchvision"  # random-resized-crop: "torchvision" (log-uniform aspect, 10 tries,
#   centre-crop fallback, antialiased) or "tf" (Model Garden: uniform aspect and height, 100 tries, >= 10% of the
#   frame, whole-frame fallback, bilinear without antialias)
_C.DATA.RANDOM_FLIP = True  # horizontal flip in training
_C.DATA.MEAN = [0.0, 0.0, 0.0]  # per-channel mean of [0, 1] pixels (Model Garden: none)
_C.DATA.STD = [1.0, 1.0, 1.0]  # per-channel std of [0, 1] pixels
_C.DATA.DECODING_BACKEND = "decord"  # "decord" or "pyav"
_C.DATA.DECODE_RETRIES = 10  # training: other clips of a failing video tried before another video
_C.DATA.MAX_BAD_FRACTION = 0.05  # stop when more than this fraction of a split cannot be read
# An epoch visits every video once, so with K clips x S copies it has K*S times the steps (same TRAIN.BATCH_SIZE).
_C.DATA.NUM_CLIPS_PER_VIDEO = 1  # K: training clips at random times, decoded in one pass per video visit
_C.DATA.TRAIN_CROP_NUM_SPATIAL = 1  # S: augmented copies of each decoded clip (repeated augmentation, no extra decode)

# ----------------------------------------------------------------------------- synthetic data
_C.SYNTHETIC = CfgNode()
_C.SYNTHETIC.ENABLE = False  # generate the procedural motion dataset into DATA.PATH_TO_DATA_DIR if missing (new folder)
_C.SYNTHETIC.VIDEOS_PER_CLASS = [24, 6, 6]  # train / val / test videos per class
_C.SYNTHETIC.NUM_FRAMES = 48  # frames per generated video
_C.SYNTHETIC.SIZE = [64, 80]  # height, width of generated videos
_C.SYNTHETIC.FPS = 30  # frame rate of generated videos

# ----------------------------------------------------------------------------- data loader
_C.DATA_LOADER = CfgNode()
_C.DATA_LOADER.NUM_WORKERS = 8  # decoding processes per rank
_C.DATA_LOADER.PIN_MEMORY = True  # page-locked host batches for asynchronous copies
_C.DATA_LOADER.PREFETCH_FACTOR = 2  # batches each worker keeps ready

# ----------------------------------------------------------------------------- augmentation
_C.AUG = CfgNode()
_C.AUG.ENABLE = False  # RandAugment, one draw per clip applied to every frame
_C.AUG.RANDAUG_NUM_OPS = 2  # RandAugment layers
_C.AUG.RANDAUG_MAGNITUDE = 15  # paper / TF / timm scale, 0..30: 10 = each op at full strength; ResNet-RS: 15 at
#   224 px, 10 at 160 px (torchvision's own `magnitude` is 3x smaller: its 10 is the paper's 3.3)
_C.AUG.ON_DEVICE = False  # RandAugment on the training device's uint8 batch, not in loader workers (~20 ms CPU/clip)

# ----------------------------------------------------------------------------- training
_C.TRAIN = CfgNode()
_C.TRAIN.ENABLE = True  # train; False with TEST.ENABLE only evaluates
_C.TRAIN.DATASET = "kinetics"  # "kinetics" (path label CSVs), "ucf101", "hmdb51" or "folder"
_C.TRAIN.SPLIT = "train"  # annotation split used for training
_C.TRAIN.BATCH_SIZE = 1024  # GLOBAL batch over all ranks, as in PySlowFast
_C.TRAIN.GRAD_ACCUM_STEPS = 1  # micro-batches per optimiser step: each process holds BATCH_SIZE / (processes x this)
#   clips at once (memory); the step, LR schedule and EMA still see BATCH_SIZE; BatchNorm sees the micro-batch
_C.TRAIN.EVAL_PERIOD = 5  # epochs between single-view validations; 0 disables
_C.TRAIN.CHECKPOINT_PERIOD = 5  # epochs between checkpoints
_C.TRAIN.CHECKPOINT_PERIOD_MINUTES = 0.0  # also checkpoint inside an epoch when this long passed since the last
#   checkpoint (long epochs on machines that may be taken away); 0 disables
_C.TRAIN.CHECKPOINT_KEEP = 3  # newest checkpoints kept on disk
_C.TRAIN.AUTO_RESUME = True  # resume from the newest readable checkpoint in OUTPUT_DIR/checkpoints
_C.TRAIN.CHECKPOINT_FILE_PATH = ""  # initialise from this checkpoint (fine-tuning or 2D inflation)
_C.TRAIN.CHECKPOINT_TYPE = "video_rs"  # "video_rs" checkpoint or "timm" 2D state dict (inflated on load)
_C.TRAIN.CHECKPOINT_INFLATE_MODE = "center"  # 2D->3D inflation: "center" or "mean" (I3D)
_C.TRAIN.MIXED_PRECISION = True  # autocast on CUDA (fp32 on CPU always)
_C.TRAIN.AMP_DTYPE = "bfloat16"  # "bfloat16" or "float16" (float16 adds a gradient scaler)
_C.TRAIN.CHANNELS_LAST = True  # channels-last-3d memory format on CUDA
_C.TRAIN.COMPILE = False  # torch.compile the model
_C.TRAIN.FREEZE_BACKBONE = False  # linear probe: train the head only
_C.TRAIN.HEAD_LR_MULT = 1.0  # learning-rate multiplier for the classifier head

# ----------------------------------------------------------------------------- optimisation
_C.SOLVER = CfgNode()
_C.SOLVER.OPTIMIZING_METHOD = "sgd"  # "sgd" (the RS recipe: momentum, Nesterov) or "adamw" (short small runs)
_C.SOLVER.BASE_LR = 0.8  # peak learning rate for TRAIN.BATCH_SIZE
_C.SOLVER.LR_POLICY = "cosine"  # "cosine" or "steps_with_relative_lrs" (baseline); updated every iteration
_C.SOLVER.MAX_EPOCH = 350  # training length in epochs
_C.SOLVER.WARMUP_EPOCHS = 5.0  # linear warmup length (fractional epochs allowed)
_C.SOLVER.WARMUP_START_LR = 0.0  # learning rate at step 0
_C.SOLVER.COSINE_END_LR = 0.0  # learning rate at the end of the cosine decay
_C.SOLVER.STEPS = [0, 0.3, 0.6, 0.8]  # step policy: epoch fractions where each LRS factor starts
_C.SOLVER.LRS = [1.0, 0.1, 0.01, 0.001]  # step policy: relative learning rates
_C.SOLVER.MOMENTUM = 0.9  # SGD momentum
_C.SOLVER.NESTEROV = True  # Nesterov momentum
_C.SOLVER.WEIGHT_DECAY = 4e-5  # L2 on conv and linear weights (RS: 4e-5, baseline: 1e-4)
_C.SOLVER.CLIP_GRAD_L2NORM = 0.0  # clip the gradient norm to this; 0 disables

# ----------------------------------------------------------------------------- weight averaging
_C.MODEL_EMA = CfgNode()
_C.MODEL_EMA.ENABLE = True  # keep an EMA of weights and BN buffers; evaluate it
_C.MODEL_EMA.DECAY = 0.9999  # EMA decay per optimiser step
_C.MODEL_EMA.DYNAMIC_DECAY = True  # decay = min(DECAY, (1+n)/(10+n)) as in TensorFlow, so short runs average sensibly

# ----------------------------------------------------------------------------- evaluation
_C.TEST = CfgNode()
_C.TEST.ENABLE = True  # run the multi-view test after training (or alone with TRAIN.ENABLE False)
_C.TEST.DATASET = "kinetics"  # as TRAIN.DATASET
_C.TEST.SPLIT = "val"  # annotation split evaluated by the multi-view test (Kinetics: val.csv)
_C.TEST.BATCH_SIZE = 64  # clips per forward pass (views are chunked to this, bounding memory)
_C.TEST.NUM_ENSEMBLE_VIEWS = 10  # temporal clips per video, spread from first to last frame
_C.TEST.NUM_SPATIAL_CROPS = 3  # 1 = centre crop; 3 = both ends and centre of the long side
_C.TEST.ENSEMBLE_METHOD = "sum"  # aggregate view softmax scores by "sum" (mean) or "max"
_C.TEST.CHECKPOINT_FILE_PATH = ""  # checkpoint to evaluate; "" = newest in OUTPUT_DIR

# ----------------------------------------------------------------------------- ablation study
_C.ABLATION = CfgNode()
_C.ABLATION.ROWS = []  # study files only: ordered row files (paths relative to the study file), each adding overrides to the rows before it
_C.ABLATION.BASELINE_NAME = "00_baseline"  # row 0 (the study file itself): its name and OUTPUT_DIR subfolder

# ----------------------------------------------------------------------------- logging
_C.TENSORBOARD = CfgNode()
_C.TENSORBOARD.ENABLE = True  # write TensorBoard events to OUTPUT_DIR/tensorboard


def get_defaults() -> CfgNode:
    """A fresh, mutable copy of the defaults (never hand out the module-level node)."""
    return _C.clone()
