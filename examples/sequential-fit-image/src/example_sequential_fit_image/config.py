"""Run-time configuration: one dataclass, loaded from TOML, overridden, validated."""

import dataclasses
import tomllib
from pathlib import Path

# The value of a setting that is derived from the data.
AUTO = "auto"
STRATEGIES = ("auto", "default", "mirrored")
# Strategies that Keras 3.15 cannot run with model.fit, and why.
UNAVAILABLE = {
    "multi-worker": (
        "Keras 3.15 fails under MultiWorkerMirroredStrategy "
        "(keras-team/keras#20585); a project generated with the custom training "
        "loop trains on several machines"
    ),
}
# Augmentation policies (data.AUGMENTATIONS): "light" measured best on small sets;
# "auto" (light) and "on" (full) are the names 0.2's configs/default.toml used.
AUGMENT = ("off", "light", "full", "auto", "on")
# The colour transparent pixels are composited onto.
ALPHA_BACKGROUNDS = ("white", "black")
# keras.applications models that backbones.py knows how to feed raw pixels.
APPLICATIONS = ("ResNet50V2", "EfficientNetV2B0", "MobileNetV3Small", "ConvNeXtTiny")
# The smallest images they take (their last stage is 32 times smaller).
APPLICATION_MIN_SIZE = 32

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("step", "cosine")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE = ("auto", "true", "false")
# The Keras backends a project trains on; KERAS_BACKEND, where set, overrides
# the config file, and --backend overrides both.
BACKENDS = ("tensorflow", "jax", "torch")
# One line of help per setting: default.toml's comments and `train --help`.
HELP = {
    "alpha_background": (
        "The colour a PNG's transparent pixels (alpha channel or palette "
        'transparency) are composited onto: "white" or "black".'
    ),
    "augment": (
        'Random changes to training images: "off", "light" (translation and '
        'zoom of up to 10%) or "full" (also horizontal flips and contrast).'
    ),
    "backbone": (
        'Feature extractor: "resnet" (this project\'s ResNet, shaped by '
        'preset) or a keras.applications model, "ResNet50V2", '
        '"EfficientNetV2B0", "MobileNetV3Small" or "ConvNeXtTiny" (channels = '
        "3, image_size >= 32)."
    ),
    "backbone_weights": (
        'Starting weights of a keras.applications backbone: "" (random), '
        '"imagenet" (downloaded) or a weights file.'
    ),
    "backend": (
        'Keras backend: "tensorflow", "jax" or "torch" (pip install -e '
        '".[jax]" or ".[torch]"); KERAS_BACKEND, where set, overrides this, '
        "and --backend overrides both."
    ),
    "batch_size": "Global batch size, split across devices when training on several.",
    "cache": (
        'Decoded images kept for later epochs: "none", "memory", or a '
        "directory for cache files."
    ),
    "channels": (
        '1 (grey) or 3 (RGB); "auto": 1 when every training image is grey, else 3.'
    ),
    "data_dir": (
        "A directory with one sub-folder per class of image files (PNG, JPEG, "
        "GIF, BMP, WebP). Empty: the embedded default data (scikit-learn's "
        "handwritten digits)."
    ),
    "deterministic": (
        "true: op determinism, for bit-identical reruns (slower on GPUs, no XLA)."
    ),
    "dropout_rate": "Dropout before the classifier.",
    "early_stopping_patience": (
        "Stop after this many epochs without a better validation accuracy, "
        "keeping the best epoch's weights in model.keras; 0 is off."
    ),
    "epochs": "Passes over the training data.",
    "fine_tune_lr_factor": (
        "After the frozen epochs the whole model learns, at the learning rate "
        "times this factor."
    ),
    "freeze_backbone_epochs": (
        "Fine-tuning: the backbone is frozen (only the classifier learns) for "
        "this many epochs; 0: never."
    ),
    "image_size": (
        'Images are resized to image_size x image_size pixels; "auto": the '
        "median of the training images' longer sides, at least 16 and at most "
        "32 (the embedded digits: 16)."
    ),
    "jit_compile": (
        'XLA: "auto" (on with an accelerator, off on CPU-only machines), '
        '"true" or "false".'
    ),
    "label_smoothing": "Label smoothing of the cross-entropy, in [0, 1); 0 is off.",
    "learning_rate": "Initial learning rate.",
    "lr_decay_epochs": (
        "Step decay: the learning rate is multiplied by lr_decay_factor every "
        "lr_decay_epochs."
    ),
    "lr_decay_factor": (
        "Step decay: what the learning rate is multiplied by every lr_decay_epochs."
    ),
    "momentum": "Momentum of sgd.",
    "optimizer": (
        '"adam", "adamw" (Adam with decoupled weight decay) or "sgd" (with momentum).'
    ),
    "output_dir": "Each run writes to output_dir/<date>-<time>/.",
    "precision": (
        '"float32", "mixed_bfloat16" or "mixed_float16" (with loss scaling): '
        "16-bit compute, fast on GPUs and TPUs."
    ),
    "preset": (
        'Architecture: "small" (3 stages of basic blocks, for small inputs) '
        'or "resnet18", "resnet34", "resnet50" (He et al., 2015; sized for '
        "224 x 224 inputs)."
    ),
    "schedule": (
        'Learning rate per epoch: "step" (lr_decay_epochs, lr_decay_factor) '
        'or "cosine" (to 0 at the last epoch).'
    ),
    "seed": (
        "Seed of data splitting, shuffling and weight initialization; only "
        "deterministic = true makes two runs with one seed identical."
    ),
    "strategy": (
        'tf.distribute strategy (README: "Distributed training"): "auto" '
        '(mirrored with two or more GPUs, else default), "default" (one '
        'device), "mirrored" (every GPU of this machine).'
    ),
    "validation_split": (
        "Fraction of the data held out for validation (split with `seed`)."
    ),
    "warmup_epochs": "Cosine only: epochs of linear warm-up before the cosine decay.",
    "weight_decay": (
        "Decoupled weight decay of adamw and sgd (biases and normalization "
        "spared); try 5e-4 with sgd."
    ),
}


@dataclasses.dataclass(frozen=True)
class ResNetPreset:
    """The shape of a ResNet: its stem, block type, and stages.

    Args:
        block: "basic" (two 3-wide convolutions) or "bottleneck" (1, 3, 1).
        stage_blocks: Number of blocks in each stage.
        stage_filters: Filters of each stage (bottlenecks output 4x as many).
        stem: "small" (one stride-1 convolution) or "imagenet" (a 7-wide
            stride-2 convolution and a stride-2 max pooling, as in He et al.).
    """

    block: str
    stage_blocks: tuple[int, ...]
    stage_filters: tuple[int, ...]
    stem: str

    @property
    def downsampling(self) -> int:
        """How many times smaller the last stage is than the input."""
        stem_factor = 4 if self.stem == "imagenet" else 1
        return stem_factor * 2 ** (len(self.stage_blocks) - 1)


PRESETS = {
    "small": ResNetPreset("basic", (1, 1, 1), (16, 32, 64), stem="small"),
    "resnet18": ResNetPreset("basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet"),
    "resnet34": ResNetPreset("basic", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet50": ResNetPreset(
        "bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"
    ),
}


class ProjectError(Exception):
    """An error whose message is meant for the user: the CLI prints it, no traceback."""


class ConfigError(ProjectError, ValueError):
    """A setting is missing, unknown or out of range."""


@dataclasses.dataclass
class Config:
    """Every hyperparameter of a run; HELP (and configs/default.toml) documents each."""

    # Data
    data_dir: str = ""
    validation_split: float = 0.2
    # "auto": derived from the training images (see data.size_image_settings).
    image_size: int | str = AUTO
    channels: int | str = AUTO
    alpha_background: str = "white"
    augment: str = "light"
    cache: str = "none"
    # Model
    backbone: str = "resnet"
    backbone_weights: str = ""
    freeze_backbone_epochs: int = 0
    fine_tune_lr_factor: float = 0.1
    preset: str = "small"
    dropout_rate: float = 0.2
    # Training
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.001
    optimizer: str = "adam"
    weight_decay: float = 0.01
    momentum: float = 0.9
    schedule: str = "cosine"
    lr_decay_epochs: int = 5
    lr_decay_factor: float = 0.5
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    early_stopping_patience: int = 20
    precision: str = "float32"
    jit_compile: str = "auto"
    deterministic: bool = False
    seed: int = 42
    strategy: str = "auto"
    backend: str = "tensorflow"
    output_dir: str = "runs"

    def validate(self) -> "Config":
        """Check every setting; raise ConfigError naming the first bad one."""
        for name in ("epochs", "batch_size", "lr_decay_epochs"):
            _require(getattr(self, name) > 0, name, "a positive integer")
        _require(
            self.image_size == AUTO or self.image_size > 0,
            "image_size",
            'a positive integer or "auto"',
        )
        _require(
            self.channels in (1, 3, AUTO), "channels", '1 (grey), 3 (RGB) or "auto"'
        )
        _require(
            self.alpha_background in ALPHA_BACKGROUNDS,
            "alpha_background",
            f"one of {ALPHA_BACKGROUNDS}",
        )
        _require(self.augment in AUGMENT, "augment", f"one of {AUGMENT}")
        if self.cache not in ("none", "memory"):
            directory = bool(self.cache) and not Path(self.cache).is_file()
            _require(directory, "cache", '"none", "memory" or a directory')
        _require(self.learning_rate > 0, "learning_rate", "a positive number")
        _require(0 < self.lr_decay_factor <= 1, "lr_decay_factor", "in (0, 1]")
        _require(self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}")
        _require(self.weight_decay >= 0, "weight_decay", "a non-negative number")
        _require(0 <= self.momentum < 1, "momentum", "in [0, 1)")
        _require(self.schedule in SCHEDULES, "schedule", f"one of {SCHEDULES}")
        if self.schedule == "cosine":
            _require(
                0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "in [0, epochs)"
            )
        else:
            _require(self.warmup_epochs == 0, "warmup_epochs", "0 (cosine warms up)")
        _require(0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)")
        _require(
            self.early_stopping_patience >= 0,
            "early_stopping_patience",
            "a non-negative integer (0: off)",
        )
        _require(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
        _require(
            self.jit_compile in JIT_COMPILE, "jit_compile", f"one of {JIT_COMPILE}"
        )
        _require(0 < self.validation_split < 1, "validation_split", "in (0, 1)")
        _require(0 <= self.dropout_rate < 1, "dropout_rate", "in [0, 1)")
        _require(self.preset in PRESETS, "preset", f"one of {sorted(PRESETS)}")
        if self.strategy in UNAVAILABLE:
            raise ConfigError(
                f"strategy {self.strategy!r} is not available with model.fit: "
                + UNAVAILABLE[self.strategy]
            )
        _require(self.strategy in STRATEGIES, "strategy", f"one of {STRATEGIES}")
        _require(self.backend in BACKENDS, "backend", f"one of {BACKENDS}")
        if self.backend != "tensorflow":
            _require(
                self.strategy in ("auto", "default"),
                "strategy",
                f'"auto" or "default" with backend {self.backend!r} (tf.distribute '
                "is TensorFlow's)",
            )
        # keras.utils.set_random_seed takes 32-bit seeds.
        _require(0 <= self.seed < 2**32, "seed", "an integer from 0 to 2**32 - 1")
        existing = _first_existing(Path(self.output_dir))
        _require(existing.is_dir(), "output_dir", f"a directory ({existing} is a file)")
        self._validate_backbone()
        if self.data_dir:
            _require(Path(self.data_dir).is_dir(), "data_dir", "an existing directory")
        return self

    def _validate_backbone(self) -> None:
        if self.backbone == "resnet":
            minimum = PRESETS[self.preset].downsampling
            _require(
                self.image_size == AUTO or self.image_size >= minimum,
                "image_size",
                f"at least {minimum} for preset {self.preset!r}",
            )
            for name in ("backbone_weights", "freeze_backbone_epochs"):
                _require(
                    not getattr(self, name),
                    name,
                    "unset with backbone 'resnet' (a keras.applications backbone "
                    "takes pretrained weights)",
                )
        else:
            names = ", ".join(APPLICATIONS)
            _require(
                self.backbone in APPLICATIONS,
                "backbone",
                f"'resnet' or one of the keras.applications {names}",
            )
            _require(
                self.channels in (3, AUTO),
                "channels",
                f'3 or "auto" for backbone {self.backbone!r}',
            )
            _require(
                self.image_size == AUTO or self.image_size >= APPLICATION_MIN_SIZE,
                "image_size",
                f"at least {APPLICATION_MIN_SIZE} for backbone {self.backbone!r}",
            )
        if self.backbone_weights not in ("", "imagenet"):
            _require(
                Path(self.backbone_weights).is_file(),
                "backbone_weights",
                '"" (random), "imagenet" or an existing weights file',
            )
        _require(
            self.freeze_backbone_epochs >= 0,
            "freeze_backbone_epochs",
            "a non-negative integer (0: never frozen)",
        )
        # On JAX, Keras's optimizer steps (stateless_apply) take every variable
        # it was built with, so a backbone cannot sit out some epochs.
        _require(
            self.backend != "jax" or not self.freeze_backbone_epochs,
            "freeze_backbone_epochs",
            '0 with backend "jax" (on JAX a backbone cannot be frozen for a phase)',
        )
        _require(0 < self.fine_tune_lr_factor <= 1, "fine_tune_lr_factor", "in (0, 1]")

    def to_toml(self) -> str:
        """Render the settings as TOML, loadable by load_config."""
        return "".join(
            f"{key} = {_toml_value(value)}\n"
            for key, value in dataclasses.asdict(self).items()
        )


def _first_existing(path: Path) -> Path:
    """path, or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _require(condition: bool, name: str, expected: str) -> None:
    if not condition:
        raise ConfigError(f"{name} must be {expected}")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def load_config(path: str | Path | None = None, **overrides) -> Config:
    """Load a config: defaults, then the TOML file, then the overrides.

    Args:
        path: A TOML file with some or all of the settings; None for defaults.
        **overrides: Settings that win over the file (None values are ignored).

    Returns:
        The validated Config.

    Raises:
        ConfigError: A file that cannot be read, an unknown setting, a value of
            the wrong type or out of range.
    """
    values = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error}") from error
        except UnicodeDecodeError as error:
            raise ConfigError(
                f"config file {path} is not UTF-8 text (byte {error.start}): "
                "save it as UTF-8"
            ) from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(
                f"config file {path} is not valid TOML: {error}"
            ) from error
    values.update({key: value for key, value in overrides.items() if value is not None})
    fields = {field.name: field.type for field in dataclasses.fields(Config)}
    for name, value in values.items():
        if name not in fields:
            raise ConfigError(f"unknown setting {name!r}; known: {', '.join(fields)}")
        values[name] = _typed(name, fields[name], value)
    return Config(**values).validate()


def _typed(name: str, kind, value):
    """The value as the setting's type, or a ConfigError naming the setting."""
    if kind == int | str:
        # A number, or "auto" for one derived from the data.
        if value == AUTO or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ConfigError(f'{name} must be an int or "auto", got {value!r}')
    accepted = (int, float) if kind is float else kind
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, accepted):
        raise ConfigError(f"{name} must be a {kind.__name__}, got {value!r}")
    return kind(value)
