"""The experiment config: typed sections (sections.py) and loading with extends and --set (loading.py)."""

from crossmodal_tf.config.loading import (apply_override, config_from_run, config_schema, dump_config, load_config,
                                          parse_override, validate_config)
from crossmodal_tf.config.sections import (SOURCE_NAMES, TASK_NAMES, Config, DataConfig, FusionConfig,
                                           ImageBranchConfig, ModelConfig, TextBranchConfig, TrainConfig)

__all__ = ["Config", "DataConfig", "FusionConfig", "ImageBranchConfig", "ModelConfig", "SOURCE_NAMES", "TASK_NAMES",
           "TextBranchConfig", "TrainConfig", "apply_override", "config_from_run", "config_schema", "dump_config",
           "load_config", "parse_override", "validate_config"]
