"""The core tokenizer contract, for both sentencepiece model types."""

from statecatcher.testing import TokenizerConformance
from statecatcher_sentencepiece.tokenizer import SentencePieceTokenizer


class TestSentencePieceUnigramConformance(TokenizerConformance):
    registered_name = "sentencepiece"

    def make_tokenizer(self):
        return SentencePieceTokenizer(model_type="unigram")


class TestSentencePieceBPEConformance(TokenizerConformance):
    registered_name = "sentencepiece"

    def make_tokenizer(self):
        return SentencePieceTokenizer(model_type="bpe")
