"""statecatcher plugin: the ``sentencepiece`` tokenizer (entry-point module: registers names only)."""

from statecatcher import hookimpl


@hookimpl
def register_tokenizers(register):
    register("sentencepiece", "statecatcher_sentencepiece.tokenizer:SentencePieceTokenizer",
             description="sentencepiece unigram/BPE trained on the transcripts; id 0 is the blank",
             options={"model_type": "unigram or bpe",
                      "max_sentences": "train on at most this many transcript segments (the first ones)",
                      "character_coverage": "share of characters the vocabulary must cover"})
