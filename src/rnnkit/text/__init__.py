"""Text: tokenizers, the vocabulary, and readers of text files with errors naming file and
line (shared by translation and the NLP tasks)."""

from rnnkit.text.batching import bucket_batches
from rnnkit.text.datasets import TextExamples, read_examples
from rnnkit.text.parallel import DataError, read_parallel
from rnnkit.text.vocab import SPECIALS, Vocabulary, tokenize

__all__ = [
    "SPECIALS",
    "DataError",
    "TextExamples",
    "Vocabulary",
    "bucket_batches",
    "read_examples",
    "read_parallel",
    "tokenize",
]
