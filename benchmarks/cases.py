"""What the benchmarks measure, as plain data (no TensorFlow import): shared by the
benchmark files and by report.py, which turns results.json into results.md.

Rounds are small on purpose: `make bench` must finish in under 15 minutes on a 2-core
machine. Every timed call is preceded by one untimed warm-up call (tracing, oneDNN
primitive creation).
"""

# Sizes of seed 001's timing table (table 4).
SIZES = (224, 512, 1024, 2048)

# hypercol colorize, one image per call: size -> rounds. 256 is the size of the yardstick checks below.
HYPERCOL_SINGLE = {224: 5, 256: 5, 512: 5, 1024: 3, 2048: 3}
# hypercol colorize, a batch per call: (size, batch) -> rounds. 16 x 256 is VGG16_BATCH's case.
HYPERCOL_BATCHED = {(224, 8): 3, (256, 16): 3, (512, 8): 2, (1024, 2): 2}

# colorize against its yardsticks in the benchmark process, measured alternately (each
# round times both sides back to back, so both see the same load on a shared machine).
# (a) colorize of 16 x 256 x 256 uint8 against a plain float32 Keras VGG16 forward of the
# same batch; (b) 2048 x 2048 against 256 x 256.
VGG16_BATCH = (16, 256)
VGG16_ROUNDS = 3
COLORIZE_2048_VS_256_ROUNDS = 5

# Peers: one image per call at every size, plus a batch of 8 at 224; size -> rounds.
# hypercol's colorize of the same images is timed before every peer round (alternating),
# and the ratio to hypercol uses those interleaved timings.
PEER_ROUNDS = {224: 3, 512: 2, 1024: 1, 2048: 1}
PEER_BATCHED = {(224, 8): 2}
PEER_NAMES = ("plain_cnn", "global_local_fusion", "zhang_eccv16", "naive_hypercolumn")
# Zhang et al.'s published protocol: the network always sees 256 x 256 and the ab
# output is upsampled to the image (the authors' demo code does the same).
PEER_NETWORK_SIZE = {"zhang_eccv16": 256}
# Bytes of RAM a peer needs per pixel of network input, roughly (float32 activations
# that are alive at the same time); used to skip sizes the machine cannot hold.
NAIVE_HYPERCOLUMN_BYTES_PER_PIXEL = 2 * 1472 * 4  # upsampled taps + their concatenation
PEER_NOTES = {
    "plain_cnn": "full resolution",
    "global_local_fusion": "full resolution (global branch on a 224 x 224 copy)",
    "zhang_eccv16": "network at 256 x 256 (published protocol), ab upsampled",
    "naive_hypercolumn": "full resolution, 1472-channel hypercolumn per pixel",
}

# Hypercolumn extraction: image size (hypercolumns at the same size) -> rounds.
HYPERCOLUMN_SIZES = {224: 3, 512: 2}

# One training step: backbone forward + head forward/backward + Adam. Target: from photos,
# the default head at least this many times the examples per second of the earlier VGG16 default.
TRAIN_BATCH, TRAIN_SIZE, TRAIN_ROUNDS = 16, 224, 3
TARGET_TRAINING_SPEEDUP = 3.0

# hypercol itself with the bf16 rewrite off (HYPERCOL_PRECISION=float32), in a subprocess
# because the rewrite is process-global: (size, batch) -> repeats.
HYPERCOL_FLOAT32 = {(256, 16): 2, (224, 1): 3, (2048, 1): 2}

# colorize of VGG16_BATCH against a float32 Keras VGG16 forward of the same batch, in a
# subprocess, alternating round by round, on every CPU class:
# (name, environment). "native": the machine's own precision (bf16 where the CPU has it) and
# instructions; "float32": the bf16 rewrite off (a CPU without bf16); "AVX2": float32 with
# oneDNN held to AVX2 (a CPU without AVX-512). Target: at most this ratio of the medians
# (0.45 with the earlier VGG16 default).
SPEED_CLASSES = (
    ("native", {}),
    ("float32", {"HYPERCOL_PRECISION": "float32"}),
    ("AVX2", {"HYPERCOL_PRECISION": "float32", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
)
TRAINING_ISAS = ("native", "AVX2")  # the float32 training steps, natively and held to AVX2
SPEED_ROUNDS = 7  # the ratio sits near its bound, and one slow round moves a median of 3
TARGET_VS_VGG16_EVERY_CPU = 0.15

# Peak resident memory of one big colorize, in a subprocess.
MEMORY_SIZE = 8000

# Seed 001 (Kaushik et al.), table 4: seconds per image for their global+local fusion
# model, GPU = NVIDIA GeForce GTX 1060, CPU = Intel Core i7-8750H. Published figures on
# other hardware, copied as printed; not measured here.
PUBLISHED_SEED001 = {
    224: {"gpu_s": 0.153, "cpu_s": 0.459, "gpu_over_cpu": "3.0x"},
    512: {"gpu_s": 0.644, "cpu_s": 1.869, "gpu_over_cpu": "2.9x"},
    1024: {"gpu_s": 1.867, "cpu_s": 5.974, "gpu_over_cpu": "3.2x"},
    2048: {"gpu_s": 8.534, "cpu_s": 23.896, "gpu_over_cpu": "2.8x"},
}

# Targets of the yardstick checks above (VGG16_BATCH; 2048 x 2048 against 256 x 256).
TARGET_VS_VGG16 = 0.35
TARGET_2048_VS_256 = 4.0
# The ensemble (head="ensemble": two heads on two backbones) against the default head on the same
# 16 x 256 x 256 batch: its documented price is about twice the time.
ENSEMBLE_ROUNDS = 5
TARGET_ENSEMBLE_VS_DEFAULT = 2.0

# Guidance: a colorize call steered by hints or a reference photo against the automatic
# call of the same image, alternating round by round. Hints: 100 random 3 x 3 dots (the
# most of the measured cases); reference: a new 512 x 512 color photo every call (its
# backbone pass included), and the same reference prepared once. 25 rounds (about 3 s a case):
# with 5, single rounds ranged 1.24-1.63x around a median at the bound, so the median itself
# moved by several hundredths from run to run.
GUIDANCE_SIZE = 512
GUIDANCE_ROUNDS = 25
GUIDANCE_HINTS = 100
TARGET_GUIDANCE = 1.5

# Beam: the Beam pipeline (`hypercol colorize-beam`, DirectRunner with 2 workers: worker
# processes, then worker threads) against the plain command line (`hypercol colorize`) on the
# same folder of real photos, both as fresh processes end to end, alternating round by round.
BEAM_PHOTOS, BEAM_LONG_SIDE, BEAM_ROUNDS = 24, 384, 3
BEAM_RUNNING_MODES = ("multi_processing", "multi_threading")

# Video. Quality on clips made at run time from validation photos (benchmarks/video_clips.py):
# VIDEO_CLIPS clips of 3 shots (a pan, a zoom, ...; a cut between shots), each VIDEO_FRAMES_PER_SHOT
# frames of VIDEO_CLIP_SIZE (height, width); per-frame `colorize` against `colorize_video`.
VIDEO_SETS = ("scenes-corel", "imagenet-samples", "scenes-urban", "scenes-osie", "scenes-bsds", "people-scenes")
VIDEO_CLIPS, VIDEO_SHOTS, VIDEO_FRAMES_PER_SHOT, VIDEO_CLIP_SIZE = 6, 3, 16, (180, 320)
TARGET_VIDEO_FLICKER = 0.4  # video flicker / per-frame flicker, at most
TARGET_VIDEO_PSNR_DROP = 0.3  # dB below per-frame, at most
# Speed: a pan of VIDEO_SPEED_FRAMES frames per round, video mode against per-frame `colorize` of the same
# frames, alternating round by round; (height, width) -> rounds.
VIDEO_SPEED = {(360, 640): 5, (720, 1280): 5}
VIDEO_SPEED_FRAMES = 12
TARGET_VIDEO_COST = 1.3  # video seconds per frame / per-frame colorize seconds per frame, at most
