"""Text: tokenizers, the vocabulary, and readers of text files with errors naming file and
line (shared by translation and the NLP tasks)."""

from rnnkit.text.parallel import DataError, read_parallel
from rnnkit.text.vocab import SPECIALS, Vocabulary, tokenize

__all__ = ["SPECIALS", "DataError", "Vocabulary", "read_parallel", "tokenize"]
