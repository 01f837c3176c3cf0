"""Label-space models and training for cross-modal retrieval with noisy labels (MRL, ELR, ELRCMR lineage)."""
from w2vvx.noisy.balance import StepCounter, WeightBalance
from w2vvx.noisy.datasets import NoisyDataset, PairedSplit, load_noisy_dataset
from w2vvx.noisy.drift import EpochMonitor, centre_cosines
from w2vvx.noisy.metrics import label_map
from w2vvx.noisy.model import METHODS, NoisyCrossModalModel, NormalizedClassifier, build_mlp_encoder
from w2vvx.noisy.noise import noisy_view_labels, symmetric_label_noise
from w2vvx.noisy.training import Standardizer, TrainedRetrieval, train_noisy_retrieval
from w2vvx.noisy.wikipedia import WikipediaData, WikipediaSplit, load_wikipedia

__all__ = ["METHODS", "EpochMonitor", "NoisyCrossModalModel", "NoisyDataset", "NormalizedClassifier", "PairedSplit",
           "Standardizer", "StepCounter", "TrainedRetrieval", "WeightBalance", "WikipediaData", "WikipediaSplit",
           "build_mlp_encoder", "centre_cosines", "label_map", "load_noisy_dataset", "load_wikipedia",
           "noisy_view_labels", "symmetric_label_noise", "train_noisy_retrieval"]
