"""Whole models: a recurrent encoder (``rnnkit.layers.Recurrent``) with a task head; the
tagger and its linear-chain CRF."""

from rnnkit.models.crf import CRF, CRFScores
from rnnkit.models.sequence import SequenceModel
from rnnkit.models.tagger import Tagger

__all__ = ["CRF", "CRFScores", "SequenceModel", "Tagger"]
