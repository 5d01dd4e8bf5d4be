"""translocator's PyTorch side: the twin of the Swift TransLocator model (model), its model files
(modelfile), partitions (partitions), configs (config, training_config), manifests and labels
(manifest, s2, labels), the input pipeline and datasets (inputs, data), the optimizer and schedule
(optim), and evaluation (evaluate, metrics). See python/README.md and docs/ARCHITECTURE.md."""
from .config import ConfigError, load_model_config, parse_model_config
from .inputs import InputError, InputPipeline, PhotoInput, Preprocessing, SegmentationMapError, read_photo, read_segmentation
from .model import GEO_LEVELS, TransLocatorTwin, load_config, multitask_loss
from .modelfile import FORMAT, ModelFile, ModelFileError, read_model_file, write_model_file
from .partitions import GeoPartitions, Partition, PartitionCell, PartitionError, read_partition, read_partitions

__version__ = "0.1.0"
__all__ = ["ConfigError", "load_model_config", "parse_model_config", "InputError", "InputPipeline", "PhotoInput",
           "Preprocessing", "SegmentationMapError", "read_photo", "read_segmentation", "GEO_LEVELS", "TransLocatorTwin",
           "load_config", "multitask_loss", "FORMAT", "ModelFile", "ModelFileError", "read_model_file", "write_model_file",
           "GeoPartitions", "Partition", "PartitionCell", "PartitionError", "read_partition", "read_partitions"]
